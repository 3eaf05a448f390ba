import { randomUUID } from 'node:crypto';
import { spawn, execFile } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  chownSync,
  constants as fsConstants,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { readdir, readFile, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { findOnPath } from '../../src/shared/on-path.js';
import { constants as osConstants, tmpdir, userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { OutputCapture } from '../../src/domain/output.js';
import { RUN_ERRORS, type RunErrorCode } from '../../src/domain/run-errors.js';
import { expectOutput, type ExpectedOutput } from './output-socket.js';
import { sharedSpawner, type SpawnedExit } from './spawner.js';

export interface ExecRequest {
  /** Given to the command as FLEETCMD_INVOKE_ID (and used to find its orphans later). */
  invokeId: string;
  /** Given as FLEETCMD_FIRE_ID: which fire of a timed invocation this run is ('' for Once). */
  fire?: string;
  /** The command text (already decoded). */
  content: Buffer;
  /** '' runs as the agent's own user. */
  username: string;
  /** '' runs in the user's home directory. */
  workingDir: string;
  timeoutSeconds: number;
  terminationMode: 'ProcessTree' | 'Process';
  /** '' runs the script with /bin/sh; otherwise an interpreter and its arguments. */
  launcher: string;
  /** Where the run's private script directory is made. @default defaultScriptRoot() */
  scriptRoot?: string;
  /**
   * The run's FLEETCMD_RUN_TOKEN: the agent passes its claim nonce, which the run record keeps,
   * so a later life of the agent finds the run's processes by it. @default a random UUID
   */
  runToken?: string;
}

export type ExecStatus = 'Success' | 'Failed' | 'Timeout' | 'Error' | 'Invalid' | 'Terminated';

export interface ExecOutcome {
  status: ExecStatus;
  exitCode: number | undefined;
  errorCode: RunErrorCode | '';
  started: boolean;
  /** Why an Error happened (for the agent's log), where the status alone does not say. */
  detail?: string;
}

export type StopReason = 'stop' | 'shutdown';

export interface CommandHandle {
  readonly capture: OutputCapture;
  /** The command's pid, which is also its process group id; undefined if it never started. */
  readonly pid: number | undefined;
  /** The private temporary directory holding the script ('' if none). */
  readonly scriptDir: string;
  /** Kills the command (per its TerminationMode); the outcome reflects why. */
  stop(reason: StopReason): void;
  readonly done: Promise<ExecOutcome>;
}

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** After the process exits, how long to wait for its output pipe to close (held by orphans). */
const PIPE_DRAIN_MS = 1_000;

const CLEAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function signalNumber(signal: NodeJS.Signals | null): number {
  if (!signal) return 0;
  return (osConstants.signals as Record<string, number>)[signal] ?? 0;
}

async function getent(database: 'passwd' | 'group', name: string): Promise<string | undefined> {
  return new Promise((resolvePromise) => {
    execFile('getent', [database, name], { timeout: 5_000 }, (err, stdout) => {
      resolvePromise(err ? undefined : stdout.split('\n')[0]);
    });
  });
}

/** The fields of `name`'s entry in passwd or group, through NSS (getent), else /etc/<database>. */
async function accountEntry(
  database: 'passwd' | 'group',
  name: string,
): Promise<string[] | undefined> {
  let line = await getent(database, name);
  if (line === undefined) {
    const text = await readFile(`/etc/${database}`, 'utf8').catch(() => '');
    line = text.split('\n').find((l) => l.split(':')[0] === name);
  }
  const parts = line?.split(':');
  return parts && parts[0] === name ? parts : undefined;
}

/** Looks a user up through NSS (getent), falling back to /etc/passwd. */
export async function lookupAccount(name: string): Promise<Account | undefined> {
  const parts = await accountEntry('passwd', name);
  if (!parts || parts.length < 7) return undefined;
  const uid = Number(parts[2]);
  const gid = Number(parts[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return undefined;
  return { name, uid, gid, home: parts[5] || '/', shell: parts[6] || '/bin/sh' };
}

/** A group's id, looked up through NSS (getent), falling back to /etc/group. */
export async function lookupGroupId(name: string): Promise<number | undefined> {
  const parts = await accountEntry('group', name);
  const gid = Number(parts?.[2] ?? NaN);
  return parts && parts.length >= 3 && Number.isInteger(gid) ? gid : undefined;
}

let ownAccount: Account | undefined;

/**
 * The agent's own account, read once: the process never changes user, and userInfo() is a
 * passwd lookup (through NSS) that cost a run ~30 µs.
 */
export function selfAccount(): Account {
  if (!ownAccount) {
    const me = userInfo();
    ownAccount = {
      name: me.username,
      uid: me.uid,
      gid: me.gid,
      home: me.homedir,
      shell: me.shell ?? '/bin/sh',
    };
  }
  return ownAccount;
}

/** Script directories are named `fleetcmd-<random>` in their root. */
const SCRIPT_DIR_PREFIX = 'fleetcmd-';

/** Memory-backed and writable on nearly every Linux, containers included. */
const SHARED_MEMORY = '/dev/shm';

/**
 * Why `dir` cannot hold run scripts, or undefined when it can: it must be a directory this
 * process may create entries in, owned by root or by this process's user, and not writable by
 * group or others unless sticky (else another user could rename a fresh script directory and
 * put a link in its place before the script is written into it).
 */
export function scriptRootProblem(dir: string): string | undefined {
  try {
    const st = statSync(dir);
    if (!st.isDirectory()) return 'is not a directory';
    accessSync(dir, fsConstants.W_OK | fsConstants.X_OK);
    if (st.uid !== 0 && st.uid !== selfAccount().uid) return `is owned by uid ${st.uid}`;
    if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
      return 'is writable by other users and not sticky';
    }
    return undefined;
  } catch (err) {
    return `is not a directory the agent can write to (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
}

let defaultRoots: readonly string[] | undefined;

/**
 * Where script directories go unless FLEETCMD_SCRIPT_DIR says: /dev/shm when it can hold them,
 * else (and for a run that cannot make its directory there: full, read-only) the system's
 * temporary directory. A script is small, lives for one run and may hold secrets: memory suits
 * it, and on a disk-backed /tmp (ext4 here) the directory's create, write and removal cost
 * ~0.2-0.9 ms of the agent's event loop per run, against ~30 µs.
 */
export function defaultScriptRoots(): readonly string[] {
  defaultRoots ??=
    scriptRootProblem(SHARED_MEMORY) === undefined ? [SHARED_MEMORY, tmpdir()] : [tmpdir()];
  return defaultRoots;
}

/** The first of defaultScriptRoots(). */
export function defaultScriptRoot(): string {
  return defaultScriptRoots()[0] ?? tmpdir();
}

/**
 * Makes a run's script directory and file in the first root that takes them. When the command
 * runs as another user, the file is that user's and the directory stays the agent's, 0711: the
 * user can read the script but cannot replace it or the directory, so removing them later never
 * follows a link the user made.
 */
export function writeScript(
  roots: readonly string[],
  content: Buffer,
  owner: Account | undefined,
): { dir: string; script: string } {
  let failure: unknown;
  for (const root of roots) {
    let dir: string | undefined;
    try {
      dir = mkdtempSync(join(root, SCRIPT_DIR_PREFIX));
      const script = join(dir, 'script');
      writeFileSync(script, content, { mode: 0o600 });
      if (owner) {
        chownSync(script, owner.uid, owner.gid);
        chmodSync(dir, 0o711);
      }
      return { dir, script };
    } catch (err) {
      failure = err;
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    }
  }
  throw failure ?? new Error('no script directory');
}

function immediate(status: ExecStatus, errorCode: RunErrorCode): CommandHandle {
  return {
    capture: new OutputCapture(),
    pid: undefined,
    scriptDir: '',
    stop: () => undefined,
    done: Promise.resolve({ status, exitCode: undefined, errorCode, started: false }),
  };
}

/**
 * Runs one command: resolves the account and directory, writes the script to a private temp
 * directory (0700, file 0600, owned by the target user), and spawns it in its own process group
 * with stdout and stderr on one socket, so output keeps its arrival order. Output is captured by a
 * bounded OutputCapture: memory stays flat however much the command prints.
 */
export async function startCommand(req: ExecRequest): Promise<CommandHandle> {
  const self = selfAccount();
  let account = self;
  if (req.username !== '' && req.username !== self.name) {
    const found = await lookupAccount(req.username);
    if (!found) return immediate('Invalid', 'AccountNotExists');
    if (found.uid !== self.uid && self.uid !== 0)
      return immediate('Invalid', 'AccountNotPermitted');
    account = found;
  }
  const dir =
    req.workingDir === ''
      ? account.home
      : isAbsolute(req.workingDir)
        ? req.workingDir
        : resolve(account.home, req.workingDir);
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) return immediate('Invalid', 'DirectoryNotExists');

  // The script directory's few small operations are synchronous: its root is local (see
  // FLEETCMD_SCRIPT_DIR), and each thread-pool round trip (with its promise) cost more than the
  // system call it waited for.
  const switching = account.uid !== self.uid;
  let tmp: string;
  let script: string;
  try {
    const roots = req.scriptRoot !== undefined ? [req.scriptRoot] : defaultScriptRoots();
    ({ dir: tmp, script } = writeScript(roots, req.content, switching ? account : undefined));
  } catch {
    return immediate('Error', 'ExecutionException');
  }

  const launcher = req.launcher.trim() === '' ? ['/bin/sh'] : req.launcher.trim().split(/\s+/);
  const env: Record<string, string> = {
    PATH: CLEAN_PATH,
    HOME: account.home,
    USER: account.name,
    LOGNAME: account.name,
    SHELL: account.shell,
    LANG: process.env.LANG ?? 'C.UTF-8',
  };
  if (process.env.TZ) env.TZ = process.env.TZ;
  env.FLEETCMD_INVOKE_ID = req.invokeId;
  env.FLEETCMD_FIRE_ID = req.fire ?? '';
  // This run's own mark, inherited by all it starts and kept across exec: what finds its
  // processes when the spawner died and their pids are not known, or no longer trusted.
  const token = req.runToken ?? randomUUID();
  env.FLEETCMD_RUN_TOKEN = token;

  const capture = new OutputCapture();
  // A root agent switches user through setpriv (util-linux) with --init-groups: the command
  // gets the user's uid, primary gid and supplementary groups, as a login would. Node's own
  // uid/gid spawn options call setgroups(0) and so drop every supplementary group; they are used
  // only where setpriv is missing and the user has no supplementary group to lose.
  const setpriv = switching ? await setprivPath() : undefined;
  if (switching && !setpriv && !(await onlyPrimaryGroup(account))) {
    await removeOwnDir(tmp);
    return immediate('Error', 'ExecutionException');
  }
  // The command's stdout and stderr are one socket to this process (see output-socket.ts), and
  // the spawner (spawner.ts) starts it. The default launcher is exec'd as `/bin/sh <script>`
  // itself. A Launcher goes through a helper shell, `exec "$@" 2>&1`, the launcher replacing it:
  // exec "$@" is also what finds it on PATH and reports one that is missing as the run's output,
  // exit 127. Where this process cannot listen (not Linux), it spawns the command itself, through
  // the helper shell, with a pipe for stdout.
  const expected = await expectOutput();
  const argv =
    expected && req.launcher.trim() === ''
      ? ['/bin/sh', script]
      : ['/bin/sh', '-c', 'exec "$@" 2>&1', 'fleetcmd', ...launcher, script];
  if (setpriv) {
    argv.unshift(
      setpriv,
      `--reuid=${account.uid}`,
      `--regid=${account.gid}`,
      '--init-groups',
      '--',
    );
  }
  const [file = '/bin/sh', ...args] = argv;
  const how: LaunchOptions = {
    cwd: dir,
    env,
    ...(switching && !setpriv ? { uid: account.uid, gid: account.gid } : {}),
  };
  let launched: Launched;
  try {
    launched = expected
      ? await launchViaSpawner(file, args, how, expected, token)
      : launchHere(file, args, how);
  } catch {
    expected?.cancel();
    await removeOwnDir(tmp);
    return immediate('Error', 'ExecutionException');
  }
  const { output } = launched;

  let killedFor: 'timeout' | StopReason | undefined;
  const kill = () => launched.kill(req.terminationMode === 'ProcessTree');
  const timer = setTimeout(() => {
    killedFor ??= 'timeout';
    kill();
  }, req.timeoutSeconds * 1000);

  output?.on('data', (chunk: Buffer) => capture.push(chunk));
  output?.resume();

  const done = (async (): Promise<ExecOutcome> => {
    const exit = await launched.exited;
    if (exit === 'lost') {
      // The spawner died: nothing would reap or time the command, so it must not run on. Its
      // pid may be another process's by now (init reaps it), so what is killed is whatever
      // carries this run's token.
      clearTimeout(timer);
      await killRun(token);
    }
    if (exit === 'failed') output?.destroy();
    // Wait for the output to drain; a background process that kept it open must not hold
    // the run forever.
    else await drained(output);
    clearTimeout(timer);
    // The script goes before the run is reported, so a final status means it is gone.
    await removeOwnDir(tmp);
    return outcomeOf(exit, killedFor, launched.detail);
  })();

  return {
    capture,
    pid: launched.pid,
    scriptDir: tmp,
    stop(reason) {
      killedFor ??= reason;
      kill();
    },
    done,
  };
}

type LaunchOptions = { cwd: string; env: Record<string, string>; uid?: number; gid?: number };

/** How a launched command ended: exit code or signal; 'failed' never started; 'lost' unknown. */
type LaunchExit = SpawnedExit | 'failed';

interface Launched {
  /** Also the command's process group id. */
  pid: number | undefined;
  /** Its stdout and stderr; undefined when it never started or its output never arrived. */
  output: Readable | undefined;
  /** SIGKILL to the command (group: to its process group), unless it is gone. */
  kill(group: boolean): void;
  exited: Promise<LaunchExit>;
  /** Why it failed, or would be lost, for the log. */
  detail?: string;
}

/** Starts the command in this process (where no output socket can be made). */
function launchHere(file: string, args: string[], how: LaunchOptions): Launched {
  const child = spawn(file, args, { ...how, detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise<LaunchExit>((resolve) => {
    if (child.pid === undefined) {
      child.once('error', () => resolve('failed'));
      return;
    }
    child.on('error', () => undefined);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    pid: child.pid,
    output: child.stdout ?? undefined,
    kill(group) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(group ? -child.pid : child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    },
    exited,
  };
}

/** Starts the command through the spawner, its output on the connection `expected` awaits. */
async function launchViaSpawner(
  file: string,
  args: string[],
  how: LaunchOptions,
  expected: ExpectedOutput,
  token: string,
): Promise<Launched> {
  const output = { address: expected.address, nonce: expected.nonce };
  const r = await sharedSpawner().spawn({ file, args, ...how, output });
  if ('failed' in r) {
    // A connection the spawner made before it failed is closed, not read.
    expected.cancel();
    // The spawner died before it answered: the command may be running, unseen. Whatever
    // carries this run's token is killed, and the run then counts as started.
    const unseen = r.unknown ? await killRun(token) : 0;
    return {
      pid: undefined,
      output: undefined,
      kill: () => undefined,
      exited: Promise.resolve(unseen > 0 ? 'lost' : 'failed'),
      detail: unseen > 0 ? `${r.failed}; ${unseen} process(es) of the run killed` : r.failed,
    };
  }
  // The spawner wrote the nonce before it spawned: the connection is here or on its way.
  const reader = await expected.take();
  if (!reader) {
    // Started, but with its output nowhere: it must not run unwatched.
    r.kill(true);
    return {
      pid: r.pid,
      output: undefined,
      kill: r.kill,
      exited: r.exited.then(() => 'lost' as const),
      detail: "the command's output connection never arrived",
    };
  }
  return {
    pid: r.pid,
    output: reader,
    kill: r.kill,
    exited: r.exited,
    detail: 'the spawner exited while the command ran',
  };
}

function drained(output: Readable | undefined): Promise<void> {
  if (!output || output.closed) return Promise.resolve();
  return new Promise((resolve) => {
    const drain = setTimeout(() => output.destroy(), PIPE_DRAIN_MS);
    output.once('close', () => {
      clearTimeout(drain);
      resolve();
    });
  });
}

function outcomeOf(
  exit: LaunchExit,
  killedFor: 'timeout' | StopReason | undefined,
  detail: string | undefined,
): ExecOutcome {
  const error = (started: boolean): ExecOutcome => ({
    status: 'Error',
    exitCode: undefined,
    errorCode: 'ExecutionException',
    started,
    ...(detail !== undefined ? { detail } : {}),
  });
  if (exit === 'failed') return error(false);
  if (exit === 'lost' && killedFor === 'shutdown') {
    return {
      status: 'Error',
      exitCode: undefined,
      errorCode: 'ExecutionInterrupted',
      started: true,
    };
  }
  if (exit === 'lost') return error(true);
  const exitCode = exit.code ?? 128 + signalNumber(exit.signal);
  if (killedFor === 'timeout')
    return { status: 'Timeout', exitCode, errorCode: 'ExecutionTimeout', started: true };
  if (killedFor === 'stop') return { status: 'Terminated', exitCode, errorCode: '', started: true };
  if (killedFor === 'shutdown')
    return { status: 'Error', exitCode, errorCode: 'ExecutionInterrupted', started: true };
  if (exitCode === 0) return { status: 'Success', exitCode, errorCode: '', started: true };
  return { status: 'Failed', exitCode, errorCode: 'ExitCodeNonzero', started: true };
}

export function errorInfoFor(code: RunErrorCode | ''): string {
  return code === '' ? '' : RUN_ERRORS[code];
}

let setprivLookup: Promise<string | undefined> | undefined;

/** Whether `account` belongs to no group but its primary one (`id -G` through NSS). */
function onlyPrimaryGroup(account: Account): Promise<boolean> {
  return new Promise((resolvePromise) => {
    execFile('id', ['-G', account.name], { timeout: 5_000 }, (err, stdout) => {
      const groups = stdout.trim().split(/\s+/).filter(Boolean).map(Number);
      resolvePromise(!err && groups.length > 0 && groups.every((g) => g === account.gid));
    });
  });
}

function setprivPath(): Promise<string | undefined> {
  setprivLookup ??= findOnPath('setpriv');
  return setprivLookup;
}

/**
 * Kills every process carrying FLEETCMD_RUN_TOKEN=<token> (a run's processes, wherever they
 * are now), pass after pass until a pass finds none (a busy group may fork meanwhile; at most
 * 5 passes). Returns how many were killed.
 */
export async function killRun(token: string): Promise<number> {
  const marker = Buffer.from(`FLEETCMD_RUN_TOKEN=${token}\0`);
  let killed = 0;
  for (let pass = 0; pass < 5; pass++) {
    const found = await killMarked(marker);
    killed += found;
    if (found === 0) break;
  }
  return killed;
}

/**
 * Kills what is left of a run whose agent died: every process in process group `pgid` that
 * carries FLEETCMD_INVOKE_ID=<invokeId> in its environment (so a recycled group id never hits
 * an unrelated process). Returns how many were killed.
 */
export function killOrphans(pgid: number, invokeId: string): Promise<number> {
  return killMarked(Buffer.from(`FLEETCMD_INVOKE_ID=${invokeId}\0`), pgid);
}

/** SIGKILL to each process whose environment holds `marker` (and in group `pgid`, if given). */
async function killMarked(marker: Buffer, pgid?: number): Promise<number> {
  let killed = 0;
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    // An agent (re)started from inside a run carries that run's marks: never itself or its
    // parent.
    const pid = Number(name);
    if (pid === process.pid || pid === process.ppid) continue;
    try {
      if (pgid !== undefined) {
        const stat = await readFile(`/proc/${name}/stat`, 'utf8');
        // Fields after the parenthesised command name: state, ppid, pgrp, ...
        const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
        if (pgrp !== pgid) continue;
      }
      if (!(await readFile(`/proc/${name}/environ`)).includes(marker)) continue;
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return killed;
}

/**
 * Removes a script directory: the script and the directory when that is all there is (two
 * system calls, not rm's lstat/readdir walk), everything in it when the command left files
 * there or the script is gone already. Asynchronous, unlike the creation: freeing blocks can
 * wait on the disk (ext4 with `discard` issues the discard then): rmdir took ~0.4 ms of wall
 * time here.
 */
async function removeDir(dir: string): Promise<void> {
  try {
    await unlink(join(dir, 'script'));
    await rmdir(dir);
  } catch {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Removes the script directory of a run of this process (see removeDir). Never fails. */
function removeOwnDir(dir: string): Promise<void> {
  return removeDir(dir).catch(() => undefined);
}

/**
 * Removes a run's script directory (as recorded in Redis by an earlier life of the agent), only
 * if it is one an agent creates: `fleetcmd-*` directly in `root`, or in the system's temporary
 * directory, where agents before FLEETCMD_SCRIPT_DIR made them all.
 */
export async function removeScriptDir(dir: string, root = defaultScriptRoot()): Promise<void> {
  // resolve() of a relative or unnormalised path differs from it.
  if (resolve(dir) !== dir || !basename(dir).startsWith(SCRIPT_DIR_PREFIX)) return;
  const parent = dirname(dir);
  if (parent !== resolve(root) && parent !== resolve(tmpdir())) return;
  await removeDir(dir);
}
