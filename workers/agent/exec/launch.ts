import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { sharedSpawner } from '../spawner.js';
import type { LaunchSpec } from './launch-spec.js';
import type { LaunchExit } from './outcome.js';
import { killRun } from './orphans.js';
import type { OutputChannel, OutputReader } from './output-socket.js';

export interface Launched {
  /** Also the command's process group id. */
  pid: number | undefined;
  /** Its stdout and stderr; undefined when it never started. */
  output: OutputReader | undefined;
  /** SIGKILL to the command (group: to its process group), unless it is gone. */
  kill(group: boolean): void;
  /** Lets a command started gated run (see Gated); undefined for one that was not. */
  release?: () => void;
  exited: Promise<LaunchExit>;
  /** Why it failed, or would be lost, for the log. */
  detail?: string;
}

/** A command to start held at its gate (LaunchSpec made with `gated`), and its script directory. */
export interface Gated {
  scriptDir: string;
}

/** A pipe read the usual way ('data'), as an OutputReader. */
function streamReader(stream: Readable): OutputReader {
  return {
    read(onChunk) {
      stream.on('data', onChunk);
      stream.resume();
    },
    stream,
  };
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
    output: child.stdout ? streamReader(child.stdout) : undefined,
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

/** Starts the command through the spawner, its stdout and stderr the channel's writing end. */
async function launchViaSpawner(
  { file, args, how }: LaunchSpec,
  channel: OutputChannel,
  token: string,
  gated: Gated | undefined,
): Promise<Launched> {
  const gate = gated ? { gated: true, scriptDir: gated.scriptDir } : {};
  const r = await sharedSpawner().spawn({ file, args, ...how, ...gate }, channel.writer);
  if ('failed' in r) {
    channel.writer.destroy();
    channel.reader.stream.destroy();
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
  return {
    pid: r.pid,
    output: channel.reader,
    kill: r.kill,
    ...(gated ? { release: r.release } : {}),
    exited: r.exited,
    detail: 'the spawner exited while the command ran',
  };
}

/**
 * Starts the command: through the spawner, its output on `channel`, or in this process where
 * there is none (never `gated`: the spawner holds the gate). Undefined when it could not be
 * started (then the channel is closed).
 */
export async function launch(
  spec: LaunchSpec,
  channel: OutputChannel | undefined,
  token: string,
  gated?: Gated,
): Promise<Launched | undefined> {
  try {
    if (channel) return await launchViaSpawner(spec, channel, token, gated);
    return gated ? undefined : launchHere(spec);
  } catch {
    channel?.writer.destroy();
    channel?.reader.stream.destroy();
    return undefined;
  }
}
