/**
 * The README's SDK example, run as printed against a gateway on 127.0.0.1: only the package name
 * (this checkout's entry instead of the installed `meterway`), the gateway's URL and the collector's
 * are replaced. What it logs is compared with the comments after each console.log.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO } from '../cli/harness.js';
import { startTestGateway, type TestGateway } from '../helpers.js';
import { startOtlpReceiver, type OtlpReceiver } from '../otlp-receiver.js';
import { run } from '../peers.js';

const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('\n## SDK\n'), readme.indexOf('\n## ', readme.indexOf('\n## SDK\n') + 1));
const example = /```ts\n([\s\S]*?)```/.exec(section)![1];

let gw: TestGateway;
let url: string;
let rx: OtlpReceiver;
const dir = mkdtempSync(join(tmpdir(), 'meterway-sdk-readme-'));
beforeAll(async () => {
  gw = await startTestGateway({ env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' }, delivery: { schedule: false } });
  url = await gw.app.listen({ host: '127.0.0.1', port: 0 });
  rx = await startOtlpReceiver();
});
afterAll(async () => {
  await gw.close();
  await rx.close();
  rmSync(dir, { recursive: true, force: true });
});

it('runs the README example as printed, and it logs what its comments say', async () => {
  const p = await gw.project('readme sdk');
  const code = example
    .replace("from 'meterway'", `from ${JSON.stringify(join(REPO, 'src/index.ts'))}`)
    .replace("'http://127.0.0.1:9470'", JSON.stringify(url))
    .replace("'https://collector.example.com:4318'", JSON.stringify(rx.url));
  const script = join(dir, 'example.mts');
  writeFileSync(script, code);
  const r = await run(process.execPath, ['--import', 'tsx', script], { cwd: REPO, env: { ...process.env, INGEST: p.ingest, MANAGE: p.manage }, timeoutMs: 60_000 });
  expect(r.code, r.stderr).toBe(0);

  const logged = r.stdout.trim().split('\n');
  const promised = [...example.matchAll(/console\.log\(.*?\);? *\/\/ (.*)$/gm)].map((m) => m[1]);
  expect(logged).toHaveLength(promised.length);
  // Timestamps differ run to run; everything else is as the comments say.
  const noTimes = (line: string) => line.replace(/\d{10}(\.\d+)?/g, 'T');
  expect(logged.map(noTimes)).toEqual(promised.map(noTimes));
  expect(rx.requests.at(-1)!.headers.authorization).toBe('Bearer YOUR_TOKEN');
});
