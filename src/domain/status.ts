export const NODE_STATUSES = [
  'Pending',
  'Scheduled',
  'Running',
  'Success',
  'Failed',
  'Timeout',
  'Error',
  'Invalid',
  'Aborted',
  'Cancelled',
  'Stopping',
  'Terminated',
] as const;

export type NodeStatus = (typeof NODE_STATUSES)[number];

/** Statuses a node never leaves: its result is settled and the node can be forgotten by workers. */
export const FINAL_STATUS_NAMES = [
  'Success',
  'Failed',
  'Timeout',
  'Error',
  'Invalid',
  'Aborted',
  'Cancelled',
  'Terminated',
] as const satisfies readonly NodeStatus[];

export const FINAL_NODE_STATUSES: ReadonlySet<NodeStatus> = new Set<NodeStatus>(FINAL_STATUS_NAMES);

export function isFinalNodeStatus(s: NodeStatus): boolean {
  return FINAL_NODE_STATUSES.has(s);
}

export const AGGREGATE_STATUSES = [
  'Pending',
  'Scheduled',
  'Running',
  'Stopping',
  'Stopped',
  'Success',
  'Failed',
  'PartialFailed',
] as const;

export type AggregateStatus = (typeof AGGREGATE_STATUSES)[number];

interface AggregateRule {
  /** `any`: one node in `statuses` is enough; `all`: every node must be in `statuses`. */
  readonly when: 'any' | 'all';
  readonly statuses: ReadonlySet<NodeStatus>;
  readonly result: AggregateStatus;
}

/** Stopped by a user rather than by a fault: neither a success nor a failure of the command. */
const USER_STOPPED: readonly NodeStatus[] = ['Cancelled', 'Terminated'];

/** The first matching rule wins; when none matches the nodes disagree and it is `PartialFailed`. */
const AGGREGATE_RULES: readonly AggregateRule[] = [
  // An invocation is as far along as its least advanced node, so unfinished phases come first,
  // earliest phase first.
  { when: 'any', statuses: new Set(['Pending']), result: 'Pending' },
  { when: 'any', statuses: new Set(['Scheduled']), result: 'Scheduled' },
  { when: 'any', statuses: new Set(['Running']), result: 'Running' },
  // A stop still in progress on any node means the invocation as a whole is not settled yet.
  { when: 'any', statuses: new Set(['Stopping']), result: 'Stopping' },
  // Everything settled. A run the user stopped everywhere is reported as such, not as a failure.
  { when: 'all', statuses: new Set(USER_STOPPED), result: 'Stopped' },
  // No node succeeded; user-stopped nodes do not rescue the run.
  {
    when: 'all',
    statuses: new Set([...USER_STOPPED, 'Invalid', 'Aborted', 'Failed', 'Timeout', 'Error']),
    result: 'Failed',
  },
  // Some node succeeded and none failed; stopping the others was the user's choice, not a fault.
  { when: 'all', statuses: new Set([...USER_STOPPED, 'Success']), result: 'Success' },
];

function ruleMatches(rule: AggregateRule, present: ReadonlySet<NodeStatus>): boolean {
  const hits = [...present].filter((s) => rule.statuses.has(s)).length;
  return rule.when === 'any' ? hits > 0 : hits === present.size;
}

export function aggregateStatus(nodes: readonly NodeStatus[]): AggregateStatus {
  // An invocation always targets at least one node; with none there is nothing started yet.
  if (nodes.length === 0) return 'Pending';
  const present = new Set(nodes);
  return AGGREGATE_RULES.find((rule) => ruleMatches(rule, present))?.result ?? 'PartialFailed';
}

/**
 * The aggregate status of an invocation from its nodes' run records' statuses, undefined for a
 * node without a record yet: that node is Pending (accepted, not yet delivered).
 */
export function aggregateOf(recorded: readonly (NodeStatus | undefined)[]): AggregateStatus {
  return aggregateStatus(recorded.map((s) => s ?? 'Pending'));
}

export type LegacyStatus =
  'Running' | 'Finished' | 'Failed' | 'Stopped' | 'Stopping' | 'PartialFailed';

/** The older API has a single in-progress state, so every unfinished phase reads as `Running`. */
const LEGACY_STATUS: Readonly<Record<AggregateStatus, LegacyStatus>> = {
  Pending: 'Running',
  Scheduled: 'Running',
  Running: 'Running',
  Stopping: 'Stopping',
  Stopped: 'Stopped',
  Success: 'Finished',
  Failed: 'Failed',
  PartialFailed: 'PartialFailed',
};

export function legacyInvokeStatus(agg: AggregateStatus): LegacyStatus {
  return LEGACY_STATUS[agg];
}

export function nodeInvokeStatus(s: NodeStatus): LegacyStatus {
  return legacyInvokeStatus(aggregateStatus([s]));
}
