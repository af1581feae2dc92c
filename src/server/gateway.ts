/** Assembles a running gateway from a configuration: storage, control plane, aggregation, HTTP. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Config } from '../config/load.js';
import { createLogger } from '../config/logging.js';
import { openSqlite } from '../store/db.js';
import { Aggregator } from '../aggregate/project.js';
import { Projects } from '../control/projects.js';
import { Tokens } from '../control/tokens.js';
import { bootstrapAdminToken } from '../control/bootstrap.js';
import { openCredentialCipher } from '../control/master-key.js';
import { Integrations } from '../control/integrations.js';
import { ExportManager, type ExporterOptions } from '../delivery/exporter.js';
import { SINK_FACTORIES } from '../sinks/registry.js';
import { Tsdb, Sampler, restoreInto } from '../tsdb/index.js';
import { HeadQueryable } from '../tsdb/head.js';
import { Ingestor } from '../ingest/ingest.js';
import { AccrualStore } from '../store/accrual.js';
import { IngestLimiter } from '../ingest/rate-limit.js';
import { QueryPool } from '../query/pool.js';
import { limitsFor } from '../query/limits.js';
import { SelfMetrics } from './self-metrics.js';
import { OtlpReceiver } from '../sources/otlp/receiver.js';
import { ScrapeManager } from '../sources/scrape/manager.js';
import { buildApp } from './app.js';
import { lockDataDir, prepareDataDir, type DataDirLock, type DataDirStart } from './datadir-lock.js';
import type { Gateway } from './context.js';

export interface RunningGateway extends Gateway {
  readonly app: FastifyInstance;
  /** File the bootstrap admin token was written to on this start, if one was made. */
  readonly adminTokenFile?: string;
  /** The ingest rate limits every ingest route charges (one per gateway). */
  readonly limiter: IngestLimiter;
  /** Where PromQL queries are evaluated, off the event loop. */
  readonly queries: QueryPool;
  close(): Promise<void>;
  /**
   * For a start that fails after this (the listen): closes the gateway and takes away what this
   * start made in the data directory (files, and the directory when it made it), undoing its
   * changes to a control database that was there before. Returns the paths it removed.
   */
  abandon(): Promise<string[]>;
}

const SWEEP_INTERVAL_MS = 30_000;
const USAGE_FLUSH_MS = 10_000;
const STATUS_FLUSH_MS = 1_000;

export interface GatewayOptions {
  /** Delivery settings tests adjust (retry delays, manual pushes). */
  readonly delivery?: Partial<ExporterOptions>;
  /** The ingest rate limiter's clock (monotonic milliseconds); tests move it instead of sleeping. */
  readonly rateLimitClock?: () => number;
}

/** Builds the gateway without listening (tests use `app.inject`); `listen` is the caller's choice. */
export async function createGateway(config: Config, log?: Logger, options: GatewayOptions = {}): Promise<RunningGateway> {
  // JSON lines, or pino-pretty's form on a terminal (config.logFormat); the same redaction either way.
  const logger = log ?? (await createLogger({ level: config.logLevel, format: config.logFormat }));
  const start = prepareDataDir(config.dataDir);
  if (start.openMode !== undefined) {
    const mode = start.openMode.toString(8).padStart(4, '0');
    logger.warn(
      { data_dir: start.dir, mode },
      `the data directory is open to other users (mode ${mode}) and holds the admin token and the master key: restrict it with chmod 700 ${start.dir}`,
    );
  }
  // Before anything in the directory is opened: a second gateway on it must not touch the files.
  const lock = lockDataDir(config.dataDir);
  if (lock.staleRemoved !== undefined) {
    logger.warn({ file: lock.file, stale: lock.staleRemoved }, 'removed a stale data directory lock left by a process that is no longer running');
  }
  const opened: Opened = { start };
  try {
    return await openGateway(config, logger, options, lock, opened);
  } catch (err) {
    // Whatever was opened before the failure is closed, and whatever was made is taken away, so
    // the directory is left as it was.
    if (opened.db !== undefined) await undoInDatabase(opened.db, opened).catch(() => {});
    try {
      opened.tsdb?.close();
    } catch {
      // the original error is the one to report
    }
    await opened.db?.destroy().catch(() => {});
    lock.release();
    try {
      start.removeCreated();
    } catch {
      // the original error is the one to report
    }
    throw err;
  }
}

interface Opened {
  readonly start: DataDirStart;
  db?: Kysely<Database>;
  tsdb?: Tsdb;
  /** The control database's master key fingerprint before this start, when the database was there before it. */
  priorFingerprint?: string | null;
  /** The admin token file this start made. */
  adminTokenFile?: string;
}

/**
 * A start's changes to a control database that was there before it and stays: the bootstrap admin
 * token whose file goes (else the next start would make none, and no one would have it), and the
 * fingerprint of a master key whose file goes. Schema migrations stay.
 */
async function undoInDatabase(db: Kysely<Database>, opened: Opened): Promise<void> {
  if (!opened.start.had('meterway.db')) return; // the database itself goes
  if (opened.adminTokenFile !== undefined && !opened.start.had('admin-token')) {
    const token = readFileSync(opened.adminTokenFile, 'utf8').trim();
    const hash = createHash('sha256').update(token).digest('hex');
    await db.deleteFrom('tokens').where('hash', '=', hash).execute();
  }
  if (opened.priorFingerprint !== undefined && !opened.start.had('master.key')) {
    if (opened.priorFingerprint === null) await db.deleteFrom('meta').where('key', '=', 'master_key_fingerprint').execute();
    else await db.updateTable('meta').set({ value: opened.priorFingerprint }).where('key', '=', 'master_key_fingerprint').execute();
  }
}

async function openGateway(config: Config, logger: Logger, options: GatewayOptions, lock: DataDirLock, opened: Opened): Promise<RunningGateway> {
  const db = await openSqlite(join(config.dataDir, 'meterway.db'));
  opened.db = db;
  const aggregator = new Aggregator(
    { prefix: config.metrics.prefix, buckets: config.metrics.buckets },
    config.metrics.maxSeriesPerProject,
    config.metrics.gaugeStaleAfterMs,
  );
  const projects = new Projects(db, aggregator);
  const tokens = new Tokens(db, config.adminToken);
  await projects.load();
  await tokens.load();
  const adminTokenFile = config.adminToken === undefined ? await bootstrapAdminToken(tokens, config.dataDir) : undefined;
  opened.adminTokenFile = adminTokenFile;
  if (opened.start.had('meterway.db')) {
    const row = await db.selectFrom('meta').select('value').where('key', '=', 'master_key_fingerprint').executeTakeFirst();
    opened.priorFingerprint = row?.value ?? null;
  }
  const { cipher } = await openCredentialCipher(config.masterKey, config.dataDir, db);
  const integrations = new Integrations(db, cipher, SINK_FACTORIES, config.allowPrivateEgress);
  await integrations.load();
  const tsdb = Tsdb.open({ dir: config.dataDir, retentionMs: config.retentionMs });
  opened.tsdb = tsdb;
  // Before any event arrives: counters and histograms go on from their stored values, not from zero.
  const restored = restoreInto(aggregator, tsdb);
  logger.debug({ restored }, 'restored series from the embedded store');
  // After the store's restore: instances' and jobs' accrued counters go on from their exact sums.
  const accrual = await AccrualStore.open(db, aggregator, (err) => logger.error({ err }, 'could not record instance and job accrual in the control database'));
  logger.debug({ accrual: accrual.report }, 'restored instance and job accrual');
  const sampler = new Sampler(aggregator, tsdb, {
    intervalMs: config.storage.intervalMs,
    gaugeStaleAfterMs: config.metrics.gaugeStaleAfterMs,
    onError: (err) => logger.error({ err }, 'sampling into the embedded store failed'),
  });
  const selfMetrics = new SelfMetrics(aggregator);
  const exporter = new ExportManager(integrations, aggregator, logger.child({ component: 'delivery' }), selfMetrics, {
    allowPrivateEgress: config.allowPrivateEgress,
    gaugeStaleAfterMs: config.metrics.gaugeStaleAfterMs,
    ...options.delivery,
  });
  const ingestor = new Ingestor(aggregator, selfMetrics, (pid, ev, ms, now) => exporter.routeEvent(pid, ev, ms, now));
  const otlp = new OtlpReceiver(aggregator, config.otlp, selfMetrics);
  const gw: Gateway = { config, log: logger, db, projects, tokens, aggregator, ingestor, selfMetrics, integrations, exporter, tsdb, storage: tsdb, sampler, otlp };
  const limiter = new IngestLimiter(config.ingest.rateLimits, options.rateLimitClock, selfMetrics);
  // Until a project's first sample is stored, queries read its live series (src/tsdb/head.ts).
  const queries = new QueryPool(new HeadQueryable(tsdb, aggregator, sampler), {
    workers: config.query.workers,
    maxQueued: config.query.maxQueued,
    workerHeapMb: config.query.workerHeapMb,
    limitsFor: (project) => limitsFor(config.query, project),
  });
  selfMetrics.watchQueries(queries);
  const app = await buildApp(gw, { limiter, queries });

  const sweep = setInterval(() => aggregator.sweepStale(Date.now() - config.metrics.gaugeStaleAfterMs), SWEEP_INTERVAL_MS);
  const flush = setInterval(() => {
    tokens.flushUsage().catch((err) => logger.warn({ err }, 'could not record token use'));
  }, USAGE_FLUSH_MS);
  const statusFlush = setInterval(() => {
    integrations.flushStatus().catch((err) => logger.warn({ err }, 'could not record integration status'));
  }, STATUS_FLUSH_MS);
  statusFlush.unref();
  exporter.start();
  sampler.start();
  // Exporters of scrape_configs (src/sources/scrape): started with the sampler, stopped before it.
  const scrape = new ScrapeManager(config.scrape.jobs, aggregator, selfMetrics, logger.child({ component: 'scrape' }));
  scrape.start();
  tsdb.startRetention();
  sweep.unref();
  flush.unref();

  let closed = false;
  let abandoned = false;
  const running: RunningGateway = {
    ...gw,
    app,
    adminTokenFile,
    limiter,
    queries,
    async abandon() {
      if (closed) throw new Error('abandon() is for a start that failed, before close()');
      if (!abandoned) {
        abandoned = true;
        await undoInDatabase(db, opened).catch((err) => logger.warn({ err }, 'could not undo this start in the control database'));
      }
      await running.close();
      return opened.start.removeCreated();
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweep);
      clearInterval(flush);
      clearInterval(statusFlush);
      try {
        await app.close();
        await scrape.stop();
        await queries.close();
        await exporter.close();
        await sampler.stop();
        await tokens.flushUsage();
        await integrations.flushStatus(true);
        await accrual.store.close();
        tsdb.close();
        await db.destroy();
      } finally {
        lock.release();
      }
    },
  };
  return running;
}
