import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { getNextMillis } from 'bullmq';
import fc from 'fast-check';
import {
  FrequencyError,
  cronWindow,
  latestFire,
  nextFire,
  nextFires,
  normalizeZone,
  parseFrequency,
  yearAllowed,
} from '../../src/domain/frequency.js';
import type { Frequency, ParseOptions } from '../../src/domain/frequency.js';

type Cron = Extract<Frequency, { kind: 'cron' }>;

const NOW = '2026-01-01T00:00:00Z'; // a Thursday
const ms = (iso: string): number => {
  const t = Date.parse(iso);
  assert.ok(Number.isFinite(t), iso);
  return t;
};
const iso = (t: number): string => new Date(t).toISOString().replace('.000Z', 'Z');
const opts = (now = NOW, minIntervalSeconds = 0): ParseOptions => ({
  nowMs: ms(now),
  minIntervalSeconds,
});

function cron(text: string, now = NOW): Cron {
  const f = parseFrequency(text, opts(now));
  assert.equal(f.kind, 'cron');
  return f as Cron;
}

function previews(text: string, now: string, count: number, zone?: string): string[] {
  return nextFires(cron(text, now), ms(now), count, zone === undefined ? {} : { zone }).map(iso);
}

void describe('parseFrequency: cron next fires', () => {
  // [expression, now, expected fires (more are asked for when the schedule ends), node zone]
  const cases: [string, string, string[], string?][] = [
    [
      '0 */20 * * * *',
      NOW,
      ['2026-01-01T00:20:00Z', '2026-01-01T00:40:00Z', '2026-01-01T01:00:00Z'],
    ],
    [
      '0 0 12 ? * MON',
      NOW,
      ['2026-01-05T12:00:00Z', '2026-01-12T12:00:00Z', '2026-01-19T12:00:00Z'],
    ],
    ['0 0 0 L * *', NOW, ['2026-01-31T00:00:00Z', '2026-02-28T00:00:00Z', '2026-03-31T00:00:00Z']],
    ['0 0 0 L 2 *', '2027-06-01T00:00:00Z', ['2028-02-29T00:00:00Z', '2029-02-28T00:00:00Z']],
    ['30 15 10 L * ?', NOW, ['2026-01-31T10:15:30Z', '2026-02-28T10:15:30Z']],
    [
      '0 0 0 * * 5#2',
      NOW,
      ['2026-01-09T00:00:00Z', '2026-02-13T00:00:00Z', '2026-03-13T00:00:00Z'],
    ],
    ['0 0 0 * * 5#5', NOW, ['2026-01-30T00:00:00Z', '2026-05-29T00:00:00Z']],
    ['0 0 0 * * MON#2', NOW, ['2026-01-12T00:00:00Z', '2026-02-09T00:00:00Z']],
    ['0 0 0 * * 5L', NOW, ['2026-01-30T00:00:00Z', '2026-02-27T00:00:00Z', '2026-03-27T00:00:00Z']],
    ['0 0 0 * * 7L', NOW, ['2026-01-25T00:00:00Z', '2026-02-22T00:00:00Z', '2026-03-29T00:00:00Z']],
    // 0, 7 and SUN are all Sunday
    ['0 0 0 * * 0', NOW, ['2026-01-04T00:00:00Z', '2026-01-11T00:00:00Z']],
    ['0 0 0 * * 7', NOW, ['2026-01-04T00:00:00Z', '2026-01-11T00:00:00Z']],
    ['0 0 0 * * SUN', NOW, ['2026-01-04T00:00:00Z', '2026-01-11T00:00:00Z']],
    ['0 0 9 * FEB-MAR MON-FRI', NOW, ['2026-02-02T09:00:00Z', '2026-02-03T09:00:00Z']],
    ['0 0 0 1 jan,jul *', NOW, ['2026-07-01T00:00:00Z', '2027-01-01T00:00:00Z']],
    [
      '15-45/15 0 8-10/2 * * *',
      NOW,
      [
        '2026-01-01T08:00:15Z',
        '2026-01-01T08:00:30Z',
        '2026-01-01T08:00:45Z',
        '2026-01-01T10:00:15Z',
      ],
    ],
    [
      '0 30 6 1,15 * *',
      NOW,
      ['2026-01-01T06:30:00Z', '2026-01-15T06:30:00Z', '2026-02-01T06:30:00Z'],
    ],
    ['0 0 8 ? * MON-FRI', '2026-01-02T09:00:00Z', ['2026-01-05T08:00:00Z', '2026-01-06T08:00:00Z']],
    // Day of month and day of week both restricted: either one matching is enough (Vixie cron,
    // and cron-parser), not both.
    [
      '0 0 0 13 * FRI',
      NOW,
      [
        '2026-01-02T00:00:00Z',
        '2026-01-09T00:00:00Z',
        '2026-01-13T00:00:00Z',
        '2026-01-16T00:00:00Z',
      ],
    ],
    // years
    ['0 0 0 1 * * 2027', NOW, ['2027-01-01T00:00:00Z', '2027-02-01T00:00:00Z']],
    [
      '0 0 0 1 1 * 2027-2029',
      NOW,
      ['2027-01-01T00:00:00Z', '2028-01-01T00:00:00Z', '2029-01-01T00:00:00Z'],
    ],
    // "after" is exclusive, so 2026-01-01T00:00 itself is not a fire.
    ['0 0 0 1 1 * 2026,2030,2028', NOW, ['2028-01-01T00:00:00Z', '2030-01-01T00:00:00Z']],
    ['0 0 0 1 1 * */2', NOW, ['2028-01-01T00:00:00Z', '2030-01-01T00:00:00Z']],
    [
      '0 0 12 1 7 * 2027-2031/2',
      NOW,
      ['2027-07-01T12:00:00Z', '2029-07-01T12:00:00Z', '2031-07-01T12:00:00Z'],
    ],
    [
      '0 0 0 1 1 * 2095/2',
      NOW,
      ['2095-01-01T00:00:00Z', '2097-01-01T00:00:00Z', '2099-01-01T00:00:00Z'],
    ],
    [
      '0 0 0 29 2 * 2028-2036',
      NOW,
      ['2028-02-29T00:00:00Z', '2032-02-29T00:00:00Z', '2036-02-29T00:00:00Z'],
    ],
    // zones in the expression
    ['0 0 9 * * * Asia/Tokyo', NOW, ['2026-01-02T00:00:00Z', '2026-01-03T00:00:00Z']],
    ['0 0 9 * * * UTC', NOW, ['2026-01-01T09:00:00Z']],
    ['0 0 9 * * * GMT', NOW, ['2026-01-01T09:00:00Z']],
    ['0 0 9 * * * GMT+8:00', NOW, ['2026-01-01T01:00:00Z', '2026-01-02T01:00:00Z']],
    ['0 0 9 * * * GMT-5', NOW, ['2026-01-01T14:00:00Z']],
    ['0 0 9 * * * UTC+05:30', NOW, ['2026-01-01T03:30:00Z']],
    ['0 0 9 * * * Europe/Berlin', '2026-06-01T00:00:00Z', ['2026-06-01T07:00:00Z']],
    ['0 0 0 1 1 * 2027 America/New_York', NOW, ['2027-01-01T05:00:00Z']],
    // The year is the local one: 2027 starts in Tokyo while UTC is still in 2026.
    ['0 0 0 1 1 * 2027 Asia/Tokyo', NOW, ['2026-12-31T15:00:00Z']],
    // no zone in the expression: the node's zone, else UTC; the expression's zone wins
    ['0 0 9 * * *', NOW, ['2026-01-01T09:00:00Z']],
    ['0 0 9 * * *', NOW, ['2026-01-01T08:00:00Z'], 'Europe/Berlin'],
    ['0 0 9 * * *', NOW, ['2026-01-01T01:00:00Z'], 'GMT+8:00'],
    ['0 0 9 * * * UTC', NOW, ['2026-01-01T09:00:00Z'], 'Asia/Tokyo'],
    ['0 0 0 1 1 * 2027', NOW, ['2026-12-31T15:00:00Z'], 'Asia/Tokyo'],
  ];
  for (const [expr, now, want, zone] of cases) {
    void it(`${expr} from ${now}${zone ? ` on a node in ${zone}` : ''}`, () => {
      assert.deepEqual(previews(expr, now, want.length + 1, zone).slice(0, want.length), want);
    });
  }

  void it('stops when the allowed years run out', () => {
    assert.deepEqual(previews('0 0 0 1 1 * 2027-2029', NOW, 10), [
      '2027-01-01T00:00:00Z',
      '2028-01-01T00:00:00Z',
      '2029-01-01T00:00:00Z',
    ]);
    const f = cron('0 0 0 * * * 2027 Asia/Tokyo');
    assert.equal(iso(nextFire(f, ms('2027-12-30T14:59:59Z'), {})!), '2027-12-30T15:00:00Z');
    assert.equal(nextFire(f, ms('2027-12-30T15:00:00Z'), {}), undefined);
  });

  void it('is strictly after the given instant, also with milliseconds', () => {
    const f = cron('0 0 0 * * *');
    assert.equal(iso(nextFire(f, ms('2026-01-01T00:00:00Z'), {})!), '2026-01-02T00:00:00Z');
    assert.equal(iso(nextFire(f, ms('2026-01-01T00:00:00.001Z'), {})!), '2026-01-02T00:00:00Z');
    assert.equal(iso(nextFire(f, ms('2026-01-01T23:59:59.999Z'), {})!), '2026-01-02T00:00:00Z');
  });

  void it('keeps the six fields, years and normalised zone apart', () => {
    const f = cron('  0  */20 *  * * *   2027-2028  GMT+05:30 ');
    assert.deepEqual(f, {
      kind: 'cron',
      text: '0 */20 * * * * 2027-2028 GMT+05:30',
      pattern: '0 */20 * * * *',
      years: { years: [2027, 2028] },
      zone: 'UTC+5:30',
    });
    assert.equal(cron('0 0 0 * * * *').years, undefined);
    assert.equal(cron('0 0 0 * * * Europe/Berlin').years, undefined);
    assert.equal(cron('0 0 0 * * * 2027').zone, undefined);
  });
});

void describe('clock changes (cron-parser 5.10.3, as BullMQ runs them)', () => {
  const NY = 'America/New_York';
  const BERLIN = 'Europe/Berlin';
  const cases: [string, string, string, string[]][] = [
    // New York springs forward at 02:00 EST (07:00Z) on 2026-03-08: 02:30 does not exist and
    // runs at 03:30 EDT instead of being skipped.
    ['0 30 2 * * *', NY, '2026-03-07T12:00:00Z', ['2026-03-08T07:30:00Z', '2026-03-09T06:30:00Z']],
    ['0 0 2,3 * * *', NY, '2026-03-07T12:00:00Z', ['2026-03-08T07:00:00Z', '2026-03-09T06:00:00Z']],
    [
      '0 0 * * * *',
      NY,
      '2026-03-08T05:30:00Z',
      ['2026-03-08T06:00:00Z', '2026-03-08T07:00:00Z', '2026-03-08T08:00:00Z'],
    ],
    [
      '0 */15 * * * *',
      NY,
      '2026-03-08T06:40:00Z',
      ['2026-03-08T06:45:00Z', '2026-03-08T07:00:00Z', '2026-03-08T07:15:00Z'],
    ],
    // It falls back at 02:00 EDT (06:00Z) on 2026-11-01: a fixed 01:30 runs once, at the first
    // 01:30 (EDT) ...
    ['0 30 1 * * *', NY, '2026-10-31T12:00:00Z', ['2026-11-01T05:30:00Z', '2026-11-02T06:30:00Z']],
    ['0 30 2 * * *', NY, '2026-10-31T12:00:00Z', ['2026-11-01T07:30:00Z', '2026-11-02T07:30:00Z']],
    // ... while hourly and quarter-hourly ones keep their real-time rhythm through both 01:xx.
    [
      '0 0 * * * *',
      NY,
      '2026-11-01T03:30:00Z',
      [
        '2026-11-01T04:00:00Z',
        '2026-11-01T05:00:00Z',
        '2026-11-01T06:00:00Z',
        '2026-11-01T07:00:00Z',
      ],
    ],
    [
      '0 */15 * * * *',
      NY,
      '2026-11-01T05:40:00Z',
      ['2026-11-01T05:45:00Z', '2026-11-01T06:00:00Z', '2026-11-01T06:15:00Z'],
    ],
    // Berlin springs forward at 02:00 CET (01:00Z) on 2026-03-29 ...
    [
      '0 30 2 * * *',
      BERLIN,
      '2026-03-28T12:00:00Z',
      ['2026-03-29T01:30:00Z', '2026-03-30T00:30:00Z'],
    ],
    [
      '0 30 1 * * *',
      BERLIN,
      '2026-03-28T12:00:00Z',
      ['2026-03-29T00:30:00Z', '2026-03-29T23:30:00Z'],
    ],
    [
      '0 0 * * * *',
      BERLIN,
      '2026-03-28T23:30:00Z',
      ['2026-03-29T00:00:00Z', '2026-03-29T01:00:00Z', '2026-03-29T02:00:00Z'],
    ],
    // ... and falls back at 03:00 CEST (01:00Z) on 2026-10-25: the first 02:30 only.
    [
      '0 30 2 * * *',
      BERLIN,
      '2026-10-24T12:00:00Z',
      ['2026-10-25T00:30:00Z', '2026-10-26T01:30:00Z'],
    ],
    [
      '0 0 * * * *',
      BERLIN,
      '2026-10-24T23:30:00Z',
      ['2026-10-25T00:00:00Z', '2026-10-25T01:00:00Z', '2026-10-25T02:00:00Z'],
    ],
    [
      '0 */15 * * * *',
      BERLIN,
      '2026-10-25T00:40:00Z',
      ['2026-10-25T00:45:00Z', '2026-10-25T01:00:00Z', '2026-10-25T01:15:00Z'],
    ],
  ];
  for (const [pattern, zone, now, want] of cases) {
    void it(`${pattern} in ${zone} from ${now}`, () => {
      assert.deepEqual(previews(`${pattern} ${zone}`, now, want.length), want);
      // The node's zone gives the same as the expression's.
      assert.deepEqual(previews(pattern, now, want.length, zone), want);
    });
  }
});

void describe('cron-parser 5.10.3 faults, pinned so that an upgrade shows up here', () => {
  void it('gives up at the half-hour clock change of Australia/Lord_Howe, ending the schedule', () => {
    // BullMQ ignores the error and schedules nothing more; the preview ends alike.
    assert.deepEqual(previews('0 0 * * * * Australia/Lord_Howe', '2028-04-01T13:00:00Z', 5), [
      '2028-04-01T14:00:00Z',
    ]);
  });

  void it('answers with an earlier time before a Pacific/Chatham clock change, stepped past here', () => {
    // Asked for the fire after 13:00Z, cron-parser says 12:15Z until 13:16Z; BullMQ would go back.
    assert.deepEqual(previews('0 */15 * * * * Pacific/Chatham', '2026-04-04T12:50:00Z', 4), [
      '2026-04-04T13:00:00Z',
      '2026-04-04T13:30:00Z',
      '2026-04-04T13:45:00Z',
      '2026-04-04T15:00:00Z',
    ]);
  });

  void it('skips a midnight that does not exist, where at() moves it forward', () => {
    // America/Santiago goes from 00:00 to 01:00 on 2026-09-06. New York's missing 02:30 runs
    // at 03:30, but this missing 00:00 does not run at all that day.
    assert.deepEqual(previews('0 0 0 * * * America/Santiago', '2026-09-04T12:00:00Z', 2), [
      '2026-09-05T04:00:00Z',
      '2026-09-07T03:00:00Z',
    ]);
    const at = parseFrequency('at(2026-09-06 00:00:00 America/Santiago)', opts());
    assert.equal(at.kind === 'at' && iso(at.atMs), '2026-09-06T04:00:00Z');
  });
});

void describe('parseFrequency: rate', () => {
  const created = '2026-01-01T10:17:03Z';
  const cases: [string, number, string, string[]][] = [
    ['rate(5m)', 300_000, created, ['2026-01-01T10:22:03Z', '2026-01-01T10:27:03Z']],
    ['rate(5 m)', 300_000, '2026-01-01T09:00:00Z', ['2026-01-01T10:22:03Z']],
    ['rate(5m)', 300_000, '2026-01-01T10:24:00Z', ['2026-01-01T10:27:03Z', '2026-01-01T10:32:03Z']],
    // on a fire: the next one
    ['rate(5m)', 300_000, '2026-01-01T10:27:03Z', ['2026-01-01T10:32:03Z']],
    ['rate(30s)', 30_000, created, ['2026-01-01T10:17:33Z', '2026-01-01T10:18:03Z']],
    [
      'rate(1h)',
      3_600_000,
      '2026-01-03T00:00:00Z',
      ['2026-01-03T00:17:03Z', '2026-01-03T01:17:03Z'],
    ],
    ['rate( 2 d )', 172_800_000, created, ['2026-01-03T10:17:03Z', '2026-01-05T10:17:03Z']],
  ];
  for (const [text, everyMs, after, want] of cases) {
    void it(`${text} after ${after}`, () => {
      const f = parseFrequency(text, opts());
      assert.deepEqual(f, { kind: 'rate', text, everyMs });
      const got = nextFires(f, ms(after), want.length, { createdMs: ms(created) });
      assert.deepEqual(got.map(iso), want);
      assert.equal(nextFire(f, ms(after), { createdMs: ms(created) }), got[0]);
    });
  }

  void it('needs createdMs to align the fires', () => {
    const f = parseFrequency('rate(5m)', opts());
    assert.throws(() => nextFire(f, ms(NOW), {}), { name: 'FrequencyError', message: /rate/ });
  });
});

void describe('parseFrequency: at', () => {
  const cases: [string, string, string | undefined][] = [
    ['at(2026-05-01 09:30:00)', '2026-05-01T09:30:00Z', undefined],
    ['at(2026-05-01 09:30:00 UTC)', '2026-05-01T09:30:00Z', 'UTC'],
    ['at(2026-05-01 09:30:00 Europe/Berlin)', '2026-05-01T07:30:00Z', 'Europe/Berlin'],
    ['at(2026-05-01 09:30:00 GMT+8:00)', '2026-05-01T01:30:00Z', 'UTC+8:00'],
    ['at(2026-05-01 09:30:00 GMT-5)', '2026-05-01T14:30:00Z', 'UTC-5:00'],
    ['at(2026-05-01 09:30:00 UTC+05:30)', '2026-05-01T04:00:00Z', 'UTC+5:30'],
    ['at(2026-01-01 00:00:01)', '2026-01-01T00:00:01Z', undefined],
    ['at(2028-02-29 12:00:00)', '2028-02-29T12:00:00Z', undefined],
    ['at(2028-02-29 12:00:00 America/New_York)', '2028-02-29T17:00:00Z', 'America/New_York'],
    ['at(2099-12-31 23:59:59)', '2099-12-31T23:59:59Z', undefined],
    // Local times that do not exist move forward by the gap, as cron-parser moves cron fires.
    ['at(2026-03-08 02:30:00 America/New_York)', '2026-03-08T07:30:00Z', 'America/New_York'],
    ['at(2026-03-29 02:30:00 Europe/Berlin)', '2026-03-29T01:30:00Z', 'Europe/Berlin'],
    // Local times that happen twice mean the first of them, as for cron.
    ['at(2026-11-01 01:30:00 America/New_York)', '2026-11-01T05:30:00Z', 'America/New_York'],
    ['at(2026-10-25 02:30:00 Europe/Berlin)', '2026-10-25T00:30:00Z', 'Europe/Berlin'],
  ];
  for (const [text, want, zone] of cases) {
    void it(text, () => {
      const f = parseFrequency(text, opts());
      assert.deepEqual(f, { kind: 'at', text, atMs: ms(want), zone });
      assert.equal(nextFire(f, ms(want) - 1, {}), ms(want));
      assert.equal(nextFire(f, ms(want), {}), undefined);
      assert.deepEqual(nextFires(f, ms(NOW), 3, {}), [ms(want)]);
    });
  }

  void it('agrees with the cron fire for the same local time on clock-change days', () => {
    for (const [wall, zone] of [
      ['2026-03-08 02:30:00', 'America/New_York'],
      ['2026-11-01 01:30:00', 'America/New_York'],
      ['2026-03-29 02:30:00', 'Europe/Berlin'],
      ['2026-10-25 02:30:00', 'Europe/Berlin'],
    ] as const) {
      const at = parseFrequency(`at(${wall} ${zone})`, opts());
      const [, month, day, hour, minute] = wall.split(/[- :]/).map(Number);
      const c = cron(`0 ${minute} ${hour} ${day} ${month} * 2026 ${zone}`);
      assert.equal(at.kind === 'at' && at.atMs, nextFire(c, ms(NOW), {}), wall);
    }
  });
});

void describe('parseFrequency: rejections', () => {
  // [text, message pattern, minimum interval in seconds]
  const cases: [string, RegExp, number?][] = [
    ['', /^Frequency: empty/],
    ['   ', /^Frequency: empty/],
    ['every day', /^Frequency: second: six fields are required, seconds first/],
    ['0 0 * * *', /^Frequency: second: six fields are required, seconds first.*got 5$/],
    ['0 0 0 * * * 2027 UTC extra', /^Frequency: time zone: at most 8 fields.*got 9$/],
    ['61 * * * * *', /^Frequency: second: .*61/],
    ['x * * * * *', /^Frequency: second: /],
    ['* 60 * * * *', /^Frequency: minute: .*60/],
    ['* * 24 * * *', /^Frequency: hour: .*24/],
    ['* * * 32 * *', /^Frequency: day-of-month: .*32/],
    ['* * * 0 * *', /^Frequency: day-of-month: /],
    ['* * * * 13 *', /^Frequency: month: .*13/],
    ['* * * * 0 *', /^Frequency: month: /],
    ['* * * * FOO *', /^Frequency: month: /],
    ['* * * * * 8', /^Frequency: day-of-week: .*8/],
    ['0 0 0 * * 9L', /^Frequency: day-of-week: 9L/],
    ['0 0 0 * * 1L,9L', /^Frequency: day-of-week: 9L/],
    ['0 0 0 * * 8#2', /^Frequency: day-of-week: .*8/],
    ['0 0 0 * * 1#6', /^Frequency: day-of-week: /],
    ['0 0 0 * * 0,7', /^Frequency: day-of-week: .*duplicate/],
    ['0 0 0 * * 1#2,3#4', /^Frequency: day-of-week: /],
    ['5-1 * * * * *', /^Frequency: second: /],
    ['0 0 0 15W * *', /^Frequency: day-of-month: W \(nearest weekday\) is not supported/],
    ['0 0 0 LW * *', /^Frequency: day-of-month: W \(nearest weekday\) is not supported/],
    ['H 0 0 * * *', /^Frequency: second: H \(hashed value\) is not supported/],
    ['0 0 0 31 2 *', /^Frequency: day-of-month: /],
    ['0 0 0 30 2 *', /^Frequency: day-of-month: /],
    ['0 0 0 31 4,6 *', /^Frequency: day-of-month: no day "31" in month\(s\) "4,6"/],
    ['0 0 0 * * * 2020', /^Frequency: year: .*no fire after now/],
    ['0 0 0 * * * 2024-2025', /^Frequency: year: .*no fire after now/],
    ['0 0 0 29 2 * 2027', /^Frequency: year: .*no fire after now/],
    ['0 0 0 * * * 1969', /^Frequency: year: .*1970\.\.2099/],
    ['0 0 0 * * * 2100', /^Frequency: year: .*1970\.\.2099/],
    ['0 0 0 * * * 2030-2027', /^Frequency: year: /],
    ['0 0 0 * * * */0', /^Frequency: year: /],
    ['0 0 0 * * * 27', /^Frequency: year: /],
    ['0 0 0 * * * UTC 2027', /^Frequency: year: "UTC" is not a year/],
    ['0 0 0 * * * Mars/Olympus', /^Frequency: time zone: unknown zone "Mars\/Olympus"/],
    ['0 0 0 * * * 2027 Mars/Olympus', /^Frequency: time zone: /],
    ['0 0 0 * * * GMT+25:00', /^Frequency: time zone: .*14:00/],
    ['0 0 0 * * * UTC+14:01', /^Frequency: time zone: .*14:00/],
    ['0 0 0 * * * GMT+8:60', /^Frequency: time zone: .*minutes/],
    ['0 0 0 * * * GMT+8:5', /^Frequency: time zone: /],
    ['rate(5s)', /^Frequency: rate: fires 5 s apart, below the minimum interval of 10 s/, 10],
    [
      '*/5 * * * * *',
      /^Frequency: second: fires 5 s apart, below the minimum interval of 10 s/,
      10,
    ],
    ['0,1 0 0 * * *', /^Frequency: second: fires 1 s apart,/, 10],
    ['0 0,5 * * * *', /^Frequency: minute: fires 300 s apart,/, 600],
    // 23:00 and the next day's 00:00 are an hour apart
    ['0 0 0,23 * * *', /^Frequency: hour: fires 3600 s apart,/, 7200],
    ['0 0 12 * * MON,TUE', /^Frequency: day-of-month: fires 86400 s apart,/, 2 * 86_400],
    ['rate(0m)', /^Frequency: rate: /],
    ['rate(5x)', /^Frequency: rate: /],
    ['rate(-5m)', /^Frequency: rate: /],
    ['rate(1.5h)', /^Frequency: rate: /],
    ['rate()', /^Frequency: rate: /],
    ['rate(5M)', /^Frequency: rate: /],
    ['at(2025-12-31 23:59:59)', /^Frequency: at: .*not in the future/],
    ['at(2026-01-01 00:00:00)', /^Frequency: at: .*not in the future/],
    ['at(2026-01-01 08:59:59 Asia/Tokyo)', /^Frequency: at: .*not in the future/],
    ['at(2026-13-01 00:00:00)', /^Frequency: at: month 13/],
    ['at(2027-02-29 00:00:00)', /^Frequency: at: day 29/],
    ['at(2026-04-31 00:00:00)', /^Frequency: at: day 31/],
    ['at(2026-06-00 00:00:00)', /^Frequency: at: day 0/],
    ['at(2026-06-01 24:00:00)', /^Frequency: at: time 24:00:00/],
    ['at(2026-06-01 12:60:00)', /^Frequency: at: /],
    ['at(2026-06-01 12:00:60)', /^Frequency: at: /],
    ['at(2100-01-01 00:00:00)', /^Frequency: at: year 2100/],
    ['at(2026-6-1 12:00:00)', /^Frequency: at: expected/],
    ['at(2026-06-01T12:00:00)', /^Frequency: at: expected/],
    ['at(2026-06-01 12:00:00 Mars/Olympus)', /^Frequency: time zone: /],
    ['at(2026-06-01 12:00:00 GMT+15)', /^Frequency: time zone: /],
  ];
  for (const [text, message, minIntervalSeconds = 0] of cases) {
    void it(`${JSON.stringify(text)}${minIntervalSeconds ? ` (min ${minIntervalSeconds} s)` : ''}`, () => {
      assert.throws(
        () => parseFrequency(text, opts(NOW, minIntervalSeconds)),
        (err) => {
          assert.ok(err instanceof FrequencyError, String(err));
          assert.equal(err.name, 'FrequencyError');
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  void it('accepts what is exactly at or above the minimum interval', () => {
    const min = (text: string, seconds: number) => parseFrequency(text, opts(NOW, seconds)).kind;
    assert.equal(min('rate(10s)', 10), 'rate');
    assert.equal(min('*/10 * * * * *', 10), 'cron');
    assert.equal(min('0 0,5 * * * *', 300), 'cron');
    // 23 hours apart within the day, and a week between the Monday 23:00 and the next 00:00
    assert.equal(min('0 0 0,23 * * MON', 7200), 'cron');
    assert.equal(min('0 0 12 * * MON,WED', 2 * 86_400), 'cron');
  });

  void it('asks whether a zone-less expression fires anywhere on earth', () => {
    // Past in UTC, but 2026-01-01 00:00 is still ahead at UTC-12:00.
    const f = cron('0 0 0 1 1 * 2026', '2026-01-01T06:00:00Z');
    assert.equal(
      iso(nextFire(f, ms('2026-01-01T06:00:00Z'), { zone: 'Etc/GMT+12' })!),
      '2026-01-01T12:00:00Z',
    );
    assert.equal(nextFire(f, ms('2026-01-01T06:00:00Z'), {}), undefined);
    assert.throws(() => parseFrequency('0 0 0 1 1 * 2026', opts('2026-01-01T12:00:00Z')), {
      message: /^Frequency: year: /,
    });
    assert.throws(() => parseFrequency('0 0 0 1 1 * 2026 UTC', opts('2026-01-01T06:00:00Z')), {
      message: /^Frequency: year: /,
    });
  });

  void it('throws nothing but FrequencyError for any text', () => {
    const token = fc.oneof(
      fc.constantFrom(
        '*',
        '?',
        'L',
        'W',
        '#',
        '/',
        '-',
        ',',
        'MON',
        'JAN',
        '5L',
        '1#2',
        'H',
        'UTC',
      ),
      fc.constantFrom('GMT+8:00', 'Europe/Berlin', 'rate(', 'at(', ')', '2027', '*/2', '0', '7'),
      fc.integer({ min: -5, max: 3000 }).map(String),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 9 }), fc.boolean(), (tokens, spaced) => {
        const text = tokens.join(spaced ? ' ' : '');
        try {
          parseFrequency(text, opts(NOW, 10));
        } catch (err) {
          assert.ok(err instanceof FrequencyError, `${JSON.stringify(text)}: ${String(err)}`);
          assert.match(err.message, /^Frequency: /);
        }
      }),
      { numRuns: 500 },
    );
  });
});

void describe('parseFrequency on hostile text (fuzz)', () => {
  const digits = fc.stringMatching(/^[0-9]{1,25}$/);
  const zone = fc.constantFrom(
    '',
    ' UTC',
    ' GMT+8:00',
    ' GMT-14:30',
    ' Asia/Shanghai',
    ' Nope/Zone',
  );
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc
      .tuple(digits, fc.constantFrom('s', 'm', 'h', 'd', 'x', ''), fc.constantFrom(' ', ''))
      .map(([n, u, sp]) => `rate(${sp}${n}${u}${sp})`),
    fc
      .tuple(digits, digits, digits, digits, digits, digits, zone)
      .map(([y, mo, d, h, mi, se, z]) => `at(${y}-${mo}-${d} ${h}:${mi}:${se}${z})`),
    fc
      .array(
        fc.oneof(
          digits,
          fc.constantFrom('*', '?', 'L', 'W', '#', '/', '-', ',', 'LW', '5L', '1#6', 'MON-SUN'),
          fc.tuple(digits, fc.constantFrom('/', '-', ',', '#'), digits).map((t) => t.join('')),
        ),
        { minLength: 5, maxLength: 8 },
      )
      .chain((fields) => zone.map((z) => fields.join(' ') + z)),
  );

  void it('throws only FrequencyError naming the field; what it accepts previews without throwing', (t) => {
    let accepted = 0;
    fc.assert(
      fc.property(text, fc.integer({ min: 0, max: 60 }), (input, minInterval) => {
        let freq: Frequency;
        try {
          freq = parseFrequency(input, opts(NOW, minInterval));
        } catch (err) {
          assert.ok(err instanceof FrequencyError, `${JSON.stringify(input)}: ${String(err)}`);
          assert.match(err.message, /^Frequency: /);
          return;
        }
        accepted++;
        const fires = nextFires(freq, ms(NOW), 3, { zone: 'UTC', createdMs: ms(NOW) });
        assert.ok(fires.length > 0, `${JSON.stringify(input)} was accepted but never fires`);
        fires.forEach((f, i) => assert.ok(f > (fires[i - 1] ?? ms(NOW)), JSON.stringify(input)));
      }),
      { numRuns: 1000 },
    );
    t.diagnostic(`${accepted} of 1000 texts accepted`);
    assert.ok(accepted > 0, 'some texts were valid');
  });
});

void describe('normalizeZone', () => {
  const good: [string, string][] = [
    ['UTC', 'UTC'],
    ['gmt', 'UTC'],
    ['GMT+8:00', 'UTC+8:00'],
    ['GMT+08:00', 'UTC+8:00'],
    ['GMT-5', 'UTC-5:00'],
    ['UTC+05:30', 'UTC+5:30'],
    ['UTC+14:00', 'UTC+14:00'],
    ['UTC-14:00', 'UTC-14:00'],
    ['GMT+0', 'UTC'],
    ['GMT-00:00', 'UTC'],
    ['Europe/Berlin', 'Europe/Berlin'],
    ['Asia/Kolkata', 'Asia/Kolkata'],
    ['Etc/GMT+5', 'Etc/GMT+5'],
  ];
  for (const [text, want] of good) {
    void it(`${text} -> ${want}`, () => assert.equal(normalizeZone(text), want));
  }
  for (const bad of [
    'Mars/Olympus',
    'GMT+25:00',
    'UTC+14:30',
    'GMT+8:60',
    'GMT+8:5',
    'UTC+',
    '+08:00',
    'Z',
  ]) {
    void it(`refuses ${bad}`, () => {
      assert.throws(() => normalizeZone(bad), {
        name: 'FrequencyError',
        message: /^Frequency: time zone: /,
      });
    });
  }

  void it('refuses an unknown node zone rather than letting cron-parser throw', () => {
    assert.throws(() => nextFire(cron('0 0 0 * * *'), ms(NOW), { zone: 'Mars/Olympus' }), {
      name: 'FrequencyError',
      message: /^Frequency: time zone: /,
    });
  });
});

void describe('cronWindow and yearAllowed', () => {
  const cases: [string, string | undefined, string, { startMs?: string; endMs?: string }][] = [
    ['0 0 0 * * *', undefined, NOW, {}],
    ['0 0 0 * * * *', undefined, NOW, {}],
    [
      '0 0 0 * * * 2027-2028',
      undefined,
      NOW,
      { startMs: '2027-01-01T00:00:00Z', endMs: '2029-01-01T00:00:00Z' },
    ],
    [
      '0 0 0 * * * 2027-2028',
      'Asia/Tokyo',
      NOW,
      { startMs: '2026-12-31T15:00:00Z', endMs: '2028-12-31T15:00:00Z' },
    ],
    [
      '0 0 0 * * * 2027 America/New_York',
      'Asia/Tokyo',
      NOW,
      { startMs: '2027-01-01T05:00:00Z', endMs: '2028-01-01T05:00:00Z' },
    ],
    [
      '0 0 0 * * * 2027 GMT+8:00',
      undefined,
      NOW,
      { startMs: '2026-12-31T16:00:00Z', endMs: '2027-12-31T16:00:00Z' },
    ],
    // inside an allowed year: no start bound
    ['0 0 0 * * * 2026-2028', undefined, NOW, { endMs: '2029-01-01T00:00:00Z' }],
    ['0 0 0 * * * 2027-2028', undefined, '2027-06-01T00:00:00Z', { endMs: '2029-01-01T00:00:00Z' }],
    // the first year not fully past
    [
      '0 0 0 * * * 2026,2030',
      undefined,
      '2027-06-01T00:00:00Z',
      { startMs: '2030-01-01T00:00:00Z', endMs: '2031-01-01T00:00:00Z' },
    ],
    ['0 0 0 * * * */2', undefined, NOW, { endMs: '2099-01-01T00:00:00Z' }],
  ];
  for (const [expr, zone, at, want] of cases) {
    void it(`${expr}${zone ? ` on a node in ${zone}` : ''} at ${at}`, () => {
      const w = cronWindow(cron(expr), ms(at), zone);
      assert.deepEqual(w, {
        // The window opens 1 ms before the year: BullMQ looks for fires after startDate.
        ...(want.startMs === undefined ? {} : { startMs: ms(want.startMs) - 1 }),
        ...(want.endMs === undefined ? {} : { endMs: ms(want.endMs) }),
      });
    });
  }

  void it("gives BullMQ a window whose first fire is the year's first instant", () => {
    for (const expr of ['0 0 0 1 1 * 2028 UTC', '0 0 0 * * * 2027-2028 Asia/Tokyo']) {
      const freq = cron(expr);
      const w = cronWindow(freq, ms(NOW));
      const first = getNextMillis(ms(NOW), {
        pattern: freq.pattern,
        tz: freq.zone,
        startDate: w.startMs,
        endDate: w.endMs,
      });
      assert.equal(first, nextFire(freq, ms(NOW), {}), expr);
      assert.equal(first, (w.startMs ?? 0) + 1, expr);
    }
  });

  void it('judges the year in the effective zone', () => {
    const tokyo = cron('0 0 0 * * * 2027 Asia/Tokyo');
    assert.equal(yearAllowed(tokyo, ms('2026-12-31T15:00:00Z')), true);
    assert.equal(yearAllowed(tokyo, ms('2026-12-31T14:59:59Z')), false);
    assert.equal(yearAllowed(tokyo, ms('2026-12-31T14:59:59Z'), 'UTC'), false);
    const local = cron('0 0 0 * * * 2027');
    assert.equal(yearAllowed(local, ms('2027-01-01T03:00:00Z')), true);
    assert.equal(yearAllowed(local, ms('2027-01-01T03:00:00Z'), 'America/New_York'), false);
    assert.equal(yearAllowed(local, ms('2027-01-01T03:00:00Z'), 'GMT-5'), false);
    assert.equal(yearAllowed(cron('0 0 0 * * *'), ms('2150-01-01T00:00:00Z')), true);
  });
});

void describe('cron-parser', () => {
  void it('is the version bullmq pins, and the very copy bullmq loads', () => {
    const require = createRequire(import.meta.url);
    const ours = require.resolve('cron-parser/package.json');
    const bullmq = require.resolve('bullmq/package.json');
    const theirs = createRequire(bullmq).resolve('cron-parser/package.json');
    const read = (path: string): { version: string; dependencies: Record<string, string> } =>
      JSON.parse(readFileSync(path, 'utf8')) as {
        version: string;
        dependencies: Record<string, string>;
      };
    assert.equal(read(bullmq).dependencies['cron-parser'], read(ours).version);
    assert.equal(theirs, ours);
  });
});

// ---- properties, checked against an oracle that expands the fields independently ----

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

/**
 * Zones as written in expressions; an offset in minutes for the fixed ones. Australia/Lord_Howe
 * and Pacific/Chatham are left out: cron-parser mishandles their clock changes (pinned above).
 */
const ZONES: [text: string, fixedMinutes?: number][] = [
  ['UTC', 0],
  ['America/New_York'],
  ['Europe/Berlin'],
  ['Australia/Sydney'],
  ['Asia/Kathmandu'],
  ['America/Sao_Paulo'],
  ['GMT+8:00', 480],
  ['GMT-5', -300],
  ['UTC+05:30', 330],
];

const wallFormats = new Map<string, Intl.DateTimeFormat>();

function offsetOf(zone: (typeof ZONES)[number], t: number): number {
  const [name, fixedMinutes] = zone;
  if (fixedMinutes !== undefined) return fixedMinutes * 60_000;
  let f = wallFormats.get(name);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    wallFormats.set(name, f);
  }
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, Number(x.value)]));
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - (t - (t % 1000));
}

function wallOf(t: number, offset: number): Wall {
  const d = new Date(t + offset);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    weekday: d.getUTCDay(),
  };
}

const daysIn = (w: Wall): number => new Date(Date.UTC(w.year, w.month, 0)).getUTCDate();

interface FieldSpec {
  text: string;
  /** false for `*` and `?`: cron then ORs a restricted day-of-month with a restricted weekday. */
  restricted: boolean;
  has: (w: Wall) => boolean;
}

const MONTHS = [
  '',
  'JAN',
  'FEB',
  'MAR',
  'APR',
  'MAY',
  'JUN',
  'JUL',
  'AUG',
  'SEP',
  'OCT',
  'NOV',
  'DEC',
];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'];

function span(from: number, to: number, step = 1): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

/** A list of values, ranges and steps with no value twice (cron-parser refuses duplicates). */
function listArb(min: number, max: number, names?: readonly string[]) {
  const value = fc.integer({ min, max });
  const item = fc.oneof(
    fc.tuple(value, fc.boolean()).map(([v, named]) => ({
      text: named && names ? names[v]! : String(v),
      values: [v],
    })),
    fc.tuple(value, value).map(([a, b]) => ({
      text: `${Math.min(a, b)}-${Math.max(a, b)}`,
      values: span(Math.min(a, b), Math.max(a, b)),
    })),
    fc
      .integer({ min: 1, max: max - min + 1 })
      .map((s) => ({ text: `*/${s}`, values: span(min, max, s) })),
    fc.tuple(value, value, fc.integer({ min: 1, max: 10 })).map(([a, b, s]) => ({
      text: `${Math.min(a, b)}-${Math.max(a, b)}/${s}`,
      values: span(Math.min(a, b), Math.max(a, b), s),
    })),
    fc.tuple(value, fc.integer({ min: 1, max: 10 })).map(([a, s]) => ({
      text: `${a}/${s}`,
      values: span(a, max, s),
    })),
  );
  // Sunday is both 0 and 7, so those collide too.
  const key = (v: number): number => (names === DAYS ? v % 7 : v);
  return fc.array(item, { minLength: 1, maxLength: 3 }).map((items) => {
    const seen = new Set<number>();
    const kept = items.filter((i) => {
      if (i.values.some((v) => seen.has(key(v)))) return false;
      i.values.forEach((v) => seen.add(key(v)));
      return true;
    });
    return { text: kept.map((i) => i.text).join(','), values: seen };
  });
}

function fieldArb(min: number, max: number, pick: (w: Wall) => number, names?: readonly string[]) {
  const star: FieldSpec = { text: '*', restricted: false, has: () => true };
  const list = listArb(min, max, names).map(({ text, values }): FieldSpec => ({
    text,
    restricted: true,
    has: (w) => values.has(pick(w)),
  }));
  return fc.oneof(fc.constant(star), list);
}

const lastDay = (w: Wall): boolean => w.day === daysIn(w);

const domArb = fc.oneof(
  fieldArb(1, 31, (w) => w.day),
  fc.constant<FieldSpec>({ text: '?', restricted: false, has: () => true }),
  fc.constant<FieldSpec>({ text: 'L', restricted: true, has: lastDay }),
  fc.integer({ min: 1, max: 27 }).map((d): FieldSpec => ({
    text: `L,${d}`,
    restricted: true,
    has: (w) => lastDay(w) || w.day === d,
  })),
);

const dowArb = fc.oneof(
  fieldArb(0, 7, (w) => w.weekday, DAYS).map((f) =>
    // 7 is Sunday: the oracle sees weekday 0, so test 7 too.
    f.restricted
      ? { ...f, has: (w: Wall) => f.has(w) || (w.weekday === 0 && f.has({ ...w, weekday: 7 })) }
      : f,
  ),
  fc.constant<FieldSpec>({ text: '?', restricted: false, has: () => true }),
  fc.integer({ min: 0, max: 7 }).map((d): FieldSpec => ({
    text: `${d}L`,
    restricted: true,
    has: (w) => w.weekday === d % 7 && w.day + 7 > daysIn(w),
  })),
  fc
    .tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 5 }))
    .map(([d, k]): FieldSpec => ({
      text: `${d}#${k}`,
      restricted: true,
      has: (w) => w.weekday === d % 7 && Math.ceil(w.day / 7) === k,
    })),
);

const cronArb = fc
  .tuple(
    fieldArb(0, 59, (w) => w.second),
    fieldArb(0, 59, (w) => w.minute),
    fieldArb(0, 23, (w) => w.hour),
    domArb,
    fieldArb(1, 12, (w) => w.month, MONTHS),
    dowArb,
  )
  .map(([second, minute, hour, dom, month, dow]) => ({
    text: [second, minute, hour, dom, month, dow].map((f) => f.text).join(' '),
    matches: (w: Wall): boolean =>
      second.has(w) &&
      minute.has(w) &&
      hour.has(w) &&
      month.has(w) &&
      (dom.restricted && dow.restricted ? dom.has(w) || dow.has(w) : dom.has(w) && dow.has(w)),
  }));

const zoneArb = fc.constantFrom(...ZONES);
const nowArb = fc.integer({ min: ms('2026-01-01T00:00:00Z'), max: ms('2036-01-01T00:00:00Z') - 1 });

/** The expression with its zone written in it or left to the node; both must behave alike. */
function placeZone(text: string, zone: (typeof ZONES)[number], inExpression: boolean) {
  return inExpression
    ? { text: `${text} ${zone[0]}`, opts: {} }
    : { text, opts: { zone: zone[0] } };
}

/** Parses, or skips the case when the generated days never occur in the generated months. */
function parseOrSkip(text: string, nowMs: number): Cron {
  try {
    return parseFrequency(text, { nowMs, minIntervalSeconds: 0 }) as Cron;
  } catch (err) {
    const impossible = /^Frequency: (day-of-month: .*never|year: .*no fire after now)/;
    if (err instanceof FrequencyError && impossible.test(err.message)) fc.pre(false);
    throw err;
  }
}

/** The fire's wall time matches, or, just after clocks went forward, the skipped time it stands for. */
function firesAsWritten(
  matches: (w: Wall) => boolean,
  zone: (typeof ZONES)[number],
  t: number,
): boolean {
  const now = offsetOf(zone, t);
  const before = offsetOf(zone, t - 3 * 3_600_000);
  return matches(wallOf(t, now)) || (before < now && matches(wallOf(t, before)));
}

void describe('properties', () => {
  void it('the next fire is later than now and matches every field in the effective zone', () => {
    fc.assert(
      fc.property(cronArb, zoneArb, nowArb, fc.boolean(), (c, zone, now, inExpr) => {
        const { text, opts: fireOpts } = placeZone(c.text, zone, inExpr);
        const f = parseOrSkip(text, now);
        const fires = nextFires(f, now, 4, fireOpts);
        assert.ok(fires.length > 0, `${text} from ${iso(now)}`);
        assert.equal(nextFire(f, now, fireOpts), fires[0]);
        let prev = now;
        for (const t of fires) {
          assert.ok(t > prev, `${text}: ${iso(t)} after ${iso(prev)}`);
          assert.ok(firesAsWritten(c.matches, zone, t), `${text} in ${zone[0]} fired at ${iso(t)}`);
          assert.equal(nextFire(f, prev, fireOpts), t);
          prev = t;
        }
      }),
      { numRuns: 200 },
    );
  });

  void it("previews are BullMQ's own next fires", () => {
    fc.assert(
      fc.property(cronArb, zoneArb, nowArb, (c, zone, now) => {
        const f = parseOrSkip(`${c.text} ${zone[0]}`, now);
        const ours = nextFires(f, now, 5, {});
        const theirs: number[] = [];
        for (let t = now; theirs.length < 5;) {
          const next = getNextMillis(t, { pattern: f.pattern, tz: f.zone });
          if (next === undefined) break;
          theirs.push((t = next));
        }
        assert.deepEqual(ours.map(iso), theirs.map(iso), f.text);
      }),
      { numRuns: 200 },
    );
  });

  const yearsArb = fc.oneof(
    fc.integer({ min: 2026, max: 2040 }).map((y) => ({ text: String(y), years: [y] })),
    fc
      .tuple(fc.integer({ min: 2026, max: 2045 }), fc.integer({ min: 0, max: 6 }))
      .map(([a, n]) => ({
        text: `${a}-${a + n}`,
        years: span(a, a + n),
      })),
    fc
      .uniqueArray(fc.integer({ min: 2026, max: 2045 }), { minLength: 1, maxLength: 4 })
      .map((ys) => ({
        text: ys.join(','),
        years: [...ys].sort((a, b) => a - b),
      })),
    fc.integer({ min: 2, max: 6 }).map((n) => ({ text: `*/${n}`, years: span(1970, 2099, n) })),
    fc
      .tuple(
        fc.integer({ min: 2026, max: 2040 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
      )
      .map(([a, n, s]) => ({ text: `${a}-${a + n}/${s}`, years: span(a, a + n, s) })),
  );

  void it('fires only in allowed years, and misses none of their fires', () => {
    fc.assert(
      fc.property(cronArb, yearsArb, zoneArb, nowArb, fc.boolean(), (c, ys, zone, now, inExpr) => {
        const { text, opts: fireOpts } = placeZone(`${c.text} ${ys.text}`, zone, inExpr);
        const f = parseOrSkip(text, now);
        assert.deepEqual(f.years?.years, ys.years);
        const allowed = new Set(ys.years);
        const localYear = (t: number): number => wallOf(t, offsetOf(zone, t)).year;
        const fires = nextFires(f, now, 50, fireOpts);
        let prev = now;
        for (const t of fires) {
          assert.ok(t > prev);
          assert.ok(allowed.has(localYear(t)), `${text} fired in ${localYear(t)}: ${iso(t)}`);
          assert.ok(yearAllowed(f, t, fireOpts.zone));
          assert.ok(firesAsWritten(c.matches, zone, t), `${text} fired at ${iso(t)}`);
          prev = t;
        }
        // Against the same pattern in every year: the first fire is the pattern's first fire in
        // the first allowed year that has one.
        const every = cron(placeZone(c.text, zone, true).text, iso(now));
        const newYear = cron(`0 0 0 1 1 * ${zone[0]}`, iso(now));
        let expected: number | undefined;
        for (const y of ys.years.filter((y) => y >= localYear(now))) {
          const start = nextFire(newYear, Date.UTC(y - 1, 11, 30), {})!;
          const t = nextFire(every, Math.max(now, start - 1), {});
          if (t !== undefined && localYear(t) === y) {
            expected = t;
            break;
          }
        }
        assert.equal(fires[0], expected, text);
      }),
      { numRuns: 100 },
    );
  });

  void it('rate fires at creation + k·period, k ≥ 1, skipping none', () => {
    const unitMs = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.constantFrom('s', 'm', 'h', 'd'),
        nowArb,
        fc.integer({ min: -10, max: 1000 }),
        fc.integer({ min: 0, max: 86_400_000 }),
        fc.integer({ min: 1, max: 20 }),
        (n, unit, createdMs, periods, extraMs, count) => {
          const f = parseFrequency(`rate(${n}${unit})`, opts());
          assert.ok(f.kind === 'rate');
          const every = n * unitMs[unit as keyof typeof unitMs];
          assert.equal(f.everyMs, every);
          const after = createdMs + periods * every + (extraMs % every);
          const fires = nextFires(f, after, count, { createdMs });
          assert.equal(fires.length, count);
          assert.ok(fires[0]! > after);
          // none skipped: the fire a period earlier is creation itself or not after `after`
          assert.ok(fires[0]! - every <= Math.max(after, createdMs));
          fires.forEach((t, i) => {
            const k = (t - createdMs) / every;
            assert.ok(Number.isInteger(k) && k >= 1, `k = ${k}`);
            if (i > 0) assert.equal(t - fires[i - 1]!, every);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  void it('at() happens when a cron for the same local time first fires', () => {
    const wallArb = fc
      .tuple(
        fc.integer({ min: 2027, max: 2035 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 31 }),
        fc.integer({ min: 0, max: 23 }),
        fc.integer({ min: 0, max: 59 }),
        fc.integer({ min: 0, max: 59 }),
      )
      .map(([year, month, day, hour, minute, second]) => ({
        year,
        month,
        day: Math.min(day, new Date(Date.UTC(year, month, 0)).getUTCDate()),
        hour,
        minute,
        second,
      }));
    const two = (n: number): string => String(n).padStart(2, '0');
    fc.assert(
      fc.property(wallArb, zoneArb, (w, zone) => {
        const date = `${w.year}-${two(w.month)}-${two(w.day)} ${two(w.hour)}:${two(w.minute)}:${two(w.second)}`;
        const at = parseFrequency(`at(${date} ${zone[0]})`, opts());
        assert.ok(at.kind === 'at');
        const c = cron(
          `${w.second} ${w.minute} ${w.hour} ${w.day} ${w.month} * ${w.year} ${zone[0]}`,
        );
        assert.equal(at.atMs, nextFire(c, ms(NOW), {}), date);
        const same = (v: Wall): boolean =>
          v.year === w.year &&
          v.month === w.month &&
          v.day === w.day &&
          v.hour === w.hour &&
          v.minute === w.minute &&
          v.second === w.second;
        assert.ok(firesAsWritten(same, zone, at.atMs), `${date} ${zone[0]} -> ${iso(at.atMs)}`);
      }),
      { numRuns: 200 },
    );
  });
});

void describe('latestFire', () => {
  /** The last fire in (after, until] by walking nextFire: what latestFire must answer. */
  function walked(f: Frequency, after: number, until: number, o: { createdMs?: number }) {
    let last: number | undefined;
    for (let t = nextFire(f, after, o); t !== undefined && t <= until; t = nextFire(f, t, o)) {
      last = t;
    }
    return last;
  }

  void it('answers the last cron fire of a window, as walking the fires does', () => {
    // Dense, sparse, a year range met within the windows, and zones across a DST change
    // (March 2026 in both).
    const texts = [
      '* * * * * *',
      '*/7 * * * * *',
      '0 */20 * * * *',
      '0 0 9 * * MON-FRI',
      '0 0 0 1,15 * ? 2026',
      '0 30 2 * * * America/New_York',
      '0 0 */3 * * * Europe/Berlin',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...texts),
        fc.integer({ min: 0, max: 100 * 86_400_000 }),
        fc.integer({ min: 0, max: 10 * 86_400_000 }),
        (text, offset, span) => {
          const f = cron(text);
          const after = ms(NOW) + offset;
          // The walk is the reference; keep it short for the dense expressions.
          const until = after + (text.startsWith('*') ? span % 120_000 : span);
          assert.equal(latestFire(f, after, until, {}), walked(f, after, until, {}));
        },
      ),
      { numRuns: 200 },
    );
  });

  void it('computes a rate fire from the creation time, and an at() only in its window', () => {
    const createdMs = ms(NOW) + 123;
    const rate = parseFrequency('rate(10s)', opts());
    for (const [after, until] of [
      [createdMs, createdMs + 9_999],
      [createdMs, createdMs + 10_000],
      [createdMs + 10_000, createdMs + 35_000],
      [createdMs + 31_000, createdMs + 35_000],
      [createdMs - 50_000, createdMs - 1],
    ] as const) {
      assert.equal(
        latestFire(rate, after, until, { createdMs }),
        walked(rate, after, until, { createdMs }),
        `${after - createdMs}..${until - createdMs}`,
      );
    }
    assert.equal(
      latestFire(rate, createdMs, createdMs + 35_000, { createdMs }),
      createdMs + 30_000,
    );
    const at = parseFrequency('at(2026-03-01 00:00:00)', opts());
    assert.equal(
      latestFire(at, ms('2026-02-01T00:00:00Z'), ms('2026-03-01T00:00:00Z'), {}),
      ms('2026-03-01T00:00:00Z'),
    );
    assert.equal(
      latestFire(at, ms('2026-03-01T00:00:00Z'), ms('2026-04-01T00:00:00Z'), {}),
      undefined,
    );
    assert.equal(
      latestFire(at, ms('2026-01-01T00:00:00Z'), ms('2026-02-01T00:00:00Z'), {}),
      undefined,
    );
  });
});
