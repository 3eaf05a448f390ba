import { Buffer } from 'node:buffer';
import type { RedisClient } from './redis.js';
import type { RunRecord } from '../domain/invocation.js';
import { OUTPUT_LIMIT_BYTES } from '../domain/output.js';
import { decodeOutput } from './output-codec.js';
import {
  FIELD_READ_LIMIT_BYTES,
  RUN_FIELDS,
  capStoredOutput,
  parseFields,
  runRecordOf,
  type RawField,
} from '../domain/records.js';
import { ScriptReplyError } from '../domain/run-replies.js';
import type { NodeStatus } from '../domain/status.js';
import type { Keys } from './keys.js';
import type { FireReply, LostReply } from '../domain/run-replies.js';
import { DEFAULT_RETENTION_MS, makeScripts, type Scripts } from './scripts.js';
import { RolloutStore } from './rollout-store.js';

const FIELD_NAMES = Object.keys(RUN_FIELDS);

/** How many bad-record warnings a store remembers having logged (then it starts over). */
const WARNED_LIMIT = 10_000;

/** Where a store logs what it found wrong in a node's records. */
export interface RecordWarnings {
  warn(obj: object, msg: string): void;
}

/**
 * Logs a warning about a node's record once per record and problem (a bad record is read by
 * every request that lists it: one line each would let a node flood the log).
 */
export class WarnOnce {
  private readonly seen = new Set<string>();

  constructor(private readonly log: RecordWarnings | undefined) {}

  warn(key: string, obj: object, msg: string): void {
    if (!this.log) return;
    const id = `${key} ${msg} ${JSON.stringify(obj)}`;
    if (this.seen.has(id)) return;
    if (this.seen.size >= WARNED_LIMIT) this.seen.clear();
    this.seen.add(id);
    this.log.warn(obj, msg);
  }
}

/** How a node's record of a timed invocation is created. */
export interface TimedRecord {
  /** The boot trigger the agent fires at the node's next boot (JSON), for boot invocations. */
  bootTrigger?: string;
}

/** Bounds of a periodic run's history. */
export interface HistoryLimits {
  /** @default 100 */
  maxRuns: number;
  /** @default 7 days */
  maxAgeMs: number;
}

export const DEFAULT_HISTORY: HistoryLimits = { maxRuns: 100, maxAgeMs: 7 * 24 * 3600 * 1000 };

/** One past run of a periodic record, as its history entry keeps it. */
export interface HistoryEntry extends RunRecord {
  seq: number;
}

/** Server-side access to run records (every node's). */
export class RunStore {
  private readonly scripts: Scripts;
  private readonly warnings: WarnOnce;
  /** The invocations' output groups and rollouts, kept as runs end. */
  readonly rollouts: RolloutStore;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** How long records are kept. @default 28 days */
    private readonly retentionMs: number = DEFAULT_RETENTION_MS,
    private readonly history: HistoryLimits = DEFAULT_HISTORY,
    /** Where bad node records are reported. @default nowhere */
    log?: RecordWarnings,
  ) {
    this.scripts = makeScripts(redis, keys);
    this.warnings = new WarnOnce(log);
    this.rollouts = new RolloutStore(redis, keys, retentionMs);
  }

  /**
   * Reads one run record (or history entry) through a capped read: every field is validated
   * (a bad one makes the record that node's error, see runRecordOf) and at most
   * OUTPUT_LIMIT_BYTES of its output leaves Redis, whatever the node stored; what is cut is
   * added to `dropped`. Undefined where there is no record.
   */
  private async readRecord(
    key: string,
    at: { nodeId: string; invokeId: string },
    includeOutput: boolean,
  ): Promise<RunRecord | undefined> {
    const values = await this.scripts.hashRead(
      [key],
      FIELD_READ_LIMIT_BYTES,
      includeOutput ? 'output' : '',
      OUTPUT_LIMIT_BYTES,
      ...FIELD_NAMES,
    );
    const raw: Record<string, RawField> = {};
    FIELD_NAMES.forEach((name, i) => (raw[name] = values[i]));
    const out = includeOutput ? this.outputOf(values.slice(FIELD_NAMES.length)) : undefined;
    const output = out && this.decoded(out.output, raw.outputCodec);
    const parsed = runRecordOf(
      raw,
      output,
      out && output === undefined ? ['output (not valid compressed output within the limit)'] : [],
    );
    if (!parsed) return undefined;
    const { record, bad } = parsed;
    if (bad.length > 0) {
      this.warnings.warn(key, { ...at, fields: bad }, "a node's run record has invalid fields");
    }
    if (out && out.cutBytes > 0) {
      record.dropped = Math.min(Number.MAX_SAFE_INTEGER, record.dropped + out.cutBytes);
      const storedBytes = out.cutBytes + out.output.length;
      this.warnings.warn(key, { ...at, storedBytes }, "a node's run output is over the limit");
    }
    return record;
  }

  /**
   * Output as stored, decoded by its codec (a bad codec reads as plain: runRecordOf reports
   * the field); undefined when it does not decode within OUTPUT_LIMIT_BYTES.
   */
  private decoded(stored: Buffer, codec: RawField): Buffer | undefined {
    const known = Buffer.isBuffer(codec) && codec.toString() === 'br' ? 'br' : '';
    return decodeOutput(stored, known, OUTPUT_LIMIT_BYTES);
  }

  /** The output part of a capped read's reply: head, tail, stored length. */
  private outputOf(reply: RawField[]): { output: Buffer; cutBytes: number } {
    const [head, tail, totalBytes] = reply;
    if (!Buffer.isBuffer(head) || !Buffer.isBuffer(tail) || typeof totalBytes !== 'number') {
      throw new ScriptReplyError('hash-read-1.lua', reply);
    }
    return capStoredOutput({ head, tail, totalBytes });
  }

  /** Reads the run records of one invocation on many nodes; absent records are left out. */
  async read(
    invokeId: string,
    nodeIds: readonly string[],
    includeOutput: boolean,
  ): Promise<Map<string, RunRecord>> {
    const records = await Promise.all(
      nodeIds.map((nodeId) =>
        this.readRecord(this.keys.nodeRun(nodeId, invokeId), { nodeId, invokeId }, includeOutput),
      ),
    );
    const out = new Map<string, RunRecord>();
    records.forEach((rec, i) => {
      const id = nodeIds[i];
      if (rec && id !== undefined) out.set(id, rec);
    });
    return out;
  }

  /**
   * The status of each node's record of each invocation, in order, in one round trip:
   * undefined where there is no record (yet, or any more).
   */
  async statuses(
    records: readonly { nodeId: string; invokeId: string }[],
  ): Promise<(NodeStatus | undefined)[]> {
    const read = (r: { nodeId: string; invokeId: string }) =>
      this.scripts.hashRead([this.keys.nodeRun(r.nodeId, r.invokeId)], 64, '', 0, 'status');
    return (await Promise.all(records.map(read))).map(([status]) => {
      if (status === undefined) return undefined;
      // As read() shows it: a status the agent never writes makes the run that node's error.
      return parseFields({ status: RUN_FIELDS.status }, { status }).values.status ?? 'Error';
    });
  }

  /**
   * Creates the record unless it exists: Pending for a one-off run, Scheduled for a timed one
   * (`timed` given). A command invocation (`listedMs`: its creation time) is first listed in
   * the node's index, in the same script, so a node's listing holds every invocation that has
   * a record there. Returns true when the record was created now.
   */
  async create(
    nodeId: string,
    invokeId: string,
    listedMs: number | undefined,
    timed?: TimedRecord,
  ): Promise<boolean> {
    const r = await this.scripts.runCreate(
      [nodeId, invokeId],
      this.retentionMs,
      timed ? 'timed' : 'once',
      this.history.maxRuns,
      this.history.maxAgeMs,
      invokeId,
      timed?.bootTrigger ?? '',
      listedMs ?? '',
      listedMs === undefined ? '' : listedMs - this.retentionMs,
      this.keys.nodeRun(nodeId, ''),
    );
    return r === 'Created';
  }

  /**
   * One fire of a timed invocation on one node (run-fire-3.lua): 'Fired' or 'Already' (enqueue
   * this fire's job), 'Waiting' (enqueue the older fire's job again), 'Skipped' (previous run
   * still running), or 'Ended', 'Stale', 'Missing' (nothing to do). `passedOverMs`: the slot of
   * a late fire job that this fire stands in for, counted as skipped where the record has not
   * seen it (the reply says so). `ahead`: the scheduler's delivery before the slot, which
   * leaves a record whose previous run has not ended as it is ('Busy'): its agent decides at the
   * slot (AgentStore.fireAtSlot).
   */
  async fire(
    nodeId: string,
    invokeId: string,
    fireId: string,
    fireMs: number,
    final: boolean,
    passedOverMs?: number,
    ahead = false,
  ): Promise<FireReply> {
    return this.scripts.runFire(
      [nodeId, invokeId],
      fireId,
      fireMs,
      final ? '1' : '0',
      invokeId,
      passedOverMs ?? '',
      ahead ? '1' : '0',
    );
  }

  /** Ends the node's schedule: not started -> Cancelled, Running -> Stopping; returns the status. */
  async stop(nodeId: string, invokeId: string): Promise<NodeStatus> {
    return this.scripts.runStop([nodeId, invokeId], this.retentionMs, invokeId);
  }

  /**
   * Pending for `fire` (or absent) -> Aborted (or `final` Cancelled, for a rollout's node not
   * started); returns the status after the call.
   */
  async abort(
    nodeId: string,
    invokeId: string,
    errorCode: string,
    errorInfo: string,
    fire = '',
    final: 'Aborted' | 'Cancelled' = 'Aborted',
  ): Promise<NodeStatus | 'Superseded'> {
    return this.scripts.runAbort(
      [nodeId, invokeId],
      this.retentionMs,
      errorCode,
      errorInfo,
      fire,
      invokeId,
      final,
    );
  }

  /**
   * Ends the runs in the active set of a node silent since `seenMs` (run-lost-5.lua: Running ->
   * Error, Stopping -> Terminated, only while the node has not been heard from since). One
   * SMEMBERS and one script call per run in the set; answers each run's reply.
   */
  async endLost(
    nodeId: string,
    seenMs: number,
    errorCode: string,
    errorInfo: string,
  ): Promise<{ invokeId: string; reply: LostReply }[]> {
    const out: { invokeId: string; reply: LostReply }[] = [];
    for (const invokeId of await this.redis.smembers(this.keys.nodeActive(nodeId))) {
      const reply = await this.scripts.runLost(
        [nodeId, invokeId],
        invokeId,
        String(seenMs),
        errorCode,
        errorInfo,
      );
      out.push({ invokeId, reply });
      // The agent is back: its own reports decide the rest.
      if (reply.outcome === 'Alive') break;
    }
    return out;
  }

  /** A periodic record's past runs, newest first (entries past their age are gone). */
  async readHistory(
    nodeId: string,
    invokeId: string,
    includeOutput: boolean,
  ): Promise<HistoryEntry[]> {
    // The list is the node's to write: at most the configured number of entries are read,
    // and an element that is not a sequence number is skipped.
    const listed = await this.scripts.listRead(
      [this.keys.runHistory(nodeId, invokeId)],
      this.history.maxRuns,
      32,
    );
    const seqs = listed
      .map((v) =>
        Buffer.isBuffer(v) && /^\d{1,15}$/.test(v.toString()) ? Number(v.toString()) : 0,
      )
      .filter((seq) => seq > 0);
    const at = { nodeId, invokeId };
    const records = await Promise.all(
      seqs.map((seq) =>
        this.readRecord(this.keys.runHistoryEntry(nodeId, invokeId, seq), at, includeOutput),
      ),
    );
    const out: HistoryEntry[] = [];
    records.forEach((rec, i) => {
      const seq = seqs[i];
      if (rec && seq !== undefined) out.push({ ...rec, seq });
    });
    return out;
  }

  async notifyStop(nodeId: string, invokeId: string): Promise<void> {
    await this.redis.publish(this.keys.nodeControlChannel(nodeId), `stop ${invokeId}`);
  }
}
