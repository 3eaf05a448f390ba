import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArmedRun, ArmedStatus } from '../../src/store/agent-store.js';
import { SlotReads } from '../../workers/agent/slot-reads.js';

/**
 * The reads an agent makes at the slot of its armed runs (workers/agent/slot-reads.ts), with the
 * store's read replaced by a recorder: which runs each read takes, and that none goes out before
 * its slot is past on the clock the agent is given. No durations are asserted.
 */

/** A SlotReads on Date.now whose reads answer `Armed` for every run, and the reads it made. */
function recorder(errorMs = 0) {
  const reads: { atMs: number; runs: string[] }[] = [];
  const slots = new SlotReads({
    waitMs: (slotMs) => slotMs - Date.now() + errorMs,
    read: (runs: readonly ArmedRun[]) => {
      reads.push({ atMs: Date.now(), runs: runs.map((r) => r.invokeId) });
      return Promise.resolve(runs.map((): ArmedStatus => 'Armed'));
    },
  });
  return { slots, reads };
}

const run = (invokeId: string): ArmedRun => ({ invokeId, nonce: `n-${invokeId}` });

void describe('SlotReads', () => {
  void it('reads every run due at the same slot in one read, once the slot is past', async () => {
    const { slots, reads } = recorder(2);
    const slotMs = Date.now() + 40;
    const statuses = await Promise.all(
      ['a', 'b', 'c'].map((id) => slots.statusAt(slotMs, run(id))),
    );
    assert.deepEqual(statuses, ['Armed', 'Armed', 'Armed']);
    assert.equal(reads.length, 1, 'one read for the slot');
    assert.deepEqual(reads[0]?.runs, ['a', 'b', 'c']);
    assert.ok((reads[0]?.atMs ?? 0) >= slotMs + 2, 'not before the slot plus the clock error');
  });

  void it('each run gets its own status, in the order of the read', async () => {
    const answers: ArmedStatus[] = ['Armed', 'Cancelled', 'Other'];
    const slots = new SlotReads({
      waitMs: () => 0,
      read: (runs) => Promise.resolve(runs.map((_, i) => answers[i] ?? 'Missing')),
    });
    const got = await Promise.all(['a', 'b', 'c'].map((id) => slots.statusAt(1000, run(id))));
    assert.deepEqual(got, answers);
  });

  void it('runs of different slots are read apart, each at its own slot', async () => {
    const { slots, reads } = recorder();
    const first = Date.now() + 20;
    const second = first + 30;
    await Promise.all([
      slots.statusAt(second, run('late')),
      slots.statusAt(first, run('early')),
      slots.statusAt(first, run('early2')),
    ]);
    assert.deepEqual(
      reads.map((r) => r.runs),
      [['early', 'early2'], ['late']],
    );
    assert.ok((reads[0]?.atMs ?? 0) >= first);
    assert.ok((reads[1]?.atMs ?? 0) >= second);
  });

  void it('a run armed for a slot whose read went out already has a read of its own', async () => {
    const { slots, reads } = recorder();
    const slotMs = Date.now() - 1;
    await slots.statusAt(slotMs, run('a'));
    await slots.statusAt(slotMs, run('b'));
    assert.deepEqual(
      reads.map((r) => r.runs),
      [['a'], ['b']],
    );
  });

  void it('a failed read fails every run that waited on it', async () => {
    const slots = new SlotReads({
      waitMs: () => 0,
      read: () => Promise.reject(new Error('redis away')),
    });
    const results = await Promise.allSettled([
      slots.statusAt(1000, run('a')),
      slots.statusAt(1000, run('b')),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
  });
});
