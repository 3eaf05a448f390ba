/**
 * The only place that names Redis keys. Every key an agent touches carries its node id as the
 * hash tag (`{n1}`), so on Redis Cluster one node's queue, runs and heartbeat share a slot, and
 * a per-node ACL can be written as `~<prefix>:node:{n1}:*` plus `~<prefix>:nq:{n1}:*`.
 * Invocation and saved-command hashes are tagged by their own id; the global indexes share
 * `{global}`.
 */
/** Suffixes of a run key that name its history list and entries (see Keys.runHistory). */
export const HISTORY_SUFFIXES = { list: ':hist', entry: ':h:' } as const;

export class Keys {
  constructor(readonly prefix: string) {}

  /** Hash: the agent's registration and heartbeat (hostname, bootId, lastHeartbeatMs, ...). */
  nodeInfo(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:info`;
  }

  /** Hash: one node's run record for one invocation. */
  nodeRun(nodeId: string, invokeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:run:${invokeId}`;
  }

  /**
   * List of a periodic run's history sequence numbers, newest first; each entry is the hash
   * `<nodeRun>:h:<seq>`. The Lua scripts derive both from the run key (same slot), so these
   * two methods and HISTORY_SUFFIXES must agree with them.
   */
  runHistory(nodeId: string, invokeId: string): string {
    return `${this.nodeRun(nodeId, invokeId)}${HISTORY_SUFFIXES.list}`;
  }

  runHistoryEntry(nodeId: string, invokeId: string, seq: number): string {
    return `${this.nodeRun(nodeId, invokeId)}${HISTORY_SUFFIXES.entry}${seq}`;
  }

  /** Hash: invokeId -> boot trigger (JSON: final flag and run job) of this node's boot invocations. */
  nodeBoot(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:boot`;
  }

  /**
   * Hash: final status -> runs that ended with it on that node, counted by the scripts that
   * settle a run (fcRunFinish, fcRunStop, fcRunAbort, fcRunInterrupt). Never expires: a counter
   * since the node's first settled run, which /metrics sums over nodes.
   */
  nodeStats(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:stats`;
  }

  /** Set: invocation ids running (or stopping) on that node. */
  nodeActive(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:active`;
  }

  /**
   * Sorted set: ids of the command invocations that target this node, scored by creation time
   * (ms), so a listing filtered by NodeId walks only that node's invocations. Written by the
   * API when it lists an invocation (besides the global index), pruned like it (fcNodeIndexAdd).
   */
  nodeInvocations(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:invocations`;
  }

  /** Pub/sub channel on which the server tells one agent to stop a run. */
  nodeControlChannel(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:ctl`;
  }

  /** Pub/sub channel on which agents announce themselves (payload: their node id). */
  announceChannel(): string {
    return `${this.prefix}:announce`;
  }

  /** Hash: an invocation's request and metadata. */
  invocation(invokeId: string): string {
    return `${this.prefix}:inv:{${invokeId}}`;
  }

  /** Sorted set: invocation ids scored by creation time (ms). */
  invocationIndex(): string {
    return `${this.prefix}:{global}:invocations`;
  }

  /** Sorted set: SendFile invocation ids scored by creation time (ms); not in invocationIndex. */
  sendFileIndex(): string {
    return `${this.prefix}:{global}:sendfiles`;
  }

  /** Hash: a saved command (CreateCommand): its fields, content, creation time and InvokeTimes. */
  command(commandId: string): string {
    return `${this.prefix}:cmd:{${commandId}}`;
  }

  /** Sorted set: saved command ids scored by creation time (ms). */
  commandIndex(): string {
    return `${this.prefix}:{global}:commands`;
  }

  /** String: the InvokeId and request digest a ClientToken was first used with. */
  clientToken(tokenDigest: string): string {
    return `${this.prefix}:ct:{${tokenDigest}}`;
  }

  /**
   * String: set once every invocation created before the per-node indexes existed has been
   * added to them (see InvocationStore.backfillNodeIndexes); until then NodeId listings walk the
   * global index.
   */
  nodeIndexReady(): string {
    return `${this.prefix}:{global}:node-index-ready`;
  }

  /** Set: ids of invocations that may still fire (Period, NextRebootOnly, EveryReboot). */
  timedInvocations(): string {
    return `${this.prefix}:{global}:timed`;
  }

  /**
   * Hash: AccessKey ID -> JSON `{secret, createdMs}` of the access keys `fleetcmd key add`
   * issued for the RPC protocol. The secret is stored as such: an HMAC can only be checked
   * with it, and every API replica must be able to check one.
   */
  accessKeys(): string {
    return `${this.prefix}:{global}:access-keys`;
  }

  /**
   * String with a TTL: a signature nonce one access key used, kept while the request's date is
   * still accepted, so no replica accepts that request twice.
   */
  signatureNonce(accessKeyId: string, nonceDigest: string): string {
    return `${this.prefix}:nonce:{${accessKeyId}}:${nonceDigest}`;
  }

  /** Set: node ids that have registered. */
  nodeRegistry(): string {
    return `${this.prefix}:{global}:nodes`;
  }

  /** BullMQ prefix and queue name of one node's run queue: keys `<prefix>:nq:{n1}:*`. */
  nodeQueuePrefix(): string {
    return `${this.prefix}:nq`;
  }

  nodeQueueName(nodeId: string): string {
    return `{${nodeId}}`;
  }

  /** BullMQ prefix and queue name of the scheduler's own queue (dispatch, delivery timeouts). */
  schedulerQueuePrefix(): string {
    return `${this.prefix}:sq`;
  }

  schedulerQueueName(): string {
    return '{sched}';
  }
}
