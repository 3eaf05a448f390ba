/**
 * An agent's clock against Redis's. Every time fleetcmd stores comes from Redis's clock
 * (`TIME`), so an agent measures how far its own clock is from it and corrects what it reads
 * by that much (see workers/agent/agent.ts).
 */

/**
 * An offset larger than this (either way) flags the node in DescribeNodes (`ClockSkewed`)
 * and is logged by its agent: 1 s.
 */
export const CLOCK_SKEW_LIMIT_MS = 1000;

/**
 * Redis's clock minus the agent's, in whole ms, from one round trip: `redisMs` was read by
 * Redis between `sentMs` and `receivedMs` (the agent's clock), taken to be at their midpoint,
 * so the error is at most half the round trip. Positive: the agent's clock is behind Redis's;
 * the agent's corrected time is its own clock plus this.
 */
export function clockOffsetMs(sentMs: number, redisMs: number, receivedMs: number): number {
  // + 0: a -0.5 rounds to -0, shown as 0.
  return Math.round(redisMs - (sentMs + receivedMs) / 2) + 0;
}

/** Whether a node with this clock offset is flagged (`ClockSkewed`). */
export function isClockSkewed(offsetMs: number | undefined): boolean {
  return offsetMs !== undefined && Math.abs(offsetMs) > CLOCK_SKEW_LIMIT_MS;
}
