import type { InvocationKind } from '../domain/invocation.js';

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
   * settle a run (run-finish, run-stop, run-abort and run-interrupt .lua). Never expires: a counter
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
   * scheduler with the node's run record (run-create-4.lua), pruned like the global index.
   */
  nodeInvocations(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:invocations`;
  }

  /** Pub/sub channel on which the server tells one agent to stop a run. */
  nodeControlChannel(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:ctl`;
  }

  /**
   * Pub/sub channel on which an agent announces itself. It is the node's own channel, so a
   * per-node ACL (`&<prefix>:node:{id}:*`) lets an agent announce only itself: servers take
   * the node id from the channel name (see nodeIdOfAnnounce), never from the payload.
   */
  nodeAnnounceChannel(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:announce`;
  }

  /** The PSUBSCRIBE pattern matching every node's announce channel. */
  nodeAnnouncePattern(): string {
    return `${this.prefix}:node:{*}:announce`;
  }

  /** The node id an announce channel names, or undefined for any other channel. */
  nodeIdOfAnnounce(channel: string): string | undefined {
    const head = `${this.prefix}:node:{`;
    const tail = '}:announce';
    if (!channel.startsWith(head) || !channel.endsWith(tail)) return undefined;
    return channel.slice(head.length, channel.length - tail.length);
  }

  /**
   * The channel agents of earlier versions announced on (payload: their node id). Servers
   * still listen so a mixed-version fleet keeps registering; per-node ACL users cannot publish
   * on it.
   */
  legacyAnnounceChannel(): string {
    return `${this.prefix}:announce`;
  }

  /**
   * The Redis ACL user of one node's agent (see store/node-acl.ts). '.' cannot occur in a
   * prefix, so the name is unambiguous, and it needs no escaping in a redis:// URL.
   */
  nodeAclUser(nodeId: string): string {
    return `${this.prefix}.node.${nodeId}`;
  }

  /** Key patterns (ACL `~`) of everything one node's agent may touch: its records and queue. */
  nodeKeyPatterns(nodeId: string): string[] {
    return [
      `${this.prefix}:node:{${nodeId}}:*`,
      `${this.nodeQueuePrefix()}:${this.nodeQueueName(nodeId)}:*`,
    ];
  }

  /** Channel pattern (ACL `&`) of one node's channels: its control and announce channels. */
  nodeChannelPattern(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:*`;
  }

  /** Prefix of the API rate limiter's counters (one per token name or client address). */
  rateLimitNamespace(): string {
    return `${this.prefix}:rl:`;
  }

  /** Hash: an invocation's request and metadata. */
  invocation(invokeId: string): string {
    return `${this.prefix}:inv:{${invokeId}}`;
  }

  /**
   * Hash: the invocation's output groups, kept as its runs end (inv-fold-5.lua): `c <group>` ->
   * runs in the group, `n <group>` -> up to 10 of its node ids (space-separated); a group is
   * `<status> <exit code> <output digest>`, tab-separated.
   */
  invocationGroups(invokeId: string): string {
    return `${this.prefix}:inv:{${invokeId}}:groups`;
  }

  /** Set: node ids whose run of that fire ('' for a one-off run) is counted in the groups. */
  invocationFolded(invokeId: string, fire: string): string {
    return `${this.prefix}:inv:{${invokeId}}:folded:${fire}`;
  }

  /**
   * Hash: one fire's rollout (MaxConcurrency, MaxErrors): its limits as sent, node count `n`,
   * nodes released `r`, errors, and whether the rest were cancelled. With rolloutQueue (its
   * nodes in release order) and rolloutActive (released nodes not yet counted as ended).
   */
  rolloutState(invokeId: string, fire: string): string {
    return `${this.prefix}:inv:{${invokeId}}:ro:${fire}`;
  }

  rolloutQueue(invokeId: string, fire: string): string {
    return `${this.prefix}:inv:{${invokeId}}:ro:${fire}:q`;
  }

  rolloutActive(invokeId: string, fire: string): string {
    return `${this.prefix}:inv:{${invokeId}}:ro:${fire}:a`;
  }

  /**
   * The channel a run record's end is published on (by the script that settles it, see
   * prelude.lua): the run key plus `:done`, so it is the node's own channel (a per-node ACL
   * user may publish it) and names the node and the invocation.
   */
  runDonePattern(): string {
    return `${this.prefix}:node:{*}:run:*:done`;
  }

  /** The node and invocation a run's done channel names, or undefined for any other channel. */
  runOfDoneChannel(channel: string): { nodeId: string; invokeId: string } | undefined {
    const m = /^(.*):node:\{([^}]*)\}:run:([^:]+):done$/.exec(channel);
    if (!m || m[1] !== this.prefix || m[2] === undefined || m[3] === undefined) return undefined;
    return { nodeId: m[2], invokeId: m[3] };
  }

  /** Sorted set: invocation ids scored by creation time (ms). */
  invocationIndex(): string {
    return `${this.prefix}:{global}:invocations`;
  }

  /**
   * Sorted set: command invocations listed but not yet dispatched (their nodes' records and
   * index entries not all written), by creation time (ms): a NodeId listing also walks these.
   */
  undispatchedInvocations(): string {
    return `${this.prefix}:{global}:undispatched`;
  }

  /** Sorted set: SendFile invocation ids scored by creation time (ms); not in invocationIndex. */
  sendFileIndex(): string {
    return `${this.prefix}:{global}:sendfiles`;
  }

  /** The index an invocation of that kind is listed in. */
  indexOf(kind: InvocationKind): string {
    return kind === 'file' ? this.sendFileIndex() : this.invocationIndex();
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
