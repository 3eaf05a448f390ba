import type { Config } from '../../src/shared/config.js';
import { startTracing, stopTracing } from '../../src/shared/telemetry.js';
import { ConfigError } from '../../src/shared/config.js';
import { makeLogger, type Logger } from '../../src/shared/log.js';
import type { Running } from '../../src/shared/running.js';
import { settleWithin } from '../../src/shared/settle.js';
import type { RedisClient } from '../../src/store/redis.js';
import { AgentStore } from '../../src/store/agent-store.js';
import { credentialScope } from '../../src/store/node-acl.js';
import { Keys } from '../../src/store/keys.js';
import { parseTagList, TagError, type Tag } from '../../src/domain/tags.js';
import {
  closeRedis,
  CredentialGroup,
  isCluster,
  makeRedis,
  unlessRefused,
} from '../../src/store/redis.js';
import { refusedWhy, watchControl } from './control.js';
import { Agent } from './agent.js';
import { chooseScriptRoot } from './exec/script-dir.js';

/**
 * The agent's composition root, apart from the server's (main.ts) so that an agent loads none
 * of the API, scheduler or metrics code: a smaller process spawns commands faster (SPEC §6).
 */

/**
 * An agent runs commands that anyone able to write its queue chooses, so credentials reaching
 * other nodes' keys turn one compromised node into the whole fleet. Unless allowed, such
 * credentials stop the start (see credentialScope for how they are recognised).
 */
async function refuseSharedCredentials(
  config: Readonly<Config>,
  nodeId: string,
  redis: RedisClient,
  keys: Keys,
  log: Logger,
): Promise<void> {
  const scope = await credentialScope(redis, keys, nodeId);
  if (scope.confined) {
    log.info({ nodeId, redisUser: scope.user }, 'Redis credentials confined to this node');
    return;
  }
  if (config.allowSharedCredentials) {
    log.warn(
      { nodeId, redisUser: scope.user, reached: scope.reached },
      'Redis credentials reach beyond this node (allowed by --allow-shared-credentials)',
    );
    return;
  }
  throw new ConfigError(
    `the agent's Redis credentials${scope.user ? ` (user ${scope.user})` : ''} reach beyond node ${nodeId} (${scope.reached.join('; ')}): ` +
      `give it its own user (fleetcmd node add ${nodeId}), or pass --allow-shared-credentials (FLEETCMD_ALLOW_SHARED_CREDENTIALS=true) to run anyway`,
  );
}

/**
 * refuseSharedCredentials, on a cluster through a client of its own: the scope probes reach
 * other nodes' and the global keys, so other masters; closed after, so the agent's connections
 * stay on the master of its own keys (one Redis: the agent's connection, nothing more to open).
 * Refused credentials (a deregistered node's state file) stop the start, named: on a cluster
 * the commands would otherwise wait for good.
 */
async function checkCredentials(
  config: Readonly<Config>,
  nodeId: string,
  connection: RedisClient,
  keys: Keys,
  log: Logger,
): Promise<void> {
  const probe = isCluster(connection)
    ? makeRedis(config.redis, 'worker', `fleetcmd-agent-${nodeId}-scope`)
    : connection;
  try {
    await unlessRefused(
      probe,
      refuseSharedCredentials(config, nodeId, probe, keys, log),
      (refusal) => new ConfigError(refusedWhy(nodeId, refusal)),
    );
  } finally {
    if (probe !== connection) await closeRedis(probe);
  }
}

/** FLEETCMD_NODE_TAGS (or the --tag flags) as tags; a bad one stops the start, named. */
function nodeTags(config: Readonly<Config>): Tag[] {
  try {
    return parseTagList(config.nodeTags);
  } catch (err) {
    if (err instanceof TagError) {
      throw new ConfigError(`FLEETCMD_NODE_TAGS (--tag): ${err.message}`);
    }
    throw err;
  }
}

export interface AgentStartOptions {
  /** The state directory whose credentials the agent runs on (rotation rewrites its file). */
  stateDir?: string;
}

/** Starts a node agent for `config.nodeId`. */
export async function startAgent(
  config: Readonly<Config>,
  log?: Logger,
  opts: AgentStartOptions = {},
): Promise<Running & { agent: Agent }> {
  if (config.nodeId === undefined) {
    throw new ConfigError(
      'FLEETCMD_NODE_ID: the agent needs a node id (--node-id or FLEETCMD_NODE_ID)',
    );
  }
  const tags = nodeTags(config);
  const scripts = chooseScriptRoot(config.scriptDir);
  if ('problem' in scripts) throw new ConfigError(scripts.problem);
  const logger = log ?? makeLogger(config.logLevel, 'fleetcmd-agent');
  logger.info({ scriptRoot: scripts.root }, 'run scripts go to this directory');
  const keys = new Keys(config.prefix);
  // Before the agent's worker is made: it takes BullMQ's telemetry option when made.
  if (config.otlpEndpoint !== undefined) await startTracing({ serviceName: 'fleetcmd-agent' });
  // Every connection (BullMQ's duplicates too) in one group, so a rotation reaches them all.
  const group = new CredentialGroup();
  const connection = group.add(
    makeRedis(config.redis, 'worker', `fleetcmd-agent-${config.nodeId}`),
  );
  const subscriber = group.add(
    makeRedis(config.redis, 'subscriber', `fleetcmd-agent-${config.nodeId}-ctl`),
  );
  const closeConnections = async () => {
    await closeRedis(subscriber);
    await closeRedis(connection);
    await stopTracing();
  };
  try {
    await checkCredentials(config, config.nodeId, connection, keys, logger);
  } catch (err) {
    await closeConnections();
    throw err;
  }
  const store = new AgentStore(connection, keys, config.nodeId);
  const agent = new Agent({
    nodeId: config.nodeId,
    store,
    keys,
    connection,
    subscriber,
    log: logger,
    heartbeatSeconds: config.heartbeatSeconds,
    concurrency: config.agentConcurrency,
    graceSeconds: config.agentGraceSeconds,
    lockSeconds: config.agentLockSeconds,
    scriptRoot: scripts.root,
    tags,
    ...(config.bootId !== undefined ? { bootId: config.bootId } : {}),
    ...(config.agentClockSkewMs !== 0 ? { clock: () => Date.now() + config.agentClockSkewMs } : {}),
  });
  try {
    await agent.start();
  } catch (err) {
    await settleWithin(agent.stop(), 5_000);
    await closeConnections();
    throw err;
  }
  const { close, ended, stop } = stoppable(async (fatal) => {
    await agent.stop(fatal ? 0 : config.agentGraceSeconds);
    await closeConnections();
    // BullMQ's own connections too: with the user gone they would retry forever.
    if (fatal) group.disconnect();
  }, logger);
  watchControl({
    ...{ nodeId: config.nodeId, store, subscriber, connection, group, stop },
    redis: config.redis,
    stateDir: opts.stateDir,
    log: logger,
  });
  return { url: undefined, agent, close, ended };
}

/**
 * A close that runs once, and a stop for good (`fatal`: the node is gone) that logs why,
 * closes and settles `ended`.
 */
function stoppable(closeOnce: (fatal: boolean) => Promise<void>, log: Logger) {
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= closeOnce(false));
  let end: (code: number) => void = () => undefined;
  const ended = new Promise<number>((resolve) => (end = resolve));
  const stop = (code: number, why: string) => {
    if (closing) return;
    log.error(why);
    closing = closeOnce(true);
    void closing.then(() => end(code));
  };
  return { close, ended, stop };
}
