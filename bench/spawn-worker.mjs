// The baseline of bench/throughput.ts: a bare BullMQ Worker that, for every job, spawns
// `/bin/sh -c <command>` (own process group, stdout read and dropped, as the agent does) and
// writes the exit code to a Redis hash (HSET <results> <jobId> <code>). Plain JavaScript, so it
// runs under plain node like the compiled agent (no tsx loader thread, no extra memory).
// Configured by the JSON in $SPAWN_WORKER: {redisUrl, prefix, queue, concurrency, command,
// results}. Prints `ready` once connected; runs until SIGTERM or until stdin closes.
import { spawn } from 'node:child_process';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const spec = JSON.parse(process.env.SPAWN_WORKER ?? '{}');

function run(command) {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    child.stdout.resume();
    child.once('error', () => resolve(-1));
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : -1)));
  });
}

const connection = new Redis(spec.redisUrl, { maxRetriesPerRequest: null });
const worker = new Worker(
  spec.queue,
  async (job) => {
    const code = await run(spec.command);
    await connection.hset(spec.results, job.id, code);
  },
  { connection, prefix: spec.prefix, concurrency: spec.concurrency },
);
worker.on('error', (err) => console.error(err.message));
await worker.waitUntilReady();
console.log('ready');
await new Promise((resolve) => {
  process.once('SIGTERM', resolve);
  process.stdin.once('close', resolve);
  process.stdin.resume();
});
await worker.close();
connection.disconnect();
process.stdin.destroy();
