/**
 * The event relay on its own (no server): how it learns that a node's outbox has something. On
 * one Redis it blocks on one XREAD over every outbox; on a Redis Cluster (FLEETCMD_TEST_CLUSTER=1)
 * each append also sends a notice on the outbox's sharded channel, and a slow sweep reads every
 * outbox in case a notice was lost. Each case leaves only one of those paths able to deliver.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HANG_MS } from '../helpers/hang.js';
import { freshPrefix, redisTarget } from '../helpers/redis.js';
import { EventRelay } from '../../src/scheduler/event-relay.js';
import { makeLogger } from '../../src/shared/log.js';
import { AgentStore } from '../../src/store/agent-store.js';
import { EventStore } from '../../src/store/event-store.js';
import { Keys } from '../../src/store/keys.js';
import { NodeStore } from '../../src/store/node-store.js';
import { closeRedis, makeRedis, type RedisClient } from '../../src/store/redis.js';

const log = makeLogger('error', 'event-relay-test');
/** Longer than any case: the sweep never comes. */
const NEVER_MS = 3_600_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

void describe('event relay: node outboxes to the event stream', () => {
  let writer: RedisClient;
  const relays: EventRelay[] = [];

  before(async () => {
    writer = makeRedis(await redisTarget(), 'writer', 'event-relay-test');
  });
  after(async () => {
    await Promise.all(relays.map((r) => r.close()));
    await closeRedis(writer);
  });

  /** A prefix of its own, its stores and `count` relays (each on its own connection). */
  async function setup(count: number, sweepMs: number) {
    const keys = new Keys(freshPrefix());
    const events = new EventStore(writer, keys, 10_000, 3_600_000);
    const nodes = new NodeStore(writer, keys, log);
    const target = await redisTarget();
    for (let i = 0; i < count; i++) {
      const relay = new EventRelay({
        events,
        nodes,
        conn: makeRedis(target, 'relay', 'event-relay-test'),
        log,
        sweepMs,
      });
      relays.push(relay);
      relay.start();
    }
    /** Registers a node (NodeOnline in its outbox) and lists it. */
    const register = async (nodeId: string, bootId: string) => {
      await new AgentStore(writer, keys, nodeId).register(0, bootId, { hostname: nodeId });
      assert.equal(await nodes.remember(nodeId), true);
    };
    /** The stream's events of one node: type and boot id or reason. */
    const relayed = async (nodeId: string) =>
      (await events.after('0', 10_000))
        .map((e) => ({ e, d: JSON.parse(e.data) as Record<string, unknown> }))
        .filter(({ d }) => d.NodeId === nodeId)
        .map(({ e, d }) => `${e.type}:${String(d.BootId ?? d.Reason ?? '')}`);
    /** Waits (hang bound only) until the stream holds `n` events of the node. */
    const waitRelayed = async (nodeId: string, n: number) => {
      const deadline = Date.now() + HANG_MS;
      for (;;) {
        const got = await relayed(nodeId);
        if (got.length >= n) return got;
        if (Date.now() > deadline) {
          throw new Error(`hung: ${nodeId} has ${got.length} of ${n} events relayed`);
        }
        await sleep(50);
      }
    };
    return { keys, register, relayed, waitRelayed };
  }

  void it('relays an event appended after the relay read the outbox, with no sweep', async () => {
    const { keys, register, waitRelayed } = await setup(1, NEVER_MS);
    await register('quiet-1', 'boot-1');
    // Read once when the relay found the node in the registry.
    await waitRelayed('quiet-1', 1);
    await new AgentStore(writer, keys, 'quiet-1').markStopped();
    // On a cluster only the outbox's notice can bring this one (the sweep never comes).
    assert.deepEqual(await waitRelayed('quiet-1', 2), ['NodeOnline:boot-1', 'NodeOffline:Stopped']);
  });

  void it('relays an append that sent no notice at the next sweep', async () => {
    const { keys, register, waitRelayed } = await setup(1, 200);
    await register('mute-1', 'boot-1');
    await waitRelayed('mute-1', 1);
    // Appended as a script would, but without its notice: as if the relay missed it.
    await writer.xadd(
      keys.nodeEvents('mute-1'),
      '*',
      'type',
      'NodeOffline',
      'data',
      JSON.stringify({ Reason: 'Stopped' }),
    );
    assert.deepEqual(await waitRelayed('mute-1', 2), ['NodeOnline:boot-1', 'NodeOffline:Stopped']);
  });

  void it('three relays copy each event once, in the node order', async () => {
    const { register, relayed, waitRelayed } = await setup(3, NEVER_MS);
    const expected: string[] = [];
    await register('busy-1', 'boot-0');
    expected.push('NodeOnline:boot-0');
    await waitRelayed('busy-1', 1);
    for (let i = 1; i <= 20; i++) {
      await register('busy-1', `boot-${i}`);
      expected.push(`NodeOnline:boot-${i}`);
      if (i % 5 === 0) await sleep(20);
    }
    await waitRelayed('busy-1', expected.length);
    // Whatever came late would show now.
    await sleep(500);
    assert.deepEqual(await relayed('busy-1'), expected);
  });
});
