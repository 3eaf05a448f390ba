import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { eachServer, type RedisClient } from './redis.js';
import type { Keys } from './keys.js';

/**
 * Commands a node's agent needs, and nothing keyless that could show or change other data.
 * Key patterns (`~`) bound every keyed command, also inside Lua scripts (Redis checks a
 * script's calls against the caller's ACL), so the data-type categories are safe to grant
 * whole: each of their commands names its keys. Of the keyspace category only the keyed
 * commands BullMQ's scripts use are granted: SCAN, KEYS, RANDOMKEY, FLUSHDB and the like are
 * keyless and would reach other nodes' keys. INFO is granted because ioredis's ready check and
 * BullMQ's version check read it (server statistics and counts, no key names or values).
 */
const NODE_COMMANDS = [
  '+@hash',
  '+@list',
  '+@set',
  '+@sortedset',
  '+@stream',
  '+@string',
  // SORT's BY/GET read keys named by patterns (Redis 7 refuses that without `~*`): never.
  '-sort',
  '-sort_ro',
  '+del',
  '+unlink',
  '+exists',
  '+type',
  '+expire',
  '+pexpire',
  '+pexpireat',
  '+persist',
  '+ttl',
  '+pttl',
  '+rename',
  '+time',
  '+evalsha',
  '+eval',
  '+script|load',
  '+script|exists',
  '+multi',
  '+exec',
  '+discard',
  '+watch',
  '+unwatch',
  '+subscribe',
  '+unsubscribe',
  '+publish',
  // Within the node's channel pattern: the notice of its own outbox's appends (prelude.lua).
  '+spublish',
  '+ping',
  '+echo',
  '+select',
  '+info',
  '+client|setname',
  '+client|getname',
  '+client|id',
  '+acl|whoami',
  // A Redis Cluster client learns the slot map and checks the cluster's state: topology only
  // (addresses and slot ranges), no key names or values.
  '+cluster|slots',
  '+cluster|info',
];

/** The ACL SETUSER rules of one node's agent user, password given as its SHA-256 (hex). */
export function nodeAclRules(keys: Keys, nodeId: string, passwordSha256: string): string[] {
  return [
    'reset',
    'on',
    `#${passwordSha256}`,
    ...keys.nodeKeyPatterns(nodeId).map((p) => `~${p}`),
    'resetchannels',
    `&${keys.nodeChannelPattern(nodeId)}`,
    ...NODE_COMMANDS,
  ];
}

export interface NodeUser {
  username: string;
  password: string;
  /** Whether ACL SAVE wrote the user to Redis's ACL file (false: Redis has no aclfile). */
  saved: boolean;
}

/** Writes the ACL to Redis's aclfile when it has one; false when it has none. */
async function aclSave(admin: Redis): Promise<boolean> {
  try {
    await admin.call('ACL', 'SAVE');
    return true;
  } catch (err) {
    if (/not configured to use an ACL file/i.test(String(err))) return false;
    throw err;
  }
}

export async function nodeUserExists(admin: Redis, keys: Keys, nodeId: string): Promise<boolean> {
  return (await admin.call('ACL', 'GETUSER', keys.nodeAclUser(nodeId))) !== null;
}

/** A new random password of 256 bits. */
export const newNodePassword = (): string => randomBytes(32).toString('base64url');

const passwordSha256 = (password: string): string =>
  createHash('sha256').update(password).digest('hex');

/**
 * Creates (or, when it exists, replaces) the ACL user of one node with a new random password
 * of 256 bits. Only its SHA-256 is sent to Redis, so the password itself never appears in
 * Redis's ACL file, slow log or MONITOR output. Connections already authenticated with an
 * older password stay open until they reconnect.
 */
export async function setNodeUser(
  admin: Redis,
  keys: Keys,
  nodeId: string,
  password = newNodePassword(),
): Promise<NodeUser> {
  const sha = passwordSha256(password);
  const username = keys.nodeAclUser(nodeId);
  await admin.call('ACL', 'SETUSER', username, ...nodeAclRules(keys, nodeId, sha));
  return { username, password, saved: await aclSave(admin) };
}

/** The connection URL of a node's user: the admin URL with the user's name and password. */
export function nodeUserUrl(adminUrl: string, user: NodeUser): string {
  const url = new URL(adminUrl);
  url.username = user.username;
  url.password = user.password;
  return url.toString();
}

/**
 * Deletes the node's ACL user; Redis closes that user's connections at once. Returns false when
 * there was no such user.
 */
export async function removeNodeUser(
  admin: Redis,
  keys: Keys,
  nodeId: string,
): Promise<{ removed: boolean; saved: boolean }> {
  const n = Number(await admin.call('ACL', 'DELUSER', keys.nodeAclUser(nodeId)));
  return { removed: n > 0, saved: n > 0 ? await aclSave(admin) : false };
}

/**
 * The node users of one deployment, on each Redis server that keeps ACL users: the one Redis,
 * or every server of a cluster (masters and replicas: ACL users are per server and a replica
 * promoted by a failover must know them too). A user is made on all of them with the same
 * password, or on none. The servers are looked up at each call (a cluster's may change).
 */
export class NodeCredentials {
  constructor(
    private readonly admin: RedisClient,
    private readonly keys: Keys,
  ) {}

  private get admins(): Redis[] {
    return eachServer(this.admin);
  }

  async exists(nodeId: string): Promise<boolean> {
    const found = await Promise.all(this.admins.map((a) => nodeUserExists(a, this.keys, nodeId)));
    return found.some(Boolean);
  }

  /** A new user (or a replaced one) with a new password, on every server; undone on failure. */
  async create(nodeId: string): Promise<NodeUser> {
    const password = newNodePassword();
    try {
      const users = await Promise.all(
        this.admins.map((a) => setNodeUser(a, this.keys, nodeId, password)),
      );
      return { ...users[0]!, saved: users.every((u) => u.saved) };
    } catch (err) {
      await this.remove(nodeId).catch(() => undefined);
      throw err;
    }
  }

  /** Deletes the user everywhere (Redis closes its connections); whether one was there. */
  async remove(nodeId: string): Promise<boolean> {
    return (await this.removeSaved(nodeId)).removed;
  }

  /** remove(), and whether every server that had the user saved its ACL file. */
  async removeSaved(nodeId: string): Promise<{ removed: boolean; saved: boolean }> {
    const r = await Promise.all(this.admins.map((a) => removeNodeUser(a, this.keys, nodeId)));
    const had = r.filter((x) => x.removed);
    return { removed: had.length > 0, saved: had.length > 0 && had.every((x) => x.saved) };
  }

  /**
   * Adds a new password to the existing user, the old ones still valid (an ACL user may hold
   * several), so a rotation never leaves the agent with dead credentials.
   */
  async addPassword(nodeId: string): Promise<string> {
    const password = newNodePassword();
    const user = this.keys.nodeAclUser(nodeId);
    if (!(await this.exists(nodeId))) throw new Error(`node ${nodeId} has no Redis user`);
    for (const a of this.admins) {
      await a.call('ACL', 'SETUSER', user, `#${passwordSha256(password)}`);
      await aclSave(a);
    }
    return password;
  }

  /** Removes one password of the user (a rotation not taken up). */
  async removePassword(nodeId: string, password: string): Promise<void> {
    const user = this.keys.nodeAclUser(nodeId);
    for (const a of this.admins) {
      if (!(await nodeUserExists(a, this.keys, nodeId))) continue;
      await a.call('ACL', 'SETUSER', user, `!${passwordSha256(password)}`);
      await aclSave(a);
    }
  }

  /** Removes every password of the user but `password`; connections already open stay. */
  async keepOnly(nodeId: string, password: string): Promise<void> {
    const keep = passwordSha256(password);
    const user = this.keys.nodeAclUser(nodeId);
    for (const a of this.admins) {
      const info = (await a.call('ACL', 'GETUSER', user)) as unknown[] | null;
      if (info === null) continue;
      const i = info.findIndex((v) => String(v) === 'passwords');
      const hashes = ((info[i + 1] as unknown[] | undefined) ?? []).map(String);
      const drop = hashes.filter((h) => h !== keep).map((h) => `!${h}`);
      if (drop.length > 0) await a.call('ACL', 'SETUSER', user, ...drop);
      await aclSave(a);
    }
  }
}

/** An error that says the ACL refused a key or channel (not a command) to this user. */
function isScopeRefusal(err: unknown): boolean {
  return /^NOPERM\b.*\b(keys?|channels?)\b/i.test(err instanceof Error ? err.message : '');
}

export interface CredentialScope {
  /** True when every probe outside the node's own keys and channels was refused (NOPERM). */
  confined: boolean;
  /** The probes the credentials did reach (empty when confined). */
  reached: string[];
  /** ACL WHOAMI, when Redis answers it. */
  user: string | undefined;
}

/**
 * Whether the agent's credentials reach beyond its own node. It tries, with commands the agent
 * uses anyway, what a node's user must not do: read another node's registration and the
 * global invocation index, and publish on another node's control channel (a node id no agent
 * has, so nobody receives it). Credentials are confined only if Redis refuses each one for its
 * key or channel (NOPERM); one that succeeds makes them shared. This holds whatever the user is
 * called and whichever rules gave it the access, and on a Redis without ACLs (every probe
 * succeeds) too. Any other error (Redis away, the command itself denied) is thrown.
 */
export async function credentialScope(
  redis: RedisClient,
  keys: Keys,
  nodeId: string,
): Promise<CredentialScope> {
  const other = `${nodeId}-acl-probe-${randomBytes(6).toString('hex')}`;
  const probes: [string, () => Promise<unknown>][] = [
    [`HGET ${keys.nodeInfo(other)}`, () => redis.hget(keys.nodeInfo(other), 'bootId')],
    [`EXISTS ${keys.invocationIndex()}`, () => redis.exists(keys.invocationIndex())],
    [
      `PUBLISH ${keys.nodeControlChannel(other)}`,
      () => redis.publish(keys.nodeControlChannel(other), 'probe'),
    ],
  ];
  const reached: string[] = [];
  for (const [what, probe] of probes) {
    try {
      await probe();
      reached.push(what);
    } catch (err) {
      // Anything but a refusal for the key or channel (Redis away, the command itself denied)
      // tells nothing about the scope: the agent cannot start on it either way.
      if (!isScopeRefusal(err)) {
        throw new Error(`could not check the Redis credentials' scope (${what}): ${String(err)}`);
      }
    }
  }
  let user: string | undefined;
  try {
    user = String(await redis.call('ACL', 'WHOAMI'));
  } catch {
    user = undefined;
  }
  return { confined: reached.length === 0, reached, user };
}
