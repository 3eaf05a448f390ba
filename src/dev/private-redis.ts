import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { listensOn } from './listener.js';

export interface PrivateRedis {
  /** `redis://:<password>@127.0.0.1:<port>`: the admin connection (the `default` user). */
  url: string;
  port: number;
  /** The `default` user's password, generated for this server (256 bits). */
  password: string;
  /** The server's 0700 directory (its config file); stop() removes it. */
  dir: string;
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

/**
 * Ties `child` (a detached server this process started) to this process's life: a watchdog
 * shell reads a pipe whose other end only this process holds (Node opens its pipes close-on-exec,
 * so no later child inherits it); when this process ends in any way, SIGKILL included, the
 * pipe closes, the read ends and the watchdog SIGKILLs the child. Without it a parent killed
 * with SIGKILL left its redis-server running for good. The watchdog goes when the child exits;
 * the function returned releases it sooner (before this process kills the child itself).
 * Neither keeps this process alive.
 */
export function killWithParent(child: ChildProcess): () => void {
  if (child.pid === undefined) return () => undefined;
  const watchdog = spawn(
    '/bin/sh',
    ['-c', 'read -r _; kill -9 "$1" 2>/dev/null', 'sh', String(child.pid)],
    {
      stdio: ['pipe', 'ignore', 'ignore'],
      // Out of this process's group: a Ctrl-C meant for it must not end the watchdog first.
      detached: true,
    },
  );
  watchdog.on('error', () => undefined);
  watchdog.stdin?.on('error', () => undefined);
  watchdog.unref();
  (watchdog.stdin as { unref?: () => void } | null)?.unref?.();
  const release = () => {
    if (watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL');
  };
  // A child gone by itself takes its watchdog along: its pid may be another process's later.
  child.once('exit', release);
  return release;
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
 * Writes the server's config file, which holds its password: mode 0600 in the 0700 directory
 * mkdtemp made, so only this process's user (and root) can read it. A password on the
 * command line would be readable by every local user in /proc/<pid>/cmdline.
 */
async function writeConfig(dir: string, password: string): Promise<string> {
  const file = join(dir, 'redis.conf');
  // requirepass gives `default` this password and takes its `nopass` away: no connection
  // does anything before AUTH, from the first moment the server listens.
  await writeFile(file, `requirepass ${password}\n`, { mode: 0o600, flag: 'wx' });
  return file;
}

/**
 * Starts a throw-away redis-server child on a free loopback port, keeping nothing on disk
 * (unless `args` asks for AOF), and waits until it answers PING. Its `default` user needs a
 * password generated here (any local user can reach a loopback port); `url` carries it.
 */
export async function startPrivateRedis(opts: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  // mkdtemp creates the directory with mode 0700 under a name nobody could have chosen first.
  const dir = await mkdtemp(join(tmpdir(), 'fleetcmd-redis-'));
  try {
    const password = randomBytes(32).toString('base64url');
    const config = await writeConfig(dir, password);
    for (let attempt = 0; attempt < 4; attempt++) {
      const started = await startOnFreePort(opts, dir, config, password);
      if (started) return started;
      // Lost a race for the port: try another.
    }
    throw new Error('redis-server exited at start-up four times');
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** One attempt: the server, or undefined when redis-server exited (its port was taken). */
async function startOnFreePort(
  opts: PrivateRedisOptions,
  dir: string,
  config: string,
  password: string,
): Promise<PrivateRedis | undefined> {
  const port = await freePort();
  const child = spawn(
    opts.binary ?? 'redis-server',
    [
      // The config file must come first (redis-server's rule); the flags below add to it.
      config,
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
  // The server must not keep its parent alive: the parent kills it on exit or via stop(), and
  // the watchdog if the parent is killed without a chance to.
  child.unref();
  const releaseWatchdog = killWithParent(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const url = `redis://:${password}@127.0.0.1:${port}`;
  const kill = async () => {
    releaseWatchdog();
    if (child.exitCode === null && child.signalCode === null) {
      // Referenced again, so that the event loop waits for the exit it awaits.
      child.ref();
      child.kill('SIGKILL');
      await exited;
    }
  };
  const first = await Promise.race([
    waitForPing(url, port, child.pid ?? 0, 5_000).then(
      () => 'ready' as const,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    ),
    exited.then(() => 'exited' as const),
    spawnError.then((e) => new Error(`cannot start redis-server: ${e.message}`)),
  ]);
  if (first === 'ready') {
    const stop = async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    };
    return { url, port, password, dir, process: child, stop };
  }
  await kill();
  if (first instanceof Error) throw first;
  return undefined;
}

/**
 * Waits until the child `pid` listens on `port`, then until it answers PING. Any local user
 * could have bound the port between freePort() and redis-server's bind: the password goes only
 * to the socket the child itself holds.
 */
async function waitForPing(url: string, port: number, pid: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await listensOn(pid, port)) !== false && (await ping(url))) return;
    if (Date.now() > deadline) {
      throw new Error(
        `redis-server did not listen on port ${port} and answer PING within ${timeoutMs} ms (another process may hold the port)`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function ping(url: string): Promise<boolean> {
  const c = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.ping();
    return true;
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}
