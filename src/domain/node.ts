/** What an agent records about its node (the registration hash, parsed). */
export interface NodeInfo {
  nodeId: string;
  hostname: string;
  osType: string;
  timeZone: string;
  agentVersion: string;
  bootId: string;
  bootTimeMs: number | undefined;
  registeredMs: number | undefined;
  lastHeartbeatMs: number | undefined;
  heartbeatSeconds: number;
  /** Set when the agent shut down cleanly; cleared when it registers again. */
  stoppedMs: number | undefined;
  invocationCount: number;
  lastInvokedMs: number | undefined;
  /**
   * Redis's clock minus the agent's (ms; positive: the agent's is behind), as the agent last
   * measured it at a heartbeat (see src/domain/clock.ts); absent until it has.
   */
  clockOffsetMs?: number;
  /**
   * Fields of the registration that are not what an agent writes (`name (why)`), left empty
   * above: such a node is shown offline (see src/domain/records.ts).
   */
  invalid?: readonly string[];
}

/**
 * Missed heartbeats tolerated before a node counts as offline: 2.5 intervals, so an agent that
 * stops is shown offline within three heartbeats, while one late heartbeat does not flap it.
 */
export const OFFLINE_AFTER_HEARTBEATS = 2.5;

export function isOnline(info: NodeInfo, nowMs: number): boolean {
  if (info.stoppedMs !== undefined || info.lastHeartbeatMs === undefined) return false;
  if (info.invalid !== undefined && info.invalid.length > 0) return false;
  return nowMs - info.lastHeartbeatMs <= info.heartbeatSeconds * 1000 * OFFLINE_AFTER_HEARTBEATS;
}

/**
 * When the node was last heard of: its last heartbeat, else its registration; undefined when
 * its record holds neither (nothing to judge it by).
 */
export function lastSeenMs(info: NodeInfo): number | undefined {
  return info.lastHeartbeatMs ?? info.registeredMs;
}
