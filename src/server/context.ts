import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { Database } from '../store/schema.js';
import type { Projects } from '../control/projects.js';
import type { Tokens } from '../control/tokens.js';
import type { Aggregator } from '../aggregate/project.js';
import type { Ingestor } from '../ingest/ingest.js';
import type { SelfMetrics } from './self-metrics.js';
import type { Integrations } from '../control/integrations.js';
import type { ExportManager } from '../delivery/exporter.js';
import type { Tsdb, Sampler } from '../tsdb/index.js';
import type { Storage } from '../core/storage.js';
import type { OtlpReceiver } from '../sources/otlp/receiver.js';

/** Everything the routes use, assembled once in gateway.ts. */
export interface Gateway {
  readonly config: Config;
  readonly log: Logger;
  readonly db: Kysely<Database>;
  readonly projects: Projects;
  readonly tokens: Tokens;
  readonly aggregator: Aggregator;
  readonly ingestor: Ingestor;
  readonly selfMetrics: SelfMetrics;
  readonly integrations: Integrations;
  readonly exporter: ExportManager;
  /** The embedded time-series store behind the query API. */
  readonly tsdb: Tsdb;
  /** Where samples and metadata are written and projects' data deleted (import, deletion); today the same store as `tsdb`. */
  readonly storage: Storage;
  readonly sampler: Sampler;
  /** OTLP metrics in (CONTRACT section 9). */
  readonly otlp: OtlpReceiver;
}
