/** Integration routes (CONTRACT sections 3 and 6) and the single-export compatibility API. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Gateway } from '../server/context.js';
import { errors } from '../server/errors.js';
import { applyPreset, type PresetOptions } from '../control/presets.js';
import type { Integration, IntegrationInput } from '../control/integrations.js';
import { CreateIntegrationBody, deleted, errorResponses, AuthHeaders, IntegrationSchema, listOf, PidParams, TestResult, UpdateIntegrationBody } from './schemas.js';

const IidParams = Type.Object({ pid: Type.String(), iid: Type.String() });

const CompatConfig = Type.Object({
  enabled: Type.Boolean(),
  endpoint: Type.Union([Type.String(), Type.Null()]),
  authHeaderNames: Type.Array(Type.String()),
  intervalSeconds: Type.Integer(),
  status: Type.Union([Type.Object({
    state: Type.String(), lastSuccessAt: Type.Union([Type.String(), Type.Null()]), lastAttemptAt: Type.Union([Type.String(), Type.Null()]),
    lastError: Type.Union([Type.String(), Type.Null()]), consecutiveFailures: Type.Integer(),
  }), Type.Null()]),
});
const CompatPut = Type.Object({
  enabled: Type.Optional(Type.Boolean()),
  endpoint: Type.Optional(Type.String()),
  authHeaders: Type.Optional(Type.Union([AuthHeaders, Type.Null()])),
}, { additionalProperties: false });

const MANAGE = { auth: { scopes: ['manage'], project: 'pid' } } as const;

export async function integrationRoutes(app: FastifyInstance, gw: Gateway): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { integrations, exporter } = gw;
  const tags = ['integrations'];

  r.post('/v1/projects/:pid/integrations', {
    config: MANAGE,
    schema: { tags, summary: 'Create an integration (push export)', params: PidParams, body: CreateIntegrationBody, response: { 201: IntegrationSchema, ...errorResponses } },
  }, async (req, reply) => {
    const { preset, preset_options, ...rest } = req.body;
    const input: IntegrationInput = preset === undefined ? rest : applyPreset(preset, (preset_options ?? {}) as PresetOptions, rest);
    return reply.code(201).send(await integrations.create(req.params.pid, input));
  });

  r.get('/v1/projects/:pid/integrations', {
    config: MANAGE,
    schema: { tags, summary: "List a project's integrations", params: PidParams, response: { 200: listOf(IntegrationSchema), ...errorResponses } },
  }, async (req) => {
    return { items: integrations.list(req.params.pid) };
  });

  r.get('/v1/projects/:pid/integrations/:iid', {
    config: MANAGE,
    schema: { tags, summary: 'Read an integration with its delivery status', params: IidParams, response: { 200: IntegrationSchema, ...errorResponses } },
  }, async (req) => {
    return integrations.get(req.params.pid, req.params.iid);
  });

  r.patch('/v1/projects/:pid/integrations/:iid', {
    config: MANAGE,
    schema: { tags, summary: 'Change an integration (config is merged; auth_headers replaces all headers)', params: IidParams, body: UpdateIntegrationBody, response: { 200: IntegrationSchema, ...errorResponses } },
  }, async (req) => {
    return integrations.update(req.params.pid, req.params.iid, req.body);
  });

  r.delete('/v1/projects/:pid/integrations/:iid', {
    config: MANAGE,
    schema: { tags, summary: 'Delete an integration', params: IidParams, response: deleted },
  }, async (req, reply) => {
    await integrations.delete(req.params.pid, req.params.iid);
    return reply.code(204).send(null);
  });

  r.post('/v1/projects/:pid/integrations/:iid/test', {
    config: MANAGE,
    schema: { tags, summary: 'Test connection now: a real, small request; 200 whether or not the destination works', params: IidParams, response: { 200: TestResult, ...errorResponses } },
  }, async (req) => {
    return exporter.test(integrations.get(req.params.pid, req.params.iid));
  });

  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    r.post(`/v1/projects/:pid/integrations/:iid/${verb}`, {
      config: MANAGE,
      schema: { tags, summary: enabled ? 'Resume pushes (also after an automatic pause)' : 'Stop pushes', params: IidParams, response: { 200: IntegrationSchema, ...errorResponses } },
    }, async (req) => {
        return integrations.setEnabled(req.params.pid, req.params.iid, enabled);
    });
  }

  // The compatibility API: one OTLP export per project, camelCase, mapped onto the project's first
  // OTLP integration so that /v1 and /v2 always show the same thing.
  const firstOtlp = (pid: string): Integration | undefined =>
    integrations.list(pid).filter((i) => i.kind === 'otlp').sort((a, b) => a.created_at.localeCompare(b.created_at))[0];
  const compat = (i: Integration | undefined) => ({
    enabled: i?.enabled ?? false,
    endpoint: i?.endpoint ?? null,
    authHeaderNames: i?.auth_header_names ?? [],
    intervalSeconds: (i?.config.interval_s as number | undefined) ?? 60,
    status: i === undefined ? null : {
      state: i.status.state, lastSuccessAt: i.status.last_success_at, lastAttemptAt: i.status.last_attempt_at,
      lastError: i.status.last_error, consecutiveFailures: i.status.consecutive_failures,
    },
  });
  const v2 = ['metrics-export (compatibility)'];

  r.get('/v2/metrics-export/:pid/config', {
    config: MANAGE,
    schema: { tags: v2, summary: "The project's OTLP export configuration", params: PidParams, response: { 200: CompatConfig, ...errorResponses } },
  }, async (req) => {
    return compat(firstOtlp(req.params.pid));
  });

  r.put('/v2/metrics-export/:pid/config', {
    config: MANAGE,
    schema: { tags: v2, summary: 'Set the OTLP export: endpoint, auth headers (write-only), enabled', params: PidParams, body: CompatPut, response: { 200: CompatConfig, ...errorResponses } },
  }, async (req) => {
    const pid = req.params.pid;
    const current = firstOtlp(pid);
    const { enabled, endpoint, authHeaders } = req.body;
    if (current === undefined) {
      if (endpoint === undefined) throw errors.validation('endpoint: is required to set up the export, e.g. "https://otlp-gateway-prod-us-east-0.grafana.net/otlp"');
      return compat(await integrations.create(pid, { name: 'metrics-export', kind: 'otlp', endpoint, auth_headers: authHeaders ?? {}, enabled: enabled ?? true }));
    }
    const patch: IntegrationInput = {};
    if (endpoint !== undefined) patch.endpoint = endpoint;
    if (authHeaders !== undefined) patch.auth_headers = authHeaders;
    if (enabled !== undefined) patch.enabled = enabled;
    return compat(await integrations.update(pid, current.id, patch));
  });

  r.post('/v2/metrics-export/:pid/test', {
    config: MANAGE,
    schema: { tags: v2, summary: 'Test the OTLP export now', params: PidParams, response: { 200: TestResult, ...errorResponses } },
  }, async (req) => {
    const current = firstOtlp(req.params.pid);
    if (current === undefined) throw errors.notFound('this project has no metrics export yet: PUT /v2/metrics-export/{project_id}/config first');
    return exporter.test(current);
  });
}
