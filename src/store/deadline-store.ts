import type { RedisClient } from './redis.js';
import type { Keys } from './keys.js';
import { makeScripts, type Scripts } from './scripts.js';
import { deadlineMember, type DeliveryDeadline } from '../domain/delivery-deadline.js';

/**
 * The delivery deadlines waiting to be checked: one sorted set (`{global}`), member = the
 * deadline (domain/delivery-deadline.ts), score = when it is due. Adding one is a single ZADD
 * (no script, so the API may send it beside a script of another slot); the schedulers' poller
 * (scheduler/deadline-poller.ts) leases the due ones (dl-lease-1.lua), checks them and removes
 * them. It replaced a delayed BullMQ job per invocation and per fire, which cost ~80 Redis
 * commands and ~0.9 KB of Redis per run (bench/RESULTS.md).
 */
export class DeadlineStore {
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {
    this.scripts = makeScripts(redis, keys);
  }

  /**
   * Adds a deadline due `delayMs` from now (this process's clock), unless the same one waits
   * already: a retried creation or fire moves no deadline (NX).
   */
  async add(deadline: DeliveryDeadline, delayMs: number): Promise<void> {
    const dueMs = Date.now() + delayMs;
    await this.redis.zadd(this.keys.deliveryDeadlines(), 'NX', dueMs, deadlineMember(deadline));
  }

  /** When the earliest deadline is due (a leased one: when its lease ends); undefined: none. */
  async nextDueMs(): Promise<number | undefined> {
    const [, score] = await this.redis.zrange(this.keys.deliveryDeadlines(), 0, 0, 'WITHSCORES');
    return score === undefined ? undefined : Number(score);
  }

  /** Up to `max` due deadlines (members), each left to this replica for `leaseMs`. */
  async lease(nowMs: number, leaseMs: number, max: number): Promise<string[]> {
    return this.scripts.dlLease([], nowMs, leaseMs, max);
  }

  /** Deadlines checked: they leave the set. */
  async remove(members: readonly string[]): Promise<void> {
    if (members.length > 0) await this.redis.zrem(this.keys.deliveryDeadlines(), ...members);
  }

  /** How many deadlines wait (leased ones included). */
  async count(): Promise<number> {
    return this.redis.zcard(this.keys.deliveryDeadlines());
  }
}
