/**
 * The egress guard through the front door, on a gateway that does not allow private egress:
 * endpoints whose address hides a refused IPv4 inside an IPv6 form are refused when saved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers.js';

let gw: TestGateway;
let q: Awaited<ReturnType<TestGateway['project']>>;

beforeAll(async () => {
  gw = await startTestGateway({ delivery: { schedule: false } });
  q = await gw.project('egress');
});
afterAll(() => gw.close());

const save = (method: 'POST' | 'PATCH', url: string, payload: unknown) =>
  gw.app.inject({ method, url: `/v1/projects/${q.id}${url}`, headers: gw.auth(q.manage), payload: payload as any });

describe('saving an integration', () => {
  it('refuses an IPv4-compatible address of loopback with 400, naming the field and why', async () => {
    const res = await save('POST', '/integrations', { endpoint: 'http://[::127.0.0.1]:9/' });
    expect(res.statusCode).toBe(400);
    const { code, message } = res.json().error;
    expect(code).toBe('egress_forbidden');
    expect(message).toMatch(/^endpoint: /);
    expect(message).toContain('::7f00:1 (an IPv4-compatible IPv6 address (::/96) of 127.0.0.1, which is loopback)');
    expect(message).toContain('allow_private_egress');
  });

  it.each([
    ['http://[::7f00:1]/', 'loopback'],
    ['http://[::a9fe:a9fe]/', 'link-local'],
    ['http://[::ffff:a9fe:a9fe]/', 'link-local'],
    ['http://[::ffff:0:a00:1]/', 'private'],
    ['http://[64:ff9b::169.254.169.254]/', 'link-local'],
    ['http://[64:ff9b:1::808:808]/', 'local-use NAT64'],
    ['http://[2002:c0a8:101::1]/', 'private'],
    ['http://[2001:0:808:808::80ff:fffe]/', 'client 127.0.0.1, which is loopback'],
    ['http://[fd00::1]/', 'unique-local'],
  ])('refuses %s (%s)', async (endpoint, why) => {
    const res = await save('POST', '/integrations', { endpoint });
    expect(res.statusCode, endpoint).toBe(400);
    expect(res.json().error.code).toBe('egress_forbidden');
    expect(res.json().error.message).toMatch(/^endpoint: /);
    expect(res.json().error.message).toContain(why);
  });

  it('accepts public addresses, embedded ones included, and refuses an edit to a disguised one', async () => {
    const ids: string[] = [];
    for (const endpoint of ['http://[2606:4700::1111]/', 'http://[64:ff9b::808:808]/', 'http://[2002:808:808::1]/', 'http://8.8.8.8/']) {
      const res = await save('POST', '/integrations', { endpoint });
      expect(res.statusCode, `${endpoint}: ${res.body}`).toBe(201);
      ids.push(res.json().id as string);
    }
    const edit = await save('PATCH', `/integrations/${ids[0]}`, { endpoint: 'http://[::ffff:0:7f00:1]:4318' });
    expect(edit.statusCode).toBe(400);
    expect(edit.json().error.message).toMatch(/^endpoint: .*of 127\.0\.0\.1, which is loopback/);
    const kept = await gw.app.inject({ method: 'GET', url: `/v1/projects/${q.id}/integrations/${ids[0]}`, headers: gw.auth(q.manage) });
    expect(kept.json().endpoint).toBe('http://[2606:4700::1111]');
  });
});
