import { Cluster } from 'ioredis';
import type { RedisClient } from '../store/redis.js';
import { outboxEvent, type RunEnd } from '../domain/events.js';
import type { Logger } from '../shared/log.js';
import type { EventStore } from '../store/event-store.js';
import type { NodeStore } from '../store/node-store.js';

export interface EventRelayDeps {
  events: EventStore;
  nodes: NodeStore;
  /**
   * A connection of its own: on one Redis XREAD BLOCK holds it while it waits; on a cluster it
   * must be made as a `relay` connection (makeRedis), which subscribes to sharded channels.
   */
  conn: RedisClient;
  log: Logger;
  /**
   * Told each run's end (RunFinished) read from a node's outbox before the relay's cursor moves
   * past it, so an end is told again after a failure or a crash (and to every replica that
   * reads it): it must be idempotent. A rejection makes the batch retried. The output groups
   * and rollouts (app/rollout.ts runsEnded).
   */
  onRunsEnded?: (nodeId: string, ends: readonly RunEnd[]) => Promise<void>;
  /**
   * Asked again for a finishing invocation (a timed one that fires no more, whose
   * InvocationFinished waited for its runs' ends: app/timed-finished.ts retireWhenFinished)
   * once one of its runs' ends has been copied, or when first seen on the list. Answers
   * whether it is done with. Idempotent.
   */
  onFinishing?: (invokeId: string) => Promise<boolean>;
  /** On a cluster, how often every outbox is read, noticed or not (the repair path). */
  sweepMs?: number;
}

/** How long one XREAD waits for node events (also how late a new node's first events may be). */
const BLOCK_MS = 1_000;
/** How often the node registry is read again for new nodes. */
const REFRESH_MS = 2_000;
/** A finishing invocation is asked about at most this often (it reads every node's record). */
const FINISHING_EVERY_MS = 1_000;
/** ...and at least this often while listed, ends or not (a wait on an event that is no end). */
const FINISHING_AGAIN_MS = 30_000;
/**
 * On a cluster, every outbox is read this often whatever the notices said: a notice lost (the
 * subscriber reconnecting, an agent user without the SPUBLISH grant) delays its events at most
 * this long. Costs one command per node per sweep (1/30 a second each).
 */
const SWEEP_MS = 30_000;
/** How long new nodes' subscriptions are waited for before their outboxes are read anyway. */
const SUBSCRIBE_WAIT_MS = 5_000;
/** Outbox entries read per node per XREAD. */
const BATCH = 100;
/** A node's outbox is trimmed to what is not yet copied once this many were copied. */
const TRIM_EVERY = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Copies every node's event outbox into the event stream (see EventStore), then one ev-relay
 * script per node's batch, which copies each once whatever the number of relays (any scheduler
 * replica runs one) or retries. Node events thus reach GET /v1/events within about a round trip
 * of their change, and never before it. How it learns an outbox has something:
 * - one Redis: one XREAD BLOCK over all registered nodes' outboxes;
 * - a Redis Cluster (keys of different slots cannot share one XREAD): each append also sends a
 *   notice on the outbox's sharded channel (SPUBLISH in prelude.lua emit), to which the relay
 *   subscribes (SSUBSCRIBE, one per node, to the master of its slot); it reads the outboxes
 *   noticed, and every outbox once per sweep (SWEEP_MS) in case a notice was lost. Idle, it
 *   thus costs one command per node per sweep, not per poll.
 * Each run's end is also handed to onRunsEnded (output groups, rollouts) before it is copied,
 * and a finishing invocation is asked about again (onFinishing) once one of its ends is copied.
 */
export class EventRelay {
  private stopped = false;
  private loop: Promise<void> | undefined;
  /** nodeId -> the last outbox id this relay read (the stored cursors are authoritative). */
  private readonly cursors = new Map<string, string>();
  private readonly sinceTrim = new Map<string, number>();
  private refreshedAt = 0;
  private stored: Map<string, string> | undefined;
  /** The finishing invocations (read with the registry) -> when last asked about (0: due). */
  private finishing = new Map<string, number>();
  /**
   * Finishing invocations with an end copied since they were last asked, newly listed, or not
   * asked for FINISHING_AGAIN_MS.
   */
  private readonly due = new Set<string>();
  /** On a cluster: the nodes whose outbox was noticed (or is due) since last read. */
  private readonly noticed = new Set<string>();
  /** On a cluster: when every outbox was last read. */
  private sweptAt = 0;
  /** Ends the wait for a notice. */
  private wake: (() => void) | undefined;
  private subscribeWarned = false;

  constructor(private readonly deps: EventRelayDeps) {}

  start(): void {
    const { conn, events } = this.deps;
    if (conn instanceof Cluster) {
      conn.on('smessage', (channel: string) => {
        const nodeId = events.nodeOfNotice(channel);
        if (nodeId === undefined || !this.cursors.has(nodeId)) return;
        this.noticed.add(nodeId);
        this.wake?.();
      });
    }
    this.loop = this.run();
  }

  /**
   * Adds the nodes registered since the last look. The stored cursors are read once: a node
   * found later is read from its outbox's start, and what was copied already is skipped by
   * the script (and trimmed from the outbox soon after).
   */
  private async refresh(): Promise<void> {
    if (Date.now() - this.refreshedAt < REFRESH_MS) return;
    this.stored ??= await this.deps.events.relayCursors();
    const added = (await this.deps.nodes.list(undefined, Number.MAX_SAFE_INTEGER)).filter(
      (id) => !this.cursors.has(id),
    );
    // On a cluster: subscribed before the first read, so no append falls between the two.
    const { conn } = this.deps;
    if (conn instanceof Cluster) await this.subscribe(conn, added);
    for (const id of added) {
      this.cursors.set(id, this.stored.get(id) ?? '0-0');
      if (conn instanceof Cluster) this.noticed.add(id);
    }
    if (this.deps.onFinishing) {
      const listed = new Map<string, number>();
      for (const id of await this.deps.events.finishing()) {
        const asked = this.finishing.get(id);
        if (asked === undefined || Date.now() - asked >= FINISHING_AGAIN_MS) this.due.add(id);
        listed.set(id, asked ?? 0);
      }
      this.finishing = listed;
    }
    this.refreshedAt = Date.now();
  }

  /**
   * Subscribes to the nodes' notice channels (one SSUBSCRIBE each: one channel's slot per call).
   * A refusal (a Redis user without SSUBSCRIBE or the channels) leaves those nodes to the sweep.
   */
  private async subscribe(conn: Cluster, nodeIds: readonly string[]): Promise<void> {
    const { events, log } = this.deps;
    // Not waited for beyond SUBSCRIBE_WAIT_MS (a master away): those nodes are read at once and
    // swept until their subscription is made (ioredis makes it when the master is back).
    const refused = await Promise.race([
      Promise.all(
        nodeIds.map((id) =>
          conn.ssubscribe(events.noticeChannel(id)).then(
            () => undefined,
            (err: unknown) => String(err),
          ),
        ),
      ),
      sleep(SUBSCRIBE_WAIT_MS).then(() => []),
    ]);
    const first = refused.find((r) => r !== undefined);
    if (first !== undefined && !this.subscribeWarned) {
      this.subscribeWarned = true;
      log.warn(
        { err: first },
        'event relay cannot subscribe to node outbox notices; node events wait for the sweep',
      );
    }
  }

  /**
   * On a cluster: the outboxes noticed (or all of them, once per sweep), read after waiting up
   * to BLOCK_MS for a notice when none is pending. A node whose batch was full stays noticed.
   */
  private async readNoticed(conn: Cluster) {
    const sweepMs = this.deps.sweepMs ?? SWEEP_MS;
    if (Date.now() - this.sweptAt >= sweepMs) {
      for (const id of this.cursors.keys()) this.noticed.add(id);
      this.sweptAt = Date.now();
    }
    if (this.noticed.size === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(BLOCK_MS, sweepMs));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.wake = done;
      });
      this.wake = undefined;
    }
    const from = new Map([...this.noticed].map((id) => [id, this.cursors.get(id) ?? '0-0']));
    this.noticed.clear();
    try {
      const batches = await this.deps.events.readOutboxes(conn, from, 0, BATCH);
      for (const b of batches) if (b.entries.length >= BATCH) this.noticed.add(b.nodeId);
      return batches;
    } catch (err) {
      for (const id of from.keys()) this.noticed.add(id);
      throw err;
    }
  }

  /** Asks about each due finishing invocation not asked about within FINISHING_EVERY_MS. */
  private async askFinishing(): Promise<void> {
    const { onFinishing } = this.deps;
    if (!onFinishing) return;
    const now = Date.now();
    for (const id of this.due) {
      if (now - (this.finishing.get(id) ?? 0) < FINISHING_EVERY_MS) continue;
      this.due.delete(id);
      this.finishing.set(id, now);
      const done = await onFinishing(id).catch((err: unknown) => {
        this.deps.log.warn({ invokeId: id, err: String(err) }, 'finished invocation not retired');
        return false;
      });
      if (done) this.finishing.delete(id);
    }
  }

  private async relayBatch(nodeId: string, entries: { id: string; type: string; data: string }[]) {
    const { events, log } = this.deps;
    const batch: { sourceId: string; ev: NonNullable<ReturnType<typeof outboxEvent>> }[] = [];
    for (const e of entries) {
      const ev = outboxEvent(nodeId, e.type, e.data);
      if (ev) batch.push({ sourceId: e.id, ev });
      else log.warn({ nodeId, type: e.type.slice(0, 64) }, 'malformed node event dropped');
    }
    const ends = batch.flatMap(({ ev }) => (ev.runEnd ? [ev.runEnd] : []));
    if (ends.length > 0) await this.deps.onRunsEnded?.(nodeId, ends);
    if (batch.length > 0) await events.relay(nodeId, batch);
    for (const end of ends) if (this.finishing.has(end.invokeId)) this.due.add(end.invokeId);
    const last = entries.at(-1);
    if (last) this.cursors.set(nodeId, last.id);
    const n = (this.sinceTrim.get(nodeId) ?? 0) + entries.length;
    if (n >= TRIM_EVERY && last) {
      await events.trimOutbox(nodeId, last.id);
      this.sinceTrim.set(nodeId, 0);
    } else this.sinceTrim.set(nodeId, n);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.refresh();
        if (this.cursors.size === 0) {
          await this.askFinishing();
          await sleep(BLOCK_MS);
          continue;
        }
        const { conn } = this.deps;
        const batches =
          conn instanceof Cluster
            ? await this.readNoticed(conn)
            : await this.deps.events.readOutboxes(conn, this.cursors, BLOCK_MS, BATCH);
        for (const [i, b] of batches.entries()) {
          try {
            await this.relayBatch(b.nodeId, b.entries);
          } catch (err) {
            // Read again after the retry: what was read and not copied is still in the outbox.
            for (const rest of batches.slice(i)) this.noticed.add(rest.nodeId);
            throw err;
          }
        }
        await this.askFinishing();
      } catch (err) {
        if (this.stopped) return;
        this.deps.log.warn({ err: String(err) }, 'event relay failed; retrying');
        await sleep(BLOCK_MS);
      }
    }
  }

  /** Stops after the current step (the caller closes the connection, which ends a wait). */
  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.deps.conn.disconnect();
    await this.loop;
  }
}
