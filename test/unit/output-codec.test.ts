import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { brotliCompressSync } from 'node:zlib';
import fc from 'fast-check';
import { OUTPUT_LIMIT_BYTES } from '../../src/domain/output.js';
import { COMPRESS_MIN_BYTES, decodeOutput, encodeOutput } from '../../src/store/output-codec.js';
import { outputCorpus } from '../../bench/output-corpus.js';

void describe('stored output codec', () => {
  void it('reads back byte for byte: random bytes and text, any size up to the cap', async () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: OUTPUT_LIMIT_BYTES }).map((b) => Buffer.from(b)),
      fc
        .string({ maxLength: 8000 })
        .map((s) => Buffer.from(s.repeat(3)).subarray(0, OUTPUT_LIMIT_BYTES)),
      fc
        .record({ size: fc.integer({ min: 0, max: OUTPUT_LIMIT_BYTES }), seed: fc.nat() })
        .map(({ size, seed }) => outputCorpus(size, seed)),
    );
    await fc.assert(
      fc.asyncProperty(bytes, async (raw) => {
        const { bytes: stored, codec } = await encodeOutput(raw);
        assert.ok(stored.length <= raw.length, 'never larger than the output');
        assert.deepEqual(decodeOutput(stored, codec, OUTPUT_LIMIT_BYTES), raw);
      }),
      { numRuns: 120 },
    );
  });

  void it('compresses typical text at least 6 times; leaves small and random output plain', async () => {
    const text = outputCorpus(OUTPUT_LIMIT_BYTES);
    const packed = await encodeOutput(text);
    assert.equal(packed.codec, 'br');
    assert.ok(packed.bytes.length * 6 < text.length, `${packed.bytes.length} bytes`);
    const small = Buffer.from('x'.repeat(COMPRESS_MIN_BYTES - 1));
    assert.deepEqual(await encodeOutput(small), { bytes: small, codec: '' });
    const noise = randomBytes(2048);
    assert.equal((await encodeOutput(noise)).codec, '');
  });

  void it('refuses what decodes past the limit or is not brotli', () => {
    const bomb = brotliCompressSync(Buffer.alloc(OUTPUT_LIMIT_BYTES + 1));
    assert.equal(decodeOutput(bomb, 'br', OUTPUT_LIMIT_BYTES), undefined);
    const exact = brotliCompressSync(Buffer.alloc(OUTPUT_LIMIT_BYTES, 'a'));
    assert.equal(decodeOutput(exact, 'br', OUTPUT_LIMIT_BYTES)?.length, OUTPUT_LIMIT_BYTES);
    assert.equal(decodeOutput(Buffer.from('plain text'), 'br', OUTPUT_LIMIT_BYTES), undefined);
    assert.deepEqual(decodeOutput(Buffer.from('plain'), '', 0), Buffer.from('plain'));
  });
});
