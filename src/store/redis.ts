import { Redis, type RedisOptions } from 'ioredis';
import { settleWithin } from '../shared/settle.js';

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
 */
export type ConnectionKind = 'producer' | 'enqueuer' | 'worker' | 'writer' | 'subscriber';

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
  subscriber: { maxRetriesPerRequest: null },
};

export function makeRedis(url: string, kind: ConnectionKind, name?: string): Redis {
  const client = new Redis(url, {
    ...PROFILES[kind],
    ...(name ? { connectionName: name } : {}),
    // Back off up to 2 s between reconnect attempts; never give up.
    retryStrategy: (times) => Math.min(100 * times, 2_000),
    lazyConnect: false,
  });
  // An 'error' listener keeps ioredis from printing unhandled-error warnings on every retry;
  // callers see failures through the commands they issue.
  client.on('error', () => undefined);
  return client;
}

/** Waits until the client is connected (or the timeout passes). */
export async function waitReady(client: Redis, timeoutMs: number): Promise<void> {
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
export async function closeRedis(client: Redis, timeoutMs = 1_000): Promise<void> {
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
  private readonly clients = new Set<Redis>();

  /** Adds the client, and from now on each duplicate made of it. */
  add(client: Redis): Redis {
    this.clients.add(client);
    const duplicate = client.duplicate.bind(client);
    client.duplicate = (override?: Partial<RedisOptions>) => this.add(duplicate(override));
    return client;
  }

  /** The password every connection of the group reconnects with from now on. */
  setPassword(password: string): void {
    for (const c of this.clients) c.options.password = password;
  }

  /** Closes every connection of the group at once, with no reconnect (credentials gone). */
  disconnect(): void {
    for (const c of this.clients) c.disconnect();
  }
}
