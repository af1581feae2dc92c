/**
 * The gateway's own metrics on GET /metrics: process health, ingest outcomes, series per project,
 * scrape durations. Kept in a registry of their own, rendered by the same exposition code as
 * tenant metrics.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MetricRegistry, type Family, type FamilyDef } from '../aggregate/registry.js';
import type { CounterSeries, GaugeSeries, HistogramSeries } from '../aggregate/series.js';
import type { Aggregator } from '../aggregate/project.js';
import type { IngestObserver } from '../ingest/ingest.js';
import type { RejectReason } from '../ingest/fields.js';
import type { ExportObserver } from '../delivery/exporter.js';
import type { LimitKind, ThrottleObserver } from '../ingest/rate-limit.js';
import type { SourceObserver } from '../sources/source.js';
import type { QueryPoolStats } from '../query/pool.js';
import type { DropReason, ScrapeObserver, TargetReport } from '../sources/scrape/target.js';

const def = (name: string, type: FamilyDef['type'], help: string, labelNames: string[] = [], unit = '', buckets?: number[]): FamilyDef =>
  ({ name, type, help, labelNames, unit, buckets });

export class SelfMetrics implements IngestObserver, ExportObserver, ThrottleObserver, SourceObserver, ScrapeObserver {
  /** Families without project labels: safe to show without a token. */
  readonly publicRegistry = new MetricRegistry();
  /**
   * Families shown to the admin only: labelled by project, so project ids cannot be listed, or by
   * scrape target, so the addresses of the operator's exporters are not shown to anyone who can
   * reach the port.
   */
  readonly projectRegistry = new MetricRegistry();
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private readonly startSeconds = Date.now() / 1000;
  private readonly eventsAccepted: Family<CounterSeries>;
  private readonly eventsRejected: Family<CounterSeries>;
  private readonly scrapeDuration: Family<HistogramSeries>;
  private readonly processGauges: Family<GaugeSeries>[];
  private readonly seriesPerProject: Family<GaugeSeries>;
  private readonly droppedPerProject: Family<CounterSeries>;
  private readonly exportPushes: Family<CounterSeries>;
  private readonly exportFailures: Family<CounterSeries>;
  private readonly exportPoints: Family<CounterSeries>;
  private readonly exportLateness: Family<HistogramSeries>;
  private readonly exportLogRecords: Family<CounterSeries>;
  private readonly exportSkipped: Family<CounterSeries>;
  private readonly throttledRequests: Family<CounterSeries>;
  private readonly throttledEvents: Family<CounterSeries>;
  private readonly sourceTaken: Family<CounterSeries>;
  private readonly queryGauges: Family<GaugeSeries>[];
  private readonly queryRefused: Family<CounterSeries>;
  private readonly queryKilled: Family<CounterSeries>;
  private readonly refusalsDelayed: Family<CounterSeries>;
  private readonly queryQueueTimeouts: Family<CounterSeries>;
  private queries?: { stats(): QueryPoolStats };
  private readonly sourceDroppedSamples: Family<CounterSeries>;
  /** Per scrape target, as Prometheus reports each scrape (up, scrape_duration_seconds, ...), prefixed. */
  private readonly targetGauges: Family<GaugeSeries>[];
  private readonly targetFailures: Family<CounterSeries>;
  private readonly targetDroppedSamples: Family<CounterSeries>;

  constructor(private readonly aggregator: Aggregator) {
    const pub = this.publicRegistry;
    this.eventsAccepted = pub.family(def('meterway_events_accepted_total', 'counter', 'Events accepted, by event type.', ['type']));
    this.eventsRejected = pub.family(def('meterway_events_rejected_total', 'counter', 'Events rejected, by reason.', ['reason']));
    this.scrapeDuration = pub.family(
      def('meterway_scrape_duration_seconds', 'histogram', 'Time to render and send a scrape, by endpoint.', ['endpoint'], 'seconds',
        [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]),
    );
    this.processGauges = [
      pub.family(def('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', [], 'seconds')),
      pub.family(def('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [], 'bytes')),
      pub.family(def('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', [], 'seconds')),
      pub.family(def('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use, in bytes.', [], 'bytes')),
      pub.family(def('nodejs_eventloop_delay_max_seconds', 'gauge', 'Longest event-loop delay since the previous scrape of /metrics, in seconds.', [], 'seconds')),
    ] as Family<GaugeSeries>[];
    this.exportPushes = pub.family(def('meterway_export_pushes_total', 'counter', 'Pushes to integrations, by kind and outcome (after retries).', ['kind', 'outcome']));
    this.exportFailures = pub.family(def('meterway_export_push_failures_total', 'counter', 'Failed pushes, by kind and reason of the last attempt.', ['kind', 'reason']));
    this.exportPoints = pub.family(def('meterway_export_points_sent_total', 'counter', 'Data points delivered to integrations, by kind.', ['kind']));
    this.exportLateness = pub.family(
      def('meterway_export_lag_seconds', 'histogram', 'How late a scheduled push started against its schedule.', [], 'seconds',
        [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]),
    );
    this.sourceTaken = pub.family(def('meterway_source_samples_total', 'counter', 'Samples (data points) taken in by a source other than events, by source.', ['source']));
    this.sourceDroppedSamples = pub.family(def('meterway_source_samples_dropped_total', 'counter', 'Samples a source could not take, by source and reason.', ['source', 'reason']));
    this.queryGauges = [
      pub.family(def('meterway_query_workers', 'gauge', 'Query worker threads (a spare included).')),
      pub.family(def('meterway_query_workers_busy', 'gauge', 'Query workers evaluating a query now.')),
      pub.family(def('meterway_queries_queued', 'gauge', 'Queries waiting for a worker, all projects together.')),
    ] as Family<GaugeSeries>[];
    this.queryRefused = pub.family(def('meterway_queries_refused_total', 'counter', 'Queries refused as too many were waiting: scope project (429, query.max_queued_per_project) or gateway (503, query.max_queued).', ['scope']));
    this.queryKilled = pub.family(def('meterway_query_workers_killed_total', 'counter', 'Query workers stopped because their query ran past its timeout (each replaced).'));
    this.refusalsDelayed = pub.family(def('meterway_http_refusals_delayed_total', 'counter', 'Refused requests whose answer was held back as their caller kept being refused (refusal_backoff), by caller: token, or address for requests without a known token. The access log line of each has delayed_ms and the token id.', ['caller']));
    this.queryQueueTimeouts = pub.family(def('meterway_queries_timed_out_queued_total', 'counter', 'Queries whose timeout passed before a worker took them.'));
    this.exportSkipped = pub.family(def('meterway_export_skipped_turns_total', 'counter', 'Scheduled pushes not made because the previous one was still running or the gateway was too busy.'));
    this.exportLogRecords = pub.family(def('meterway_export_log_records_total', 'counter', 'Raw events forwarded as log records, by kind and outcome (sent, dropped, failed).', ['kind', 'outcome']));
    this.seriesPerProject = this.projectRegistry.family(def('meterway_project_series', 'gauge', 'Active series of a project.', ['project_id']));
    this.droppedPerProject = this.projectRegistry.family(
      def('meterway_project_series_limit_dropped_total', 'counter', 'Samples dropped because the project reached its series limit.', ['project_id']),
    );
    // Labelled by token id (never the secret) for token limits only; a project limit's series has no token_id.
    const throttleLabels = ['project_id', 'limit', 'token_id'];
    this.throttledRequests = this.projectRegistry.family(
      def('meterway_ingest_throttled_requests_total', 'counter', 'Ingest requests refused by a rate limit (429) or as larger than its burst (413), by project, limit (project or token) and token.', throttleLabels),
    );
    this.throttledEvents = this.projectRegistry.family(
      def('meterway_ingest_throttled_events_total', 'counter', 'Events and imported samples in those refused requests, for the project whose limit refused them.', throttleLabels),
    );
    // In name order, as Prometheus shows up{instance,job}.
    const target = ['instance', 'job'];
    this.targetGauges = [
      this.projectRegistry.family(def('meterway_target_up', 'gauge', 'Whether the last scrape of a target of scrape_configs succeeded (1) or failed (0), as Prometheus\' up.', target)),
      this.projectRegistry.family(def('meterway_target_scrape_duration_seconds', 'gauge', 'How long the last scrape of the target took, in seconds.', target, 'seconds')),
      this.projectRegistry.family(def('meterway_target_scrape_samples_scraped', 'gauge', 'Samples the target exposed in its last scrape.', target)),
      this.projectRegistry.family(def('meterway_target_scrape_samples_post_metric_relabeling', 'gauge', 'Samples of the last scrape that metric_relabel_configs kept.', target)),
    ] as Family<GaugeSeries>[];
    this.targetFailures = this.projectRegistry.family(
      def('meterway_target_scrape_failures_total', 'counter', 'Failed scrapes of a target, by reason (timeout, not_metrics, parse_error, line_too_long, body_too_large, duplicate_series, histogram_invalid, sample_limit, http_status, connection, ...).', [...target, 'reason']),
    );
    this.targetDroppedSamples = this.projectRegistry.family(
      def('meterway_target_samples_dropped_total', 'counter', 'Samples of successful scrapes not taken, by reason: no_project (no project_id label after relabelling), unknown_project, conflict, invalid, series_limit, duplicate.', [...target, 'reason']),
    );
    this.loopDelay.enable();
  }

  targetScraped(job: string, instance: string, r: TargetReport): void {
    const now = Date.now();
    const values = [r.up ? 1 : 0, r.durationSeconds, r.samplesScraped, r.samplesPostRelabel];
    this.targetGauges.forEach((fam, i) => this.projectRegistry.series(fam, `${job}\u0000${instance}`, [instance, job])!.set(values[i], now, now));
    if (r.failure !== undefined) this.projectRegistry.series(this.targetFailures, `${job}\u0000${instance}\u0000${r.failure}`, [instance, job, r.failure])!.inc(1);
  }

  targetDropped(job: string, instance: string, reason: DropReason, n: number): void {
    this.projectRegistry.series(this.targetDroppedSamples, `${job}\u0000${instance}\u0000${reason}`, [instance, job, reason])!.inc(n);
  }

  accepted(type: string): void {
    this.publicRegistry.series(this.eventsAccepted, type, [type])!.inc(1);
  }

  rejected(reason: RejectReason): void {
    this.publicRegistry.series(this.eventsRejected, reason, [reason])!.inc(1);
  }

  push(kind: string, outcome: 'success' | 'failure' | 'partial', points: number): void {
    this.publicRegistry.series(this.exportPushes, `${kind}\u0000${outcome}`, [kind, outcome])!.inc(1);
    if (points > 0) this.publicRegistry.series(this.exportPoints, kind, [kind])!.inc(points);
  }

  failure(kind: string, reason: string): void {
    this.publicRegistry.series(this.exportFailures, `${kind}\u0000${reason}`, [kind, reason])!.inc(1);
  }

  lateness(ms: number): void {
    this.publicRegistry.series(this.exportLateness, '', [])!.observe(ms / 1000);
  }

  skipped(): void {
    this.publicRegistry.series(this.exportSkipped, '', [])!.inc(1);
  }

  logRecords(kind: string, outcome: 'sent' | 'dropped' | 'failed', n: number): void {
    this.publicRegistry.series(this.exportLogRecords, `${kind}\u0000${outcome}`, [kind, outcome])!.inc(n);
  }

  throttled(projectId: string, limit: LimitKind, tokenId: string, events: number): void {
    const token = limit === 'token' ? tokenId : undefined;
    const key = `${projectId}\u0000${limit}\u0000${token ?? ''}`;
    const values = [projectId, limit, token];
    this.projectRegistry.series(this.throttledRequests, key, values)!.inc(1);
    this.projectRegistry.series(this.throttledEvents, key, values)!.inc(events);
  }

  refusalDelayed(caller: 'token' | 'address'): void {
    this.publicRegistry.series(this.refusalsDelayed, caller, [caller])!.inc(1);
  }

  sourceSamples(source: string, n: number): void {
    if (n > 0) this.publicRegistry.series(this.sourceTaken, source, [source])!.inc(n);
  }

  sourceDropped(source: string, reason: string, n: number): void {
    this.publicRegistry.series(this.sourceDroppedSamples, `${source}\u0000${reason}`, [source, reason])!.inc(n);
  }

  observeScrape(endpoint: 'project' | 'app' | 'self', seconds: number): void {
    this.publicRegistry.series(this.scrapeDuration, endpoint, [endpoint])!.observe(seconds);
  }

  /** The query pool whose workers and queues /metrics shows. */
  watchQueries(queries: { stats(): QueryPoolStats }): void {
    this.queries = queries;
  }

  /** Brings the sampled values up to date; called just before /metrics renders. */
  refresh(nowMs: number): void {
    if (this.queries !== undefined) {
      const q = this.queries.stats();
      [q.workers, q.busy, q.queued].forEach((v, i) => this.publicRegistry.series(this.queryGauges[i], '', [])!.set(v, nowMs, nowMs));
      this.publicRegistry.series(this.queryRefused, 'project', ['project'])!.value = q.refusedProject;
      this.publicRegistry.series(this.queryRefused, 'gateway', ['gateway'])!.value = q.refusedGateway;
      this.publicRegistry.series(this.queryKilled, '', [])!.value = q.killed;
      this.publicRegistry.series(this.queryQueueTimeouts, '', [])!.value = q.timedOutQueued;
    }
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const values = [
      (cpu.user + cpu.system) / 1e6,
      mem.rss,
      this.startSeconds,
      mem.heapUsed,
      this.loopDelay.max / 1e9,
    ];
    this.loopDelay.reset();
    this.processGauges.forEach((fam, i) => {
      const s = this.publicRegistry.series(fam, '', [])!;
      if (fam.def.type === 'counter') (s as unknown as CounterSeries).value = values[i];
      else s.set(values[i], nowMs, nowMs);
    });
    this.seriesPerProject.series.clear();
    this.projectRegistry.seriesCount = 0;
    const dropped = this.droppedPerProject;
    dropped.series.clear();
    // Counters of deleted projects go with them, as their other series do.
    for (const fam of [this.throttledRequests, this.throttledEvents]) {
      for (const key of fam.series.keys()) if (this.aggregator.get(key.slice(0, key.indexOf('\u0000'))) === undefined) fam.series.delete(key);
    }
    for (const pm of this.aggregator.all()) {
      this.projectRegistry.series(this.seriesPerProject, pm.projectId, [pm.projectId])!.set(pm.registry.seriesCount, nowMs, nowMs);
      this.projectRegistry.series(dropped, pm.projectId, [pm.projectId])!.value = pm.registry.droppedSamples;
    }
  }
}
