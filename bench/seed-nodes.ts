/**
 * Nodes for benchmarks that need many of them but no agent process: each node registers
 * through the agent's own store script (AgentStore.register) and announces itself on its
 * channel, so a running server's scheduler checks the registration and adds it to the node
 * registry as it would for a real agent. The event relay reads only registered nodes' outboxes,
 * so runs seeded on a node that never registered are never counted.
 */
import { reportedTagsText } from '../src/domain/tags.js';
import { VERSION } from '../src/shared/version.js';
import { AgentStore } from '../src/store/agent-store.js';
import type { Keys } from '../src/store/keys.js';
import type { RedisClient } from '../src/store/redis.js';

/** Registrations written at once. */
const BATCH = 500;

/**
 * Registers each of `nodeIds` (a few of the fields an agent writes) and announces it as its agent
 * does after a registration; no heartbeats follow. Answers once all are written; a running
 * scheduler adds them to the registry shortly after.
 */
export async function registerNodes(
  redis: RedisClient,
  keys: Keys,
  nodeIds: readonly string[],
  uptimeMs = 0,
): Promise<void> {
  for (let i = 0; i < nodeIds.length; i += BATCH) {
    await Promise.all(
      nodeIds.slice(i, i + BATCH).map(async (nodeId) => {
        const agent = new AgentStore(redis, keys, nodeId);
        await agent.register(uptimeMs, 'bench-boot', {
          hostname: nodeId,
          osType: 'Linux',
          agentVersion: VERSION,
          tags: reportedTagsText([]),
        });
        await agent.announce(true);
      }),
    );
  }
}
