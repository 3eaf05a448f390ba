import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { FireReply } from '../../src/domain/run-replies.js';
import { nextFire, parseFrequency, type Frequency } from '../../src/domain/frequency.js';
import type { NodeInfo } from '../../src/domain/node.js';
import {
  bootTriggerOf,
  groupByZone,
  nodeScheduleZone,
  noneTimed,
  planAfterFire,
  planCatchUp,
  planFire,
  planNodeFire,
  planSchedule,
  planUpkeep,
  undeliveredCode,
  undeliveredNodes,
  type FirePlan,
  type FireTiming,
  type NodeFireAction,
} from '../../src/domain/schedule-plan.js';

const S = 1_000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const ms = (iso: string): number => Date.parse(iso);

/** As the scheduler parses a stored Frequency: as of 1970, no minimum interval. */
const freqOf = (text: string): Frequency =>
  parseFrequency(text, { nowMs: 0, minIntervalSeconds: 0 });

/**
 * What the fire module does with the two steps, BullMQ's recorded next job standing in for the
 * read it makes between them (and only when planFire asks for it).
 */
function plan(t: FireTiming, scheduledNextMs: number | undefined): FirePlan & { read: boolean } {
  const step = planFire(t);
  if (step.kind === 'plan') return { ...step.plan, read: false };
  assert.equal(step.scheduleKey, t.scheduleKey);
  return { ...planCatchUp(t, step.ownNextMs, scheduledNextMs), read: true };
}

const timing = (
  freq: Frequency,
  dueMs: number,
  nowMs: number,
  extra: Partial<FireTiming> = {},
): FireTiming => ({
  freq,
  createdMs: 0,
  zone: undefined,
  dueMs,
  nowMs,
  scheduleKey: 's-inv-0',
  ...extra,
});

void describe('planFire: which slot a fire job fires', () => {
  const hourly = freqOf('rate(1h)');
  const rows: {
    name: string;
    t: FireTiming;
    scheduledNextMs: number | undefined;
    want: Partial<FirePlan> & { read: boolean };
  }[] = [
    {
      name: 'on time: its own slot, BullMQ not asked',
      t: timing(hourly, 3 * HOUR, 3 * HOUR + MIN),
      scheduledNextMs: undefined,
      want: { fireMs: 3 * HOUR, passedOver: false, final: false, fansOut: true, read: false },
    },
    {
      name: 'taken just before the next slot: still its own',
      t: timing(hourly, 3 * HOUR, 4 * HOUR - 1),
      scheduledNextMs: undefined,
      want: { fireMs: 3 * HOUR, passedOver: false, read: false },
    },
    {
      name: 'late, BullMQ next job after now: the latest due slot, own one passed over',
      t: timing(hourly, 3 * HOUR, 5 * HOUR + 30 * MIN),
      scheduledNextMs: 6 * HOUR,
      want: { fireMs: 5 * HOUR, passedOver: true, final: false, read: true },
    },
    {
      name: 'late, a later slot has its own job: only slots before that job',
      t: timing(hourly, 3 * HOUR, 5 * HOUR + 30 * MIN),
      scheduledNextMs: 5 * HOUR,
      want: { fireMs: 4 * HOUR, passedOver: true, read: true },
    },
    {
      name: 'late, BullMQ made the very next slot a job: its own slot (nothing to catch up)',
      t: timing(hourly, 3 * HOUR, 5 * HOUR + 30 * MIN),
      scheduledNextMs: 4 * HOUR,
      want: { fireMs: 3 * HOUR, passedOver: false, read: true },
    },
    {
      name: 'late, the schedule gone from BullMQ: every slot up to now',
      t: timing(hourly, 3 * HOUR, 7 * HOUR + 1),
      scheduledNextMs: undefined,
      want: { fireMs: 7 * HOUR, passedOver: true, read: true },
    },
    {
      name: 'late, a recorded next job not after this one (stale record): up to now',
      t: timing(hourly, 3 * HOUR, 6 * HOUR),
      scheduledNextMs: 3 * HOUR,
      want: { fireMs: 6 * HOUR, passedOver: true, read: true },
    },
    {
      name: 'late but without a job scheduler: its own slot',
      t: timing(hourly, 3 * HOUR, 9 * HOUR, { scheduleKey: undefined }),
      scheduledNextMs: undefined,
      want: { fireMs: 3 * HOUR, passedOver: false, read: false },
    },
    {
      name: 'an at(): its one slot, however late, and the last',
      t: timing(freqOf('at(2030-01-01 00:00:00)'), ms('2030-01-01T00:00:00Z'), ms('2031-01-01')),
      scheduledNextMs: undefined,
      want: { fireMs: ms('2030-01-01T00:00:00Z'), passedOver: false, final: true, read: false },
    },
    {
      name: 'the last slot of a year-bounded cron ends the schedule',
      t: timing(
        freqOf('0 0 12 * * * 2030'),
        ms('2030-12-31T12:00:00Z'),
        ms('2030-12-31T12:00:05Z'),
      ),
      scheduledNextMs: undefined,
      want: { fireMs: ms('2030-12-31T12:00:00Z'), final: true, fansOut: true, read: false },
    },
    {
      name: 'a late cron job catches up on the latest daily slot',
      t: timing(freqOf('0 0 12 * * *'), ms('2030-03-01T12:00:00Z'), ms('2030-03-04T13:00:00Z')),
      scheduledNextMs: ms('2030-03-05T12:00:00Z'),
      want: { fireMs: ms('2030-03-04T12:00:00Z'), passedOver: true, read: true },
    },
    {
      name: 'a cron in its node zone: slots by that zone',
      t: timing(freqOf('0 0 12 * * *'), ms('2030-03-01T03:00:00Z'), ms('2030-03-03T04:00:00Z'), {
        zone: 'Asia/Tokyo',
      }),
      scheduledNextMs: ms('2030-03-04T03:00:00Z'),
      want: { fireMs: ms('2030-03-03T03:00:00Z'), passedOver: true, read: true },
    },
    {
      name: 'a cron slot outside its allowed years does not fan out',
      t: timing(
        freqOf('0 0 12 * * * 2031'),
        ms('2030-06-01T12:00:00Z'),
        ms('2030-06-01T12:01:00Z'),
      ),
      scheduledNextMs: undefined,
      want: { fireMs: ms('2030-06-01T12:00:00Z'), fansOut: false, final: false, read: false },
    },
    {
      // BullMQ knows no years: its jobs in an excluded year are no slots of the schedule, so a
      // late one passes over nothing (no node counts it as skipped) when it catches up.
      name: 'a late job for a slot in an excluded year catches up without passing over a slot',
      t: timing(
        freqOf('0 0 12 * * * 2030,2032'),
        ms('2031-12-31T12:00:00Z'),
        ms('2032-01-01T12:30:00Z'),
      ),
      scheduledNextMs: ms('2032-01-02T12:00:00Z'),
      want: { fireMs: ms('2032-01-01T12:00:00Z'), passedOver: false, fansOut: true, read: true },
    },
  ];
  for (const row of rows) {
    void it(row.name, () => {
      const got = plan(row.t, row.scheduledNextMs);
      const picked = Object.fromEntries(
        Object.keys(row.want).map((k) => [k, got[k as keyof typeof got]]),
      );
      assert.deepEqual(picked, row.want);
    });
  }

  void it('a rate slot counts from creation: createdMs + k·period, k ≥ 1', () => {
    const t = timing(freqOf('rate(10m)'), 7 * MIN + 20 * MIN, 7 * MIN + 45 * MIN, {
      createdMs: 7 * MIN,
    });
    assert.deepEqual(plan(t, undefined), {
      fireMs: 7 * MIN + 40 * MIN,
      passedOver: true,
      final: false,
      fansOut: true,
      read: true,
    });
  });
});

/** A rate schedule's slots, as fast-check draws them (times well inside safe integers). */
const rateCase = fc
  .record({
    createdMs: fc.integer({ min: 0, max: 10 * 365 * DAY }),
    everyS: fc.integer({ min: 1, max: 7 * 24 * 3600 }),
    k: fc.integer({ min: 1, max: 10_000 }),
    lateSlots: fc.integer({ min: 0, max: 50 }),
    lateExtra: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    nextOffset: fc.option(fc.integer({ min: -3, max: 60 }), { nil: undefined }),
  })
  .map((c) => {
    const everyMs = c.everyS * S;
    const dueMs = c.createdMs + c.k * everyMs;
    const nowMs = dueMs + c.lateSlots * everyMs + Math.floor(c.lateExtra * everyMs);
    // BullMQ's recorded next job: some slot near the due one (or none at all).
    const scheduledNextMs = c.nextOffset === undefined ? undefined : dueMs + c.nextOffset * everyMs;
    return { ...c, everyMs, dueMs, nowMs, scheduledNextMs };
  });

type RateCase = typeof rateCase extends fc.Arbitrary<infer C> ? C : never;

/** The fire job of a drawn rate case, planned at `nowMs` (the case's own by default). */
const rateTiming = (c: RateCase, nowMs = c.nowMs): FireTiming =>
  timing(freqOf(`rate(${c.everyS}s)`), c.dueMs, nowMs, { createdMs: c.createdMs });

const isRateSlot = (ms: number, createdMs: number, everyMs: number): boolean =>
  ms > createdMs && (ms - createdMs) % everyMs === 0;

void describe('planFire properties (rate)', () => {
  void it('fires a slot of the schedule, not before its own, never after now or the recorded next job', () => {
    fc.assert(
      fc.property(rateCase, (c) => {
        const p = plan(rateTiming(c), c.scheduledNextMs);
        assert.ok(isRateSlot(p.fireMs, c.createdMs, c.everyMs), `${p.fireMs} is a slot`);
        assert.ok(p.fireMs >= c.dueMs && p.fireMs <= c.nowMs);
        if (c.scheduledNextMs !== undefined && c.scheduledNextMs > c.dueMs && p.passedOver) {
          assert.ok(p.fireMs < c.scheduledNextMs, 'a slot with a job of its own is left to it');
        }
        assert.equal(p.passedOver, p.fireMs !== c.dueMs);
        assert.equal(p.final, false);
        assert.equal(p.fansOut, true);
      }),
      { numRuns: 300 },
    );
  });

  void it('on time it fires its own slot; late with a scheduler it fires the latest slot it may', () => {
    fc.assert(
      fc.property(rateCase, (c) => {
        const p = plan(rateTiming(c), c.scheduledNextMs);
        const late = c.nowMs >= c.dueMs + c.everyMs;
        assert.equal(p.read, late, 'BullMQ is read only for a late job');
        if (!late) return assert.equal(p.fireMs, c.dueMs);
        const bound =
          c.scheduledNextMs !== undefined && c.scheduledNextMs > c.dueMs
            ? Math.min(c.scheduledNextMs - 1, c.nowMs)
            : c.nowMs;
        // No slot of the schedule lies after the fired one and within the bound (no skipping
        // over a due slot), and the fired one is within it unless none is.
        assert.ok(p.fireMs + c.everyMs > bound, 'the latest due slot');
        if (p.fireMs !== c.dueMs) assert.ok(p.fireMs <= bound);
      }),
      { numRuns: 300 },
    );
  });

  void it('a fire job that is never late never reads BullMQ and never passes over', () => {
    fc.assert(
      fc.property(rateCase, fc.integer({ min: 0, max: 10 }), (c, noise) => {
        const nowMs = Math.min(c.dueMs + noise, c.dueMs + c.everyMs - 1);
        const p = plan(rateTiming(c, nowMs), c.scheduledNextMs);
        assert.deepEqual([p.fireMs, p.passedOver, p.read], [c.dueMs, false, false]);
      }),
      { numRuns: 200 },
    );
  });
});

/**
 * BullMQ as the scheduler sees it: a job scheduler whose next job, made when the current one
 * is handed out at `takenMs`, is due at the first slot after that moment; each job is taken
 * some time after it is due and planned some time after that (retries included).
 */
void describe('planFire over a simulated schedule', () => {
  const schedules = ['rate(1m)', 'rate(7s)', '0 */5 * * * *', '0 0 */3 * * *', '30 15 10 * * *'];

  void it('fires each slot at most once, in order, one run per job: no back-fill', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...schedules),
        fc.integer({ min: 0, max: 1_000 * DAY }),
        fc.array(
          fc.record({
            takenAfterMs: fc.oneof(
              fc.integer({ min: 0, max: 2 * MIN }),
              fc.integer({ min: 0, max: 3 * DAY }),
            ),
            plannedAfterMs: fc.integer({ min: 0, max: 5 * MIN }),
            retries: fc.integer({ min: 0, max: 2 }),
            retryAfterMs: fc.integer({ min: 0, max: HOUR }),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        (text, startMs, jobs) => {
          const freq = freqOf(text);
          const opts = { createdMs: startMs };
          let dueMs = nextFire(freq, startMs, opts) as number;
          const fired: number[] = [];
          for (const j of jobs) {
            const takenMs = dueMs + j.takenAfterMs;
            const scheduledNextMs = nextFire(freq, takenMs, opts);
            let previous: number | undefined;
            for (let attempt = 0; attempt <= j.retries; attempt++) {
              const nowMs = takenMs + j.plannedAfterMs + attempt * j.retryAfterMs;
              const t = timing(freq, dueMs, nowMs, { createdMs: startMs });
              const p = plan(t, scheduledNextMs);
              assert.ok(p.fireMs >= dueMs && p.fireMs <= nowMs);
              // A retried job picks the same slot (its nodes then find it taken).
              if (previous !== undefined) assert.equal(p.fireMs, previous, 'retry, same slot');
              previous = p.fireMs;
            }
            fired.push(previous as number);
            if (scheduledNextMs === undefined) break;
            dueMs = scheduledNextMs;
          }
          for (let i = 1; i < fired.length; i++) {
            assert.ok(
              (fired[i] as number) > (fired[i - 1] as number),
              `slot ${fired[i]} fired twice or out of order`,
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  void it('a late cron job fires a slot of the cron, the latest before the recorded next job', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...schedules.filter((s) => !s.startsWith('rate'))),
        fc.integer({ min: 0, max: 1_000 * DAY }),
        fc.integer({ min: 0, max: 5 * DAY }),
        fc.integer({ min: 0, max: 5 * DAY }),
        (text, startMs, lateMs, handOutLagMs) => {
          const freq = freqOf(text);
          const dueMs = nextFire(freq, startMs, {}) as number;
          const nowMs = dueMs + lateMs;
          const scheduledNextMs = nextFire(freq, dueMs + Math.min(handOutLagMs, lateMs), {});
          const p = plan(timing(freq, dueMs, nowMs), scheduledNextMs);
          assert.equal(nextFire(freq, p.fireMs - 1, {}), p.fireMs, 'a slot of the cron');
          const bound = Math.min((scheduledNextMs as number) - 1, nowMs);
          assert.ok(p.fireMs <= Math.max(bound, dueMs));
          assert.ok((nextFire(freq, p.fireMs, {}) as number) > bound, 'no later due slot left');
        },
      ),
      { numRuns: 150 },
    );
  });
});

void describe('planNodeFire: what a fire does per node state', () => {
  const none = {
    enqueueFire: undefined,
    fired: false,
    ended: false,
    skipped: undefined,
    countedPassedOver: false,
  };
  const rows: [reply: FireReply, want: NodeFireAction][] = [
    [{ outcome: 'Fired' }, { ...none, enqueueFire: 'f9', fired: true }],
    [{ outcome: 'Already' }, { ...none, enqueueFire: 'f9' }],
    [
      { outcome: 'Waiting', olderFire: 'f3' },
      { ...none, enqueueFire: 'f3', skipped: 'run pending' },
    ],
    [{ outcome: 'Skipped' }, { ...none, skipped: 'node busy' }],
    [{ outcome: 'Ended' }, { ...none, ended: true }],
    [{ outcome: 'Missing' }, { ...none, ended: true }],
    [{ outcome: 'Stale' }, none],
    // The record counted the fire job's own, passed-over slot as skipped in this call.
    [
      { outcome: 'Fired', countedPassedOver: true },
      { ...none, enqueueFire: 'f9', fired: true, countedPassedOver: true },
    ],
    [
      { outcome: 'Waiting', olderFire: 'f3', countedPassedOver: true },
      { ...none, enqueueFire: 'f3', skipped: 'run pending', countedPassedOver: true },
    ],
    [
      { outcome: 'Skipped', countedPassedOver: true },
      { ...none, skipped: 'node busy', countedPassedOver: true },
    ],
  ];
  for (const [reply, want] of rows) {
    void it(JSON.stringify(reply), () => {
      assert.deepEqual(planNodeFire(reply, 'f9'), want);
    });
  }

  const replies: fc.Arbitrary<FireReply> = fc.oneof(
    fc
      .constantFrom('Fired', 'Already', 'Skipped', 'Ended', 'Stale', 'Missing' as const)
      .map((outcome) => ({ outcome }) as FireReply),
    fc.string().map((olderFire) => ({ outcome: 'Waiting' as const, olderFire })),
  );

  void it('only a taken fire counts as fired, and an ended node never gets a job', () => {
    fc.assert(
      fc.property(replies, (reply) => {
        const a = planNodeFire(reply, 'f1');
        assert.equal(a.fired, reply.outcome === 'Fired');
        if (a.fired) assert.equal(a.enqueueFire, 'f1');
        if (a.ended) assert.equal(a.enqueueFire, undefined);
        assert.equal(
          a.enqueueFire !== undefined,
          ['Fired', 'Already', 'Waiting'].includes(reply.outcome),
        );
      }),
      { numRuns: 200 },
    );
  });
});

void describe('planAfterFire', () => {
  const base: FirePlan = { fireMs: 1, passedOver: false, final: false, fansOut: true };
  const action = (outcome: FireReply['outcome'], countedPassedOver = false) =>
    planNodeFire(
      outcome === 'Waiting'
        ? { outcome, olderFire: 'f0', ...(countedPassedOver ? { countedPassedOver } : {}) }
        : { outcome, ...(countedPassedOver ? { countedPassedOver } : {}) },
      'f1',
    );

  void it('table', () => {
    assert.deepEqual(planAfterFire(base, [action('Fired'), action('Ended')], 2), {
      observeLag: true,
      endSchedule: false,
      passedOverNodes: 0,
    });
    assert.deepEqual(planAfterFire(base, [action('Ended'), action('Missing')], 2), {
      observeLag: false,
      endSchedule: true,
      passedOverNodes: 0,
    });
    assert.deepEqual(planAfterFire(base, [action('Already')], 1), {
      observeLag: false,
      endSchedule: false,
      passedOverNodes: 0,
    });
    assert.deepEqual(planAfterFire({ ...base, final: true }, [action('Fired')], 1), {
      observeLag: true,
      endSchedule: true,
      passedOverNodes: 0,
    });
    // Not fanned out (a slot outside the allowed years): no node counts as ended.
    assert.deepEqual(planAfterFire(base, undefined, 0), {
      observeLag: false,
      endSchedule: false,
      passedOverNodes: 0,
    });
    assert.deepEqual(planAfterFire(base, [], 0), {
      observeLag: false,
      endSchedule: true,
      passedOverNodes: 0,
    });
    // A catch-up: the passed-over slot is logged with the nodes that counted it in this
    // attempt; a retry that finds it counted everywhere ('Already') has none to log.
    const late = { ...base, passedOver: true };
    assert.deepEqual(
      planAfterFire(late, [action('Fired', true), action('Skipped', true), action('Stale')], 3),
      { observeLag: true, endSchedule: false, passedOverNodes: 2 },
    );
    assert.deepEqual(planAfterFire(late, [action('Already'), action('Already')], 2), {
      observeLag: false,
      endSchedule: false,
      passedOverNodes: 0,
    });
  });

  void it('ends the schedule exactly when it was the last fire or every node ended', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(
          fc.tuple(
            fc.constantFrom('Fired', 'Already', 'Waiting', 'Skipped', 'Ended', 'Missing', 'Stale'),
            fc.boolean(),
          ),
        ),
        (final, results) => {
          // Only an outcome that moves the record on can count the passed-over slot.
          const counts = (r: string, c: boolean) =>
            c && ['Fired', 'Waiting', 'Skipped'].includes(r);
          const actions = results.map(([r, c]) => action(r as FireReply['outcome'], counts(r, c)));
          const after = planAfterFire({ ...base, final }, actions, results.length);
          const allEnded = results.every(([r]) => r === 'Ended' || r === 'Missing');
          assert.equal(after.endSchedule, final || allEnded);
          assert.equal(
            after.observeLag,
            results.some(([r]) => r === 'Fired'),
          );
          assert.equal(after.passedOverNodes, results.filter(([r, c]) => counts(r, c)).length);
        },
      ),
      { numRuns: 200 },
    );
  });
});

void describe('planSchedule: how a schedule group is (re-)created', () => {
  void it('table', () => {
    const at = freqOf('at(2030-01-01 00:00:00)');
    assert.deepEqual(
      planSchedule({ freq: at, createdMs: 0, zone: undefined }, ms('2029-12-31T23:00:00Z')),
      {
        kind: 'once',
        fireMs: ms('2030-01-01T00:00:00Z'),
        delayMs: HOUR,
      },
    );
    assert.deepEqual(
      planSchedule({ freq: freqOf('rate(1h)'), createdMs: 10, zone: undefined }, 2 * HOUR),
      {
        kind: 'repeat',
        repeat: { every: HOUR, startDate: 10 + 2 * HOUR },
      },
    );
    assert.deepEqual(
      planSchedule({ freq: freqOf('0 0 12 * * *'), createdMs: 0, zone: 'Asia/Tokyo' }, 0),
      {
        kind: 'repeat',
        repeat: { pattern: '0 0 12 * * *', tz: 'Asia/Tokyo' },
      },
    );
    assert.deepEqual(
      planSchedule({ freq: freqOf('0 0 12 * * *'), createdMs: 0, zone: undefined }, 0),
      {
        kind: 'repeat',
        repeat: { pattern: '0 0 12 * * *', tz: 'UTC' },
      },
    );
    const bounded = planSchedule(
      { freq: freqOf('0 0 12 * * * 2031'), createdMs: 0, zone: undefined },
      ms('2030-06-01T00:00:00Z'),
    );
    assert.deepEqual(bounded, {
      kind: 'repeat',
      repeat: {
        pattern: '0 0 12 * * *',
        tz: 'UTC',
        startDate: ms('2031-01-01T00:00:00Z') - 1,
        endDate: ms('2032-01-01T00:00:00Z'),
      },
    });
    assert.deepEqual(
      planSchedule(
        { freq: freqOf('0 0 12 * * * 2030'), createdMs: 0, zone: undefined },
        ms('2031-01-01'),
      ),
      { kind: 'over' },
    );
  });

  void it('a rate schedule starts at its first slot after now', () => {
    fc.assert(
      fc.property(rateCase, (c) => {
        const p = planSchedule(
          { freq: freqOf(`rate(${c.everyS}s)`), createdMs: c.createdMs, zone: undefined },
          c.nowMs,
        );
        assert.equal(p.kind, 'repeat');
        if (p.kind !== 'repeat' || !('every' in p.repeat)) return;
        assert.ok(isRateSlot(p.repeat.startDate, c.createdMs, c.everyMs));
        assert.ok(
          p.repeat.startDate > c.nowMs &&
            p.repeat.startDate - c.everyMs <= Math.max(c.nowMs, c.createdMs),
        );
      }),
      { numRuns: 200 },
    );
  });
});

void describe('node and run state decisions', () => {
  void it('noneTimed: every record not timed or gone', () => {
    const runs = new Map([
      ['a', { timed: true }],
      ['b', { timed: false }],
    ]);
    assert.equal(noneTimed(['a', 'b'], runs), false);
    assert.equal(noneTimed(['b', 'c'], runs), true);
    assert.equal(noneTimed([], runs), true);
  });

  void it('undeliveredNodes: no record, or still Pending for this fire', () => {
    const runs = new Map([
      ['pending', { status: 'Pending' as const, fire: 'f1' }],
      ['older', { status: 'Pending' as const, fire: 'f0' }],
      ['running', { status: 'Running' as const, fire: 'f1' }],
    ]);
    assert.deepEqual(undeliveredNodes(['pending', 'older', 'running', 'gone'], runs, 'f1'), [
      'pending',
      'gone',
    ]);
  });

  void it('undeliveredNodes keeps order and only picks from the given nodes', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 20 }),
        fc.func(fc.constantFrom(undefined, 'Pending', 'Running', 'Success')),
        fc.func(fc.constantFrom('', 'f1', 'f2')),
        (nodeIds, statusOf, fireOf) => {
          const runs = new Map<
            string,
            { status: 'Pending' | 'Running' | 'Success'; fire: string }
          >();
          for (const id of nodeIds) {
            const status = statusOf(id);
            if (status !== undefined) runs.set(id, { status, fire: fireOf(id) });
          }
          const late = undeliveredNodes(nodeIds, runs, 'f1');
          assert.deepEqual(
            late,
            nodeIds.filter((id) => late.includes(id)),
          );
          for (const id of nodeIds) {
            const r = runs.get(id);
            assert.equal(
              late.includes(id),
              r === undefined || (r.status === 'Pending' && r.fire === 'f1'),
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  void it('undeliveredCode: DeliveryTimeout only for a node whose agent is up', () => {
    const info = (over: Partial<NodeInfo>): NodeInfo => ({
      nodeId: 'n',
      hostname: 'h',
      osType: 'linux',
      timeZone: '',
      agentVersion: '1',
      bootId: 'b',
      bootTimeMs: undefined,
      registeredMs: 0,
      lastHeartbeatMs: 100_000,
      heartbeatSeconds: 10,
      stoppedMs: undefined,
      invocationCount: 0,
      lastInvokedMs: undefined,
      ...over,
    });
    assert.equal(undeliveredCode(info({}), 110_000), 'DeliveryTimeout');
    assert.equal(undeliveredCode(info({}), 200_000), 'ClientNotRunning');
    assert.equal(undeliveredCode(info({ stoppedMs: 1 }), 100_000), 'ClientNotRunning');
    assert.equal(undeliveredCode(undefined, 0), 'ClientNotRunning');
  });
});

void describe('schedule groups and boot triggers', () => {
  void it('nodeScheduleZone: UTC for none, normalised when known, undefined when unknown', () => {
    assert.equal(nodeScheduleZone(''), 'UTC');
    assert.equal(nodeScheduleZone('Asia/Tokyo'), 'Asia/Tokyo');
    assert.equal(nodeScheduleZone('Mars/Olympus'), undefined);
  });

  void it('groupByZone: one group per zone, zones in order, every node once in its order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 30 }),
        fc.func(fc.constantFrom('UTC', 'Asia/Tokyo', 'Europe/Berlin', 'UTC+8:00')),
        (nodeIds, zoneOf) => {
          const groups = groupByZone(nodeIds.map((id) => [id, zoneOf(id)] as const));
          const zones = groups.map((g) => g.zone);
          assert.deepEqual(zones, [...new Set(zones)].sort());
          assert.deepEqual(groups.flatMap((g) => g.nodeIds).sort(), [...nodeIds].sort());
          for (const g of groups) {
            assert.deepEqual(
              g.nodeIds,
              nodeIds.filter((id) => zoneOf(id) === g.zone),
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  void it('bootTriggerOf', () => {
    assert.deepEqual(bootTriggerOf('NextRebootOnly'), { final: true });
    assert.deepEqual(bootTriggerOf('EveryReboot'), { final: false });
    assert.equal(bootTriggerOf('Period'), undefined);
    assert.equal(bootTriggerOf('Once'), undefined);
  });
});

void describe('planUpkeep', () => {
  const grace = MIN;
  const rows: [string, { dispatchedMs?: number; stoppedMs?: number }, number, string][] = [
    ['a stop cut short is finished, dispatched or not', { stoppedMs: 5 }, 0, 'finishStop'],
    ['a stop wins over a dispatch', { dispatchedMs: 1, stoppedMs: 5 }, 0, 'finishStop'],
    ['young and not dispatched: left to its job', {}, grace, 'waitDispatch'],
    ['not dispatched a minute on: dispatched here', {}, grace + 1, 'dispatch'],
    ['dispatched: checked', { dispatchedMs: 1 }, 10 * grace, 'check'],
  ];
  for (const [name, progress, ageMs, want] of rows) {
    void it(name, () => assert.equal(planUpkeep(progress, 1_000, 1_000 + ageMs, grace), want));
  }
});
