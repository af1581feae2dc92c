/** Request and response schemas shared by the routes; they also generate the OpenAPI document. */
import { Type } from '@sinclair/typebox';
import { PROJECT_SCOPES, SERVER_SCOPES } from '../control/tokens.js';
import { PRESETS } from '../control/presets.js';

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable, machine-readable' }),
      message: Type.String({ description: 'what went wrong and how to fix it' }),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { $id: 'Error' },
);

export const Project = Type.Object(
  { id: Type.String({ examples: ['p-a1b2c3d4'] }), name: Type.String(), created_at: Type.String({ format: 'date-time' }) },
  { $id: 'Project' },
);

export const TokenInfo = Type.Object(
  {
    id: Type.String(),
    project_id: Type.Union([Type.String(), Type.Null()]),
    scope: Type.String(),
    name: Type.String(),
    prefix: Type.String({ description: 'the first characters of the token, to recognise it' }),
    created_at: Type.String({ format: 'date-time' }),
    last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'TokenInfo' },
);

export const CreatedToken = Type.Composite([TokenInfo, Type.Object({ token: Type.String({ description: 'shown this once only' }) })]);

export const CreateProjectBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    id: Type.Optional(Type.String({ pattern: '^p-[a-z0-9]{8}$', description: '"p-" and 8 lowercase letters or digits; generated when absent' })),
  },
  { additionalProperties: false },
);

const tokenName = Type.String({ minLength: 1, maxLength: 200 });
/** A string enum rather than a union of literals, so a bad value's error lists the allowed ones. */
const oneOf = <T extends string>(values: readonly T[]) => Type.Unsafe<T>({ type: 'string', enum: [...values] });
export const CreateProjectTokenBody = Type.Object(
  { scope: oneOf(PROJECT_SCOPES), name: tokenName },
  { additionalProperties: false },
);
export const CreateServerTokenBody = Type.Object(
  { scope: oneOf(SERVER_SCOPES), name: tokenName },
  { additionalProperties: false },
);

export const PidParams = Type.Object({ pid: Type.String() });
export const PidTidParams = Type.Object({ pid: Type.String(), tid: Type.String() });
export const TidParams = Type.Object({ tid: Type.String() });
export const AppParams = Type.Object({ pid: Type.String(), app_name: Type.String() });

export const listOf = <T extends ReturnType<typeof Type.Object>>(item: T) => Type.Object({ items: Type.Array(item) });

export const IngestResponse = Type.Object({
  accepted: Type.Integer(),
  rejected: Type.Array(Type.Object({ index: Type.Integer(), error: Type.String() })),
  series_limit: Type.Optional(
    Type.Array(
      Type.Object({ project_id: Type.String(), limit: Type.Integer(), dropped_samples: Type.Integer(), message: Type.String() }),
      { description: 'present when a project reached its series limit: new series were dropped, the events still counted as accepted' },
    ),
  ),
});

export const errorResponses = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };
export const deleted = { 204: Type.Null({ description: 'deleted' }), ...errorResponses };

// Integrations (CONTRACT section 6).
export const IntegrationStatus = Type.Object({
  state: Type.String({ enum: ['active', 'paused', 'disabled'] }),
  last_success_at: Type.Union([Type.String(), Type.Null()]),
  last_attempt_at: Type.Union([Type.String(), Type.Null()]),
  last_error: Type.Union([Type.String(), Type.Null()]),
  consecutive_failures: Type.Integer(),
  paused_reason: Type.Union([Type.String(), Type.Null()]),
  retrying: Type.Boolean({ description: 'the push under way is past its first attempt (waiting for the next one, or running it); last_error is the failed attempt\'s error' }),
  current_attempt: Type.Union([Type.Integer(), Type.Null()], { description: 'the attempt of the push under way that is running or waiting (1 is the first); null when no push is under way' }),
  max_attempts: Type.Union([Type.Integer(), Type.Null()], { description: 'attempts the push under way may make in all' }),
  next_retry_at: Type.Union([Type.String(), Type.Null()], { description: 'when the next attempt starts, while the push waits to retry' }),
  last_notice: Type.Union([Type.String(), Type.Null()], { description: 'what the last successful push wants known although nothing was lost, e.g. remote write falling back to 1.0' }),
});

export const IntegrationSchema = Type.Object(
  {
    id: Type.String(), project_id: Type.String(), name: Type.String(), kind: Type.String(), endpoint: Type.String(),
    auth_header_names: Type.Array(Type.String(), { description: 'names only: values are write-only' }),
    config: Type.Record(Type.String(), Type.Unknown()), enabled: Type.Boolean(), status: IntegrationStatus,
    created_at: Type.String(), updated_at: Type.String(),
  },
  { $id: 'Integration' },
);

export const AuthHeaders = Type.Record(Type.String(), Type.String(), { description: 'header name to value; stored encrypted, never returned' });
const PresetOptionsSchema = Type.Object({
  api_key: Type.Optional(Type.String()), instance_id: Type.Optional(Type.String()), api_token: Type.Optional(Type.String()),
  dataset: Type.Optional(Type.String()), site: Type.Optional(Type.String()),
}, { additionalProperties: false });

export const CreateIntegrationBody = Type.Object({
  name: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String({ default: 'otlp' })),
  endpoint: Type.Optional(Type.String({ description: 'base URL; OTLP metrics go to {endpoint}/v1/metrics' })),
  auth_headers: Type.Optional(AuthHeaders),
  config: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  enabled: Type.Optional(Type.Boolean()),
  preset: Type.Optional(Type.String({ enum: Object.keys(PRESETS) })),
  preset_options: Type.Optional(PresetOptionsSchema),
}, { additionalProperties: false });

export const UpdateIntegrationBody = Type.Object({
  name: Type.Optional(Type.String()),
  endpoint: Type.Optional(Type.String()),
  auth_headers: Type.Optional(Type.Union([AuthHeaders, Type.Null()])),
  config: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  enabled: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

export const TestResult = Type.Object({
  ok: Type.Boolean(), status_code: Type.Optional(Type.Integer()), latency_ms: Type.Integer(), message: Type.String(),
});

/** GET /v1/token: who the caller's token is, so a client learns its own project (CONTRACT section 11). */
export const Whoami = Type.Object(
  {
    token_id: Type.String(),
    scope: Type.String(),
    project_id: Type.Union([Type.String(), Type.Null()], { description: 'null for a server-wide token' }),
  },
  { $id: 'Whoami' },
);
