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
