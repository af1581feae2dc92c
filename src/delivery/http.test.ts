import { createServer } from 'node:http';
import { getEventListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { post } from './http.js';
import { DeliveryError } from './errors.js';

let port = 0;
let hits = 0;
const server = createServer((_req, res) => {
  hits++;
  res.end('ok');
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('post', () => {
  it('checks the address actually connected to, not only the one seen when saving', async () => {
    // "localhost" goes through the guarded DNS lookup at connect time; a literal goes through the address check.
    // The disguised forms would not reach this server; what matters is that they are refused
    // before any connection, as a translator or relay could take them to the IPv4 host.
    for (const host of ['localhost', '127.0.0.1', '[::ffff:127.0.0.1]', '[::7f00:1]', '[64:ff9b::7f00:1]', '[2002:7f00:1::1]', '[::ffff:0:7f00:1]']) {
      const err = await post(new URL(`http://${host}:${port}/v1/metrics`), 'x', { headers: {}, timeoutMs: 2000, allowPrivate: false }).catch((e) => e);
      expect(err, host).toBeInstanceOf(DeliveryError);
      expect((err as DeliveryError).reason, host).toBe('egress_forbidden');
      expect((err as DeliveryError).retryable).toBe(false);
    }
    expect(hits).toBe(0);
  });

  it('reaches a private address when the operator allows it', async () => {
    const res = await post(new URL(`http://localhost:${port}/v1/metrics`), 'x', { headers: {}, timeoutMs: 2000, allowPrivate: true });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('ok');
    expect(hits).toBe(1);
  });

  it('leaves no abort listener behind on a failed request', async () => {
    const abort = new AbortController();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    for (let i = 0; i < 5; i++) {
      const err = await post(new URL(`http://127.0.0.1:${deadPort}/`), 'x', { headers: {}, timeoutMs: 2000, allowPrivate: true, signal: abort.signal }).catch((e) => e);
      expect((err as DeliveryError).reason).toBe('refused');
    }
    await post(new URL(`http://127.0.0.1:${port}/`), 'x', { headers: {}, timeoutMs: 2000, allowPrivate: true, signal: abort.signal });
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
  });
});
