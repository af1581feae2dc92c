import { describe, expect, it } from 'vitest';
import * as meterway from './index.js';
import * as sdk from './sdk/index.js';
import type { Config, Gateway, MetricBatch, RunningGateway, Sink, SinkFactory } from './index.js';

describe('the package entry', () => {
  it('exports what an embedding platform needs', () => {
    expect(typeof meterway.createGateway).toBe('function');
    expect(typeof meterway.loadConfig).toBe('function');
    expect(typeof meterway.ConfigError).toBe('function');
    expect(typeof meterway.Engine).toBe('function');
    expect(typeof meterway.parse).toBe('function');
    expect(typeof meterway.PromQLParseError).toBe('function');
    expect(typeof meterway.pointCount).toBe('function');
    expect(typeof meterway.DeliveryError).toBe('function');
    expect(meterway.DEFAULT_SINK_SCHEMES).toEqual(['http:', 'https:']);
    expect(Object.keys(meterway.DeliverySettings).sort()).toEqual(['interval_s', 'timeout_s']);
    // The SDK: the same classes as its browser-safe entry (package.json "./sdk").
    expect(meterway.Meterway).toBe(sdk.Meterway);
    expect(meterway.MeterwayError).toBe(sdk.MeterwayError);
    expect(meterway.EventQueue).toBe(sdk.EventQueue);
  });

  it('whose exports work', () => {
    expect(meterway.parse('sum(rate(x[5m]))')).toBeTruthy();
    expect(() => meterway.parse('sum(')).toThrow(meterway.PromQLParseError);
    const batch: MetricBatch = { projectId: 'p', temporality: 'cumulative', startMs: 0, timeMs: 1, metrics: [] };
    expect(meterway.pointCount(batch)).toBe(0);
    // The types are there too (checked by tsc).
    const types: Array<Config | Gateway | RunningGateway | Sink | SinkFactory | undefined> = [];
    expect(types).toEqual([]);
  });
});
