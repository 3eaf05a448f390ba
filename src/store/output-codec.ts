/**
 * How a finished run's output is kept in Redis: brotli-compressed when that is smaller, else as
 * it is. Output is most of a finished run's Redis memory (24 KiB of text costs ~28 KB as one
 * allocation), and typical command output (process lists, logs) shrinks 6-7x.
 *
 * Brotli at quality 10, text mode. Output is capped at 24 KiB, so compressing costs the node a
 * bounded ~5-10 ms of CPU once per run (on zlib's thread pool: the agent's event loop does not
 * wait), while every byte saved is kept in Redis for the whole retention. Measured on 24 KiB of
 * eight texts (the benchmark's corpus, `ps`, `dmesg`, dpkg/apt logs, Markdown, JSON): quality 4
 * keeps 2.7-8.4 KB in 0.1-0.3 ms; 5-9 save 3-10 % more (9 at 3-11 ms); 10 saves 8-16 % more
 * than 4 in 4-9 ms; 11 only 1-3 % more than 10 for 3x its time. The server decompresses on read,
 * never past OUTPUT_LIMIT_BYTES whatever a node stored.
 */
import { promisify } from 'node:util';
import { brotliCompress, brotliDecompressSync, constants } from 'node:zlib';

const compress = promisify(brotliCompress);

/** The `outputCodec` field of a run record: '' (or absent) for plain bytes. */
export type OutputCodec = '' | 'br';

/** Below this, output is kept as it is: compressing would save next to nothing. */
export const COMPRESS_MIN_BYTES = 256;

/** Brotli's quality (0-11) for stored output; see above for why 10. */
export const OUTPUT_BROTLI_QUALITY = 10;

/** Output as a run record keeps it. */
export async function encodeOutput(raw: Buffer): Promise<{ bytes: Buffer; codec: OutputCodec }> {
  if (raw.length < COMPRESS_MIN_BYTES) return { bytes: raw, codec: '' };
  const packed = await compress(raw, {
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
