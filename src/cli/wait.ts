/**
 * Waiting for nodes to finish: polling at a fixed pace, with a progress line on stderr (for
 * run --wait, command invoke --wait, send-file --wait; logs --follow polls at the same pace).
 */
import { plainProgressDue, progressLine } from './format.js';
import type { ClientArgs } from './client-args.js';
import { isFinalNodeStatus, type NodeStatus } from '../domain/status.js';

/** How often --wait and --follow ask the API. */
export const POLL_MS = 500;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The progress line on stderr: redrawn in place on a terminal, occasional lines otherwise. */
class Progress {
  #last: { line: string; atMs: number } | undefined;
  readonly #tty = process.stderr.isTTY === true;

  constructor(private readonly enabled: boolean) {}

  /** Without a terminal, --json keeps stderr quiet too. */
  static for(client: ClientArgs): Progress {
    return new Progress(!client.json || process.stderr.isTTY === true);
  }

  update(statuses: readonly NodeStatus[]): void {
    if (!this.enabled) return;
    const text = progressLine(statuses);
    if (this.#tty) {
      process.stderr.write(`\r\x1b[2K${text}`);
    } else if (plainProgressDue(this.#last, text, Date.now())) {
      process.stderr.write(`${text}\n`);
      this.#last = { line: text, atMs: Date.now() };
    }
  }

  /** The final state, always shown once. */
  done(statuses: readonly NodeStatus[]): void {
    if (!this.enabled) return;
    const text = progressLine(statuses);
    if (this.#tty) process.stderr.write(`\r\x1b[2K${text}\n`);
    else if (this.#last?.line !== text) process.stderr.write(`${text}\n`);
  }
}

/** Polls `statuses` until every node is final, showing progress; returns the final statuses. */
export async function waitFinal(
  client: ClientArgs,
  statuses: () => Promise<NodeStatus[]>,
): Promise<NodeStatus[]> {
  const progress = Progress.for(client);
  for (;;) {
    const now = await statuses();
    if (now.every(isFinalNodeStatus)) {
      progress.done(now);
      return now;
    }
    progress.update(now);
    await sleep(POLL_MS);
  }
}
