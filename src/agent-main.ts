import type { Config } from './config.js';
import { ConfigError } from './config.js';
import { makeLogger, type Logger } from './log.js';
import type { Running } from './main.js';
import { settleWithin } from './settle.js';
import { AgentStore } from './store/agent-store.js';
import { Keys } from './store/keys.js';
import { closeRedis, makeRedis } from './store/redis.js';
import { Agent } from '../workers/agent/agent.js';

/**
 * The agent's composition root, apart from the server's (main.ts) so that an agent loads none
 * of the API, scheduler or metrics code: a smaller process spawns commands faster (SPEC §6).
 */

/** Starts a node agent for `config.nodeId`. */
export async function startAgent(
  config: Readonly<Config>,
  log?: Logger,
): Promise<Running & { agent: Agent }> {
  if (config.nodeId === undefined) {
    throw new ConfigError(
      'FLEETCMD_NODE_ID: the agent needs a node id (--node-id or FLEETCMD_NODE_ID)',
    );
  }
  const logger = log ?? makeLogger(config.logLevel, 'fleetcmd-agent');
  const keys = new Keys(config.prefix);
  const connection = makeRedis(config.redisUrl, 'worker', `fleetcmd-agent-${config.nodeId}`);
  const subscriber = makeRedis(
    config.redisUrl,
    'subscriber',
    `fleetcmd-agent-${config.nodeId}-ctl`,
  );
  const agent = new Agent({
    nodeId: config.nodeId,
    store: new AgentStore(connection, keys, config.nodeId),
    keys,
    connection,
    subscriber,
    log: logger,
    heartbeatSeconds: config.heartbeatSeconds,
    concurrency: config.agentConcurrency,
    graceSeconds: config.agentGraceSeconds,
    lockSeconds: config.agentLockSeconds,
    ...(config.bootId !== undefined ? { bootId: config.bootId } : {}),
  });
  try {
    await agent.start();
  } catch (err) {
    await settleWithin(agent.stop(), 5_000);
    await closeRedis(subscriber);
    await closeRedis(connection);
    throw err;
  }
  return {
    url: undefined,
    agent,
    close: async () => {
      await agent.stop();
      await closeRedis(subscriber);
      await closeRedis(connection);
    },
  };
}
