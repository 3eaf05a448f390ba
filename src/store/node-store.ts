import type { Redis } from 'ioredis';
import type { NodeInfo } from '../domain/node.js';
import type { Keys } from './keys.js';
import { redisNowMs } from './scripts.js';

function num(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

export function parseNodeInfo(nodeId: string, h: Record<string, string>): NodeInfo | undefined {
  if (Object.keys(h).length === 0 || h.bootId === undefined) return undefined;
  return {
    nodeId,
    hostname: h.hostname ?? '',
    osType: h.osType ?? '',
    timeZone: h.timeZone ?? '',
    agentVersion: h.agentVersion ?? '',
    bootId: h.bootId,
    bootTimeMs: num(h.bootTimeMs),
    registeredMs: num(h.registeredMs),
    lastHeartbeatMs: num(h.lastHeartbeatMs),
    heartbeatSeconds: num(h.heartbeatSeconds) ?? 10,
    stoppedMs: num(h.stoppedMs),
    invocationCount: num(h.invocationCount) ?? 0,
    lastInvokedMs: num(h.lastInvokedMs),
  };
}

/**
 * Registered node ids a NodeStore remembers: the registry never loses a node (nothing removes
 * one), so a node seen there once is registered for good. Bounded: past this many the memory
 * starts over (the next requests ask Redis again).
 */
const KNOWN_LIMIT = 100_000;

/** Server-side view of the node inventory. */
export class NodeStore {
  /** Node ids found in the registry (see KNOWN_LIMIT). */
  private readonly known = new Set<string>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /**
   * Which of these ids have not registered (their agent never wrote its registration). One
   * command asks the registry, which holds only registered nodes (see remember), about the ids
   * not found there before (none once a fleet is known: no round trip); a node not in it yet
   * (its announcement not seen by a scheduler) is looked up by its registration.
   */
  async missing(nodeIds: readonly string[]): Promise<string[]> {
    const ask = nodeIds.filter((id) => !this.known.has(id));
    if (ask.length === 0) return [];
    const found = await this.redis.smismember(this.keys.nodeRegistry(), ...ask);
    if (this.known.size + ask.length > KNOWN_LIMIT) this.known.clear();
    const unknown = ask.filter((id, i) => {
      if (found[i] !== 1) return true;
      this.known.add(id);
      return false;
    });
    const exists = await Promise.all(
      unknown.map((id) => this.redis.exists(this.keys.nodeInfo(id))),
    );
    return unknown.filter((_, i) => exists[i] === 0);
  }

  async get(nodeId: string): Promise<NodeInfo | undefined> {
    return parseNodeInfo(nodeId, await this.redis.hgetall(this.keys.nodeInfo(nodeId)));
  }

  /** Redis's clock: what heartbeats are stamped with, so what `isOnline` must compare to. */
  async nowMs(): Promise<number> {
    return redisNowMs(this.redis);
  }

  async activeCount(nodeId: string): Promise<number> {
    return this.redis.scard(this.keys.nodeActive(nodeId));
  }

  /** Adds a node to the registry after checking it really registered. */
  async remember(nodeId: string): Promise<boolean> {
    if ((await this.redis.exists(this.keys.nodeInfo(nodeId))) === 0) return false;
    await this.redis.sadd(this.keys.nodeRegistry(), nodeId);
    return true;
  }

  /** Many nodes' registrations in one round trip, in order (undefined: not registered). */
  async getMany(nodeIds: readonly string[]): Promise<(NodeInfo | undefined)[]> {
    const pipe = this.redis.pipeline();
    for (const id of nodeIds) pipe.hgetall(this.keys.nodeInfo(id));
    const rows = (await pipe.exec()) ?? [];
    return nodeIds.map((id, i) => {
      const [err, h] = rows[i] ?? [new Error('no reply'), undefined];
      if (err) throw err;
      return parseNodeInfo(id, h as Record<string, string>);
    });
  }

  /**
   * Runs that ended on these nodes, by final status, summed (see Keys.nodeStats): counters
   * since each node's first settled run, in one round trip.
   */
  async runTotals(nodeIds: readonly string[]): Promise<Map<string, number>> {
    const pipe = this.redis.pipeline();
    for (const id of nodeIds) pipe.hgetall(this.keys.nodeStats(id));
    const totals = new Map<string, number>();
    for (const [err, h] of (await pipe.exec()) ?? []) {
      if (err) throw err;
      for (const [status, text] of Object.entries(h as Record<string, string>)) {
        // Written by the node's agent (its ACL user may write its own stats): a value that is
        // not a count is skipped rather than breaking the sum.
        const n = Number(text);
        if (Number.isSafeInteger(n) && n >= 0) totals.set(status, (totals.get(status) ?? 0) + n);
      }
    }
    return totals;
  }

  /** Registered node ids, sorted, strictly after `afterId`. */
  async list(afterId: string | undefined, count: number): Promise<string[]> {
    const all = (await this.redis.smembers(this.keys.nodeRegistry())).sort();
    const start = afterId === undefined ? 0 : all.findIndex((id) => id > afterId);
    return start < 0 ? [] : all.slice(start, start + count);
  }
}
