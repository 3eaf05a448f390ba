import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * What the agent asks of the spawner (spawner-main.ts), over the fork's IPC channel. A spawn
 * request comes with a handle: the command's stdout and stderr (exec/output-socket.ts).
 */
export interface SpawnRequest {
  type: 'spawn';
  id: number;
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  uid?: number;
  gid?: number;
  /**
   * Made ahead of its start (exec/launch-spec.ts, GATE): the command gets one more descriptor,
   * fd 3, the end of a pipe whose other end the spawner keeps, and runs nothing until the
   * spawner writes a byte on it (a release request). Should the spawner go first, the pipe's
   * end of file makes it exit unrun.
   */
  gated?: boolean;
  /**
   * A gated command's script directory: the spawner removes it (after killing the command)
   * when the agent goes while the command is still held.
   */
  scriptDir?: string;
}

export type SpawnerRequest =
  SpawnRequest | { type: 'kill'; id: number; group: boolean } | { type: 'release'; id: number };

export type SpawnerReply =
  | { type: 'spawned'; id: number; pid: number }
  | { type: 'failed'; id: number; reason: string }
  | { type: 'killed'; id: number }
  | { type: 'released'; id: number }
  | { type: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null };

/** How a command started by the spawner ended; 'lost' when the spawner died before it told. */
export type SpawnedExit = { code: number | null; signal: NodeJS.Signals | null } | 'lost';

export interface SpawnedCommand {
  pid: number;
  /** SIGKILL to the command (group: to its process group), while the spawner still has it. */
  kill(group: boolean): void;
  /** Lets a gated command run (see SpawnRequest.gated); nothing for one that is not. */
  release(): void;
  exited: Promise<SpawnedExit>;
}

/** Why a command did not start, or may have: see `unknown`. */
export interface SpawnFailure {
  failed: string;
  /** The spawner died before it answered: the command may have started, unseen. */
  unknown: boolean;
}

interface InFlight {
  /** The spawner the request went to. */
  child: ChildProcess;
  started: (r: SpawnedCommand | SpawnFailure) => void;
  /** Set once it started. */
  exited?: (e: SpawnedExit) => void;
  /** The deadline for the spawner's answer to a spawn, kill or release request. */
  deadline?: NodeJS.Timeout;
}

/**
 * How long the spawner may take to answer a spawn, kill or release request before it is taken
 * for wedged (stopped, or stuck in the kernel). Its answer to a kill comes once it has sent the
 * signal, and to a release once it has written the byte, which take no time however stuck the
 * command itself is.
 */
const REPLY_MS = 15_000;

const here = import.meta.url;
/** Under tsx (the tests), the spawner is TypeScript too and needs tsx's loader. */
const typescript = here.endsWith('.ts');
const MAIN = fileURLToPath(new URL(`./spawner-main${typescript ? '.ts' : '.js'}`, here));
/** The spawner's heap stays tiny; a small young generation keeps its memory, and forks, small. */
const EXEC_ARGV = [
  ...(typescript ? ['--import', import.meta.resolve('tsx')] : []),
  '--max-semi-space-size=1',
];

/**
 * The agent's side of the spawner: forks spawner-main.ts (at the agent's start, and again after
 * it died), sends it spawn and kill requests, and turns its replies into promises.
 *
 * When the spawner goes (its channel closes, after every message it sent), a request it had not
 * answered fails `unknown` and a running command ends 'lost': the caller kills whatever carries
 * the run's token and reports Error, never running it again. A spawner that leaves a request
 * unanswered for REPLY_MS is killed and given up at once (a process stuck in the kernel may
 * not even die): its requests end the same way, and the next run gets a new spawner.
 */
export class Spawner {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly inFlight = new Map<number, InFlight>();
  /** Why the spawner was given up, when this side gave it up. */
  private readonly givenUp = new WeakMap<ChildProcess, string>();
  private readonly goneListeners = new Set<(why: string, pid: number) => void>();

  /** Calls `listener` each time a running spawner goes; returns what removes it. */
  onGone(listener: (why: string, pid: number) => void): () => void {
    this.goneListeners.add(listener);
    return () => this.goneListeners.delete(listener);
  }

  /** Whether a spawner is running, as far as this side knows (its channel not closed yet). */
  running(): boolean {
    return this.child !== undefined;
  }

  /**
   * Forks the spawner now if it is not running (the agent does so as it starts, while its own
   * memory is smallest, so the first run does not wait for it); returns its pid.
   */
  start(): number | undefined {
    return this.process().pid;
  }

  /**
   * Starts a command with `output` as its stdout and stderr. Sending `output` closes this
   * process's copy of it once the spawner has it (the command then holds the only ones).
   */
  spawn(
    req: Omit<SpawnRequest, 'type' | 'id'>,
    output: Socket,
  ): Promise<SpawnedCommand | SpawnFailure> {
    let child: ChildProcess;
    try {
      child = this.process();
    } catch (err) {
      return Promise.resolve({
        failed: `the spawner could not start: ${String(err)}`,
        unknown: false,
      });
    }
    const id = this.nextId++;
    return new Promise((started) => {
      const entry: InFlight = { child, started };
      this.inFlight.set(id, entry);
      child.channel?.ref();
      this.expectAnswer(id, entry, 'a spawn request');
      const request: SpawnRequest = { type: 'spawn', id, ...req };
      // Not sent (the channel is closed): it cannot have started.
      const notSent = (err: Error) =>
        this.settle(id, { failed: `spawner: ${err.message}`, unknown: false }, 'lost');
      try {
        child.send(request, output, (err) => {
          if (err) notSent(err);
        });
      } catch (err) {
        notSent(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  private process(): ChildProcess {
    if (this.child) return this.child;
    const child = fork(MAIN, [], {
      execArgv: EXEC_ARGV,
      // Nothing of the agent's environment (its Redis password, NODE_OPTIONS): the spawner needs
      // none, and each command gets its own, explicitly.
      env: {},
      // Its own process group: a terminal's ^C goes to the agent, which drains first.
      detached: true,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
    });
    child.on('error', () => {
      // A fork that failed has no pid and never exits.
      if (child.pid === undefined) this.gone(child);
    });
    if (child.pid === undefined) {
      // Node reports a failed fork (EAGAIN, ENOENT) by 'error' only, on the next tick.
      return child;
    }
    this.child = child;
    child.unref();
    child.channel?.unref();
    child.on('message', (m: SpawnerReply) => this.onReply(m));
    // The channel closes after the last message the spawner sent has been read.
    child.once('disconnect', () => this.gone(child));
    child.once('exit', (code, signal) => {
      if (this.givenUp.has(child)) return;
      this.notifyGone(child, `the spawner exited${exitText(code, signal)}`);
    });
    return child;
  }

  /** Arms the deadline for the spawner's answer to request `id`. */
  private expectAnswer(id: number, entry: InFlight, what: string): void {
    clearTimeout(entry.deadline);
    entry.deadline = setTimeout(() => {
      // An answer read in this same turn of the loop still counts.
      setImmediate(() => {
        if (this.inFlight.get(id) !== entry || entry.deadline === undefined) return;
        this.giveUp(entry.child, `the spawner did not answer ${what} within ${REPLY_MS} ms`);
      });
    }, REPLY_MS);
  }

  /** Kills a wedged spawner and settles what it had, without waiting for its channel to close. */
  private giveUp(child: ChildProcess, why: string): void {
    if (this.givenUp.has(child)) return;
    this.givenUp.set(child, why);
    child.kill('SIGKILL');
    this.notifyGone(child, why);
    this.gone(child);
  }

  private notifyGone(child: ChildProcess, why: string): void {
    if (child.pid === undefined) return;
    for (const listener of this.goneListeners) listener(why, child.pid);
  }

  /** The spawner `child` is gone: what it had not answered, or was running, is settled. */
  private gone(child: ChildProcess): void {
    if (this.child === child) this.child = undefined;
    const why =
      this.givenUp.get(child) ??
      `the spawner${exitText(child.exitCode, child.signalCode)} went away before it answered`;
    // A fork that failed never ran anything.
    const unknown = child.pid !== undefined;
    for (const [id, entry] of [...this.inFlight]) {
      if (entry.child !== child) continue;
      this.settle(id, { failed: why, unknown }, 'lost');
    }
  }

  private onReply(m: SpawnerReply): void {
    const entry = this.inFlight.get(m.id);
    if (!entry) return;
    if (m.type === 'failed') {
      this.settle(m.id, { failed: m.reason, unknown: false }, 'lost');
    } else if (m.type === 'exit') {
      this.settle(m.id, undefined, { code: m.code, signal: m.signal });
    } else if (m.type === 'killed' || m.type === 'released') {
      answered(entry);
    } else {
      answered(entry);
      const exited = new Promise<SpawnedExit>((resolve) => {
        entry.exited = resolve;
      });
      // Settled: reaped (its pid may be another process's by now), or lost (the caller kills
      // what carries its token). Going: 'lost' follows.
      const ask = (request: SpawnerRequest, what: string) => {
        if (this.inFlight.get(m.id) !== entry || !entry.child.connected) return;
        this.expectAnswer(m.id, entry, what);
        entry.child.send(request, () => undefined);
      };
      entry.started({
        pid: m.pid,
        kill: (group) => ask({ type: 'kill', id: m.id, group }, 'a kill request'),
        release: () => ask({ type: 'release', id: m.id }, 'a release request'),
        exited,
      });
    }
  }

  /** Ends request `id`: fails it if it never started, else ends its command with `exit`. */
  private settle(id: number, failure: SpawnFailure | undefined, exit: SpawnedExit): void {
    const entry = this.inFlight.get(id);
    if (!entry) return;
    this.inFlight.delete(id);
    answered(entry);
    if (![...this.inFlight.values()].some((e) => e.child === entry.child)) {
      entry.child.channel?.unref();
    }
    if (entry.exited) entry.exited(exit);
    else {
      entry.started(
        failure ?? { failed: 'the spawner reported an exit before a start', unknown: false },
      );
    }
  }
}

/** The spawner answered `entry`'s last request: its deadline is off. */
function answered(entry: InFlight): void {
  clearTimeout(entry.deadline);
  entry.deadline = undefined;
}

/** " (signal SIGKILL)", " (exit 1)", or "" while the process has not exited. */
function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal !== null) return ` (signal ${signal})`;
  return code !== null ? ` (exit ${code})` : '';
}

let shared: Spawner | undefined;

/** The process's one spawner. */
export function sharedSpawner(): Spawner {
  shared ??= new Spawner();
  return shared;
}
