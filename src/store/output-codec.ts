/**
 * How a finished run's output is kept in Redis: brotli-compressed when that is smaller, else as
 * it is. Output is most of a finished run's Redis memory (24 KiB of text costs ~28 KB as one
 * allocation), and typical command output (process lists, logs) shrinks 6-7x.
 *
 * Brotli at quality 4, text mode: on the benchmark's corpus (bench/output-corpus.ts) it keeps
 * 24 KiB in about as many bytes as deflate at level 9 for less CPU, and quality 5 and up save
 * only a few per cent more for ~1.5x the time. The agent compresses, once per run, when the run
 * ends (a running command's output stays plain, as `logs --follow` reads it); the server
 * decompresses on read, never past OUTPUT_LIMIT_BYTES whatever a node stored.
 */
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';

/** The `outputCodec` field of a run record: '' (or absent) for plain bytes. */
export type OutputCodec = '' | 'br';

/** Below this, output is kept as it is: compressing would save next to nothing. */
export const COMPRESS_MIN_BYTES = 256;

/** Brotli's quality (0-11) for stored output; see above for why 4. */
export const OUTPUT_BROTLI_QUALITY = 4;

/** Output as a run record keeps it. */
export function encodeOutput(raw: Buffer): { bytes: Buffer; codec: OutputCodec } {
  if (raw.length < COMPRESS_MIN_BYTES) return { bytes: raw, codec: '' };
  const packed = brotliCompressSync(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: OUTPUT_BROTLI_QUALITY,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    },
  });
  return packed.length < raw.length ? { bytes: packed, codec: 'br' } : { bytes: raw, codec: '' };
}

/**
 * The output bytes a record keeps, decoded; undefined when they are not valid brotli or would
 * decode to more than `limitBytes` (a node's agent wrote them: never trusted).
 */
export function decodeOutput(
  stored: Buffer,
  codec: OutputCodec,
  limitBytes: number,
): Buffer | undefined {
  if (codec === '') return stored;
  try {
    return brotliDecompressSync(stored, { maxOutputLength: limitBytes });
  } catch {
    return undefined;
  }
}
