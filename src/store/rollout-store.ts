import { Buffer } from 'node:buffer';
import type { RedisClient } from './redis.js';
import type { RolloutStepReply } from '../domain/run-replies.js';
import type { Keys } from './keys.js';
import { makeScripts, type Scripts } from './scripts.js';

/** One output group as stored: status, exit code and output digest, with its runs. */
export interface StoredGroup {
  status: string;
  /** '' when the run has none. */
  exitCode: string;
  /** '' when the run produced no digest (it never ran). */
  digest: string;
  count: number;
  /** Up to 10 of its nodes, in the order they were counted. */
  nodeIds: string[];
}

/** One node's run of one fire, as its record holds it. */
export interface EndedRun {
  status: string;
  exitCode: string;
  digest: string;
}

/**
 * How long the keys of one fire of a timed invocation are kept at most (its counted nodes, its
 * rollout): a fire's ends are told within seconds (or once a scheduler is back), while a
 * schedule may fire every second for months.
 */
const FIRE_KEYS_MAX_MS = 24 * 3600_000;

/**
 * An invocation's output groups and its rollouts (MaxConcurrency, MaxErrors): the keys of the
 * invocation's slot that the schedulers update as runs end (see inv-fold-6.lua, ro-*.lua).
 */
export class RolloutStore {
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly retentionMs: number,
  ) {
    this.scripts = makeScripts(redis, keys);
  }

  /** How long the keys of `fire` are kept: a one-off run's ('') as long as its records. */
  private fireTtlMs(fire: string): number {
    return fire === '' ? this.retentionMs : Math.min(this.retentionMs, FIRE_KEYS_MAX_MS);
  }

  /** Counts a node's ended run of `fire` once (see inv-fold-6.lua). */
  fold(
    invokeId: string,
    fire: string,
    nodeId: string,
    run: EndedRun & { error: boolean },
  ): Promise<'Unknown' | 'Already' | 'Folded' | 'Rollout'> {
    return this.scripts.invFold(
      [invokeId, fire],
      nodeId,
      run.status,
      run.exitCode,
      groupDigest(run.digest),
      run.error ? '1' : '0',
      this.retentionMs,
      this.fireTtlMs(fire),
    );
  }

  /** Adds one group of a fire's nodes to its rollout, once (see ro-init-2.lua). */
  init(
    invokeId: string,
    fire: string,
    groupId: string,
    limits: { maxConcurrency: string; maxErrors: string },
    nodeIds: readonly string[],
  ): Promise<boolean> {
    return this.scripts.roInit(
      [invokeId, fire],
      groupId,
      limits.maxConcurrency,
      limits.maxErrors,
      this.fireTtlMs(fire),
      ...nodeIds,
    );
  }

  /** One atomic step of a fire's rollout (see ro-step-4.lua). */
  step(invokeId: string, fire: string): Promise<RolloutStepReply> {
    return this.scripts.roStep([invokeId, fire]);
  }

  /** Released nodes of a fire not yet counted as ended. */
  active(invokeId: string, fire: string): Promise<string[]> {
    return this.redis.smembers(this.keys.rolloutActive(invokeId, fire));
  }

  /** How many nodes' runs of `fire` are counted in the groups. */
  foldedCount(invokeId: string, fire: string): Promise<number> {
    return this.redis.scard(this.keys.invocationFolded(invokeId, fire));
  }

  /** Of these nodes, those whose run of `fire` is not counted yet (one SMISMEMBER). */
  async notCounted(invokeId: string, fire: string, nodeIds: readonly string[]): Promise<string[]> {
    if (nodeIds.length === 0) return [];
    const flags = await this.redis.smismember(
      this.keys.invocationFolded(invokeId, fire),
      ...nodeIds,
    );
    return nodeIds.filter((_, i) => flags[i] !== 1);
  }

  /**
   * The invocation's output groups, as stored (one HGETALL: O(groups)). Groups stored under
   * the hex digest (before the short form) and under the short form of the same digest, as an
   * invocation running across an upgrade has, are one group.
   */
  async groups(invokeId: string): Promise<StoredGroup[]> {
    const h = await this.redis.hgetall(this.keys.invocationGroups(invokeId));
    const out = new Map<string, StoredGroup>();
    for (const [field, value] of Object.entries(h)) {
      if (!field.startsWith('c ')) continue;
      const [status = '', exitCode = '', stored = ''] = field.slice(2).split('\t');
      const digest = hexDigest(stored);
      const ids = h[`n ${field.slice(2)}`] ?? '';
      const nodeIds = ids === '' ? [] : ids.split(' ');
      const key = `${status}\t${exitCode}\t${digest}`;
      const same = out.get(key);
      if (same) {
        same.count += Number(value);
        same.nodeIds = [...same.nodeIds, ...nodeIds].slice(0, GROUP_NODE_IDS);
      } else out.set(key, { status, exitCode, digest, count: Number(value), nodeIds });
    }
    return [...out.values()];
  }

  /** Marks a cancelled rollout past its queue (every node not started was cancelled). */
  async markCancelled(invokeId: string, fire: string): Promise<void> {
    const key = this.keys.rolloutState(invokeId, fire);
    const n = await this.redis.hget(key, 'n');
    if (n !== null) await this.redis.hset(key, 'r', n);
  }

  /**
   * A node's run of `fire` as its record holds it: status (a periodic record back to Scheduled
   * keeps the run's as `endStatus`), exit code, output digest; undefined when the record is on
   * another fire (`fire` undefined: any fire, the latest run) or gone.
   */
  async runOf(
    nodeId: string,
    invokeId: string,
    fire: string | undefined,
  ): Promise<EndedRun | undefined> {
    const key = this.keys.nodeRun(nodeId, invokeId);
    const fields = ['status', 'exitCode', 'digest', 'fire', 'endStatus'];
    const values = await this.scripts.hashRead([key], 256, '', 0, ...fields);
    const [status, exitCode, digest, recFire, endStatus] = values.map((v) =>
      Buffer.isBuffer(v) ? v.toString() : '',
    );
    if (status === '' || (fire !== undefined && (recFire ?? '') !== fire)) return undefined;
    return {
      status: status === 'Scheduled' ? (endStatus ?? '') : (status ?? ''),
      exitCode: exitCode ?? '',
      digest: digest ?? '',
    };
  }
}

/** Node ids a group keeps (inv-fold-6.lua keeps up to 10). */
const GROUP_NODE_IDS = 10;

/**
 * An output digest as a group's field holds it: a sha256 in base64url (43 characters), not hex
 * (64), so that `c <status>\t<exit code>\t<digest>` stays within Redis's 64-byte listpack
 * value, and a small invocation's groups hash stays a listpack (~100 B) instead of a hash table
 * (~400 B). Anything else (''; what a hostile node sent) is kept as it is.
 */
export function groupDigest(hex: string): string {
  return /^[0-9a-f]{64}$/.test(hex) ? Buffer.from(hex, 'hex').toString('base64url') : hex;
}

/** The digest the API shows (hex) of one a group's field holds (either form). */
export function hexDigest(stored: string): string {
  return /^[A-Za-z0-9_-]{43}$/.test(stored)
    ? Buffer.from(stored, 'base64url').toString('hex')
    : stored;
}
