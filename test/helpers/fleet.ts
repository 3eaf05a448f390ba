import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { FINAL_NODE_STATUSES, type NodeStatus } from '../../src/domain/status.js';
import { Keys } from '../../src/store/keys.js';
import { startedUrl } from './hang.js';
import { freshPrefix, redisUrl } from './redis.js';
import { parseBody, waitFor, type ApiResponse, type Invocation } from './stack.js';

/**
 * fleetcmd as production runs it, for the fault tests: `node bin/fleetcmd.js server|agent` on
 * the compiled dist/ (`npm test` builds first), each child in its own process group so a test
 * can SIGKILL, SIGSTOP or SIGTERM it like an operator or the kernel would.
 */
export const BIN = fileURLToPath(new URL('../../bin/fleetcmd.js', import.meta.url));

export interface FleetProc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Everything it printed (its pino log). */
  log(): string;
  exited(): boolean;
  /** Sends a signal to the process only (not its group). */
  signal(sig: NodeJS.Signals): void;
  /** SIGKILLs the whole process group and waits for the process to be gone. */
  kill(): Promise<void>;
  /** Sends `sig` and waits for the exit: its code (or signal) and how long it took. */
  stop(sig?: NodeJS.Signals): Promise<{ code: number | string | null; ms: number }>;
}

const live = new Set<FleetProc>();

function spawnFleet(name: string, args: string[], env: Record<string, string>): FleetProc {
  const child = spawn(process.execPath, [BIN, ...args], {
    // Info level: the tests wait for the start-up lines ("server started", "agent started").
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const gone = once(child, 'exit') as Promise<[number | null, string | null]>;
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const p: FleetProc = {
    name,
    child,
    pid: child.pid ?? 0,
    log: () => log,
    exited,
    signal(sig) {
      if (!exited()) child.kill(sig);
    },
    async kill() {
      if (!exited()) {
        try {
          process.kill(-p.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
      await gone;
      live.delete(p);
    },
    async stop(sig = 'SIGTERM') {
      const t0 = Date.now();
      if (!exited()) child.kill(sig);
      const [code, signal] = await gone;
      live.delete(p);
      return { code: code ?? signal, ms: Date.now() - t0 };
    },
  };
  live.add(p);
  return p;
}

/** Kills every process this file started that is still running (for `after`). */
export async function killAllFleet(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
}

async function waitLogged(p: FleetProc, marker: string, timeoutMs = 60_000): Promise<void> {
  try {
    await waitFor(
      `${p.name} to log ${marker}`,
      async () => {
        if (p.exited()) throw new Error(`${p.name} exited: ${p.log()}`);
        return p.log().includes(marker);
      },
      timeoutMs,
      50,
    );
  } catch (err) {
    // What the process said before it stalled: the only trace of where its start-up stopped.
    if (p.exited()) throw err;
    throw new Error(
      `${String(err)}; its log so far:\n${p.log().split('\n').slice(-40).join('\n')}`,
    );
  }
}

export interface FleetServer extends FleetProc {
  url: string;
}

/**
 * `fleetcmd server` on `port`: by default 0, the server binds a free port and its URL is read back
 * from its "server started" line; a test restarting a server where the last one answered passes
 * that one's port. Resolves once it listens.
 */
export async function startFleetServer(
  env: Record<string, string>,
  port = 0,
): Promise<FleetServer> {
  const proc = spawnFleet('server', ['server', '--port', String(port), '--host', '127.0.0.1'], env);
  const url = await waitFor(
    'the server to log its URL',
    async () => {
      if (proc.exited()) throw new Error(`server exited: ${proc.log()}`);
      return startedUrl(proc.log());
    },
    60_000,
    50,
  );
  return Object.assign(proc, { url });
}

/** The port a started server listens on (to start the next one where it answered). */
export function portOf(server: FleetServer): number {
  return Number(new URL(server.url).port);
}

/** `fleetcmd agent --node-id <nodeId>`; resolves once it has registered and consumes. */
export async function startFleetAgent(
  nodeId: string,
  env: Record<string, string>,
): Promise<FleetProc> {
  for (let attempt = 1; ; attempt++) {
    // These agents share the test's admin connection (see agent-acl.test.ts for per-node users).
    const proc = spawnFleet(`agent ${nodeId}`, ['agent', '--node-id', nodeId], {
      FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'true',
      ...env,
    });
    try {
      await waitLogged(proc, '"agent started"');
      return proc;
    } catch (err) {
      if (attempt > 1 || !proc.exited() || !BUILD_UNREADABLE.test(proc.log())) throw err;
      console.error(
        `${proc.name} could not read its own build at start-up (started again, once); ` +
          `the build as this test sees it: ${await buildState()}\n${proc.log()}`,
      );
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

/**
 * An exit at start-up because a file of fleetcmd's own build could not be read. Seen in CI runs
 * of the full suite only (3 times in ~10 runs, always the first fault file, never alone): the
 * bundle itself or its scripts "not found" although the build's files were there, unchanged,
 * before and after. Not understood; the start is tried once more and what the test process sees
 * of the build is printed, so each occurrence leaves its evidence in the log.
 */
const BUILD_UNREADABLE =
  /ERR_MODULE_NOT_FOUND|ENOENT: no such file or directory, open '[^']*\/(dist|src\/store\/lua)\//;

/** The agent bundle's files with their sizes and times, or why they cannot be read. */
async function buildState(): Promise<string> {
  const dir = fileURLToPath(new URL('../../dist/agent/', import.meta.url));
  try {
    const names = await readdir(dir);
    const rows = await Promise.all(
      names.map(async (n) => {
        const st = await stat(join(dir, n));
        return `${n} ${st.size} B ${st.mtime.toISOString()}`;
      }),
    );
    return `${dir}: ${rows.join(', ')} (now ${new Date().toISOString()})`;
  } catch (err) {
    return `${dir}: ${String(err)}`;
  }
}

export interface TimedResponse extends ApiResponse {
  ms: number;
}

/**
 * An API caller. Each request is abandoned after `timeoutMs` (status 0): a test that bounds an
 * answer's time keeps this above the bound, so a hang shows as a hang, not as a quick error.
 */
export function makeApi(url: () => string, token: string) {
  return async function call(
    action: string,
    body: unknown,
    timeoutMs = 15_000,
  ): Promise<TimedResponse> {
    const t0 = Date.now();
    try {
      const res = await fetch(`${url()}/v1/${action}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const parsed = parseBody(await res.text());
      return { status: res.status, body: parsed, ms: Date.now() - t0 };
    } catch (err) {
      return { status: 0, body: { error: String(err) }, ms: Date.now() - t0 };
    }
  };
}

export type Call = ReturnType<typeof makeApi>;

/** The invocation with every node's status (no output), or undefined when the API fails. */
export async function describeOne(call: Call, invokeId: string): Promise<Invocation | undefined> {
  const res = await call('DescribeInvocations', { InvokeId: invokeId });
  if (res.status !== 200) return undefined;
  return (res.body.Invocations as { Invocation: Invocation[] }).Invocation[0];
}

/**
 * Final status of each node of each invocation (`invokeId node` -> status), polling until all
 * are final or `timeoutMs` passes (then it throws, naming those not final with each node's
 * status, error code and times, so a failure says where each one stopped).
 */
export async function waitAllFinal(
  call: Call,
  invokeIds: readonly string[],
  timeoutMs: number,
): Promise<Map<string, string>> {
  const final = new Map<string, string>();
  const open = new Set(invokeIds);
  const deadline = Date.now() + timeoutMs;
  while (open.size > 0) {
    for (const id of [...open]) {
      const inv = await describeOne(call, id);
      const nodes = inv?.InvokeNodes.InvokeNode ?? [];
      if (nodes.length === 0) continue;
      if (nodes.every((n) => FINAL_NODE_STATUSES.has(n.InvocationStatus as NodeStatus))) {
        for (const n of nodes) final.set(`${id} ${n.NodeId}`, n.InvocationStatus);
        open.delete(id);
      }
    }
    if (open.size === 0) break;
    if (Date.now() > deadline) {
      const stuck: string[] = [];
      for (const id of [...open].slice(0, 5)) {
        const inv = await describeOne(call, id);
        stuck.push(`${id}: ${JSON.stringify(inv?.InvokeNodes.InvokeNode ?? 'not found')}`);
      }
      throw new Error(
        `timed out after ${timeoutMs} ms: ${open.size} of ${invokeIds.length} invocations not ` +
          `final; ${stuck.join('; ')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return final;
}

/** How many times each line occurs in a file the commands append to (one line per run). */
export async function diskCounts(file: string): Promise<Map<string, number>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line !== '') counts.set(line, (counts.get(line) ?? 0) + 1);
  }
  return counts;
}

/** Total lines in such a file. */
export async function diskTotal(file: string): Promise<number> {
  let n = 0;
  for (const c of (await diskCounts(file)).values()) n += c;
  return n;
}

/** Whether the API's Redis is reachable (GET /readyz). */
export async function ready(url: string): Promise<boolean> {
  return fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3_000) }).then(
    (r) => r.status === 200,
    () => false,
  );
}

/** Every node the API lists as online, among `nodeIds`. */
export async function onlineNodes(call: Call, nodeIds: readonly string[]): Promise<string[]> {
  const res = await call('DescribeNodes', { Online: true, MaxResults: 50 });
  if (res.status !== 200) return [];
  const rows = (res.body.Nodes as { Node: { NodeId: string }[] }).Node;
  return rows.map((r) => r.NodeId).filter((id) => nodeIds.includes(id));
}

/** A plain Redis client for a test's own checks. */
export function probe(url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
  r.on('error', () => undefined);
  return r;
}

/**
 * The environment of a fault test's processes: this file's private Redis (or `redisUrl`), a
 * fresh key prefix, a token, one-second heartbeats, and the test's own settings over those.
 */
export async function faultEnv(
  extra: Record<string, string> = {},
  url?: string,
): Promise<Record<string, string>> {
  return {
    REDIS_URL: url ?? (await redisUrl()),
    FLEETCMD_PREFIX: freshPrefix(),
    FLEETCMD_API_TOKEN: randomBytes(12).toString('hex'),
    FLEETCMD_HEARTBEAT_SECONDS: '1',
    ...extra,
  };
}

/** An API caller for the processes of `env` (its token), at the server `url()` names. */
export function apiFor(url: () => string, env: Record<string, string>): Call {
  return makeApi(url, env.FLEETCMD_API_TOKEN ?? '');
}

/** Runs `fn` with a BullMQ handle on one node's run queue (closed afterwards). */
export async function withNodeQueue<T>(
  env: Record<string, string>,
  nodeId: string,
  fn: (q: Queue) => Promise<T>,
): Promise<T> {
  const conn = new Redis(env.REDIS_URL ?? '', { maxRetriesPerRequest: null });
  const keys = new Keys(env.FLEETCMD_PREFIX ?? '');
  const q = new Queue(keys.nodeQueueName(nodeId), {
    connection: conn,
    prefix: keys.nodeQueuePrefix(),
  });
  try {
    return await fn(q);
  } finally {
    await q.close();
    conn.disconnect();
  }
}

export interface FaultFixture {
  /** A temporary directory for the commands' files (removed afterwards). */
  dir: string;
  env: Record<string, string>;
  /** Pids of commands a test must not leave running (SIGKILLed afterwards). */
  pids: number[];
}

/**
 * Registers a fault suite's `before` and `after`: a temporary directory and the processes'
 * environment (`faultEnv(extra)`) before; afterwards every process it started, leftover
 * commands in `pids`, and the directory are gone. The fields are filled in by `before`.
 */
export function useFaultFixture(extra: Record<string, string> = {}): FaultFixture {
  const f: FaultFixture = { dir: '', env: {}, pids: [] };
  before(async () => {
    f.dir = await mkdtemp(join(tmpdir(), 'fleetcmd-fault-'));
    f.env = await faultEnv(extra);
  });
  after(async () => {
    for (const pid of f.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await killAllFleet();
    await rm(f.dir, { recursive: true, force: true });
  });
  return f;
}
