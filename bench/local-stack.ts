/**
 * A local stack for benchmarks: a private redis-server (hz 100), the server in this process and
 * one agent child process per node id, with a small API caller.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { makeLogger } from '../src/log.js';
import { startServer } from '../src/main.js';
import { freePort, startPrivateRedis } from '../src/private-redis.js';

export interface BenchStack {
  redisUrl: string;
  agents: ChildProcess[];
  call(action: string, body: unknown): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startBenchStack(prefix: string, nodeIds: string[]): Promise<BenchStack> {
  const redis = await startPrivateRedis();
  const token = randomBytes(12).toString('hex');
  const port = await freePort();
  const env = { REDIS_URL: redis.url, FLEETCMD_PREFIX: prefix, LOG_LEVEL: 'warn' };
  const server = await startServer(
    loadConfig({
      ...env,
      FLEETCMD_API_TOKEN: token,
      PORT: String(port),
      FLEETCMD_HOST: '127.0.0.1',
    }),
    makeLogger('warn', 'bench'),
  );
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const agents = nodeIds.map((id) =>
    spawn(process.execPath, ['--import', 'tsx', cli, 'agent', '--node-id', id], {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    }),
  );
  return {
    redisUrl: redis.url,
    agents,
    async call(action, body) {
      const res = await fetch(`${server.url}/v1/${action}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return (await res.json()) as Record<string, unknown>;
    },
    async close() {
      for (const a of agents) a.kill('SIGTERM');
      await server.close();
      await redis.stop();
    },
  };
}
