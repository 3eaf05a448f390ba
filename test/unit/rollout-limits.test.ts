import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LimitError, limitCount, parseLimit } from '../../src/domain/rollout.js';

void describe('MaxConcurrency / MaxErrors limits', () => {
  void it('parses a number of nodes or a percentage; "" is no limit', () => {
    assert.deepEqual(parseLimit('50', 1), { value: 50, percent: false });
    assert.deepEqual(parseLimit('10%', 1), { value: 10, percent: true });
    assert.deepEqual(parseLimit('0', 0), { value: 0, percent: false });
    assert.equal(parseLimit('', 1), undefined);
  });

  void it('refuses what is not a limit, naming the rule', () => {
    const cases: [string, 0 | 1, RegExp][] = [
      ['0', 1, /at least 1/],
      ['0%', 1, /at least 1%/],
      ['101%', 0, /over 100%/],
      ['-1', 0, /whole number/],
      ['1.5', 1, /whole number/],
      ['ten', 1, /whole number/],
      ['100001', 1, /over 100000/],
    ];
    for (const [text, min, message] of cases) {
      assert.throws(
        () => parseLimit(text, min),
        (e: unknown) => {
          return e instanceof LimitError && message.test(e.message);
        },
        text,
      );
    }
  });

  void it('a percentage rounds up, MaxConcurrency to at least one node', () => {
    assert.equal(limitCount({ value: 10, percent: true }, 3, 1), 1);
    assert.equal(limitCount({ value: 10, percent: true }, 5000, 1), 500);
    assert.equal(limitCount({ value: 10, percent: true }, 5001, 1), 501);
    assert.equal(limitCount({ value: 0, percent: true }, 10, 0), 0);
    assert.equal(limitCount({ value: 5, percent: false }, 3, 0), 5);
  });
});
