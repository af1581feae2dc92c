/**
 * Control-plane routes: projects and tokens (CONTRACT sections 2 and 3). No business logic here;
 * who may call each route is its config.auth, checked by the hook in src/server/auth.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Gateway } from '../server/context.js';
import { errors } from '../server/errors.js';
import {
  CreatedToken, CreateProjectBody, deleted, CreateProjectTokenBody, CreateServerTokenBody, errorResponses, listOf,
  PidParams, PidTidParams, Project, TidParams, TokenInfo, Whoami,
} from './schemas.js';

export async function controlRoutes(app: FastifyInstance, gw: Gateway): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { projects, tokens } = gw;

  r.post('/v1/projects', {
    config: { auth: { scopes: ['admin'] } },
    schema: { tags: ['projects'], summary: 'Create a project (admin)', body: CreateProjectBody, response: { 201: Project, 409: errorResponses[400], ...errorResponses } },
  }, async (req, reply) => {
    return reply.code(201).send(await projects.create(req.body));
  });

  r.get('/v1/projects', {
    // A project token sees its own project, whatever its scope; a server-wide one must be admin.
    config: { auth: { scopes: ['admin'], anyProjectToken: true } },
    schema: { tags: ['projects'], summary: 'List projects: all for an admin, its own for a project token', response: { 200: listOf(Project), ...errorResponses } },
  }, async (req) => {
    const p = req.principal;
    if (p.project !== null) {
      const own = await projects.get(p.project);
      return { items: own === undefined ? [] : [own] };
    }
    return { items: await projects.list() };
  });

  r.get('/v1/projects/:pid', {
    config: { auth: { scopes: ['ingest', 'manage', 'monitoring'], project: 'pid' } },
    schema: { tags: ['projects'], summary: 'Read a project', params: PidParams, response: { 200: Project, ...errorResponses } },
  }, async (req) => {
    const project = await projects.get(req.params.pid);
    if (project === undefined) throw errors.projectNotFound(req.params.pid);
    return project;
  });

  r.delete('/v1/projects/:pid', {
    config: { auth: { scopes: [], project: 'pid' } },
    schema: { tags: ['projects'], summary: 'Delete a project, its tokens and its metrics (admin)', params: PidParams, response: deleted },
  }, async (req, reply) => {
    await projects.delete(req.params.pid);
    tokens.forgetProject(req.params.pid);
    gw.integrations.forgetProject(req.params.pid);
    // A deleted project's history goes too: a project made later with the same id must not see it.
    gw.sampler.forget(req.params.pid);
    gw.storage.dropProject(req.params.pid);
    return reply.code(204).send(null);
  });

  r.post('/v1/projects/:pid/tokens', {
    config: { auth: { scopes: ['manage'], project: 'pid' } },
    schema: {
      tags: ['tokens'], summary: 'Create a project token (admin or manage); the token is in this response only',
      params: PidParams, body: CreateProjectTokenBody, response: { 201: CreatedToken, ...errorResponses },
    },
  }, async (req, reply) => {
    const created = await tokens.create({ scope: req.body.scope, name: req.body.name, project_id: req.params.pid });
    return reply.code(201).send(created);
  });

  r.get('/v1/projects/:pid/tokens', {
    config: { auth: { scopes: ['manage'], project: 'pid' } },
    schema: { tags: ['tokens'], summary: "List a project's tokens, without secrets", params: PidParams, response: { 200: listOf(TokenInfo), ...errorResponses } },
  }, async (req) => {
    return { items: await tokens.list(req.params.pid) };
  });

  r.delete('/v1/projects/:pid/tokens/:tid', {
    config: { auth: { scopes: ['manage'], project: 'pid' } },
    schema: { tags: ['tokens'], summary: 'Revoke a project token', params: PidTidParams, response: deleted },
  }, async (req, reply) => {
    if (!(await tokens.revoke(req.params.tid, req.params.pid))) throw errors.notFound(`no active token ${JSON.stringify(req.params.tid)} in this project`);
    return reply.code(204).send(null);
  });

  r.get('/v1/token', {
    // Any valid token may ask who it is: a client (the SDK, the dashboard) learns its project and
    // scope from it, and so which requests it may make.
    config: { auth: { scopes: ['admin', 'ingest', 'manage', 'monitoring'], anyProjectToken: true } },
    schema: { tags: ['tokens'], summary: "The caller's token: its id, scope and project (null for a server-wide token)", response: { 200: Whoami, ...errorResponses } },
  }, async (req) => {
    const p = req.principal;
    return { token_id: p.tokenId, scope: p.scope, project_id: p.project };
  });

  r.post('/v1/tokens', {
    config: { auth: { scopes: ['admin'] } },
    schema: { tags: ['tokens'], summary: 'Create a server-wide admin or ingest token (admin)', body: CreateServerTokenBody, response: { 201: CreatedToken, ...errorResponses } },
  }, async (req, reply) => {
    return reply.code(201).send(await tokens.create({ scope: req.body.scope, name: req.body.name, project_id: null }));
  });

  r.get('/v1/tokens', {
    config: { auth: { scopes: ['admin'] } },
    schema: { tags: ['tokens'], summary: 'List server-wide tokens (admin)', response: { 200: listOf(TokenInfo), ...errorResponses } },
  }, async () => {
    return { items: await tokens.list(null) };
  });

  r.delete('/v1/tokens/:tid', {
    config: { auth: { scopes: ['admin'] } },
    schema: { tags: ['tokens'], summary: 'Revoke a server-wide token (admin)', params: TidParams, response: deleted },
  }, async (req, reply) => {
    if (!(await tokens.revoke(req.params.tid, null))) throw errors.notFound(`no active server-wide token ${JSON.stringify(req.params.tid)}`);
    return reply.code(204).send(null);
  });
}
