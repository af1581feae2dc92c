/** Liveness and readiness (no token), and the landing page at `/`. */
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Gateway } from '../server/context.js';
import { landingPage } from './landing.js';

export async function healthRoutes(app: FastifyInstance, gw: Gateway): Promise<void> {
  app.get('/healthz', { schema: { tags: ['health'], summary: 'Liveness: the process answers' } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { tags: ['health'], summary: 'Readiness: the control-plane database answers' } }, async (_req, reply) => {
    try {
      await sql`select 1`.execute(gw.db);
      return { status: 'ready' };
    } catch (err) {
      gw.log.error({ err }, 'readiness check failed');
      return reply.code(503).send({ error: { code: 'not_ready', message: 'the control-plane database does not answer' } });
    }
  });
  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.type('text/html; charset=utf-8').send(landingPage()));
}
