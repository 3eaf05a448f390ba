import { Buffer } from 'node:buffer';

/** Default cap on the stored output of one command on one node (24 KiB). */
export const OUTPUT_LIMIT_BYTES = 24_576;

export interface OutputSnapshot {
  /** Every byte when it fits, otherwise the beginning followed directly by the end. */
  output: Buffer;
  /** Bytes left out of `output`; `output.length + dropped === totalBytes`. */
  dropped: number;
  totalBytes: number;
}

/** True for UTF-8 continuation bytes (10xxxxxx). */
function isContinuation(byte: number): boolean {
  return (byte & 0b1100_0000) === 0b1000_0000;
}

/** Length a UTF-8 lead byte announces, or 0 when the byte cannot start a multi-byte sequence. */
function multiByteLength(byte: number): number {
  if ((byte & 0b1110_0000) === 0b1100_0000) return 2;
  if ((byte & 0b1111_0000) === 0b1110_0000) return 3;
  if ((byte & 0b1111_1000) === 0b1111_0000) return 4;
  return 0;
}

/**
 * Where to end a head of `bytes` so that it does not stop inside a multi-byte character.
 * Only the head's own bytes are looked at, so the decision does not depend on what follows.
 */
export function headCut(bytes: Uint8Array): number {
  const end = bytes.length;
  // Sequences are at most 4 bytes long, so only a lead byte among the last 3 can be cut off.
  for (let i = end - 1; i >= 0 && i >= end - 3; i--) {
    const byte = bytes[i] ?? 0;
    if (isContinuation(byte)) continue;
    const length = multiByteLength(byte);
    return length > 0 && i + length > end ? i : end;
  }
  // Nothing but continuation bytes: not valid UTF-8, so there is no character to protect.
  return end;
}

/** Index of the first byte of `bytes` that is not one of (at most 3) leading continuation bytes. */
export function tailStart(bytes: Uint8Array): number {
  let start = 0;
  while (start < 3 && start < bytes.length && isContinuation(bytes[start] ?? 0)) start++;
  return start;
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
