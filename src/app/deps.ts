import type { InvocationKind, RepeatMode } from '../domain/invocation.js';
import type { InvocationStore } from '../store/invocation-store.js';
import type { NodeStore } from '../store/node-store.js';
import type { NodeQueues, SchedulerQueue } from '../store/queues.js';
import type { CommandStore } from '../store/command-store.js';
import type { RunStore } from '../store/run-store.js';

/** What the command actions (actions.ts) and the file actions (file-actions.ts) share. */

export interface ActionDeps {
  invocations: InvocationStore;
  runs: RunStore;
  nodes: NodeStore;
  commands: CommandStore;
  nodeQueues: NodeQueues;
  schedulerQueue: SchedulerQueue;
  deliveryTimeoutSeconds: number;
  /** Shortest interval a Frequency may fire at. */
  minIntervalSeconds: number;
  clock: () => number;
  /** Counts the invocations this process creates. @default none */
  metrics?: { invocationCreated(kind: InvocationKind, repeatMode: RepeatMode): void };
}

export type Action = (body: unknown, deps: ActionDeps) => Promise<Record<string, unknown>>;
