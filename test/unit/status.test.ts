import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  FINAL_NODE_STATUSES,
  NODE_STATUSES,
  aggregateStatus,
  isFinalNodeStatus,
  legacyInvokeStatus,
  nodeInvokeStatus,
} from '../../src/domain/status.js';
import type { AggregateStatus, LegacyStatus, NodeStatus } from '../../src/domain/status.js';

/** The aggregation rules restated by counting nodes per kind of status. */
function expectedAggregate(nodes: readonly NodeStatus[]): AggregateStatus {
  const count = (...kinds: NodeStatus[]): number => nodes.filter((n) => kinds.includes(n)).length;
  if (count('Pending') > 0) return 'Pending';
  if (count('Scheduled') > 0) return 'Scheduled';
  if (count('Running') > 0) return 'Running';
  if (count('Stopping') > 0) return 'Stopping';
  const userStopped = count('Cancelled', 'Terminated');
  const failed = count('Invalid', 'Aborted', 'Failed', 'Timeout', 'Error');
  const succeeded = count('Success');
  if (userStopped === nodes.length) return 'Stopped';
  if (userStopped + failed === nodes.length) return 'Failed';
  if (userStopped + succeeded === nodes.length) return 'Success';
  return 'PartialFailed';
}

const FINAL: NodeStatus[] = [
  'Success',
  'Failed',
  'Timeout',
  'Error',
  'Invalid',
  'Aborted',
  'Cancelled',
  'Terminated',
];

// Uniform statuses almost always include an unfinished one, so settled-only lists get their own
// arbitrary to exercise the Stopped / Failed / Success / PartialFailed rules.
const nodeLists = fc.oneof(
  fc.array(fc.constantFrom(...NODE_STATUSES), { minLength: 1, maxLength: 12 }),
  fc.array(fc.constantFrom(...FINAL), { minLength: 1, maxLength: 8 }),
  fc.array(fc.constantFrom<NodeStatus>('Success', 'Cancelled', 'Terminated', 'Timeout'), {
    minLength: 1,
    maxLength: 6,
  }),
);

void describe('node statuses', () => {
  void it('treats exactly the settled statuses as final', () => {
    const expected: Record<NodeStatus, boolean> = {
      Pending: false,
      Scheduled: false,
      Running: false,
      Success: true,
      Failed: true,
      Timeout: true,
      Error: true,
      Invalid: true,
      Aborted: true,
      Cancelled: true,
      Stopping: false,
      Terminated: true,
    };
    assert.equal(NODE_STATUSES.length, Object.keys(expected).length);
    for (const s of NODE_STATUSES) assert.equal(isFinalNodeStatus(s), expected[s], s);
    assert.deepEqual([...FINAL_NODE_STATUSES].sort(), [...FINAL].sort());
  });
});

void describe('aggregateStatus', () => {
  const cases: [NodeStatus[], AggregateStatus][] = [
    // one case per rule
    [['Pending'], 'Pending'],
    [['Scheduled', 'Scheduled'], 'Scheduled'],
    [['Running'], 'Running'],
    [['Stopping'], 'Stopping'],
    [['Cancelled'], 'Stopped'],
    [['Terminated', 'Terminated'], 'Stopped'],
    [['Failed', 'Timeout', 'Error', 'Invalid', 'Aborted'], 'Failed'],
    [['Success', 'Success'], 'Success'],
    [['Success', 'Failed'], 'PartialFailed'],
    // rule order
    [['Pending', 'Running'], 'Pending'],
    [['Running', 'Pending', 'Scheduled'], 'Pending'],
    [['Scheduled', 'Running'], 'Scheduled'],
    [['Running', 'Stopping', 'Success'], 'Running'],
    [['Stopping', 'Success'], 'Stopping'],
    [['Cancelled', 'Stopping', 'Failed'], 'Stopping'],
    [['Cancelled', 'Terminated'], 'Stopped'],
    [['Cancelled', 'Failed'], 'Failed'],
    [['Terminated', 'Timeout'], 'Failed'],
    [['Success', 'Cancelled'], 'Success'],
    [['Terminated', 'Success', 'Cancelled'], 'Success'],
    [['Success', 'Timeout'], 'PartialFailed'],
    [['Cancelled', 'Success', 'Error'], 'PartialFailed'],
  ];
  for (const [nodes, expected] of cases) {
    void it(`${nodes.join('+')} → ${expected}`, () => {
      assert.equal(aggregateStatus(nodes), expected);
    });
  }

  void it('returns Pending for an empty list', () => {
    assert.equal(aggregateStatus([]), 'Pending');
  });

  void it('matches the rules restated by counting', () => {
    fc.assert(
      fc.property(nodeLists, (nodes) => {
        assert.equal(aggregateStatus(nodes), expectedAggregate(nodes));
      }),
      { numRuns: 2000 },
    );
  });

  void it('is PartialFailed exactly when all settled with both a success and a failure', () => {
    const failures: NodeStatus[] = ['Failed', 'Timeout', 'Error', 'Invalid', 'Aborted'];
    fc.assert(
      fc.property(nodeLists, (nodes) => {
        const partial =
          nodes.every(isFinalNodeStatus) &&
          nodes.includes('Success') &&
          nodes.some((n) => failures.includes(n));
        assert.equal(aggregateStatus(nodes) === 'PartialFailed', partial);
      }),
      { numRuns: 1000 },
    );
  });

  void it('does not depend on the order of the nodes', () => {
    const listAndPermutation = nodeLists.chain((nodes) =>
      fc
        .shuffledSubarray(nodes, { minLength: nodes.length, maxLength: nodes.length })
        .map((shuffled) => [nodes, shuffled] as const),
    );
    fc.assert(
      fc.property(listAndPermutation, ([nodes, shuffled]) => {
        assert.equal(aggregateStatus(shuffled), aggregateStatus(nodes));
      }),
      { numRuns: 1000 },
    );
  });

  void it('does not change when nodes are duplicated', () => {
    fc.assert(
      fc.property(
        nodeLists,
        fc.array(fc.nat(), { minLength: 1, maxLength: 10 }),
        (nodes, picks) => {
          const extra = picks.map((p) => nodes[p % nodes.length] as NodeStatus);
          assert.equal(aggregateStatus([...nodes, ...extra]), aggregateStatus(nodes));
        },
      ),
      { numRuns: 1000 },
    );
  });
});

void describe('legacy statuses', () => {
  void it('maps every aggregate status', () => {
    const expected: Record<AggregateStatus, LegacyStatus> = {
      Pending: 'Running',
      Scheduled: 'Running',
      Running: 'Running',
      Stopping: 'Stopping',
      Stopped: 'Stopped',
      Success: 'Finished',
      Failed: 'Failed',
      PartialFailed: 'PartialFailed',
    };
    for (const [agg, legacy] of Object.entries(expected) as [AggregateStatus, LegacyStatus][]) {
      assert.equal(legacyInvokeStatus(agg), legacy, agg);
    }
  });

  void it('maps every single node status', () => {
    const expected: Record<NodeStatus, LegacyStatus> = {
      Pending: 'Running',
      Scheduled: 'Running',
      Running: 'Running',
      Success: 'Finished',
      Failed: 'Failed',
      Timeout: 'Failed',
      Error: 'Failed',
      Invalid: 'Failed',
      Aborted: 'Failed',
      Cancelled: 'Stopped',
      Stopping: 'Stopping',
      Terminated: 'Stopped',
    };
    for (const s of NODE_STATUSES) assert.equal(nodeInvokeStatus(s), expected[s], s);
  });
});
