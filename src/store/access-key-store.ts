import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from './redis.js';
import type { Keys } from './keys.js';

/** An access key as `fleetcmd key list` shows it: never its secret. */
export interface AccessKeyInfo {
  accessKeyId: string;
  createdMs: number | undefined;
  /** `redis`: issued by `fleetcmd key add`; `env`: from FLEETCMD_ACCESS_KEYS. */
  source: 'redis' | 'env';
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** `FC` and 22 uppercase letters and digits: unlike the vendor's own ids (`LTAI...`). */
function newAccessKeyId(): string {
  let id = 'FC';
  for (const b of randomBytes(22)) id += ID_ALPHABET[b % ID_ALPHABET.length];
  return id;
}

/**
 * The access keys the RPC protocol verifies signatures with: the static ones from
 * FLEETCMD_ACCESS_KEYS (they win over a Redis key of the same id) and those in Redis, which
 * every replica reads; plus the signature nonces seen, shared by every replica.
 */
export class AccessKeyStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly staticKeys: ReadonlyMap<string, string> = new Map(),
  ) {}

  /** A new key: its id and secret (shown once; the CLI prints them). */
  async add(nowMs: number): Promise<{ accessKeyId: string; secret: string; createdMs: number }> {
    for (;;) {
      const accessKeyId = newAccessKeyId();
      if (this.staticKeys.has(accessKeyId)) continue;
      // 32 characters of Base64url: 192 random bits.
      const secret = randomBytes(24).toString('base64url');
      const created = await this.redis.hsetnx(
        this.keys.accessKeys(),
        accessKeyId,
        JSON.stringify({ secret, createdMs: nowMs }),
      );
      if (created === 1) return { accessKeyId, secret, createdMs: nowMs };
    }
  }

  async list(): Promise<AccessKeyInfo[]> {
    const stored = await this.redis.hgetall(this.keys.accessKeys());
    const out: AccessKeyInfo[] = [...this.staticKeys.keys()].map((accessKeyId) => ({
      accessKeyId,
      createdMs: undefined,
      source: 'env',
    }));
    for (const [accessKeyId, json] of Object.entries(stored)) {
      if (this.staticKeys.has(accessKeyId)) continue;
      out.push({ accessKeyId, createdMs: parse(json)?.createdMs, source: 'redis' });
    }
    return out.sort((a, b) => (a.accessKeyId < b.accessKeyId ? -1 : 1));
  }

  /** Removes a key issued by `key add`; false when Redis has none of that id. */
  async remove(accessKeyId: string): Promise<boolean> {
    return (await this.redis.hdel(this.keys.accessKeys(), accessKeyId)) === 1;
  }

  isStatic(accessKeyId: string): boolean {
    return this.staticKeys.has(accessKeyId);
  }

  /** The key's secret, or undefined for an unknown key. */
  async secretOf(accessKeyId: string): Promise<string | undefined> {
    const fixed = this.staticKeys.get(accessKeyId);
    if (fixed !== undefined) return fixed;
    const json = await this.redis.hget(this.keys.accessKeys(), accessKeyId);
    return json === null ? undefined : parse(json)?.secret;
  }

  /**
   * Records a signature nonce for `ttlMs`; false when that key already used it (a replay).
   * One SET NX: two replicas that get the same request at once cannot both accept it.
   */
  async claimNonce(accessKeyId: string, nonce: string, ttlMs: number): Promise<boolean> {
    const key = this.nonceKey(accessKeyId, nonce);
    return (await this.redis.set(key, '1', 'PX', Math.ceil(ttlMs), 'NX')) === 'OK';
  }

  private nonceKey(accessKeyId: string, nonce: string): string {
    const digest = createHash('sha256').update(nonce).digest('hex').slice(0, 32);
    return this.keys.signatureNonce(accessKeyId, digest);
  }
}

function parse(json: string): { secret: string; createdMs: number } | undefined {
  try {
    const v = JSON.parse(json) as { secret?: unknown; createdMs?: unknown };
    if (typeof v.secret !== 'string' || typeof v.createdMs !== 'number') return undefined;
    return { secret: v.secret, createdMs: v.createdMs };
  } catch {
    return undefined;
  }
}
