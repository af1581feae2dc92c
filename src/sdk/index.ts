/**
 * The typed client (CONTRACT section 11): `new Meterway({ url, token, project? })`, used by platform
 * code, the CLI and the dashboard alike. Global `fetch` only, so it runs in Node 20 and in browsers.
 *
 * `project` defaults to the token's own project, asked once of `GET /v1/token`; a server-wide
 * token (admin, or server-wide ingest) must name it for the project calls. Every failure is a
 * `MeterwayError` with the API's `code`.
 */
import { errorFromAnswer, MeterwayError } from './errors.js';
import { EventQueue, isIngestResult, type QueueOptions } from './queue.js';
import type {
  CreatedToken, CreateIntegrationInput, CreateProjectInput, CreateProjectTokenInput, CreateServerTokenInput, IngestResult, Integration,
  MeterwayEvent, Project, QueryData, TestResult, TokenInfo, UpdateIntegrationInput, Whoami,
} from './types.js';

export { MeterwayError } from './errors.js';
export { EventQueue, type QueueOptions, type QueueStats } from './queue.js';
export type * from './types.js';

export interface MeterwayOptions {
  /** The gateway's base URL, e.g. http://127.0.0.1:9470. */
  readonly url: string;
  readonly token: string;
  /** The project the project calls go to; the token's own when left out. */
  readonly project?: string;
  /** Per request, in ms (default 30 s); a request past it fails with code `timeout`. */
  readonly timeoutMs?: number;
  /** A fetch of your own (a proxy agent, a test double); the global one otherwise. */
  readonly fetch?: typeof fetch;
}

/** A time for the query API: a Date, epoch seconds, or RFC 3339 text. */
export type QueryTime = Date | number | string;

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfter: string | null;
}

export class Meterway {
  readonly url: string;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly fetcher: typeof fetch;
  private project: Promise<string> | undefined;

  constructor(options: MeterwayOptions) {
    if (typeof options.url !== 'string' || !/^https?:\/\//i.test(options.url)) {
      throw new MeterwayError(0, 'invalid_option', 'url: must be the gateway\'s http:// or https:// base URL, e.g. http://127.0.0.1:9470');
    }
    if (typeof options.token !== 'string' || options.token === '') {
      throw new MeterwayError(0, 'invalid_option', 'token: is required (a token made with `meterway tokens create`, or the admin token)');
    }
    this.url = options.url.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    const f = options.fetch ?? globalThis.fetch;
    this.fetcher = f.bind(globalThis);
    if (options.project !== undefined) this.project = Promise.resolve(options.project);
  }

  /** The token's id, scope and project. */
  whoami(): Promise<Whoami> {
    return this.json<Whoami>('GET', '/v1/token');
  }

  /** The project the project calls go to. */
  projectId(): Promise<string> {
    this.project ??= this.whoami().then((w) => {
      if (w.project_id === null) {
        throw new MeterwayError(0, 'no_project', 'this token is server-wide: pass { project: "p-..." } to new Meterway(...) for the project calls');
      }
      return w.project_id;
    });
    // A failed lookup (a network blip) is asked again next time.
    this.project.catch(() => (this.project = undefined));
    return this.project;
  }

  readonly events = {
    /** Posts events now, in one request; the gateway's answer (accepted, rejected with reasons). */
    send: async (events: MeterwayEvent | readonly MeterwayEvent[]): Promise<IngestResult> => {
      const list = Array.isArray(events) ? events : [events as MeterwayEvent];
      const answer = await this.request('POST', '/v1/events', JSON.stringify(list), { 'content-type': 'application/json' });
      // A 400 with the per-event answer is the gateway refusing every event: that answer, not an error.
      if (answer.status === 200 || (answer.status === 400 && isIngestResult(answer.body))) return answer.body as IngestResult;
      throw errorFromAnswer(answer.status, answer.body, answer.retryAfter);
    },
    /** A batching queue (see EventQueue): push now, sent in the background. */
    queue: (options?: QueueOptions): EventQueue =>
      new EventQueue((body, headers) => this.request('POST', '/v1/events', body, headers), options),
  };

  readonly projects = {
    list: async (): Promise<Project[]> => (await this.json<{ items: Project[] }>('GET', '/v1/projects')).items,
    get: async (id?: string): Promise<Project> => this.json<Project>('GET', `/v1/projects/${enc(id ?? (await this.projectId()))}`),
    create: (input: CreateProjectInput): Promise<Project> => this.json<Project>('POST', '/v1/projects', input),
    delete: async (id: string): Promise<void> => {
      await this.json<void>('DELETE', `/v1/projects/${enc(id)}`);
    },
  };

  readonly tokens = {
    /** The project's tokens (no secrets). */
    list: async (): Promise<TokenInfo[]> => (await this.json<{ items: TokenInfo[] }>('GET', await this.projectPath('/tokens'))).items,
    /** A project token; its secret is in this answer only. */
    create: async (input: CreateProjectTokenInput): Promise<CreatedToken> => this.json<CreatedToken>('POST', await this.projectPath('/tokens'), input),
    revoke: async (tokenId: string): Promise<void> => {
      await this.json<void>('DELETE', await this.projectPath(`/tokens/${enc(tokenId)}`));
    },
    /** Server-wide tokens (admin only). */
    server: {
      list: async (): Promise<TokenInfo[]> => (await this.json<{ items: TokenInfo[] }>('GET', '/v1/tokens')).items,
      create: (input: CreateServerTokenInput): Promise<CreatedToken> => this.json<CreatedToken>('POST', '/v1/tokens', input),
      revoke: async (tokenId: string): Promise<void> => {
        await this.json<void>('DELETE', `/v1/tokens/${enc(tokenId)}`);
      },
    },
  };

  readonly integrations = {
    list: async (): Promise<Integration[]> => (await this.json<{ items: Integration[] }>('GET', await this.projectPath('/integrations'))).items,
    get: async (id: string): Promise<Integration> => this.json<Integration>('GET', await this.projectPath(`/integrations/${enc(id)}`)),
    create: async (input: CreateIntegrationInput): Promise<Integration> => this.json<Integration>('POST', await this.projectPath('/integrations'), input),
    /** `config` is merged; `auth_headers` replaces all headers (null removes them). */
    update: async (id: string, input: UpdateIntegrationInput): Promise<Integration> =>
      this.json<Integration>('PATCH', await this.projectPath(`/integrations/${enc(id)}`), input),
    delete: async (id: string): Promise<void> => {
      await this.json<void>('DELETE', await this.projectPath(`/integrations/${enc(id)}`));
    },
    /** Test connection: a real, small request to the destination; `ok` says whether it worked. */
    test: async (id: string): Promise<TestResult> => this.json<TestResult>('POST', await this.projectPath(`/integrations/${enc(id)}/test`)),
    enable: async (id: string): Promise<Integration> => this.json<Integration>('POST', await this.projectPath(`/integrations/${enc(id)}/enable`)),
    disable: async (id: string): Promise<Integration> => this.json<Integration>('POST', await this.projectPath(`/integrations/${enc(id)}/disable`)),
    /**
     * Cerebrium's flow in one call: an OTLP integration to `endpoint` with `headers`, saved and
     * enabled, then its connection tested. The integration stays whatever the test says.
     */
    connectOtlp: async (input: { endpoint: string; headers?: Record<string, string>; name?: string; config?: Record<string, unknown> }): Promise<{ integration: Integration; test: TestResult }> => {
      const integration = await this.integrations.create({
        kind: 'otlp', endpoint: input.endpoint, auth_headers: input.headers ?? {}, enabled: true,
        ...(input.name !== undefined ? { name: input.name } : {}), ...(input.config !== undefined ? { config: input.config } : {}),
      });
      return { integration, test: await this.integrations.test(integration.id) };
    },
  };

  readonly query = {
    /** An instant query at `time` (now when left out); the API's `data`. */
    instant: async (expr: string, opts: { time?: QueryTime; timeout?: string } = {}): Promise<QueryData> => {
      const params: Record<string, string> = { query: expr };
      if (opts.time !== undefined) params.time = timeParam(opts.time);
      if (opts.timeout !== undefined) params.timeout = opts.timeout;
      return this.promql('query', params);
    },
    /** A range query; `step` in seconds or as a duration like "30s". */
    range: async (expr: string, opts: { start: QueryTime; end: QueryTime; step: number | string; timeout?: string }): Promise<QueryData> => {
      const params: Record<string, string> = { query: expr, start: timeParam(opts.start), end: timeParam(opts.end), step: String(opts.step) };
      if (opts.timeout !== undefined) params.timeout = opts.timeout;
      return this.promql('query_range', params);
    },
  };

  /** The project's Prometheus-compatible API base, for Grafana and other Prometheus clients. */
  async prometheusUrl(): Promise<string> {
    return `${this.url}${await this.projectPath('/prometheus')}`;
  }

  private async promql(endpoint: string, params: Record<string, string>): Promise<QueryData> {
    // POSTed as a form, as Grafana does: a long query does not hit URL length limits.
    const answer = await this.request('POST', await this.projectPath(`/prometheus/api/v1/${endpoint}`), new URLSearchParams(params).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
    });
    const body = answer.body as { status?: string; data?: QueryData } | undefined;
    if (answer.status === 200 && body?.status === 'success' && body.data !== undefined) return body.data;
    throw errorFromAnswer(answer.status, answer.body, answer.retryAfter);
  }

  private async projectPath(rest: string): Promise<string> {
    return `/v1/projects/${enc(await this.projectId())}${rest}`;
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.request(method, path, body === undefined ? undefined : JSON.stringify(body), body === undefined ? {} : { 'content-type': 'application/json' });
    if (answer.status >= 200 && answer.status < 300) return answer.body as T;
    throw errorFromAnswer(answer.status, answer.body, answer.retryAfter);
  }

  private async request(method: string, path: string, body: string | Uint8Array | undefined, headers: Record<string, string>): Promise<Answer> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    (timer as { unref?: () => void }).unref?.();
    let res: Response;
    try {
      res = await this.fetcher(`${this.url}${path}`, {
        method,
        headers: { ...headers, authorization: `Bearer ${this.token}`, accept: 'application/json' },
        body: body as string | Uint8Array<ArrayBuffer> | undefined,
        signal: controller.signal,
      });
    } catch (err) {
      clearTimeout(timer);
      if (controller.signal.aborted) throw new MeterwayError(0, 'timeout', `${method} ${path}: no answer from ${this.url} within ${this.timeoutMs} ms`);
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new MeterwayError(0, 'network', `${method} ${path}: cannot reach ${this.url} (${reason}); is the gateway running there?`, { reason });
    }
    try {
      const text = res.status === 204 ? '' : await res.text();
      let parsed: unknown = text;
      if (text !== '' && (res.headers.get('content-type') ?? '').includes('json')) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      return { status: res.status, body: res.status === 204 ? undefined : parsed, retryAfter: res.headers.get('retry-after') };
    } finally {
      clearTimeout(timer);
    }
  }
}

function enc(part: string): string {
  return encodeURIComponent(part);
}

function timeParam(t: QueryTime): string {
  if (t instanceof Date) return String(t.getTime() / 1000);
  return String(t);
}
