/**
 * Events per second end to end through POST /v1/events: NDJSON batches of 1,000 events over
 * loopback into a real listening gateway, sent by a child process with several requests in flight.
 * The ceiling printed with it is JSON.parse alone over the same NDJSON, on one core.
 */
import type { ClientConfig } from './_ingest-client.js';
import { driveClient } from './_drive.js';
import { EVENTS_PER_BATCH, makeBatches } from './_ingest-data.js';
import { fmtNum, header, startGateway, verdict } from './_util.js';

const TARGET_EVENTS_PER_SECOND = 300_000;
const CONCURRENCY = 4;
const WARMUP_MS = 2_000;
const MEASURE_MS = 6_000;
const BATCHES = 16;

export async function main(): Promise<void> {
  header(`ingest: POST /v1/events, NDJSON batches of ${EVENTS_PER_BATCH}, ${CONCURRENCY} requests in flight, ${MEASURE_MS / 1000} s measured after ${WARMUP_MS / 1000} s warm-up`);
  // The rate limit off: this measures what the gateway can take, not what a tenant is allowed.
  const bg = await startGateway({ ingest: { rate_limit: { events_per_second: 0 } } });
  try {
    const cfg: ClientConfig = {
      port: bg.port, token: bg.project.ingest, projectId: bg.project.id,
      concurrency: CONCURRENCY, warmupMs: WARMUP_MS, measureMs: MEASURE_MS, batches: BATCHES,
    };
    const { result, gatewayCores: serverCpu } = await driveClient(cfg);
    if (result.failures > 0 || result.rejected > 0) throw new Error(`requests failed or events were rejected: ${result.firstError}`);
    if (result.accepted !== result.requests * EVENTS_PER_BATCH) throw new Error('accepted count does not match what was sent');

    const perSecond = (result.accepted * 1000) / result.ms;
    const pm = bg.gw.aggregator.get(bg.project.id)!;
    console.log(`   series in the project after the run: ${pm.registry.seriesCount}`);
    // Other tenants share the 2 cores, so wall-clock throughput also says how much CPU the gateway
    // got; events per CPU-second of the gateway process is the figure the code itself controls.
    const perCpuSecond = perSecond / serverCpu;
    console.log(`   ours:    ${fmtNum(perSecond)} events/s end to end (${result.requests} requests in ${(result.ms / 1000).toFixed(1)} s); gateway process busy ${(serverCpu * 100).toFixed(0)}% of one core`);
    console.log(`            ${fmtNum(perCpuSecond)} events per CPU-second of the gateway process (what one full core would take)`);

    const ceiling = parseCeiling(makeBatches(bg.project.id, BATCHES));
    console.log(`   ceiling: ${fmtNum(ceiling)} events/s for JSON.parse alone of the same NDJSON (split on newlines, one core)`);
    console.log(`   ours / ceiling: ${(perSecond / ceiling).toFixed(2)} wall-clock, ${(perCpuSecond / ceiling).toFixed(2)} per CPU-second`);
    console.log(`   target >= ${fmtNum(TARGET_EVENTS_PER_SECOND)} events/s: wall-clock ${verdict(perSecond >= TARGET_EVENTS_PER_SECOND)}; per CPU-second ${verdict(perCpuSecond >= TARGET_EVENTS_PER_SECOND)}`);
  } finally {
    await bg.close();
  }
}

function parseCeiling(batches: string[]): number {
  let sink = 0;
  const pass = (): number => {
    const t0 = performance.now();
    let events = 0;
    for (const body of batches) {
      let start = 0;
      for (let end = body.indexOf('\n'); end >= 0; end = body.indexOf('\n', start)) {
        const v = JSON.parse(body.slice(start, end)) as { type: string };
        sink += v.type.length;
        events++;
        start = end + 1;
      }
    }
    return (events * 1000) / (performance.now() - t0);
  };
  let best = 0;
  for (let i = 0; i < 8; i++) best = Math.max(best, pass());
  if (sink === 0) throw new Error('unreachable: keeps the parse results alive');
  return best;
}
