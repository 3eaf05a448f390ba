import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { loadConfig, type Config, type RawSettings } from '../../src/shared/config.js';
import { makeLogger } from '../../src/shared/log.js';
import { startServer } from '../../src/server/main.js';
import type { Running } from '../../src/shared/running.js';
import { FINAL_NODE_STATUSES } from '../../src/domain/status.js';
import { Keys } from '../../src/store/keys.js';
import type {
  DescribeInvocationResultsAnswer,
  DescribeInvocationsAnswer,
  InvocationResultView,
  InvocationView,
  InvokeNodeView,
} from '../../src/api/schemas/response.js';
import { targetEnv, type RedisTarget } from '../../src/shared/redis-target.js';
import type { RedisClient } from '../../src/store/redis.js';
import { clientOf, freshPrefix, keysUnder, redisTarget } from './redis.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ApiResponse {
  status: number;
  body: Record<string, unknown>;
}

export interface AgentProcess {
  nodeId: string;
  child: ChildProcess;
  /** Output the agent printed (its pino log). */
  log: () => string;
  /** Sends a signal and waits for the process to exit; returns its exit code or signal. */
  kill(signal?: NodeJS.Signals): Promise<number | string | null>;
}

export interface Stack {
  url: string;
  token: string;
  prefix: string;
  /** The single Redis's URL; reading it on the cluster fails the test (it needs one Redis). */
  redisUrl: string;
  /** Where Redis is: the URL, or the local cluster (FLEETCMD_TEST_CLUSTER=1). */
  redisTarget: RedisTarget;
  keys: Keys;
  redis: RedisClient;
  config: Readonly<Config>;
  /** The in-process server; a test that restarts it assigns the new one here. */
  server: Running;
  env: Record<string, string>;
  call(
    action: string,
    body: unknown,
    opts?: { token?: string | null; raw?: string },
  ): Promise<ApiResponse>;
  /** `args`: more flags for `fleetcmd agent` (e.g. `--tag k=v`). */
  startAgent(nodeId: string, env?: Record<string, string>, args?: string[]): Promise<AgentProcess>;
  /** Polls until `fn` returns a value other than undefined/false, or fails after `timeoutMs`. */
  waitFor<T>(
    what: string,
    fn: () => Promise<T | undefined | false>,
    timeoutMs?: number,
  ): Promise<T>;
  describe(invokeId: string, extra?: Record<string, unknown>): Promise<Invocation>;
  close(): Promise<void>;
}

/** The answers' item types, inferred from the API's response schemas. */
export type Invocation = InvocationView;
export type InvokeNode = InvokeNodeView;
/** A row of DescribeInvocationResults. */
export type ResultRow = InvocationResultView;

/**
 * A real stack for one test: the server (API + scheduler) in this process on a port it binds itself (0) with a
 * fresh key prefix, and agents as real child processes (`node --import tsx src/cli/main.ts agent`).
 */
export async function makeStack(settings: RawSettings = {}): Promise<Stack> {
  // A test may put the stack on a Redis of its own (a private redis-server it stops or
  // reconfigures): the whole stack is then on that one, on the cluster run too.
  const own = settings.REDIS_URL;
  const target: RedisTarget =
    typeof own === 'string' ? { kind: 'url', url: own } : await redisTarget();
  const prefix = freshPrefix();
  const token = randomBytes(12).toString('hex');
  const env: Record<string, string> = {
    ...targetEnv(target),
    FLEETCMD_PREFIX: prefix,
    FLEETCMD_HEARTBEAT_SECONDS: '1',
    FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '3',
    LOG_LEVEL: 'info',
    // Agents share the test's admin connection (test/integration/agent-acl.test.ts runs them
    // under per-node ACL users instead).
    FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'true',
  };
  const config = loadConfig({
    ...env,
    FLEETCMD_API_TOKEN: token,
    // Port 0: the server binds a free port and hands back its URL (server.url).
    PORT: '0',
    FLEETCMD_HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    ...settings,
  });
  const server = await startServer(config, makeLogger('silent', 'test'));
  const redis = clientOf(target);
  const agents: AgentProcess[] = [];
  const apiUrl = server.url ?? '';

  const stack: Stack = {
    url: apiUrl,
    token,
    prefix,
    get redisUrl(): string {
      if (target.kind === 'url') return target.url;
      throw new Error(
        'this test needs a single Redis (stack.redisUrl); it cannot run on the cluster',
      );
    },
    redisTarget: target,
    keys: new Keys(prefix),
    redis,
    config,
    server,
    env,
    async call(action, body, opts = {}) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const t = opts.token === undefined ? token : opts.token;
      if (t !== null) headers.authorization = `Bearer ${t}`;
      const res = await fetch(`${apiUrl}/v1/${action}`, {
        method: 'POST',
        headers,
        body: opts.raw ?? JSON.stringify(body),
      });
      const parsed = parseBody(await res.text());
      return { status: res.status, body: parsed };
    },
    async startAgent(nodeId, extraEnv = {}, args = []) {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', CLI, 'agent', '--node-id', nodeId, ...args],
        {
          env: { ...process.env, ...env, ...extraEnv },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let log = '';
      child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
      const agent: AgentProcess = {
        nodeId,
        child,
        log: () => log,
        async kill(signal = 'SIGTERM') {
          if (child.exitCode !== null || child.signalCode !== null)
            return child.exitCode ?? child.signalCode;
          const exited = once(child, 'exit');
          child.kill(signal);
          const [code, sig] = (await exited) as [number | null, string | null];
          return code ?? sig;
        },
      };
      agents.push(agent);
      await stack.waitFor(
        `agent ${nodeId} to start`,
        async () => {
          if (child.exitCode !== null) throw new Error(`agent ${nodeId} exited: ${log}`);
          return log.includes('"agent started"');
        },
        30_000,
      );
      return agent;
    },
    async waitFor(what, fn, timeoutMs = 15_000) {
      return waitFor(what, fn, timeoutMs);
    },
    async describe(invokeId, extra = {}) {
      const res = await stack.call('DescribeInvocations', {
        InvokeId: invokeId,
        IncludeOutput: true,
        ContentEncoding: 'PlainText',
        ...extra,
      });
      if (res.status !== 200)
        throw new Error(`DescribeInvocations: ${res.status} ${JSON.stringify(res.body)}`);
      const list = (res.body as DescribeInvocationsAnswer).Invocations.Invocation;
      const inv = list[0];
      if (!inv) throw new Error(`no invocation ${invokeId}`);
      return inv;
    },
    async close() {
      await Promise.all(agents.map((a) => a.kill('SIGKILL')));
      // The server a test may have replaced (restarted) is the one to close.
      await stack.server.close();
      redis.disconnect();
    },
  };
  // Not enumerable: a copy of the stack (`{ ...stack, url }`) must not read it on the cluster.
  Object.defineProperty(stack, 'redisUrl', { enumerable: false });
  return stack;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout as the bytes the process wrote (stdout is their UTF-8 decoding). */
  stdoutBytes: Buffer;
}

/**
 * Starts `fleetcmd <args>` as a real process (through tsx); `onChunk` sees each stdout chunk as
 * it arrives. `done` is its exit, with stdout decoded once at the end (a chunk boundary may fall
 * inside a multi-byte character).
 */
export function spawnCli(
  args: string[],
  env: Record<string, string | undefined>,
  onChunk?: (chunk: Buffer) => void,
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => {
    out.push(d);
    onChunk?.(d);
  });
  child.stderr.on('data', (d: Buffer) => err.push(d));
  const done = (once(child, 'exit') as Promise<[number | null]>).then(([code]) => {
    const stdoutBytes = Buffer.concat(out);
    return {
      code,
      stdout: stdoutBytes.toString(),
      stderr: Buffer.concat(err).toString(),
      stdoutBytes,
    };
  });
  return { child, done };
}

/** Runs `fleetcmd <args>` as a real process (through tsx) and waits for it to exit. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<CliResult> {
  return spawnCli(args, env).done;
}

/** A response body as JSON, or `{ raw }` when it is not JSON. */
export function parseBody(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { raw: text };
  }
}

/** Polls `fn` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Whether a process exists (signal 0 probes without touching it). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** RunCommand that must succeed; returns the InvokeId. */
export async function run(stack: Stack, body: Record<string, unknown>): Promise<string> {
  const res = await stack.call('RunCommand', body);
  if (res.status !== 200) throw new Error(`RunCommand: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.InvokeId as string;
}

/** Waits until every node of the invocation is in a final state; returns the invocation. */
export async function waitFinal(
  stack: Stack,
  invokeId: string,
  timeoutMs = 20_000,
): Promise<Invocation> {
  return stack.waitFor(
    `${invokeId} to finish`,
    async () => {
      const inv = await stack.describe(invokeId);
      return inv.InvokeNodes.InvokeNode.every((n) => FINAL_NODE_STATUSES.has(n.InvocationStatus))
        ? inv
        : undefined;
    },
    timeoutMs,
  );
}

export function nodeOf(inv: Invocation, nodeId: string): InvokeNode {
  const n = inv.InvokeNodes.InvokeNode.find((x) => x.NodeId === nodeId);
  if (!n) throw new Error(`node ${nodeId} not in ${inv.InvokeId}`);
  return n;
}

/** Every row of DescribeInvocationResults for one invocation (all pages, output as text). */
export async function allResults(
  call: (action: string, body: unknown) => Promise<ApiResponse>,
  invokeId: string,
  extra: Record<string, unknown> = {},
): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  let token: string | undefined;
  do {
    const res = await call('DescribeInvocationResults', {
      InvokeId: invokeId,
      ContentEncoding: 'PlainText',
      MaxResults: 50,
      ...extra,
      ...(token ? { NextToken: token } : {}),
    });
    if (res.status !== 200) {
      throw new Error(`DescribeInvocationResults: ${res.status} ${JSON.stringify(res.body)}`);
    }
    const inv = (res.body as DescribeInvocationResultsAnswer).Invocation;
    rows.push(...inv.InvocationResults.InvocationResult);
    token = inv.NextToken;
  } while (token);
  return rows;
}

/**
 * Waits until the event relay has copied the first events of `nodes` agents (it holds a cursor
 * per node it has read). It does so within a registry refresh (~2 s) of an agent's start,
 * creating the event stream's keys: a test comparing key sets around a refused request waits
 * first, so that no background copy lands in the middle of the comparison.
 */
export async function relayCaughtUp(stack: Stack, nodes: number): Promise<void> {
  await stack.waitFor(
    `the relay past ${nodes} agents' first events`,
    async () => (await stack.redis.hlen(stack.keys.eventRelay())) >= nodes,
  );
}

/**
 * Keys that change without the request under test changing anything: BullMQ re-sets
 * `stalled-check` (with a TTL) on a timer; the audit trail records every state-changing call,
 * refused ones too (audit.test.ts checks it).
 */
export const VOLATILE_KEY_RE = /:stalled-check$|:\{global\}:audit$/;

/**
 * BullMQ keys that exist only while some job is waiting, delayed or running, and the delivery
 * deadlines (a sorted set that exists while any deadline waits).
 */
const IN_FLIGHT_KEY_RE =
  /:(?:delayed|active|wait|marker|prioritized|paused|waiting-children|lock|stalled)$|:\{global\}:deadlines$/;

/**
 * Every key under the stack's prefix, once nothing is in flight: no job waits, runs or is
 * delayed (dispatch, runs, reports) but the job schedulers' next fires, and no delivery
 * deadline waits.
 * Then nothing changes keys until a new request does, so a test can compare the set before and
 * after a request that must change nothing.
 */
export async function quietKeys(stack: Stack, timeoutMs = 20_000): Promise<string[]> {
  // SCAN is not one snapshot: a job that finishes while it runs can leave its hash listed with
  // none of the keys that show it in flight. Two equal quiet listings in a row rule that out.
  let previous: string | undefined;
  return stack.waitFor(
    'no job in flight',
    async () => {
      const keys = (await keysUnder(stack.redis, stack.prefix)).filter(
        (k) => !VOLATILE_KEY_RE.test(k),
      );
      for (const k of keys.filter((key) => IN_FLIGHT_KEY_RE.test(key))) {
        // A job scheduler (the schedulers' upkeep, a schedule) always holds its next job.
        if (!k.endsWith(':delayed')) return (previous = undefined);
        const ids = await stack.redis.zrange(k, 0, -1);
        if (!ids.every((id) => id.startsWith('repeat:'))) return (previous = undefined);
      }
      const listing = JSON.stringify(keys);
      const stable = listing === previous;
      previous = listing;
      return stable ? keys : undefined;
    },
    timeoutMs,
  );
}
