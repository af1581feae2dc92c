/**
 * The configuration, defined once: validation, defaults and the TypeScript type all come from this
 * schema. The file form uses the same snake_case keys.
 */
import { Type, type Static } from '@sinclair/typebox';

const Buckets = Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, maxItems: 64 });

/**
 * The four keys of an ingest rate limit. Bursts have no schema default: an absent burst follows its
 * own rate (load.ts), so lowering a rate alone does not leave a burst hours long.
 */
const rateLimitKeys = (defaults: { events_per_second?: number; per_token_events_per_second?: number }) => {
  const rate = (fallback: number | undefined, what: string) =>
    Type.Optional(Type.Number({ minimum: 0, ...(fallback === undefined ? {} : { default: fallback }), description: `${what} events a second; 0 means unlimited` }));
  // A number, not an integer: the conversion pass truncates a value for an integer schema, so 1.5
  // would quietly become 1. load.ts refuses a fraction by name instead.
  const burst = (what: string) => Type.Optional(Type.Number({ minimum: 1, description: `the most events ${what} may send at once, a whole number; default twice the rate` }));
  return {
    events_per_second: rate(defaults.events_per_second, "a project's"),
    burst: burst('a project'),
    per_token_events_per_second: rate(defaults.per_token_events_per_second, "each token's (within a project)"),
    per_token_burst: burst('each token'),
  };
};

export const ConfigSchema = Type.Object(
  {
    host: Type.String({ default: '127.0.0.1', minLength: 1 }),
    port: Type.Integer({ default: 9470, minimum: 0, maximum: 65535 }),
    data_dir: Type.String({ default: './meterway-data', minLength: 1 }),
    retention: Type.String({ default: '15d', description: 'a duration like 15d or 12h; 0 keeps everything' }),
    demo: Type.Boolean({ default: false }),
    admin_token: Type.Optional(Type.String({ minLength: 16, description: 'the operator admin token (METERWAY_ADMIN_TOKEN)' })),
    master_key: Type.Optional(Type.String({ description: 'base64 of 32 bytes (METERWAY_MASTER_KEY)' })),
    allow_private_egress: Type.Boolean({ default: false }),
    log_level: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
    metrics: Type.Object(
      {
        prefix: Type.String({ default: 'meterway', pattern: '^[a-zA-Z_][a-zA-Z0-9_]*$' }),
        gauge_stale_after: Type.String({ default: '5m', description: 'a duration; a gauge not updated for this long is no longer exposed' }),
        max_series_per_project: Type.Integer({ default: 10_000, minimum: 0, description: '0 means unlimited' }),
        buckets: Type.Object(
          {
            latency: Type.Optional(Buckets),
            coldstart: Type.Optional(Buckets),
            token: Type.Optional(Buckets),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    storage: Type.Object(
      {
        interval: Type.String({ default: '15s', description: 'a duration; how often every project series is sampled into the embedded store' }),
      },
      { default: {}, additionalProperties: false },
    ),
    ingest: Type.Object(
      {
        max_body_bytes: Type.Integer({ default: 10 * 1024 * 1024, minimum: 1024 }),
        rate_limit: Type.Object(
          {
            // 50,000 events/s is far above one tenant's telemetry (the demo's busiest project sends a
            // few hundred a second, the largest test import is 12,000 samples) yet about a seventh of
            // what one core ingests (BENCHMARKS.md), so a tenant at its limit leaves the rest of the
            // core to the others. The burst defaults to twice the rate (see load.ts).
            ...rateLimitKeys({ events_per_second: 50_000, per_token_events_per_second: 0 }),
            projects: Type.Record(Type.String(), Type.Object(rateLimitKeys({}), { additionalProperties: false }), {
              default: {},
              description: 'per-project overrides keyed by project id; a key left out takes the value above',
            }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type RawConfig = Static<typeof ConfigSchema>;
