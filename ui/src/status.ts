import type { InvocationView, InvokeNodeView } from './api';

/** Node statuses that never change again (src/domain/status.ts FINAL_NODE_STATUSES). */
export { FINAL_NODE_STATUSES, NODE_STATUSES } from '../../src/domain/status.js';

type Aggregate = InvocationView['InvocationStatus'];
type NodeStatus = InvokeNodeView['InvocationStatus'];

/** Aggregate statuses after which an invocation's nodes no longer change. */
export const SETTLED: ReadonlySet<Aggregate> = new Set<Aggregate>([
  'Stopped',
  'Success',
  'Failed',
  'PartialFailed',
]);

/** The colour group of a status, for badges and the progress bar (classes in styles.css). */
export function tone(status: Aggregate | NodeStatus): string {
  switch (status) {
    case 'Success':
      return 'ok';
    case 'Running':
    case 'Stopping':
      return 'run';
    case 'Pending':
    case 'Scheduled':
      return 'wait';
    case 'Cancelled':
    case 'Terminated':
    case 'Stopped':
      return 'stop';
    default:
      return 'bad';
  }
}
