import { describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DeliverySettings, logsSetting } from './settings.js';
import { OtlpConfigSchema } from '../sinks/otlp-http/config.js';

describe('DeliverySettings', () => {
  it('gives a kind that spreads them the shared defaults and bounds', () => {
    const schema = Type.Object({ ...DeliverySettings, logs: logsSetting('a log line'), region: Type.String({ default: 'eu' }) }, { additionalProperties: false });
    expect(Value.Default(schema, {})).toEqual({ interval_s: 60, timeout_s: 10, logs: false, region: 'eu' });
    expect(Value.Check(schema, { interval_s: 0, timeout_s: 10, logs: false, region: 'eu' })).toBe(false);
    expect(Value.Check(schema, { interval_s: 3600, timeout_s: 121, logs: false, region: 'eu' })).toBe(false);
    expect(Value.Check(schema, { interval_s: 3600, timeout_s: 120, logs: true, region: 'eu' })).toBe(true);
  });

  it('are the ones the OTLP kind uses', () => {
    expect(OtlpConfigSchema.properties.interval_s).toEqual(DeliverySettings.interval_s);
    expect(OtlpConfigSchema.properties.timeout_s).toEqual(DeliverySettings.timeout_s);
    expect(OtlpConfigSchema.properties.logs.description).toBe('also forward every raw event as an OTLP log record to {endpoint}/v1/logs');
  });
});
