import type { Redis } from 'ioredis';
import type { RunRecord } from '../domain/invocation.js';
import { NODE_STATUSES, type NodeStatus } from '../domain/status.js';
import type { Keys } from './keys.js';
import type { FireReply, LostReply } from '../domain/run-replies.js';
import { DEFAULT_RETENTION_MS, makeScripts, type Scripts } from './scripts.js';

const FIELDS = [
  'status',
  'createdMs',
  'updatedMs',
  'startedMs',
  'finishedMs',
  'stoppedMs',
  'exitCode',
  'errorCode',
  'errorInfo',
  'dropped',
  'repeats',
  'timed',
  'skipped',
  'fire',
  'fireMs',
] as const;

const STATUS_SET: ReadonlySet<string> = new Set(NODE_STATUSES);

function num(v: Buffer | null | undefined): number | undefined {
  if (v === null || v === undefined || v.length === 0) return undefined;
  const n = Number(v.toString());
  return Number.isFinite(n) ? n : undefined;
}

function parseRun(
  values: (Buffer | null)[],
  output: Buffer | null | undefined,
): RunRecord | undefined {
  const [
    status,
    createdMs,
    updatedMs,
    startedMs,
    finishedMs,
    stoppedMs,
    exitCode,
    errorCode,
    errorInfo,
    dropped,
    repeats,
    timed,
    skipped,
    fire,
    fireMs,
  ] = values;
  const st = status?.toString();
  if (st === undefined || !STATUS_SET.has(st)) return undefined;
  return {
    status: st as NodeStatus,
    createdMs: num(createdMs),
    updatedMs: num(updatedMs),
    startedMs: num(startedMs),
    finishedMs: num(finishedMs),
    stoppedMs: num(stoppedMs),
    exitCode: num(exitCode),
    errorCode: errorCode?.toString() ?? '',
    errorInfo: errorInfo?.toString() ?? '',
    output: output ?? undefined,
    dropped: num(dropped) ?? 0,
    repeats: num(repeats) ?? 0,
    timed: timed?.toString() === '1',
    skipped: num(skipped) ?? 0,
    fire: fire?.toString() ?? '',
    fireMs: num(fireMs),
  };
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

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    /** How long records are kept. @default 28 days */
    private readonly retentionMs: number = DEFAULT_RETENTION_MS,
    private readonly history: HistoryLimits = DEFAULT_HISTORY,
  ) {
    this.scripts = makeScripts(redis, keys);
  }

  /** Reads run records (or history entries) by key, in order; undefined where none is. */
  private async readRecords(
    keys: readonly string[],
    includeOutput: boolean,
  ): Promise<(RunRecord | undefined)[]> {
    const fields = includeOutput ? [...FIELDS, 'output'] : [...FIELDS];
    const rows = await Promise.all(keys.map((key) => this.redis.hmgetBuffer(key, ...fields)));
    return rows.map((row) =>
      parseRun(row.slice(0, FIELDS.length), includeOutput ? row[FIELDS.length] : undefined),
    );
  }

  /** Reads the run records of one invocation on many nodes; absent records are left out. */
  async read(
    invokeId: string,
    nodeIds: readonly string[],
    includeOutput: boolean,
  ): Promise<Map<string, RunRecord>> {
    const records = await this.readRecords(
      nodeIds.map((id) => this.keys.nodeRun(id, invokeId)),
      includeOutput,
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
    const pipe = this.redis.pipeline();
    for (const r of records) pipe.hget(this.keys.nodeRun(r.nodeId, r.invokeId), 'status');
    return ((await pipe.exec()) ?? []).map(([err, st]) => {
      if (err) throw err;
      return typeof st === 'string' && STATUS_SET.has(st) ? (st as NodeStatus) : undefined;
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
   * One fire of a timed invocation on one node (run-fire-2.lua): 'Fired' or 'Already' (enqueue
   * this fire's job), 'Waiting' (enqueue the older fire's job again), 'Skipped' (previous run
   * still running), or 'Ended', 'Stale', 'Missing' (nothing to do).
   */
  async fire(
    nodeId: string,
    invokeId: string,
    fireId: string,
    fireMs: number,
    final: boolean,
    passedOver = false,
  ): Promise<FireReply> {
    return this.scripts.runFire(
      [nodeId, invokeId],
      fireId,
      fireMs,
      final ? '1' : '0',
      passedOver ? '1' : '0',
    );
  }

  /** Ends the node's schedule: not started -> Cancelled, Running -> Stopping; returns the status. */
  async stop(nodeId: string, invokeId: string): Promise<NodeStatus> {
    return this.scripts.runStop([nodeId, invokeId], this.retentionMs, invokeId);
  }

  /** Pending for `fire` (or absent) -> Aborted; returns the status after the call. */
  async abort(
    nodeId: string,
    invokeId: string,
    errorCode: string,
    errorInfo: string,
    fire = '',
  ): Promise<NodeStatus | 'Superseded'> {
    return this.scripts.runAbort([nodeId, invokeId], this.retentionMs, errorCode, errorInfo, fire);
  }

  /**
   * Ends the runs in the active set of a node silent since `seenMs` (run-lost-4.lua: Running ->
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
    const seqs = (await this.redis.lrange(this.keys.runHistory(nodeId, invokeId), 0, -1)).map(
      Number,
    );
    const records = await this.readRecords(
      seqs.map((seq) => this.keys.runHistoryEntry(nodeId, invokeId, seq)),
      includeOutput,
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
