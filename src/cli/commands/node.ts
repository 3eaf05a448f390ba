/**
 * `fleetcmd node add|rotate|remove <id>`: a node's own Redis ACL user, made with the admin
 * credentials of REDIS_URL. This talks to Redis, not to the API; each change is audited as the
 * CLI's user.
 */
import { parseArgs } from 'node:util';
import type { RedisClient } from '../../store/redis.js';
import { NODE_ID_RE, type Config } from '../../shared/config.js';
import { UsageError } from '../usage-error.js';
import { withCliRedis } from '../redis.js';
import { withCliAudit } from '../cli-audit.js';
import { Keys } from '../../store/keys.js';
import { NodeCredentials } from '../../store/node-acl.js';
import { targetEnv, withCredentials } from '../../shared/redis-target.js';
import { ActivationStore } from '../../store/activation-store.js';
import { NodeStore } from '../../store/node-store.js';
import { rotateNodeCredentials } from '../../app/rotate-node.js';
import { wholeNumber } from '../client-args.js';

/** Gives a removed node's place on its activation back (none for a node made by node add). */
async function releaseActivation(activations: ActivationStore, nodeId: string): Promise<void> {
  const activationId = await activations.enrollmentOf(nodeId);
  if (activationId === undefined) return;
  await activations.release(activationId, nodeId, 'deregister');
  await activations.unclaimNode(nodeId);
}

/**
 * `node remove`: tells the agent why it must stop, deletes the user (closing its connections)
 * and gives the node's place on its activation back.
 */
async function removeCli(
  admin: RedisClient,
  config: Readonly<Config>,
  nodeId: string,
  json: boolean,
) {
  const keys = new Keys(config.prefix);
  await new NodeStore(admin, keys).tell(nodeId, 'deregistered');
  const r = await withCliAudit(
    admin,
    config,
    'RemoveNode',
    () => new NodeCredentials(admin, keys).removeSaved(nodeId),
    (done) => ({
      NodeIds: [nodeId],
      NodeCount: 1,
      ...(done?.removed === false ? { ResultCode: 'NotFound' } : {}),
    }),
  );
  await releaseActivation(new ActivationStore(admin, keys), nodeId);
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

/** `node rotate`: 0 once the agent took the new password, 1 when it did not in time. */
async function rotateCli(
  admin: RedisClient,
  config: Readonly<Config>,
  nodeId: string,
  timeoutSeconds: number,
  json: boolean,
): Promise<number> {
  const keys = new Keys(config.prefix);
  const credentials = new NodeCredentials(admin, keys);
  if (!(await credentials.exists(nodeId))) {
    throw new UsageError(`node ${nodeId} has no Redis user (${keys.nodeAclUser(nodeId)})`);
  }
  const r = await withCliAudit(
    admin,
    config,
    'RotateNode',
    () =>
      rotateNodeCredentials(
        nodeId,
        { credentials, nodes: new NodeStore(admin, keys) },
        timeoutSeconds * 1000,
      ),
    (done) => ({
      NodeIds: [nodeId],
      NodeCount: 1,
      ...(done?.rotated === false ? { ResultCode: 'NotRotated' } : {}),
    }),
  );
  if (json) console.log(JSON.stringify({ NodeId: nodeId, Rotated: r.rotated }));
  else if (r.rotated)
    console.log(`node ${nodeId}: its agent runs on a new password; the old one is removed`);
  else console.error(`node ${nodeId}: not rotated: ${r.why}`);
  return r.rotated ? 0 : 1;
}

export const NODE_HELP = `Usage:
  fleetcmd node add <NodeId> [--rotate] [--json]
  fleetcmd node rotate <NodeId> [--timeout S] [--json]
  fleetcmd node remove <NodeId> [--json]

add creates the node's own Redis user (ACL SETUSER, with REDIS_URL's admin credentials): it
can read only that node's jobs and write only that node's records. It prints the settings the
node's agent needs; the password is shown once and only its SHA-256 is stored in Redis. An
existing user is replaced only with --rotate (a new password; connections already open keep
working until they reconnect). remove tells the node's agent to stop (it exits naming why),
deletes the user, which closes its connections, and gives the node's place on its activation
back (DeregisterNodes also cancels its unstarted runs).

rotate gives a running agent a new password without a restart or a lost run: the password is
added beside the old one, the agent (told on its control channel) checks it, rewrites its
state file, reconnects with it from then on and acknowledges; only then is the old password
removed. Without an acknowledgement within --timeout (default 30 s) the new password is
withdrawn and the old one still holds (exit code 1).

Options:
  --redis-url URL   admin connection (default $REDIS_URL); the agent's URL is this one with the
                    node's user and password (change the host if nodes reach Redis elsewhere)
  --prefix P        key prefix (default $FLEETCMD_PREFIX or fc)
  --rotate          replace an existing user's password (connections reconnecting with the old
                    one are refused: prefer node rotate for a running agent)
  --timeout S       node rotate: how long to wait for the agent (default 30)
  --json            print the result as JSON

On a Redis Cluster (REDIS_CLUSTER_NODES) each change is made on every server of the cluster,
primaries and replicas (ACL users are per server); the agent's settings name the cluster.

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
      timeout: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(NODE_HELP);
    return 0;
  }
  const [verb, nodeId, extra] = positionals;
  if (verb !== 'add' && verb !== 'remove' && verb !== 'rotate') {
    throw new UsageError('expected add, rotate or remove', NODE_HELP);
  }
  const timeoutSeconds = wholeNumber('timeout', values.timeout, 1, 3600) ?? 30;
  if (nodeId === undefined || !NODE_ID_RE.test(nodeId)) {
    throw new UsageError(
      'a node id is required: 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
      NODE_HELP,
    );
  }
  if (extra !== undefined) {
    throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`, NODE_HELP);
  }
  return withCliRedis(env, values, 'fleetcmd-node-admin', (admin, config) => {
    if (verb === 'rotate') return rotateCli(admin, config, nodeId, timeoutSeconds, values.json);
    if (verb === 'remove') return removeCli(admin, config, nodeId, values.json);
    return addNode(admin, config, nodeId, values);
  });
}

/** `node add`: makes (or with --rotate replaces) the node's user; prints the agent's settings. */
async function addNode(
  admin: RedisClient,
  config: Readonly<Config>,
  nodeId: string,
  flags: { rotate: boolean; json: boolean },
): Promise<number> {
  const keys = new Keys(config.prefix);
  const credentials = new NodeCredentials(admin, keys);
  if (!flags.rotate && (await credentials.exists(nodeId))) {
    throw new UsageError(
      `node ${nodeId} already has a Redis user (${keys.nodeAclUser(nodeId)}): pass --rotate to give it a new password`,
    );
  }
  const user = await withCliAudit(
    admin,
    config,
    'AddNode',
    () => credentials.create(nodeId),
    () => ({ NodeIds: [nodeId], NodeCount: 1 }),
  );
  const settings = {
    ...targetEnv(withCredentials(config.redis, user.username, user.password)),
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
