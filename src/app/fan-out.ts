import type { Invocation } from '../domain/invocation.js';
import { hasRollout } from '../domain/rollout.js';
import { withSpan } from '../shared/telemetry.js';
import { forNodes } from './for-nodes.js';
import { startRollout, type RolloutDeps } from './rollout.js';
import { listedOnNodes, toRunJob } from './run-job-data.js';

/**
 * A one-off invocation's fan-out: each node's run record (Pending, listed in the node's index)
 * and then its run job on the node's own queue, a batch of nodes at a time. RunCommand does it
 * before it answers (single hop), and the delivery deadline again for a creation a crash cut
 * short. Idempotent: a record that exists is left as it is, and the job has a fixed id
 * (`r-<InvokeId>`), so BullMQ ignores it while it is still queued; one added again after the
 * first was done finds a record no longer Pending, which the agent skips. With MaxConcurrency
 * or MaxErrors every record is written and the rollout releases the jobs (app/rollout.ts).
 */
export async function fanOutOnce(inv: Invocation, deps: RolloutDeps): Promise<void> {
  const data = toRunJob(inv);
  const listedMs = listedOnNodes(inv);
  // While tracing is on, each node's job add (bullmq-otel) is a child of this span.
  await withSpan(
    'dispatch',
    { 'fleetcmd.invoke_id': inv.invokeId, 'fleetcmd.node_count': inv.nodeIds.length },
    async () => {
      if (!hasRollout(inv)) {
        await forNodes(inv.nodeIds, async (nodeId) => {
          await deps.runs.create(nodeId, inv.invokeId, listedMs);
          await deps.nodeQueues.addRun(nodeId, data);
        });
        return;
      }
      await forNodes(inv.nodeIds, async (nodeId) => {
        await deps.runs.create(nodeId, inv.invokeId, listedMs);
      });
      await startRollout(inv, '', 'once', inv.nodeIds, deps);
    },
  );
}
