import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import {
  makeStack,
  nodeOf,
  run,
  waitFinal,
  type Stack,
  type AgentProcess,
} from '../helpers/stack.js';

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}

void describe('streaming capture of a huge output', () => {
  let stack: Stack;
  let agent: AgentProcess;

  before(async () => {
    stack = await makeStack();
    agent = await stack.startAgent('big1');
  });
  after(() => stack.close());

  void it('a command printing 1 GiB keeps the agent flat (<= 64 MiB growth) and reports exact Dropped', async () => {
    const pid = agent.child.pid;
    assert.ok(pid);
    // Let the freshly started agent settle, then take the baseline.
    await new Promise((r) => setTimeout(r, 500));
    const baseline = await rssBytes(pid);
    let peak = baseline;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await rssBytes(pid));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const total = 1024 * 1024 * 1024;
    const id = await run(stack, {
      NodeIdList: ['big1'],
      CommandContent: `printf START; head -c ${total - 8} /dev/zero | tr '\\0' 'x'; printf END`,
      Timeout: 300,
    });
    const inv = await waitFinal(stack, id, 240_000);
    sampling = false;
    await sampler;
    const n = nodeOf(inv, 'big1');
    assert.equal(n.InvocationStatus, 'Success');
    const out = Buffer.from(n.Output ?? '', 'utf8');
    assert.equal(out.length, 24_576);
    assert.equal(out.length + n.Dropped, total);
    assert.ok(n.Output?.startsWith('STARTxxx'));
    assert.ok(n.Output?.endsWith('xxxEND'));
    const growth = peak - baseline;
    assert.ok(growth <= 64 * 1024 * 1024, `agent RSS grew by ${(growth / 1048576).toFixed(1)} MiB`);
    console.log(
      `agent RSS baseline ${(baseline / 1048576).toFixed(1)} MiB, peak growth ${(growth / 1048576).toFixed(1)} MiB`,
    );
  });
});
