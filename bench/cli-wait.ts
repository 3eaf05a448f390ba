/**
 * The CLI beside the API: `fleetcmd run --wait` on 16 local agents against the API path
 * (RunCommand, then DescribeInvocations every 20 ms until all 16 are Success), and the CLI's
 * own start-up: `fleetcmd --help`, and a client command's time from process start to its first
 * request (a one-shot local HTTP listener notes when the request arrives).
 *
 * Rounds interleave API path, start-up and CLI path, so a ratio compares neighbours on a shared
 * machine. Target: CLI <= 2 x API + start-up (issue 25); start-up rows: <= 150 ms. `node -e 0`
 * is reported beside them: the part of start-up no CLI code can remove.
 *
 *   node --import tsx bench/cli-wait.ts [--quick]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { percentile, publish, quick, reportOnly, score, scorePairs } from './harness.js';
import { startBenchStack } from './local-stack.js';
import { REPO, sleep } from './processes.js';

const NODES = 16;
const ROUNDS = quick ? 5 : 15;
const POLL_MS = 20;
const BIN = join(REPO, 'bin', 'fleetcmd.js');
const nodeIds = Array.from({ length: NODES }, (_, i) => `cw${String(i).padStart(2, '0')}`);

/** Runs `node args` and resolves with its exit code and the milliseconds from spawn to exit. */
async function timed(args: string[], env: Record<string, string> = {}) {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, ms: performance.now() - t0, stderr };
}

/** From spawning `fleetcmd nodes` until its first request reaches a local listener. */
async function firstRequestMs(): Promise<number> {
  const server = createServer((_req, res) => res.writeHead(503).end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const arrived = once(server, 'request').then(() => performance.now());
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, 'nodes', '--url', url, '--token', 'x'], {
    stdio: 'ignore',
  });
  const at = await arrived;
  await once(child, 'exit');
  server.close();
  return at - t0;
}

const stack = await startBenchStack('cw', nodeIds, { agents: 'dist' });
const cliEnv = { FLEETCMD_URL: stack.url, FLEETCMD_API_TOKEN: stack.token };

async function apiPath(): Promise<number> {
  const t0 = performance.now();
  const r = await stack.call('RunCommand', { NodeIdList: nodeIds, CommandContent: 'hostname' });
  const id = r.InvokeId as string;
  for (;;) {
    const d = (await stack.call('DescribeInvocations', { InvokeId: id })) as {
      Invocations: { Invocation: { InvocationStatus: string }[] };
    };
    const status = d.Invocations.Invocation[0]?.InvocationStatus;
    if (status === 'Success') return performance.now() - t0;
    if (status !== 'Pending' && status !== 'Running') throw new Error(`${id} ended ${status}`);
    await sleep(POLL_MS);
  }
}

async function cliPath(): Promise<number> {
  const args = [BIN, 'run', '--nodes', nodeIds.join(','), '--wait', '--', 'hostname'];
  const r = await timed(args, cliEnv);
  if (r.code !== 0) throw new Error(`fleetcmd run --wait exited ${r.code}: ${r.stderr}`);
  return r.ms;
}

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
const r1 = (v: number) => Math.round(v * 10) / 10;

try {
  await apiPath(); // warm-up
  await cliPath();
  const api: number[] = [];
  const cli: number[] = [];
  const startup: number[] = [];
  const help: number[] = [];
  const bare: number[] = [];
  const pairs: { ours: number; baseline: number }[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const a = await apiPath();
    const s = await firstRequestMs();
    const c = await cliPath();
    help.push((await timed([BIN, '--help'])).ms);
    bare.push((await timed(['-e', '0'])).ms);
    api.push(a);
    startup.push(s);
    cli.push(c);
    pairs.push({ ours: r1(c), baseline: r1(2 * a + s) });
  }
  const rounds = `${ROUNDS} interleaved rounds, ${NODES} agents (dist), command hostname`;
  await publish([
    scorePairs(
      `cli: run --wait on ${NODES} agents vs 2x API + start-up`,
      'ms',
      pairs,
      'lower',
      1,
      `baseline per round: twice the API path (RunCommand, DescribeInvocations every ${POLL_MS} ms until Success) plus the CLI's start-up to first request; ${rounds}`,
    ),
    reportOnly(`cli: run --wait on ${NODES} agents, median`, 'ms', r1(median(cli)), rounds),
    reportOnly(`cli: API path on ${NODES} agents, median`, 'ms', r1(median(api)), rounds),
    score(
      'cli: start-up to first request, median',
      'ms',
      r1(median(startup)),
      150,
      'lower',
      1,
      `absolute target <= 150 ms: spawn of \`fleetcmd nodes\` until its request arrives; ${ROUNDS} runs`,
    ),
    score(
      'cli: fleetcmd --help, median',
      'ms',
      r1(median(help)),
      150,
      'lower',
      1,
      `absolute target <= 150 ms, spawn to exit; ${ROUNDS} runs`,
    ),
    reportOnly(
      'cli: node -e 0, median',
      'ms',
      r1(median(bare)),
      'a bare node process, spawn to exit: the floor under both start-up rows',
    ),
  ]);
} finally {
  await stack.close();
}
