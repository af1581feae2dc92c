import { Type, type Static } from '@sinclair/typebox';
import { DeliverySettings, logsSetting } from '../../push/settings.js';

/** A union of literals: TypeBox's Value checks it (an `enum` keyword it would ignore). */
const oneOf = <T extends string>(values: readonly T[], dflt: T) => Type.Union(values.map((v) => Type.Literal(v)), { default: dflt });

/** The shared delivery settings are placed by name, so the keys keep the order configs have had from the start. */
export const OtlpConfigSchema = Type.Object(
  {
    interval_s: DeliverySettings.interval_s,
    protocol: oneOf(['http/protobuf', 'http/json'] as const, 'http/protobuf'),
    temporality: oneOf(['cumulative', 'delta'] as const, 'cumulative'),
    timeout_s: DeliverySettings.timeout_s,
    gzip: Type.Boolean({ default: true }),
    logs: logsSetting('an OTLP log record to {endpoint}/v1/logs'),
    naming: oneOf(['prometheus', 'otel'] as const, 'prometheus'),
  },
  { additionalProperties: false },
);

export type OtlpConfig = Static<typeof OtlpConfigSchema>;
