/**
 * The package's public entry (`import { createGateway } from 'meterway'`): what a platform
 * embedding Meterway needs. Start a gateway from a configuration, query with the PromQL engine,
 * and read or produce the push types every sink receives. Everything else is internal and may
 * change between versions; the CLI (`meterway`) is the other supported way in.
 */

// The gateway and its configuration.
export { createGateway, type GatewayOptions, type RunningGateway } from './server/gateway.js';
export type { Gateway } from './server/context.js';
export { loadConfig, ConfigError, type Config, type ConfigFlags } from './config/load.js';

// PromQL.
export {
  Engine,
  parse,
  PromQLError,
  PromQLParseError,
  PromQLExecutionError,
  PromQLLimitError,
  PromQLTimeoutError,
  PromQLTooManySamplesError,
  type EngineOptions,
  type Expr,
  type ValueType,
  type PromQLErrorType,
} from './promql/index.js';

// Push: what every sink receives, what a sink is, the settings every kind shares.
export type { Attributes, BatchMetric, EventRecord, HistogramPoint, MetricBatch, NumberPoint, Temporality } from './push/types.js';
export { pointCount } from './push/types.js';
export { DEFAULT_SINK_SCHEMES, type BaseSinkConfig, type CheckResult, type SendResult, type Sink, type SinkContext, type SinkFactory } from './push/sink.js';
export { DeliverySettings, logsSetting } from './push/settings.js';
export { DeliveryError, type FailureReason } from './delivery/errors.js';

// The typed client (CONTRACT section 11): the SDK the CLI and the dashboard use.
export { Meterway, MeterwayError, EventQueue, type MeterwayOptions, type QueueOptions, type QueueStats, type QueryTime } from './sdk/index.js';
export type {
  CreatedToken, CreateIntegrationInput, CreateProjectInput, IngestResult, Integration, IntegrationStatus, MeterwayEvent, Project, QueryData, TestResult,
  TokenInfo, UpdateIntegrationInput, Whoami,
} from './sdk/types.js';
