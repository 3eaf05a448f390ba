import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CLOCK_SKEW_LIMIT_MS } from '../../src/domain/clock.js';
import { HANG_MS } from '../helpers/hang.js';
import { makeStack, type Stack } from '../helpers/stack.js';

/**
 * An agent measures its clock against Redis's at each heartbeat (src/domain/clock.ts) and
 * DescribeNodes shows it (ClockOffsetMs, ClockSkewed). A wrong clock is made with the agent's
 * test aid FLEETCMD_AGENT_CLOCK_SKEW_MS; the host and Redis share one real clock here, so the
 * offset measured is the skew, give or take the round trip.
 */
void describe('clock offset in DescribeNodes', () => {
  let stack: Stack;

  before(async () => {
    stack = await makeStack();
  });
  after(async () => {
    await stack.close();
  });

  /** The node's row once its agent has stored a measure. */
  async function measured(nodeId: string): Promise<Record<string, unknown>> {
    return stack.waitFor(
      `${nodeId}'s clock offset`,
      async () => {
        const res = await stack.call('DescribeNodes', { NodeId: nodeId });
        assert.equal(res.status, 200);
        const row = (res.body.Nodes as { Node: Record<string, unknown>[] }).Node[0];
        return row?.ClockOffsetMs === undefined ? undefined : row;
      },
      HANG_MS,
    );
  }

  // Half the limit: the round trip's share of the error, generous on a loaded machine.
  const TOLERANCE_MS = CLOCK_SKEW_LIMIT_MS / 2;

  void it('is near 0 and not flagged for an agent on the same clock as Redis', async () => {
    await stack.startAgent('clk-ok');
    const row = await measured('clk-ok');
    assert.equal(typeof row.ClockOffsetMs, 'number');
    assert.ok(Number.isInteger(row.ClockOffsetMs));
    assert.ok(Math.abs(row.ClockOffsetMs as number) < TOLERANCE_MS, String(row.ClockOffsetMs));
    assert.equal(row.ClockSkewed, false);
  });

  void it('shows a clock 5 s behind as +5000 ms, flagged, and its agent warns', async () => {
    const agent = await stack.startAgent('clk-behind', { FLEETCMD_AGENT_CLOCK_SKEW_MS: '-5000' });
    const row = await measured('clk-behind');
    assert.ok(
      Math.abs((row.ClockOffsetMs as number) - 5000) < TOLERANCE_MS,
      String(row.ClockOffsetMs),
    );
    assert.equal(row.ClockSkewed, true);
    assert.match(agent.log(), /clock is over 1 s off Redis's/);
  });

  void it('shows a clock 3 s ahead as -3000 ms, flagged', async () => {
    await stack.startAgent('clk-ahead', { FLEETCMD_AGENT_CLOCK_SKEW_MS: '3000' });
    const row = await measured('clk-ahead');
    assert.ok(
      Math.abs((row.ClockOffsetMs as number) + 3000) < TOLERANCE_MS,
      String(row.ClockOffsetMs),
    );
    assert.equal(row.ClockSkewed, true);
  });

  void it('a bad skew setting stops the agent, named', async () => {
    const agent = stack.startAgent('clk-bad', { FLEETCMD_AGENT_CLOCK_SKEW_MS: 'soon' });
    await assert.rejects(agent, /FLEETCMD_AGENT_CLOCK_SKEW_MS must be a whole number/);
  });
});
