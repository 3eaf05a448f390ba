/**
 * Footprint: Redis bytes per stored Once invocation (one node, 24 KiB of output, finished), by
 * key kind, and the projection for 1 million kept invocations (the default retention keeps
 * everything younger than 28 days). Scored: what stays with each kept invocation, i.e.
 * `used_memory` growth (the pending delivery deadlines, ~35 B each, included), less the growth of the streams
 * bounded by a count (the event stream, BullMQ's event streams, node outboxes), which stop
 * growing at their caps whatever the number of kept invocations (the audit stream, kept by age,
 * counts as kept). The raw growth is reported beside it. RSS of an idle agent and of an
 * idle server, each started as production starts them (`bin/fleetcmd.js`, compiled code: run
 * `npm run build` first). Private redis-server; the measured stack's server runs in this
 * process and its agent as a child process.
 *
 *   node --import tsx bench/footprint.ts [--quick] [invocations=200] [outputBytes=24576]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { publish, quick, reportOnly, score } from './harness.js';
import { startBenchStack } from './local-stack.js';
import { spawnerPids } from './processes.js';
import { outputCorpus } from './output-corpus.js';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const count = Number(positional[0] ?? (quick ? 50 : 200));
const OUTPUT_BYTES = Number(positional[1] ?? 24 * 1024);
const prefix = 'fp';
const stack = await startBenchStack(prefix, ['f1']);
const { call } = stack;
const [agent] = stack.agents;
const redis = new Redis(stack.redisUrl);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const BIN = fileURLToPath(new URL('../bin/fleetcmd.js', import.meta.url));

/** RSS (MiB) of an agent and a server started from the compiled CLI, idle for 3 s. */
async function idleRss(
  redisUrl: string,
): Promise<{ agent: number; spawner: number; together: number; how: string; server: number }> {
  const env = {
    ...process.env,
    REDIS_URL: redisUrl,
    FLEETCMD_PREFIX: 'idle',
    FLEETCMD_API_TOKEN: 'idle-footprint',
    LOG_LEVEL: 'warn',
    FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'true',
  };
  const children: ChildProcess[] = [
    spawn(process.execPath, [BIN, 'agent', '--node-id', 'idle1'], { env, stdio: 'ignore' }),
    spawn(process.execPath, [BIN, 'server', '--port', '0', '--host', '127.0.0.1'], {
      env,
      stdio: 'ignore',
    }),
  ];
  try {
    // Idle 3 s from when the agent has its spawner (on a loaded box that can take seconds).
    let spawnerPid: number | undefined;
    for (let i = 0; i < 100 && spawnerPid === undefined; i++) {
      [spawnerPid] = await spawnerPids(children[0]?.pid ?? 0);
      if (spawnerPid === undefined) await sleep(200);
    }
    await sleep(3000);
    const [agent, server] = await Promise.all(children.map((c) => rssMiB(c.pid ?? 0)));
    const spawner = spawnerPid === undefined ? 0 : await rssMiB(spawnerPid);
    const pair = await residentTogetherMiB([children[0]?.pid ?? 0, spawnerPid ?? 0]);
    const round = (v: number | undefined) => Math.round((v ?? 0) * 10) / 10;
    return {
      agent: round(agent),
      spawner: round(spawner),
      together: round(pair.mib),
      how: pair.how,
      server: round(server),
    };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
  }
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

const PAGE = 4096;

/**
 * The memory the processes hold together, each resident page counted once (VmRSS counts the
 * node binary's ~34 MiB of text and data, shared by agent and spawner, in both): the distinct
 * page frames of their present pages (/proc/<pid>/pagemap, which shows frames only to root).
 * Without root, the first process's VmRSS plus the others' private pages (smaps_rollup).
 */
async function residentTogetherMiB(pids: number[]): Promise<{ mib: number; how: string }> {
  const frames = new Set<bigint>();
  let zeroFrames = 0;
  for (const pid of pids) {
    const maps = await readFile(`/proc/${pid}/maps`, 'utf8').catch(() => '');
    const file = await open(`/proc/${pid}/pagemap`, 'r').catch(() => undefined);
    if (!file) continue;
    try {
      for (const line of maps.split('\n')) {
        const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
        if (!m || line.endsWith('[vsyscall]') || line.includes(' ---p ')) continue;
        const first = parseInt(m[1] ?? '0', 16) / PAGE;
        const pages = parseInt(m[2] ?? '0', 16) / PAGE - first;
        const buf = Buffer.alloc(pages * 8);
        await file.read(buf, 0, buf.length, first * 8);
        for (let i = 0; i < pages; i++) {
          const entry = buf.readBigUInt64LE(i * 8);
          if (!(entry >> 63n)) continue; // not present
          const frame = entry & ((1n << 55n) - 1n);
          if (frame === 0n) zeroFrames++;
          else frames.add(frame);
        }
      }
    } finally {
      await file.close();
    }
  }
  if (zeroFrames === 0) return { mib: (frames.size * PAGE) / 2 ** 20, how: 'distinct page frames' };
  let kb = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pids[0]}/status`, 'utf8'))?.[1]);
  for (const pid of pids.slice(1)) {
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
    for (const m of rollup.matchAll(/Private_(?:Clean|Dirty):\s+(\d+)/g)) kb += Number(m[1]);
  }
  return { mib: kb / 1024, how: "the agent's VmRSS and the spawner's private pages" };
}

/**
 * Redis's `used_memory` less its clients' buffers (`mem_clients_normal`, `mem_clients_slaves`):
 * those swing by hundreds of KB with what the connected agents and this script are sending
 * (measured: -207 KB over one 50-invocation run), which is no data kept.
 */
async function usedMemory(): Promise<number> {
  const info = await redis.info('memory');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_memory') - field('mem_clients_normal') - field('mem_clients_slaves');
}

interface KindBytes {
  keys: number;
  bytes: number;
  /** A stream bounded by a count (XADD MAXLEN): it stops growing at its cap. */
  bounded: boolean;
}

/** Bytes Redis reports for every key under the prefix, grouped by the key's kind. */
async function keyBytes(): Promise<Map<string, KindBytes>> {
  const kinds = new Map<string, KindBytes>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const bytes = Number((await redis.memory('USAGE', key, 'SAMPLES', '0')) ?? 0);
      // The kind: the key with ids replaced, e.g. fp:inv:{*} or fp:node:{*}:run:*.
      const kind = key.replace(/\{[^}]*\}/g, '{*}').replace(/t-[a-z0-9]{17}/g, '<inv>');
      const bounded = kind.endsWith(':events') && (await redis.type(key)) === 'stream';
      const k = kinds.get(kind) ?? { keys: 0, bytes: 0, bounded };
      k.keys++;
      k.bytes += bytes;
      kinds.set(kind, k);
    }
  } while (cursor !== '0');
  return kinds;
}

// Typical text (bench/output-corpus.ts), as a run keeps it: compressed at its end.
const corpusDir = await mkdtemp(join(tmpdir(), 'fleetcmd-corpus-'));
const corpus = join(corpusDir, 'output.txt');
await writeFile(corpus, outputCorpus(OUTPUT_BYTES), { mode: 0o644 });
await chmod(corpusDir, 0o755);

try {
  for (;;) {
    const r = await call('RunCommand', { NodeIdList: ['f1'], CommandContent: 'true' });
    if (typeof r.InvokeId === 'string') break;
    await sleep(100);
  }
  await sleep(2000);
  const idleAgentMiB = await rssMiB(agent?.pid ?? 0);
  const before = await keyBytes();
  const usedBefore = await usedMemory();
  const ids: string[] = [];
  const content = OUTPUT_BYTES > 0 ? `cat ${corpus}` : 'true';
  for (let i = 0; i < count; i++) {
    const r = await call('RunCommand', { NodeIdList: ['f1'], CommandContent: content });
    ids.push(String(r.InvokeId));
  }
  for (const id of ids) {
    for (;;) {
      const d = (await call('DescribeInvocations', { InvokeId: id })) as {
        Invocations?: { Invocation: { InvocationStatus: string }[] };
      };
      const status = d.Invocations?.Invocation[0]?.InvocationStatus;
      if (status === 'Success') break;
      if (
        status !== undefined &&
        !['Pending', 'Scheduled', 'Running', 'Stopping'].includes(status)
      ) {
        throw new Error(
          `invocation ${id} ended ${status}, not Success: the figures would be wrong`,
        );
      }
      await sleep(50);
    }
  }
  // Let the scheduler retire what it retires (index pruning, job removal) before measuring.
  // Each run's delivery deadline (a ~35 B member of {global}:deadlines until 60 s after its
  // creation) is still there: counted as kept, a little more than what stays.
  await sleep(2000);
  const after = await keyBytes();
  const usedAfter = await usedMemory();
  console.log(`${count} Once invocations, 1 node each, ${OUTPUT_BYTES} bytes of output each`);
  console.log('key kind                                   keys     bytes/invocation');
  let total = 0;
  let bounded = 0;
  const boundedKinds: string[] = [];
  for (const [kind, a] of [...after].sort((x, y) => y[1].bytes - x[1].bytes)) {
    const b = before.get(kind) ?? { keys: 0, bytes: 0 };
    const per = (a.bytes - b.bytes) / count;
    total += per;
    if (a.bounded) {
      bounded += per;
      if (Math.abs(per) >= 1) boundedKinds.push(`${kind} ${per.toFixed(0)}`);
    }
    if (Math.abs(per) >= 1) {
      console.log(
        `${kind.padEnd(42)} ${String(a.keys - b.keys).padStart(5)} ${per.toFixed(0).padStart(12)}${a.bounded ? '  (bounded stream)' : ''}`,
      );
    }
  }
  const perUsed = (usedAfter - usedBefore) / count;
  const perKept = perUsed - bounded;
  console.log(`MEMORY USAGE sum: ${total.toFixed(0)} bytes per invocation`);
  console.log(`used_memory growth: ${perUsed.toFixed(0)} bytes per invocation`);
  console.log(`kept (growth less bounded streams): ${perKept.toFixed(0)} bytes per invocation`);
  console.log(
    `projected for 1,000,000 kept invocations: ${((perKept * 1e6) / 2 ** 30).toFixed(1)} GiB`,
  );
  const idle = await idleRss(stack.redisUrl);
  await publish([
    score(
      'footprint: Redis bytes kept per Once invocation (1 node, 24 KiB of typical text output)',
      'bytes',
      Math.round(perKept),
      8192,
      'lower',
      1,
      `used_memory growth (client buffers left out) over ${count} finished invocations (their delivery deadlines, ~35 B each until they pass, included), less the growth of streams bounded by a count (${boundedKinds.join(', ')}; they stop growing at their caps); output: bench/output-corpus.ts; target ≤ 8 KiB`,
    ),
    reportOnly(
      'footprint: Redis used_memory growth per Once invocation, bounded streams included',
      'bytes',
      Math.round(perUsed),
      `as above, with the bounded streams still filling (MEMORY USAGE sum of all keys ${total.toFixed(0)})`,
    ),
    reportOnly(
      'footprint: Redis memory for 1,000,000 kept invocations (as above)',
      'GiB',
      Math.round(((perKept * 1e6) / 2 ** 30) * 10) / 10,
      'the default retention (28 days) keeps every invocation younger than that; bytes kept per invocation as scored above',
    ),
    reportOnly('footprint: idle agent RSS', 'MiB', idle.agent, 'bin/fleetcmd.js agent, idle 3 s'),
    reportOnly(
      "footprint: idle agent's spawner RSS",
      'MiB',
      idle.spawner,
      'the process the agent forks to start commands (workers/agent/spawner-main.ts)',
    ),
    reportOnly(
      'footprint: idle agent and its spawner together, pages counted once',
      'MiB',
      idle.together,
      `${idle.how}; VmRSS of the two added: ${Math.round((idle.agent + idle.spawner) * 10) / 10} MiB`,
    ),
    reportOnly(
      'footprint: idle server RSS',
      'MiB',
      idle.server,
      'bin/fleetcmd.js server, idle 3 s',
    ),
    reportOnly(
      'footprint: idle agent RSS under tsx (as the tests run it)',
      'MiB',
      Math.round(idleAgentMiB * 10) / 10,
    ),
  ]);
} finally {
  redis.disconnect();
  await stack.close();
  await rm(corpusDir, { recursive: true, force: true });
}
