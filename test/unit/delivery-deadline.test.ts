import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  deadlineMember,
  parseDeadlineMember,
  type DeliveryDeadline,
} from '../../src/domain/delivery-deadline.js';

void describe('delivery deadline members', () => {
  const CASES: [DeliveryDeadline, string][] = [
    [{ kind: 'once', invokeId: 't-abc', again: false }, 'o t-abc'],
    [{ kind: 'once', invokeId: 't-abc', again: true }, 'O t-abc'],
    [
      { kind: 'nodes', invokeId: 't-abc', fire: 'f1700000000000', nodeIds: ['n1'] },
      'n t-abc f1700000000000 n1',
    ],
    [{ kind: 'nodes', invokeId: 'f-abc', fire: '', nodeIds: ['n1', 'n2'] }, 'n f-abc - n1 n2'],
  ];
  for (const [d, member] of CASES) {
    void it(`${member}`, () => {
      assert.equal(deadlineMember(d), member);
      assert.deepEqual(parseDeadlineMember(member), d);
    });
  }

  void it('a once deadline and its again are two members (both may wait at once)', () => {
    const a = deadlineMember({ kind: 'once', invokeId: 't-1', again: false });
    const b = deadlineMember({ kind: 'once', invokeId: 't-1', again: true });
    assert.notEqual(a, b);
  });

  void it('refuses what it does not know', () => {
    for (const m of [
      '',
      'o',
      'o ',
      'x t-1',
      'o t-1 f1',
      'n t-1',
      'n t-1 f1',
      'n t-1  n1',
      'n t-1 f1 n1  n2',
    ]) {
      assert.equal(parseDeadlineMember(m), undefined, JSON.stringify(m));
    }
  });

  void it('property: a member reads back as the deadline it was made from', () => {
    const id = fc.stringMatching(/^[a-zA-Z0-9._-]{1,20}$/);
    const deadline: fc.Arbitrary<DeliveryDeadline> = fc.oneof(
      fc.record({ kind: fc.constant('once' as const), invokeId: id, again: fc.boolean() }),
      fc.record({
        kind: fc.constant('nodes' as const),
        invokeId: id,
        fire: fc.oneof(fc.constant(''), fc.stringMatching(/^f[0-9]{1,13}$/)),
        nodeIds: fc.array(id, { minLength: 1, maxLength: 5 }),
      }),
    );
    fc.assert(
      fc.property(deadline, (d) => {
        assert.deepEqual(parseDeadlineMember(deadlineMember(d)), { ...d });
      }),
    );
  });
});
