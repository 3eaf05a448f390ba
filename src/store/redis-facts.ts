import type { RedisClient } from './redis.js';
import type { RedisFacts } from '../domain/redis-fitness.js';
import type { Keys } from './keys.js';

/** One `name:value` line of an INFO reply. */
export function infoField(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*?)\\r?$`, 'm').exec(info)?.[1];
}

/**
 * The facts redisWarnings judges, in one round trip: INFO's clients and memory sections (no
 * CONFIG, which managed Redis services often refuse) and the node registry's size.
 */
export async function readRedisFacts(redis: RedisClient, keys: Keys): Promise<RedisFacts> {
  const replies = await redis
    .pipeline()
    .info('clients')
    .info('memory')
    .scard(keys.nodeRegistry())
    .exec();
  const [clients, memory, nodes] = (replies ?? []).map(([err, value]) => {
    if (err) throw err;
    return value;
  });
  const maxClients = Number(infoField(String(clients), 'maxclients'));
  return {
    maxClients: Number.isFinite(maxClients) && maxClients > 0 ? maxClients : undefined,
    evictionPolicy: infoField(String(memory), 'maxmemory_policy'),
    nodes: Number(nodes),
  };
}
