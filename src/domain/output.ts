import { Buffer } from 'node:buffer';
import { headCut, OUTPUT_LIMIT_BYTES, tailStart } from './utf8-cut.js';

export { headCut, OUTPUT_LIMIT_BYTES, tailStart };

export interface OutputSnapshot {
  /** Every byte when it fits, otherwise the beginning followed directly by the end. */
  output: Buffer;
  /** Bytes left out of `output`; `output.length + dropped === totalBytes`. */
  dropped: number;
  totalBytes: number;
}

/**
 * Streaming, capped capture of a command's combined output.
 *
 * Output up to the limit is kept byte for byte. Beyond it, the first half of the limit and the
 * latest bytes are kept, because the start (what ran) and the end (how it ended) are what people
 * read; neither cut splits a UTF-8 character. Memory is O(limit) whatever the stream size: the
 * head is stored once and the end lives in a ring buffer of `limit` bytes.
 */
export class OutputCapture {
  readonly #limit: number;
  readonly #head: Buffer;
  #headLength = 0;
  /** Holds the last min(total, limit) bytes; the oldest one is at #ringEnd once the ring is full. */
  readonly #ring: Buffer;
  /** Position of the next write into the ring. */
  #ringEnd = 0;
  #total = 0;

  constructor(limitBytes: number = OUTPUT_LIMIT_BYTES) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes < 1) {
      throw new RangeError(`limitBytes must be a positive integer, got ${String(limitBytes)}`);
    }
    this.#limit = limitBytes;
    this.#head = Buffer.alloc(Math.floor(limitBytes / 2));
    this.#ring = Buffer.alloc(limitBytes);
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;

    if (this.#headLength < this.#head.length) {
      const take = Math.min(this.#head.length - this.#headLength, chunk.length);
      this.#head.set(chunk.subarray(0, take), this.#headLength);
      this.#headLength += take;
    }

    const capacity = this.#ring.length;
    if (chunk.length >= capacity) {
      // The chunk alone fills the ring: keep its end, laid out in order from position 0.
      this.#ring.set(chunk.subarray(chunk.length - capacity));
      this.#ringEnd = 0;
    } else {
      const first = Math.min(capacity - this.#ringEnd, chunk.length);
      this.#ring.set(chunk.subarray(0, first), this.#ringEnd);
      this.#ring.set(chunk.subarray(first), 0);
      this.#ringEnd = (this.#ringEnd + chunk.length) % capacity;
    }

    this.#total += chunk.length;
  }

  /** Bytes pushed so far, including those that will be dropped. */
  get totalBytes(): number {
    return this.#total;
  }

  snapshot(): OutputSnapshot {
    const totalBytes = this.#total;
    if (totalBytes <= this.#limit) {
      // Nothing has wrapped yet, so the ring holds every byte in order from position 0.
      return { output: Buffer.from(this.#ring.subarray(0, totalBytes)), dropped: 0, totalBytes };
    }

    const head = this.#head.subarray(0, headCut(this.#head));
    // totalBytes > limit >= 2 * head.length, so the tail never reaches back into the head.
    const last = this.#lastBytes(this.#limit - head.length);
    const tail = last.subarray(tailStart(last));
    const output = Buffer.concat([head, tail]);
    return { output, dropped: totalBytes - output.length, totalBytes };
  }

  /** Copy of the last `count` bytes pushed; `count` must not exceed the ring's size. */
  #lastBytes(count: number): Buffer {
    const capacity = this.#ring.length;
    const start = (this.#ringEnd - count + capacity) % capacity;
    if (start + count <= capacity) return Buffer.from(this.#ring.subarray(start, start + count));
    return Buffer.concat([this.#ring.subarray(start), this.#ring.subarray(0, this.#ringEnd)]);
  }
}
