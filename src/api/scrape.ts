/** Scrape endpoints (CONTRACT section 7) and the gateway's own GET /metrics. */
import { createGzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Gateway } from '../server/context.js';
import { errors } from '../server/errors.js';
import { CONTENT_TYPE, negotiateFormat, renderFamilies, type RenderableFamily } from '../exposition/render.js';
import { chunksToStream } from '../exposition/stream.js';
import type { Family } from '../aggregate/registry.js';
import { AppParams, errorResponses, PidParams } from './schemas.js';

const READ_SCOPES = ['manage', 'monitoring'] as const;
const READ = { scopes: READ_SCOPES, project: 'pid' };

/** GET /metrics needs an admin token only when it is asked for more than the gateway's own metrics. */
const wantsProjects = (req: FastifyRequest): boolean =>
  req.headers.authorization !== undefined || (req.query as { projects?: string }).projects === 'all';
const exposition = { description: 'Prometheus text 0.0.4, or OpenMetrics 1.0 when Accept asks for application/openmetrics-text', content: { 'text/plain': { schema: { type: 'string' } } } };

export async function scrapeRoutes(app: FastifyInstance, gw: Gateway): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  const send = (req: FastifyRequest, reply: FastifyReply, families: Iterable<RenderableFamily>, endpoint: 'project' | 'app' | 'self', appName?: string) => {
    const started = performance.now();
    const format = negotiateFormat(req.headers.accept);
    const chunks = renderFamilies(families, { format, app: appName, gaugeFreshSinceMs: Date.now() - gw.config.metrics.gaugeStaleAfterMs });
    let stream: NodeJS.ReadableStream = chunksToStream(chunks);
    reply.header('content-type', CONTENT_TYPE[format]).header('vary', 'Accept, Accept-Encoding');
    if (/\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
      stream = stream.pipe(createGzip({ level: 1 }));
      reply.header('content-encoding', 'gzip');
    }
    stream.on('end', () => gw.selfMetrics.observeScrape(endpoint, (performance.now() - started) / 1000));
    return reply.send(stream);
  };

  r.get('/v1/projects/:pid/metrics', {
    config: { auth: READ },
    schema: { tags: ['scrape'], summary: "Scrape a project's metrics (manage or monitoring token)", params: PidParams, response: { 200: exposition, ...errorResponses } },
  }, async (req, reply) => {
    const pm = gw.aggregator.get(req.params.pid);
    if (pm === undefined) throw errors.projectNotFound(req.params.pid);
    return send(req, reply, pm.families, 'project');
  });

  r.get('/v1/projects/:pid/apps/:app_name/metrics', {
    config: { auth: READ },
    schema: { tags: ['scrape'], summary: "Scrape one app's metrics", params: AppParams, response: { 200: exposition, ...errorResponses } },
  }, async (req, reply) => {
    const pm = gw.aggregator.get(req.params.pid);
    if (pm === undefined) throw errors.projectNotFound(req.params.pid);
    if (!pm.apps.has(req.params.app_name)) throw errors.notFound(`app ${JSON.stringify(req.params.app_name)} has not reported any metrics in this project`);
    return send(req, reply, pm.families, 'app', req.params.app_name);
  });

  r.get('/metrics', {
    config: { auth: { scopes: ['admin'], when: wantsProjects } },
    schema: {
      tags: ['scrape'],
      summary: "The gateway's own metrics; with an admin token also per-project ones, and with ?projects=all every project's series",
      querystring: Type.Object({ projects: Type.Optional(Type.Literal('all')) }),
      response: { 200: exposition, ...errorResponses },
    },
  }, async (req, reply) => {
    const admin = wantsProjects(req);
    gw.selfMetrics.refresh(Date.now());
    const families: RenderableFamily[] = [...gw.selfMetrics.publicRegistry.families];
    if (admin) families.push(...gw.selfMetrics.projectRegistry.families);
    const all = req.query.projects === 'all' ? allProjectFamilies(gw) : [];
    return send(req, reply, [...families, ...all], 'self');
  });
}

/** Every project's families, merged by metric name so each name's HELP and TYPE appear once. */
function* allProjectFamilies(gw: Gateway): Generator<RenderableFamily> {
  const byName = new Map<string, Family[]>();
  for (const pm of gw.aggregator.all()) {
    for (const fam of pm.families) {
      const same = byName.get(fam.def.name);
      if (same === undefined) byName.set(fam.def.name, [fam]);
      // Projects' sources may give one name different types or bucket bounds; the first project's win the name.
      else if (same[0].def.type === fam.def.type && String(same[0].def.buckets) === String(fam.def.buckets)) same.push(fam);
    }
  }
  for (const fams of byName.values()) {
    const first = fams[0];
    yield {
      def: first.def,
      appLabelIndex: first.appLabelIndex,
      *seriesValues() {
        for (const fam of fams) yield* fam.series.values();
      },
    };
  }
}
