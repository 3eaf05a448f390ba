import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { RedisClient } from './redis.js';
import type { Keys } from './keys.js';
import { makeScripts, redisNowMs, type Scripts } from './scripts.js';

/** What CreateActivation sets. */
export interface NewActivation {
  description: string;
  instanceCount: number;
  /** Prefix of the node ids registered without one of their own ('' for none). */
  instanceName: string;
  ttlHours: number;
  /** CIDR, or '' for any address. */
  ipAddressRange: string;
}

/** An activation as stored: never its code, only the code's SHA-256. */
export interface ActivationRecord extends NewActivation {
  activationId: string;
  createdMs: number;
  expiresMs: number;
  disabled: boolean;
  registeredCount: number;
  deregisteredCount: number;
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * Activations (the vendor's CreateActivation): an id and a one-time-shown code that at most
 * InstanceCount nodes trade for their own credentials (RegisterNode) until it expires. Only
 * the code's SHA-256 is kept. Each node registered with one has an enrollment record naming it,
 * which doubles as the claim on its node id.
 */
export class ActivationStore {
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {
    this.scripts = makeScripts(redis, keys);
  }

  /** A new activation: its id and its code (shown once). Times are Redis's clock. */
  async create(a: NewActivation): Promise<{ activationId: string; code: string }> {
    const activationId = randomUUID().toUpperCase();
    // 256 random bits; only its digest is stored.
    const code = randomBytes(32).toString('base64url');
    const createdMs = await redisNowMs(this.redis);
    await this.redis
      .multi()
      .hset(this.keys.activation(activationId), {
        description: a.description,
        instanceCount: a.instanceCount,
        instanceName: a.instanceName,
        ttlHours: a.ttlHours,
        ipAddressRange: a.ipAddressRange,
        createdMs,
        expiresMs: createdMs + a.ttlHours * 3_600_000,
        codeSha256: sha256(code).toString('hex'),
        disabled: '0',
        registeredCount: 0,
        deregisteredCount: 0,
      })
      .exec();
    await this.redis.zadd(this.keys.activationIndex(), createdMs, activationId);
    return { activationId, code };
  }

  async get(activationId: string): Promise<ActivationRecord | undefined> {
    const h = await this.redis.hgetall(this.keys.activation(activationId));
    if (h.createdMs === undefined) return undefined;
    return {
      activationId,
      description: h.description ?? '',
      instanceCount: Number(h.instanceCount),
      instanceName: h.instanceName ?? '',
      ttlHours: Number(h.ttlHours),
      ipAddressRange: h.ipAddressRange ?? '',
      createdMs: Number(h.createdMs),
      expiresMs: Number(h.expiresMs),
      disabled: h.disabled === '1',
      registeredCount: Number(h.registeredCount ?? 0),
      deregisteredCount: Number(h.deregisteredCount ?? 0),
    };
  }

  /**
   * Whether `code` is the activation's: SHA-256 of both compared in constant time (false for an
   * unknown activation, after the same work).
   */
  async codeMatches(activationId: string, code: string): Promise<boolean> {
    const stored = await this.redis.hget(this.keys.activation(activationId), 'codeSha256');
    const want =
      stored !== null && /^[0-9a-f]{64}$/.test(stored) ? Buffer.from(stored, 'hex') : sha256('');
    return timingSafeEqual(want, sha256(code)) && stored !== null;
  }

  /** Activation ids, oldest first, after `afterId` (all from the first when undefined). */
  async list(afterId: string | undefined, count: number): Promise<string[]> {
    const all = await this.redis.zrange(this.keys.activationIndex(), 0, -1);
    const from = afterId === undefined ? 0 : all.indexOf(afterId) + 1;
    return all.slice(from, from + count);
  }

  disable(activationId: string): Promise<boolean> {
    return this.scripts.actDisable([activationId]);
  }

  async delete(activationId: string): Promise<'Deleted' | 'Missing' | 'InUse'> {
    const r = await this.scripts.actDelete([activationId]);
    if (r !== 'InUse') await this.redis.zrem(this.keys.activationIndex(), activationId);
    return r;
  }

  /** Counts `nodeId` against the activation if it is usable and has room (act-reserve-2.lua). */
  reserve(activationId: string, nodeId: string) {
    return this.scripts.actReserve([activationId], nodeId);
  }

  /** Gives the node's place back: `deregister` counts it, `undo` unmakes a failed registration. */
  release(activationId: string, nodeId: string, how: 'deregister' | 'undo'): Promise<boolean> {
    return this.scripts.actRelease([activationId], nodeId, how);
  }

  /** Claims a node id for a registration with that activation; false when it is claimed. */
  async claimNode(nodeId: string, activationId: string): Promise<boolean> {
    const key = this.keys.nodeEnrollment(nodeId);
    return (await this.redis.hsetnx(key, 'activationId', activationId)) === 1;
  }

  /** The activation a node registered with (undefined: none, e.g. made by `node add`). */
  async enrollmentOf(nodeId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.nodeEnrollment(nodeId), 'activationId')) ?? undefined;
  }

  async unclaimNode(nodeId: string): Promise<void> {
    await this.redis.del(this.keys.nodeEnrollment(nodeId));
  }

  /** Test and repair hook: sets the activation's expiry (ms, Redis's clock). */
  async setExpiresMs(activationId: string, expiresMs: number): Promise<void> {
    await this.redis.hset(this.keys.activation(activationId), 'expiresMs', expiresMs);
  }
}
