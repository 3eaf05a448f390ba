/**
 * The output cap and where it cuts, without Node's Buffer: the web console (ui/) imports this
 * module to place the `… N bytes dropped …` marker where the CLI places it.
 */

/** Default cap on the stored output of one command on one node (24 KiB). */
export const OUTPUT_LIMIT_BYTES = 24_576;

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
