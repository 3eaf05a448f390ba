import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aheadSlot, FIRE_LEAD_MS, fireLeadMs } from '../../src/domain/schedule-plan.js';
import { parseFrequency } from '../../src/domain/frequency.js';
import { FIRE_AHEAD_JOB, fireRepeatStrategy } from '../../src/store/queues.js';

const T = Date.UTC(2026, 11, 6, 12, 0, 0);

void describe('fireLeadMs', () => {
  void it('is FIRE_LEAD_MS, or half the gap to the slot before when that is less', () => {
    assert.equal(fireLeadMs(T, undefined), FIRE_LEAD_MS);
    assert.equal(fireLeadMs(T, T - 10_000), FIRE_LEAD_MS);
    assert.equal(fireLeadMs(T, T - 1_000), 500);
    assert.equal(fireLeadMs(T, T - 2_000), 1_000);
  });
});

void describe('fireRepeatStrategy (the fireAhead jobs BullMQ makes)', () => {
  const cases: [string, string, number, number][] = [
    // [what, cron, from, the due time of the next job]
    ['every 10 s: 1.5 s ahead', '0/10 * * * * *', T, T + 10_000 - 1_500],
    [
      'every 10 s, taken at its due time: the next one',
      '0/10 * * * * *',
      T - 1_500,
      T + 10_000 - 1_500,
    ],
    ['every second: 0.5 s ahead, never before the slot before', '* * * * * *', T - 500, T + 500],
    ['every second, from a slot', '* * * * * *', T, T + 500],
    ['every minute', '0 * * * * *', T, T + 60_000 - 1_500],
  ];
  for (const [what, pattern, from, due] of cases) {
    void it(what, () => {
      assert.equal(fireRepeatStrategy(from, { pattern, tz: 'UTC' }, FIRE_AHEAD_JOB), due);
    });
  }
  void it("leaves other jobs to BullMQ's own", () => {
    assert.equal(
      fireRepeatStrategy(T, { pattern: '0/10 * * * * *', tz: 'UTC' }, 'fire'),
      T + 10_000,
    );
  });
  void it('each due time maps back to its slot (aheadSlot)', () => {
    for (const pattern of ['* * * * * *', '0/10 * * * * *', '*/3 * * * * *', '0 0 * * * *']) {
      const freq = parseFrequency(`${pattern} UTC`, { nowMs: T, minIntervalSeconds: 1 });
      let from = T;
      for (let i = 0; i < 5; i++) {
        const due = fireRepeatStrategy(from, { pattern, tz: 'UTC' }, FIRE_AHEAD_JOB);
        assert.ok(due !== undefined);
        const slot = aheadSlot({ freq, createdMs: 0, zone: undefined }, due);
        assert.ok(
          slot !== undefined && slot > due && slot - due <= FIRE_LEAD_MS,
          `${pattern} ${due}`,
        );
        from = due;
      }
    }
  });
});
