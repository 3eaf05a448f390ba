import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { OUTPUT_LIMIT_BYTES, OutputCapture } from '../../src/domain/output.js';
import type { OutputSnapshot } from '../../src/domain/output.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function capture(chunks: readonly Uint8Array[], limit?: number): OutputSnapshot {
  const c = new OutputCapture(limit);
  for (const chunk of chunks) c.push(chunk);
  return c.snapshot();
}

/** Splits `bytes` at the given positions (taken modulo length + 1); empty chunks included. */
function chunked(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...cuts.map((n) => n % (bytes.length + 1)), bytes.length].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const to of points) {
    chunks.push(bytes.subarray(from, to));
    from = to;
  }
  return chunks;
}

const isContinuation = (b: number | undefined): boolean => b !== undefined && b >= 0x80 && b < 0xc0;

/** The rules restated on the whole input at once, without streaming. */
function expectedOutput(input: Buffer, limit: number): Buffer {
  if (input.length <= limit) return input;
  let headEnd = Math.floor(limit / 2);
  let lead = headEnd - 1;
  while (lead >= 0 && lead >= headEnd - 4 && isContinuation(input[lead])) lead--;
  if (lead >= 0 && lead >= headEnd - 4) {
    const b = input[lead] ?? 0;
    // 0xf8..0xff never start a UTF-8 sequence, so they have nothing to protect.
    const length = b >= 0xf8 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    if (lead + length > headEnd) headEnd = lead;
  }
  let tailStart = input.length - (limit - headEnd);
  for (let i = 0; i < 3 && isContinuation(input[tailStart]); i++) tailStart++;
  return Buffer.concat([input.subarray(0, headEnd), input.subarray(tailStart)]);
}

/** Asserts `output` is a prefix of `input` of at most `maxHead` bytes followed by a suffix. */
function assertHeadPlusTail(output: Buffer, input: Buffer, maxHead: number): void {
  for (let head = Math.min(maxHead, output.length); head >= 0; head--) {
    const tail = output.length - head;
    if (
      output.subarray(0, head).equals(input.subarray(0, head)) &&
      output.subarray(head).equals(input.subarray(input.length - tail))
    ) {
      return;
    }
  }
  assert.fail(`output is not a prefix (<= ${maxHead} bytes) plus a suffix of the input`);
}

void describe('OutputCapture', () => {
  void it('captures nothing when nothing is pushed', () => {
    const snap = new OutputCapture().snapshot();
    assert.equal(snap.output.length, 0);
    assert.equal(snap.dropped, 0);
    assert.equal(snap.totalBytes, 0);
  });

  void it('keeps exactly OUTPUT_LIMIT_BYTES bytes untouched', () => {
    const input = Buffer.alloc(OUTPUT_LIMIT_BYTES, 'ab€😀');
    const snap = capture(chunked(input, [1, 4096, 10_000]));
    assert.deepEqual(snap.output, input);
    assert.equal(snap.dropped, 0);
    assert.equal(snap.totalBytes, OUTPUT_LIMIT_BYTES);
  });

  void it('drops one byte in the middle at limit + 1', () => {
    const input = Buffer.alloc(OUTPUT_LIMIT_BYTES + 1);
    for (let i = 0; i < input.length; i++) input[i] = 0x20 + (i % 95);
    const snap = capture([input]);
    const half = OUTPUT_LIMIT_BYTES / 2;
    assert.equal(snap.totalBytes, OUTPUT_LIMIT_BYTES + 1);
    assert.equal(snap.dropped, 1);
    assert.deepEqual(
      snap.output,
      Buffer.concat([input.subarray(0, half), input.subarray(half + 1)]),
    );
  });

  const straddling: { name: string; text: string; limit: number; head: string; tail: string }[] = [
    // head budget 8 ends inside the third € (bytes 6..8); tail budget 10 starts inside a €.
    { name: '3-byte €', text: '€'.repeat(10), limit: 16, head: '€€', tail: '€€€' },
    // head budget 11 ends inside the third 😀 (bytes 8..11); tail budget 14 starts inside a 😀.
    { name: '4-byte 😀', text: '😀'.repeat(10), limit: 22, head: '😀😀', tail: '😀😀😀' },
    // head budget 5 ends right after the 2-byte é; tail budget 5 starts on the last byte of a €.
    { name: 'mixed', text: 'abcé' + 'x'.repeat(20) + '€😀', limit: 10, head: 'abcé', tail: '😀' },
    // cuts that land exactly on character boundaries are not moved.
    { name: 'aligned', text: 'ab€' + '-'.repeat(9) + '😀z', limit: 10, head: 'ab€', tail: '😀z' },
  ];
  for (const { name, text, limit, head, tail } of straddling) {
    void it(`never splits a character at either cut (${name})`, () => {
      const input = Buffer.from(text, 'utf8');
      for (const cuts of [[], [1, 2, 3, 5, 8, 13], [...input.keys()]]) {
        const snap = capture(chunked(input, cuts), limit);
        assert.equal(strictUtf8.decode(snap.output), head + tail);
        assert.equal(snap.dropped, input.length - Buffer.byteLength(head + tail));
        assert.equal(snap.totalBytes, input.length);
        assertHeadPlusTail(snap.output, input, Math.floor(limit / 2));
      }
    });
  }

  void it('keeps invalid UTF-8 and NUL bytes byte for byte under the limit', () => {
    const input = Buffer.from([0x00, 0xff, 0xc3, 0x28, 0x80, 0x00, 0xe2, 0x82, 0xfe, 0xf0, 0x9f]);
    assert.throws(() => strictUtf8.decode(input));
    const snap = capture(chunked(input, [2, 3, 7]), input.length);
    assert.deepEqual(snap.output, input);
    assert.equal(snap.dropped, 0);
  });

  void it('backs up over at most 3 continuation bytes in invalid input', () => {
    const input = Buffer.alloc(50, 0x80);
    const snap = capture([input], 10);
    // Head: 5 stray continuation bytes have no lead byte to protect. Tail: 5 bytes minus 3 skipped.
    assert.equal(snap.output.length, 7);
    assert.equal(snap.dropped, 43);
  });

  void it('cuts the head back only before real lead bytes', () => {
    const cases: [number[], number][] = [
      [[0x61, 0x62, 0x63, 0xff], 4], // 0xff never starts a sequence
      [[0x61, 0x62, 0x63, 0xf8], 4],
      [[0x61, 0x62, 0x63, 0xc3], 3], // 2-byte lead with no room for its continuation
      [[0x61, 0xf0, 0x9f, 0x98], 1], // 4-byte lead with 2 of 3 continuation bytes
      [[0xf0, 0x9f, 0x98, 0x80], 4], // complete 4-byte sequence
    ];
    for (const [head, kept] of cases) {
      const input = Buffer.from([...head, ...Buffer.alloc(12, 0x2e)]);
      const snap = capture([input], 8);
      assert.deepEqual(snap.output.subarray(0, kept), input.subarray(0, kept));
      assert.deepEqual(snap.output.subarray(kept), input.subarray(input.length - (8 - kept)));
    }
  });

  void it('keeps the first and last halves with a small custom limit', () => {
    const input = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    const c = new OutputCapture(10);
    for (const chunk of chunked(input, [3, 6, 9, 12, 15, 18, 21, 24])) c.push(chunk);
    assert.equal(c.totalBytes, 26);
    const snap = c.snapshot();
    assert.equal(snap.output.toString(), 'abcdevwxyz');
    assert.equal(snap.dropped, 16);
    assert.equal(snap.totalBytes, 26);
  });

  void it('keeps only the last byte with a limit of 1', () => {
    const snap = capture([Buffer.from('abc')], 1);
    assert.equal(snap.output.toString(), 'c');
    assert.equal(snap.dropped, 2);
  });

  void it('rejects limits that are not positive integers', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new OutputCapture(bad), RangeError);
    }
  });

  void it('returns snapshots that neither alias the capture nor the pushed chunks', () => {
    const c = new OutputCapture(8);
    const chunk = Buffer.from('abcd');
    c.push(chunk);
    const first = c.snapshot();
    chunk.fill('z');
    first.output.fill('y');
    assert.equal(c.snapshot().output.toString(), 'abcd');
    c.push(Buffer.from('efghij'));
    const second = c.snapshot();
    second.output.fill('x');
    assert.equal(c.snapshot().output.toString(), 'abcdghij');
    assert.equal(c.snapshot().dropped, 2);
  });

  void it('agrees with the rules restated on the whole input, however it is chunked', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 8, max: 200 }),
        (bytes, cuts, limit) => {
          const input = Buffer.from(bytes);
          const snap = capture(chunked(input, cuts), limit);
          assert.equal(snap.totalBytes, input.length);
          assert.equal(snap.output.length + snap.dropped, input.length);
          assert.ok(snap.output.length <= limit);
          assertHeadPlusTail(snap.output, input, Math.floor(limit / 2));
          assert.deepEqual(snap.output, expectedOutput(input, limit));
          assert.deepEqual(snap, capture([input], limit));
        },
      ),
      { numRuns: 500 },
    );
  });

  void it('emits valid UTF-8 losing at most 3 bytes per cut when given valid UTF-8', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 150 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 8, max: 200 }),
        (text, cuts, limit) => {
          const input = Buffer.from(text, 'utf8');
          const snap = capture(chunked(input, cuts), limit);
          assert.doesNotThrow(() => strictUtf8.decode(snap.output));
          assert.equal(snap.output.length + snap.dropped, input.length);
          assert.ok(snap.output.length >= Math.min(input.length, limit - 6));
          assertHeadPlusTail(snap.output, input, Math.floor(limit / 2));
        },
      ),
      { numRuns: 500 },
    );
  });

  /**
   * The rule for invalid UTF-8 (docs/api.md, output): a cut never leaves part of a
   * sequence that a lead byte (0xc0-0xf7) announces. The head gives up its last 1-3 bytes only
   * when they are such a lead byte with fewer continuation bytes than it announces; the tail
   * gives up its first 1-3 bytes only when they are continuation bytes (0x80-0xbf). Nothing else
   * is changed: stray continuation bytes, 0xf8-0xff, NUL, ESC and other controls are kept.
   */
  void it('on invalid UTF-8, NUL and escapes, gives up only the bytes of a sequence a cut splits', () => {
    const token = fc.oneof(
      fc
        .constantFrom('a', 'é', '€', '😀', '\x00', '\x1b[31m', '\x1b]0;t\x07')
        .map((t) => Buffer.from(t)),
      fc
        .constantFrom(
          [0x80],
          [0xbf],
          [0xc0],
          [0xc3],
          [0xe2, 0x82],
          [0xf0, 0x9f, 0x98],
          [0xf8],
          [0xff],
        )
        .map((b) => Buffer.from(b)),
    );
    const lengthOf = (b: number) =>
      b >= 0xf8 ? 0 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 0;
    fc.assert(
      fc.property(
        fc.array(token, { maxLength: 80 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 8, max: 64 }),
        (tokens, cuts, limit) => {
          const input = Buffer.concat(tokens);
          const snap = capture(chunked(input, cuts), limit);
          assert.equal(snap.output.length + snap.dropped, input.length);
          if (input.length <= limit) {
            assert.deepEqual(snap.output, input);
            return;
          }
          const half = Math.floor(limit / 2);
          const fits = [0, 1, 2, 3].some((given) => {
            const h = half - given;
            const headGiven = input.subarray(h, half);
            const tailFrom = input.length - (limit - h);
            const t = snap.output.length - h;
            const tailGiven = input.subarray(tailFrom, input.length - t);
            const headOk =
              headGiven.length === 0 ||
              (lengthOf(headGiven[0] ?? 0) > headGiven.length &&
                headGiven.subarray(1).every(isContinuation));
            return (
              t >= 0 &&
              snap.output.subarray(0, h).equals(input.subarray(0, h)) &&
              snap.output.subarray(h).equals(input.subarray(input.length - t)) &&
              headOk &&
              tailGiven.length <= 3 &&
              tailGiven.every(isContinuation)
            );
          });
          assert.ok(
            fits,
            `${input.toString('hex')} limit ${limit} -> ${snap.output.toString('hex')}`,
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  void it('keeps memory bounded over 64 MiB pushed in 64 KiB chunks of one reused buffer', () => {
    const chunkSize = 64 * 1024;
    const chunkCount = 1024;
    const total = chunkSize * chunkCount;
    // ASCII only, so neither cut moves; varies with the offset so misplaced bytes are caught.
    const byteAt = (offset: number): number => 0x21 + ((offset * 7 + (offset >>> 16)) % 94);
    const buffer = Buffer.alloc(chunkSize);
    const c = new OutputCapture();
    const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < chunkCount; i++) {
      const base = i * chunkSize;
      for (let j = 0; j < chunkSize; j++) buffer[j] = byteAt(base + j);
      c.push(buffer);
    }
    // Keeping the stream (or a copy per chunk) would hold >= 64 MiB; the capture needs ~36 KiB.
    assert.ok(process.memoryUsage().arrayBuffers - arrayBuffersBefore < 32 * 1024 * 1024);

    const snap = c.snapshot();
    const half = OUTPUT_LIMIT_BYTES / 2;
    assert.equal(snap.totalBytes, total);
    assert.equal(snap.dropped, total - OUTPUT_LIMIT_BYTES);
    assert.equal(snap.output.length, OUTPUT_LIMIT_BYTES);
    for (let k = 0; k < half; k++) {
      if (snap.output[k] !== byteAt(k)) assert.fail(`head byte ${k} differs`);
      if (snap.output[half + k] !== byteAt(total - half + k)) assert.fail(`tail byte ${k} differs`);
    }
  });
});
