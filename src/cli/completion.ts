/**
 * `meterway completion bash|zsh|fish`: shell completion scripts generated from commander's own
 * command tree (the commands, options, choices and help entries `--help` shows), so they never
 * fall out of step with the CLI.
 *
 * Each script finds where the words typed so far lead (the path of subcommands, skipping options
 * and the values of options that take one), then offers that command's subcommands, its options
 * (after a `-`), the choices of its argument, or the values of the option just typed: its choices,
 * files for a `<file>`, directories for a `<dir>`.
 */
import type { Command } from 'commander';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface OptionInfo {
  readonly names: string[];
  readonly long?: string;
  readonly short?: string;
  readonly description: string;
  /** undefined: a flag; else what its value completes to. */
  readonly value?: { kind: 'file' | 'dir' | 'choices' | 'any'; choices: string[] };
}

interface CommandInfo {
  /** Subcommand names from the program down, '' for the program itself. */
  readonly path: string;
  readonly commands: Array<{ name: string; description: string }>;
  readonly options: OptionInfo[];
  /** Choices of the command's arguments (the help command's: the commands beside it). */
  readonly argChoices: string[];
}

function optionInfo(o: { flags: string; long?: string; short?: string; description: string; required?: boolean; optional?: boolean; argChoices?: string[] }): OptionInfo {
  const names = [o.short, o.long].filter((n): n is string => n !== undefined);
  let value: OptionInfo['value'];
  if (o.required || o.optional) {
    const placeholder = /[<[]([^>\]]*)[>\]]/.exec(o.flags)?.[1] ?? '';
    const kind = o.argChoices !== undefined ? 'choices' : /file/i.test(placeholder) ? 'file' : /dir/i.test(placeholder) ? 'dir' : 'any';
    value = { kind, choices: o.argChoices ?? [] };
  }
  return { names, long: o.long, short: o.short, description: o.description, value };
}

/** Every command of the tree with what completes after it, as `--help` shows them. */
export function describeTree(program: Command): CommandInfo[] {
  const out: CommandInfo[] = [];
  const visit = (cmd: Command, path: string[]) => {
    const help = cmd.createHelp();
    const subs = help.visibleCommands(cmd);
    const argChoices = cmd.registeredArguments.flatMap((a) => a.argChoices ?? []);
    out.push({
      path: path.join(' '),
      commands: subs.map((c) => ({ name: c.name(), description: c.description() })),
      options: help.visibleOptions(cmd).map(optionInfo),
      argChoices,
    });
    for (const sub of subs) {
      // The implicit help command takes command names; it is listed, with them as its argument.
      if (sub.name() === 'help' && !cmd.commands.includes(sub)) {
        out.push({ path: [...path, 'help'].join(' '), commands: [], options: [], argChoices: cmd.commands.map((c) => c.name()) });
        continue;
      }
      visit(sub, [...path, sub.name()]);
    }
  };
  visit(program, []);
  return out;
}

/** Single-quoted for any POSIX shell (and zsh). */
const sq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/** Single-quoted for fish, whose single quotes take \\ and \' escapes. */
const fq = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

/** A shell `case` function printing one line per command path (bash and zsh alike). */
function caseFunction(name: string, tree: CommandInfo[], body: (c: CommandInfo) => string | undefined): string {
  const arms = tree
    .map((c) => [c, body(c)] as const)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([c, v]) => `    ${sq(c.path)}) printf '%s\\n' ${v} ;;`);
  return [`${name}() {`, '  case "$1" in', ...arms, '  esac', '}'].join('\n');
}

const words = (list: string[]): string => list.map(sq).join(' ');

/** Lines shared by the bash and zsh scripts: what follows each command path. */
function tables(prog: string, tree: CommandInfo[], described: boolean): string[] {
  const fn = `_${prog}`;
  const valueOptionNames = (c: CommandInfo) => words(c.options.filter((o) => o.value !== undefined).flatMap((o) => o.names));
  const parts = [
    caseFunction(`${fn}_command_names`, tree, (c) => words(c.commands.map((s) => s.name))),
    caseFunction(`${fn}_value_options`, tree, valueOptionNames),
    caseFunction(`${fn}_arg_values`, tree, (c) => words(c.argChoices)),
    [
      `${fn}_option_values() {`,
      '  case "$1|$2" in',
      ...tree.flatMap((c) =>
        c.options
          .filter((o) => o.value !== undefined)
          .flatMap((o) => o.names.map((n) => {
            const v = o.value!;
            const out = v.kind === 'file' ? sq('@file') : v.kind === 'dir' ? sq('@dir') : v.kind === 'choices' ? words(v.choices) : sq('@any');
            return `    ${sq(`${c.path}|${n}`)}) printf '%s\\n' ${out} ;;`;
          })),
      ),
      '  esac',
      '}',
    ].join('\n'),
  ];
  if (described) {
    const esc = (s: string) => s.replace(/:/g, '\\:');
    parts.push(
      caseFunction(`${fn}_commands_described`, tree, (c) => words(c.commands.map((s) => `${esc(s.name)}:${oneLine(s.description)}`))),
      caseFunction(`${fn}_options_described`, tree, (c) => words(c.options.flatMap((o) => o.names.map((n) => `${esc(n)}:${oneLine(o.description)}`)))),
    );
  } else {
    parts.push(caseFunction(`${fn}_options`, tree, (c) => words(c.options.flatMap((o) => o.names))));
  }
  return parts;
}

function bash(prog: string, tree: CommandInfo[]): string {
  const fn = `_${prog}`;
  return `# bash completion for ${prog}; generated by \`${prog} completion bash\`, from the same command tree as --help.
# Load it now:      source <(${prog} completion bash)
# or for good:      ${prog} completion bash > ~/.local/share/bash-completion/completions/${prog}

${tables(prog, tree, false).join('\n\n')}

${fn}_contains() {
  local w
  for w in $1; do [[ "$w" == "$2" ]] && return 0; done
  return 1
}

${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" skip="" w i
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [[ -n "$skip" ]]; then skip=""; continue; fi
    if [[ "$w" == -* ]]; then
      ${fn}_contains "$(${fn}_value_options "$path")" "$w" && skip=1
    elif ${fn}_contains "$(${fn}_command_names "$path")" "$w"; then
      path="\${path:+$path }$w"
    fi
  done
  if [[ -n "$skip" ]]; then
    local values
    values="$(${fn}_option_values "$path" "\${COMP_WORDS[COMP_CWORD-1]}")"
    case "$values" in
      @file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
      @dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
      @any) ;;
      *) mapfile -t COMPREPLY < <(compgen -W "$values" -- "$cur") ;;
    esac
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(${fn}_options "$path")" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -W "$(${fn}_command_names "$path") $(${fn}_arg_values "$path")" -- "$cur")
  fi
  return 0
}

complete -F ${fn} ${prog}
`;
}

function zsh(prog: string, tree: CommandInfo[]): string {
  const fn = `_${prog}`;
  return `#compdef ${prog}
# zsh completion for ${prog}; generated by \`${prog} completion zsh\`, from the same command tree as --help.
# Load it now:      source <(${prog} completion zsh)
# or for good:      ${prog} completion zsh > "\${fpath[1]}/_${prog}"   (then start a new shell)

${tables(prog, tree, true).join('\n\n')}

${fn}() {
  local cmdpath="" skip="" w i
  for (( i = 2; i < CURRENT; i++ )); do
    w="\${words[i]}"
    if [[ -n "$skip" ]]; then skip=""; continue; fi
    if [[ "$w" == -* ]]; then
      (( \${\${(f)"$(${fn}_value_options "$cmdpath")"}[(Ie)$w]} )) && skip=1
    elif (( \${\${(f)"$(${fn}_command_names "$cmdpath")"}[(Ie)$w]} )); then
      cmdpath="\${cmdpath:+$cmdpath }$w"
    fi
  done
  local -a described values
  if [[ -n "$skip" ]]; then
    values=("\${(@f)$(${fn}_option_values "$cmdpath" "\${words[CURRENT-1]}")}")
    case "\${values[1]}" in
      @file) _files ;;
      @dir) _files -/ ;;
      @any) _message 'a value' ;;
      *) compadd -a values ;;
    esac
    return
  fi
  if [[ "\${words[CURRENT]}" == -* ]]; then
    described=("\${(@f)$(${fn}_options_described "$cmdpath")}")
    described=("\${(@)described:#}")
    (( \${#described} )) && _describe -t options 'option' described
  else
    described=("\${(@f)$(${fn}_commands_described "$cmdpath")}")
    values=("\${(@f)$(${fn}_arg_values "$cmdpath")}")
    described=("\${(@)described:#}")
    values=("\${(@)values:#}")
    (( \${#described} )) && _describe -t commands 'command' described
    (( \${#values} )) && compadd -a values
  fi
  return 0
}

if [[ "\${funcstack[1]}" == "${fn}" ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${prog}
fi
`;
}

function fish(prog: string, tree: CommandInfo[]): string {
  const fn = `__${prog}`;
  const sw = (name: string, body: (c: CommandInfo) => string[]) =>
    [
      `function ${fn}_${name}`,
      '  switch "$argv[1]"',
      ...tree.filter((c) => body(c).length > 0).map((c) => `    case ${fq(c.path)}\n      printf '%s\\n' ${body(c).map(fq).join(' ')}`),
      '  end',
      'end',
    ].join('\n');
  const lines: string[] = [];
  for (const c of tree) {
    const cond = fq(`${fn}_at ${fq(c.path)}`);
    for (const s of c.commands) lines.push(`complete -c ${prog} -n ${cond} -f -a ${fq(s.name)} -d ${fq(oneLine(s.description))}`);
    if (c.argChoices.length > 0) lines.push(`complete -c ${prog} -n ${cond} -f -a ${fq(c.argChoices.join(' '))}`);
    for (const o of c.options) {
      const names = [o.short !== undefined ? `-s ${o.short.replace(/^-/, '')}` : '', o.long !== undefined ? `-l ${o.long.replace(/^--/, '')}` : ''].filter(Boolean).join(' ');
      let value = '';
      if (o.value?.kind === 'file') value = ' -r -F';
      else if (o.value?.kind === 'dir') value = ` -x -a ${fq('(__fish_complete_directories)')}`;
      else if (o.value?.kind === 'choices') value = ` -x -a ${fq(o.value.choices.join(' '))}`;
      else if (o.value !== undefined) value = ' -x';
      lines.push(`complete -c ${prog} -n ${cond} ${names}${value} -d ${fq(oneLine(o.description))}`);
    }
  }
  return `# fish completion for ${prog}; generated by \`${prog} completion fish\`, from the same command tree as --help.
# Load it now:      ${prog} completion fish | source
# or for good:      ${prog} completion fish > ~/.config/fish/completions/${prog}.fish

${sw('command_names', (c) => c.commands.map((s) => s.name))}

${sw('value_options', (c) => c.options.filter((o) => o.value !== undefined).flatMap((o) => o.names))}

# The subcommands typed so far, skipping options and the values of options that take one.
function ${fn}_path
  set -l tokens (commandline -opc)
  set -e tokens[1]
  set -l p ''
  set -l skip 0
  for w in $tokens
    if test $skip = 1
      set skip 0
      continue
    end
    if string match -q -- '-*' $w
      if contains -- $w (${fn}_value_options "$p")
        set skip 1
      end
    else if contains -- $w (${fn}_command_names "$p")
      set p (string trim -- "$p $w")
    end
  end
  printf '%s\\n' "$p"
end

function ${fn}_at
  set -l p (${fn}_path)
  test "$p" = "$argv[1]"
end

complete -c ${prog} -f
${lines.join('\n')}
`;
}

/** The completion script for `shell`, from `program`'s command tree. */
export function completionScript(program: Command, shell: Shell): string {
  const tree = describeTree(program);
  const prog = program.name();
  return shell === 'bash' ? bash(prog, tree) : shell === 'zsh' ? zsh(prog, tree) : fish(prog, tree);
}
