/** Every sink kind. Adding one is its folder plus one line here. */
import type { SinkFactory } from '../push/sink.js';
import { otlpSinkFactory } from './otlp-http/sink.js';

export const SINK_FACTORIES: ReadonlyMap<string, SinkFactory> = new Map<string, SinkFactory>([[otlpSinkFactory.kind, otlpSinkFactory as SinkFactory]]);
