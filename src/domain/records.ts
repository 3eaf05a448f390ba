import { Buffer } from 'node:buffer';
import { z } from 'zod';
import type { RunRecord } from './invocation.js';
import type { NodeInfo } from './node.js';
import { OUTPUT_LIMIT_BYTES, headCut, tailStart } from './output.js';
import { RUN_ERRORS, type RunErrorCode } from './run-errors.js';
import { NODE_STATUSES } from './status.js';

/**
 * The records a node's agent writes (its run records, their history entries, its registration
 * and its stats), validated field by field where the server reads them. A node's Redis user
 * may write anything into its own keys, so nothing read from them is trusted: a field that is
 * not what the agent writes is named as bad, and the record is shown as that node's error
 * instead of breaking an answer that lists other nodes too.
 */

/**
 * A field as the store reads it: its bytes, undefined when absent, or (a number) its length in
 * bytes when it was over FIELD_READ_LIMIT_BYTES and so not read at all.
 */
export type RawField = Buffer | number | undefined;

/** Most bytes of one field (a run's output aside) the server reads from a node's record. */
export const FIELD_READ_LIMIT_BYTES = 4096;

/** Latest time accepted: the last millisecond of the year 9999 (ISO-8601's four digits). */
export const MAX_TIME_MS = 253_402_300_799_999;

/** The per-node ErrorCode of a run whose record holds a field its agent never writes. */
const INVALID_RUN_RECORD = 'InvalidRunRecord' satisfies RunErrorCode;

const whole = z
  .string()
  .regex(/^\d{1,16}$/, 'not a whole number')
  .transform(Number);
const timeMs = whole.pipe(z.number().max(MAX_TIME_MS, 'not a time'));
const count = whole.pipe(z.number().max(Number.MAX_SAFE_INTEGER, 'out of range'));
/** A signed whole number of ms within ±1 year (a clock offset). */
const offsetMs = z
  .string()
  .regex(/^-?\d{1,11}$/, 'not a whole number')
  .transform(Number)
  .pipe(z.number().min(-31_536_000_000, 'out of range').max(31_536_000_000, 'out of range'));
const text = (maxBytes: number) =>
  z.string().refine((s) => Buffer.byteLength(s) <= maxBytes, `over ${maxBytes} bytes`);

/** The fields of a run record (and of a history entry) the server reads, but `output`. */
export const RUN_FIELDS = {
  status: z.enum(NODE_STATUSES, 'not a status'),
  createdMs: timeMs,
  updatedMs: timeMs,
  startedMs: timeMs,
  finishedMs: timeMs,
  stoppedMs: timeMs,
  // 128 + signal for a killed run; Windows codes are unsigned 32-bit.
  exitCode: z
    .string()
    .regex(/^-?\d{1,10}$/, 'not a whole number')
    .transform(Number)
    .pipe(
      z
        .number()
        .min(-(2 ** 31), 'out of range')
        .max(2 ** 32 - 1, 'out of range'),
    ),
  errorCode: text(128),
  errorInfo: text(2048),
  dropped: count,
  repeats: count,
  timed: z.enum(['0', '1'], 'not 0 or 1'),
  skipped: count,
  fire: text(256),
  fireMs: timeMs,
  outputCodec: z.enum(['', 'br'], 'not an output codec'),
} as const;

/** The fields of a node's registration hash the server reads. */
export const NODE_INFO_FIELDS = {
  bootId: text(256),
  hostname: text(255),
  osType: text(64),
  timeZone: text(64),
  agentVersion: text(64),
  bootTimeMs: timeMs,
  registeredMs: timeMs,
  lastHeartbeatMs: timeMs,
  heartbeatSeconds: count.pipe(z.number().min(1, 'out of range')),
  stoppedMs: timeMs,
  invocationCount: count,
  lastInvokedMs: timeMs,
  clockOffsetMs: offsetMs,
} as const;

/** A node's stats hash: runs ended by final status, each a count. */
export const STAT_COUNT = count;

type Shape = Record<string, z.ZodType<unknown, string>>;

/** The valid fields of a record, and the bad ones named with what is wrong (`name (why)`). */
export interface ParsedFields<S extends Shape> {
  values: { -readonly [K in keyof S]?: z.output<S[K]> };
  bad: string[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One field's text, or why it has none. */
function fieldText(raw: Buffer | number): { text: string } | { why: string } {
  if (typeof raw === 'number') return { why: `over ${FIELD_READ_LIMIT_BYTES} bytes` };
  try {
    return { text: utf8.decode(raw) };
  } catch {
    return { why: 'not UTF-8' };
  }
}

/** Validates each field of `shape` found in `raw` on its own, so one bad field spoils no other. */
export function parseFields<S extends Shape>(
  shape: S,
  raw: Readonly<Record<string, RawField>>,
): ParsedFields<S> {
  const values: Record<string, unknown> = {};
  const bad: string[] = [];
  for (const [name, schema] of Object.entries(shape)) {
    const field = raw[name];
    if (field === undefined) continue;
    const t = fieldText(field);
    if ('why' in t) {
      bad.push(`${name} (${t.why})`);
      continue;
    }
    const r = schema.safeParse(t.text);
    if (r.success) values[name] = r.data;
    else bad.push(`${name} (${r.error.issues[0]?.message ?? 'invalid'})`);
  }
  return { values, bad } as ParsedFields<S>;
}

/**
 * A run's output as the store reads it: whole when it fits in OUTPUT_LIMIT_BYTES, else only its
 * first and last half-limit bytes (`tail` is empty when it was read whole).
 */
export interface OutputRead {
  head: Buffer;
  tail: Buffer;
  /** The stored field's length in bytes. */
  totalBytes: number;
}

/**
 * The output a run shows, at most OUTPUT_LIMIT_BYTES whatever a node stored, and the bytes cut
 * from what it stored (to add to its `dropped`): beginning and end, no UTF-8 character split.
 */
export function capStoredOutput(read: OutputRead): { output: Buffer; cutBytes: number } {
  if (read.tail.length === 0 && read.head.length <= OUTPUT_LIMIT_BYTES) {
    return { output: read.head, cutBytes: Math.max(0, read.totalBytes - read.head.length) };
  }
  const half = Math.floor(OUTPUT_LIMIT_BYTES / 2);
  const head = read.head.subarray(0, half);
  const last = read.tail.subarray(Math.max(0, read.tail.length - half));
  const output = Buffer.concat([head.subarray(0, headCut(head)), last.subarray(tailStart(last))]);
  return { output, cutBytes: Math.max(0, read.totalBytes - output.length) };
}

/**
 * A run record from its raw fields; undefined when it has no status (no record). A record with
 * a bad field is shown as that node's error: status Error, ErrorCode InvalidRunRecord and an
 * ErrorInfo naming the bad fields; its valid fields are kept.
 */
export function runRecordOf(
  raw: Readonly<Record<string, RawField>>,
  output: Buffer | undefined,
  /** Fields found bad beyond RUN_FIELDS' own checks (the output, decoded by the store). */
  alsoBad: readonly string[] = [],
): { record: RunRecord; bad: string[] } | undefined {
  if (raw.status === undefined) return undefined;
  const parsed = parseFields(RUN_FIELDS, raw);
  const v = parsed.values;
  const bad = [...parsed.bad, ...alsoBad];
  const invalid = bad.length > 0 || v.status === undefined;
  const record: RunRecord = {
    status: invalid ? 'Error' : (v.status ?? 'Error'),
    createdMs: v.createdMs,
    updatedMs: v.updatedMs,
    startedMs: v.startedMs,
    finishedMs: v.finishedMs,
    stoppedMs: v.stoppedMs,
    exitCode: v.exitCode,
    errorCode: invalid ? INVALID_RUN_RECORD : (v.errorCode ?? ''),
    errorInfo: invalid ? `${RUN_ERRORS.InvalidRunRecord}: ${bad.join(', ')}` : (v.errorInfo ?? ''),
    output,
    dropped: v.dropped ?? 0,
    repeats: v.repeats ?? 0,
    timed: v.timed === '1',
    skipped: v.skipped ?? 0,
    fire: v.fire ?? '',
    fireMs: v.fireMs,
  };
  return { record, bad };
}

/**
 * A node's registration from its raw fields; undefined when it has no boot id (the agent never
 * registered). Bad fields are left empty and listed in `invalid` (such a node is shown offline).
 */
export function nodeInfoOf(
  nodeId: string,
  raw: Readonly<Record<string, RawField>>,
): NodeInfo | undefined {
  if (raw.bootId === undefined) return undefined;
  const { values: v, bad } = parseFields(NODE_INFO_FIELDS, raw);
  return {
    nodeId,
    hostname: v.hostname ?? '',
    osType: v.osType ?? '',
    timeZone: v.timeZone ?? '',
    agentVersion: v.agentVersion ?? '',
    bootId: v.bootId ?? '',
    bootTimeMs: v.bootTimeMs,
    registeredMs: v.registeredMs,
    lastHeartbeatMs: v.lastHeartbeatMs,
    heartbeatSeconds: v.heartbeatSeconds ?? 10,
    stoppedMs: v.stoppedMs,
    invocationCount: v.invocationCount ?? 0,
    lastInvokedMs: v.lastInvokedMs,
    ...(v.clockOffsetMs !== undefined ? { clockOffsetMs: v.clockOffsetMs } : {}),
    ...(bad.length > 0 ? { invalid: bad } : {}),
  };
}
