/**
 * Parameters of the Prometheus HTTP API, parsed as Prometheus parses them, with its error texts
 * (clients such as Grafana and promtool show them to people).
 */
import { parseDuration } from '../core/duration.js';

export class BadParam extends Error {}

/** Prometheus' minimum and maximum timestamps (ms), used when start or end is left out. */
export const MIN_TIME_MS = -9223372036854; // ~ year -292 million, as math.MinInt64 / 1e6 rounds
export const MAX_TIME_MS = 9223372036854;

/** `time`, `start`, `end`: Unix seconds (fractions allowed) or RFC 3339. */
export function parseTime(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  if (/^[+-]?\d+(\.\d+)?$/.test(text)) {
    const seconds = Number(text);
    return Math.round(seconds * 1000);
  }
  const ms = Date.parse(text);
  if (!Number.isNaN(ms) && /^\d{4}-\d{2}-\d{2}T/.test(text)) return ms;
  throw new BadParam(`invalid parameter "${name}": cannot parse "${text}" to a valid timestamp`);
}

/** `step`, `timeout`: a duration (`15s`, `1m30s`) or seconds (`15`, `0.5`). */
export function parseDurationParam(text: string, name: string): number {
  if (/^[+-]?\d+(\.\d+)?$/.test(text)) {
    const ms = Math.round(Number(text) * 1000);
    if (!Number.isFinite(ms)) throw new BadParam(`invalid parameter "${name}": cannot parse "${text}" to a valid duration. It overflows int64`);
    return ms;
  }
  const ms = parseDuration(text);
  if (ms === undefined) throw new BadParam(`invalid parameter "${name}": cannot parse "${text}" to a valid duration`);
  return ms;
}

/** `limit`: a non-negative integer, 0 meaning none. */
export function parseLimit(text: string | undefined): number {
  if (text === undefined || text === '') return 0;
  if (!/^\d+$/.test(text)) throw new BadParam('limit must be a non-negative integer');
  return Number(text);
}
