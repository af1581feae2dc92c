/**
 * The Sink shape now lives in src/push/sink.ts, shared by delivery and every sink kind; this file
 * only re-exports it for importers not moved yet (src/control/integrations.ts). New code imports
 * from '../push/sink.js'.
 */
export { DEFAULT_SINK_SCHEMES } from '../push/sink.js';
export type { BaseSinkConfig, CheckResult, SendResult, Sink, SinkContext, SinkFactory } from '../push/sink.js';
