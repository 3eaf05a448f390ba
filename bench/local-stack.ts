/**
 * A local stack for benchmarks: a private redis-server (hz 100), the server in this process and
 * one agent child process per node id (none: bring your own, e.g. bench/sim-agents.ts), with a
 * small API caller. SIGINT and SIGTERM close it (Redis and agents too) before the process exits.
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
  prefix: string;
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
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      for (const a of agents) a.kill('SIGTERM');
      await server.close();
      await redis.stop();
    })();
    return closing;
  };
  const onSignal = () => {
    void close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    redisUrl: redis.url,
    prefix,
    agents,
    async call(action, body) {
      const res = await fetch(`${server.url}/v1/${action}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return (await res.json()) as Record<string, unknown>;
    },
    close,
  };
}
