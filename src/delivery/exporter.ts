/**
 * Runs every active integration: a scheduled push per integration (snapshot, delta where asked,
 * send with retries, record the outcome and pause after repeated failures), raw-event log
 * forwarding, and test connection. Sinks only encode, send and classify.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { Aggregator } from '../aggregate/project.js';
import type { Integrations, Integration, IntegrationEvent } from '../control/integrations.js';
import type { Sink, SinkFactory, CheckResult, BaseSinkConfig, SendResult } from '../push/sink.js';
import { pointCount, type EventRecord, type MetricBatch } from '../push/types.js';
import { snapshotProject } from '../push/snapshot.js';
import { DeltaTracker } from './delta.js';
import { DeliveryError } from './errors.js';
import { CredentialError } from '../control/crypto.js';
import { DEFAULT_RETRY, realSleep, withRetries, type RetryOutcome, type RetryPolicy, type Sleep } from './retry.js';
import { Scheduler } from './scheduler.js';
import { DEFAULT_LOG_FORWARDING, LogForwarder, type LogForwarderOptions } from './log-forwarder.js';

export interface ExportObserver {
  push(kind: string, outcome: 'success' | 'failure' | 'partial', points: number): void;
  failure(kind: string, reason: string): void;
  lateness(ms: number): void;
  skipped(): void;
  logRecords(kind: string, outcome: 'sent' | 'dropped' | 'failed', n: number): void;
}

export interface ExporterOptions {
  readonly allowPrivateEgress: boolean;
  readonly gaugeStaleAfterMs: number;
  readonly retry?: RetryPolicy;
  readonly sleep?: Sleep;
  readonly logForwarding?: LogForwarderOptions;
  /** Tests drive pushes by hand with pushNow() instead of timers. */
  readonly schedule?: boolean;
}

interface Job {
  integration: Integration;
  factory: SinkFactory;
  sink: Sink;
  delta?: DeltaTracker;
  logs?: LogForwarder;
}

export interface PushReport {
  readonly pushed: boolean;
  readonly attempts: number;
  readonly points: number;
  readonly error?: string;
  readonly partial?: string;
  readonly notice?: string;
}

export class ExportManager {
  private readonly jobs = new Map<string, Job>();
  /**
   * Delta baselines by integration. They outlive the job: a pause, a disable or an edit drops the
   * job, and the next push after it resumes must go on from the last delivered push (see README).
   * Only deleting the integration, or switching it to cumulative, drops its baseline.
   */
  private readonly deltas = new Map<string, DeltaTracker>();
  /**
   * The push in flight per integration, whichever job started it: a job replaced while its push
   * is still retrying (disable and enable, an edit) must not start a second push on the same
   * delta baseline next to it.
   */
  private readonly inflight = new Map<string, Promise<PushReport>>();
  /** Log forwarders by project: the one lookup ingest pays per event. */
  private readonly forwarders = new Map<string, LogForwarder[]>();
  /** Sinks dropped and waiting for their last push or log send to end before they are closed. */
  private readonly closing = new Set<Promise<void>>();
  private readonly scheduler: Scheduler;
  private readonly abort = new AbortController();
  private readonly retry: RetryPolicy;
  private readonly sleep: Sleep;

  constructor(
    private readonly integrations: Integrations,
    private readonly aggregator: Aggregator,
    private readonly log: Logger,
    private readonly observer: ExportObserver,
    private readonly opts: ExporterOptions,
  ) {
    // Every request in flight listens on this one signal: thousands at scale, by design.
    setMaxListeners(0, this.abort.signal);
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.sleep = opts.sleep ?? realSleep;
    this.scheduler = new Scheduler({ lateness: (ms) => observer.lateness(ms), skipped: () => observer.skipped() });
    integrations.onChange((e) => this.handle(e));
  }

  start(): void {
    for (const i of this.integrations.all()) this.handle({ type: 'upsert', integration: i });
  }

  async close(): Promise<void> {
    this.scheduler.stop();
    this.abort.abort();
    const logSends = [...this.jobs.values()].map((job) => job.logs?.close());
    await Promise.allSettled([...this.inflight.values(), ...logSends]);
    for (const job of this.jobs.values()) this.release(job.sink, []);
    await Promise.allSettled([...this.closing]);
    this.jobs.clear();
    this.deltas.clear();
    this.forwarders.clear();
  }

  /** Pushes one integration now (tests, and what the scheduler calls). */
  async pushNow(id: string): Promise<PushReport> {
    const job = this.jobs.get(id);
    if (job === undefined) return { pushed: false, attempts: 0, points: 0 };
    const running = this.inflight.get(id);
    if (running !== undefined) return running;
    const pushing = this.push(job).finally(() => {
      if (this.inflight.get(id) === pushing) this.inflight.delete(id);
    });
    this.inflight.set(id, pushing);
    return pushing;
  }

  /** A real, small request to the integration's destination, whatever its state. */
  async test(integration: Integration): Promise<CheckResult> {
    const factory = this.integrations.factory(integration.kind);
    const sink = factory.create(new URL(integration.endpoint), integration.config as unknown as BaseSinkConfig, this.context(integration));
    const timeout = AbortSignal.timeout(((integration.config.timeout_s as number) ?? 10) * 1000 + 1000);
    try {
      return await sink.check(AbortSignal.any([timeout, this.abort.signal]));
    } finally {
      this.release(sink, []);
    }
  }

  /** Called by ingest for every accepted event; costs one map lookup when nothing forwards. */
  routeEvent(projectId: string, event: Record<string, unknown>, eventMs: number, nowMs: number): void {
    const targets = this.forwarders.get(projectId);
    if (targets === undefined) return;
    const record = toEventRecord(event, projectId, eventMs, nowMs);
    for (const f of targets) f.offer(record);
  }

  private handle(e: IntegrationEvent): void {
    const id = e.type === 'delete' ? e.id : e.integration.id;
    const old = this.jobs.get(id);
    if (e.type === 'delete') this.deltas.delete(id);
    if (e.type === 'delete' || e.integration.status.state !== 'active') {
      // A paused or disabled integration keeps its delta baseline for when it resumes.
      if (old !== undefined) this.dropJob(old);
      return;
    }
    const integration = e.integration;
    const factory = this.integrations.factory(integration.kind);
    const config = integration.config as unknown as BaseSinkConfig;
    const temporality = factory.temporality(config);
    const pm = this.aggregator.get(integration.project_id);
    // The delta baseline stays across edits, pauses and disables as long as temporality stays
    // delta, so nothing delivered is counted twice; a new one starts where the project's counters do.
    let delta: DeltaTracker | undefined;
    if (temporality === 'delta') {
      delta = this.deltas.get(id) ?? new DeltaTracker(pm?.startedMs ?? Date.now());
      this.deltas.set(id, delta);
    } else {
      this.deltas.delete(id);
    }
    // The schedule stays: upsert below keeps the phase when the interval is unchanged.
    if (old !== undefined) this.dropJob(old, true);
    const job: Job = {
      integration,
      factory,
      sink: factory.create(new URL(integration.endpoint), config, this.context(integration)),
      delta,
    };
    if (config.logs && job.sink.sendLogs !== undefined) {
      const sendLogs = job.sink.sendLogs.bind(job.sink);
      job.logs = new LogForwarder(sendLogs, this.opts.logForwarding ?? DEFAULT_LOG_FORWARDING, {
        outcome: (outcome, n) => this.observer.logRecords(integration.kind, outcome, n),
      });
      const list = this.forwarders.get(integration.project_id) ?? [];
      list.push(job.logs);
      this.forwarders.set(integration.project_id, list);
    }
    this.jobs.set(id, job);
    if (this.opts.schedule !== false) {
      this.scheduler.upsert({ id, intervalMs: config.interval_s * 1000, run: () => this.pushNow(id).then(() => undefined) });
    }
  }

  private dropJob(job: Job, keepSchedule = false): void {
    this.jobs.delete(job.integration.id);
    if (!keepSchedule) this.scheduler.remove(job.integration.id);
    // A push of this job may still be retrying (it goes on to its end, see README): the sink is
    // closed once that push and the log send in flight are over, not under them.
    const busy: Array<Promise<unknown> | undefined> = [this.inflight.get(job.integration.id)];
    if (job.logs !== undefined) {
      busy.push(job.logs.close());
      const list = this.forwarders.get(job.integration.project_id)?.filter((f) => f !== job.logs) ?? [];
      if (list.length > 0) this.forwarders.set(job.integration.project_id, list);
      else this.forwarders.delete(job.integration.project_id);
    }
    this.release(job.sink, busy);
  }

  /** Closes a sink delivery has no more use for, once the work still using it has ended. */
  private release(sink: Sink, busy: ReadonlyArray<Promise<unknown> | undefined>): void {
    if (sink.close === undefined) return;
    const close = sink.close.bind(sink);
    const done: Promise<void> = Promise.allSettled(busy)
      .then(() => close())
      .catch((err: unknown) => this.log.warn({ error: (err as Error).message }, 'closing a sink failed'))
      .finally(() => this.closing.delete(done));
    this.closing.add(done);
  }

  private async push(job: Job): Promise<PushReport> {
    const { integration } = job;
    const pm = this.aggregator.get(integration.project_id);
    const now = Date.now();
    const snapshot = pm === undefined ? undefined : snapshotProject(pm, now, now - this.opts.gaugeStaleAfterMs);
    // Nothing to say while the project has no series: no request, and no change of status.
    if (snapshot === undefined || snapshot.metrics.length === 0) return { pushed: false, attempts: 0, points: 0 };
    let batch: MetricBatch = snapshot;
    let commit = (): void => {};
    if (job.delta !== undefined) ({ batch, commit } = job.delta.prepare(snapshot));
    const points = pointCount(batch);
    const id = integration.id;
    const max = this.retry.attempts;
    let outcome: RetryOutcome<SendResult>;
    try {
      outcome = await withRetries((attempt) => {
        this.integrations.recordAttempt(id, attempt + 1, max);
        return job.sink.send(batch, this.abort.signal);
      }, this.retry, this.abort.signal, this.sleep, (err, delayMs, failed) => {
        // Status shows the retry while it waits: a push can spend minutes in backoff.
        this.integrations.recordRetry(id, { error: err.message, nextAttempt: failed + 1, maxAttempts: max, nextRetryAt: new Date(Date.now() + delayMs) });
        this.log.debug({ integration: id, attempt: failed, reason: err.reason, error: err.message, delay_ms: delayMs }, 'push attempt failed; retrying');
      });
    } finally {
      // Whatever ends the push, status must not go on showing it as under way.
      this.integrations.endPush(id);
    }
    if (!this.jobs.has(integration.id) && this.abort.signal.aborted) return { pushed: false, attempts: outcome.attempts, points: 0 };
    const kind = integration.kind;
    if (outcome.error === undefined) {
      commit();
      const partial = outcome.value?.partial;
      const partialText = partial === undefined ? undefined : `partial success: the destination rejected ${partial.rejected} of ${points} data points${partial.message ? `: ${partial.message}` : ''}`;
      const notice = outcome.value?.notice;
      this.integrations.recordPush(integration.id, { ok: true, partial: partialText, notice });
      this.observer.push(kind, partial === undefined ? 'success' : 'partial', points);
      return { pushed: true, attempts: outcome.attempts, points, partial: partialText, ...(notice === undefined ? {} : { notice }) };
    }
    const err = outcome.error;
    this.observer.push(kind, 'failure', 0);
    this.observer.failure(kind, err.reason);
    const after = this.integrations.recordPush(integration.id, { ok: false, error: err.message });
    // The message is safe to log: http.ts has redacted the integration's secrets from it.
    this.log.warn({ integration: integration.id, project: integration.project_id, reason: err.reason, error: err.message, attempts: outcome.attempts, state: after?.status.state }, 'push failed');
    return { pushed: false, attempts: outcome.attempts, points: 0, error: err.message };
  }

  private context(integration: Integration) {
    return {
      integrationId: integration.id,
      projectId: integration.project_id,
      allowPrivateEgress: this.opts.allowPrivateEgress,
      authHeaders: () => {
        try {
          return this.integrations.authHeaders(integration.id);
        } catch (err) {
          // Stored under another master key, or damaged: no attempt can succeed until they are set again.
          if (err instanceof CredentialError) throw new DeliveryError('credentials', err.message, false);
          throw err;
        }
      },
    };
  }
}

function toEventRecord(event: Record<string, unknown>, projectId: string, eventMs: number, nowMs: number): EventRecord {
  const attributes: Array<readonly [string, string | number | boolean]> = [];
  for (const key in event) {
    const v = event[key];
    if (v === undefined || v === null) continue;
    attributes.push([key, typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : JSON.stringify(v)]);
  }
  if (event.project_id === undefined) attributes.push(['project_id', projectId]);
  return { timeMs: eventMs, observedMs: nowMs, attributes, eventName: String(event.type) };
}

