import type { RedisClient } from './redis.js';
import { MAX_NODE_TAGS, sortTags, type Tag, type TagMatch } from '../domain/tags.js';
import type { Keys } from './keys.js';
import { makeScripts, type Scripts } from './scripts.js';

/**
 * Set members read per SSCAN step and checked per SMISMEMBER while resolving a tag target: a
 * target of up to this many nodes takes one step (a round trip per step is most of the cost).
 */
const RESOLVE_CHUNK = 10_000;

/** Nodes whose tags are read per pipeline. */
const READ_CHUNK = 500;

/**
 * Node tags and their indexes (see node-tags-1.lua): every change is one script, so the sets of
 * node ids per key and per key=value pair always agree with the tags; a tag target is resolved
 * from those sets, never by reading every node.
 */
export class TagStore {
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {
    this.scripts = makeScripts(redis, keys);
  }

  private change(nodeId: string, op: string, args: string[]): Promise<number> {
    const { keys } = this;
    return this.scripts.nodeTags(
      [],
      keys.nodeTagsPrefix(),
      keys.tagIndexPrefix(),
      MAX_NODE_TAGS,
      nodeId,
      op,
      ...args,
    );
  }

  /** Replaces what the node's agent reported; answers how many tags the node carries. */
  reportedByAgent(nodeId: string, tags: readonly Tag[]): Promise<number> {
    return this.change(
      nodeId,
      'agent',
      tags.flatMap((t) => [t.key, t.value]),
    );
  }

  /** Sets API tags; false (nothing changed) when the node would carry more than 20. */
  async set(nodeId: string, tags: readonly Tag[]): Promise<boolean> {
    const n = await this.change(
      nodeId,
      'set',
      tags.flatMap((t) => [t.key, t.value]),
    );
    return n >= 0;
  }

  /**
   * How many tags the node would carry once these keys are set through the API (its API tags
   * and its agent's, each key once): what set refuses above MAX_NODE_TAGS.
   */
  async countAfterSet(nodeId: string, tagKeys: readonly string[]): Promise<number> {
    const [api, agent] = await Promise.all([
      this.redis.hkeys(this.keys.nodeTags('api', nodeId)),
      this.redis.hkeys(this.keys.nodeTags('agent', nodeId)),
    ]);
    return new Set([...api, ...agent, ...tagKeys]).size;
  }

  /** Removes these keys from the node, whoever set them. */
  async unset(nodeId: string, tagKeys: readonly string[]): Promise<void> {
    await this.change(nodeId, 'unset', [...tagKeys]);
  }

  /** Removes every tag of the node (and it from every index). */
  async forget(nodeId: string): Promise<void> {
    await this.change(nodeId, 'forget', []);
  }

  /** The tags each node carries, in key order, in a pipeline per READ_CHUNK nodes. */
  async tagsOf(nodeIds: readonly string[]): Promise<Tag[][]> {
    const out: Tag[][] = [];
    for (let i = 0; i < nodeIds.length; i += READ_CHUNK) {
      const pipe = this.redis.pipeline();
      for (const id of nodeIds.slice(i, i + READ_CHUNK)) {
        pipe.hgetall(this.keys.nodeTags('node', id));
      }
      for (const [err, raw] of (await pipe.exec()) ?? []) {
        if (err) throw err;
        const h = (raw ?? {}) as Record<string, string>;
        out.push(sortTags(Object.entries(h).map(([key, value]) => ({ key, value }))));
      }
    }
    return out;
  }

  private indexOf(m: TagMatch): string {
    return m.value === undefined
      ? this.keys.tagKeyIndex(m.key)
      : this.keys.tagPairIndex(m.key, m.value);
  }

  /**
   * The nodes that match every pair, sorted; undefined when more than `limit` do. Walks the
   * smallest of the pairs' sets with SSCAN and checks the others with SMISMEMBER (all at once),
   * a chunk at a time: no reply or argument holds more than about RESOLVE_CHUNK ids, whatever
   * the fleet's size. A single pair needs no sizes: its set is walked at once.
   */
  async resolve(matches: readonly TagMatch[], limit: number): Promise<string[] | undefined> {
    const sets = [...new Set(matches.map((m) => this.indexOf(m)))];
    const sizes = sets.length === 1 ? [1] : await Promise.all(sets.map((s) => this.redis.scard(s)));
    const order = sets.map((s, i) => ({ s, n: sizes[i] ?? 0 })).sort((a, b) => a.n - b.n);
    const [smallest, ...others] = order;
    if (!smallest || smallest.n === 0) return [];
    const found = new Set<string>();
    let cursor = '0';
    do {
      const [next, members] = await this.redis.sscan(smallest.s, cursor, 'COUNT', RESOLVE_CHUNK);
      cursor = next;
      const fresh = members.filter((id) => !found.has(id));
      const flags =
        fresh.length === 0
          ? []
          : await Promise.all(others.map((o) => this.redis.smismember(o.s, ...fresh)));
      fresh.forEach((id, i) => {
        if (flags.every((f) => f[i] === 1)) found.add(id);
      });
      if (found.size > limit) return undefined;
    } while (cursor !== '0');
    return [...found].sort();
  }

  /** Up to `count` tagged node ids, in id order, from `fromId` on ('' : from the first). */
  async taggedFrom(fromId: string, count: number): Promise<string[]> {
    const min = fromId === '' ? '-' : `[${fromId}`;
    return this.redis.zrangebylex(this.keys.taggedNodes(), min, '+', 'LIMIT', 0, count);
  }
}
