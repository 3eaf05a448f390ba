import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { sharedSpawner } from '../spawner.js';
import type { LaunchSpec } from './launch-spec.js';
import type { LaunchExit } from './outcome.js';
import { killRun } from './orphans.js';
import type { ExpectedOutput } from './output-socket.js';

export interface Launched {
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
function launchHere({ file, args, how }: LaunchSpec): Launched {
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
  { file, args, how }: LaunchSpec,
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

/**
 * Starts the command: through the spawner, its output on the connection `expected` awaits, or
 * in this process where there is none. Undefined when it could not be started (then the
 * connection is given up).
 */
export async function launch(
  spec: LaunchSpec,
  expected: ExpectedOutput | undefined,
  token: string,
): Promise<Launched | undefined> {
  try {
    return expected ? await launchViaSpawner(spec, expected, token) : launchHere(spec);
  } catch {
    expected?.cancel();
    return undefined;
  }
}
