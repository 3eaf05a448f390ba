import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface PrivateRedis {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** A free TCP port on loopback (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface PrivateRedisOptions {
  /** @default 'redis-server' */
  binary?: string;
  /** Redis `hz`: 100 makes delayed jobs fire ~10 ms late instead of ~50 ms. @default 100 */
  hz?: number;
  /** Extra `--name value` arguments. */
  args?: string[];
}

/**
 * Starts a throw-away redis-server child on a free loopback port, keeping nothing on disk
 * (unless `args` asks for AOF), and waits until it answers PING.
 */
export async function startPrivateRedis(opts: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetcmd-redis-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      opts.binary ?? 'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--hz',
        String(opts.hz ?? 100),
        '--maxmemory-policy',
        'noeviction',
        ...(opts.args ?? []),
      ],
      // Its own process group: a Ctrl-C meant for the parent must not kill Redis before the
      // parent has drained.
      { stdio: 'ignore', detached: true },
    );
    // The server must not keep its parent alive: the parent kills it on exit or via stop().
    child.unref();
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    const url = `redis://127.0.0.1:${port}`;
    const ready = waitForPing(url, 5_000);
    const first = await Promise.race([
      ready.then(() => 'ready' as const),
      exited.then(() => 'exited' as const),
      spawnError.then((e) => e),
    ]);
    if (first === 'ready') {
      return {
        url,
        port,
        process: child,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGKILL');
            await exited;
          }
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    child.kill('SIGKILL');
    if (first instanceof Error) throw new Error(`cannot start redis-server: ${first.message}`);
    // Lost a race for the port: try another.
    if (attempt >= 3) throw new Error('redis-server exited at start-up four times');
  }
}

async function waitForPing(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.ping();
      c.disconnect();
      return;
    } catch {
      c.disconnect();
      if (Date.now() > deadline) throw new Error('redis-server did not answer PING in time');
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
