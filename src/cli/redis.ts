/**
 * The Redis-side CLI commands (`fleetcmd key`, `fleetcmd node`) talk to Redis, not to the API:
 * settings from the environment plus `--redis-url` and `--prefix`, one ready connection,
 * closed when the command ends.
 */
import type { RedisClient } from '../store/redis.js';
import { loadConfig, type Config, type RawSettings } from '../shared/config.js';
import { UsageError } from './usage-error.js';
import { redactText } from '../shared/log.js';
import { ConfigError } from '../shared/config-error.js';
import { credentialsRefused, describeTarget } from '../shared/redis-target.js';
import { closeRedis, makeRedis, unlessRefused, waitReady } from '../store/redis.js';

export async function withCliRedis<T>(
  env: RawSettings,
  flags: { 'redis-url'?: string | undefined; prefix?: string | undefined },
  clientName: string,
  fn: (redis: RedisClient, config: Readonly<Config>) => Promise<T>,
): Promise<T> {
  const config = loadConfig({
    ...env,
    ...(flags['redis-url'] !== undefined ? { REDIS_URL: flags['redis-url'] } : {}),
    ...(flags.prefix !== undefined ? { FLEETCMD_PREFIX: flags.prefix } : {}),
  });
  const redis = makeRedis(config.redis, 'producer', clientName);
  // Why the connection is not ready (NOAUTH, WRONGPASS, ECONNREFUSED), for the message.
  let lastError: unknown;
  redis.on('error', (err: unknown) => (lastError = err));
  try {
    // Refused credentials end the command at once, named as the server names them: a cluster
    // client would retry its slot map until the timeout and report only that.
    const ready = unlessRefused(
      redis,
      waitReady(redis, 5_000),
      (refusal) => new ConfigError(credentialsRefused(config.redis, refusal)),
    );
    await ready.catch((err: unknown) => {
      if (err instanceof ConfigError) throw err;
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      // The URL may hold a password: never echo it.
      throw new UsageError(
        redactText(`cannot reach Redis at ${describeTarget(config.redis)}${why}`),
      );
    });
    return await fn(redis, config);
  } finally {
    await closeRedis(redis);
  }
}
