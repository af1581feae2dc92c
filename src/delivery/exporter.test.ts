/**
 * ExportManager closes the sinks it drops (a StatsD sink holds a UDP socket): on delete, on an
 * edit, on a pause or disable, after a test connection and when the gateway closes, and never
 * under a push or a log send still using the sink.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Aggregator, ProjectMetrics } from '../aggregate/project.js';
import type { Integration, IntegrationEvent, Integrations } from '../control/integrations.js';
import type { CheckResult, SendResult, Sink, SinkFactory } from '../push/sink.js';
import type { EventRecord, MetricBatch } from '../push/types.js';
import { ExportManager, type ExportObserver } from './exporter.js';

class FakeSink implements Sink {
  closed = 0;
  sent = 0;
  /** While set, send() waits for it: a push still under way. */
  hold: Promise<void> | undefined;
  constructor(readonly config: Record<string, unknown>) {}
  async send(_batch: MetricBatch): Promise<SendResult> {
    if (this.closed > 0) throw new Error('send on a closed sink');
    await this.hold;
    if (this.closed > 0) throw new Error('closed under a push');
    this.sent++;
    return { sent: 1 };
  }
  async sendLogs(records: readonly EventRecord[]): Promise<SendResult> {
    await this.hold;
    if (this.closed > 0) throw new Error('closed under a log send');
    return { sent: records.length };
  }
  async check(): Promise<CheckResult> {
    return { ok: true, latency_ms: 0, message: 'works' };
  }
  async close(): Promise<void> {
    this.closed++;
  }
}

function setup() {
  const sinks: FakeSink[] = [];
  const factory: SinkFactory = {
    kind: 'fake',
    configSchema: {} as SinkFactory['configSchema'],
    temporality: () => 'cumulative',
    create: (_endpoint, config) => {
      const s = new FakeSink(config as unknown as Record<string, unknown>);
      sinks.push(s);
      return s;
    },
  };
  let emit: (e: IntegrationEvent) => void = () => {};
  const integrations = {
    onChange: (fn: (e: IntegrationEvent) => void) => {
      emit = fn;
    },
    all: () => [],
    factory: () => factory,
    recordAttempt: () => {},
    recordRetry: () => {},
    endPush: () => {},
    recordPush: () => undefined,
    authHeaders: () => ({}),
  } as unknown as Integrations;
  const pm = {
    projectId: 'p', startedMs: 0,
    families: [{ def: { type: 'counter', name: 'c_total', help: '' }, series: new Map([['k', { labelNames: [], labelValues: [], value: 1 }]]) }],
  } as unknown as ProjectMetrics;
  const aggregator = { get: () => pm } as unknown as Aggregator;
  const observer: ExportObserver = { push() {}, failure() {}, lateness() {}, skipped() {}, logRecords() {} };
  const exporter = new ExportManager(integrations, aggregator, pino({ level: 'silent' }), observer, { allowPrivateEgress: true, gaugeStaleAfterMs: 60_000, schedule: false });
  const integration = (config: Record<string, unknown> = {}, state: 'active' | 'paused' | 'disabled' = 'active'): Integration => ({
    id: 'i-1', project_id: 'p', name: 'n', kind: 'fake', endpoint: 'http://collector.example', auth_header_names: [],
    config: { interval_s: 60, timeout_s: 10, ...config }, enabled: state !== 'disabled',
    status: { state } as Integration['status'], created_at: '', updated_at: '',
  });
  return { sinks, exporter, emit: (e: IntegrationEvent) => emit(e), integration };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('ExportManager closes the sinks it drops', () => {
  it('on delete, edit, pause and gateway close, once each', async () => {
    const { sinks, exporter, emit, integration } = setup();
    emit({ type: 'upsert', integration: integration() });
    expect((await exporter.pushNow('i-1')).pushed).toBe(true);
    emit({ type: 'upsert', integration: integration({ interval_s: 30 }) });
    await settle();
    expect(sinks.map((s) => s.closed)).toEqual([1, 0]);
    emit({ type: 'upsert', integration: integration({ interval_s: 30 }, 'paused') });
    await settle();
    expect(sinks.map((s) => s.closed)).toEqual([1, 1]);
    emit({ type: 'upsert', integration: integration() });
    emit({ type: 'delete', id: 'i-1' });
    await settle();
    expect(sinks.map((s) => s.closed)).toEqual([1, 1, 1]);
    emit({ type: 'upsert', integration: integration() });
    await exporter.close();
    expect(sinks.map((s) => s.closed)).toEqual([1, 1, 1, 1]);
  });

  it('after the push still using the sink has ended, not under it', async () => {
    const { sinks, exporter, emit, integration } = setup();
    emit({ type: 'upsert', integration: integration() });
    let release!: () => void;
    sinks[0].hold = new Promise((r) => (release = r));
    const pushing = exporter.pushNow('i-1');
    emit({ type: 'delete', id: 'i-1' });
    await settle();
    expect(sinks[0].closed).toBe(0);
    release();
    expect((await pushing).pushed).toBe(true);
    await settle();
    expect(sinks[0].closed).toBe(1);
    expect(sinks[0].sent).toBe(1);
  });

  it('once the gateway closes, after the log send in flight', async () => {
    const { sinks, exporter, emit, integration } = setup();
    emit({ type: 'upsert', integration: integration({ logs: true }) });
    let release!: () => void;
    sinks[0].hold = new Promise((r) => (release = r));
    exporter.routeEvent('p', { type: 'e' }, 1, 1);
    // Offering a record does not send it; flush the forwarder by hand, as its timer would.
    const forwarder = (exporter as unknown as { forwarders: Map<string, Array<{ flush(): Promise<void> }>> }).forwarders.get('p')![0];
    void forwarder.flush();
    const closing = exporter.close();
    await settle();
    expect(sinks[0].closed).toBe(0);
    release();
    await closing;
    expect(sinks[0].closed).toBe(1);
  });

  it('after a test connection', async () => {
    const { sinks, exporter, integration } = setup();
    expect((await exporter.test(integration())).ok).toBe(true);
    await settle();
    expect(sinks).toHaveLength(1);
    expect(sinks[0].closed).toBe(1);
  });
});
