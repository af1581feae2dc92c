/**
 * The configuration, defined once: validation, defaults and the TypeScript type all come from this
 * schema. The file form uses the same snake_case keys.
 */
import { Type, type Static } from '@sinclair/typebox';
import { GlobalSchema, ScrapeConfigSchema } from '../sources/scrape/config.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** `auto`: human-readable on a terminal, JSON lines otherwise. */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

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

/**
 * The limits a project's queries run under. No schema defaults here: the same keys serve as
 * per-project overrides, where a key left out takes the top-level value (load.ts fills both).
 */
const queryLimitKeys = () => ({
  timeout: Type.Optional(Type.String({ description: "a duration; the most a query may run (a request's timeout parameter can only shorten it)" })),
  max_samples: Type.Optional(Type.Integer({ minimum: 1, description: 'samples a query may read from the store and hold at once' })),
  max_series_per_selector: Type.Optional(Type.Integer({ minimum: 1, description: 'series one selector of a query may match' })),
  max_points_per_subquery: Type.Optional(Type.Integer({ minimum: 1, description: 'steps at which one subquery may evaluate its expression' })),
  max_points_per_series: Type.Optional(Type.Integer({ minimum: 1, description: "points per series of a range query's result" })),
  max_depth: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'how deeply an expression may nest' })),
  max_query_length: Type.Optional(Type.Integer({ minimum: 1, description: 'characters in a query or match[] selector' })),
  max_concurrent_per_project: Type.Optional(Type.Integer({ minimum: 1, description: "a project's queries evaluated at once" })),
  max_queued_per_project: Type.Optional(Type.Integer({ minimum: 0, description: "a project's queries waiting for a worker; more get 429" })),
});

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
    log_level: Type.Union(LOG_LEVELS.map((l) => Type.Literal(l)), { default: 'info' }),
    log_format: Type.Union(LOG_FORMATS.map((f) => Type.Literal(f)), { default: 'auto' }),
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
    query: Type.Object(
      {
        ...queryLimitKeys(),
        workers: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, description: 'query worker threads; default the number of cores, at least 2' })),
        max_queued: Type.Integer({ default: 512, minimum: 0, description: 'queries waiting for a worker across all projects; more get 503' }),
        worker_heap_mb: Type.Integer({ default: 1024, minimum: 64, description: "one query worker's JavaScript heap; a query that needs more fails alone" }),
        projects: Type.Record(Type.String(), Type.Object(queryLimitKeys(), { additionalProperties: false }), {
          default: {},
          description: 'per-project overrides keyed by project id; a key left out takes the value above',
        }),
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
    refusal_backoff: Type.Object(
      {
        per_second: Type.Number({ default: 10, minimum: 0, description: 'refusals a second one caller (a token, or an address without one) has answered at once, on the query API and for unknown tokens everywhere; past it answers wait. 0 turns this off' }),
        burst: Type.Integer({ default: 50, minimum: 1, description: 'refusals answered at once before the rate applies' }),
        max_delay: Type.String({ default: '2s', description: 'a duration; the longest one answer is held' }),
      },
      { default: {}, additionalProperties: false },
    ),
    otlp: Type.Object(
      {
        // Prometheus' own key (otlp.promote_resource_attributes), with its meaning.
        promote_resource_attributes: Type.Array(Type.String({ minLength: 1 }), {
          default: [],
          description: 'resource attributes of OTLP metrics copied onto every series as labels (k8s.namespace.name becomes k8s_namespace_name); the others stay on target_info',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    // Prometheus' own keys, so a job copied from prometheus.yml works (src/sources/scrape/config.ts).
    global: Type.Optional(GlobalSchema),
    scrape_configs: Type.Array(ScrapeConfigSchema, { default: [], description: 'exporters the gateway scrapes itself, with Prometheus\' scrape_configs keys' }),
  },
  { additionalProperties: false },
);

export type RawConfig = Static<typeof ConfigSchema>;
