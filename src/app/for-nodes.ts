/**
 * Nodes fanned out per batch: bounds the number of Redis calls in flight at once, and how long
 * a fan-out holds the event loop before it yields (with `--role all` the API answering in the
 * same process waits for that).
 */
const FAN_OUT_BATCH = 100;

/** Runs `each` over the nodes, a batch at a time, yielding to the event loop between batches. */
export async function forNodes(
  nodeIds: readonly string[],
  each: (nodeId: string) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < nodeIds.length; i += FAN_OUT_BATCH) {
    if (i > 0) await new Promise((r) => setImmediate(r));
    await Promise.all(nodeIds.slice(i, i + FAN_OUT_BATCH).map(each));
  }
}
