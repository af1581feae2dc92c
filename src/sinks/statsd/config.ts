import { Type, type Static } from '@sinclair/typebox';
import { DeliverySettings, logsSetting } from '../../push/settings.js';

/** A union of literals: TypeBox's Value checks it (an `enum` keyword it would ignore). */
const oneOf = <T extends string>(values: readonly T[], dflt: T) => Type.Union(values.map((v) => Type.Literal(v)), { default: dflt });

/**
 * Dot-separated words of letters, digits and `_`, the first starting with a letter: the only
 * characters that mean the same to DogStatsD (whose metric names must start with a letter) and to
 * Etsy's StatsD (where a dot is a Graphite level and most punctuation is deleted).
 */
export const PREFIX_PATTERN = '^(?:[A-Za-z][A-Za-z0-9_]*(?:\\.[A-Za-z0-9_]+)*)?$';

/** The largest UDP payload over IPv4 (65535 less the IP and UDP headers). */
export const MAX_UDP_PAYLOAD = 65_507;

export const StatsdConfigSchema = Type.Object(
  {
    ...DeliverySettings,
    flavor: oneOf(['dogstatsd', 'statsd'] as const, 'dogstatsd'),
    prefix: Type.String({
      default: '',
      maxLength: 100,
      pattern: PREFIX_PATTERN,
      description: 'put before every name, joined with a dot ("prod" gives prod.meterway_runs_total); names already start with the gateway\'s metric prefix',
    }),
    max_datagram_bytes: Type.Integer({
      minimum: 512,
      maximum: MAX_UDP_PAYLOAD,
      default: 1432,
      description: 'lines are packed into datagrams of at most this many bytes; 1432 fits a 1500-byte MTU; raise it only for a receiver that reads larger datagrams (the Datadog Agent reads 8192 by default)',
    }),
    logs: logsSetting('a timing of each of its duration fields (`*_ms`): a distribution (`|d`) for DogStatsD, a timer (`|ms`) for StatsD'),
  },
  { additionalProperties: false },
);

export type StatsdConfig = Static<typeof StatsdConfigSchema>;
