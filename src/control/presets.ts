/**
 * Presets for the destinations the seeds name: what endpoint, headers and temporality each one
 * expects, so a user types their key and nothing else. The options are secrets: they only ever
 * become auth headers, which are stored encrypted.
 */
import { controlErrors as fail } from './errors.js';
import type { IntegrationInput } from './integrations.js';

export interface PresetOptions {
  api_key?: string;
  instance_id?: string;
  api_token?: string;
  dataset?: string;
  site?: string;
}

interface Preset {
  readonly description: string;
  readonly defaultEndpoint?: (o: PresetOptions) => string;
  readonly required: ReadonlyArray<keyof PresetOptions>;
  readonly headers: (o: PresetOptions) => Record<string, string>;
  readonly config?: Record<string, unknown>;
  readonly endpoint?: (given: string) => string;
}

export const PRESETS: Readonly<Record<string, Preset>> = {
  'grafana-cloud': {
    description: 'Grafana Cloud OTLP gateway: endpoint from your stack (https://otlp-gateway-prod-<region>.grafana.net/otlp), Basic auth from instance id and a MetricsPublisher token',
    required: ['instance_id', 'api_token'],
    headers: (o) => ({ Authorization: `Basic ${Buffer.from(`${o.instance_id}:${o.api_token}`).toString('base64')}` }),
  },
  datadog: {
    description: "Datadog's OTLP intake (delta temporality, as Datadog requires); site defaults to datadoghq.com",
    defaultEndpoint: (o) => `https://otlp.${o.site ?? 'datadoghq.com'}`,
    required: ['api_key'],
    headers: (o) => ({ 'dd-api-key': o.api_key! }),
    config: { temporality: 'delta' },
  },
  newrelic: {
    description: "New Relic's OTLP endpoint (delta temporality, as New Relic recommends)",
    defaultEndpoint: () => 'https://otlp.nr-data.net',
    required: ['api_key'],
    headers: (o) => ({ 'api-key': o.api_key! }),
    config: { temporality: 'delta' },
  },
  honeycomb: {
    description: 'Honeycomb: the API key as x-honeycomb-team, metrics into the dataset named by x-honeycomb-dataset',
    defaultEndpoint: () => 'https://api.honeycomb.io',
    required: ['api_key'],
    headers: (o) => ({ 'x-honeycomb-team': o.api_key!, ...(o.dataset === undefined ? {} : { 'x-honeycomb-dataset': o.dataset }) }),
  },
  prometheus: {
    description: "A Prometheus server's OTLP receiver (--web.enable-otlp-receiver, Prometheus 2.47 or later): give its base URL",
    required: [],
    headers: () => ({}),
    endpoint: (given) => (/\/api\/v1\/otlp\/?$/.test(given) ? given : `${given.replace(/\/+$/, '')}/api/v1/otlp`),
  },
  custom: { description: 'any OTLP/HTTP endpoint; give the headers yourself', required: [], headers: () => ({}) },
};

/** Fills endpoint, auth headers and config from a preset; explicit input wins where both are given. */
export function applyPreset(name: string, options: PresetOptions, input: IntegrationInput): IntegrationInput {
  const preset = PRESETS[name];
  if (preset === undefined) throw fail.validation(`preset: must be one of ${Object.keys(PRESETS).join(', ')}, got ${JSON.stringify(name)}`);
  const missing = preset.required.filter((k) => typeof options[k] !== 'string' || options[k] === '');
  if (missing.length > 0) throw fail.validation(`preset_options: the ${name} preset needs ${missing.join(' and ')}`);
  let endpoint = input.endpoint ?? preset.defaultEndpoint?.(options);
  if (endpoint === undefined) throw fail.validation(`endpoint: is required with the ${name} preset (${preset.description})`);
  if (preset.endpoint !== undefined) endpoint = preset.endpoint(endpoint);
  return {
    ...input,
    kind: 'otlp',
    endpoint,
    auth_headers: { ...preset.headers(options), ...(input.auth_headers ?? {}) },
    config: { ...preset.config, ...input.config },
  };
}
