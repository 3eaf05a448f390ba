import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { OutputCapture } from '../../../src/domain/output.js';
import type { RunErrorCode } from '../../../src/domain/run-errors.js';
import { lookupAccount, selfAccount, type Account } from './accounts.js';
import { launch, type Gated, type Launched } from './launch.js';
import { launchSpec, workingDirectory } from './launch-spec.js';
import {
  outcomeOf,
  type ExecOutcome,
  type ExecStatus,
  type KilledFor,
  type StopReason,
} from './outcome.js';
import { killRun } from './orphans.js';
import { openOutputChannel } from './output-socket.js';
import { defaultScriptRoot, removeOwnDir, writeScript, type WrittenScript } from './script-dir.js';
import { userSwitch } from './user-switch.js';

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
  /**
   * Where the run's private script directory is made: a root checked by chooseScriptRoot (its
   * real path). @default defaultScriptRoot()
   */
  scriptRoot?: string;
  /**
   * The run's FLEETCMD_RUN_TOKEN: the agent passes its claim nonce, which the run record keeps,
   * so a later life of the agent finds the run's processes by it. @default a random UUID
   */
  runToken?: string;
}

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

/** After the process exits, how long to wait for its output pipe to close (held by orphans). */
const PIPE_DRAIN_MS = 1_000;

/** Who a run runs as and where, or why it cannot run. */
type Target = { account: Account; cwd: string; switching: boolean } | { invalid: RunErrorCode };

function immediate(status: ExecStatus, errorCode: RunErrorCode, detail?: string): CommandHandle {
  return {
    capture: new OutputCapture(),
    pid: undefined,
    scriptDir: '',
    stop: () => undefined,
    done: Promise.resolve({
      status,
      exitCode: undefined,
      errorCode,
      started: false,
      ...(detail !== undefined ? { detail } : {}),
    }),
  };
}

/** The run's account (the agent's own unless it names another) and working directory. */
async function resolveTarget(req: ExecRequest): Promise<Target> {
  const self = selfAccount();
  let account = self;
  if (req.username !== '' && req.username !== self.name) {
    const found = await lookupAccount(req.username);
    if (!found) return { invalid: 'AccountNotExists' };
    if (found.uid !== self.uid && self.uid !== 0) return { invalid: 'AccountNotPermitted' };
    account = found;
  }
  const cwd = workingDirectory(account.home, req.workingDir);
  const isDir = await stat(cwd).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) return { invalid: 'DirectoryNotExists' };
  return { account, cwd, switching: account.uid !== self.uid };
}

/**
 * Writes the script, given to the run's user when that is not the agent's. Synchronous: the
 * script directory's root is local (see FLEETCMD_SCRIPT_DIR), and each thread-pool round trip
 * (with its promise) cost more than the system call it waited for. There is one root and no
 * fallback: when it cannot take the script, the run ends Error, saying why.
 */
function prepareScript(
  req: ExecRequest,
  target: Exclude<Target, { invalid: RunErrorCode }>,
): WrittenScript | { problem: string } {
  const check = req.scriptRoot !== undefined ? { root: req.scriptRoot } : defaultScriptRoot();
  if ('problem' in check) return check;
  try {
    return writeScript(check.root, req.content, target.switching ? target.account : undefined);
  } catch (err) {
    return { problem: `could not write the run's script in ${check.root}: ${String(err)}` };
  }
}

/**
 * Starts the written script as the run's account (`gated`: held at its gate, which needs the
 * spawner); undefined when it could not be started.
 */
async function launchScript(
  req: ExecRequest,
  target: Exclude<Target, { invalid: RunErrorCode }>,
  script: string,
  token: string,
  gated?: Gated,
): Promise<Launched | undefined> {
  const how = await userSwitch(target.account, target.switching);
  if (!how) return undefined;
  // Undefined where this process cannot listen (not Linux), or its own connection was not
  // accepted in time: the command is spawned here.
  const channel = await openOutputChannel();
  const spec = launchSpec({
    account: target.account,
    userSwitch: how,
    cwd: target.cwd,
    script,
    launcher: req.launcher,
    invokeId: req.invokeId,
    fire: req.fire,
    runToken: token,
    viaSocket: channel !== undefined,
    gated: gated !== undefined,
    lang: process.env.LANG,
    tz: process.env.TZ,
  });
  return launch(spec, channel, token, gated);
}

/**
 * Runs one command: resolves the account and directory, writes the script to a private temp
 * directory (0700, file 0600, owned by the target user), and spawns it in its own process group
 * with stdout and stderr on one socket, so output keeps its arrival order. Output is captured by a
 * bounded OutputCapture: memory stays flat however much the command prints.
 */
export async function startCommand(req: ExecRequest): Promise<CommandHandle> {
  const token = req.runToken ?? randomUUID();
  const run = await launchRun(req, token, false);
  return 'launched' in run ? watch(req, run.launched, run.written, token) : run;
}

/**
 * Resolves the run's account and directory, writes its script and launches it (`gated`: held
 * at its gate): the launched command and its script, or the handle of a run that never started
 * (nothing of it left behind).
 */
async function launchRun(
  req: ExecRequest,
  token: string,
  gated: boolean,
): Promise<{ launched: Launched; written: WrittenScript } | CommandHandle> {
  const target = await resolveTarget(req);
  if ('invalid' in target) return immediate('Invalid', target.invalid);
  const written = prepareScript(req, target);
  if ('problem' in written) return immediate('Error', 'ExecutionException', written.problem);
  const gate = gated ? { scriptDir: written.dir } : undefined;
  const launched = await launchScript(req, target, written.script, token, gate);
  if (!launched) {
    await removeOwnDir(written);
    return immediate('Error', 'ExecutionException');
  }
  return { launched, written };
}

/** A command made ahead of its start (see prepareCommand). */
export interface PreparedCommand {
  /** The held process's pid (its command's, once started); undefined when nothing is held. */
  readonly pid: number | undefined;
  /** The held process's script directory ('' when nothing is held). */
  readonly scriptDir: string;
  /**
   * Lets the command run now: its handle, as startCommand's, its timeout and output counted from
   * now. When the held process is gone (its spawner died), the command is started afresh here,
   * as startCommand starts it: it never ran.
   */
  start(): Promise<CommandHandle>;
  /** Kills the held process unrun and removes its script directory; nothing once started. */
  discard(): Promise<void>;
}

/**
 * Makes a run's process ahead of its start: everything startCommand does (account, directory,
 * script, environment, output socket, the spawner's fork and user switch) except running the
 * command, which waits at its gate (launch-spec.ts, GATE) for `start`. Where something fails
 * (the account, the directory, the script root, the spawner) nothing is held, and `start` does
 * all of it then, as startCommand does: the run's outcome is the same either way. Never fails.
 */
export async function prepareCommand(req: ExecRequest): Promise<PreparedCommand> {
  const token = req.runToken ?? randomUUID();
  const later: PreparedCommand = {
    pid: undefined,
    scriptDir: '',
    start: () => startCommand({ ...req, runToken: token }),
    discard: () => Promise.resolve(),
  };
  try {
    return (await holdCommand(req, token)) ?? later;
  } catch {
    // Nothing was launched: what throws (an account lookup, a stat) comes before.
    return later;
  }
}

/** prepareCommand's held process, or undefined when none could be made. */
async function holdCommand(req: ExecRequest, token: string): Promise<PreparedCommand | undefined> {
  const run = await launchRun(req, token, true);
  if (!('launched' in run)) return undefined;
  const { launched, written } = run;
  const release = launched.release;
  if (!release) {
    await removeOwnDir(written);
    return undefined;
  }
  let state: 'held' | 'gone' | 'started' | 'discarded' = 'held';
  void launched.exited.then(() => {
    if (state === 'held') state = 'gone';
  });
  /** The held process goes (if it has not), unrun; then its output socket and script. */
  const drop = async () => {
    launched.kill(true);
    // Its spawner died: the gate's end of file ends it, and whatever carries the token goes.
    if ((await launched.exited) === 'lost') await killRun(token);
    launched.output?.stream.destroy();
    await removeOwnDir(written);
  };
  return {
    pid: launched.pid,
    scriptDir: written.dir,
    async start() {
      if (state === 'started' || state === 'discarded') {
        throw new Error(`a prepared command already ${state} cannot start`);
      }
      const held = state === 'held';
      state = 'started';
      if (held) {
        release();
        return watch(req, launched, written, token);
      }
      // Gone before its release: the command never ran.
      await drop();
      return startCommand({ ...req, runToken: token });
    },
    async discard() {
      if (state !== 'held' && state !== 'gone') return;
      state = 'discarded';
      await drop();
    },
  };
}

/** Times the launched command, captures its output, and ends it as a handle's `done` says. */
function watch(
  req: ExecRequest,
  launched: Launched,
  written: WrittenScript,
  token: string,
): CommandHandle {
  const capture = new OutputCapture();
  const { output } = launched;
  let killedFor: KilledFor | undefined;
  const kill = () => launched.kill(req.terminationMode === 'ProcessTree');
  const timer = setTimeout(() => {
    killedFor ??= 'timeout';
    kill();
  }, req.timeoutSeconds * 1000);

  // Each chunk is copied into the capture's ring at once (the reader reuses its buffer).
  output?.read((chunk) => capture.push(chunk));

  const done = (async (): Promise<ExecOutcome> => {
    const exit = await launched.exited;
    if (exit === 'lost') {
      // The spawner died: nothing would reap or time the command, so it must not run on. Its
      // pid may be another process's by now (init reaps it), so what is killed is whatever
      // carries this run's token.
      clearTimeout(timer);
      await killRun(token);
    }
    if (exit === 'failed') output?.stream.destroy();
    // Wait for the output to drain; a background process that kept it open must not hold
    // the run forever.
    else await drained(output?.stream);
    clearTimeout(timer);
    // The script goes before the run is reported, so a final status means it is gone.
    await removeOwnDir(written);
    return outcomeOf(exit, killedFor, launched.detail);
  })();

  return {
    capture,
    pid: launched.pid,
    scriptDir: written.dir,
    stop(reason) {
      killedFor ??= reason;
      kill();
    },
    done,
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
