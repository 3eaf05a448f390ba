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

  /**
   * Stream: the node's lifecycle events (RunStarted, RunFinished, FireSkipped, NodeOnline,
   * NodeOffline), appended by the scripts that make each change, in the node's slot and within
   * its agent's ACL; the servers' relay copies them into the global event stream (events()).
   */
  nodeEvents(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:events`;
  }

  /**
   * Sharded pub/sub channel (SPUBLISH, in the outbox's slot) on which each append to a node's
   * outbox is noticed (prelude.lua emit: the outbox's key + ':new'), so that the relay on a
   * cluster reads an outbox when it has something rather than polling every outbox. A node's
   * own channel: its ACL (`&<prefix>:node:{id}:*`) lets an agent notice only its own outbox.
   */
  nodeEventsNotice(nodeId: string): string {
    return `${this.nodeEvents(nodeId)}:new`;
  }

  /** The node id a notice channel names, or undefined for any other channel. */
  nodeIdOfEventsNotice(channel: string): string | undefined {
    const head = `${this.prefix}:node:{`;
    const tail = '}:events:new';
    if (!channel.startsWith(head) || !channel.endsWith(tail)) return undefined;
    return channel.slice(head.length, channel.length - tail.length);
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

  /**
   * String: the tag (a digest prefix) of the password the node's agent switched to last: its
   * acknowledgement of a rotation (`fleetcmd node rotate`), read back by the server.
   */
  nodeCredentialsAck(nodeId: string): string {
    return `${this.prefix}:node:{${nodeId}}:creds-ack`;
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

  /** Prefix of RegisterNode's per-address counters. */
  registerRateLimitNamespace(): string {
    return `${this.prefix}:rl-register:`;
  }

  /** Hash: an invocation's request and metadata. */
  invocation(invokeId: string): string {
    return `${this.prefix}:inv:{${invokeId}}`;
  }

  /**
   * List: the target nodes of an invocation with too many to keep in its hash (a tag target),
   * in order; it expires with the hash.
   */
  invocationNodes(invokeId: string): string {
    return `${this.invocation(invokeId)}:nodes`;
  }

  /**
   * List: one creation attempt's node list while it is written, a chunk at a time; it becomes
   * invocationNodes with the hash (inv-create-5.lua), or expires if the attempt dies.
   */
  invocationNodesDraft(invokeId: string, attempt: string): string {
    return `${this.invocation(invokeId)}:nodes:${attempt}`;
  }

  /**
   * Set: the same target nodes as invocationNodes, beside it, so a script asks in O(1) whether
   * a node is a target (inv-fold-6.lua); written, renamed and expired with the list.
   */
  invocationTargets(invokeId: string): string {
    return `${this.invocation(invokeId)}:targets`;
  }

  /** Set: one creation attempt's draft of invocationTargets (see invocationNodesDraft). */
  invocationTargetsDraft(invokeId: string, attempt: string): string {
    return `${this.invocation(invokeId)}:targets:${attempt}`;
  }

  /**
   * Hash: the invocation's output groups, kept as its runs end (inv-fold-6.lua): `c <group>` ->
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

  /**
   * Sorted set: the delivery deadlines not yet checked, member = the deadline
   * (domain/delivery-deadline.ts), score = when it is due (ms); the schedulers' poller leases
   * and checks them (dl-lease-1.lua). Empty, and so absent, while no run waits on one.
   */
  deliveryDeadlines(): string {
    return `${this.prefix}:{global}:deadlines`;
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

  /**
   * Stream: the lifecycle events, in order (entry id = EventId), bounded by
   * FLEETCMD_EVENTS_MAXLEN: what GET /v1/events serves.
   */
  events(): string {
    return `${this.prefix}:{global}:events`;
  }

  /** Hash: nodeId -> the last id of that node's outbox (nodeEvents) copied into events(). */
  eventRelay(): string {
    return `${this.prefix}:{global}:event-relay`;
  }

  /**
   * Set: timed invocations that fire no more but whose InvocationFinished waits for their runs'
   * ends (ev-finished-4.lua); the event relay asks again as their ends are copied.
   */
  finishingInvocations(): string {
    return `${this.prefix}:{global}:finishing`;
  }

  /**
   * Hash: an invocation's event progress (announced once; runs still to end and their counts by
   * status, for InvocationFinished); kept for the retention.
   */
  invocationEvents(invokeId: string): string {
    return `${this.prefix}:{global}:evinv:${invokeId}`;
  }

  /**
   * Stream: the audit trail, one entry per state-changing call (field `e`: the event as JSON).
   * Entry ids are Redis's clock, so a time range is an id range; trimmed by age on every append
   * (audit-append-1.lua), never by an API action.
   */
  auditLog(): string {
    return `${this.prefix}:{global}:audit`;
  }

  /**
   * Hashes of a node's tags, key -> value: `api` (set through TagResources, kept across agent
   * restarts), `agent` (reported at the agent's latest registration) and `node` (what the node
   * carries: the API's, then the agent's of other keys). In `{global}`, out of the agent's ACL
   * reach, beside the indexes they keep (node-tags-1.lua builds these names from
   * nodeTagsPrefix()).
   */
  nodeTags(kind: 'api' | 'agent' | 'node', nodeId: string): string {
    return `${this.nodeTagsPrefix()}${kind}:${nodeId}`;
  }

  nodeTagsPrefix(): string {
    return `${this.prefix}:{global}:tags:`;
  }

  /**
   * Sets of node ids by tag: `<tagIndexPrefix>k:<bytes of key>:<key>` (nodes with that key) and
   * `<tagIndexPrefix>v:<bytes of key>:<key>:<value>` (nodes with that pair). The key's length
   * makes the name unambiguous whatever the key holds. node-tags-1.lua builds the same names.
   */
  tagKeyIndex(key: string): string {
    return `${this.tagIndexPrefix()}k:${Buffer.byteLength(key)}:${key}`;
  }

  tagPairIndex(key: string, value: string): string {
    return `${this.tagIndexPrefix()}v:${Buffer.byteLength(key)}:${key}:${value}`;
  }

  tagIndexPrefix(): string {
    return `${this.prefix}:{global}:tag`;
  }

  /** Sorted set (all scores 0, so ordered by id): nodes that carry at least one tag. */
  taggedNodes(): string {
    return `${this.prefix}:{global}:tagged`;
  }

  /**
   * Hash: an activation (CreateActivation): its settings, the SHA-256 of its code, counts and
   * whether it is disabled. Tagged by its own id, like its node set.
   */
  activation(activationId: string): string {
    return `${this.prefix}:act:{${activationId}}`;
  }

  /** Set: the node ids registered with that activation and not deregistered. */
  activationNodes(activationId: string): string {
    return `${this.prefix}:act:{${activationId}}:nodes`;
  }

  /** Sorted set: activation ids scored by creation time (ms). */
  activationIndex(): string {
    return `${this.prefix}:{global}:activations`;
  }

  /**
   * Hash: how a node registered (RegisterNode): its activation id and when. Outside the node's
   * own keys (`node:{id}:*`), so its agent cannot rewrite which activation it counts against.
   */
  nodeEnrollment(nodeId: string): string {
    return `${this.prefix}:enroll:{${nodeId}}`;
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
  /** Sorted set: the webhooks' ids by creation time (docs/webhooks.md). */
  webhooks(): string {
    return `${this.prefix}:{global}:webhooks`;
  }

  /** Hash: one webhook (url, types, secret, createdMs, fromId). */
  webhook(webhookId: string): string {
    return `${this.webhookPrefix()}${webhookId}`;
  }

  /** The name of a webhook's hash without its id (wh-fanout-2.lua appends the id). */
  webhookPrefix(): string {
    return `${this.prefix}:{global}:wh:`;
  }

  /** String: the last event id the webhook fan-out copied into the webhooks' backlogs. */
  webhookCursor(): string {
    return `${this.prefix}:{global}:wh-cursor`;
  }

  /**
   * Stream: a webhook's events not yet delivered, oldest first (entry id = EventId, field `e`:
   * the event's JSON as delivered).
   */
  webhookBacklog(webhookId: string): string {
    return `${this.webhookBacklogPrefix()}${webhookId}`;
  }

  webhookBacklogPrefix(): string {
    return `${this.prefix}:{global}:whq:`;
  }

  /** Stream: a webhook's delivery attempts (field `e`: JSON), the last ~1000 kept. */
  webhookLog(webhookId: string): string {
    return `${this.prefix}:{global}:whlog:${webhookId}`;
  }

  /** BullMQ prefix and name of the webhook delivery queue. */
  webhookQueuePrefix(): string {
    return `${this.prefix}:wq`;
  }

  webhookQueueName(): string {
    return '{webhooks}';
  }

  schedulerQueuePrefix(): string {
    return `${this.prefix}:sq`;
  }

  schedulerQueueName(): string {
    return '{sched}';
  }
}
