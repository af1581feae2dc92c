/**
 * The delivery settings every sink kind's config has, defined once: how often delivery pushes
 * (`interval_s`), how long one request may take (`timeout_s`), and, for kinds that forward raw
 * events as logs, `logs`. A kind builds its config schema from these, so the bounds, defaults
 * and wording are the same for every kind:
 *
 *     Type.Object({ ...DeliverySettings, region: Type.String() }, { additionalProperties: false })
 *
 * (a kind that already has published configs may place them by name instead, to keep its key
 * order: the order a stored config, an API answer and the first validation error follow).
 */
import { Type, type Static, type TObject } from '@sinclair/typebox';

export const DeliverySettings = {
  interval_s: Type.Integer({ minimum: 1, maximum: 3600, default: 60, description: 'seconds between pushes' }),
  timeout_s: Type.Integer({ minimum: 1, maximum: 120, default: 10, description: 'seconds before one request is given up' }),
};

/** `logs`, for a kind that can forward every raw event as a log record; `where` says to what, in its terms. */
export function logsSetting(where: string) {
  return Type.Boolean({ default: false, description: `also forward every raw event as ${where}` });
}

/** What the delivery settings hold once a config is checked. */
export type DeliverySettings = Static<TObject<typeof DeliverySettings>>;
