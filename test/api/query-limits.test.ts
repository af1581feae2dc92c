/** query.* limits, global and per project, through the query API. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers.js';

let gw: TestGateway;
let limited: Awaited<ReturnType<TestGateway['project']>>;
let other: Awaited<ReturnType<TestGateway['project']>>;
const now = Date.now();

beforeAll(async () => {
  // Overrides are keyed by project id: make the projects, then restart with the override.
  const boot = await startTestGateway({ flags: { retention: '0' } });
  limited = await boot.project('limited');
  other = await boot.project('other');
  const lines = Array.from({ length: 30 }, (_, i) => `load{i="${i}"} ${i} ${now}`).join('\n');
  for (const p of [limited, other]) {
    const res = await boot.app.inject({ method: 'POST', url: `/v1/projects/${p.id}/import`, headers: { ...boot.auth(p.manage), 'content-type': 'text/plain' }, payload: lines });
    expect(res.json().imported).toBe(30);
  }
  await boot.closeKeepingData();
  gw = await startTestGateway({
    dataDir: boot.dataDir,
    flags: { retention: '0' },
    file: { query: { max_depth: 50, projects: { [limited.id]: { max_series_per_selector: 10, max_points_per_series: 100, max_query_length: 64 } } } },
  });
}, 60_000);
afterAll(async () => gw.close());

const get = async (p: typeof limited, path: string) => {
  const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/prometheus/api/v1/${path}`, headers: gw.auth(p.monitoring) });
  return { status: res.statusCode, body: res.json() as { status: string; errorType?: string; error?: string; data?: { result: unknown[] } } };
};
const q = (text: string) => `query?query=${encodeURIComponent(text)}&time=${now / 1000}`;

describe('query limits', () => {
  it('a per-project series limit refuses the selector for that project only', async () => {
    const hit = await get(limited, q('count(load)'));
    expect(hit.status).toBe(422);
    expect(hit.body).toMatchObject({ status: 'error', errorType: 'execution' });
    expect(hit.body.error).toContain('more than 10 series (limit query.max_series_per_selector)');
    const fine = await get(other, q('count(load)'));
    expect(fine.status).toBe(200);
    expect(fine.body.data?.result).toHaveLength(1);
  });

  it('range points and query length follow the override; the default depth applies to all', async () => {
    const range = await get(limited, `query_range?query=up&start=0&end=1000&step=1`);
    expect(range.status).toBe(400);
    expect(range.body.error).toContain('exceeded maximum resolution of 100 points per timeseries');
    expect((await get(other, `query_range?query=up&start=0&end=1000&step=1`)).status).toBe(200);
    const long = await get(limited, q(`load{i="1"} + ${'0 + '.repeat(20)}0`));
    expect(long.status).toBe(400);
    expect(long.body.error).toContain('(query.max_query_length)');
    const deep = await get(other, q(`${'abs('.repeat(60)}1${')'.repeat(60)}`));
    expect(deep.status).toBe(400);
    expect(deep.body).toMatchObject({ errorType: 'bad_data' });
    expect(deep.body.error).toContain('query.max_depth');
  });

  it('series and label endpoints apply the length limit to match[]', async () => {
    const res = await get(limited, `series?match[]=${encodeURIComponent(`{__name__="load",i=~"${'1|'.repeat(40)}1"}`)}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toContain('invalid parameter "match[]"');
  });
});

describe('query configuration', () => {
  it('names the key of a bad value', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'meterway-qcfg-'));
    const load = (query: object) => {
      writeFileSync(join(dir, 'c.json'), JSON.stringify({ query }));
      return () => loadConfig({ dataDir: dir, config: join(dir, 'c.json') }, {});
    };
    expect(load({ workers: 2, max_concurrent_per_project: 3 })).toThrow(/query\.max_concurrent_per_project: 3 is more than the 2 query workers/);
    expect(load({ timeout: 'soon' })).toThrow(/query\.timeout: must be a duration/);
    expect(load({ projects: { acme: { max_samples: 5 } } })).toThrow(/query\.projects\["acme"\]: not a project id/);
    expect(load({ workers: 3, projects: { 'p-abcdefgh': { timeout: '5s' } } })().query.projects['p-abcdefgh']).toMatchObject({ timeoutMs: 5000, maxConcurrent: 2, maxSamples: 10_000_000 });
    rmSync(dir, { recursive: true, force: true });
  });
});
