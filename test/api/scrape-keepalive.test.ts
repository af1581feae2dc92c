/**
 * A target that closes a kept-alive connection just as the next scrape goes out on it (an
 * exporter's idle timeout running out between two scrapes) is scraped again on a new connection,
 * as Prometheus' client does, not marked down. The stand-in answers the first request of each
 * connection and closes the connection on the second, without an answer.
 */
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN_TOKEN, sampleValue, startTestGateway, type TestGateway } from '../helpers.js';
import { poll } from '../peers.js';

const P = 'p-keepal01';
const BODY = '# TYPE kept gauge\nkept 1\n';
let server: Server;
let port: number;
let gw: TestGateway;
let requests = 0;
let closedUnanswered = 0;

beforeAll(async () => {
  server = createServer((socket) => {
    let onThisConnection = 0;
    let pending = '';
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      while (pending.includes('\r\n\r\n')) {
        pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
        requests++;
        if (++onThisConnection === 1) {
          socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: ${BODY.length}\r\nConnection: keep-alive\r\n\r\n${BODY}`);
        } else {
          closedUnanswered++;
          socket.destroy();
          return;
        }
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  gw = await startTestGateway({
    file: { scrape_configs: [{ job_name: 'closing', scrape_interval: '200ms', static_configs: [{ targets: [`127.0.0.1:${port}`], labels: { project_id: P } }] }] },
  });
  const res = await gw.app.inject({ method: 'POST', url: '/v1/projects', headers: gw.auth(ADMIN_TOKEN), payload: { name: 'keep-alive', id: P } });
  expect(res.statusCode, res.body).toBe(201);
});
afterAll(async () => {
  await gw?.close();
  await new Promise((r) => server?.close(r));
});

it('sends the scrape again on a new connection, and the target stays up', async () => {
  await poll('several connections closed under a scrape', async () => (closedUnanswered >= 4 ? true : undefined), 15_000, 50);
  const self = (await gw.app.inject({ method: 'GET', url: '/metrics', headers: gw.auth(ADMIN_TOKEN) })).body;
  const target = `instance="127.0.0.1:${port}",job="closing"`;
  expect(sampleValue(self, `meterway_target_up{${target}}`)).toBe(1);
  expect(self).not.toMatch(/meterway_target_scrape_failures_total\{[^}]*job="closing"/);
  expect(requests).toBeGreaterThan(closedUnanswered);
});
