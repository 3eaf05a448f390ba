import { EventEmitter } from 'node:events';
import { authRefusal, isCluster, type RedisClient } from './redis.js';

/** A change of whether Redis refuses the watched connections: the refusal, or undefined. */
export type RefusalChange = (refusal: string | undefined, connection: string) => void;

/**
 * Whether Redis refuses a process's credentials, over every connection it watches: a connection
 * counts as refused from its refusal (WRONGPASS, NOAUTH) until it is ready again (a cluster
 * client: until its slot map refreshes again). It re-emits each connection's errors, so
 * `unlessRefused(watch, work, ...)` ends a start-up at the first refusal on any of them.
 */
export class RefusalWatch extends EventEmitter {
  private readonly refused = new Map<RedisClient, string>();

  /** `onChange` hears when the first connection is refused and when none is any more. */
  constructor(private readonly onChange: RefusalChange) {
    super();
    // Re-emitted errors need no listener of their own (an 'error' with none would throw).
    this.on('error', () => undefined);
  }

  /** Watches `client` (named `connection` in onChange) until it ends; returns it. */
  add<C extends RedisClient>(client: C, connection: string): C {
    client.on('error', (err: Error) => {
      this.emit('error', err);
      const refusal = authRefusal(err);
      if (refusal === undefined) return;
      const first = this.refused.size === 0;
      this.refused.set(client, refusal);
      if (first) this.onChange(refusal, connection);
    });
    const accepted = () => {
      if (this.refused.delete(client) && this.refused.size === 0)
        this.onChange(undefined, connection);
    };
    client.on('ready', accepted);
    if (isCluster(client)) client.on('refresh', accepted);
    // Closed: no longer a connection of the process, refused or not.
    client.on('end', () => this.refused.delete(client));
    return client;
  }

  /** The refusal of a watched connection Redis refuses now, or undefined. */
  current(): string | undefined {
    for (const refusal of this.refused.values()) return refusal;
    return undefined;
  }
}
