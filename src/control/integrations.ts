/**
 * Integrations (CONTRACT section 6): where a project's metrics are pushed. Auth header values are
 * write-only: sealed with the master key on the way in, opened only when a request is built, and
 * never part of any object this module returns. Every row is also held in memory: delivery reads
 * integrations and updates their status far more often than people change them.
 */
import type { Kysely } from 'kysely';
import { Value } from '@sinclair/typebox/value';
import type { Database, IntegrationsTable } from '../store/schema.js';
import type { CredentialCipher } from './crypto.js';
import { DEFAULT_SINK_SCHEMES, type SinkFactory } from '../push/sink.js';
import { checkHost, EgressForbiddenError } from '../delivery/egress.js';
import { ControlError, controlErrors as fail } from './errors.js';
import { randomId } from './ids.js';

export type IntegrationState = 'active' | 'paused' | 'disabled';

export interface IntegrationStatus {
  state: IntegrationState;
  last_success_at: string | null;
  last_attempt_at: string | null;
  last_error: string | null;
  consecutive_failures: number;
  paused_reason: string | null;
  /** The push under way is past its first attempt: waiting for the next one, or running it. */
  retrying: boolean;
  /** The attempt of the push under way that is running or waiting to run (1 is the first); null when none is. */
  current_attempt: number | null;
  /** How many attempts the push under way may make in all; null when none is under way. */
  max_attempts: number | null;
  /** When the next attempt starts, while a push waits to retry. */
  next_retry_at: string | null;
  /**
   * What the last successful push wants known although nothing was lost (remote write falling
   * back to 1.0); null otherwise. Kept in memory: it describes that push only.
   */
  last_notice: string | null;
}

/** Where the push in flight is: in memory only, as a push does not outlive the process. */
interface PushProgress {
  attempt: number;
  max: number;
  nextRetryAt: string | null;
}

export interface Integration {
  id: string;
  project_id: string;
  name: string;
  kind: string;
  endpoint: string;
  auth_header_names: string[];
  config: Record<string, unknown>;
  enabled: boolean;
  status: IntegrationStatus;
  created_at: string;
  updated_at: string;
}

export interface IntegrationInput {
  name?: string;
  kind?: string;
  endpoint?: string;
  /** Replaces every stored header; null or {} clears them. */
  auth_headers?: Record<string, string> | null;
  /** Merged over the stored config. */
  config?: Record<string, unknown>;
  enabled?: boolean;
}

export type IntegrationEvent = { type: 'upsert'; integration: Integration } | { type: 'delete'; id: string };

/** Consecutive failed pushes after which an integration pauses itself. */
export const PAUSE_AFTER_FAILURES = 10;

const TIMES_FLUSH_MS = 30_000;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
const RESERVED_HEADERS = new Set(['host', 'content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'upgrade']);
const MAX_HEADERS = 32;

interface Held {
  row: IntegrationsTable;
  config: Record<string, unknown>;
  headerNames: string[];
  progress?: PushProgress;
  notice?: string;
}

export class Integrations {
  private readonly held = new Map<string, Held>();
  /** Rows whose state, failure count or error changed: written at the next flush. */
  private readonly dirty = new Set<string>();
  /** Rows whose only change is a newer attempt or success time: written at most every TIMES_FLUSH_MS. */
  private readonly stale = new Set<string>();
  private lastTimesFlush = 0;
  private listener: (e: IntegrationEvent) => void = () => {};

  constructor(
    private readonly db: Kysely<Database>,
    private readonly cipher: CredentialCipher,
    private readonly factories: ReadonlyMap<string, SinkFactory>,
    private readonly allowPrivateEgress: boolean,
  ) {}

  onChange(listener: (e: IntegrationEvent) => void): void {
    this.listener = listener;
  }

  async load(): Promise<void> {
    for (const row of await this.db.selectFrom('integrations').selectAll().execute()) this.hold(row);
  }

  all(): Integration[] {
    return [...this.held.values()].map(toIntegration);
  }

  list(projectId: string): Integration[] {
    return [...this.held.values()].filter((h) => h.row.project_id === projectId).map(toIntegration);
  }

  get(projectId: string, id: string): Integration {
    return toIntegration(this.find(projectId, id));
  }

  factory(kind: string): SinkFactory {
    const f = this.factories.get(kind);
    if (f === undefined) throw fail.validation(`kind: must be one of ${[...this.factories.keys()].join(', ')}, got ${JSON.stringify(kind)}`);
    return f;
  }

  /** The stored auth headers, decrypted. Callers use them for one request and drop them. */
  authHeaders(id: string): Record<string, string> {
    const h = this.held.get(id);
    if (h === undefined || h.row.auth_headers_sealed === null || h.row.key_version === null) return {};
    return JSON.parse(this.cipher.open({ keyVersion: h.row.key_version, sealed: h.row.auth_headers_sealed }, id));
  }

  async create(projectId: string, input: IntegrationInput): Promise<Integration> {
    const kind = input.kind ?? 'otlp';
    const factory = this.factory(kind);
    if (input.endpoint === undefined && factory.defaultEndpoint === undefined) throw fail.validation('endpoint: is required, e.g. "https://otlp.example.com"');
    const given = input.endpoint === undefined ? undefined : await this.checkEndpoint(input.endpoint, factory);
    const config = this.checkConfig(factory, input.config ?? {}, {});
    // Checked even when an endpoint is given, so a stored config always names a valid default.
    const derived = this.defaultEndpointOf(factory, config);
    const endpoint = given ?? (await this.checkDerivedEndpoint(derived!, factory));
    const id = `i-${randomId(12)}`;
    const now = new Date().toISOString();
    const enabled = input.enabled ?? true;
    const headers = checkHeaders(input.auth_headers ?? {});
    const sealed = Object.keys(headers).length > 0 ? this.cipher.seal(JSON.stringify(headers), id) : undefined;
    const row: IntegrationsTable = {
      id, project_id: projectId, name: checkName(input.name ?? `${kind} ${new URL(endpoint).host}`), kind, endpoint,
      config: JSON.stringify(config), auth_header_names: JSON.stringify(Object.keys(headers)),
      auth_headers_sealed: sealed?.sealed ?? null, key_version: sealed?.keyVersion ?? null,
      enabled: enabled ? 1 : 0, state: enabled ? 'active' : 'disabled', paused_reason: null,
      last_success_at: null, last_attempt_at: null, last_error: null, consecutive_failures: 0, created_at: now, updated_at: now,
    };
    await this.db.insertInto('integrations').values(row).execute();
    return this.changed(this.hold(row));
  }

  async update(projectId: string, id: string, patch: IntegrationInput): Promise<Integration> {
    const h = this.find(projectId, id);
    if (patch.kind !== undefined && patch.kind !== h.row.kind) throw fail.validation('kind: cannot be changed; create a new integration instead');
    const factory = this.factory(h.row.kind);
    // Only the changed columns: pushes keep recording their status on the held row meanwhile,
    // and a copy of the whole row would write an older status over it.
    const changes: Partial<IntegrationsTable> = { updated_at: new Date().toISOString() };
    if (patch.name !== undefined) changes.name = checkName(patch.name);
    if (factory.defaultEndpoint !== undefined) {
      await this.updateWithDefaultEndpoint(h, factory, patch, changes);
    } else {
      if (patch.endpoint !== undefined) changes.endpoint = await this.checkEndpoint(patch.endpoint, factory);
      if (patch.config !== undefined) changes.config = JSON.stringify(this.checkConfig(factory, patch.config, h.config));
    }
    if (patch.auth_headers !== undefined) {
      const headers = checkHeaders(patch.auth_headers ?? {});
      const sealed = Object.keys(headers).length > 0 ? this.cipher.seal(JSON.stringify(headers), id) : undefined;
      changes.auth_header_names = JSON.stringify(Object.keys(headers));
      changes.auth_headers_sealed = sealed?.sealed ?? null;
      changes.key_version = sealed?.keyVersion ?? null;
    }
    if (patch.enabled !== undefined) Object.assign(changes, enabledChanges(patch.enabled));
    await this.db.updateTable('integrations').set(changes).where('id', '=', id).execute();
    Object.assign(h.row, changes);
    return this.changed(this.hold(h.row));
  }

  async setEnabled(projectId: string, id: string, enabled: boolean): Promise<Integration> {
    return this.update(projectId, id, { enabled });
  }

  async delete(projectId: string, id: string): Promise<void> {
    this.find(projectId, id);
    await this.db.deleteFrom('integrations').where('id', '=', id).execute();
    this.held.delete(id);
    this.dirty.delete(id);
    this.stale.delete(id);
    this.listener({ type: 'delete', id });
  }

  /** Drops a deleted project's integrations from memory (their rows go by cascade). */
  forgetProject(projectId: string): void {
    for (const [id, h] of this.held) {
      if (h.row.project_id !== projectId) continue;
      this.held.delete(id);
      this.dirty.delete(id);
      this.listener({ type: 'delete', id });
    }
  }

  /** An attempt of a push starts (`attempt` 1 is the first). */
  recordAttempt(id: string, attempt: number, maxAttempts: number): void {
    const h = this.held.get(id);
    if (h !== undefined) h.progress = { attempt, max: maxAttempts, nextRetryAt: null };
  }

  /**
   * An attempt failed and the push will try again at `nextRetryAt`. Its error is the last error
   * from now on: while the push retries, status says what is going wrong instead of nothing.
   */
  recordRetry(id: string, retry: { error: string; nextAttempt: number; maxAttempts: number; nextRetryAt: Date }): void {
    const h = this.held.get(id);
    if (h === undefined) return;
    h.progress = { attempt: retry.nextAttempt, max: retry.maxAttempts, nextRetryAt: retry.nextRetryAt.toISOString() };
    if (h.row.last_error !== retry.error) {
      h.row.last_error = retry.error;
      this.dirty.add(id);
    }
  }

  /** The push in flight ended without an outcome to record (the gateway is closing). */
  endPush(id: string): void {
    const h = this.held.get(id);
    if (h !== undefined) h.progress = undefined;
  }

  /**
   * Records the outcome of one push (after its retries). Returns the integration as it now is:
   * paused once PAUSE_AFTER_FAILURES pushes in a row have failed.
   */
  recordPush(id: string, outcome: { ok: true; partial?: string; notice?: string } | { ok: false; error: string }): Integration | undefined {
    const h = this.held.get(id);
    if (h === undefined) return undefined;
    const now = new Date().toISOString();
    const row = h.row;
    h.progress = undefined;
    const before = `${row.state}\u0000${row.consecutive_failures}\u0000${row.last_error}`;
    row.last_attempt_at = now;
    if (outcome.ok) {
      row.last_success_at = now;
      row.consecutive_failures = 0;
      row.last_error = outcome.partial ?? null;
      h.notice = outcome.notice;
    } else {
      row.consecutive_failures++;
      row.last_error = outcome.error;
      if (row.consecutive_failures >= PAUSE_AFTER_FAILURES && row.state === 'active') {
        row.state = 'paused';
        row.paused_reason = `paused after ${row.consecutive_failures} consecutive failed pushes; last error: ${outcome.error}. Fix the cause, then enable the integration again`;
      }
    }
    if (`${row.state}\u0000${row.consecutive_failures}\u0000${row.last_error}` !== before) this.dirty.add(id);
    else this.stale.add(id);
    const integration = toIntegration(h);
    if (row.state === 'paused') this.listener({ type: 'upsert', integration });
    return integration;
  }

  /** Writes status changes made since the last flush, in one transaction. */
  async flushStatus(force = false): Promise<void> {
    const now = Date.now();
    // Times alone change on every push of every integration: they go to disk less often.
    if (force || now - this.lastTimesFlush >= TIMES_FLUSH_MS) {
      for (const id of this.stale) this.dirty.add(id);
      this.stale.clear();
      this.lastTimesFlush = now;
    }
    if (this.dirty.size === 0) return;
    const ids = [...this.dirty];
    this.dirty.clear();
    await this.db.transaction().execute(async (tx) => {
      for (const id of ids) {
        const r = this.held.get(id)?.row;
        if (r === undefined) continue;
        await tx.updateTable('integrations').set({
          state: r.state, paused_reason: r.paused_reason, last_success_at: r.last_success_at, last_attempt_at: r.last_attempt_at,
          last_error: r.last_error, consecutive_failures: r.consecutive_failures,
        }).where('id', '=', id).execute();
      }
    });
  }

  /**
   * Checks a URL for an integration of the factory's kind: one of the schemes the kind accepts
   * (http and https unless it says otherwise), a host, no credentials inside it, a public address.
   */
  async checkEndpoint(text: string, factory: SinkFactory): Promise<string> {
    const schemes = factory.schemes ?? DEFAULT_SINK_SCHEMES;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw fail.validation(`endpoint: must be an absolute ${schemeWords(schemes)} URL, got ${JSON.stringify(text.slice(0, 200))}`);
    }
    if (!schemes.includes(url.protocol)) throw fail.validation(`endpoint: must use ${schemeWords(schemes)}, got ${url.protocol}`);
    // http(s) URLs always have one; a URL of another scheme may not (udp:/path), and the guard needs it.
    if (url.hostname === '') throw fail.validation(`endpoint: must name a host, like ${schemes[0]}//host.example.com`);
    if (url.username !== '' || url.password !== '') {
      throw fail.validation('endpoint: must not carry credentials; put them in auth_headers, which are stored encrypted');
    }
    if (url.hash !== '') throw fail.validation('endpoint: must not have a #fragment');
    if (!this.allowPrivateEgress) {
      try {
        await checkHost(url.hostname);
      } catch (err) {
        if (err instanceof EgressForbiddenError) throw fail.egressForbidden(`endpoint: ${err.message}`);
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        throw fail.egressForbidden(`endpoint: ${url.hostname} does not resolve (${code}), so it has no public address; check the host name`);
      }
    }
    return url.toString().replace(/\/+$/, '');
  }

  /**
   * Endpoint and config of an update for a kind whose endpoint can come from its config: `""`
   * goes back to the config's endpoint, and an endpoint that was the config's follows a config
   * change (a new `site`); an endpoint given by hand stays until it is changed by hand.
   */
  private async updateWithDefaultEndpoint(h: Held, factory: SinkFactory, patch: IntegrationInput, changes: Partial<IntegrationsTable>): Promise<void> {
    const config = patch.config === undefined ? h.config : this.checkConfig(factory, patch.config, h.config);
    const derived = this.defaultEndpointOf(factory, config)!;
    if (patch.endpoint === '') {
      changes.endpoint = await this.checkDerivedEndpoint(derived, factory);
    } else if (patch.endpoint !== undefined) {
      changes.endpoint = await this.checkEndpoint(patch.endpoint, factory);
    } else if (patch.config !== undefined && normalEndpoint(derived.url) !== h.row.endpoint && this.followsConfig(h, factory)) {
      changes.endpoint = await this.checkDerivedEndpoint(derived, factory);
    }
    if (patch.config !== undefined) changes.config = JSON.stringify(config);
  }

  /** Whether the stored endpoint is the one the stored config makes (not one given by hand). */
  private followsConfig(h: Held, factory: SinkFactory): boolean {
    try {
      return normalEndpoint(factory.defaultEndpoint!(h.config as never).url) === h.row.endpoint;
    } catch {
      return false;
    }
  }

  /** The endpoint a kind makes from its config; undefined for kinds that make none. */
  private defaultEndpointOf(factory: SinkFactory, config: Record<string, unknown>): { url: string; from: string } | undefined {
    if (factory.defaultEndpoint === undefined) return undefined;
    try {
      return factory.defaultEndpoint(config as never);
    } catch (err) {
      throw fail.validation((err as Error).message);
    }
  }

  /** checkEndpoint for an endpoint made from the config: a refusal names the config key, which is what to change. */
  private async checkDerivedEndpoint(derived: { url: string; from: string }, factory: SinkFactory): Promise<string> {
    try {
      return await this.checkEndpoint(derived.url, factory);
    } catch (err) {
      if (!(err instanceof ControlError)) throw err;
      throw new ControlError(err.code, `${derived.from}: ${err.message.replace(/^endpoint: /, '')} (the endpoint ${derived.url} is made from ${derived.from})`);
    }
  }

  private checkConfig(factory: SinkFactory, patch: Record<string, unknown>, base: Record<string, unknown>): Record<string, unknown> {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw fail.validation('config: must be an object');
    const merged = Value.Default(factory.configSchema, { ...base, ...patch }) as Record<string, unknown>;
    const first = Value.Errors(factory.configSchema, merged).First();
    if (first !== undefined) {
      const path = first.path.replace(/^\//, '').replace(/\//g, '.');
      const options = Array.isArray(first.schema.anyOf) ? first.schema.anyOf.map((o: { const?: unknown }) => o.const) : [];
      const allowed = options.length > 0 ? `: one of ${options.join(', ')}` : '';
      throw fail.validation(`config.${path || '(top level)'}: ${first.message.toLowerCase()}${allowed} (got ${JSON.stringify(first.value)})`);
    }
    return merged;
  }

  private find(projectId: string, id: string): Held {
    const h = this.held.get(id);
    if (h === undefined || h.row.project_id !== projectId) throw fail.notFound(`no integration ${JSON.stringify(id)} in this project`);
    return h;
  }

  private hold(row: IntegrationsTable): Held {
    // An edit made while a push is retrying must not hide that push from status.
    const progress = this.held.get(row.id)?.progress;
    const h: Held = { row, config: JSON.parse(row.config), headerNames: JSON.parse(row.auth_header_names), progress };
    this.held.set(row.id, h);
    return h;
  }

  private changed(h: Held): Integration {
    const integration = toIntegration(h);
    this.listener({ type: 'upsert', integration });
    return integration;
  }
}

function enabledChanges(enabled: boolean): Partial<IntegrationsTable> {
  // Enabling is also how a paused integration resumes: it starts again with a clean count.
  return enabled
    ? { enabled: 1, state: 'active', consecutive_failures: 0, paused_reason: null }
    : { enabled: 0, state: 'disabled' };
}

/** An endpoint as checkEndpoint stores it. */
function normalEndpoint(url: string): string {
  return new URL(url).toString().replace(/\/+$/, '');
}

/** "http:// or https://", "udp://", "a://, b:// or c://". */
function schemeWords(schemes: readonly string[]): string {
  const forms = schemes.map((s) => `${s}//`);
  return forms.length <= 1 ? (forms[0] ?? '') : `${forms.slice(0, -1).join(', ')} or ${forms[forms.length - 1]}`;
}

function checkName(name: string): string {
  const n = name.trim();
  if (n.length === 0 || n.length > 200) throw fail.validation('name: must be 1 to 200 characters');
  return n;
}

/** Validates header names and values; messages name the header, never its value. */
function checkHeaders(headers: Record<string, string>): Record<string, string> {
  if (typeof headers !== 'object' || Array.isArray(headers)) throw fail.validation('auth_headers: must be an object of header name to value');
  const entries = Object.entries(headers);
  if (entries.length > MAX_HEADERS) throw fail.validation(`auth_headers: at most ${MAX_HEADERS} headers`);
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (!HEADER_NAME.test(name)) throw fail.validation(`auth_headers: ${JSON.stringify(name.slice(0, 64))} is not a valid header name`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw fail.validation(`auth_headers: ${name} is set by Meterway itself and cannot be given`);
    if (typeof value !== 'string') throw fail.validation(`auth_headers.${name}: the value must be a string`);
    if (/[\r\n\0]/.test(value) || value.length > 8192) throw fail.validation(`auth_headers.${name}: the value must be one line of at most 8192 characters`);
    out[name] = value;
  }
  return out;
}

function toIntegration(h: Held): Integration {
  const r = h.row;
  return {
    id: r.id,
    project_id: r.project_id,
    name: r.name,
    kind: r.kind,
    endpoint: r.endpoint,
    auth_header_names: [...h.headerNames],
    config: { ...h.config },
    enabled: r.enabled === 1,
    status: {
      state: r.state as IntegrationState,
      last_success_at: r.last_success_at,
      last_attempt_at: r.last_attempt_at,
      last_error: r.last_error,
      consecutive_failures: r.consecutive_failures,
      paused_reason: r.paused_reason,
      retrying: (h.progress?.attempt ?? 0) > 1,
      current_attempt: h.progress?.attempt ?? null,
      max_attempts: h.progress?.max ?? null,
      next_retry_at: h.progress?.nextRetryAt ?? null,
      last_notice: h.notice ?? null,
    },
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

