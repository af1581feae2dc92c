import { Type, type Static } from '@sinclair/typebox';

/** A union of literals: TypeBox's Value checks it (an `enum` keyword it would ignore). */
const oneOf = <T extends string>(values: readonly T[], dflt: T) => Type.Union(values.map((v) => Type.Literal(v)), { default: dflt });

export const OtlpConfigSchema = Type.Object(
  {
    interval_s: Type.Integer({ minimum: 1, maximum: 3600, default: 60, description: 'seconds between pushes' }),
    protocol: oneOf(['http/protobuf', 'http/json'] as const, 'http/protobuf'),
    temporality: oneOf(['cumulative', 'delta'] as const, 'cumulative'),
    timeout_s: Type.Integer({ minimum: 1, maximum: 120, default: 10, description: 'seconds before one request is given up' }),
    gzip: Type.Boolean({ default: true }),
    logs: Type.Boolean({ default: false, description: 'also forward every raw event as an OTLP log record to {endpoint}/v1/logs' }),
  },
  { additionalProperties: false },
);

export type OtlpConfig = Static<typeof OtlpConfigSchema>;
