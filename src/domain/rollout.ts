import type { NodeStatus } from './status.js';

/**
 * Rollout control of an invocation (MaxConcurrency, MaxErrors, as the vendor's and AWS Run
 * Command's fields): how many of its nodes may be delivered or running at once, and how many
 * may end in error before the nodes not yet started are Cancelled. The scheduler applies them:
 * src/store/lua/ro-step-4.lua computes the same counts as limitCount (test/unit/rollout-limits
 * tests limitCount, test/integration/rollout.test.ts the script's rounding on real agents).
 */

/** A limit as sent: a whole number of nodes, or a percentage of the invocation's nodes. */
export interface Limit {
  value: number;
  percent: boolean;
}

/** Why a limit text is refused (the caller names the field). */
export class LimitError extends Error {}

/** Most nodes one invocation can reach; a number above it is refused. */
const MAX_LIMIT_NODES = 100_000;

/**
 * Parses `"50"` or `"10%"`. MaxConcurrency takes 1 and up (1%–100%); MaxErrors 0 and up
 * (0%–100%). '' is no limit (undefined).
 */
export function parseLimit(text: string, min: 0 | 1): Limit | undefined {
  if (text === '') return undefined;
  const m = /^(\d{1,6})(%?)$/.exec(text);
  if (!m) throw new LimitError('must be a whole number of nodes ("10") or a percentage ("10%")');
  const value = Number(m[1]);
  const percent = m[2] === '%';
  if (value < min) throw new LimitError(`must be at least ${min}${percent ? '%' : ''}`);
  if (percent && value > 100) throw new LimitError('must not be over 100%');
  if (!percent && value > MAX_LIMIT_NODES) {
    throw new LimitError(`must not be over ${MAX_LIMIT_NODES}`);
  }
  return { value, percent };
}

/**
 * The limit as a count of nodes out of `nodes`: a percentage rounds up, and MaxConcurrency's to
 * at least 1 node.
 */
export function limitCount(limit: Limit, nodes: number, min: 0 | 1): number {
  if (!limit.percent) return limit.value;
  return Math.max(min, Math.ceil((nodes * limit.value) / 100));
}

/** Final statuses a node counts as an error under MaxErrors. */
export const ERROR_STATUSES: ReadonlySet<NodeStatus> = new Set<NodeStatus>([
  'Failed',
  'Timeout',
  'Error',
  'Invalid',
  'Aborted',
]);

/** The per-node ErrorCode of a node Cancelled because errors exceeded MaxErrors. */
export const MAX_ERRORS_EXCEEDED = 'MaxErrorsExceeded';

/** Whether an invocation has any rollout limit ('' = none). */
export function hasRollout(inv: { maxConcurrency?: string; maxErrors?: string }): boolean {
  return (inv.maxConcurrency ?? '') !== '' || (inv.maxErrors ?? '') !== '';
}
