/**
 * The CLI's client: the SDK (src/sdk), given the server and token from flags, the environment or
 * the data directory; the server's error message becomes the CLI's, with what only the CLI knows
 * (which flag or environment variable gave the server and the token) added to it.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Meterway, MeterwayError } from '../sdk/index.js';

export class CliError extends Error {}

/** Where a setting came from: commander's value sources, or the CLI's own fallbacks. */
export type Source = 'cli' | 'env' | 'default' | 'file';

export interface ClientOptions {
  server?: string;
  token?: string;
  /** commander's getOptionValueSource for --server and --token ('cli' or 'env'), when known. */
  serverSource?: string;
  tokenSource?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_SERVER = 'http://127.0.0.1:9470';

/** The file a gateway on this machine keeps its bootstrap admin token in. */
export function adminTokenFile(env: Env): string {
  return join(resolve(env.METERWAY_DATA_DIR ?? './meterway-data'), 'admin-token');
}

export interface ResolvedToken {
  readonly token: string;
  readonly source: Source;
}

/**
 * The token from --token, METERWAY_TOKEN, or, on the gateway's own machine, the bootstrap admin
 * token file in the data directory, so the first commands of the walkthrough need no copying.
 */
export function resolveToken(opts: ClientOptions, env: Env): ResolvedToken | undefined {
  if (opts.token) return { token: opts.token, source: opts.tokenSource === 'env' ? 'env' : 'cli' };
  if (env.METERWAY_TOKEN) return { token: env.METERWAY_TOKEN, source: 'env' };
  try {
    const token = readFileSync(adminTokenFile(env), 'utf8').trim();
    return token === '' ? undefined : { token, source: 'file' };
  } catch {
    return undefined;
  }
}

/** How to give the CLI a token, said the same way everywhere. */
const TOKEN_HOW = 'pass --token or set METERWAY_TOKEN';
const SERVER_HOW = 'pass --server URL or set METERWAY_URL';

export class Client {
  private readonly base: string;
  private readonly serverSource: Source;
  private readonly token: ResolvedToken | undefined;

  constructor(
    opts: ClientOptions,
    private readonly env: Env,
  ) {
    const fromFlag = opts.server !== undefined && opts.server !== '';
    const raw = fromFlag ? opts.server! : env.METERWAY_URL || DEFAULT_SERVER;
    this.serverSource = fromFlag ? (opts.serverSource === 'env' ? 'env' : 'cli') : env.METERWAY_URL ? 'env' : 'default';
    this.base = raw.replace(/\/+$/, '');
    this.token = resolveToken(opts, env);
  }

  /** `--server`, `METERWAY_URL` or the default, for messages. */
  private serverFrom(): string {
    return this.serverSource === 'cli' ? 'from --server' : this.serverSource === 'env' ? 'from METERWAY_URL' : 'the default; no --server or METERWAY_URL was given';
  }

  private tokenFrom(): string {
    switch (this.token?.source) {
      case 'cli':
        return 'the token given with --token';
      case 'env':
        return 'the token in METERWAY_TOKEN';
      case 'file':
        return `the admin token read from ${adminTokenFile(this.env)} (no --token or METERWAY_TOKEN was given)`;
      default:
        return 'no token';
    }
  }

  /** Runs SDK calls for `project` (when the command names one), their errors in the CLI's words. */
  async call<T>(use: (client: Meterway) => Promise<T>, project?: string): Promise<T> {
    try {
      return await use(this.sdk(project));
    } catch (err) {
      throw err instanceof MeterwayError ? this.explain(err) : err;
    }
  }

  private sdk(project: string | undefined): Meterway {
    if (this.token === undefined) {
      throw new CliError(
        `no API token: ${TOKEN_HOW} (nor is there an admin token in ${adminTokenFile(this.env)}: on the gateway's own machine, set METERWAY_DATA_DIR to its data directory to use that one)`,
      );
    }
    let url: URL | undefined;
    try {
      url = new URL(this.base);
    } catch {
      // said below
    }
    if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
      throw new CliError(`the server address ${JSON.stringify(this.base)} (${this.serverFrom()}) is not an http:// or https:// URL; ${SERVER_HOW}, like ${DEFAULT_SERVER}`);
    }
    return new Meterway({ url: this.base, token: this.token.token, ...(project === undefined ? {} : { project }) });
  }

  /** What only the CLI knows (which flag or variable gave the server and the token) added to the SDK's error. */
  private explain(err: MeterwayError): CliError {
    if (err.code === 'network' || err.code === 'timeout') {
      const reason = err.code === 'network' ? (err.details as { reason?: string } | undefined)?.reason : 'no answer in time';
      return new CliError(
        `cannot reach the Meterway server at ${this.base} (${reason}): start it with "meterway serve", or ${SERVER_HOW} to where it runs (this address is ${this.serverFrom()})`,
      );
    }
    if (err.code === 'http_error') {
      return new CliError(
        `the server at ${this.base} answered HTTP ${err.status} without a Meterway error: ${err.message.slice(0, 200)}; is that address (${this.serverFrom()}) a Meterway gateway? ${SERVER_HOW}`,
      );
    }
    const said = `${err.message} (${err.code}, HTTP ${err.status})`;
    if (err.status === 401) return new CliError(`${said}; the server refused ${this.tokenFrom()}: ${TOKEN_HOW} with a valid token`);
    return new CliError(said);
  }
}
