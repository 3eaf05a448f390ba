import type { RedisClient } from './redis.js';
import type { NodeInfo } from '../domain/node.js';
import {
  FIELD_READ_LIMIT_BYTES,
  NODE_INFO_FIELDS,
  STAT_COUNT,
  nodeInfoOf,
  parseFields,
  type RawField,
} from '../domain/records.js';
import { FINAL_NODE_STATUSES } from '../domain/status.js';
import { reportedTagsOf } from '../domain/tags.js';
import type { Keys } from './keys.js';
import { WarnOnce, type RecordWarnings } from './run-store.js';
import { makeScripts, redisNowMs, type Scripts } from './scripts.js';
import { TagStore } from './tag-store.js';

const INFO_FIELDS = Object.keys(NODE_INFO_FIELDS);
const STAT_FIELDS = [...FINAL_NODE_STATUSES];

/**
 * Registered node ids a NodeStore remembers: the registry never loses a node (nothing removes
 * one), so a node seen there once is registered for good. Bounded: past this many the memory
 * starts over (the next requests ask Redis again).
 */
const KNOWN_LIMIT = 100_000;

/** Most bytes of a node's reported tags read: 20 tags of 128 + 128 characters, as JSON. */
const REPORTED_TAGS_LIMIT_BYTES = 48 * 1024;

/** Node ids asked about per command by `missing`. */
const MISSING_CHUNK = 1000;

/** Server-side view of the node inventory. */
export class NodeStore {
  /** Node ids found in the registry (see KNOWN_LIMIT). */
  private readonly known = new Set<string>();
  private readonly scripts: Scripts;
  private readonly warnings: WarnOnce;
  /** The nodes' tags and their indexes. */
  readonly tags: TagStore;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** Where bad node records are reported. @default nowhere */
    log?: RecordWarnings,
  ) {
    this.scripts = makeScripts(redis, keys);
    this.warnings = new WarnOnce(log);
    this.tags = new TagStore(redis, keys);
  }

  /** The fields of a hash of the node's, through a capped read (see hash-read-1.lua). */
  private async readHash(
    key: string,
    fields: readonly string[],
    limitBytes = FIELD_READ_LIMIT_BYTES,
  ): Promise<Record<string, RawField>> {
    const values = await this.scripts.hashRead([key], limitBytes, '', 0, ...fields);
    const raw: Record<string, RawField> = {};
    fields.forEach((name, i) => (raw[name] = values[i]));
    return raw;
  }

  /**
   * Which of these ids have not registered (their agent never wrote its registration). One
   * command asks the registry, which holds only registered nodes (see remember), about the ids
   * not found there before (none once a fleet is known: no round trip); a node not in it yet
   * (its announcement not seen by a scheduler) is looked up by its registration.
   */
  async missing(nodeIds: readonly string[]): Promise<string[]> {
    const ask = nodeIds.filter((id) => !this.known.has(id));
    if (ask.length === 0) return [];
    // A chunk a command (a tag target may name 100,000 nodes), all sent at once.
    const chunks: string[][] = [];
    for (let i = 0; i < ask.length; i += MISSING_CHUNK) {
      chunks.push(ask.slice(i, i + MISSING_CHUNK));
    }
    const found = (
      await Promise.all(chunks.map((c) => this.redis.smismember(this.keys.nodeRegistry(), ...c)))
    ).flat();
    if (this.known.size + ask.length > KNOWN_LIMIT) this.known.clear();
    const unknown = ask.filter((id, i) => {
      if (found[i] !== 1) return true;
      this.known.add(id);
      return false;
    });
    const missing: string[] = [];
    for (let i = 0; i < unknown.length; i += MISSING_CHUNK) {
      const chunk = unknown.slice(i, i + MISSING_CHUNK);
      const exists = await Promise.all(
        chunk.map((id) => this.redis.exists(this.keys.nodeInfo(id))),
      );
      missing.push(...chunk.filter((_, j) => exists[j] === 0));
    }
    return missing;
  }

  /**
   * A node's registration, validated: its agent may write anything into it, so a field that is
   * not what an agent writes is left empty and listed in `invalid` (and logged).
   */
  async get(nodeId: string): Promise<NodeInfo | undefined> {
    const key = this.keys.nodeInfo(nodeId);
    const info = nodeInfoOf(nodeId, await this.readHash(key, INFO_FIELDS));
    if (info?.invalid) {
      this.warnings.warn(key, { nodeId, fields: info.invalid }, "a node's info has invalid fields");
    }
    return info;
  }

  /** Redis's clock: what heartbeats are stamped with, so what `isOnline` must compare to. */
  async nowMs(): Promise<number> {
    return redisNowMs(this.redis);
  }

  async activeCount(nodeId: string): Promise<number> {
    return this.redis.scard(this.keys.nodeActive(nodeId));
  }

  /**
   * Sends a word on the node's control channel (its agent acts on `deregistered` and
   * `rotate`); fire-and-forget, as every control message.
   */
  async tell(nodeId: string, message: string): Promise<void> {
    await this.redis.publish(this.keys.nodeControlChannel(nodeId), message);
  }

  /** The agent's last rotation acknowledgement (at most 64 bytes are read: the agent wrote it). */
  async credentialsAck(nodeId: string): Promise<string> {
    return this.redis.getrange(this.keys.nodeCredentialsAck(nodeId), 0, 63);
  }

  /** Adds a node to the registry after checking it really registered. */
  async remember(nodeId: string): Promise<boolean> {
    if ((await this.redis.exists(this.keys.nodeInfo(nodeId))) === 0) return false;
    await this.redis.sadd(this.keys.nodeRegistry(), nodeId);
    return true;
  }

  /**
   * Copies the tags the node's agent reported at its latest registration (the `tags` field of
   * its info, which the agent writes and a server checks) into the tag indexes, replacing what
   * it reported before. A report that is not valid tags counts as none (and is logged).
   */
  async takeReportedTags(nodeId: string): Promise<void> {
    const key = this.keys.nodeInfo(nodeId);
    const raw = (await this.readHash(key, ['tags'], REPORTED_TAGS_LIMIT_BYTES)).tags;
    const text = Buffer.isBuffer(raw) ? raw.toString() : undefined;
    const tags = reportedTagsOf(text);
    if (tags === undefined) {
      this.warnings.warn(key, { nodeId, fields: ['tags'] }, "a node's reported tags are invalid");
    }
    await this.tags.reportedByAgent(nodeId, tags ?? []);
  }

  /** Many nodes' registrations in one round trip, in order (undefined: not registered). */
  async getMany(nodeIds: readonly string[]): Promise<(NodeInfo | undefined)[]> {
    return Promise.all(nodeIds.map((id) => this.get(id)));
  }

  /**
   * Runs that ended on these nodes, by final status, summed (see Keys.nodeStats): counters
   * since each node's first settled run, in one round trip.
   */
  async runTotals(nodeIds: readonly string[]): Promise<Map<string, number>> {
    const rows = await Promise.all(
      nodeIds.map((id) => this.readHash(this.keys.nodeStats(id), STAT_FIELDS)),
    );
    const totals = new Map<string, number>();
    const shape = Object.fromEntries(STAT_FIELDS.map((s) => [s, STAT_COUNT]));
    for (const raw of rows) {
      // Written by the node's agent (its ACL user may write its own stats): only the final
      // statuses are read, and a value that is not a count is skipped rather than summed.
      for (const [status, n] of Object.entries(parseFields(shape, raw).values)) {
        if (typeof n === 'number') totals.set(status, (totals.get(status) ?? 0) + n);
      }
    }
    return totals;
  }

  /**
   * Announces a node judged lost (NodeOffline, once per silence: node-lost-2.lua) while it is
   * still as silent as at `seenMs`; answers whether this call announced it.
   */
  async announceLost(nodeId: string, seenMs: number): Promise<boolean> {
    return this.scripts.nodeLost([nodeId], String(seenMs));
  }

  /** Registered node ids, sorted, strictly after `afterId`. */
  async list(afterId: string | undefined, count: number): Promise<string[]> {
    const all = (await this.redis.smembers(this.keys.nodeRegistry())).sort();
    const start = afterId === undefined ? 0 : all.findIndex((id) => id > afterId);
    return start < 0 ? [] : all.slice(start, start + count);
  }
}
