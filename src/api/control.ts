/** Control-plane routes: projects and tokens (CONTRACT sections 2 and 3). No business logic here. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Gateway } from '../server/context.js';
import { authenticate, requireProjectScope, requireScope } from '../server/auth.js';
import { errors } from '../server/errors.js';
import {
  CreatedToken, CreateProjectBody, deleted, CreateProjectTokenBody, CreateServerTokenBody, errorResponses, listOf,
  PidParams, PidTidParams, Project, TidParams, TokenInfo,
} from './schemas.js';

export async function controlRoutes(app: FastifyInstance, gw: Gateway): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { projects, tokens } = gw;

  const projectExists = async (pid: string): Promise<boolean> => gw.aggregator.get(pid) !== undefined;

  r.post('/v1/projects', {
    schema: { tags: ['projects'], summary: 'Create a project (admin)', body: CreateProjectBody, response: { 201: Project, 409: errorResponses[400], ...errorResponses } },
  }, async (req, reply) => {
    requireScope(authenticate(tokens, req), ['admin']);
    return reply.code(201).send(await projects.create(req.body));
  });

  r.get('/v1/projects', {
    schema: { tags: ['projects'], summary: 'List projects: all for an admin, its own for a project token', response: { 200: listOf(Project), ...errorResponses } },
  }, async (req) => {
    const p = authenticate(tokens, req);
    if (p.project !== null) {
      const own = await projects.get(p.project);
      return { items: own === undefined ? [] : [own] };
    }
    requireScope(p, ['admin']);
    return { items: await projects.list() };
  });

  r.get('/v1/projects/:pid', {
    schema: { tags: ['projects'], summary: 'Read a project', params: PidParams, response: { 200: Project, ...errorResponses } },
  }, async (req) => {
    const p = authenticate(tokens, req);
    const project = await projects.get(req.params.pid);
    requireProjectScope(p, req.params.pid, project !== undefined, ['ingest', 'manage', 'monitoring']);
    return project!;
  });

  r.delete('/v1/projects/:pid', {
    schema: { tags: ['projects'], summary: 'Delete a project, its tokens and its metrics (admin)', params: PidParams, response: deleted },
  }, async (req, reply) => {
    const p = authenticate(tokens, req);
    requireProjectScope(p, req.params.pid, await projectExists(req.params.pid), []);
    await projects.delete(req.params.pid);
    tokens.forgetProject(req.params.pid);
    gw.integrations.forgetProject(req.params.pid);
    // A deleted project's history goes too: a project made later with the same id must not see it.
    gw.sampler.forget(req.params.pid);
    gw.storage.dropProject(req.params.pid);
    return reply.code(204).send(null);
  });

  r.post('/v1/projects/:pid/tokens', {
    schema: {
      tags: ['tokens'], summary: 'Create a project token (admin or manage); the token is in this response only',
      params: PidParams, body: CreateProjectTokenBody, response: { 201: CreatedToken, ...errorResponses },
    },
  }, async (req, reply) => {
    const p = authenticate(tokens, req);
    requireProjectScope(p, req.params.pid, await projectExists(req.params.pid), ['manage']);
    const created = await tokens.create({ scope: req.body.scope, name: req.body.name, project_id: req.params.pid });
    return reply.code(201).send(created);
  });

  r.get('/v1/projects/:pid/tokens', {
    schema: { tags: ['tokens'], summary: "List a project's tokens, without secrets", params: PidParams, response: { 200: listOf(TokenInfo), ...errorResponses } },
  }, async (req) => {
    const p = authenticate(tokens, req);
    requireProjectScope(p, req.params.pid, await projectExists(req.params.pid), ['manage']);
    return { items: await tokens.list(req.params.pid) };
  });

  r.delete('/v1/projects/:pid/tokens/:tid', {
    schema: { tags: ['tokens'], summary: 'Revoke a project token', params: PidTidParams, response: deleted },
  }, async (req, reply) => {
    const p = authenticate(tokens, req);
    requireProjectScope(p, req.params.pid, await projectExists(req.params.pid), ['manage']);
    if (!(await tokens.revoke(req.params.tid, req.params.pid))) throw errors.notFound(`no active token ${JSON.stringify(req.params.tid)} in this project`);
    return reply.code(204).send(null);
  });

  r.post('/v1/tokens', {
    schema: { tags: ['tokens'], summary: 'Create a server-wide admin or ingest token (admin)', body: CreateServerTokenBody, response: { 201: CreatedToken, ...errorResponses } },
  }, async (req, reply) => {
    requireScope(authenticate(tokens, req), ['admin']);
    return reply.code(201).send(await tokens.create({ scope: req.body.scope, name: req.body.name, project_id: null }));
  });

  r.get('/v1/tokens', {
    schema: { tags: ['tokens'], summary: 'List server-wide tokens (admin)', response: { 200: listOf(TokenInfo), ...errorResponses } },
  }, async (req) => {
    requireScope(authenticate(tokens, req), ['admin']);
    return { items: await tokens.list(null) };
  });

  r.delete('/v1/tokens/:tid', {
    schema: { tags: ['tokens'], summary: 'Revoke a server-wide token (admin)', params: TidParams, response: deleted },
  }, async (req, reply) => {
    requireScope(authenticate(tokens, req), ['admin']);
    if (!(await tokens.revoke(req.params.tid, null))) throw errors.notFound(`no active server-wide token ${JSON.stringify(req.params.tid)}`);
    return reply.code(204).send(null);
  });
}
