import { isAbsolute, resolve } from 'node:path';
import type { Account } from './accounts.js';
import type { UserSwitch } from './user-switch.js';

const CLEAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export type LaunchOptions = {
  cwd: string;
  env: Record<string, string>;
  uid?: number;
  gid?: number;
};

/** What to execute for a run: the program, its arguments, and how. */
export interface LaunchSpec {
  file: string;
  args: string[];
  how: LaunchOptions;
}

export interface LaunchInput {
  account: Account;
  userSwitch: UserSwitch;
  /** The run's working directory (see workingDirectory). */
  cwd: string;
  /** The script file to run. */
  script: string;
  /** '' runs the script with /bin/sh; otherwise an interpreter and its arguments. */
  launcher: string;
  invokeId: string;
  fire: string | undefined;
  runToken: string;
  /** Whether the output comes on a socket the spawner is handed (see output-socket.ts). */
  viaSocket: boolean;
  /** Held at GATE until the spawner releases it (a fire made ahead; needs viaSocket). */
  gated?: boolean;
  /** The agent's own LANG and TZ, which the command inherits. */
  lang: string | undefined;
  tz: string | undefined;
}

/**
 * What a gated command starts as (after the user switch, in its directory, with its
 * environment and output): a shell that reads one byte from fd 3, the spawner's gate pipe, and
 * then execs the command line with fd 3 closed. It leaves nothing the command could see: the
 * same pid and process group (exec), the same argv and descriptors, the same environment (`g`
 * is not exported; PWD, which the shell exports of its own, is unset: a run's environment has
 * none). End of file instead of the byte (the spawner is gone) ends it, exit 125, without
 * running the command.
 */
export const GATE = [
  '/bin/sh',
  '-c',
  'read -r g <&3 || exit 125; unset PWD; exec "$@" 3<&-',
  'fleetcmd-gate',
];

/** Where a run starts: the account's home, or `workingDir` (relative to that home). */
export function workingDirectory(home: string, workingDir: string): string {
  if (workingDir === '') return home;
  return isAbsolute(workingDir) ? workingDir : resolve(home, workingDir);
}

/** A run's clean environment: its account's, a fixed PATH, and the run's own marks. */
function commandEnv(input: LaunchInput): Record<string, string> {
  const { account } = input;
  const env: Record<string, string> = {
    PATH: CLEAN_PATH,
    HOME: account.home,
    USER: account.name,
    LOGNAME: account.name,
    SHELL: account.shell,
    LANG: input.lang ?? 'C.UTF-8',
  };
  if (input.tz) env.TZ = input.tz;
  env.FLEETCMD_INVOKE_ID = input.invokeId;
  env.FLEETCMD_FIRE_ID = input.fire ?? '';
  // This run's own mark, inherited by all it starts and kept across exec: what finds its
  // processes when the spawner died and their pids are not known, or no longer trusted.
  env.FLEETCMD_RUN_TOKEN = input.runToken;
  return env;
}

/**
 * The command line of a run. The default launcher is exec'd as `/bin/sh <script>` itself, its
 * stdout and stderr one socket to the agent (see output-socket.ts). A Launcher goes through a
 * helper shell, `exec "$@" 2>&1`, the launcher replacing it: exec "$@" is also what finds it on
 * PATH and reports one that is missing as the run's output, exit 127. Without the socket (not
 * Linux), the agent spawns the command itself, through the helper shell, with a pipe for stdout.
 */
function commandArgv(input: LaunchInput): string[] {
  const trimmed = input.launcher.trim();
  const launcher = trimmed === '' ? ['/bin/sh'] : trimmed.split(/\s+/);
  const argv =
    input.viaSocket && trimmed === ''
      ? ['/bin/sh', input.script]
      : ['/bin/sh', '-c', 'exec "$@" 2>&1', 'fleetcmd', ...launcher, input.script];
  if (input.gated) argv.unshift(...GATE);
  const { account, userSwitch } = input;
  if (userSwitch.kind === 'setpriv') {
    argv.unshift(
      userSwitch.path,
      `--reuid=${account.uid}`,
      `--regid=${account.gid}`,
      '--init-groups',
      '--',
    );
  }
  return argv;
}

/** What to execute for a run, in its directory, environment and account. */
export function launchSpec(input: LaunchInput): LaunchSpec {
  const [file = '/bin/sh', ...args] = commandArgv(input);
  const { account } = input;
  const how: LaunchOptions = {
    cwd: input.cwd,
    env: commandEnv(input),
    ...(input.userSwitch.kind === 'ids' ? { uid: account.uid, gid: account.gid } : {}),
  };
  return { file, args, how };
}
