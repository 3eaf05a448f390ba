/**
 * The CLI's exit codes: one table, printed by `fleetcmd --help`, rendered into docs/cli.md,
 * and what exitCodeFor and the error handler in main.ts return.
 */
import { aggregateStatus, type NodeStatus } from '../domain/status.js';

export const EXIT = {
  success: 0,
  /** No node succeeded and some node's command exited non-zero (Failed). */
  failed: 1,
  /** Bad flags or arguments, a bad config file, or the API refused the request (400, 404). */
  usage: 2,
  /** No node succeeded, none failed, some timed out. */
  timeout: 3,
  /** No node succeeded, none failed or timed out, some could not run (Error, Invalid, Aborted). */
  notRun: 4,
  /** Every node was stopped by a user (Cancelled, Terminated). */
  stopped: 5,
  /** Some nodes succeeded and some did not (PartialFailed). */
  partialFailed: 6,
  /** The API refused the token (401, 403). */
  auth: 7,
  /** No answer from the API (refused, DNS, TLS, timeout) or it failed (5xx). */
  unreachable: 8,
} as const;

/** The table, in the order the rules apply (the first matching line wins). */
export const EXIT_TABLE: readonly (readonly [number, string])[] = [
  [
    EXIT.success,
    'Success: every node succeeded (nodes a user stopped aside); any other command: done',
  ],
  [EXIT.stopped, 'Stopped: every node was stopped by a user (Cancelled, Terminated)'],
  [EXIT.partialFailed, 'PartialFailed: some nodes succeeded, others did not'],
  [EXIT.failed, "Failed: no node succeeded and a node's command exited non-zero"],
  [EXIT.timeout, 'Timeout: no node succeeded or failed, a node timed out'],
  [
    EXIT.notRun,
    'a node could not run (Error, Invalid, Aborted), none succeeded, failed or timed out',
  ],
  [EXIT.usage, 'usage: bad flags or arguments, a bad config file, or the API refused the request'],
  [EXIT.auth, 'auth: no token, or the API refused it (401, 403)'],
  [EXIT.unreachable, 'unreachable: no answer from the API, or it failed (5xx)'],
];

/** The table as `fleetcmd --help` prints it. */
export function exitCodesText(): string {
  return EXIT_TABLE.map(([code, text]) => `  ${String(code).padStart(2)}  ${text}`).join('\n');
}

/** The exit code for the nodes' final statuses (the first matching line of EXIT_TABLE). */
export function exitCodeFor(statuses: readonly NodeStatus[]): number {
  const agg = aggregateStatus(statuses);
  if (agg === 'Success') return EXIT.success;
  if (agg === 'Stopped') return EXIT.stopped;
  if (agg === 'PartialFailed') return EXIT.partialFailed;
  const present = new Set(statuses);
  if (present.has('Failed')) return EXIT.failed;
  if (present.has('Timeout')) return EXIT.timeout;
  if (present.has('Error') || present.has('Invalid') || present.has('Aborted')) return EXIT.notRun;
  // Not settled yet (a caller waits for final statuses first): it did not end Success.
  return EXIT.failed;
}

/** The exit code for an API error's HTTP status (0: no answer at all). */
export function exitCodeForHttp(status: number): number {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 0 || status >= 500) return EXIT.unreachable;
  return EXIT.usage;
}
