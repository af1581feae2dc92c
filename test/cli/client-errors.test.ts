/**
 * The client commands' own errors name the flags and environment variables that fix them: the
 * token (--token, METERWAY_TOKEN, the admin-token file), and the server (--server, METERWAY_URL).
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { freePort } from '../peers.js';
import { cleanedUpAfterAll, expectServerError, runCli, serverError } from './harness.js';

const WRONG = 'mw_admin_wrong-token-0000000000000000000000000';
const { tempDir } = cleanedUpAfterAll('meterway-client-errors-');

describe('client command errors', { timeout: 90_000 }, () => {
  let gw: TestGateway;
  let url: string;
  beforeAll(async () => {
    gw = await startTestGateway();
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => gw?.close());

  it('without any token, says to pass --token or set METERWAY_TOKEN (not how HTTP headers work)', async () => {
    const empty = tempDir();
    const r = await runCli(['projects', 'list', '--server', url], { METERWAY_DATA_DIR: empty });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: no API token: pass --token or set METERWAY_TOKEN/);
    expect(r.stderr).toContain(join(empty, 'admin-token'));
    expect(r.stderr).toContain('METERWAY_DATA_DIR');
    expect(r.stderr).not.toMatch(/Authorization|header/i);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('with a refused token, gives the server\'s words and names where the token came from', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'admin-token'), `${WRONG}\n`);
    const [byFlag, byEnv, byFile] = await Promise.all([
      runCli(['projects', 'list', '--server', url, '--token', WRONG]),
      runCli(['projects', 'list', '--server', url], { METERWAY_TOKEN: WRONG }),
      runCli(['projects', 'list', '--server', url], { METERWAY_DATA_DIR: dir }),
    ]);
    const err = await serverError(url, 'GET', '/v1/projects', WRONG);
    for (const r of [byFlag, byEnv, byFile]) {
      expectServerError(r, err);
      expect(r.stderr).toContain('pass --token or set METERWAY_TOKEN');
    }
    expect(byFlag.stderr).toContain('the token given with --token');
    expect(byEnv.stderr).toContain('the token in METERWAY_TOKEN');
    expect(byFile.stderr).toContain(`the admin token read from ${join(dir, 'admin-token')}`);
    for (const r of [byFlag, byEnv, byFile]) expect(r.stderr).not.toContain(WRONG);
  });

  it('when the server cannot be reached, names --server and METERWAY_URL, and which one gave the address', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const [byFlag, byEnv, badUrl] = await Promise.all([
      runCli(['projects', 'list', '--server', dead, '--token', ADMIN_TOKEN]),
      runCli(['projects', 'list', '--token', ADMIN_TOKEN], { METERWAY_URL: dead }),
      runCli(['projects', 'list', '--token', ADMIN_TOKEN], { METERWAY_URL: '127.0.0.1:9470' }),
    ]);
    for (const r of [byFlag, byEnv]) {
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`cannot reach the Meterway server at ${dead} (ECONNREFUSED)`);
      expect(r.stderr).toContain('pass --server URL or set METERWAY_URL');
    }
    expect(byFlag.stderr).toContain('this address is from --server');
    expect(byEnv.stderr).toContain('this address is from METERWAY_URL');
    expect(badUrl.code).toBe(1);
    expect(badUrl.stderr).toContain('the server address "127.0.0.1:9470" (from METERWAY_URL) is not an http:// or https:// URL');
  });

  it('asks whether an address that answers like another web server is a Meterway gateway', async () => {
    const other = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const r = await runCli(['projects', 'get', 'p-abcdefgh', '--server', `http://127.0.0.1:${(other.address() as AddressInfo).port}`, '--token', ADMIN_TOKEN]);
    other.close();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/answered HTTP 404 without a Meterway error/);
    expect(r.stderr).toContain('is that address (from --server) a Meterway gateway?');
  });
});
