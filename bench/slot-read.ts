/**
 * What Redis does at the slot of a fire on 1,000 nodes (issue 22, "fires on the dot"), on a
 * private redis-server: each node's agent either claims its run at the slot (run-claim-3.lua,
 * Pending -> Running: what a fire sent ahead cost before it was armed, and what a one-off run
 * still costs) or, armed before the slot, reads it with one HMGET (AgentStore.armedStatuses) and
 * records the start after it (run-spawned-3.lua, off the critical path). Redis's own time for
 * the 1,000 calls is read from INFO commandstats (the `usec` of EVALSHA for scripts, which
 * includes their own commands, and of HMGET for the reads), with the wall time for one client sending all 1,000 at once beside it. The claims are the
 * baseline; the ratio is their Redis time over the reads'.
 *
 *   node --import tsx bench/slot-read.ts [--quick]      (quick: 3 rounds, else 10; medians)
 */
import { startPrivateRedis } from '../src/dev/private-redis.js';
import { AgentStore } from '../src/store/agent-store.js';
import { Keys } from '../src/store/keys.js';
import { makeRedis } from '../src/store/redis.js';
import { publish, quick, reportOnly, score } from './harness.js';

const NODES = 1000;
const ROUNDS = quick ? 3 : 10;
const INVOKE_ID = 't-slotread1';
const FIRE = 'f1000';

const own = await startPrivateRedis({ hz: 100 });
const redis = makeRedis(own.url, 'worker', 'bench-slot-read');
const keys = new Keys('sr');
const stores = Array.from({ length: NODES }, (_, i) => new AgentStore(redis, keys, `n${i}`));

/** Redis's time (µs) spent in `command` calls so far (scripts: their own commands included). */
async function usec(command: 'evalsha' | 'hmget'): Promise<number> {
  const info = await redis.info('commandstats');
  return Number(new RegExp(`cmdstat_${command}:calls=\\d+,usec=(\\d+)`).exec(info)?.[1] ?? 0);
}

/** Every node's record Pending for the fire, as a fire's delivery leaves it. */
async function pendingRecords(): Promise<void> {
  await Promise.all(
    stores.map((s) => {
      const key = keys.nodeRun(s.nodeId, INVOKE_ID);
      return redis
        .multi()
        .del(key)
        .hset(key, 'status', 'Pending', 'fire', FIRE, 'fireMs', '1000', 'repeats', 0)
        .exec();
    }),
  );
}

/** Redis's time (ms) and the wall time (ms) of `fn` run on every node at once. */
async function measure(
  command: 'evalsha' | 'hmget',
  fn: (s: AgentStore) => Promise<unknown>,
): Promise<{ redisMs: number; wallMs: number }> {
  const before = await usec(command);
  const t0 = performance.now();
  await Promise.all(stores.map(fn));
  const wallMs = performance.now() - t0;
  return { redisMs: ((await usec(command)) - before) / 1000, wallMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const r1 = (v: number) => Math.round(v * 10) / 10;
const claims: { redisMs: number; wallMs: number }[] = [];
const reads: { redisMs: number; wallMs: number }[] = [];
const starts: { redisMs: number; wallMs: number }[] = [];
try {
  // One round first, unmeasured: script loading and connection warm-up.
  for (let round = -1; round < ROUNDS; round++) {
    await pendingRecords();
    const claim = await measure('evalsha', (s) =>
      s.claim(INVOKE_ID, FIRE, 'agent', 'nonce', 'boot'),
    );
    await pendingRecords();
    await Promise.all(stores.map((s) => s.claim(INVOKE_ID, FIRE, 'agent', 'nonce', 'boot', true)));
    const read = await measure('hmget', (s) =>
      s.armedStatuses([{ invokeId: INVOKE_ID, nonce: 'nonce' }]),
    );
    const start = await measure('evalsha', (s) =>
      s.spawned(INVOKE_ID, 'nonce', undefined, '', { startedMs: Date.now(), slotMs: 1000 }),
    );
    if (round < 0) continue;
    claims.push(claim);
    reads.push(read);
    starts.push(start);
  }
} finally {
  redis.disconnect();
  await own.stop();
}

const at = (xs: { redisMs: number; wallMs: number }[], k: 'redisMs' | 'wallMs') =>
  r1(median(xs.map((x) => x[k])));
const name = `slot of a fire on ${NODES} nodes`;
await publish([
  score(
    `${name}: Redis time of the slot reads (HMGET)`,
    'ms',
    at(reads, 'redisMs'),
    at(claims, 'redisMs'),
    'lower',
    1,
    'baseline: the same nodes claiming at the slot (run-claim-3.lua), same Redis, same round',
  ),
  reportOnly(`${name}: Redis time of the claims at the slot (before)`, 'ms', at(claims, 'redisMs')),
  reportOnly(`${name}: wall time, 1 client, claims`, 'ms', at(claims, 'wallMs')),
  reportOnly(`${name}: wall time, 1 client, slot reads`, 'ms', at(reads, 'wallMs')),
  reportOnly(
    `${name}: Redis time of the starts recorded after (run-spawned-3.lua)`,
    'ms',
    at(starts, 'redisMs'),
  ),
]);
