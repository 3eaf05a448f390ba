import { eachServer, type RedisClient } from './redis.js';
import type { RedisFacts } from '../domain/redis-fitness.js';
import type { Keys } from './keys.js';

/** One `name:value` line of an INFO reply. */
export function infoField(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*?)\\r?$`, 'm').exec(info)?.[1];
}

/**
 * The facts redisWarnings judges, for each Redis server (every master and replica of a cluster:
 * each one takes agents' connections and holds data, and a replica may be promoted): INFO's
 * clients and memory sections (no CONFIG, which managed Redis services often refuse), and the
 * node registry's size. One round trip per server, all at once.
 */
export async function readRedisFacts(redis: RedisClient, keys: Keys): Promise<RedisFacts[]> {
  const servers = eachServer(redis);
  const [nodes, ...infos] = await Promise.all([
    redis.scard(keys.nodeRegistry()),
    ...servers.map(async (server) => {
      const replies = await server.pipeline().info('clients').info('memory').exec();
      return (replies ?? []).map(([err, value]) => {
        if (err) throw err;
        return String(value);
      });
    }),
  ]);
  return servers.map((server, i) => {
    const [clients = '', memory = ''] = infos[i] ?? [];
    const maxClients = Number(infoField(clients, 'maxclients'));
    return {
      ...(servers.length > 1 ? { server: `${server.options.host}:${server.options.port}` } : {}),
      maxClients: Number.isFinite(maxClients) && maxClients > 0 ? maxClients : undefined,
      evictionPolicy: infoField(memory, 'maxmemory_policy'),
      nodes: Number(nodes),
    };
  });
}
