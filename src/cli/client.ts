/**
 * A small REST client for the CLI: the server's error message becomes the CLI's, and what only the
 * CLI knows (which flag or environment variable gave the server and the token) is added to it.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

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

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    if (this.token === undefined) {
      throw new CliError(
        `no API token: ${TOKEN_HOW} (nor is there an admin token in ${adminTokenFile(this.env)}: on the gateway's own machine, set METERWAY_DATA_DIR to its data directory to use that one)`,
      );
    }
    let url: URL;
    try {
      url = new URL(`${this.base}${path}`);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    } catch {
      throw new CliError(`the server address ${JSON.stringify(this.base)} (${this.serverFrom()}) is not an http:// or https:// URL; ${SERVER_HOW}, like ${DEFAULT_SERVER}`);
    }
    const headers: Record<string, string> = { authorization: `Bearer ${this.token.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new CliError(
        `cannot reach the Meterway server at ${this.base} (${reason}): start it with "meterway serve", or ${SERVER_HOW} to where it runs (this address is ${this.serverFrom()})`,
      );
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let parsed: any;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = parsed?.error;
      if (e?.message) {
        const said = `${e.message} (${e.code}, HTTP ${res.status})`;
        if (res.status === 401) throw new CliError(`${said}; the server refused ${this.tokenFrom()}: ${TOKEN_HOW} with a valid token`);
        throw new CliError(said);
      }
      throw new CliError(
        `the server at ${this.base} answered HTTP ${res.status} without a Meterway error: ${text.slice(0, 200)}; is that address (${this.serverFrom()}) a Meterway gateway? ${SERVER_HOW}`,
      );
    }
    return parsed as T;
  }
}
