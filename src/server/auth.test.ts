import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthOutcome, Principal, Tokens } from '../control/tokens.js';
import { ApiError } from './errors.js';
import { secureRoutes } from './auth.js';

const PRINCIPALS: Record<string, Principal> = {
  admin: { tokenId: 't-admin', scope: 'admin', project: null },
  ingest: { tokenId: 't-ingest', scope: 'ingest', project: null },
  aManage: { tokenId: 't-am', scope: 'manage', project: 'p-aaaaaaaa' },
  aMonitoring: { tokenId: 't-amon', scope: 'monitoring', project: 'p-aaaaaaaa' },
};
const tokens = { authenticate: (t: string): AuthOutcome => PRINCIPALS[t] ?? (t === 'gone' ? 'revoked' : 'invalid') } as unknown as Tokens;
const exists = (pid: string) => pid === 'p-aaaaaaaa' || pid === 'p-bbbbbbbb';
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** An app whose error handler answers ApiErrors as the gateway does. */
async function build(routes: (secured: FastifyInstance) => void): Promise<FastifyInstance> {
  app = Fastify();
  app.setErrorHandler((err, _req, reply) => (err instanceof ApiError ? reply.code(err.status).send(err.toBody()) : reply.code(500).send({ err: String(err) })));
  await app.register(async (secured) => {
    secureRoutes(secured, tokens, exists);
    routes(secured);
  });
  await app.ready();
  return app;
}

describe('auth as a route hook', () => {
  it('refuses, when the app is built, a route that says nothing about tokens', async () => {
    await expect(build((s) => s.get('/forgot', async () => 'open'))).rejects.toThrow(/route GET \/forgot says nothing about tokens/);
  });

  it('refuses a project parameter the path does not have', async () => {
    await expect(build((s) => s.get('/v1/projects/:id', { config: { auth: { scopes: ['manage'], project: 'pid' } } }, async () => 'x')))
      .rejects.toThrow(/names :pid, which is not a parameter of its path/);
  });

  it('checks the token and the scope of a server route, and puts the principal on the request', async () => {
    const a = await build((s) => s.get('/v1/thing', { config: { auth: { scopes: ['ingest', 'admin'] } } }, async (req) => req.principal));
    expect((await a.inject({ url: '/v1/thing' })).json()).toMatchObject({ error: { code: 'missing_token' } });
    expect((await a.inject({ url: '/v1/thing', headers: { authorization: 'Basic x' } })).json()).toMatchObject({ error: { code: 'invalid_token' } });
    expect((await a.inject({ url: '/v1/thing', headers: bearer('gone') })).json()).toMatchObject({ error: { code: 'token_revoked' } });
    const manage = await a.inject({ url: '/v1/thing', headers: bearer('aManage') });
    expect(manage.statusCode).toBe(403);
    expect(manage.json()).toEqual({ error: { code: 'insufficient_scope', message: "this needs a token with scope ingest or admin; this token's scope is manage" } });
    expect((await a.inject({ url: '/v1/thing', headers: bearer('ingest') })).json()).toEqual(PRINCIPALS.ingest);
    // The HEAD route Fastify adds for a GET is checked too, once.
    expect((await a.inject({ method: 'HEAD', url: '/v1/thing' })).statusCode).toBe(401);
  });

  it('on a project route: 404 for a project the token cannot see whatever its scope, then the scope; admin always passes', async () => {
    const a = await build((s) => s.get('/v1/projects/:pid/x', { config: { auth: { scopes: ['manage'], project: 'pid' } } }, async (req) => req.principal.tokenId));
    const get = (pid: string, t: string) => a.inject({ url: `/v1/projects/${pid}/x`, headers: bearer(t) });
    expect((await get('p-bbbbbbbb', 'aManage')).json()).toEqual({ error: { code: 'project_not_found', message: 'no project "p-bbbbbbbb" is visible to this token' } });
    expect((await get('p-bbbbbbbb', 'aMonitoring')).statusCode).toBe(404);
    expect((await get('p-zzzzzzzz', 'admin')).statusCode).toBe(404);
    expect((await get('p-aaaaaaaa', 'aMonitoring')).statusCode).toBe(403);
    expect((await get('p-aaaaaaaa', 'ingest')).statusCode).toBe(403);
    expect((await get('p-aaaaaaaa', 'aManage')).body).toBe('t-am');
    expect((await get('p-bbbbbbbb', 'admin')).body).toBe('t-admin');
  });

  it('anyProjectToken lets a project token through whatever its scope; server tokens need the scope', async () => {
    const a = await build((s) => s.get('/v1/list', { config: { auth: { scopes: ['admin'], anyProjectToken: true } } }, async (req) => req.principal.tokenId));
    expect((await a.inject({ url: '/v1/list', headers: bearer('aMonitoring') })).body).toBe('t-amon');
    expect((await a.inject({ url: '/v1/list', headers: bearer('ingest') })).statusCode).toBe(403);
    expect((await a.inject({ url: '/v1/list', headers: bearer('admin') })).body).toBe('t-admin');
  });

  it('`when` checks the token only for the requests it names', async () => {
    const a = await build((s) => s.get('/own', {
      config: { auth: { scopes: ['admin'], when: (req) => req.headers.authorization !== undefined } },
    }, async (req) => ({ who: req.principal?.tokenId ?? null })));
    expect((await a.inject({ url: '/own' })).json()).toEqual({ who: null });
    expect((await a.inject({ url: '/own', headers: bearer('aManage') })).statusCode).toBe(403);
    expect((await a.inject({ url: '/own', headers: bearer('admin') })).json()).toEqual({ who: 't-admin' });
  });

  it("runs after body validation and a route's preValidation, before its own preHandlers, and its errors reach the route's errorHandler", async () => {
    const seen: string[] = [];
    const a = await build((s) => s.post('/v1/body', {
      config: { auth: { scopes: ['admin'] } },
      schema: { body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } },
      preValidation: async () => void seen.push('preValidation'),
      preHandler: async (req) => void seen.push(`preHandler ${req.principal.tokenId}`),
      errorHandler: (err, _req, reply) => reply.code(err instanceof ApiError ? err.status : 400).send({ own: err instanceof ApiError ? err.code : 'validation' }),
    }, async () => 'ok'));
    expect((await a.inject({ method: 'POST', url: '/v1/body', payload: {} })).json()).toEqual({ own: 'validation' });
    expect((await a.inject({ method: 'POST', url: '/v1/body', payload: { n: 1 } })).json()).toEqual({ own: 'missing_token' });
    expect(seen).toEqual(['preValidation', 'preValidation']);
    expect((await a.inject({ method: 'POST', url: '/v1/body', payload: { n: 1 }, headers: bearer('admin') })).body).toBe('ok');
    expect(seen).toEqual(['preValidation', 'preValidation', 'preValidation', 'preHandler t-admin']);
  });

  it("'public' routes go without a token", async () => {
    const a = await build((s) => s.get('/open', { config: { auth: 'public' } }, async () => 'open'));
    expect((await a.inject({ url: '/open' })).body).toBe('open');
  });
});
