import { Type, type Static } from '@sinclair/typebox';
import { DeliverySettings } from '../../push/settings.js';

/** A union of literals: TypeBox's Value checks it (an `enum` keyword it would ignore). */
const oneOf = <T extends string>(values: readonly T[], dflt: T, description: string) =>
  Type.Union(values.map((v) => Type.Literal(v)), { default: dflt, description });

/** Datadog's sites when this was written (docs.datadoghq.com/getting_started/site); others are accepted if well formed. */
export const KNOWN_SITES = [
  'datadoghq.com', 'us3.datadoghq.com', 'us5.datadoghq.com', 'datadoghq.eu', 'ap1.datadoghq.com', 'ap2.datadoghq.com',
  'uk1.datadoghq.com', 'ddog-gov.com', 'us2.ddog-gov.com',
] as const;

export const DatadogConfigSchema = Type.Object(
  {
    ...DeliverySettings,
    site: Type.String({ default: 'datadoghq.com', maxLength: 253, description: `the Datadog site, which picks the intake https://api.{site}: ${KNOWN_SITES.join(', ')}` }),
    series_api: oneOf(['v2', 'v1'] as const, 'v2', 'v2: POST /api/v2/series; v1: POST /api/v1/series, for receivers that only take v1'),
    histograms: oneOf(['distributions', 'counters'] as const, 'distributions', 'distributions: a Datadog distribution (with exact .count and .sum); counters: .count, .sum and .bucket counts tagged upper_bound'),
    // Starts with a letter, at most 200 characters, no comma or blank, not ending with a colon (an empty value): Datadog's rules for a tag.
    tags: Type.Array(Type.String({ pattern: '^[A-Za-z](?:[^\\s,]{0,198}[^\\s,:])?$' }), {
      default: [], maxItems: 50, description: 'extra tags on every series, as key:value (a letter first, up to 200 characters)',
    }),
  },
  { additionalProperties: false },
);

export type DatadogConfig = Static<typeof DatadogConfigSchema>;

/** A host name: labels of letters, digits and hyphens, with at least one dot. */
const HOST = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const SITES_WORDS = `one of ${KNOWN_SITES.join(', ')}`;

/**
 * The API base of a site (`https://api.datadoghq.eu` for `datadoghq.eu`), or an Error naming
 * config.site and the fix. Sites Datadog adds later pass when they are host names; a site that
 * is a URL, has a path or port, or is the web app's or API's address rather than the site's, is
 * refused here, since each of those makes a wrong intake address.
 */
export function intakeOf(site: string): string {
  const s = site.trim().toLowerCase();
  const quoted = JSON.stringify(site.slice(0, 100));
  if (s === '') throw new Error(`config.site: must name a Datadog site, ${SITES_WORDS}`);
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(s) || s.includes('/')) {
    throw new Error(`config.site: must be the site's name alone, without https:// or a path (e.g. "datadoghq.eu"), got ${quoted}`);
  }
  const bare = s.replace(/^(app|api)\./, '');
  if (bare !== s) {
    throw new Error(`config.site: ${quoted} is the address of Datadog's ${s.startsWith('app.') ? 'web app' : 'API'}, not the site; use "${bare}"`);
  }
  if (!HOST.test(s)) throw new Error(`config.site: must be a host name, ${SITES_WORDS} or another Datadog site, got ${quoted}`);
  return `https://api.${s}`;
}
