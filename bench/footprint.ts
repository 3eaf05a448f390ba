/**
 * Footprint: Redis bytes per stored Once invocation (one node, 24 KiB of output, finished), by
 * key kind, and the projection for 1 million of them; RSS of an idle agent. Private
 * redis-server, server in this process, one agent child process.
 *
 *   node --import tsx bench/footprint.ts [invocations=200] [outputBytes=24576]
 */
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { startBenchStack } from './local-stack.js';

const count = Number(process.argv[2] ?? 200);
const OUTPUT_BYTES = Number(process.argv[3] ?? 24 * 1024);
const prefix = 'fp';
const stack = await startBenchStack(prefix, ['f1']);
const { call } = stack;
const [agent] = stack.agents;
const redis = new Redis(stack.redisUrl);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** Bytes Redis reports for every key under the prefix, grouped by the key's kind. */
async function keyBytes(): Promise<Map<string, { keys: number; bytes: number }>> {
  const kinds = new Map<string, { keys: number; bytes: number }>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const bytes = Number((await redis.memory('USAGE', key, 'SAMPLES', '0')) ?? 0);
      // The kind: the key with ids replaced, e.g. fp:inv:{*} or fp:node:{*}:run:*.
      const kind = key.replace(/\{[^}]*\}/g, '{*}').replace(/t-[a-z0-9]{17}/g, '<inv>');
      const k = kinds.get(kind) ?? { keys: 0, bytes: 0 };
      k.keys++;
      k.bytes += bytes;
      kinds.set(kind, k);
    }
  } while (cursor !== '0');
  return kinds;
}

try {
  for (;;) {
    const r = await call('RunCommand', { NodeIdList: ['f1'], CommandContent: 'true' });
    if (typeof r.InvokeId === 'string') break;
    await sleep(100);
  }
  await sleep(2000);
  const idleAgentMiB = await rssMiB(agent?.pid ?? 0);
  const before = await keyBytes();
  const usedBefore = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
  const ids: string[] = [];
  const content = OUTPUT_BYTES > 0 ? `head -c ${OUTPUT_BYTES} /dev/zero | tr '\\0' x` : 'true';
  for (let i = 0; i < count; i++) {
    const r = await call('RunCommand', { NodeIdList: ['f1'], CommandContent: content });
    ids.push(String(r.InvokeId));
  }
  for (const id of ids) {
    for (;;) {
      const d = (await call('DescribeInvocations', { InvokeId: id })) as {
        Invocations?: { Invocation: { InvocationStatus: string }[] };
      };
      if (d.Invocations?.Invocation[0]?.InvocationStatus === 'Success') break;
      await sleep(50);
    }
  }
  // Let the scheduler retire what it retires (index pruning, job removal) before measuring.
  await sleep(2000);
  const after = await keyBytes();
  const usedAfter = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
  console.log(`${count} Once invocations, 1 node each, ${OUTPUT_BYTES} bytes of output each`);
  console.log('key kind                                   keys     bytes/invocation');
  let total = 0;
  for (const [kind, a] of [...after].sort((x, y) => y[1].bytes - x[1].bytes)) {
    const b = before.get(kind) ?? { keys: 0, bytes: 0 };
    const per = (a.bytes - b.bytes) / count;
    total += per;
    if (Math.abs(per) >= 1) {
      console.log(
        `${kind.padEnd(42)} ${String(a.keys - b.keys).padStart(5)} ${per.toFixed(0).padStart(12)}`,
      );
    }
  }
  const perUsed = (usedAfter - usedBefore) / count;
  console.log(`MEMORY USAGE sum: ${total.toFixed(0)} bytes per invocation`);
  console.log(`used_memory growth: ${perUsed.toFixed(0)} bytes per invocation`);
  console.log(
    `projected for 1,000,000 kept invocations: ${((perUsed * 1e6) / 2 ** 30).toFixed(1)} GiB`,
  );
  console.log(`idle agent RSS: ${idleAgentMiB.toFixed(1)} MiB`);
  console.log(
    `this process (server + bench) RSS: ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)} MiB`,
  );
} finally {
  redis.disconnect();
  await stack.close();
}
