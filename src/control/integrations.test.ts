import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { Secret } from '../config/secret.js';
import { openSqlite } from '../store/db.js';
import type { Database } from '../store/schema.js';
import type { SinkFactory } from '../push/sink.js';
import { SINK_FACTORIES } from '../sinks/registry.js';
import { CredentialCipher } from './crypto.js';
import { ControlError } from './errors.js';
import { Integrations } from './integrations.js';

/** A kind that is not HTTP, like a StatsD sink would be: it only names its schemes. */
const udpFactory: SinkFactory = {
  kind: 'fake-udp',
  schemes: ['udp:'],
  configSchema: Type.Object({ interval_s: Type.Integer({ default: 60 }), timeout_s: Type.Integer({ default: 10 }) }),
  temporality: () => 'delta',
  create: () => {
    throw new Error('not used');
  },
};

const factories = new Map<string, SinkFactory>([...SINK_FACTORIES, [udpFactory.kind, udpFactory]]);
const PID = 'p-aaaaaaaa';

/** The ControlError a promise rejects with (code and message), or fails. */
async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ControlError);
  const { code, message } = err as ControlError;
  return { code, message };
}

describe('integration endpoint schemes come from the sink kind', () => {
  let db: Kysely<Database>;
  let open: Integrations;
  let guarded: Integrations;

  beforeAll(async () => {
    db = await openSqlite(':memory:');
    await db.insertInto('projects').values({ id: PID, name: 'p', created_at: 'x' }).execute();
    const cipher = new CredentialCipher(new Map([[1, new Secret(randomBytes(32).toString('base64'))]]), 1);
    open = new Integrations(db, cipher, factories, true);
    guarded = new Integrations(db, cipher, factories, false);
  });
  afterAll(() => db.destroy());

  it('a kind with schemes ["udp:"] accepts udp://host:port', async () => {
    const created = await open.create(PID, { kind: 'fake-udp', endpoint: 'udp://127.0.0.1:8125' });
    expect(created).toMatchObject({ kind: 'fake-udp', endpoint: 'udp://127.0.0.1:8125', name: 'fake-udp 127.0.0.1:8125' });
    const moved = await open.update(PID, created.id, { endpoint: 'udp://[::1]:8126' });
    expect(moved.endpoint).toBe('udp://[::1]:8126');
  });

  it('and refuses http://, which it did not name', async () => {
    expect(await refusal(open.create(PID, { kind: 'fake-udp', endpoint: 'http://127.0.0.1:8125' })))
      .toEqual({ code: 'validation_error', message: 'endpoint: must use udp://, got http:' });
    expect(await refusal(open.create(PID, { kind: 'fake-udp', endpoint: 'not a url' })))
      .toEqual({ code: 'validation_error', message: 'endpoint: must be an absolute udp:// URL, got "not a url"' });
  });

  it('an endpoint of another scheme must still name a host', async () => {
    expect(await refusal(open.create(PID, { kind: 'fake-udp', endpoint: 'udp:/8125' })))
      .toEqual({ code: 'validation_error', message: 'endpoint: must name a host, like udp://host.example.com' });
  });

  it('the egress guard checks the host of a udp:// endpoint as of an http one', async () => {
    for (const endpoint of ['udp://127.0.0.1:8125', 'udp://[::1]:8125', 'udp://10.0.0.1:8125', 'udp://localhost:8125']) {
      const { code, message } = await refusal(guarded.create(PID, { kind: 'fake-udp', endpoint }));
      expect(code, endpoint).toBe('egress_forbidden');
      expect(message, endpoint).toMatch(/^endpoint: .*(non-public address|does not resolve)/);
    }
  });

  it('the OTLP kind, which names no schemes, still takes http(s) only and refuses udp://', async () => {
    expect(await refusal(open.create(PID, { kind: 'otlp', endpoint: 'udp://127.0.0.1:8125' })))
      .toEqual({ code: 'validation_error', message: 'endpoint: must use http:// or https://, got udp:' });
    expect(await refusal(open.create(PID, { kind: 'otlp', endpoint: 'not a url' })))
      .toEqual({ code: 'validation_error', message: 'endpoint: must be an absolute http:// or https:// URL, got "not a url"' });
    const otlp = await open.create(PID, { kind: 'otlp', endpoint: 'https://otlp.example.com/' });
    expect(otlp.endpoint).toBe('https://otlp.example.com');
    expect(await refusal(open.update(PID, otlp.id, { endpoint: 'udp://otlp.example.com:4318' })))
      .toEqual({ code: 'validation_error', message: 'endpoint: must use http:// or https://, got udp:' });
  });
});
