/**
 * The README is executable: every shell command of its walkthroughs ("Five minutes with Meterway",
 * "Query API", "Push export", "OpenTelemetry metrics in", ...) runs in order, with bash, in a fresh
 * temporary directory, against a fresh gateway started by the README's own `npm start -- --demo`,
 * and prints what the README shows after it.
 *
 * How commands, outputs and per-block directives (`<!-- readme-test ... -->`) are read: blocks.ts.
 * What the test stands in for, for every block:
 * - `127.0.0.1:9470` is the ephemeral port the test picked, which the gateway gets as METERWAY_PORT
 *   and the CLI as METERWAY_URL (both default to 9470);
 * - `npx meterway ARGS` and `npm start -- ARGS` (`meterway serve ARGS`, as package.json says) run this
 *   checkout's CLI through tsx (`node --import tsx src/cli/main.ts`, as test/cli/harness.ts does),
 *   from the temporary directory, so `./meterway-data` and the admin token file are there;
 * - nothing of the caller's METERWAY_* environment comes in;
 * - an OTLP receiver on 127.0.0.1 (test/otlp-receiver.ts) is the collector, as OTLP_RECEIVER_URL.
 * The script stops at the first command that exits non-zero; `set -o pipefail` holds.
 * Beyond the shell blocks: the walkthrough's prometheus.yml passes `promtool check config` with the
 * token put in, and the PromQL expressions of step 5 evaluate.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOtlpReceiver, type OtlpReceiver } from '../otlp-receiver.js';
import { freePort, hasPromtool, PROMTOOL_BIN, run } from '../peers.js';
import { REPO } from '../cli/harness.js';
import { commandsOf, compareVersions, expandVars, fencedBlocks, isShell, matchOutput, type Command } from './blocks.js';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const blocks = fencedBlocks(README);
const TSX = createRequire(join(REPO, 'package.json')).resolve('tsx');
const SCRIPT_TIMEOUT_MS = 240_000;

/** Read at collection time: which blocks run must be known before the tests are. */
const PROMTOOL_VERSION = hasPromtool ? /version (\d+(?:\.\d+)*)/.exec(execFileSync(PROMTOOL_BIN, ['--version'], { encoding: 'utf8' }))?.[1] : undefined;

/** Step 5's PromQL expressions (the code spans of the paragraph that starts "Then, in Prometheus:"). */
const STEP5_EXPRS = (() => {
  const at = README.indexOf('Then, in Prometheus:');
  const para = README.slice(at, README.indexOf('\n\n', at));
  return [...para.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
})();

interface Planned {
  n: number;
  cmd: Command;
  /** Why it is not run, when it is not. */
  skipped?: string;
}

const planned: Planned[] = [];
for (const block of blocks.filter(isShell)) {
  const cmds = commandsOf(block);
  const req = block.directives.requires;
  let skipped = block.directives.skip;
  if (skipped === undefined && req !== undefined) {
    if (req.tool !== 'promtool') throw new Error(`README.md line ${block.line}: requires ${req.tool}: the test knows only promtool's version`);
    if (PROMTOOL_VERSION === undefined || compareVersions(PROMTOOL_VERSION, req.version) < 0) {
      skipped = `needs promtool >= ${req.version}; ${PROMTOOL_VERSION === undefined ? 'none is installed' : `this one is ${PROMTOOL_VERSION}`}`;
    }
  }
  if (skipped === undefined && !hasPromtool && cmds.some((c) => /^\s*promtool\b/m.test(c.text))) skipped = 'promtool is not installed';
  if (block.directives.background !== undefined && cmds.length !== 1) throw new Error(`README.md line ${block.line}: a background block holds one command`);
  for (const cmd of cmds) planned.push({ n: planned.length + 1, cmd, skipped });
}
const toRun = planned.filter((p) => p.skipped === undefined);

/** The bash script: prelude (stand-ins), then each command with its stdout, stderr and status in files. */
function script(port: number): string {
  const lines = [
    'set -o pipefail',
    // In a subshell (command substitution, pipeline, background) the CLI replaces it, so the
    // background gateway's PID is the one the script stops.
    'meterway() { if [ "$BASHPID" != "$$" ]; then exec node --import "$MW_TSX" "$MW_REPO/src/cli/main.ts" "$@"; fi; node --import "$MW_TSX" "$MW_REPO/src/cli/main.ts" "$@"; }',
    'npx() { if [ "$1" = meterway ]; then shift; meterway "$@"; else command npx "$@"; fi; }',
    'npm() { if [ "$1" = start ]; then shift; if [ "${1-}" = -- ]; then shift; fi; meterway serve "$@"; else echo "the README test stands in for npm start only, not npm $*" >&2; return 127; fi; }',
    'mw_gateway=',
    'mw_stop() { if [ -n "$mw_gateway" ]; then kill -TERM "$mw_gateway" 2>/dev/null; wait "$mw_gateway"; echo $? > "$MW_OUT/gateway.rc"; fi; }',
    'trap mw_stop EXIT',
    'cd "$MW_WORK" || exit 99',
  ];
  for (const p of toRun) {
    const f = `"$MW_OUT/${p.n}`;
    const text = p.cmd.text.split('127.0.0.1:9470').join(`127.0.0.1:${port}`);
    lines.push(`# README.md line ${p.cmd.line}`);
    if (p.cmd.block.directives.background !== undefined) {
      lines.push(
        `( ${text}\n) > ${f}.out" 2> ${f}.err" &`,
        'mw_gateway=$!',
        'mw_up=',
        'for mw_i in $(seq 1 600); do',
        `  if curl -sf "http://127.0.0.1:${port}/healthz" > /dev/null 2>&1; then mw_up=1; break; fi`,
        `  if ! kill -0 "$mw_gateway" 2>/dev/null; then wait "$mw_gateway"; echo $? > ${f}.rc"; mw_gateway=; exit 100; fi`,
        '  sleep 0.1',
        'done',
        `if [ -z "$mw_up" ]; then echo 124 > ${f}.rc"; exit 100; fi`,
        `echo 0 > ${f}.rc"`,
      );
    } else {
      lines.push(`{\n${text}\n} > ${f}.out" 2> ${f}.err" < /dev/null`, `mw_rc=$?; echo $mw_rc > ${f}.rc"; [ $mw_rc = 0 ] || exit 100`);
    }
  }
  lines.push('for mw_v in MONITORING INGEST; do printf "%s" "${!mw_v-}" > "$MW_OUT/var.$mw_v"; done');
  // Not README commands: step 5's expressions, evaluated while the gateway still runs.
  STEP5_EXPRS.forEach((q, i) => {
    lines.push(`curl -s -H "Authorization: Bearer $MONITORING" 'http://127.0.0.1:${port}/v1/projects/p-myplat01/prometheus/api/v1/query' --data-urlencode ${shellQuote(`query=${q}`)} > "$MW_OUT/expr.${i}.out"`);
  });
  return `${lines.join('\n')}\n`;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

interface Outcome {
  rc?: number;
  stdout: string;
  stderr: string;
}

describe('README.md, run as printed', { timeout: 60_000 }, () => {
  let work: string;
  let out: string;
  let port: number;
  let receiver: OtlpReceiver;
  let env: NodeJS.ProcessEnv;
  let scriptResult: { code: number | null; signal: string | null; stdout: string; stderr: string; timedOut: boolean };
  const outcome = (n: number): Outcome => {
    const read = (ext: string) => (existsSync(join(out, `${n}.${ext}`)) ? readFileSync(join(out, `${n}.${ext}`), 'utf8') : undefined);
    const rc = read('rc');
    return { rc: rc === undefined ? undefined : Number(rc.trim()), stdout: read('out') ?? '', stderr: read('err') ?? '' };
  };
  const variable = (name: string) => readFileSync(join(out, `var.${name}`), 'utf8');

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'meterway-readme-'));
    out = mkdtempSync(join(tmpdir(), 'meterway-readme-out-'));
    port = await freePort();
    receiver = await startOtlpReceiver();
    env = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('METERWAY_')) env[k] = v;
    Object.assign(env, {
      NO_COLOR: '1',
      METERWAY_PORT: String(port),
      METERWAY_URL: `http://127.0.0.1:${port}`,
      METERWAY_LOG_LEVEL: 'warn',
      MW_PORT: String(port),
      MW_REPO: REPO,
      MW_TSX: TSX,
      MW_WORK: work,
      MW_OUT: out,
      OTLP_RECEIVER_URL: receiver.url,
    });
    const file = join(out, 'readme.sh');
    writeFileSync(file, script(port));
    // Its own process group, so that a timeout takes the gateway down with the script.
    scriptResult = await new Promise((resolve) => {
      const child = spawn('bash', [file], { cwd: work, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // gone already
        }
      }, SCRIPT_TIMEOUT_MS);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr, timedOut });
      });
    });
  }, SCRIPT_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    await receiver?.close();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
    if (out !== undefined) rmSync(out, { recursive: true, force: true });
  });

  it('finds the walkthroughs and runs most of their commands', () => {
    const sections = new Set(toRun.map((p) => p.cmd.block.section));
    expect([...sections]).toEqual(expect.arrayContaining(['Five minutes with Meterway', 'Query API (a Prometheus data source per project)', 'Push export (OTLP)']));
    expect(toRun.length).toBeGreaterThanOrEqual(15);
    expect(toRun.filter((p) => p.cmd.expected.length > 0).length).toBeGreaterThanOrEqual(5);
    expect(blocks.filter((b) => isShell(b) && b.directives.background !== undefined)).toHaveLength(1);
  });

  for (const p of planned) {
    const title = `line ${p.cmd.line}: ${p.cmd.printed.split('\n')[0].slice(0, 100)}`;
    if (p.skipped !== undefined) {
      it.skip(`${title} (${p.skipped})`, () => {});
      continue;
    }
    it(title, () => {
      expect(scriptResult.timedOut, `the script ran past ${SCRIPT_TIMEOUT_MS} ms`).toBe(false);
      const o = outcome(p.n);
      if (o.rc === undefined) {
        const failed = toRun.find((q) => outcome(q.n).rc !== undefined && outcome(q.n).rc !== 0);
        throw new Error(`not run: ${failed === undefined ? `the script stopped (${scriptResult.code}): ${scriptResult.stderr}` : `README.md line ${failed.cmd.line} failed first`}`);
      }
      const shown = `README.md line ${p.cmd.line}, run as:\n${p.cmd.text}\nstdout:\n${o.stdout}\nstderr:\n${o.stderr}`;
      expect(o.rc, shown).toBe(0);
      expect(matchOutput(p.cmd.expected.map((l) => expandVars(l, env)), o.stdout), shown).toEqual([]);
    });
  }

  it('the gateway wrote its admin token file with mode 0600, as step 1 says, and stopped cleanly', () => {
    const file = join(work, 'meterway-data', 'admin-token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toMatch(/^mw_admin_/);
    const gw = toRun.find((p) => p.cmd.block.directives.background !== undefined)!;
    expect(readFileSync(join(out, 'gateway.rc'), 'utf8').trim(), outcome(gw.n).stderr).toBe('0');
  });

  it('integrations test reached the collector (the OTLP receiver)', () => {
    expect(receiver.requests.length).toBeGreaterThanOrEqual(1);
    expect(receiver.requests[0].path).toBe('/v1/metrics');
    expect(receiver.requests[0].headers.authorization).toBe('Bearer YOUR_TOKEN');
  });

  it.skipIf(!hasPromtool)("step 5's prometheus.yml passes promtool check config once the token is put in", async () => {
    const yaml = blocks.find((b) => b.section === 'Five minutes with Meterway' && b.lang === 'yaml' && b.text.includes('scrape_configs'));
    expect(yaml).toBeDefined();
    expect(yaml!.text).toContain('mw_monitoring_PASTE_THE_MONITORING_TOKEN_HERE');
    const file = join(work, 'prometheus.yml');
    writeFileSync(file, yaml!.text.replace('mw_monitoring_PASTE_THE_MONITORING_TOKEN_HERE', variable('MONITORING')));
    const r = await run(PROMTOOL_BIN, ['check', 'config', file]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it("step 5's PromQL expressions evaluate on the project's query API", () => {
    expect(STEP5_EXPRS).toHaveLength(2);
    STEP5_EXPRS.forEach((q, i) => {
      const body = readFileSync(join(out, `expr.${i}.out`), 'utf8');
      expect(JSON.parse(body), `${q}: ${body}`).toEqual({ status: 'success', data: { resultType: 'vector', result: expect.any(Array) } });
    });
  });
});
