/**
 * Tail latency of a bystander tenant while another attacks (issue 14): project B's instant query,
 * an ingest POST into B and B's scrape, each timed from a child process (so the probes do not
 * share the gateway's event loop), first with the gateway otherwise idle, then while project A
 * sends the heaviest queries its monitoring token may (a huge subquery, a backtracking regex, 100k
 * nested parentheses) with ATTACKERS requests in flight. Prints p50 and p99 of each probe in both
 * phases and the p99 ratio; issue 14's goal is at most 2x. No peer runs this: Prometheus has no
 * tenants to keep apart, so the comparison is the gateway against itself when idle.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN, header, startGateway, verdict } from './_util.js';

const ROUNDS = Number(process.env.TAIL_ROUNDS ?? 200);
const ATTACKERS = Number(process.env.ATTACKERS ?? 4);
const TARGET_RATIO = 2;

interface ProbeConfig {
  base: string;
  a: { id: string; monitoring: string };
  b: { id: string; monitoring: string; ingest: string };
  timeS: number;
  rounds: number;
  attackers: number;
}
type Percentiles = Record<'query' | 'ingest' | 'scrape', { p50: number; p99: number }>;
type ProbeReport = { idle: Percentiles; attack: Percentiles; attackRequests: number };

export async function main(): Promise<void> {
  header(`tail-latency: a bystander's p99 (query, ingest, scrape of project B) idle and while project A attacks with ${ATTACKERS} heavy queries in flight; ${ROUNDS} rounds each, probes in a child process`);
  const bg = await startGateway({ retention: '0', ingest: { rate_limit: { events_per_second: 0 } } });
  try {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const res = await bg.gw.app.inject({ method: 'POST', url: '/v1/projects', headers: auth, payload: { name: 'bystander' } });
    const bid = res.json().id as string;
    const token = async (scope: string) =>
      (await bg.gw.app.inject({ method: 'POST', url: `/v1/projects/${bid}/tokens`, headers: auth, payload: { scope, name: scope } })).json().token as string;
    const b = { id: bid, monitoring: await token('monitoring'), ingest: await token('ingest'), manage: await token('manage') };
    const now = Date.now();
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) lines.push(`victim_total{v="${'a'.repeat(41)}",i="${i}"} ${i} ${now - 60_000}`, `victim_total{v="${'a'.repeat(41)}",i="${i}"} ${i + 1} ${now}`);
    for (const [pid, manage] of [[bg.project.id, bg.project.manage], [b.id, b.manage]] as const) {
      const r = await bg.gw.app.inject({ method: 'POST', url: `/v1/projects/${pid}/import`, headers: { authorization: `Bearer ${manage}`, 'content-type': 'text/plain' }, payload: lines.join('\n') });
      if (r.json().imported !== 400) throw new Error(`import failed: ${r.body}`);
    }
    await bg.gw.queries.warm();
    const cfg: ProbeConfig = { base: bg.baseUrl, a: { id: bg.project.id, monitoring: bg.project.monitoring }, b, timeS: now / 1000, rounds: ROUNDS, attackers: ATTACKERS };
    const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, METERWAY_TAIL_PROBES: JSON.stringify(cfg) } });
    const report = await new Promise<ProbeReport>((resolve, reject) => {
      child.on('message', (m) => resolve(m as ProbeReport));
      child.on('error', reject);
      child.on('exit', (code) => reject(new Error(`probe process exited with ${code} before reporting`)));
    });
    const stats = bg.gw.queries.stats();
    console.log(`   attacker requests answered during the attack phase: ${report.attackRequests}; workers stopped at a deadline so far: ${stats.killed}`);
    console.log('   probe      idle p50   idle p99   attack p50   attack p99   p99 ratio');
    let worst = 0;
    for (const k of ['query', 'ingest', 'scrape'] as const) {
      const i = report.idle[k];
      const a = report.attack[k];
      const ratio = a.p99 / i.p99;
      worst = Math.max(worst, ratio);
      console.log(`   ${k.padEnd(9)} ${ms(i.p50)} ${ms(i.p99)}   ${ms(a.p50)}   ${ms(a.p99)}   ${ratio.toFixed(2)}x`);
    }
    console.log(`   worst p99 ratio ${worst.toFixed(2)}x (target <= ${TARGET_RATIO}x: ${verdict(worst <= TARGET_RATIO)})`);
  } finally {
    await bg.close();
  }
}

function ms(v: number): string {
  return `${v.toFixed(1).padStart(7)} ms`;
}

// ---- the probe process ----------------------------------------------------------------------

async function probes(cfg: ProbeConfig): Promise<ProbeReport> {
  const query = (p: { id: string; monitoring: string }, q: string) =>
    fetch(`${cfg.base}/v1/projects/${p.id}/prometheus/api/v1/query`, {
      method: 'POST', body: `query=${encodeURIComponent(q)}&time=${cfg.timeS}&timeout=2s`,
      headers: { authorization: `Bearer ${p.monitoring}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
  const timed = async (fn: () => Promise<Response>): Promise<number> => {
    const t = performance.now();
    const res = await fn();
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`probe failed: ${res.status}`);
    return performance.now() - t;
  };
  const phase = async (rounds: number): Promise<Percentiles> => {
    const s = { query: [] as number[], ingest: [] as number[], scrape: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      s.query.push(await timed(() => query(cfg.b, 'sum(victim_total)')));
      s.ingest.push(await timed(() => fetch(`${cfg.base}/v1/events`, {
        method: 'POST', headers: { authorization: `Bearer ${cfg.b.ingest}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'run', app_name: 'svc', status: 'success' }),
      })));
      s.scrape.push(await timed(() => fetch(`${cfg.base}/v1/projects/${cfg.b.id}/metrics`, { headers: { authorization: `Bearer ${cfg.b.monitoring}` } })));
    }
    const pct = (xs: number[], q: number) => xs.sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(xs.length * q))];
    const both = (xs: number[]) => ({ p50: pct(xs, 0.5), p99: pct(xs, 0.99) });
    return { query: both(s.query), ingest: both(s.ingest), scrape: both(s.scrape) };
  };
  await phase(20);
  const idle = await phase(cfg.rounds);
  const heavy = ['count_over_time((sum_over_time(vector(1)[1d:1s]))[7d:1m])', 'victim_total{v=~"(a|a)*b"}', `${'('.repeat(100_000)}1${')'.repeat(100_000)}`];
  let attacking = true;
  let attackRequests = 0;
  const attackers = Array.from({ length: cfg.attackers }, async (_, k) => {
    while (attacking) {
      await (await query(cfg.a, heavy[k % heavy.length])).arrayBuffer();
      attackRequests++;
    }
  });
  const attack = await phase(cfg.rounds);
  attacking = false;
  await Promise.all(attackers);
  return { idle, attack, attackRequests };
}

const probeConfig = process.env.METERWAY_TAIL_PROBES;
if (probeConfig !== undefined && process.send !== undefined) {
  const report = await probes(JSON.parse(probeConfig) as ProbeConfig);
  process.send(report, () => process.exit(0));
}
