import { parseArgs } from 'node:util';
import type { RedisClient } from '../../store/redis.js';
import { ACCESS_KEY_ID_RE, type Config } from '../../shared/config.js';
import { UsageError } from '../usage-error.js';
import { renderTable } from '../format.js';
import { withCliRedis } from '../redis.js';
import { withCliAudit } from '../cli-audit.js';
import { isoSeconds } from '../../domain/time.js';
import { AccessKeyStore } from '../../store/access-key-store.js';
import { Keys } from '../../store/keys.js';

/**
 * `fleetcmd key add|list|remove`: the access keys of the vendor's RPC protocol. They live in
 * Redis (every API replica verifies signatures with them), so these commands talk to Redis
 * (REDIS_URL, FLEETCMD_PREFIX), not to the API.
 */
export const KEY_HELP = `Usage: fleetcmd key add|list|remove ...

Access keys for the vendor's RPC protocol (POST / with ACS3-HMAC-SHA256 or HMAC-SHA1
signatures), kept in Redis so that every API replica can verify them.
  fleetcmd key add [--json]            issues a key; prints its AccessKey ID and secret (once)
  fleetcmd key list [--json]           AccessKey IDs, where each comes from, when it was issued
  fleetcmd key remove <AccessKeyId>    revokes a key issued by key add
  --redis-url URL     the Redis (default $REDIS_URL or redis://127.0.0.1:6379)
  --prefix P          the Redis key prefix (default $FLEETCMD_PREFIX or fc)

Keys in FLEETCMD_ACCESS_KEYS (id:secret,...) are listed too; remove them there.

Example: fleetcmd key add --json
Example: fleetcmd key remove FC0123456789ABCDEFGHIJKL`;

function line(text: string): void {
  process.stdout.write(`${text}\n`);
}

export async function keyCli(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    line(KEY_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (!['add', 'list', 'remove'].includes(sub)) {
    throw new UsageError(`unknown key subcommand ${JSON.stringify(sub)}`, KEY_HELP);
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      'redis-url': { type: 'string' },
      prefix: { type: 'string' },
    },
  });
  if (values.help) {
    line(KEY_HELP);
    return 0;
  }
  const wanted = sub === 'remove' ? 1 : 0;
  if (positionals.length !== wanted) {
    throw new UsageError(
      sub === 'remove' ? 'the AccessKey ID to remove is required' : `unexpected argument`,
      KEY_HELP,
    );
  }
  return withCliRedis(process.env, values, 'fleetcmd-key', (redis, config) => {
    const store = new AccessKeyStore(redis, new Keys(config.prefix), config.accessKeys);
    if (sub === 'add') return addKey(redis, config, store, values.json);
    if (sub === 'list') return listKeys(store, values.json);
    return removeKey(redis, config, store, positionals[0] ?? '', values.json);
  });
}

/** `key add`: issues a key and prints its secret, once. */
async function addKey(
  redis: RedisClient,
  config: Readonly<Config>,
  store: AccessKeyStore,
  json: boolean,
): Promise<number> {
  const key = await withCliAudit(
    redis,
    config,
    'AddAccessKey',
    () => store.add(Date.now()),
    (k) => (k !== undefined ? { AccessKeyId: k.accessKeyId } : {}),
  );
  if (json) {
    line(JSON.stringify({ AccessKeyId: key.accessKeyId, AccessKeySecret: key.secret }));
  } else {
    line(`AccessKey ID:     ${key.accessKeyId}`);
    line(`AccessKey secret: ${key.secret}`);
    line('The secret is shown only now: keep it where your SDK or CLI profile reads it.');
  }
  return 0;
}

async function listKeys(store: AccessKeyStore, json: boolean): Promise<number> {
  const list = await store.list();
  if (json) {
    line(
      JSON.stringify({
        AccessKeys: list.map((k) => ({
          AccessKeyId: k.accessKeyId,
          Source: k.source,
          CreationTime: isoSeconds(k.createdMs),
        })),
      }),
    );
  } else {
    line(
      renderTable(
        ['ACCESS KEY ID', 'SOURCE', 'CREATED'],
        list.map((k) => [
          k.accessKeyId,
          k.source === 'env' ? 'FLEETCMD_ACCESS_KEYS' : 'key add',
          isoSeconds(k.createdMs) || '-',
        ]),
      ),
    );
  }
  return 0;
}

/** `key remove`: revokes a key issued by key add. */
async function removeKey(
  redis: RedisClient,
  config: Readonly<Config>,
  store: AccessKeyStore,
  id: string,
  json: boolean,
): Promise<number> {
  if (!ACCESS_KEY_ID_RE.test(id))
    throw new UsageError(`${JSON.stringify(id)} is not an AccessKey ID`);
  if (store.isStatic(id)) {
    throw new UsageError(`${id} comes from FLEETCMD_ACCESS_KEYS: remove it there`);
  }
  const removed = await withCliAudit(
    redis,
    config,
    'RemoveAccessKey',
    () => store.remove(id),
    (done) => ({ AccessKeyId: id, ...(done === false ? { ResultCode: 'NotFound' } : {}) }),
  );
  if (!removed) throw new UsageError(`no access key ${id} in Redis`);
  line(json ? JSON.stringify({ AccessKeyId: id, Removed: true }) : `removed ${id}`);
  return 0;
}
