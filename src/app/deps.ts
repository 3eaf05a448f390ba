import type { InvocationKind, RepeatMode } from '../domain/invocation.js';
import type { InvocationStore } from '../store/invocation-store.js';
import type { NodeStore } from '../store/node-store.js';
import type { NodeQueues, SchedulerQueue } from '../store/queues.js';
import type { AuditStore } from '../store/audit-store.js';
import type { CommandStore } from '../store/command-store.js';
import type { RunStore } from '../store/run-store.js';
import type { EventStore } from '../store/event-store.js';
import type { ActivationStore } from '../store/activation-store.js';
import type { NodeCredentials } from '../store/node-acl.js';
import type { WebhookStore } from '../store/webhook-store.js';

/** What the actions (src/api/actions/) share. */

export interface ActionDeps {
  invocations: InvocationStore;
  runs: RunStore;
  nodes: NodeStore;
  commands: CommandStore;
  /** The audit trail DescribeAuditEvents reads (the API's hook appends to it). */
  audit: AuditStore;
  nodeQueues: NodeQueues;
  schedulerQueue: SchedulerQueue;
  /** The lifecycle events (InvocationCreated is written here). @default none: not announced */
  events?: EventStore;
  deliveryTimeoutSeconds: number;
  /** The most nodes a one-off invocation may have to be fanned out before the answer. @default 64 */
  inlineFanOutNodes?: number;
  /** Shortest interval a Frequency may fire at. */
  minIntervalSeconds: number;
  clock: () => number;
  /** SendFile may set setuid/setgid on a group- or world-writable file. @default false */
  allowSetuidFiles?: boolean;
  /** Activations (CreateActivation, RegisterNode). @default none: those actions answer 500 */
  activations?: ActivationStore;
  /** The nodes' Redis ACL users (RegisterNode, DeregisterNodes, rotation). @default none */
  nodeCredentials?: NodeCredentials;
  /**
   * Webhooks (CreateWebhook, ...): their store, FLEETCMD_WEBHOOKS_MAX and
   * FLEETCMD_WEBHOOK_ALLOW_PRIVATE. @default none: those actions answer 500
   */
  webhooks?: { store: WebhookStore; max: number; allowPrivate: boolean };
  /** Counts the invocations this process creates. @default none */
  metrics?: {
    invocationCreated(kind: InvocationKind, repeatMode: RepeatMode): void;
    /** A one-off invocation's creation -> its per-node run jobs queued (RunCommand fans out). */
    observeDispatchSeconds?(seconds: number): void;
  };
}

/**
 * An action's handler: the request body in, the answer out (without the RequestId the route
 * adds). `A` is the answer's type, inferred from the action's response schema in src/api.
 */
export type Action<A = object> = (body: unknown, deps: ActionDeps) => Promise<A>;
