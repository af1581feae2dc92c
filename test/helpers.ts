/** Boots a whole gateway in a temp data directory for tests that go through the front door. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type ConfigFlags } from '../src/config/load.js';
import type { Logger } from 'pino';
import { createGateway, type GatewayOptions, type RunningGateway } from '../src/server/gateway.js';

export const ADMIN_TOKEN = 'mw_admin_test-token-0123456789abcdefghijklmnop';

export interface TestGateway extends RunningGateway {
  readonly dataDir: string;
  /** Headers with a bearer token. */
  auth(token: string): { authorization: string };
  /** Creates a project and a token of each project scope in it. */
  project(name?: string): Promise<{ id: string; ingest: string; manage: string; monitoring: string }>;
  /** Closes the gateway but keeps its data directory, for a restart on the same projects. */
  closeKeepingData(): Promise<void>;
}

export async function startTestGateway(
  opts: { flags?: ConfigFlags; env?: Record<string, string>; file?: Record<string, unknown>; log?: Logger; dataDir?: string } & GatewayOptions = {},
): Promise<TestGateway> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'meterway-test-'));
  let configPath: string | undefined;
  if (opts.file !== undefined) {
    configPath = join(dataDir, 'config.json');
    (await import('node:fs')).writeFileSync(configPath, JSON.stringify(opts.file));
  }
  const config = loadConfig(
    { dataDir, port: 0, config: configPath, ...opts.flags },
    { METERWAY_ADMIN_TOKEN: ADMIN_TOKEN, METERWAY_LOG_LEVEL: 'silent', ...opts.env },
  );
  const gw = await createGateway(config, opts.log, { delivery: opts.delivery, rateLimitClock: opts.rateLimitClock });
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  return {
    ...gw,
    dataDir,
    auth,
    async close() {
      await gw.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
    closeKeepingData: () => gw.close(),
    async project(name = 'test project') {
      const res = await gw.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(ADMIN_TOKEN), payload: { name } });
      if (res.statusCode !== 201) throw new Error(`project create failed: ${res.body}`);
      const id = res.json().id as string;
      const token = async (scope: string) => {
        const t = await gw.app.inject({ method: 'POST', url: `/v1/projects/${id}/tokens`, headers: auth(ADMIN_TOKEN), payload: { scope, name: scope } });
        if (t.statusCode !== 201) throw new Error(`token create failed: ${t.body}`);
        return t.json().token as string;
      };
      return { id, ingest: await token('ingest'), manage: await token('manage'), monitoring: await token('monitoring') };
    },
  };
}

export type TestProject = Awaited<ReturnType<TestGateway['project']>>;

/** POST /v1/events with the project's ingest token: the status and the answer. */
export async function postEvents(g: TestGateway, q: TestProject, payload: unknown): Promise<{ status: number; body: any }> {
  const res = await g.app.inject({ method: 'POST', url: '/v1/events', headers: g.auth(q.ingest), payload: payload as object });
  return { status: res.statusCode, body: res.json() };
}

/** The project's scrape endpoint as its monitoring token sees it. */
export async function scrapeProject(g: TestGateway, q: TestProject, accept?: string): Promise<string> {
  const res = await g.app.inject({ method: 'GET', url: `/v1/projects/${q.id}/metrics`, headers: { ...g.auth(q.monitoring), ...(accept === undefined ? {} : { accept }) } });
  if (res.statusCode !== 200) throw new Error(`scrape answered ${res.statusCode}: ${res.body}`);
  return res.body;
}

/** The value of one exposed sample line (`name{labels}` as written), or undefined when absent. */
export function sampleValue(text: string, nameAndLabels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${nameAndLabels} `));
  return line === undefined ? undefined : Number(line.slice(nameAndLabels.length + 1));
}

/** An instant query through the project's query API: the vector's samples. */
export async function queryProject(g: TestGateway, q: TestProject, expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await g.app.inject({ method: 'GET', url: `/v1/projects/${q.id}/prometheus/api/v1/query?query=${encodeURIComponent(expr)}`, headers: g.auth(q.monitoring) });
  if (res.statusCode !== 200) throw new Error(`query ${expr} answered ${res.statusCode}: ${res.body}`);
  return res.json().data.result;
}
