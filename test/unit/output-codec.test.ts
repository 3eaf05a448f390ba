import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { brotliCompressSync, constants } from 'node:zlib';
import fc from 'fast-check';
import { OUTPUT_LIMIT_BYTES } from '../../src/domain/output.js';
import {
  COMPRESS_MIN_BYTES,
  DENSE_FROM_BYTES,
  decodeOutput,
  encodeOutput,
} from '../../src/store/output-codec.js';
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

  void it('packs below DENSE_FROM_BYTES at quality 6, from it on at quality 10', async () => {
    const brotli = (raw: Buffer, quality: number) =>
      brotliCompressSync(raw, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: quality,
          [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
          [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
        },
      });
    for (const [size, quality] of [
      [COMPRESS_MIN_BYTES, 6],
      [DENSE_FROM_BYTES - 1, 6],
      [DENSE_FROM_BYTES, 10],
      [OUTPUT_LIMIT_BYTES, 10],
    ] as const) {
      const raw = outputCorpus(size, 3);
      const { bytes, codec } = await encodeOutput(raw);
      assert.equal(codec, 'br');
      assert.deepEqual(bytes, brotli(raw, quality), `${size} bytes at quality ${quality}`);
      assert.notDeepEqual(bytes, brotli(raw, 16 - quality), `${size} bytes: not the other quality`);
    }
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
