import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { ClusterTarget, RedisTarget } from '../shared/redis-target.js';
import { settleWithin } from '../shared/settle.js';
import { keySlot } from './key-slot.js';

/**
 * A connection to one Redis or to a Redis Cluster: both take the same commands. On a cluster
 * every command, script call, MULTI and explicit pipeline must touch one hash slot (keys.ts
 * tags keys so); auto-pipelining groups commands by node by itself.
 */
export type RedisClient = Redis | Cluster;

/**
 * Connection profiles.
 * - `producer` (API): fails fast while Redis is away so requests answer 503 instead of hanging.
 * - `worker` (scheduler, agent): waits for Redis to come back; BullMQ requires
 *   `maxRetriesPerRequest: null` on anything that blocks.
 * - `enqueuer` (the API's BullMQ queues): fails fast like `producer`, but sends each command on
 *   its own: ioredis copies a connection's defined commands (BullMQ's scripts) into every
 *   pipeline, which auto-pipelining makes once per tick.
 * - `writer` (the scheduler's records): waits like `worker`, and sends the commands issued in one
 *   tick as one pipeline, so a fan-out's thousands of scripts cost a few socket writes. Not for
 *   BullMQ (see `enqueuer`).
 * - `subscriber`: pub/sub only; reconnects and resubscribes by itself.
 * - `relay` (the event relay): waits like `worker`; on a cluster it also subscribes to sharded
 *   channels (SSUBSCRIBE), through one more connection to each master (ioredis
 *   `shardedSubscribers`), which resubscribes by itself.
 */
export type ConnectionKind = 'producer' | 'enqueuer' | 'worker' | 'writer' | 'subscriber' | 'relay';

const PROFILES: Record<ConnectionKind, RedisOptions> = {
  producer: {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    // A Redis that holds the connection but answers nothing (frozen, overloaded) must still
    // get a 503 out within the 2 s the API promises: the command gives up at 1.5 s, leaving
    // the rest for the request itself on a loaded machine.
    commandTimeout: 1_500,
    enableAutoPipelining: true,
  },
  enqueuer: {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    enableAutoPipelining: false,
  },
  worker: { maxRetriesPerRequest: null, enableAutoPipelining: false },
  writer: { maxRetriesPerRequest: null, enableAutoPipelining: true },
  relay: { maxRetriesPerRequest: null, enableAutoPipelining: false },
  subscriber: { maxRetriesPerRequest: null },
};

/** Back off up to 2 s between reconnect attempts; never give up. */
const retryStrategy = (times: number) => Math.min(100 * times, 2_000);

/**
 * The one place connections are made: to REDIS_URL (a string is a URL), or to the cluster of
 * REDIS_CLUSTER_NODES. Every process (server, agent, CLI) connects through here.
 */
export function makeRedis(
  target: string | { kind: 'url'; url: string },
  kind: ConnectionKind,
  name?: string,
): Redis;
export function makeRedis(target: ClusterTarget, kind: ConnectionKind, name?: string): Cluster;
export function makeRedis(
  target: RedisTarget | string,
  kind: ConnectionKind,
  name?: string,
): RedisClient;
export function makeRedis(
  target: RedisTarget | string,
  kind: ConnectionKind,
  name?: string,
): RedisClient {
  const t: RedisTarget = typeof target === 'string' ? { kind: 'url', url: target } : target;
  const client =
    t.kind === 'url'
      ? new Redis(t.url, {
          ...PROFILES[kind],
          ...(name ? { connectionName: name } : {}),
          retryStrategy,
          lazyConnect: false,
        })
      : makeCluster(t, kind, name);
  // An 'error' listener keeps ioredis from printing unhandled-error warnings on every retry;
  // callers see failures through the commands they issue.
  client.on('error', () => undefined);
  return client;
}

/**
 * Kinds whose Cluster client skips ioredis's ready check (`CLUSTER INFO` on a random master once
 * connected): the check opens, and keeps for the client's life, a connection to whichever master
 * it picked, which on an agent is a socket that carries nothing after start-up (an agent on a
 * 3-master cluster held 8 connections, 2 of them from this). These clients wait for Redis anyway
 * (they retry without limit), so a cluster not ready yet answers their first commands with
 * CLUSTERDOWN, which ioredis retries, instead of the check doing it first.
 */
const NO_READY_CHECK = new Set<ConnectionKind>(['worker', 'subscriber']);

/**
 * A Cluster client with the profile's behaviour: queueing and pipelining are the cluster's
 * own options, the rest applies to each node's connection (BullMQ reads
 * `redisOptions.maxRetriesPerRequest`).
 */
function makeCluster(t: ClusterTarget, kind: ConnectionKind, name?: string): Cluster {
  const { enableOfflineQueue, enableAutoPipelining, ...perNode } = PROFILES[kind];
  const options: ClusterOptions = {
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    enableAutoPipelining: enableAutoPipelining ?? false,
    ...(kind === 'relay' ? { shardedSubscribers: true } : {}),
    ...(NO_READY_CHECK.has(kind) ? { enableReadyCheck: false } : {}),
    clusterRetryStrategy: retryStrategy,
    lazyConnect: false,
    redisOptions: {
      ...perNode,
      ...(name ? { connectionName: name } : {}),
      ...(t.username !== undefined ? { username: t.username } : {}),
      ...(t.password !== undefined ? { password: t.password } : {}),
      ...(t.tls ? { tls: {} } : {}),
    },
    // TLS certificates name the host as given, not the address the cluster reports.
    ...(t.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
  };
  return new Cluster(
    t.nodes.map((n) => ({ host: n.host, port: n.port })),
    options,
  );
}

/**
 * The connection to each server of a cluster, masters and replicas (what is per server, such
 * as ACL users, is set on each), or the client itself for one Redis. They belong to the
 * client: closing it closes them.
 */
export function eachServer(client: RedisClient): Redis[] {
  if (!(client instanceof Cluster)) return [client];
  return client.nodes('all');
}

/** Whether the client is a Redis Cluster client. */
export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * Where to send a keyless command (PUBLISH) that belongs with `key`: for one Redis the client
 * itself; on a cluster, the connection to the master that holds `key`'s slot, which a node's
 * agent talks to anyway. ioredis sends keyless commands to a random master, so an agent
 * announcing itself once a minute would hold a connection to every master within minutes. The
 * cluster client itself while the slot map does not name a master for the slot yet.
 */
export function serverOf(client: RedisClient, key: string): RedisClient {
  if (!(client instanceof Cluster)) return client;
  const owner = client.slots[keySlot(key)]?.[0];
  return (
    client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner) ?? client
  );
}

const AUTH_REFUSED = /WRONGPASS|NOAUTH|user is disabled/i;

/**
 * The first line of an authentication refusal (WRONGPASS, NOAUTH, a disabled user) that `err`
 * is, or undefined. A cluster client reports it as the last node error of its "Failed to
 * refresh slots cache".
 */
export function authRefusal(err: Error & { lastNodeError?: Error }): string | undefined {
  const refused = [err, err.lastNodeError].find(
    (e) => e !== undefined && AUTH_REFUSED.test(e.message),
  );
  return refused?.message.split('\n')[0];
}

/** What reports a connection's errors: a client, or a RefusalWatch over several. */
export interface ErrorSource {
  on(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * `work`, or a rejection with `refused(message)` as soon as Redis refuses the client's
 * credentials. One Redis fails the pending commands then; a cluster client keeps them queued
 * and retries its slot map forever, so a caller waiting on them would wait for good.
 */
export async function unlessRefused<T>(
  client: ErrorSource,
  work: Promise<T>,
  refused: (message: string) => Error,
): Promise<T> {
  let onError: (err: Error) => void = () => undefined;
  const refusal = new Promise<never>((_, reject) => {
    onError = (err: Error) => {
      const message = authRefusal(err);
      if (message !== undefined) reject(refused(message));
    };
  });
  client.on('error', onError);
  try {
    return await Promise.race([work, refusal]);
  } finally {
    client.off('error', onError);
  }
}

/** Waits until the client is connected (or the timeout passes). */
export async function waitReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis did not become ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}

/**
 * Closes a client whatever Redis is doing: QUIT when it answers (so pending replies arrive),
 * then disconnect, which also stops reconnecting when Redis is away.
 */
export async function closeRedis(client: RedisClient, timeoutMs = 1_000): Promise<void> {
  if (client.status === 'ready') await settleWithin(client.quit(), timeoutMs);
  client.disconnect();
}

/**
 * A connection and every connection duplicated from it (BullMQ makes its workers' blocking
 * connections so), so that a new password reaches all of them: each reconnect authenticates
 * with the password in its options at that moment (a credential rotation). Connections already
 * open stay authenticated as they are.
 */
export class CredentialGroup {
  private readonly clients = new Set<RedisClient>();

  /** Adds the client, and from now on each duplicate made of it. */
  add<C extends RedisClient>(client: C): C {
    this.clients.add(client);
    if (client instanceof Cluster) {
      const duplicate = client.duplicate.bind(client);
      client.duplicate = (...args: Parameters<Cluster['duplicate']>) =>
        this.add(duplicate(...args));
    } else {
      const duplicate = (client as Redis).duplicate.bind(client);
      (client as Redis).duplicate = (override?: Partial<RedisOptions>) =>
        this.add(duplicate(override));
    }
    return client;
  }

  /**
   * The password every connection of the group reconnects with from now on. A cluster's node
   * connections share its `redisOptions` (and its duplicates do), but each open one keeps a
   * copy of its own.
   */
  setPassword(password: string): void {
    for (const c of this.clients) {
      if (c instanceof Cluster) {
        (c.options.redisOptions ??= {}).password = password;
        for (const n of c.nodes()) n.options.password = password;
      } else c.options.password = password;
    }
  }

  /** Closes every connection of the group at once, with no reconnect (credentials gone). */
  disconnect(): void {
    for (const c of this.clients) c.disconnect();
  }
}
