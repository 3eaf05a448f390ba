/**
 * `fleetcmd completion bash|zsh|fish`: a completion script made from the command table (the
 * same one the help is made from): subcommands, each one's flags as its help page lists them,
 * and dynamic values (node ids, tags, InvokeIds, CommandIds, contexts) through the hidden
 * `fleetcmd __complete <kind>`, which asks the API with a short cache.
 */
import type { CliCommand, CompletionKind } from '../command-types.js';
import { line } from '../print.js';
import { UsageError } from '../usage-error.js';
import { AGGREGATE_STATUSES, NODE_STATUSES } from '../../domain/status.js';

export const COMPLETION_HELP = `Usage: fleetcmd completion bash|zsh|fish

Prints a shell completion script: commands, their flags, and values from the API (node ids,
tags, InvokeIds, CommandIds; cached a few seconds) and contexts from the config file.
  bash:  echo 'source <(fleetcmd completion bash)' >> ~/.bashrc
  zsh:   echo 'source <(fleetcmd completion zsh)' >> ~/.zshrc
  fish:  fleetcmd completion fish > ~/.config/fish/completions/fleetcmd.fish

Example: fleetcmd completion bash`;

/** What a flag's value is, when completion can offer values. */
export const FLAG_VALUES: Readonly<Record<string, CompletionKind | readonly string[]>> = {
  '--nodes': 'nodes',
  '--node': 'nodes',
  '--tag': 'tags',
  '--context': 'contexts',
  '--output': ['table', 'wide', 'json', 'yaml', 'jsonpath='],
  '-o': ['table', 'wide', 'json', 'yaml', 'jsonpath='],
  '--status': [...new Set<string>([...AGGREGATE_STATUSES, ...NODE_STATUSES])],
};

export interface CompletionEntry {
  /** `run`, or `command create` for a subcommand. */
  path: readonly string[];
  flags: readonly string[];
  positional?: CompletionKind;
  /** Its subcommands, for a command that has some. */
  subcommands: readonly string[];
}

/** Every flag a help page names (`--nodes`, `-o`, ...). */
export function flagsOf(page: string): string[] {
  const found = new Set<string>();
  for (const m of page.matchAll(/(?<![\w$-])(--[a-z][a-z0-9-]*|-[a-z])(?=[\s,=\]|]|$)/g)) {
    found.add(m[1] as string);
  }
  return [...found].sort();
}

/** The completion model: one entry per command and per subcommand, from the command table. */
export async function completionModel(commands: readonly CliCommand[]): Promise<CompletionEntry[]> {
  const out: CompletionEntry[] = [];
  for (const c of commands.filter((x) => !x.hidden)) {
    const pages = c.pages ? await c.pages() : { '': '' };
    const subs = Object.keys(pages).filter((k) => k !== '');
    const own = typeof c.positional === 'string' ? c.positional : undefined;
    out.push({
      path: [c.name],
      flags: flagsOf(pages[''] ?? ''),
      subcommands: subs,
      ...(own ? { positional: own } : {}),
    });
    for (const s of subs) {
      const kind = typeof c.positional === 'object' ? c.positional[s] : undefined;
      out.push({
        path: [c.name, s],
        flags: flagsOf(pages[s] ?? ''),
        subcommands: [],
        ...(kind ? { positional: kind } : {}),
      });
    }
  }
  return out;
}

const shellWords = (words: readonly string[]) => words.join(' ');

/** The bash function's `case` arm for the flag values. */
function bashFlagValues(): string {
  return Object.entries(FLAG_VALUES)
    .map(([flag, v]) =>
      typeof v === 'string'
        ? `    ${flag}) _fleetcmd_values ${v}; return ;;`
        : `    ${flag}) COMPREPLY=($(compgen -W "${shellWords(v)}" -- "$cur")); return ;;`,
    )
    .join('\n');
}

export function bashScript(model: readonly CompletionEntry[]): string {
  const top = model.filter((e) => e.path.length === 1);
  const arms = model
    .map((e) => {
      const key = e.path.join(' ');
      return `    "${key}") flags="${shellWords(e.flags)}"; subs="${shellWords(e.subcommands)}"; kind="${e.positional ?? ''}" ;;`;
    })
    .join('\n');
  return `# fleetcmd completion for bash (fleetcmd completion bash); made from fleetcmd's command table.
_fleetcmd_values() {
  local kind=$1 prefix=""
  if [[ $kind == nodes && $cur == *,* ]]; then prefix="\${cur%,*},"; fi
  local values
  values=$(fleetcmd __complete "$kind" $ctx 2>/dev/null)
  local IFS=$'\\n'
  COMPREPLY=($(compgen -P "$prefix" -W "$values" -- "\${cur##*,}"))
}
_fleetcmd() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local i ctx="" key="" flags="" subs="" kind=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    if [[ \${COMP_WORDS[i]} == --context ]]; then ctx="--context \${COMP_WORDS[i+1]}"; fi
  done
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "${shellWords(top.map((e) => e.path[0] as string))}" -- "$cur"))
    return
  fi
  case $prev in
${bashFlagValues()}
  esac
  key=\${COMP_WORDS[1]}
  case $key in
${top
  .filter((e) => e.subcommands.length > 0)
  .map((e) => `    ${e.path[0]}) if ((COMP_CWORD > 2)); then key="$key \${COMP_WORDS[2]}"; fi ;;`)
  .join('\n')}
  esac
  case $key in
${arms}
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [[ -n $subs ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  elif [[ -n $kind ]]; then
    _fleetcmd_values "$kind"
  fi
}
complete -o default -F _fleetcmd fleetcmd
`;
}

/** zsh runs the bash function through bashcompinit (zsh's documented bash compatibility). */
export function zshScript(model: readonly CompletionEntry[]): string {
  return `#compdef fleetcmd
# fleetcmd completion for zsh (fleetcmd completion zsh): the bash completion, through bashcompinit.
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashScript(model)}`;
}

function fishCondition(e: CompletionEntry): string {
  if (e.path.length === 1) return `__fish_seen_subcommand_from ${e.path[0]}`;
  return `__fish_seen_subcommand_from ${e.path[0]}; and __fish_seen_subcommand_from ${e.path[1]}`;
}

export function fishScript(model: readonly CompletionEntry[]): string {
  const lines = [
    '# fleetcmd completion for fish (fleetcmd completion fish); made from its command table.',
    'complete -c fleetcmd -f',
  ];
  const top = model.filter((e) => e.path.length === 1).map((e) => e.path[0] as string);
  lines.push(`complete -c fleetcmd -n '__fish_use_subcommand' -a '${top.join(' ')}'`);
  for (const e of model) {
    const cond = fishCondition(e);
    if (e.subcommands.length > 0) {
      lines.push(`complete -c fleetcmd -n '${cond}' -a '${e.subcommands.join(' ')}'`);
    }
    if (e.positional) {
      lines.push(
        `complete -c fleetcmd -n '${cond}' -a '(fleetcmd __complete ${e.positional} 2>/dev/null)'`,
      );
    }
    for (const f of e.flags) {
      const name = f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`;
      const v = FLAG_VALUES[f];
      const values =
        v === undefined
          ? ''
          : typeof v === 'string'
            ? ` -r -a '(fleetcmd __complete ${v} 2>/dev/null)'`
            : ` -r -a '${v.join(' ')}'`;
      lines.push(`complete -c fleetcmd -n '${cond}' ${name}${values}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function completionCli(
  argv: string[],
  commands: readonly CliCommand[],
): Promise<number> {
  const [shell, ...rest] = argv;
  if (shell === undefined || shell === '--help' || shell === '-h' || shell === 'help') {
    line(COMPLETION_HELP);
    return shell === undefined ? 2 : 0;
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`, COMPLETION_HELP);
  const model = await completionModel(commands);
  if (shell === 'bash') process.stdout.write(bashScript(model));
  else if (shell === 'zsh') process.stdout.write(zshScript(model));
  else if (shell === 'fish') process.stdout.write(fishScript(model));
  else
    throw new UsageError(
      `unknown shell ${JSON.stringify(shell)}: bash, zsh or fish`,
      COMPLETION_HELP,
    );
  return 0;
}
