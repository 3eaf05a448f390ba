import type { RedisClient } from '../store/redis.js';
import type { StoredEvent } from '../domain/events.js';
import type { Logger } from '../shared/log.js';
import type { EventStore } from '../store/event-store.js';

type Listener = (batch: readonly StoredEvent[]) => void;

/** How long one XREAD waits before the feed checks whether anyone still listens. */
const BLOCK_MS = 5_000;
/** Events read per XREAD. */
const BATCH = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One reader of the event stream per server process, fanned out in memory to every open
 * GET /v1/events: a single XREAD BLOCK connection however many watchers there are (hundreds of
 * watchers cost hundreds of sockets to the clients, not to Redis), and nothing at all while
 * nobody watches (it connects on the first watcher and stops reading after the last).
 * A watcher catches up on its own with XRANGE on the shared connection (see events.ts).
 */
export class EventFeed {
  private readonly listeners = new Set<Listener>();
  private running: Promise<void> | undefined;
  private conn: RedisClient | undefined;
  private closed = false;

  constructor(
    private readonly events: EventStore,
    /** Opens the feed's own connection (blocking reads must not hold a shared one). */
    private readonly connect: () => RedisClient,
    private readonly log: Logger,
  ) {}

  /** Calls `fn` with each batch of new events from now on; answers the unsubscribe. */
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    this.running ??= this.read().finally(() => {
      this.running = undefined;
      // A watcher that came while the loop was ending.
      if (this.listeners.size > 0 && !this.closed) this.running = this.read();
    });
    return () => this.listeners.delete(fn);
  }

  private async read(): Promise<void> {
    this.conn ??= this.connect();
    let last: string | undefined;
    while (this.listeners.size > 0 && !this.closed) {
      try {
        last ??= await this.events.lastId();
        const batch = await this.events.tail(this.conn, last, BLOCK_MS, BATCH);
        const end = batch.at(-1);
        if (!end) continue;
        last = end.id;
        for (const fn of this.listeners) fn(batch);
      } catch (err) {
        if (this.closed) return;
        this.log.warn({ err: String(err) }, 'event feed read failed; retrying');
        await sleep(1_000);
      }
    }
  }

  /** Stops reading (a wait under way ends with the connection). */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.conn?.disconnect();
    await this.running;
  }
}
