/**
 * The Dockerfile, checked statically (no Docker daemon is needed, or assumed): parsed into stages
 * and instructions, then held to what deploy/README.md promises: a node:20-slim build stage that
 * runs `npm ci` and `npm run build`; a runtime stage with only dist/ and production dependencies,
 * a non-root user, the data directory as a VOLUME, port 9470, and a HEALTHCHECK on the gateway's
 * liveness route. The HEALTHCHECK's command itself is run here against a stand-in server.
 * `docker build -t meterway .` is the real check, where a daemon is (deploy/README.md).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../cli/harness.js';
import { freePort, run } from '../peers.js';

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions with continuation lines joined, comments and blank lines dropped, cut into stages. */
function parseDockerfile(text: string): { directives: Record<string, string>; stages: Stage[] } {
  const lines = text.split('\n');
  const directives: Record<string, string> = {};
  let i = 0;
  // Parser directives: `# key=value` lines before anything else.
  for (; i < lines.length; i++) {
    const m = /^#\s*([a-z]+)=(\S+)\s*$/.exec(lines[i]);
    if (m === null) break;
    directives[m[1]] = m[2];
  }
  const stages: Stage[] = [];
  for (; i < lines.length; i++) {
    if (/^\s*(#|$)/.test(lines[i])) continue;
    const start = i;
    let text = lines[i];
    while (/\\\s*$/.test(text) && i + 1 < lines.length) {
      text = text.replace(/\\\s*$/, ' ');
      i++;
      if (!/^\s*#/.test(lines[i])) text += lines[i].trim();
    }
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(text);
    if (m === null) throw new Error(`Dockerfile line ${start + 1}: not an instruction: ${text}`);
    const ins: Instruction = { keyword: m[1].toUpperCase(), args: m[2].trim().replace(/\s+/g, ' '), line: start + 1 };
    if (ins.keyword === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (f === null) throw new Error(`Dockerfile line ${start + 1}: FROM ${ins.args}`);
      stages.push({ from: f[1], name: f[2], instructions: [] });
      continue;
    }
    if (stages.length === 0) throw new Error(`Dockerfile line ${start + 1}: ${ins.keyword} before any FROM`);
    stages[stages.length - 1].instructions.push(ins);
  }
  return { directives, stages };
}

/** `ENV a=b c=d` (and the old `ENV a b`) as a map. */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of stage.instructions.filter((x) => x.keyword === 'ENV')) {
    if (!ins.args.includes('=')) {
      const [k, ...v] = ins.args.split(' ');
      env[k] = v.join(' ');
      continue;
    }
    for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  }
  return env;
}

const args = (stage: Stage, keyword: string) => stage.instructions.filter((x) => x.keyword === keyword).map((x) => x.args);

const dockerfile = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
const { stages } = dockerfile;
const build = stages.find((s) => s.name === 'build');
const runtime = stages[stages.length - 1];
const PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const LOCK = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }> };

describe('Dockerfile', () => {
  it('parses: a syntax directive, named stages, every instruction known', () => {
    expect(dockerfile.directives.syntax).toMatch(/^docker\/dockerfile:1/);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const known = new Set(['RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);
    for (const s of stages) for (const ins of s.instructions) expect(known.has(ins.keyword), `line ${ins.line}: ${ins.keyword}`).toBe(true);
    // Exec forms are JSON arrays.
    for (const ins of runtime.instructions.filter((x) => ['CMD', 'ENTRYPOINT', 'VOLUME'].includes(x.keyword))) {
      expect(() => JSON.parse(ins.args), `line ${ins.line}`).not.toThrow();
    }
  });

  it('builds in a node:20-slim stage with npm ci and npm run build', () => {
    expect(build).toBeDefined();
    expect(build!.from).toBe('node:20-slim');
    const runs = args(build!, 'RUN');
    const ci = runs.findIndex((r) => /\bnpm ci\b/.test(r));
    const b = runs.findIndex((r) => /\bnpm run build\b/.test(r));
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(b).toBeGreaterThan(ci);
    // The lock file comes in before npm ci (the dependency layer is cached), the sources after.
    const copies = args(build!, 'COPY');
    expect(copies[0]).toMatch(/package-lock\.json/);
    expect(copies.some((c) => /^src\b/.test(c))).toBe(true);
  });

  it('runs from node:20-slim with only dist/ and production dependencies', () => {
    expect(runtime.from).toBe('node:20-slim');
    expect(runtime.name).not.toBe('build');
    const copies = args(runtime, 'COPY');
    const fromStages = copies.filter((c) => c.startsWith('--from='));
    expect(fromStages).toHaveLength(2);
    // From the build stage, dist/ alone.
    expect(fromStages.filter((c) => c.startsWith('--from=build '))).toEqual(['--from=build /app/dist ./dist']);
    // node_modules from a stage that installed production dependencies only.
    const nm = fromStages.find((c) => /node_modules/.test(c))!;
    const depsStage = stages.find((s) => s.name === /^--from=(\S+)/.exec(nm)![1])!;
    expect(depsStage).toBeDefined();
    expect(args(depsStage, 'RUN').some((r) => /\bnpm ci\b[^&]*--omit=dev/.test(r))).toBe(true);
    expect(args(depsStage, 'RUN').join(' ')).not.toMatch(/\bnpm (install|ci)(?![^&]*--omit=dev)/);
    // The production dependencies that need an install script get it (scripts are skipped at ci).
    const native = Object.entries(LOCK.packages).filter(([k, v]) => k !== '' && v.hasInstallScript && !v.dev).map(([k]) => k.replace(/^node_modules\//, ''));
    expect(native).toContain('better-sqlite3');
    for (const n of native) expect(args(depsStage, 'RUN').join(' '), n).toContain(`npm rebuild ${n}`);
    // No sources, tests or dev tooling in the runtime stage; the other copies are plain files.
    for (const c of copies.filter((x) => !x.startsWith('--from='))) expect(c).toMatch(/^(package\.json|README\.md|LICENSE)( (package\.json|README\.md|LICENSE))* \.\/$/);
    expect(args(runtime, 'RUN').join(' ')).not.toMatch(/\bnpm (ci|install)\b/);
  });

  it('runs as a non-root user, with the data directory a VOLUME, port 9470, listening beyond loopback', () => {
    const users = args(runtime, 'USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users[users.length - 1]).not.toMatch(/^(root|0)(:|$)/);
    const env = envOf(runtime);
    expect(env.METERWAY_DATA_DIR).toMatch(/^\//);
    expect(args(runtime, 'VOLUME').flatMap((v) => JSON.parse(v) as string[])).toContain(env.METERWAY_DATA_DIR);
    // The directory exists in the image and belongs to the user, so a new named volume does too.
    expect(args(runtime, 'RUN').join(' ')).toMatch(new RegExp(`chown ${users[users.length - 1]}(:\\S+)? ${env.METERWAY_DATA_DIR}`));
    expect(args(runtime, 'EXPOSE')).toEqual(['9470']);
    expect(env.METERWAY_PORT).toBe('9470');
    expect(env.METERWAY_HOST).toBe('0.0.0.0');
    expect(env.NODE_ENV).toBe('production');
    // USER comes before the process is defined, and nothing runs as root after it.
    const userAt = runtime.instructions.findIndex((x) => x.keyword === 'USER');
    expect(runtime.instructions.slice(userAt).some((x) => x.keyword === 'RUN')).toBe(false);
  });

  it('starts `meterway serve` from dist/ (the package bin)', () => {
    const entry = JSON.parse(args(runtime, 'ENTRYPOINT')[0]) as string[];
    const cmd = JSON.parse(args(runtime, 'CMD')[0]) as string[];
    expect(entry[0]).toBe('node');
    expect(entry[1]).toBe(`/app/${PKG.bin.meterway.replace(/^\.\//, '')}`);
    expect(cmd).toEqual(['serve']);
  });

  describe('HEALTHCHECK', () => {
    const hc = args(runtime, 'HEALTHCHECK');
    const m = /^((?:--\S+\s+)*)CMD\s+(\[.*\])$/.exec(hc[0] ?? '');
    const argv = m === null ? [] : (JSON.parse(m[2]) as string[]);

    it('asks the liveness route, with an interval, a timeout and a start period', () => {
      expect(hc).toHaveLength(1);
      expect(m).not.toBeNull();
      expect(m![1]).toMatch(/--interval=\d+s/);
      expect(m![1]).toMatch(/--timeout=\d+s/);
      expect(m![1]).toMatch(/--start-period=\d+s/);
      // The route the gateway serves without a token (src/api/health.ts).
      expect(readFileSync(join(REPO, 'src/api/health.ts'), 'utf8')).toContain("app.get('/healthz'");
      expect(argv.join(' ')).toContain('/healthz');
      // node:20-slim has no curl or wget: the check is Node's own fetch.
      expect(argv.slice(0, 2)).toEqual(['node', '-e']);
    });

    async function answering(status: number | undefined): Promise<{ port: number; close: () => Promise<void> }> {
      if (status === undefined) return { port: await freePort(), close: async () => {} };
      const server: Server = createServer((req, res) => {
        res.statusCode = req.url === '/healthz' ? status : 404;
        res.end('{}');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
    }

    it.each([
      ['healthy (200)', 200, 0],
      ['unhealthy (503)', 503, 1],
      ['nothing listening', undefined, 1],
    ] as const)('its command exits as Docker expects: %s', async (_what, status, code) => {
      const srv = await answering(status);
      try {
        const r = await run(argv[0] === 'node' ? process.execPath : argv[0], argv.slice(1), { env: { ...process.env, METERWAY_PORT: String(srv.port) }, timeoutMs: 10_000 });
        expect(r.code, r.stderr).toBe(code);
      } finally {
        await srv.close();
      }
    });
  });

  it('.dockerignore keeps the context small and keeps everything the Dockerfile copies', () => {
    const ignore = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    for (const p of ['node_modules', 'dist', 'meterway-data', '.git']) expect(ignore, p).toContain(p);
    const copied = stages.flatMap((s) => args(s, 'COPY').filter((c) => !c.startsWith('--from=')).flatMap((c) => c.split(' ').slice(0, -1)));
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src', 'tsconfig.build.json', 'LICENSE']));
    for (const c of copied) {
      expect(existsSync(join(REPO, c)), `${c} exists`).toBe(true);
      expect(ignore.filter((p) => p === c || p === c.split('/')[0] || (p.startsWith('*') && c.endsWith(p.slice(1)))), `${c} is not ignored`).toEqual([]);
    }
  });
});
