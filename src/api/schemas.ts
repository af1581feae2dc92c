/** Request and response schemas shared by the routes; they also generate the OpenAPI document. */
import { Type } from '@sinclair/typebox';
import { PROJECT_SCOPES, SERVER_SCOPES } from '../control/tokens.js';

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
