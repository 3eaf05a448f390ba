import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { withScripts, type ScriptedRedis } from './scripts.js';

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

/**
 * The agent's whole view of Redis: it names only keys of its own node, so a per-node Redis
 * ACL user (`~<prefix>:node:{id}:*`, `~<prefix>:nq:{id}:*`) is all an agent needs.
 */
export class AgentStore {
  private readonly redis: ScriptedRedis;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
    readonly nodeId: string,
  ) {
    this.redis = withScripts(redis);
  }

  /** Writes the registration; returns the boot id recorded before ('' on first start). */
  async register(fields: Record<string, string | number>): Promise<string> {
    const args = Object.entries(fields).flatMap(([k, v]) => [k, String(v)]);
    return this.redis.fcNodeRegister(this.keys.nodeInfo(this.nodeId), ...args);
  }

  async heartbeat(nowMs: number): Promise<void> {
    await this.redis.hset(this.keys.nodeInfo(this.nodeId), 'lastHeartbeatMs', nowMs);
    await this.announce();
  }

  /** Tells running servers this node exists (they verify it against the registration). */
  async announce(): Promise<void> {
    await this.redis.publish(this.keys.announceChannel(), this.nodeId);
  }

  async markStopped(nowMs: number): Promise<void> {
    await this.redis.hset(this.keys.nodeInfo(this.nodeId), 'stoppedMs', nowMs);
  }

  async activeRuns(): Promise<string[]> {
    return this.redis.smembers(this.keys.nodeActive(this.nodeId));
  }

  /** 'Claimed' when this call moved the run from Pending to Running; else the status found. */
  async claim(
    invokeId: string,
    agentInstance: string,
    nowMs: number,
    nonce: string,
    bootId: string,
  ): Promise<string> {
    return this.redis.fcRunClaim(
      this.keys.nodeRun(this.nodeId, invokeId),
      this.keys.nodeActive(this.nodeId),
      invokeId,
      agentInstance,
      nowMs,
      nonce,
      bootId,
    );
  }

  /** Records the command's process group and script directory once it is spawned. */
  async spawned(
    invokeId: string,
    agentInstance: string,
    pgid: number,
    scriptDir: string,
  ): Promise<void> {
    await this.redis.fcRunSpawned(
      this.keys.nodeRun(this.nodeId, invokeId),
      agentInstance,
      pgid,
      scriptDir,
    );
  }

  /** Where an earlier life of the agent ran a command (to clean up after it). */
  async whereRan(invokeId: string): Promise<{ bootId: string; pgid: number; scriptDir: string }> {
    const [bootId, pgid, scriptDir] = await this.redis.hmget(
      this.keys.nodeRun(this.nodeId, invokeId),
      'bootId',
      'pgid',
      'scriptDir',
    );
    return { bootId: bootId ?? '', pgid: Number(pgid ?? 0), scriptDir: scriptDir ?? '' };
  }

  /** Stores the output so far; returns the run's status (Stopping means: kill it). */
  async progress(
    invokeId: string,
    agentInstance: string,
    nowMs: number,
    snapshot: { output: Buffer; dropped: number } | undefined,
  ): Promise<string> {
    return this.redis.fcRunProgress(
      this.keys.nodeRun(this.nodeId, invokeId),
      agentInstance,
      nowMs,
      snapshot ? '1' : '0',
      snapshot?.output ?? '',
      snapshot?.dropped ?? 0,
    );
  }

  async finish(
    invokeId: string,
    agentInstance: string,
    nowMs: number,
    o: RunOutcome,
  ): Promise<string> {
    return this.redis.fcRunFinish(
      this.keys.nodeRun(this.nodeId, invokeId),
      this.keys.nodeActive(this.nodeId),
      invokeId,
      agentInstance,
      nowMs,
      o.status,
      o.exitCode === undefined ? '' : o.exitCode,
      o.errorCode,
      o.errorInfo,
      o.output,
      o.dropped,
      o.started ? '1' : '0',
    );
  }

  /** Ends a run an earlier life of this agent left Running; never re-runs it. */
  async interrupt(
    invokeId: string,
    agentInstance: string,
    nowMs: number,
    errorCode: string,
    errorInfo: string,
  ): Promise<string> {
    return this.redis.fcRunInterrupt(
      this.keys.nodeRun(this.nodeId, invokeId),
      this.keys.nodeActive(this.nodeId),
      invokeId,
      agentInstance,
      nowMs,
      errorCode,
      errorInfo,
    );
  }

  controlChannel(): string {
    return this.keys.nodeControlChannel(this.nodeId);
  }
}
