/**
 * `fleetcmd node add|remove <id>`: a node's own Redis ACL user, made with the admin
 * credentials of REDIS_URL. This talks to Redis, not to the API.
 */
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { NODE_ID_RE, type Config } from '../../shared/config.js';
import { UsageError } from '../usage-error.js';
import { withCliRedis } from '../redis.js';
import { withCliAudit } from '../cli-audit.js';
import { Keys } from '../../store/keys.js';
import { nodeUserExists, nodeUserUrl, removeNodeUser, setNodeUser } from '../../store/node-acl.js';

export const NODE_HELP = `Usage:
  fleetcmd node add <NodeId> [--rotate] [--json]
  fleetcmd node remove <NodeId> [--json]

add creates the node's own Redis user (ACL SETUSER, with REDIS_URL's admin credentials): it
can read only that node's jobs and write only that node's records. It prints the settings the
node's agent needs; the password is shown once and only its SHA-256 is stored in Redis. An
existing user is replaced only with --rotate (a new password; connections already open keep
working until they reconnect). remove deletes the user and closes its connections.

Options:
  --redis-url URL   admin connection (default $REDIS_URL); the agent's URL is this one with the
                    node's user and password (change the host if nodes reach Redis elsewhere)
  --prefix P        key prefix (default $FLEETCMD_PREFIX or fc)
  --rotate          replace an existing user's password
  --json            print the result as JSON

On Redis Cluster, ACL users are per server: run this against every primary and replica.

Example:
  REDIS_URL=redis://admin:secret@redis:6379 fleetcmd node add web-1`;

export async function nodeCli(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'redis-url': { type: 'string' },
      prefix: { type: 'string' },
      rotate: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(NODE_HELP);
    return 0;
  }
  const [verb, nodeId, extra] = positionals;
  if (verb !== 'add' && verb !== 'remove') {
    throw new UsageError('expected add or remove', NODE_HELP);
  }
  if (nodeId === undefined || !NODE_ID_RE.test(nodeId)) {
    throw new UsageError(
      'a node id is required: 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
      NODE_HELP,
    );
  }
  if (extra !== undefined) {
    throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`, NODE_HELP);
  }
  return withCliRedis(env, values, 'fleetcmd-node-admin', (admin, config) =>
    verb === 'remove'
      ? removeNode(admin, config, nodeId, values.json)
      : addNode(admin, config, nodeId, values),
  );
}

/** `node remove`: deletes the node's user and closes its connections. */
async function removeNode(
  admin: Redis,
  config: Readonly<Config>,
  nodeId: string,
  json: boolean,
): Promise<number> {
  const keys = new Keys(config.prefix);
  const r = await withCliAudit(
    admin,
    config,
    'RemoveNode',
    () => removeNodeUser(admin, keys, nodeId),
    (done) => ({
      NodeIds: [nodeId],
      NodeCount: 1,
      ...(done?.removed === false ? { ResultCode: 'NotFound' } : {}),
    }),
  );
  if (json) {
    console.log(JSON.stringify({ NodeId: nodeId, Removed: r.removed, Saved: r.saved }));
  } else {
    console.log(
      r.removed
        ? `removed Redis user ${keys.nodeAclUser(nodeId)}; its connections are closed${r.saved ? '' : ' (Redis has no aclfile: nothing to save)'}`
        : `no Redis user ${keys.nodeAclUser(nodeId)}: nothing removed`,
    );
  }
  return 0;
}

/** `node add`: makes (or with --rotate replaces) the node's user; prints the agent's settings. */
async function addNode(
  admin: Redis,
  config: Readonly<Config>,
  nodeId: string,
  flags: { rotate: boolean; json: boolean },
): Promise<number> {
  const keys = new Keys(config.prefix);
  if (!flags.rotate && (await nodeUserExists(admin, keys, nodeId))) {
    throw new UsageError(
      `node ${nodeId} already has a Redis user (${keys.nodeAclUser(nodeId)}): pass --rotate to give it a new password`,
    );
  }
  const user = await withCliAudit(
    admin,
    config,
    'AddNode',
    () => setNodeUser(admin, keys, nodeId),
    () => ({ NodeIds: [nodeId], NodeCount: 1 }),
  );
  const settings = {
    REDIS_URL: nodeUserUrl(config.redisUrl, user),
    FLEETCMD_NODE_ID: nodeId,
    FLEETCMD_PREFIX: config.prefix,
  };
  if (flags.json) {
    console.log(
      JSON.stringify({ NodeId: nodeId, Username: user.username, Saved: user.saved, settings }),
    );
  } else {
    console.log(`Redis user ${user.username} for node ${nodeId} is ready; the password is shown only here.
Run the node's agent with:
${Object.entries(settings)
  .map(([k, v]) => `  ${k}=${v}`)
  .join('\n')}
${
  user.saved
    ? 'Saved to the ACL file (ACL SAVE).'
    : 'Redis has no aclfile, so this user lives until Redis restarts: persist it (CONFIG REWRITE, or an aclfile) or run this again.'
}`);
  }
  return 0;
}
