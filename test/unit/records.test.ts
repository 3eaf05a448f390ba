import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { OUTPUT_LIMIT_BYTES } from '../../src/domain/output.js';
import {
  RUN_FIELDS,
  capStoredOutput,
  nodeInfoOf,
  runRecordOf,
  type RawField,
} from '../../src/domain/records.js';
import { isoSeconds } from '../../src/domain/time.js';

const b = (s: string) => Buffer.from(s);

/** A run record as the agent and the scripts write it. */
const GOOD_RUN: Record<string, RawField> = {
  status: b('Failed'),
  createdMs: b('1700000000000'),
  updatedMs: b('1700000001000'),
  startedMs: b('1700000000500'),
  finishedMs: b('1700000001000'),
  exitCode: b('137'),
  errorCode: b('ExitCodeNonzero'),
  errorInfo: b('the command execution exit code is not zero'),
  dropped: b('0'),
  repeats: b('1'),
  timed: b('0'),
  skipped: b('0'),
  fire: b(''),
};

void describe('runRecordOf', () => {
  void it('reads what the agent writes as it is', () => {
    const r = runRecordOf(GOOD_RUN, b('out'));
    assert.deepEqual(r?.bad, []);
    assert.equal(r?.record.status, 'Failed');
    assert.equal(r?.record.exitCode, 137);
    assert.equal(r?.record.finishedMs, 1700000001000);
    assert.equal(r?.record.errorCode, 'ExitCodeNonzero');
  });

  void it('no status: no record', () => {
    assert.equal(runRecordOf({ createdMs: b('1') }, undefined), undefined);
  });

  const BAD: [string, RawField, RegExp][] = [
    ['finishedMs', b('1e20'), /finishedMs \(not a whole number\)/],
    ['finishedMs', b('99999999999999999'), /finishedMs \(not a whole number\)/],
    ['finishedMs', b('9999999999999999'), /finishedMs \(not a time\)/],
    ['exitCode', b('-1e3'), /exitCode/],
    ['exitCode', b('99999999999'), /exitCode/],
    ['status', b('Exploded'), /status \(not a status\)/],
    ['dropped', b('-1'), /dropped/],
    ['timed', b('true'), /timed/],
    ['errorInfo', b('x'.repeat(3000)), /errorInfo \(over 2048 bytes\)/],
    ['errorInfo', 10_000_000, /errorInfo \(over 4096 bytes\)/],
    ['fire', Buffer.from([0xc0, 0xaf]), /fire \(not UTF-8\)/],
  ];
  for (const [field, value, why] of BAD) {
    void it(`${field} = ${String(value).slice(0, 20)}: the node's Error, naming the field`, () => {
      const r = runRecordOf({ ...GOOD_RUN, [field]: value }, undefined);
      assert.equal(r?.record.status, 'Error');
      assert.equal(r?.record.errorCode, 'InvalidRunRecord');
      assert.match(r?.record.errorInfo ?? '', /^the node's run record is invalid: /);
      assert.match(r?.record.errorInfo ?? '', why);
      assert.equal(r?.bad.length, 1);
    });
  }

  void it('whatever bytes any field holds, the record renders (times are ISO, counts safe)', () => {
    const raw = fc.oneof(
      fc.constant(undefined),
      fc.nat(),
      fc.uint8Array({ maxLength: 40 }).map((x) => Buffer.from(x)),
      fc.oneof(fc.double(), fc.bigInt(), fc.integer()).map((n) => b(String(n))),
    );
    const fields = fc.record(
      Object.fromEntries(Object.keys(RUN_FIELDS).map((f) => [f, raw])) as Record<
        string,
        fc.Arbitrary<RawField>
      >,
    );
    fc.assert(
      fc.property(fields, (h) => {
        const r = runRecordOf(h, undefined)?.record;
        if (!r) return;
        for (const t of [r.createdMs, r.updatedMs, r.startedMs, r.finishedMs, r.stoppedMs]) {
          isoSeconds(t);
        }
        for (const n of [r.dropped, r.repeats, r.skipped]) assert.ok(Number.isSafeInteger(n));
        assert.ok(r.exitCode === undefined || Number.isSafeInteger(r.exitCode));
        assert.ok(Buffer.byteLength(r.errorInfo) <= 4096);
      }),
      { numRuns: 500 },
    );
  });
});

void describe('nodeInfoOf', () => {
  void it('bootTimeMs 1e20: left empty, named, and the node is not trusted', () => {
    const info = nodeInfoOf('n1', { bootId: b('x'), bootTimeMs: b('1e20'), hostname: b('h') });
    assert.equal(info?.bootTimeMs, undefined);
    assert.equal(info?.hostname, 'h');
    assert.deepEqual(info?.invalid, ['bootTimeMs (not a whole number)']);
  });

  void it('no boot id: not registered', () => {
    assert.equal(nodeInfoOf('n1', { hostname: b('h') }), undefined);
  });
});

void describe('capStoredOutput', () => {
  void it('output that fits is kept whole', () => {
    const out = b('é'.repeat(100));
    assert.deepEqual(capStoredOutput({ head: out, tail: b(''), totalBytes: out.length }), {
      output: out,
      cutBytes: 0,
    });
  });

  void it('a head and tail are cut to the limit without splitting a character', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 20_000 }),
        fc.nat({ max: 1_000_000 }),
        (s, extra) => {
          const text = b(s.repeat(Math.ceil(30_000 / s.length)));
          const half = OUTPUT_LIMIT_BYTES / 2;
          const totalBytes = text.length + extra;
          const { output, cutBytes } = capStoredOutput({
            head: text.subarray(0, half),
            tail: text.subarray(text.length - half),
            totalBytes,
          });
          assert.ok(output.length <= OUTPUT_LIMIT_BYTES);
          assert.equal(output.length + cutBytes, totalBytes);
          assert.ok(!output.toString('utf8').includes('\uFFFD'));
        },
      ),
      { numRuns: 100 },
    );
  });
});
