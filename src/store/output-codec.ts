/**
 * How a finished run's output is kept in Redis: brotli-compressed when that is smaller, else as
 * it is. Output is most of a finished run's Redis memory (24 KiB of text costs ~28 KB as one
 * allocation), and typical command output (process lists, logs) shrinks 6-7x.
 *
 * Text mode, at a quality that depends on the size. Quality 10 keeps ~10 % less than quality 6
 * at every size, but it has a fixed cost: on this project's 2-core machine, over the benchmark's
 * corpus (bench/output-corpus.ts), 2 KiB costs 0.96 ms at 10 against 0.05 ms at 6 (634 against
 * 698 B kept), 8 KiB 3.1 against 0.09 ms (1,731 against 1,943 B), 24 KiB 7.9 against 0.18 ms
 * (3,594 against 4,019 B). A finished invocation keeps ~3.3 KB in Redis besides its output, so
 * below 8 KiB quality 10 saves under 3 % of what it keeps, for 20x the node's CPU; from 8 KiB
 * on it saves 4-6 %, which is what the memory per result is sized on (docs/capacity.md).
 * Compressing runs once per run on zlib's thread pool (the agent's event loop does not wait).
 * Quality 11 keeps only 1-3 % less than 10 for 3x its time. The server decompresses on read,
 * never past OUTPUT_LIMIT_BYTES whatever a node stored.
 */
import { promisify } from 'node:util';
import { brotliCompress, brotliDecompressSync, constants } from 'node:zlib';

const compress = promisify(brotliCompress);

/** The `outputCodec` field of a run record: '' (or absent) for plain bytes. */
export type OutputCodec = '' | 'br';

/** Below this, output is kept as it is: compressing would save next to nothing. */
export const COMPRESS_MIN_BYTES = 256;

/** From this many bytes of output on, brotli's quality 10; below, quality 6 (see above). */
export const DENSE_FROM_BYTES = 8192;

/** Brotli's quality (0-11) for `bytes` of output. */
export function brotliQualityFor(bytes: number): number {
  return bytes >= DENSE_FROM_BYTES ? 10 : 6;
}

/** Output as a run record keeps it. */
export async function encodeOutput(raw: Buffer): Promise<{ bytes: Buffer; codec: OutputCodec }> {
  if (raw.length < COMPRESS_MIN_BYTES) return { bytes: raw, codec: '' };
  const packed = await compress(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: brotliQualityFor(raw.length),
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
