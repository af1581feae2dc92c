/** A small REST client for the CLI: the server's error message becomes the CLI's. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export class CliError extends Error {}

export interface ClientOptions {
  server?: string;
  token?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The token from --token, METERWAY_TOKEN, or, on the gateway's own machine, the bootstrap admin
 * token file in the data directory, so the first commands of the walkthrough need no copying.
 */
export function resolveToken(opts: ClientOptions, env: Env): string | undefined {
  if (opts.token) return opts.token;
  if (env.METERWAY_TOKEN) return env.METERWAY_TOKEN;
  try {
    return readFileSync(join(resolve(env.METERWAY_DATA_DIR ?? './meterway-data'), 'admin-token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export class Client {
  private readonly base: string;
  constructor(
    opts: ClientOptions,
    env: Env,
    private readonly token = resolveToken(opts, env),
  ) {
    this.base = (opts.server ?? env.METERWAY_URL ?? 'http://127.0.0.1:9470').replace(/\/+$/, '');
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new CliError(`cannot reach the Meterway server at ${this.base} (${reason}); start it with "meterway serve" or pass --server URL`);
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
      if (e?.message) throw new CliError(`${e.message} (${e.code}, HTTP ${res.status})`);
      throw new CliError(`the server answered HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    return parsed as T;
  }
}
