import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HANG_MS } from '../helpers/hang.js';
import { makeStack, run, waitFinal, type Stack } from '../helpers/stack.js';
import { NODE_QUEUE_EVENTS_MAXLEN } from '../../src/store/queues.js';

const RUNS = 300;

void describe("a node queue's BullMQ event stream stays bounded", () => {
  let stack: Stack;

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('b1');
  });
  after(async () => {
    await stack.close();
  });

  void it(`keeps about ${NODE_QUEUE_EVENTS_MAXLEN} entries, not BullMQ's 10,000, after ${RUNS} runs`, async () => {
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++)
      ids.push(await run(stack, { NodeIdList: ['b1'], CommandContent: 'true' }));
    for (const id of ids) await waitFinal(stack, id, HANG_MS);
    const prefix = `${stack.keys.nodeQueuePrefix()}:${stack.keys.nodeQueueName('b1')}`;
    assert.equal(
      await stack.redis.hget(`${prefix}:meta`, 'opts.maxLenEvents'),
      String(NODE_QUEUE_EVENTS_MAXLEN),
    );
    const entries = await stack.redis.xlen(`${prefix}:events`);
    // BullMQ writes ~4 events a run (1,200 here); trimming is by whole stream nodes of 100.
    assert.ok(entries <= NODE_QUEUE_EVENTS_MAXLEN + 100, `${entries} entries after ${RUNS} runs`);
  });
});
