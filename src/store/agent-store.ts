import { createHash } from 'node:crypto';
import { serverOf, type RedisClient } from './redis.js';
import type { NodeStatus } from '../domain/status.js';
import type { FireReply } from '../domain/run-replies.js';
import type { Keys } from './keys.js';
import { makeScripts, type Scripts } from './scripts.js';
import { encodeOutput } from './output-codec.js';

/**
 * The announcement that follows a registration: servers then copy the tags it reported into
 * the tag indexes (which the agent cannot write). Heartbeats announce with an empty message.
 */
export const ANNOUNCE_REGISTERED = 'registered';

export interface RunOutcome {
  status: string;
  exitCode: number | undefined;
  errorCode: string;
  errorInfo: string;
  output: Buffer;
  dropped: number;
  /** False when the command never started (bad user or directory): no StartTime, no Repeat. */
  started: boolean;
}

/** The output digest of a run that printed nothing (most do), computed once. */
const EMPTY_OUTPUT_DIGEST = createHash('sha256').digest('hex');

/** A run armed ahead of its slot (AgentStore.claim with `arm`) with its claim's nonce. */
export interface ArmedRun {
  invokeId: string;
  nonce: string;
}

/** An armed run's state at its slot (AgentStore.armedStatuses). */
export type ArmedStatus = NodeStatus | 'Armed' | 'Other' | 'Missing';

/**
 * The agent's whole view of Redis: it names only keys of its own node, so a per-node Redis
 * ACL user (`~<prefix>:node:{id}:*`, `~<prefix>:nq:{id}:*`) is all an agent needs.
 */
export class AgentStore {
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    readonly nodeId: string,
  ) {
    this.scripts = makeScripts(redis, keys);
  }

  /**
   * Writes the registration; returns the boot id recorded before ('' on first start).
   * Times (registered, heartbeat, boot = now - uptimeMs) are Redis's, not this host's. A boot
   * id unlike the recorded one marks the boot pending (see bootPending).
   */
  async register(
    uptimeMs: number,
    bootId: string,
    fields: Record<string, string | number>,
  ): Promise<string> {
    const args = Object.entries(fields).flatMap(([k, v]) => [k, String(v)]);
    return this.scripts.nodeRegister([this.nodeId], Math.round(uptimeMs), bootId, ...args);
  }

  /** The boot whose boot invocations have not all been fired yet, if any. */
  async bootPending(): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.nodeInfo(this.nodeId), 'bootPending')) ?? undefined;
  }

  /** Every boot invocation of this node has been fired for `bootId`. */
  async bootDone(bootId: string): Promise<void> {
    if ((await this.bootPending()) === bootId) {
      await this.redis.hdel(this.keys.nodeInfo(this.nodeId), 'bootPending');
    }
  }

  /** This node's boot triggers: invokeId -> the trigger as the scheduler wrote it (JSON). */
  async bootTriggers(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.nodeBoot(this.nodeId));
  }

  async dropBootTrigger(invokeId: string): Promise<void> {
    await this.redis.hdel(this.keys.nodeBoot(this.nodeId), invokeId);
  }

  /** A boot's fire of one boot invocation on this node (see RunStore.fire). */
  async fireBoot(invokeId: string, fireId: string, final: boolean): Promise<FireReply> {
    return this.scripts.runFire([this.nodeId, invokeId], fireId, '', final ? '1' : '0', invokeId);
  }

  /**
   * At the slot, the agent's own fire of a fire its scheduler delivered ahead (see
   * RunStore.fire): the busy/skip and stop decisions are taken here, at the slot.
   */
  async fireAtSlot(
    invokeId: string,
    fireId: string,
    slotMs: number,
    final: boolean,
    passedOverMs: number | undefined,
  ): Promise<FireReply> {
    return this.scripts.runFire(
      [this.nodeId, invokeId],
      fireId,
      slotMs,
      final ? '1' : '0',
      invokeId,
      passedOverMs ?? '',
      '2',
    );
  }

  /**
   * Records a heartbeat, with the clock offset the agent measured before (undefined: not yet),
   * and answers Redis's clock (ms) as the script read it, for the agent to measure its own.
   */
  async heartbeat(clockOffsetMs: number | undefined): Promise<number> {
    return this.scripts.nodeHeartbeat([this.nodeId], clockOffsetMs ?? '');
  }

  /**
   * Tells running servers this node exists, on the node's own channel (they take the id from
   * the channel name and verify it against the registration). `registered`: right after a
   * registration, so they read its reported tags (see ANNOUNCE_REGISTERED).
   */
  async announce(registered = false): Promise<void> {
    const message = registered ? ANNOUNCE_REGISTERED : '';
    // On a cluster, through the master of the node's own keys (see serverOf).
    await serverOf(this.redis, this.keys.nodeInfo(this.nodeId)).publish(
      this.keys.nodeAnnounceChannel(this.nodeId),
      message,
    );
  }

  /** Acknowledges a rotation: the tag of the password every connection now reconnects with. */
  async ackCredentials(tag: string): Promise<void> {
    await this.redis.set(this.keys.nodeCredentialsAck(this.nodeId), tag, 'EX', 3600);
  }

  async markStopped(): Promise<void> {
    await this.scripts.nodeStopped([this.nodeId]);
  }

  async activeRuns(): Promise<string[]> {
    return this.redis.smembers(this.keys.nodeActive(this.nodeId));
  }

  /**
   * 'Claimed' when this call moved the run from Pending to Running (`arm`: kept it Pending but
   * holding this claim, for a fire delivered ahead of its slot); else the status found.
   */
  async claim(
    invokeId: string,
    fire: string,
    agentInstance: string,
    nonce: string,
    bootId: string,
    arm = false,
  ): Promise<NodeStatus | 'Claimed' | 'Superseded' | 'Missing' | 'Armed'> {
    return this.scripts.runClaim(
      [this.nodeId, invokeId],
      invokeId,
      agentInstance,
      nonce,
      bootId,
      fire,
      arm ? '1' : '',
    );
  }

  /**
   * At the slot of runs armed with their nonces: each one's status, or 'Armed' while it is
   * Pending and still holds that claim (start it), or 'Other' when it holds another claim (or
   * none). One HMGET each, no script, pipelined: every armed node of a fire reads at the same
   * instant, and an agent reads all of its runs due at that instant in one round trip.
   */
  async armedStatuses(runs: readonly ArmedRun[]): Promise<ArmedStatus[]> {
    const pipe = this.redis.pipeline();
    for (const run of runs)
      pipe.hmget(this.keys.nodeRun(this.nodeId, run.invokeId), 'status', 'claim');
    const replies = (await pipe.exec()) ?? [];
    return runs.map((run, i) => {
      const [err, fields] = replies[i] ?? [new Error('no reply')];
      if (err) throw err;
      const [status, claim] = fields as (string | null)[];
      if (status === null || status === undefined) return 'Missing';
      if (claim !== run.nonce) return 'Other';
      return status === 'Pending' ? 'Armed' : (status as NodeStatus);
    });
  }

  /** Drops an armed run that will not start (it ended without this agent) from the active runs. */
  async disarm(invokeId: string): Promise<void> {
    await this.redis.srem(this.keys.nodeActive(this.nodeId), invokeId);
  }

  /**
   * Records a claimed run's spawned command: its process group and script directory (`pgid`
   * undefined: none) and, for an armed run (`start`), Running with the start the agent
   * measured (kept between the slot and Redis's now). Answers the status ('Stopping', or any
   * but 'Running' for an armed run: kill the command).
   */
  async spawned(
    invokeId: string,
    nonce: string,
    pgid: number | undefined,
    scriptDir: string,
    start?: { startedMs: number; slotMs: number },
  ): Promise<NodeStatus | 'Other' | 'Missing'> {
    return this.scripts.runSpawned(
      [this.nodeId, invokeId],
      nonce,
      pgid ?? '',
      scriptDir,
      start ? Math.round(start.startedMs) : '',
      start?.slotMs ?? '',
      invokeId,
    );
  }

  /**
   * Where an earlier life of the agent ran a command (to clean up after it): its boot, process
   * group and script directory once spawned, and its claim nonce, which is the command's
   * FLEETCMD_RUN_TOKEN from the moment it was claimed ('' for none).
   */
  async whereRan(
    invokeId: string,
  ): Promise<{ bootId: string; pgid: number; scriptDir: string; runToken: string }> {
    const [bootId, pgid, scriptDir, claim] = await this.redis.hmget(
      this.keys.nodeRun(this.nodeId, invokeId),
      'bootId',
      'pgid',
      'scriptDir',
      'claim',
    );
    return {
      bootId: bootId ?? '',
      pgid: Number(pgid ?? 0),
      scriptDir: scriptDir ?? '',
      runToken: claim ?? '',
    };
  }

  /** Stores the output so far; returns the run's status (Stopping means: kill it). */
  async progress(
    invokeId: string,
    agentInstance: string,
    snapshot: { output: Buffer; dropped: number } | undefined,
  ): Promise<NodeStatus | 'Missing'> {
    return this.scripts.runProgress(
      [this.nodeId, invokeId],
      agentInstance,
      snapshot ? '1' : '0',
      snapshot?.output ?? '',
      snapshot?.dropped ?? 0,
    );
  }

  /** Stores a run's end and its output (compressed when that is smaller, see output-codec). */
  async finish(
    invokeId: string,
    agentInstance: string,
    o: RunOutcome,
  ): Promise<NodeStatus | 'Missing'> {
    const output = await encodeOutput(o.output);
    return this.scripts.runFinish(
      [this.nodeId, invokeId],
      invokeId,
      agentInstance,
      o.status,
      o.exitCode === undefined ? '' : o.exitCode,
      o.errorCode,
      o.errorInfo,
      output.bytes,
      o.dropped,
      o.started ? '1' : '0',
      output.codec,
      // The output groups' digest (SummarizeInvocation): of the output's bytes as captured
      // (before any codec), so one output groups alike whether it was compressed or not.
      o.output.length === 0
        ? EMPTY_OUTPUT_DIGEST
        : createHash('sha256').update(o.output).digest('hex'),
    );
  }

  /** Ends a run an earlier life of this agent left Running; never re-runs it. */
  async interrupt(
    invokeId: string,
    agentInstance: string,
    errorCode: string,
    errorInfo: string,
  ): Promise<NodeStatus | 'Mine' | 'Missing'> {
    return this.scripts.runInterrupt(
      [this.nodeId, invokeId],
      invokeId,
      agentInstance,
      errorCode,
      errorInfo,
    );
  }

  controlChannel(): string {
    return this.keys.nodeControlChannel(this.nodeId);
  }
}
