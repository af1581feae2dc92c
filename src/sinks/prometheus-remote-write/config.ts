import { Type, type Static } from '@sinclair/typebox';
import { DeliverySettings } from '../../push/settings.js';

/**
 * Remote write has no options of its own beyond the protocol version: the endpoint is the
 * receiver's URL as given (`.../api/v1/write`, Mimir's `/api/v1/push`), compression is always
 * snappy (both specs require it) and temporality always cumulative (Prometheus counters are).
 */
export const RemoteWriteConfigSchema = Type.Object(
  {
    ...DeliverySettings,
    // A union of literals: TypeBox's Value checks it (an `enum` keyword it would ignore).
    protocol_version: Type.Union([Type.Literal('1.0'), Type.Literal('2.0')], {
      default: '1.0',
      description: 'remote write protocol: "1.0" (prometheus.WriteRequest, every receiver) or "2.0" (io.prometheus.write.v2.Request, falls back to 1.0 where the receiver does not speak it)',
    }),
  },
  { additionalProperties: false },
);

export type RemoteWriteConfig = Static<typeof RemoteWriteConfigSchema>;
