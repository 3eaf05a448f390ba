import { randomBytes } from 'node:crypto';
import type { RedisClient } from './redis.js';
import type {
  ContentEncoding,
  FileSpec,
  Invocation,
  InvocationHead,
  InvocationKind,
  RepeatMode,
  TerminationMode,
} from '../domain/invocation.js';
import { invocationKind } from '../domain/invocation.js';
import { newestFirst, pageNewestFirst, type IndexEntry } from './index-page.js';
import type { Keys } from './keys.js';
import { DEFAULT_RETENTION_MS, makeScripts, type Scripts } from './scripts.js';

/**
 * The most target nodes kept in the invocation's hash (NodeIdList's cap); a longer list (a tag
 * target, up to 100,000) is a list of its own (Keys.invocationNodes), written and read a chunk
 * at a time, so no Redis argument or reply holds it whole.
 */
const HASH_NODE_LIST_MAX = 1000;
const NODE_LIST_CHUNK = 1000;
/**
 * The most nodes whose list goes with the hash in its creation script (one round trip, a
 * chunk of ids an argument); a longer list is drafted first, a chunk per command.
 */
const INLINE_NODE_LIST_MAX = 10_000;
/** A draft node list outlives a creation attempt that died by this much at most. */
const DRAFT_TTL_MS = 3600_000;

const inHash = (inv: Invocation) => inv.nodeIds.length <= HASH_NODE_LIST_MAX;

function toHash(inv: Invocation): Record<string, string | Buffer> {
  return {
    invokeId: inv.invokeId,
    commandId: inv.commandId,
    name: inv.name,
    description: inv.description,
    content: inv.content,
    ...(inHash(inv)
      ? { nodeIds: JSON.stringify(inv.nodeIds) }
      : { nodeList: String(inv.nodeIds.length) }),
    frequency: inv.frequency,
    repeatMode: inv.repeatMode,
    timeoutSeconds: String(inv.timeoutSeconds),
    username: inv.username,
    workingDir: inv.workingDir,
    parameters: JSON.stringify(inv.parameters),
    enableParameter: inv.enableParameter ? '1' : '0',
    terminationMode: inv.terminationMode,
    launcher: inv.launcher,
    createdMs: String(inv.createdMs),
    ...(inv.file ? fileFields(inv.file) : {}),
    nodeCount: String(inv.nodeIds.length),
    ...(inv.maxConcurrency ? { maxConcurrency: inv.maxConcurrency } : {}),
    ...(inv.maxErrors ? { maxErrors: inv.maxErrors } : {}),
  };
}

function fileFields(f: FileSpec): Record<string, string> {
  return {
    kind: 'file',
    targetDir: f.targetDir,
    fileMode: f.fileMode,
    fileOwner: f.fileOwner,
    fileGroup: f.fileGroup,
    overwrite: f.overwrite ? '1' : '0',
    contentType: f.contentType,
  };
}

function fileFromHash(s: (k: string) => string): FileSpec | undefined {
  if (s('kind') !== 'file') return undefined;
  return {
    targetDir: s('targetDir'),
    fileMode: s('fileMode'),
    fileOwner: s('fileOwner'),
    fileGroup: s('fileGroup'),
    overwrite: s('overwrite') === '1',
    contentType: (s('contentType') || 'PlainText') as ContentEncoding,
  };
}

function fromHash(h: Record<string, Buffer>): Invocation | undefined {
  const s = (k: string) => h[k]?.toString() ?? '';
  if (!h.invokeId || !h.content) return undefined;
  return {
    invokeId: s('invokeId'),
    commandId: s('commandId'),
    name: s('name'),
    description: s('description'),
    content: h.content,
    nodeIds: JSON.parse(s('nodeIds') || '[]') as string[],
    frequency: s('frequency'),
    repeatMode: (s('repeatMode') || 'Once') as RepeatMode,
    timeoutSeconds: Number(s('timeoutSeconds')),
    username: s('username'),
    workingDir: s('workingDir'),
    parameters: JSON.parse(s('parameters') || '{}') as Record<string, string>,
    enableParameter: s('enableParameter') === '1',
    terminationMode: (s('terminationMode') || 'ProcessTree') as TerminationMode,
    launcher: s('launcher'),
    createdMs: Number(s('createdMs')),
    file: fileFromHash(s),
    ...(s('maxConcurrency') ? { maxConcurrency: s('maxConcurrency') } : {}),
    ...(s('maxErrors') ? { maxErrors: s('maxErrors') } : {}),
  };
}

/** One schedule of a timed invocation: a BullMQ job scheduler (or `at()` job) and its nodes. */
export interface ScheduleGroup {
  /** Job scheduler id (or the `at()` job's id). */
  id: string;
  /** The time zone the schedule fires in ('' when it needs none). */
  zone: string;
  nodeIds: string[];
}

const isGroupList = (v: unknown): v is ScheduleGroup[] =>
  Array.isArray(v) &&
  v.every(
    (g: Partial<ScheduleGroup>) =>
      typeof g.id === 'string' && typeof g.zone === 'string' && Array.isArray(g.nodeIds),
  );

/** A ClientToken key's value: `<invokeId> <requestDigest>`. */
function parseClaim(value: string): { invokeId: string; requestDigest: string } {
  const [invokeId = '', requestDigest = ''] = value.split(' ');
  return { invokeId, requestDigest };
}

/**
 * Undispatched invocations a NodeId listing reads per page. More are undispatched only while
 * no scheduler runs; then the oldest of them may be missing from NodeId listings until they are
 * dispatched.
 */
const UNDISPATCHED_READ = 500;

/** A position in the newest-first index: score and id of the last item returned. */
export interface IndexCursor {
  createdMs: number;
  invokeId: string;
}

export class InvocationStore {
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** How long records are kept. @default 28 days */
    private readonly retentionMs: number = DEFAULT_RETENTION_MS,
  ) {
    this.scripts = makeScripts(redis, keys);
  }

  /**
   * Writes the invocation unless it exists (a retried ClientToken request finds it). Returns
   * whether this call created it, the stored creation time, and whether its jobs were enqueued
   * (see publish: marked and listed).
   */
  async create(
    inv: Invocation,
  ): Promise<{ created: boolean; createdMs: number; enqueued: boolean }> {
    const key = this.keys.invocation(inv.invokeId);
    const args = Object.entries(toHash(inv)).flat();
    // A timed invocation is kept while it may fire; it expires `retentionMs` after it ends.
    const persist = inv.repeatMode === 'Once' ? '0' : '1';
    const attempt = randomBytes(8).toString('hex');
    const n = inv.nodeIds.length;
    const inline: string[] = [];
    if (!inHash(inv) && n > INLINE_NODE_LIST_MAX) await this.writeDraft(inv, attempt);
    else if (!inHash(inv)) {
      for (let i = 0; i < n; i += NODE_LIST_CHUNK) {
        inline.push(inv.nodeIds.slice(i, i + NODE_LIST_CHUNK).join(' '));
      }
    }
    const { created, createdMs } = await this.scripts.invCreate(
      [inv.invokeId, attempt],
      this.retentionMs,
      persist,
      inline.length,
      ...inline,
      ...args,
    );
    if (created) return { created, createdMs, enqueued: false };
    // A one-off invocation is published once fanned out (marked dispatched); a timed one once
    // its dispatch job is queued (marked enqueued).
    const [marks, listed] = await Promise.all([
      this.redis.hmget(key, 'enqueuedMs', 'dispatchedMs'),
      this.redis.zscore(this.keys.indexOf(invocationKind(inv)), inv.invokeId),
    ]);
    const marked = inv.repeatMode === 'Once' ? (marks[1] ?? marks[0]) : marks[0];
    return {
      created,
      createdMs,
      enqueued: marked !== null && marked !== undefined && listed !== null,
    };
  }

  /**
   * A long node list, a chunk per command, under this attempt's draft keys: the list (in order)
   * and the same ids as a set (which node is a target, for inv-fold-6.lua). Each chunk is one
   * transaction that also sets the drafts' expiry, so no draft key is ever left without one;
   * the chunks are sent together (one round trip: a connection runs them in order).
   */
  private async writeDraft(inv: Invocation, attempt: string): Promise<void> {
    const draft = this.keys.invocationNodesDraft(inv.invokeId, attempt);
    const set = this.keys.invocationTargetsDraft(inv.invokeId, attempt);
    const chunks: Promise<[Error | null, unknown][] | null>[] = [];
    for (let i = 0; i < inv.nodeIds.length; i += NODE_LIST_CHUNK) {
      const chunk = inv.nodeIds.slice(i, i + NODE_LIST_CHUNK);
      chunks.push(
        this.redis
          .multi()
          .rpush(draft, ...chunk)
          .sadd(set, ...chunk)
          .pexpire(draft, DRAFT_TTL_MS)
          .pexpire(set, DRAFT_TTL_MS)
          .exec(),
      );
    }
    for (const replies of await Promise.all(chunks)) {
      if (!replies) throw new Error('node list draft: transaction aborted');
      for (const [err] of replies) if (err) throw err;
    }
  }

  /** An invocation's node list kept apart from its hash (see HASH_NODE_LIST_MAX). */
  private async nodeList(invokeId: string, count: number): Promise<string[]> {
    const key = this.keys.invocationNodes(invokeId);
    const out: string[] = [];
    for (let i = 0; i < count; i += NODE_LIST_CHUNK) {
      out.push(...(await this.redis.lrange(key, i, i + NODE_LIST_CHUNK - 1)));
    }
    return out;
  }

  /**
   * Lists the invocation once its jobs are queued: a command in the invocation index, a sent
   * file in its own index; and marks it. A timed command is also listed among the undispatched
   * ones (its nodes' indexes get it with their run records, at dispatch; until then a NodeId
   * listing finds it there) and marked enqueued (its dispatch job is queued). A one-off
   * invocation is fanned out already (`dispatched`): its nodes' indexes hold it, and it is
   * marked dispatched, which answers whether this call marked it first (a retry does not). The
   * listings are one script (all in `{global}`), so they are written together or not at all;
   * the mark is on the invocation's hash (another slot), sent right behind it in the same round
   * trip. A retry counts the jobs enqueued only when both the mark and the index entry are
   * there (create), so a failure of either step makes a ClientToken retry publish again (each
   * write is idempotent). Two commands, whatever the number of nodes.
   */
  async publish(
    inv: Invocation,
    createdMs: number,
    nowMs: number,
    timed: boolean,
    dispatched = false,
  ): Promise<boolean> {
    const { invokeId } = inv;
    const kind = invocationKind(inv);
    const cutoffMs = createdMs - this.retentionMs;
    const key = this.keys.invocation(invokeId);
    const [, marked] = await Promise.all([
      this.scripts.invPublish(
        [kind],
        invokeId,
        createdMs,
        cutoffMs,
        kind === 'command' && !dispatched ? '1' : '0',
        timed ? '1' : '0',
      ),
      dispatched
        ? this.redis.hsetnx(key, 'dispatchedMs', nowMs)
        : this.redis.hset(key, 'enqueuedMs', nowMs),
    ]);
    return dispatched && marked === 1;
  }

  /** Ids of invocations that may still fire. */
  async timedIds(): Promise<string[]> {
    return this.redis.smembers(this.keys.timedInvocations());
  }

  /** The schedules a timed invocation fires through, once dispatch has recorded them. */
  async schedules(invokeId: string): Promise<ScheduleGroup[] | undefined> {
    const raw = await this.redis.hget(this.keys.invocation(invokeId), 'schedules');
    if (raw === null) return undefined;
    const v: unknown = JSON.parse(raw);
    return isGroupList(v) ? v : undefined;
  }

  /** Records the schedules unless already recorded; returns the recorded ones. */
  async recordSchedules(invokeId: string, groups: ScheduleGroup[]): Promise<ScheduleGroup[]> {
    const key = this.keys.invocation(invokeId);
    await this.redis.hsetnx(key, 'schedules', JSON.stringify(groups));
    return (await this.schedules(invokeId)) ?? groups;
  }

  /** Where a timed invocation stands: when its records were created and when it was stopped. */
  async progress(invokeId: string): Promise<{ dispatchedMs?: number; stoppedMs?: number }> {
    const [d, st] = await this.redis.hmget(
      this.keys.invocation(invokeId),
      'dispatchedMs',
      'stoppedMs',
    );
    return {
      ...(d !== null ? { dispatchedMs: Number(d) } : {}),
      ...(st !== null ? { stoppedMs: Number(st) } : {}),
    };
  }

  /**
   * Every target node has its record (and its run job, or for a Period invocation its
   * schedule). Answers whether this call marked it: false when an earlier attempt (a retried
   * dispatch job, another replica) already had.
   */
  async markDispatched(invokeId: string, nowMs: number): Promise<boolean> {
    const marked = await this.redis.hsetnx(this.keys.invocation(invokeId), 'dispatchedMs', nowMs);
    // Every node's index holds it now (run-create-4.lua): NodeId listings find it there.
    await this.redis.zrem(this.keys.undispatchedInvocations(), invokeId);
    return marked === 1;
  }

  /**
   * StopInvocation of the whole invocation has begun: recorded before any node is stopped, so
   * a stop cut short is finished by the schedulers' upkeep (and a dispatch still under way
   * removes the schedules it makes).
   */
  async markStopping(invokeId: string, nowMs: number): Promise<void> {
    await this.redis.hsetnx(this.keys.invocation(invokeId), 'stoppedMs', nowMs);
  }

  /**
   * The invocation will not fire again (stopped, or its schedule is over): it leaves the set
   * of timed invocations and expires `retentionMs` from now.
   */
  async markEnded(invokeId: string): Promise<void> {
    const key = this.keys.invocation(invokeId);
    await this.redis.pexpire(key, this.retentionMs);
    await this.redis.pexpire(this.keys.invocationNodes(invokeId), this.retentionMs);
    await this.redis.pexpire(this.keys.invocationTargets(invokeId), this.retentionMs);
    await this.redis.srem(this.keys.timedInvocations(), invokeId);
  }

  /** Best-effort removal of an invocation whose creation failed half-way. */
  async discard(inv: Invocation): Promise<void> {
    const { invokeId } = inv;
    await this.redis.del(
      this.keys.invocation(invokeId),
      this.keys.invocationNodes(invokeId),
      this.keys.invocationTargets(invokeId),
    );
    await this.redis.zrem(this.keys.invocationIndex(), invokeId);
    await this.redis.zrem(this.keys.sendFileIndex(), invokeId);
    await this.redis.zrem(this.keys.undispatchedInvocations(), invokeId);
    await Promise.all(
      inv.nodeIds.map((id) => this.redis.zrem(this.keys.nodeInvocations(id), invokeId)),
    );
  }

  /**
   * Claims a ClientToken for `invokeId` (SET NX), or returns what it was first claimed with.
   * Concurrent identical requests race on the one key, so exactly one creates the invocation.
   */
  async claimClientToken(
    tokenDigest: string,
    requestDigest: string,
    invokeId: string,
    ttlSeconds: number,
  ): Promise<{ invokeId: string; requestDigest: string } | undefined> {
    const key = this.keys.clientToken(tokenDigest);
    const value = `${invokeId} ${requestDigest}`;
    // Never outlive the invocation: a token retried after its invocation expired must not
    // re-create (and re-run) it.
    const ttl = Math.max(1, Math.min(ttlSeconds, Math.floor(this.retentionMs / 1000)));
    const set = await this.redis.set(key, value, 'EX', ttl, 'NX');
    if (set === 'OK') return undefined;
    return parseClaim((await this.redis.get(key)) ?? value);
  }

  /** What a ClientToken was first claimed with, if it was (reads; claims nothing). */
  async clientToken(
    tokenDigest: string,
  ): Promise<{ invokeId: string; requestDigest: string } | undefined> {
    const existing = await this.redis.get(this.keys.clientToken(tokenDigest));
    return existing === null ? undefined : parseClaim(existing);
  }

  async get(invokeId: string): Promise<Invocation | undefined> {
    const h = await this.redis.hgetallBuffer(this.keys.invocation(invokeId));
    const inv = fromHash(h);
    const listed = h.nodeList?.toString();
    if (inv && listed !== undefined) inv.nodeIds = await this.nodeList(invokeId, Number(listed));
    return inv;
  }

  /**
   * The invocation without its target list (the hash only: O(1) whatever its node count);
   * undefined when it does not exist.
   */
  async head(invokeId: string): Promise<InvocationHead | undefined> {
    const h = await this.redis.hgetallBuffer(this.keys.invocation(invokeId));
    delete h.nodeIds;
    const inv: Partial<Invocation> | undefined = fromHash(h);
    if (!inv) return undefined;
    delete inv.nodeIds;
    return inv as InvocationHead;
  }

  /**
   * What an answer about an invocation's groups needs, without reading its node list (O(1)
   * whatever its size): its kind, mode and node count; undefined when it does not exist. An
   * invocation written before `nodeCount` was stored is read whole.
   */
  async outline(
    invokeId: string,
  ): Promise<
    | { invokeId: string; kind: InvocationKind; repeatMode: RepeatMode; nodeCount: number }
    | undefined
  > {
    const key = this.keys.invocation(invokeId);
    const [id, kind, mode, count] = await this.redis.hmget(
      key,
      'invokeId',
      'kind',
      'repeatMode',
      'nodeCount',
    );
    if (id === null) return undefined;
    if (count === null) {
      const inv = await this.get(invokeId);
      return (
        inv && {
          invokeId,
          kind: invocationKind(inv),
          repeatMode: inv.repeatMode,
          nodeCount: inv.nodeIds.length,
        }
      );
    }
    return {
      invokeId,
      kind: kind === 'file' ? 'file' : 'command',
      repeatMode: (mode || 'Once') as RepeatMode,
      nodeCount: Number(count),
    };
  }

  async getMany(invokeIds: readonly string[]): Promise<(Invocation | undefined)[]> {
    return Promise.all(invokeIds.map((id) => this.get(id)));
  }

  async setField(invokeId: string, field: string, value: string): Promise<void> {
    await this.redis.hset(this.keys.invocation(invokeId), field, value);
  }

  /** Up to `count` command invocation ids created at or after `sinceMs`, newest first. */
  async newestSince(sinceMs: number, count: number): Promise<string[]> {
    const index = this.keys.invocationIndex();
    return this.redis.zrevrangebyscore(index, '+inf', sinceMs, 'LIMIT', 0, count);
  }

  /**
   * Each invocation's target nodes, in order (undefined once it expired). The reads are sent
   * together, not as one explicit pipeline: each invocation has its own hash slot, and a
   * cluster refuses a pipeline whose keys live on several servers (auto-pipelining groups
   * them by server).
   */
  async nodeIdsOf(invokeIds: readonly string[]): Promise<(string[] | undefined)[]> {
    const rows = await Promise.all(
      invokeIds.map((id) => this.redis.hmget(this.keys.invocation(id), 'nodeIds', 'nodeList')),
    );
    return Promise.all(
      rows.map(async ([json, listed], i): Promise<string[] | undefined> => {
        if (typeof json === 'string') return JSON.parse(json) as string[];
        if (typeof listed === 'string') return this.nodeList(invokeIds[i] ?? '', Number(listed));
        return undefined;
      }),
    );
  }

  /** Whether the per-node indexes hold every invocation (cached once true). */
  private nodeIndexesReady = false;

  async nodeIndexReady(): Promise<boolean> {
    if (!this.nodeIndexesReady) {
      this.nodeIndexesReady = (await this.redis.exists(this.keys.nodeIndexReady())) === 1;
    }
    return this.nodeIndexesReady;
  }

  /**
   * Adds every invocation of the global index to its nodes' indexes, then marks them ready: an
   * upgrade from a version without per-node indexes (or a fresh install, at once). Idempotent,
   * so replicas may run it together; new invocations are indexed by publish meanwhile. Answers
   * how many invocations it walked (0 when already done).
   */
  async backfillNodeIndexes(nowMs: number): Promise<number> {
    if (await this.nodeIndexReady()) return 0;
    const cutoffMs = nowMs - this.retentionMs;
    let walked = 0;
    let after: { id: string; ms: number } | undefined;
    for (;;) {
      const batch = await pageNewestFirst(this.redis, this.keys.indexOf('command'), 500, after);
      if (batch.length === 0) break;
      const nodeIds = await this.nodeIdsOf(batch.map((e) => e.id));
      const writes: Promise<unknown>[] = [];
      for (const [i, e] of batch.entries()) {
        for (const nodeId of new Set(nodeIds[i] ?? [])) {
          writes.push(
            this.scripts.nodeIndexAdd(
              [nodeId],
              e.ms,
              e.id,
              cutoffMs,
              this.keys.nodeRun(nodeId, ''),
            ),
          );
        }
      }
      await Promise.all(writes);
      walked += batch.length;
      after = batch[batch.length - 1];
    }
    await this.redis.set(this.keys.nodeIndexReady(), String(nowMs));
    this.nodeIndexesReady = true;
    return walked;
  }

  /**
   * Up to `count` ids, newest first, strictly after `cursor` (see pageNewestFirst). `kind`
   * picks the index; a `nodeId` picks that node's index of commands instead (sent files have
   * none: undefined there walks the whole index).
   */
  async page(
    count: number,
    cursor: IndexCursor | undefined,
    kind: InvocationKind = 'command',
    nodeId?: string,
  ): Promise<IndexCursor[]> {
    const after = cursor ? { id: cursor.invokeId, ms: cursor.createdMs } : undefined;
    // Both indexes order alike, so a cursor from either serves the other.
    const byNode = nodeId !== undefined && kind === 'command' && (await this.nodeIndexReady());
    const index = byNode ? this.keys.nodeInvocations(nodeId) : this.keys.indexOf(kind);
    // The undispatched ones first: one that leaves them meanwhile is in the node's index
    // before it leaves (markDispatched), so the read below finds it.
    const pending = byNode ? await this.undispatchedOn(nodeId, after) : [];
    const entries = await pageNewestFirst(this.redis, index, count, after);
    const seen = new Set(entries.map((e) => e.id));
    const merged = [...entries, ...pending.filter((e) => !seen.has(e.id))];
    if (pending.length > 0) merged.sort(newestFirst);
    return merged.slice(0, count).map((e) => ({ invokeId: e.id, createdMs: e.ms }));
  }

  /**
   * The undispatched invocations (up to UNDISPATCHED_READ, newest first, after `after`) that
   * target `nodeId`: normally none, as dispatch takes milliseconds.
   */
  private async undispatchedOn(nodeId: string, after: IndexEntry | undefined) {
    const key = this.keys.undispatchedInvocations();
    const entries = await pageNewestFirst(this.redis, key, UNDISPATCHED_READ, after);
    if (entries.length === 0) return [];
    const targets = await this.nodeIdsOf(entries.map((e) => e.id));
    return entries.filter((_, i) => targets[i]?.includes(nodeId) === true);
  }
}
