/**
 * How the client subcommands write: everything the user reads goes to stdout (progress goes
 * to stderr, see wait.ts), with --json one raw API answer a line.
 */
import { nodeHeader, OutputFollower } from './format.js';
import type { ClientArgs } from './client-args.js';
import type { InvocationResultView } from '../api/schemas/response.js';

export function out(text: string | Buffer): void {
  process.stdout.write(text);
}

export function line(text: string): void {
  out(`${text}\n`);
}

/** With --json each raw API answer is one line of stdout. */
export function json(answer: unknown): void {
  line(JSON.stringify(answer));
}

/**
 * Whether command output is shown with visible control characters: on a terminal unless --raw
 * (an ESC sequence in a command's output must not drive the user's terminal). Piped, it passes.
 */
export function escapeOutput(client: ClientArgs): boolean {
  return !client.raw && process.stdout.isTTY === true;
}

/** Each node's output; with `headers`, a header line (node, status, exit code) before each. */
export function printOutputs(
  client: ClientArgs,
  rows: readonly InvocationResultView[],
  headers: boolean,
): void {
  for (const r of rows) {
    if (headers) line(nodeHeader(r));
    const follower = new OutputFollower('', undefined, escapeOutput(client));
    out(follower.update(Buffer.from(r.Output, 'base64'), r.Dropped));
    out(follower.end());
  }
}
