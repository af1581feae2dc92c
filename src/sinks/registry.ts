/** Every sink kind. Adding one is its folder plus one line here. */
import type { SinkFactory } from '../push/sink.js';
import { otlpSinkFactory } from './otlp-http/sink.js';
import { remoteWriteSinkFactory } from './prometheus-remote-write/sink.js';
import { datadogSinkFactory } from './datadog/sink.js';
import { statsdSinkFactory } from './statsd/sink.js';

const kinds: SinkFactory[] = [
  otlpSinkFactory as SinkFactory,
  remoteWriteSinkFactory as SinkFactory,
  datadogSinkFactory as SinkFactory,
  statsdSinkFactory as SinkFactory,
];

export const SINK_FACTORIES: ReadonlyMap<string, SinkFactory> = new Map(kinds.map((f) => [f.kind, f]));
