import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { NodeInfo } from '../../src/domain/node.js';
import { NODE_STATUSES } from '../../src/domain/status.js';
import {
  LOST_AFTER_OWN_HEARTBEATS,
  lostRunEnd,
  lostRunInfo,
  planNodeLost,
  upkeepEveryMs,
} from '../../src/domain/schedule-plan.js';

const NOW = Date.UTC(2026, 10, 28, 8, 0, 0);
const LOST_MS = 300_000;

function node(over: Partial<NodeInfo> = {}): NodeInfo {
  return {
    nodeId: 'n1',
    hostname: 'h',
    osType: 'linux',
    timeZone: 'UTC',
    agentVersion: '1',
    bootId: 'b',
    bootTimeMs: 0,
    registeredMs: NOW - 3_600_000,
    lastHeartbeatMs: NOW,
    heartbeatSeconds: 10,
    stoppedMs: undefined,
    invocationCount: 0,
    lastInvokedMs: undefined,
    ...over,
  };
}

void describe('planNodeLost', () => {
  const TABLE: [string, Partial<NodeInfo>, number | undefined][] = [
    ['heard just now', {}, undefined],
    ['silent one ms short of the deadline', { lastHeartbeatMs: NOW - LOST_MS + 1 }, undefined],
    ['silent exactly the deadline', { lastHeartbeatMs: NOW - LOST_MS }, 300],
    ['silent an hour', { lastHeartbeatMs: NOW - 3_600_000 }, 3600],
    [
      'stopped cleanly long ago (same rule)',
      { lastHeartbeatMs: NOW - 400_000, stoppedMs: NOW - 400_000 },
      400,
    ],
    [
      'no heartbeat: its registration counts',
      { lastHeartbeatMs: undefined, registeredMs: NOW - 301_000 },
      301,
    ],
    ['neither: never judged', { lastHeartbeatMs: undefined, registeredMs: undefined }, undefined],
    ['a heartbeat in the future: never judged', { lastHeartbeatMs: NOW + 1e12 }, undefined],
    [
      'a heartbeat before 1970: never judged',
      { lastHeartbeatMs: -8_640_000_000_000_001 },
      undefined,
    ],
    // Its own heartbeat of 200 s: lost only after 3 of them (600 s), not after 300 s.
    [
      'slow own heartbeat, 400 s',
      { heartbeatSeconds: 200, lastHeartbeatMs: NOW - 400_000 },
      undefined,
    ],
    ['slow own heartbeat, 600 s', { heartbeatSeconds: 200, lastHeartbeatMs: NOW - 600_000 }, 600],
  ];
  for (const [what, over, silent] of TABLE) {
    void it(what, () => {
      const lost = planNodeLost(node(over), NOW, LOST_MS);
      assert.equal(lost?.silentSeconds, silent);
      if (lost) assert.equal(lost.nodeId, 'n1');
    });
  }

  void it('property: lost exactly when silent for the deadline and 3 own heartbeats', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 1, max: 3_600 }),
        fc.integer({ min: 1, max: 100_000 }),
        (silentMs, heartbeatSeconds, lostSeconds) => {
          const info = node({ lastHeartbeatMs: NOW - silentMs, heartbeatSeconds });
          const lost = planNodeLost(info, NOW, lostSeconds * 1000);
          const due = Math.max(
            lostSeconds * 1000,
            heartbeatSeconds * 1000 * LOST_AFTER_OWN_HEARTBEATS,
          );
          assert.equal(lost !== undefined, silentMs >= due);
          if (lost) {
            assert.equal(lost.seenMs, NOW - silentMs);
            assert.equal(lost.silentSeconds, Math.floor(silentMs / 1000));
          }
        },
      ),
    );
  });

  void it('property: whatever a node wrote into its times, a decision and no throw', () => {
    const time = fc.option(fc.oneof(fc.double(), fc.integer()), { nil: undefined });
    fc.assert(
      fc.property(time, time, fc.double(), (lastHeartbeatMs, registeredMs, heartbeatSeconds) => {
        const lost = planNodeLost(
          node({ lastHeartbeatMs, registeredMs, heartbeatSeconds }),
          NOW,
          LOST_MS,
        );
        if (lost) {
          assert.ok(Number.isFinite(lost.seenMs) && lost.seenMs <= NOW - LOST_MS);
          assert.ok(Number.isSafeInteger(lost.silentSeconds) && lost.silentSeconds >= 300);
          assert.doesNotThrow(() => lostRunInfo(lost));
        }
      }),
    );
  });
});

void describe('lostRunEnd', () => {
  void it('Running -> Error, Stopping -> Terminated, anything else stays', () => {
    for (const st of NODE_STATUSES) {
      const want = st === 'Running' ? 'Error' : st === 'Stopping' ? 'Terminated' : undefined;
      assert.equal(lostRunEnd(st), want, st);
    }
    assert.equal(lostRunEnd('Missing'), undefined);
  });
});

void describe('lostRunInfo', () => {
  void it('names the node, its last heartbeat and how long ago, after the vendor text', () => {
    assert.equal(
      lostRunInfo({
        nodeId: 'n1',
        seenMs: Date.UTC(2026, 10, 28, 7, 54, 48, 123),
        silentSeconds: 312,
      }),
      'the aliyun service in the instance does not response: the agent on node n1 stopped ' +
        'responding (last heartbeat 2026-11-28T07:54:48Z, 312 s ago)',
    );
  });
});

void describe('upkeepEveryMs', () => {
  const TABLE: [number, number][] = [
    [300_000, 60_000],
    [180_000, 60_000],
    [90_000, 30_000],
    [5_000, 1_666],
    [3_000, 1_000],
    [1_000, 1_000],
  ];
  for (const [lostMs, want] of TABLE) {
    void it(`lost after ${lostMs} ms: every ${want} ms`, () => {
      assert.equal(upkeepEveryMs(60_000, lostMs), want);
    });
  }
});
