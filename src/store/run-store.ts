import type { Redis } from 'ioredis';
import type { RunRecord } from '../domain/invocation.js';
import { NODE_STATUSES, type NodeStatus } from '../domain/status.js';
import type { Keys } from './keys.js';
import { DEFAULT_RETENTION_MS, withScripts, type ScriptedRedis } from './scripts.js';

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
  };
}

/** Server-side access to run records (every node's). */
export class RunStore {
  private readonly redis: ScriptedRedis;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
    /** How long records are kept. @default 28 days */
    private readonly retentionMs: number = DEFAULT_RETENTION_MS,
  ) {
    this.redis = withScripts(redis);
  }

  /** Reads the run records of one invocation on many nodes; absent records are left out. */
  async read(
    invokeId: string,
    nodeIds: readonly string[],
    includeOutput: boolean,
  ): Promise<Map<string, RunRecord>> {
    const fields = includeOutput ? [...FIELDS, 'output'] : [...FIELDS];
    const rows = await Promise.all(
      nodeIds.map((id) => this.redis.hmgetBuffer(this.keys.nodeRun(id, invokeId), ...fields)),
    );
    const out = new Map<string, RunRecord>();
    rows.forEach((row, i) => {
      const rec = parseRun(
        row.slice(0, FIELDS.length),
        includeOutput ? row[FIELDS.length] : undefined,
      );
      const id = nodeIds[i];
      if (rec && id !== undefined) out.set(id, rec);
    });
    return out;
  }

  /** Creates the Pending record; returns true when it was created now (not already there). */
  async create(nodeId: string, invokeId: string): Promise<boolean> {
    const r = await this.redis.fcRunCreate(
      this.keys.nodeRun(nodeId, invokeId),
      this.keys.nodeInfo(nodeId),
      this.retentionMs,
    );
    return r === 'Created';
  }

  /** Pending -> Cancelled, Running -> Stopping; returns the status after the call. */
  async stop(nodeId: string, invokeId: string): Promise<string> {
    return this.redis.fcRunStop(this.keys.nodeRun(nodeId, invokeId), this.retentionMs);
  }

  /** Pending (or absent) -> Aborted; returns the status after the call. */
  async abort(
    nodeId: string,
    invokeId: string,
    errorCode: string,
    errorInfo: string,
  ): Promise<string> {
    return this.redis.fcRunAbort(
      this.keys.nodeRun(nodeId, invokeId),
      this.retentionMs,
      errorCode,
      errorInfo,
    );
  }

  async notifyStop(nodeId: string, invokeId: string): Promise<void> {
    await this.redis.publish(this.keys.nodeControlChannel(nodeId), `stop ${invokeId}`);
  }
}
