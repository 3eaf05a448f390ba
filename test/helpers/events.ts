import { writeFile } from 'node:fs/promises';
import { spawnCli, waitFor, type CliResult } from './stack.js';

/**
 * Event-based waits for tests that must not decide anything by the clock: a command that holds
 * until the test lets it go, a bound that only catches hangs, and a CLI whose output chunks are
 * timestamped as they arrive.
 */

/** A shell snippet that waits until `path` exists: the command holds until `openGate(path)`. */
export function gateSh(path: string): string {
  return `while [ ! -e '${path}' ]; do sleep 0.05; done`;
}

/** Lets every command waiting in `gateSh(path)` go on. */
export async function openGate(path: string): Promise<void> {
  await writeFile(path, '');
}

/** One chunk of a process's stdout and when this process received it (Date.now()). */
export interface Chunk {
  at: number;
  text: string;
}

export interface StreamingCli {
  /** stdout chunks in arrival order. */
  chunks: Chunk[];
  /** When stdout first held `text` (the arrival of the chunk that completed it), if it has. */
  arrivedAt(text: string): number | undefined;
  /** Waits (up to the hang bound `timeoutMs`) until stdout holds every one of `texts`. */
  waitForOutput(texts: readonly string[], timeoutMs: number): Promise<void>;
  /** The process's exit, as runCli reports it. */
  done: Promise<CliResult>;
}

/** Starts `fleetcmd <args>` as runCli does, timestamping each stdout chunk as it arrives. */
export function startCli(args: string[], env: Record<string, string | undefined>): StreamingCli {
  const chunks: Chunk[] = [];
  const out: Buffer[] = [];
  const { child, done } = spawnCli(args, env, (d) => {
    chunks.push({ at: Date.now(), text: d.toString() });
    out.push(d);
  });
  const stdoutSoFar = () => Buffer.concat(out).toString();
  return {
    chunks,
    arrivedAt(text) {
      let seen = '';
      for (const c of chunks) {
        seen += c.text;
        if (seen.includes(text)) return c.at;
      }
      return undefined;
    },
    async waitForOutput(texts, timeoutMs) {
      await waitFor(
        `output ${JSON.stringify(texts)}`,
        async () => {
          if (child.exitCode !== null) {
            throw new Error(`exited ${child.exitCode} before printing ${JSON.stringify(texts)}`);
          }
          const now = stdoutSoFar();
          return texts.every((t) => now.includes(t));
        },
        timeoutMs,
      );
    },
    done,
  };
}
