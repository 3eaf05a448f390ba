import { Cluster } from 'ioredis';
import type { RedisClient } from './redis.js';
import type { RelayReply } from '../domain/run-replies.js';
import { STATUS_CLASSES, type RelayedEvent, type StoredEvent } from '../domain/events.js';
import type { Keys } from './keys.js';
import { makeScripts, type Scripts } from './scripts.js';

/** An entry of a node's outbox as read: its id and its two fields. */
export interface OutboxEntry {
  id: string;
  type: string;
  data: string;
}

type StreamEntry = [id: string, fields: string[]];
type XReadReply = [key: string, entries: StreamEntry[]][] | null;

function field(fields: string[], name: string): string {
  const i = fields.indexOf(name);
  return i >= 0 && i % 2 === 0 ? (fields[i + 1] ?? '') : '';
}

function stored([id, fields]: StreamEntry): StoredEvent {
  return {
    id,
    type: field(fields, 'type'),
    timeMs: Number(field(fields, 'time')) || Number(id.split('-')[0]),
    data: field(fields, 'data') || '{}',
  };
}

/**
 * The lifecycle events (docs/events.md). Node events are appended by the run and node scripts
 * to the node's own outbox (Keys.nodeEvents: same slot as the record they change, writable by
 * the node's agent), and copied from there into the one event stream (Keys.events, `{global}`)
 * by the relay, exactly once and in order (ev-relay-3.lua); invocation events are written to the
 * stream directly. The stream's entry ids are the EventIds, its length bounded by `maxLen`.
 */
export class EventStore {
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** FLEETCMD_EVENTS_MAXLEN */
    private readonly maxLen: number,
    /** How long an invocation's event progress is kept (the records' retention). */
    private readonly retentionMs: number,
  ) {
    this.scripts = makeScripts(redis, keys);
  }

  /**
   * InvocationCreated, once per invocation (a repeated call adds nothing). `nodeCount`: the runs
   * that end it (InvocationFinished); undefined for a timed invocation.
   */
  async announceCreated(
    invokeId: string,
    createdMs: number,
    nodeCount: number | undefined,
    data: Record<string, unknown>,
  ): Promise<void> {
    await this.scripts.evCreated(
      [invokeId],
      this.maxLen,
      this.retentionMs,
      nodeCount ?? '',
      createdMs,
      JSON.stringify(data),
    );
  }

  /**
   * InvocationFinished of a timed invocation whose nodes' records are all final, once per
   * invocation (ev-finished-4.lua), and only once the relay has copied every event the nodes'
   * outboxes held (read here, after the records): so after each run's RunFinished. Answers
   * 'announced' (now or before) or 'wait' (the relay is behind: it is listed as finishing, and
   * the relay asks again).
   */
  async announceFinished(
    invokeId: string,
    nodeIds: readonly string[],
    data: Record<string, unknown>,
  ): Promise<'announced' | 'wait'> {
    const heads = await Promise.all(
      nodeIds.map(async (nodeId) => {
        const rows = (await this.redis.xrevrange(
          this.keys.nodeEvents(nodeId),
          '+',
          '-',
          'COUNT',
          1,
        )) as StreamEntry[];
        return [nodeId, rows[0]?.[0] ?? '0-0'];
      }),
    );
    const reply = await this.scripts.evFinished(
      [invokeId],
      this.maxLen,
      this.retentionMs,
      JSON.stringify(data),
      invokeId,
      ...heads.flat(),
    );
    return reply === 'wait' ? 'wait' : 'announced';
  }

  /**
   * Lists a timed invocation as finishing: it fires no more, but a node's run has not ended, so
   * its InvocationFinished waits (the relay asks again as its runs' ends are copied).
   */
  async markFinishing(invokeId: string): Promise<void> {
    await this.redis.sadd(this.keys.finishingInvocations(), invokeId);
  }

  /** Takes an invocation off the finishing list (it is gone: nothing will be announced). */
  async unmarkFinishing(invokeId: string): Promise<void> {
    await this.redis.srem(this.keys.finishingInvocations(), invokeId);
  }

  /** The invocations whose InvocationFinished waits for their runs' ends. */
  async finishing(): Promise<string[]> {
    return this.redis.smembers(this.keys.finishingInvocations());
  }

  /** The relay's cursors: nodeId -> the last outbox id copied. */
  async relayCursors(): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.keys.eventRelay())));
  }

  /**
   * Reads outbox entries after each node's id in `from`, at most `count` per node. On one Redis,
   * one XREAD BLOCK over them all (on `conn`: a connection of its own) that waits up to `blockMs`
   * for any; on a cluster, where one XREAD may name keys of one slot only, one XREAD per node
   * (sent together), which does not wait: the relay reads the outboxes it was told of
   * (noticeChannel) and sweeps them all now and then.
   */
  async readOutboxes(
    conn: RedisClient,
    from: ReadonlyMap<string, string>,
    blockMs: number,
    count: number,
  ): Promise<{ nodeId: string; entries: OutboxEntry[] }[]> {
    const nodeIds = [...from.keys()];
    if (nodeIds.length === 0) return [];
    const byKey = new Map(nodeIds.map((id) => [this.keys.nodeEvents(id), id]));
    const reply =
      conn instanceof Cluster
        ? await readEachOutbox(conn, from, byKey, count)
        : ((await conn.xread(
            'COUNT',
            count,
            'BLOCK',
            blockMs,
            'STREAMS',
            ...byKey.keys(),
            ...nodeIds.map((id) => from.get(id) ?? '0-0'),
          )) as XReadReply);
    return (reply ?? []).map(([key, entries]) => ({
      nodeId: byKey.get(key) ?? '',
      entries: entries.map(([id, fields]) => ({
        id,
        type: field(fields, 'type'),
        data: field(fields, 'data'),
      })),
    }));
  }

  /** The sharded channel on which each append to a node's outbox is noticed (prelude.lua). */
  noticeChannel(nodeId: string): string {
    return this.keys.nodeEventsNotice(nodeId);
  }

  /** The node a notice channel names (undefined: not a notice channel). */
  nodeOfNotice(channel: string): string | undefined {
    return this.keys.nodeIdOfEventsNotice(channel);
  }

  /** Copies a node's outbox entries (in order) into the stream, once: see ev-relay-3.lua. */
  relay(
    nodeId: string,
    batch: readonly { sourceId: string; ev: RelayedEvent }[],
  ): Promise<RelayReply> {
    const argv = batch.flatMap(({ sourceId, ev }) => [
      sourceId,
      ev.type,
      sourceId.split('-')[0] ?? '0',
      ev.data,
      ev.invokeId,
      ev.finalStatus,
    ]);
    return this.scripts.evRelay([], this.maxLen, nodeId, STATUS_CLASSES, ...argv);
  }

  /** Drops a node's outbox entries up to `id` (copied): about, as XTRIM MINID ~ does. */
  async trimOutbox(nodeId: string, id: string): Promise<void> {
    await this.redis.xtrim(this.keys.nodeEvents(nodeId), 'MINID', '~', id);
  }

  /** Events after `afterId` ('0' for all the stream holds), oldest first, at most `count`. */
  async after(afterId: string, count: number): Promise<StoredEvent[]> {
    const from = afterId === '0' || afterId === '0-0' ? '-' : `(${afterId}`;
    const rows = (await this.redis.xrange(
      this.keys.events(),
      from,
      '+',
      'COUNT',
      count,
    )) as StreamEntry[];
    return rows.map(stored);
  }

  /** The id of the newest event the stream holds ('0-0' when empty). */
  async lastId(): Promise<string> {
    const rows = (await this.redis.xrevrange(
      this.keys.events(),
      '+',
      '-',
      'COUNT',
      1,
    )) as StreamEntry[];
    return rows[0]?.[0] ?? '0-0';
  }

  /** Waits up to `blockMs` (XREAD BLOCK on `conn`, its own connection) for events after `afterId`. */
  async tail(
    conn: RedisClient,
    afterId: string,
    blockMs: number,
    count: number,
  ): Promise<StoredEvent[]> {
    const reply = (await conn.xread(
      'COUNT',
      count,
      'BLOCK',
      blockMs,
      'STREAMS',
      this.keys.events(),
      afterId,
    )) as XReadReply;
    return (reply?.[0]?.[1] ?? []).map(stored);
  }

  /** How many events the stream holds. */
  async length(): Promise<number> {
    return this.redis.xlen(this.keys.events());
  }
}

/**
 * readOutboxes on a Redis Cluster: each node's outbox is in its node's slot, and one XREAD may
 * name keys of one slot only, so each is read on its own (sent together, without BLOCK).
 */
async function readEachOutbox(
  conn: Cluster,
  from: ReadonlyMap<string, string>,
  byKey: ReadonlyMap<string, string>,
  count: number,
): Promise<XReadReply> {
  const replies = await Promise.all(
    [...byKey].map(
      async ([key, nodeId]) =>
        (await conn.xread('COUNT', count, 'STREAMS', key, from.get(nodeId) ?? '0-0')) as XReadReply,
    ),
  );
  return replies.flatMap((r) => r ?? []);
}
