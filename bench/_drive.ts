/** Runs the ingest client (bench/_ingest-client.ts) in a child process and measures this process's CPU while it sends. */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClientConfig, ClientMessage, ClientResult } from './_ingest-client.js';

export interface Driven {
  readonly result: ClientResult;
  /** CPU of this (the gateway's) process during the measured window, in cores (1 = one full core). */
  readonly gatewayCores: number;
}

export async function driveClient(cfg: ClientConfig): Promise<Driven> {
  const child = fork(fileURLToPath(new URL('./_ingest-client.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, METERWAY_BENCH_CLIENT: JSON.stringify(cfg) },
  });
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  const result = await new Promise<ClientResult>((resolve, reject) => {
    child.on('message', (m: ClientMessage) => {
      if (m.kind === 'measuring') cpuAtStart = process.cpuUsage();
      else resolve(m.result);
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`client exited with ${code} before reporting`)));
  });
  const cpu = process.cpuUsage(cpuAtStart);
  return { result, gatewayCores: (cpu.user + cpu.system) / 1000 / result.ms };
}
