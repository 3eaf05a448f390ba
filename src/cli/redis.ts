/**
 * The Redis-side CLI commands (`fleetcmd key`, `fleetcmd node`) talk to Redis, not to the API:
 * settings from the environment plus `--redis-url` and `--prefix`, one ready connection,
 * closed when the command ends.
 */
import type { Redis } from 'ioredis';
import { loadConfig, type Config, type RawSettings } from '../shared/config.js';
import { UsageError } from './args.js';
import { closeRedis, makeRedis, waitReady } from '../store/redis.js';

export async function withCliRedis<T>(
  env: RawSettings,
  flags: { 'redis-url'?: string | undefined; prefix?: string | undefined },
  clientName: string,
  fn: (redis: Redis, config: Readonly<Config>) => Promise<T>,
): Promise<T> {
  const config = loadConfig({
    ...env,
    ...(flags['redis-url'] !== undefined ? { REDIS_URL: flags['redis-url'] } : {}),
    ...(flags.prefix !== undefined ? { FLEETCMD_PREFIX: flags.prefix } : {}),
  });
  const redis = makeRedis(config.redisUrl, 'producer', clientName);
  try {
    await waitReady(redis, 5_000).catch(() => {
      throw new UsageError(`cannot reach Redis at ${config.redisUrl}`);
    });
    return await fn(redis, config);
  } finally {
    await closeRedis(redis);
  }
}
