import type { RedisClient } from '../../src/store/redis.js';
import { bootFireId, parseBootTrigger } from '../../src/domain/run-job.js';
import type { Logger } from '../../src/shared/log.js';
import type { AgentStore } from '../../src/store/agent-store.js';
import type { Keys } from '../../src/store/keys.js';
import { NodeQueues } from '../../src/store/queues.js';

/** What firing a boot's invocations needs (see AgentDeps). */
export interface BootDeps {
  nodeId: string;
  store: AgentStore;
  connection: RedisClient;
  keys: Keys;
  log: Logger;
}

/**
 * This node booted: each NextRebootOnly and EveryReboot invocation targeting it runs once
 * for this boot. The run goes through the node's own queue like any other, so it is claimed
 * (at most once) and reported the same way.
 */
export async function fireBootInvocations(deps: BootDeps, bootId: string): Promise<void> {
  const fireId = bootFireId(bootId);
  const queues = new NodeQueues(deps.connection, deps.keys);
  try {
    for (const [invokeId, raw] of Object.entries(await deps.store.bootTriggers())) {
      const trigger = parseBootTrigger(raw);
      if (!trigger) {
        deps.log.error({ invokeId }, 'malformed boot trigger dropped');
        await deps.store.dropBootTrigger(invokeId);
        continue;
      }
      const fired = await deps.store.fireBoot(invokeId, fireId, trigger.final);
      const r = fired.outcome;
      if (r === 'Fired' || r === 'Already') {
        await queues.addRun(deps.nodeId, { ...trigger.job, fire: fireId });
      } else if (fired.outcome === 'Waiting') {
        // An earlier boot's run never started (its job was lost with the agent that held
        // it): enqueue it again; the claim still lets it run at most once.
        await queues.addRun(deps.nodeId, { ...trigger.job, fire: fired.olderFire });
      }
      if (trigger.final || r === 'Ended' || r === 'Missing') {
        await deps.store.dropBootTrigger(invokeId);
      }
      deps.log.info({ invokeId, result: r }, 'boot invocation fired');
    }
    await deps.store.bootDone(bootId);
  } finally {
    await queues.close();
  }
}
