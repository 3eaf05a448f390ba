import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { FINAL_NODE_STATUSES } from '../../src/domain/status.js';
import { Keys } from '../../src/store/keys.js';
import type { HeldFire } from '../../src/scheduler/test-pause.js';
import { targetEnv, type RedisTarget } from '../../src/shared/redis-target.js';
import {
  allResults,
  CLI,
  waitFor,
  type ApiResponse,
  type InvokeNode,
  type ResultRow,
} from '../helpers/stack.js';
import type { DescribeInvocationsAnswer } from '../../src/api/schemas/response.js';
import { HANG_MS, startedUrl } from '../helpers/hang.js';
import { clientOf, freshPrefix, redisTarget } from '../helpers/redis.js';

/**
 * Several `fleetcmd server` replicas as real processes against one Redis, with real agents:
 * every fire of a schedule runs exactly once per node, whichever replica's scheduler worker
 * takes it, and a replica killed mid-schedule loses nothing beyond the documented catch-up.
 * The runs are counted on disk: each run appends "<agent pid> <fire id>" to a file (a
 * command's parent is its agent's spawner, whose parent is the agent: field 4 of the
 * spawner's /proc stat attributes a line to its node).
 */

const REPLICAS = 3;
const NODES = ['rp1', 'rp2'] as const;
/** Fires each node must have run before a schedule is stopped (an every-second schedule). */
const STEADY_FIRES = 60;
/** Fires before the kill, and fires after it, in the kill test. */
const BEFORE_KILL = 15;
const AFTER_KILL = 35;
/**
 * Fires a node may skip (counted) because its previous run, a single echo, was not over a
 * second later: none on a quiet machine, a few where CI overloads it.
 */
const MAX_SKIPS = 3;
/** The replica the kill test kills (replica 0 is the client's entry point). */
const VICTIM = 2;

const PASSED_OVER = 'fire skipped: a later slot was due when its job was taken';

/** The scheduler's log line for a fire job taken after a later slot was due. */
interface PassedOver {
  fireId: string;
  supersededBy: string;
  nodes: number;
}

/** A JSON file the fire-pause hook wrote, once it is there. */
async function readJson<T>(path: string): Promise<T | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

interface Proc {
  name: string;
  child: ChildProcess;
  log: () => string;
}

/** What one node's lines on disk say about a schedule. */
interface Tally {
  runs: number;
  fires: string[];
  duplicates: string[];
  /** Whole seconds missing between consecutive fires, and which. */
  gaps: number;
  missing: string[];
  offSecond: string[];
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** A child in its own process group, so it and anything it started can be killed together. */
function spawnProc(name: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  return { name, child, log: () => log };
}

/** SIGKILLs the process group and waits for the process to be gone. */
async function killProc(p: Proc): Promise<void> {
  if (exited(p.child) || p.child.pid === undefined) return;
  const gone = once(p.child, 'exit');
  try {
    if (p.child.pid !== undefined) process.kill(-p.child.pid, 'SIGKILL');
  } catch {
    p.child.kill('SIGKILL');
  }
  await gone;
}

async function waitStarted(p: Proc, marker: string): Promise<void> {
  await waitFor(
    `${p.name} to start`,
    async () => {
      if (exited(p.child)) throw new Error(`${p.name} exited: ${p.log()}`);
      return p.log().includes(marker);
    },
    60_000,
    100,
  );
}

/** A process's complete output lines, each with its pino level (undefined: not a log line). */
function logLines(p: Proc): { line: string; level: number | undefined }[] {
  const lines = p.log().split('\n').slice(0, -1);
  return lines
    .filter((l) => l.trim() !== '')
    .map((line) => {
      try {
        const level = (JSON.parse(line) as { level?: unknown }).level;
        return { line, level: typeof level === 'number' ? level : undefined };
      } catch {
        return { line, level: undefined };
      }
    });
}

/** Lines at level error (50) or above, or not from the logger at all (a crash, a trace). */
function errorLines(p: Proc): string[] {
  return logLines(p)
    .filter((l) => l.level === undefined || l.level >= 50)
    .map((l) => l.line);
}

function warnLines(p: Proc): string[] {
  return logLines(p)
    .filter((l) => l.level === 40)
    .map((l) => l.line);
}

/** Every line on disk as [agent pid, fire id]. */
async function diskRuns(file: string): Promise<[string, string][]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [pid = '', fire = ''] = l.split(' ');
      return [pid, fire];
    });
}

function tally(fires: string[]): Tally {
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const f of fires) {
    if (seen.has(f)) duplicates.push(f);
    seen.add(f);
  }
  const ms = [...seen].map((f) => Number(f.slice(1))).sort((a, b) => a - b);
  const missing: string[] = [];
  for (let i = 1; i < ms.length; i++) {
    for (let t = (ms[i - 1] ?? 0) + 1000; t < (ms[i] ?? 0); t += 1000) missing.push(`f${t}`);
  }
  return {
    runs: fires.length,
    fires: ms.map((m) => `f${m}`),
    duplicates,
    gaps: missing.length,
    missing,
    offSecond: fires.filter((f) => !/^f\d+$/.test(f) || Number(f.slice(1)) % 1000 !== 0),
  };
}

void describe(`${REPLICAS} server replicas as real processes`, () => {
  const token = randomBytes(12).toString('hex');
  const replicas: Proc[] = [];
  const agents = new Map<string, Proc>();
  const procs: Proc[] = [];
  /** Processes a test killed on purpose. */
  const killed = new Set<Proc>();
  let dir: string | undefined;
  let apiUrl: string;
  let prefix = '';
  let redisAt: RedisTarget | undefined;
  /** The victim's fire-pause file (FLEETCMD_TEST_PAUSE_IN_FIRE), armed by the kill test. */
  const pausePath = () => join(dir ?? '', 'pause');
  const killAll = () => {
    for (const p of procs) {
      if (exited(p.child) || p.child.pid === undefined) continue;
      try {
        process.kill(-p.child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  };

  async function call(action: string, body: unknown): Promise<ApiResponse> {
    const res = await fetch(`${apiUrl}/v1/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
    } catch {
      return { status: res.status, body: { raw: text } };
    }
  }

  async function nodesOf(invokeId: string): Promise<InvokeNode[]> {
    const res = await call('DescribeInvocations', { InvokeId: invokeId });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const inv = (res.body as DescribeInvocationsAnswer).Invocations.Invocation[0];
    assert.ok(inv, `invocation ${invokeId} listed`);
    return inv.InvokeNodes.InvokeNode;
  }

  async function results(invokeId: string, history: boolean): Promise<ResultRow[]> {
    return allResults(call, invokeId, { IncludeHistory: history });
  }

  /** The runs on disk, per node (lines from an unknown pid are kept under their pid). */
  async function runsByNode(file: string): Promise<Map<string, string[]>> {
    const nodeOfPid = new Map([...agents].map(([node, p]) => [String(p.child.pid), node]));
    const out = new Map<string, string[]>(NODES.map((n) => [n, []]));
    for (const [pid, fire] of await diskRuns(file)) {
      const key = nodeOfPid.get(pid) ?? `pid ${pid}`;
      out.set(key, [...(out.get(key) ?? []), fire]);
    }
    return out;
  }

  async function startSchedule(file: string): Promise<string> {
    const res = await call('RunCommand', {
      NodeIdList: [...NODES],
      Frequency: '* * * * * *',
      // The fire id also goes to the output, so each recorded run says which fire it was.
      CommandContent:
        `echo "$(cut -d ' ' -f 4 /proc/$PPID/stat) $FLEETCMD_FIRE_ID" >> ${file}; ` +
        'echo "$FLEETCMD_FIRE_ID"',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.InvokeId as string;
  }

  async function waitFires(file: string, what: string, enough: (fires: string[]) => boolean) {
    await waitFor(
      what,
      async () => {
        // A crash fails the test at once rather than at the timeout.
        const dead = procs.find((p) => exited(p.child) && !killed.has(p));
        if (dead) throw new Error(`${dead.name} exited: ${dead.log()}`);
        const by = await runsByNode(file);
        return NODES.every((n) => enough(by.get(n) ?? []));
      },
      // An every-second schedule: generous, for a loaded CI machine.
      120_000,
      100,
    );
  }

  /**
   * Stops the schedule and waits until every node is settled and its run count is on disk;
   * returns each node's tally with its record's Repeats and SkippedRepeats.
   */
  async function stopAndSettle(invokeId: string, file: string) {
    const res = await call('StopInvocation', { InvokeId: invokeId });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const nodes = await waitFor(
      'every node settled, its runs on disk',
      async () => {
        const ns = await nodesOf(invokeId);
        if (!ns.every((n) => FINAL_NODE_STATUSES.has(n.InvocationStatus))) return undefined;
        const by = await runsByNode(file);
        // A run stopped before its echo leaves no line: Terminated, one fewer on disk.
        return ns.every((n) => {
          const onDisk = (by.get(n.NodeId) ?? []).length;
          return (
            onDisk === n.Repeats ||
            (n.InvocationStatus === 'Terminated' && onDisk === n.Repeats - 1)
          );
        })
          ? ns
          : undefined;
      },
      30_000,
      100,
    );
    const current = await results(invokeId, false);
    const history = await results(invokeId, true);
    const by = await runsByNode(file);
    const unknown = [...by.keys()].filter((k) => !(NODES as readonly string[]).includes(k));
    assert.deepEqual(unknown, [], 'every line on disk comes from one of the agents');
    return NODES.map((nodeId) => {
      const n = nodes.find((x) => x.NodeId === nodeId);
      assert.ok(n, `${nodeId} in the invocation`);
      assert.equal(n.Timed, 'false');
      const row = current.find((r) => r.NodeId === nodeId);
      assert.ok(row, `${nodeId} has a result row`);
      const recorded = history
        .filter((r) => r.NodeId === nodeId)
        .map((r) => ({
          ran: r.Output.trim(),
          fireTime: r.FireTime,
          status: r.InvocationStatus,
        }));
      return {
        nodeId,
        status: n.InvocationStatus,
        repeats: n.Repeats,
        skipped: row.SkippedRepeats,
        recorded,
        ...tally(by.get(nodeId) ?? []),
      };
    });
  }

  /**
   * The checks both tests share: no fire ran twice on the node, and the records agree with the
   * disk (Repeats, and each recorded run: the fire it ran, said by its output, and FireTime).
   */
  function checkOnce(
    t: ReturnType<typeof tally> & {
      nodeId: string;
      status: string;
      repeats: number;
      recorded: { ran: string; fireTime: string; status: string }[];
    },
  ) {
    assert.deepEqual(t.duplicates, [], `${t.nodeId}: no fire ran twice`);
    assert.deepEqual(t.offSecond, [], `${t.nodeId}: fire ids are whole seconds`);
    assert.ok(
      t.runs === t.repeats || (t.status === 'Terminated' && t.runs === t.repeats - 1),
      `${t.nodeId}: ${t.runs} runs on disk, Repeats ${t.repeats} (${t.status})`,
    );
    const onDisk = new Set(t.fires);
    const done = t.recorded.filter((r) => r.status === 'Success');
    assert.deepEqual(
      done.filter((r) => !onDisk.has(r.ran)),
      [],
      `${t.nodeId}: successful runs whose line is not on disk`,
    );
    const ran = new Set(t.recorded.map((r) => r.ran));
    assert.deepEqual(
      t.fires.filter((f) => !ran.has(f)),
      [],
      `${t.nodeId}: lines on disk without a recorded run`,
    );
    assert.deepEqual(
      done
        .filter(
          (r) => r.fireTime !== new Date(Number(r.ran.slice(1))).toISOString().replace('.000', ''),
        )
        .map((r) => `the run of ${r.ran} has FireTime ${r.fireTime}`),
      [],
      `${t.nodeId}: recorded runs whose FireTime is not the fire they ran`,
    );
  }

  before(async () => {
    const target = await redisTarget();
    prefix = freshPrefix();
    redisAt = target;
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-replicas-'));
    process.once('exit', killAll);
    const common = {
      ...targetEnv(target),
      FLEETCMD_PREFIX: prefix,
      FLEETCMD_HEARTBEAT_SECONDS: '1',
      LOG_LEVEL: 'info',
      FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'true',
    };
    for (let i = 0; i < REPLICAS; i++) {
      const p = spawnProc(`replica ${i}`, ['server'], {
        ...common,
        FLEETCMD_ROLE: 'all',
        PORT: '0',
        FLEETCMD_HOST: '127.0.0.1',
        FLEETCMD_API_TOKEN: token,
        FLEETCMD_MIN_INTERVAL_SECONDS: '1',
        FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '10',
        FLEETCMD_HISTORY_RUNS: '500',
        // The replica the kill test kills holds a fire in its handler once the test arms this.
        ...(i === VICTIM ? { FLEETCMD_TEST_PAUSE_IN_FIRE: pausePath() } : {}),
      });
      replicas.push(p);
      procs.push(p);
    }
    for (const nodeId of NODES) {
      const p = spawnProc(`agent ${nodeId}`, ['agent', '--node-id', nodeId], common);
      agents.set(nodeId, p);
      procs.push(p);
    }
    await Promise.all([
      ...replicas.map((p) => waitStarted(p, '"server started"')),
      ...[...agents.values()].map((p) => waitStarted(p, '"agent started"')),
    ]);
    // Replica 0 is the client's entry point and is never killed.
    apiUrl = await waitFor(
      'replica 0 URL',
      async () => startedUrl(replicas[0]?.log() ?? ''),
      HANG_MS,
    );
    for (const nodeId of NODES) {
      await waitFor(
        `${nodeId} online`,
        async () => {
          const res = await call('DescribeNodes', { NodeId: nodeId });
          const row = (res.body.Nodes as { Node: { Online: boolean }[] } | undefined)?.Node[0];
          return row?.Online === true;
        },
        15_000,
        100,
      );
    }
  });

  after(async () => {
    await Promise.all(procs.map(killProc));
    process.removeListener('exit', killAll);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  void it('an every-second schedule runs exactly once per node per fire over 60 s (runs counted on disk)', async (t) => {
    const file = join(dir ?? '', 'steady.log');
    const t0 = Date.now();
    const id = await startSchedule(file);
    await waitFires(file, `${STEADY_FIRES} fires on each node`, (f) => f.length >= STEADY_FIRES);
    const tallies = await stopAndSettle(id, file);
    for (const tl of tallies) {
      t.diagnostic(
        `${tl.nodeId}: ${tl.runs} runs on disk, ${tl.fires.length} fires ` +
          `(${tl.fires[0]}..${tl.fires.at(-1)}), duplicates ${tl.duplicates.length}, ` +
          `gaps ${tl.gaps}, Repeats ${tl.repeats}, SkippedRepeats ${tl.skipped}, ${tl.status}`,
      );
    }
    t.diagnostic(`wall ${Date.now() - t0} ms`);
    for (const tl of tallies) {
      checkOnce(tl);
      assert.ok(tl.runs >= STEADY_FIRES, `${tl.nodeId}: ${tl.runs} runs`);
      // Every second between the first fire and the last ran on the node, but for fires
      // skipped (and counted) because the previous run was not over yet: a fast command makes
      // those rare, only where the machine is overloaded.
      assert.equal(
        tl.gaps,
        tl.skipped,
        `${tl.nodeId}: fires that never ran: ${tl.missing.join(', ')}; ${tl.skipped} counted as skipped`,
      );
      assert.ok(tl.skipped <= MAX_SKIPS, `${tl.nodeId}: ${tl.skipped} fires skipped`);
    }
    // One fire fans out to both nodes: the nodes ran the same fires (the stop may come between
    // the two nodes of the last fire).
    const [a, b] = tallies;
    assert.ok(a && b);
    const onlyOne = [
      ...a.fires.filter((f) => !b.fires.includes(f)),
      ...b.fires.filter((f) => !a.fires.includes(f)),
    ];
    const last = [...a.fires, ...b.fires].sort().at(-1);
    assert.ok(
      onlyOne.length === 0 || (onlyOne.length === 1 && onlyOne[0] === last),
      `fires run on one node only: ${onlyOne.join(', ')}`,
    );
    for (const p of replicas) {
      assert.equal(exited(p.child), false, `${p.name} still runs`);
      assert.deepEqual(errorLines(p), [], `${p.name} logged no error`);
      const warns = warnLines(p);
      t.diagnostic(
        `${p.name}: ${warns.length} warnings${warns.length ? `: ${warns.slice(0, 5).join(' | ')}` : ''}`,
      );
    }
  });

  /** A scheduler-queue job's BullMQ state ('unknown' once removed). */
  async function schedulerJobState(jobId: string): Promise<string> {
    const keys = new Keys(prefix);
    if (redisAt === undefined) throw new Error('the Redis target is not set: before() failed');
    const redis = clientOf(redisAt);
    const q = new Queue(keys.schedulerQueueName(), {
      connection: redis,
      prefix: keys.schedulerQueuePrefix(),
    });
    try {
      return await q.getJobState(jobId);
    } finally {
      await q.close();
      redis.disconnect();
    }
  }

  /** The log line of a fire job taken after its slot passed, for `slot`, from any replica. */
  function passedOverLine(slot: string): PassedOver | undefined {
    for (const p of replicas) {
      for (const { line } of logLines(p)) {
        if (!line.includes(PASSED_OVER)) continue;
        const entry = JSON.parse(line) as PassedOver;
        if (entry.fireId === slot) return entry;
      }
    }
    return undefined;
  }

  void it('a replica killed inside a fire handler loses that one slot only; the schedule goes on, the job is taken again', async (t) => {
    const file = join(dir ?? '', 'kill.log');
    const t0 = Date.now();
    const id = await startSchedule(file);
    await waitFires(file, `${BEFORE_KILL} fires on each node`, (f) => f.length >= BEFORE_KILL);
    // Arm the victim's hook: the next fire it takes holds in its handler, after BullMQ handed it
    // out (and queued the schedule's next fire) and before its fan-out. The kill lands there.
    await writeFile(pausePath(), '');
    const held = await waitFor(
      'the victim to hold a fire in its handler',
      async () => readJson<HeldFire>(`${pausePath()}.held`),
      HANG_MS,
      100,
    );
    const victim = replicas[VICTIM];
    assert.ok(victim);
    assert.equal(held.pid, victim.child.pid, 'the victim holds it');
    assert.equal(held.invokeId, id);
    const slot = `f${held.fireMs}`;
    const killedAt = Date.now();
    killed.add(victim);
    await killProc(victim);
    t.diagnostic(`killed ${victim.name} holding ${slot} at ${new Date(killedAt).toISOString()}`);
    await waitFires(
      file,
      `${AFTER_KILL} fires on each node after the kill`,
      (f) => f.filter((x) => Number(x.slice(1)) > killedAt).length >= AFTER_KILL,
    );
    // Once its lock lapsed, another replica takes the held job again (BullMQ's stalled check)
    // and completes it: its slot passed long ago and the slots since were fired by their own
    // jobs, so it finds nothing left to fire (below: nothing ran twice).
    const state = await waitFor(
      `the held fire job ${held.jobId} taken again and finished`,
      async () => {
        const st = await schedulerJobState(held.jobId ?? '');
        return st === 'active' || st === 'waiting' || st === 'delayed' ? undefined : st;
      },
      HANG_MS,
      200,
    );
    assert.notEqual(state, 'failed', 'the held fire job failed');
    assert.equal(passedOverLine(slot), undefined, 'no catch-up fired for the held slot');
    const tallies = await stopAndSettle(id, file);
    for (const tl of tallies) {
      const before = tl.fires.filter((f) => Number(f.slice(1)) <= killedAt).length;
      t.diagnostic(
        `${tl.nodeId}: ${tl.runs} runs on disk, ${tl.fires.length} fires ` +
          `(${before} before the kill), duplicates ${tl.duplicates.length}, gaps ${tl.gaps} ` +
          `[${tl.missing.join(', ')}], Repeats ${tl.repeats}, SkippedRepeats ${tl.skipped}, ${tl.status}`,
      );
    }
    t.diagnostic(`wall ${Date.now() - t0} ms`);
    for (const tl of tallies) {
      checkOnce(tl);
      // The held slot never ran (and is not counted skipped: its job, taken again, fired
      // nothing); the schedule did not pause: every other second ran but for fires skipped
      // (counted) while the previous run went on.
      assert.ok(tl.missing.includes(slot), `${tl.nodeId}: ${slot} ran`);
      assert.equal(
        tl.gaps,
        tl.skipped + 1,
        `${tl.nodeId}: fires lost: ${tl.missing.join(', ')}; ${tl.skipped} counted as skipped`,
      );
      assert.ok(tl.skipped <= MAX_SKIPS, `${tl.nodeId}: ${tl.skipped} fires skipped`);
    }
    for (const p of replicas) {
      if (p === victim) continue;
      assert.equal(exited(p.child), false, `${p.name} still runs`);
      assert.deepEqual(errorLines(p), [], `${p.name} logged no error`);
      const warns = warnLines(p);
      t.diagnostic(
        `${p.name}: ${warns.length} warnings${warns.length ? `: ${warns.slice(0, 5).join(' | ')}` : ''}`,
      );
    }
  });
});
