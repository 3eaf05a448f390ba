import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clockOffsetMs, isClockSkewed } from '../../src/domain/clock.js';

void describe('clockOffsetMs', () => {
  const cases: [string, number, number, number, number][] = [
    ['same clock, Redis read at the midpoint', 1000, 1005, 1010, 0],
    ['agent 5 s behind', 1000, 6005, 1010, 5000],
    ['agent 3 s ahead', 4000, 1005, 4010, -3000],
    ['a half-ms midpoint rounds', 1000, 1000, 1001, 0],
  ];
  for (const [what, sent, redis, received, want] of cases) {
    void it(what, () => assert.equal(clockOffsetMs(sent, redis, received), want));
  }
});

void describe('isClockSkewed', () => {
  void it('flags over 1 s either way, not at 1 s, not when unknown', () => {
    assert.equal(isClockSkewed(undefined), false);
    assert.equal(isClockSkewed(1000), false);
    assert.equal(isClockSkewed(-1000), false);
    assert.equal(isClockSkewed(1001), true);
    assert.equal(isClockSkewed(-1001), true);
  });
});
