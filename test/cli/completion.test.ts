/**
 * `meterway completion bash|zsh|fish`. The command tree is read from `--help`, independently of
 * the generator, so a command added to the CLI and missing from the scripts fails here. The bash
 * script is loaded in a real bash and asked to complete, as bash does on TAB; zsh's and fish's are
 * checked by those shells where they are installed.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../peers.js';
import { cleanedUpAfterAll, runCli } from './harness.js';

/** The subcommands `meterway [path] --help` lists. */
async function helpCommands(path: string[]): Promise<string[]> {
  const r = await runCli([...path, '--help']);
  expect(r.code, r.stderr).toBe(0);
  const section = r.stdout.split(/^Commands:\n/m)[1] ?? '';
  return section.split('\n').filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/\s/)[0]);
}

const hasZsh = existsSync('/usr/bin/zsh') || existsSync('/bin/zsh');
const hasFish = existsSync('/usr/bin/fish');
const { tempDir } = cleanedUpAfterAll('meterway-completion-');

describe('meterway completion', { timeout: 120_000 }, () => {
  const scripts: Record<string, string> = {};
  const tree = new Map<string, string[]>();

  beforeAll(async () => {
    const [bash, zsh, fish, top] = await Promise.all([
      runCli(['completion', 'bash']),
      runCli(['completion', 'zsh']),
      runCli(['completion', 'fish']),
      helpCommands([]),
    ]);
    for (const [shell, r] of Object.entries({ bash, zsh, fish })) {
      expect({ code: r.code, stderr: r.stderr }, shell).toEqual({ code: 0, stderr: '' });
      scripts[shell] = r.stdout;
    }
    tree.set('', top);
    const groups = top.filter((c) => c !== 'help');
    const subs = await Promise.all(groups.map((g) => helpCommands([g])));
    groups.forEach((g, i) => {
      if (subs[i].length > 0) tree.set(g, subs[i]);
    });
  });

  /** What the bash script completes for the words typed (the last one being completed). */
  async function bashComplete(...words: string[]): Promise<string[]> {
    const script = `${scripts.bash}
COMP_WORDS=(${['meterway', ...words].map((w) => `'${w}'`).join(' ')})
COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
_meterway
printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = await run('bash', ['-c', script], { cwd: '/tmp' });
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter((l) => l !== '');
  }

  it('knows the command tree (sanity check of the --help parsing)', () => {
    expect(tree.get('')).toEqual(expect.arrayContaining(['serve', 'projects', 'tokens', 'integrations', 'keys', 'completion', 'help']));
    expect(tree.get('integrations')).toEqual(expect.arrayContaining(['create', 'connect-otlp', 'test', 'enable', 'disable']));
  });

  it('bash: the script parses (bash -n), and completes every subcommand, flags, choices and the help command', async () => {
    const syntax = await run('bash', ['-n'], { input: scripts.bash });
    expect(syntax, syntax.stderr).toMatchObject({ code: 0, stderr: '' });
    for (const [path, subs] of tree) {
      const got = await bashComplete(...(path === '' ? [] : [path]), '');
      expect(got.sort(), `meterway ${path} <TAB>`).toEqual([...subs].sort());
    }
    expect(await bashComplete('pro')).toEqual(['projects']);
    expect(await bashComplete('serve', '--')).toEqual(expect.arrayContaining(['--host', '--port', '--data-dir', '--config', '--retention', '--demo', '--log-level', '--log-format', '--help']));
    expect(await bashComplete('serve', '--log-format', '')).toEqual(['auto', 'pretty', 'json']);
    // an option's value is skipped when finding the command
    expect(await bashComplete('serve', '--port', '9470', '--log-level', 'w')).toEqual(['warn']);
    expect(await bashComplete('integrations', 'create', '--project', 'p-abcdefgh', '--pres')).toEqual(['--preset']);
    expect(await bashComplete('integrations', 'create', '--kind', '')).toEqual(['otlp', 'prometheus_remote_write', 'datadog', 'statsd']);
    expect(await bashComplete('completion', '')).toEqual(['bash', 'zsh', 'fish']);
    expect(await bashComplete('help', '')).toEqual(tree.get('')!.filter((c) => c !== 'help'));
    expect(await bashComplete('-')).toEqual(['-V', '--version', '-h', '--help']);
    // <file> values complete to files
    expect(await bashComplete('serve', '--config', '/etc/host')).toEqual(expect.arrayContaining(['/etc/hostname']));
  });

  it('zsh and fish: the scripts hold every subcommand and every long flag of serve', () => {
    const flags = ['--host', '--port', '--data-dir', '--config', '--retention', '--demo', '--log-level', '--log-format'];
    for (const [path, subs] of tree) {
      for (const sub of subs) {
        expect(scripts.zsh, `zsh: ${path} ${sub}`).toContain(`'${sub}:`);
        expect(scripts.fish, `fish: ${path} ${sub}`).toMatch(new RegExp(`-n '__meterway_at \\\\'${path}\\\\'' -f -a '${sub}'`));
      }
    }
    for (const f of flags) {
      expect(scripts.zsh).toContain(`'${f}:`);
      expect(scripts.fish).toContain(`-l ${f.slice(2)}`);
    }
    expect(scripts.zsh.split('\n')[0]).toBe('#compdef meterway');
  });

  it.runIf(hasZsh)('zsh: the script parses (zsh -n)', async () => {
    const r = await run('zsh', ['-n'], { input: scripts.zsh });
    expect(r, r.stderr).toMatchObject({ code: 0, stderr: '' });
  });

  it.runIf(hasFish)('fish: the script parses (fish -n) and completes as fish does on TAB', async () => {
    const file = join(tempDir(), 'meterway.fish');
    writeFileSync(file, scripts.fish);
    const syntax = await run('fish', ['--no-config', '-n', file]);
    expect(syntax, syntax.stderr).toMatchObject({ code: 0, stderr: '' });
    const complete = async (line: string) => {
      const r = await run('fish', ['--no-config', '-c', `source ${file}; complete -C${JSON.stringify(line)}`]);
      expect(r.stderr).toBe('');
      return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0]).sort();
    };
    expect(await complete('meterway ')).toEqual([...tree.get('')!].sort());
    expect(await complete('meterway projects ')).toEqual([...tree.get('projects')!].sort());
    expect(await complete('meterway serve --log-format ')).toEqual(['auto', 'json', 'pretty']);
    expect(await complete('meterway serve --port 1 --log-level w')).toEqual(['warn']);
  });

  it('refuses a shell it does not know, naming the ones it does', async () => {
    const r = await runCli(['completion', 'powershell']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bash, zsh, fish/);
  });
});
