import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue, type Job } from 'bullmq';
import { Metrics } from '../../src/api/plugins/metrics.js';
import { makeLogger } from '../../src/shared/log.js';
import { Scheduler } from '../../src/scheduler/worker.js';
import { FIRE_LEAD_MS } from '../../src/domain/schedule-plan.js';
import {
  allResults,
  makeStack,
  nodeOf,
  run,
  type ResultRow,
  type Stack,
} from '../helpers/stack.js';
import { withStores } from '../helpers/stores.js';
import { openGate } from '../helpers/events.js';
import { HANG_MS } from '../helpers/hang.js';
import type { HeldFire } from '../../src/scheduler/test-pause.js';

/** Lines a command appended to `file` (one per run), or [] before the first. */
async function lines(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '');
}

/** Appends "<fire id> <start, epoch ms>" per run: when each run's command started. */
function logStart(file: string): string {
  return `echo "$FLEETCMD_FIRE_ID $(date +%s%3N)" >> ${file}`;
}

/** A JSON file the pause hook wrote, once it is there. */
async function readJson<T>(path: string): Promise<T | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

/** Fire jobs of an invocation still on the scheduler queue (waiting, delayed or being handled). */
async function fireJobsLeft(stack: Stack, invokeId: string): Promise<number> {
  const q = new Queue(stack.keys.schedulerQueueName(), {
    connection: stack.redis,
    prefix: stack.keys.schedulerQueuePrefix(),
  });
  try {
    const jobs = await q.getJobs(['waiting', 'delayed', 'active', 'prioritized']);
    return jobs.filter(
      (j) =>
        ['fire', 'fireAhead'].includes(j.name) &&
        (j.data as { invokeId?: string }).invokeId === invokeId,
    ).length;
  } finally {
    await q.close();
  }
}

/** Appends the fire id to a file per run: the runs on disk, counted by the tests. */
function logRun(file: string): string {
  return `echo "$FLEETCMD_FIRE_ID" >> ${file}`;
}

async function results(
  stack: Stack,
  invokeId: string,
  extra: Record<string, unknown> = {},
): Promise<ResultRow[]> {
  return allResults((action, body) => stack.call(action, body), invokeId, extra);
}

/** BullMQ job schedulers of invocations (the schedulers' own upkeep is not counted). */
async function schedulerCount(stack: Stack): Promise<number> {
  const q = new Queue(stack.keys.schedulerQueueName(), {
    connection: stack.redis,
    prefix: stack.keys.schedulerQueuePrefix(),
  });
  try {
    return (await q.getJobSchedulers()).filter((j) => j.key.startsWith('s-')).length;
  } finally {
    await q.close();
  }
}

void describe('Period invocations', () => {
  let stack: Stack;
  let dir: string;
  /** The fire-pause hook's file (FLEETCMD_TEST_PAUSE_IN_FIRE): armed only by the test using it. */
  const pause = join(tmpdir(), `fleetcmd-pause-${randomBytes(6).toString('hex')}`);

  before(async () => {
    stack = await makeStack({
      FLEETCMD_TEST_PAUSE_IN_FIRE: pause,
      FLEETCMD_MIN_INTERVAL_SECONDS: '1',
      FLEETCMD_HISTORY_RUNS: '3',
      FLEETCMD_HISTORY_SECONDS: '600',
    });
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-sched-'));
    await stack.startAgent('p1');
    await stack.startAgent('p2');
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('fires every second on each node, counts Repeats, and no run starts after the stop answered', async () => {
    const file = join(dir, 'every');
    const id = await run(stack, {
      NodeIdList: ['p1', 'p2'],
      // A Frequency alone makes the invocation Period.
      Frequency: '* * * * * *',
      CommandContent: logStart(file),
    });
    const inv0 = await stack.describe(id);
    assert.equal(inv0.RepeatMode, 'Period');
    assert.equal(inv0.Frequency, '* * * * * *');
    await stack.waitFor('three runs on disk', async () => (await lines(file)).length >= 6, 20_000);

    const inv = await stack.describe(id);
    assert.equal(inv.InvokeStatus, 'Running');
    assert.ok(['Scheduled', 'Running', 'Pending'].includes(inv.InvocationStatus));
    for (const n of inv.InvokeNodes.InvokeNode) {
      assert.equal(n.Timed, 'true');
      assert.ok(n.Repeats >= 2, `${n.NodeId} ran ${n.Repeats} times`);
    }

    const stop = await stack.call('StopInvocation', { InvokeId: id });
    const answeredMs = Date.now();
    assert.equal(stop.status, 200);
    const after1 = await stack.describe(id);
    for (const n of after1.InvokeNodes.InvokeNode) {
      assert.equal(n.Timed, 'false');
      assert.ok(
        ['Cancelled', 'Stopping', 'Terminated'].includes(n.InvocationStatus),
        n.InvocationStatus,
      );
    }
    // Nothing can fire any more once every node is final and no fire job of the invocation is
    // left on the scheduler queue (not waiting, delayed nor being handled): then the disk is read.
    const final = await stack.waitFor(
      'every node final and no fire job left',
      async () => {
        const d = await stack.describe(id);
        const settled = d.InvokeNodes.InvokeNode.every((n) =>
          ['Cancelled', 'Terminated', 'Success', 'Failed'].includes(n.InvocationStatus),
        );
        return settled && (await fireJobsLeft(stack, id)) === 0 && d;
      },
      HANG_MS,
    );
    // Each line is "<fire id> <start ms>": no run started after the answer, and no slot later
    // than the one current at the answer ran at all.
    const runs = (await lines(file)).map((l) => l.split(' ').map((x) => x.replace(/^f/, '')));
    assert.deepEqual(
      runs.filter(([, start]) => Number(start) >= answeredMs),
      [],
      `runs started after StopInvocation answered at ${answeredMs}`,
    );
    assert.deepEqual(
      runs.filter(([fireMs]) => Number(fireMs) > answeredMs),
      [],
      'slots after the answer that ran',
    );
    // Every run counted in Repeats wrote its line, but a run the stop killed before its echo.
    const repeats = final.InvokeNodes.InvokeNode.reduce((a, n) => a + n.Repeats, 0);
    const terminated = final.InvokeNodes.InvokeNode.filter(
      (n) => n.InvocationStatus === 'Terminated',
    ).length;
    assert.ok(
      runs.length <= repeats && repeats <= runs.length + terminated,
      `${runs.length} on disk, Repeats ${repeats}, ${terminated} Terminated`,
    );
    // Each fire ran once on each node; the stop may come between the two nodes of the last one.
    const perFire = new Map<string, number>();
    for (const [f = ''] of runs) perFire.set(f, (perFire.get(f) ?? 0) + 1);
    const last = [...perFire.keys()].sort().at(-1);
    assert.deepEqual(
      [...perFire].filter(([f, n]) => n > 2 || (n < 2 && f !== last)),
      [],
      'fires that ran more than once on a node, or on one node only before the last',
    );
    assert.equal(final.InvokeStatus, 'Stopped');
    assert.equal(await schedulerCount(stack), 0, 'schedulers removed');
  });

  void it('a fire job held in its handler across StopInvocation starts no run once released', async () => {
    const file = join(dir, 'held');
    const id = await run(stack, {
      NodeIdList: ['p1', 'p2'],
      Frequency: '* * * * * *',
      CommandContent: logStart(file),
    });
    await stack.waitFor('a run on each node', async () => (await lines(file)).length >= 2, 20_000);
    // Arm the hook: the next fire this server handles holds before its fan-out.
    await writeFile(pause, '');
    const held = await stack.waitFor(
      'a fire held in its handler',
      async () => readJson<HeldFire>(`${pause}.held`),
      HANG_MS,
    );
    assert.equal(held.invokeId, id);
    const stop = await stack.call('StopInvocation', { InvokeId: id });
    const answeredMs = Date.now();
    assert.equal(stop.status, 200);
    await openGate(`${pause}.go`);
    const done = await stack.waitFor(
      'the held fire handled',
      async () => readJson<HeldFire & { fired: number }>(`${pause}.done`),
      HANG_MS,
    );
    assert.equal(done.fired, 0, 'no node took the held fire after the stop');
    await stack.waitFor(
      'no fire job left',
      async () => (await fireJobsLeft(stack, id)) === 0,
      HANG_MS,
    );
    const runs = (await lines(file)).map((l) => l.split(' '));
    assert.deepEqual(
      runs.filter(([fire]) => fire === `f${held.fireMs}`),
      [],
      `the held fire f${held.fireMs} ran`,
    );
    assert.deepEqual(
      runs.filter(([, start]) => Number(start) >= answeredMs),
      [],
      'runs started after the stop answered',
    );
    const history = await results(stack, id, { IncludeHistory: true });
    assert.deepEqual(
      history.filter((r) => r.FireTime === new Date(held.fireMs).toISOString().replace('.000', '')),
      [],
      'a result row for the held fire',
    );
    for (const p of ['.held', '.claimed']) await rm(`${pause}${p}`, { force: true });
    await rm(`${pause}.done`, { force: true });
  });

  void it('skips a fire while the previous run is still going, and counts it', async () => {
    const file = join(dir, 'overlap');
    const id = await run(stack, {
      NodeIdList: ['p1'],
      Frequency: '* * * * * *',
      CommandContent: `${logRun(file)}; sleep 2.5`,
    });
    await stack.waitFor('two runs', async () => (await lines(file)).length >= 2, 20_000);
    const rows = await results(stack, id);
    const row = rows[0];
    assert.ok(row);
    assert.ok(row.SkippedRepeats >= 1, `skipped ${row.SkippedRepeats}`);
    await stack.call('StopInvocation', { InvokeId: id });
    const stopped = await stack.waitFor('stopped', async () => {
      const n = nodeOf(await stack.describe(id), 'p1');
      return n.InvocationStatus === 'Terminated' || n.InvocationStatus === 'Cancelled'
        ? n
        : undefined;
    });
    assert.equal(stopped.Timed, 'false');
    const fires = await lines(file);
    assert.equal(new Set(fires).size, fires.length, 'no fire ran twice');
  });

  void it('keeps one history record per run, bounded by FLEETCMD_HISTORY_RUNS', async () => {
    const id = await run(stack, {
      NodeIdList: ['p1'],
      Frequency: '* * * * * *',
      CommandContent: 'echo "run $FLEETCMD_FIRE_ID"; exit 3',
    });
    await stack.waitFor(
      'five runs',
      async () => nodeOf(await stack.describe(id), 'p1').Repeats >= 5,
      20_000,
    );
    // Paging one row at a time while new runs keep arriving neither repeats nor skips a run.
    const paged = await results(stack, id, { IncludeHistory: true, MaxResults: 1 });
    const pastOutputs = paged.filter((h) => h.Output !== '').map((h) => h.Output);
    assert.equal(new Set(pastOutputs).size, pastOutputs.length, JSON.stringify(pastOutputs));
    const tampered = Buffer.from(JSON.stringify({ node: 0, seq: -1, f: 'x' })).toString(
      'base64url',
    );
    const bad = await stack.call('DescribeInvocationResults', {
      InvokeId: id,
      NextToken: tampered,
    });
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.Message), /NextToken/);
    await stack.call('StopInvocation', { InvokeId: id });
    await stack.waitFor('stopped', async () =>
      ['Cancelled', 'Terminated'].includes(nodeOf(await stack.describe(id), 'p1').InvocationStatus),
    );
    const history = await results(stack, id, { IncludeHistory: true });
    assert.ok(history.length <= 3 + 1, `${history.length} rows`);
    assert.ok(history.length >= 3);
    const past = history.filter((h) => h.InvocationStatus === 'Failed');
    assert.ok(past.length >= 2, JSON.stringify(history));
    for (const h of past) {
      assert.equal(h.ExitCode, 3);
      assert.match(h.Output, /^run f\d+\n$/);
      assert.equal(h.Dropped, 0);
      assert.ok(h.StartTime <= h.FinishedTime);
      // FireTime is when that run's own fire was due (its id is f<due ms>).
      const due = Number(/run f(\d+)/.exec(h.Output)?.[1]);
      assert.equal(
        h.FireTime,
        new Date(Math.floor(due / 1000) * 1000).toISOString().replace('.000', ''),
      );
    }
    // Bounded by age too: each kept run expires FLEETCMD_HISTORY_SECONDS after it ended.
    const seqs = await stack.redis.lrange(stack.keys.runHistory('p1', id), 0, -1);
    assert.equal(seqs.length, 3, 'FLEETCMD_HISTORY_RUNS entries kept');
    for (const seq of seqs) {
      const ttl = await stack.redis.pttl(stack.keys.runHistoryEntry('p1', id, Number(seq)));
      assert.ok(ttl > 0 && ttl <= 600_000, `entry ${seq} expires in ${ttl} ms`);
    }
    const oldest = Math.min(...seqs.map(Number));
    assert.equal(await stack.redis.exists(stack.keys.runHistoryEntry('p1', id, oldest - 1)), 0);
    // Newest first, and each a different fire.
    const fires = past.map((h) => h.Output);
    assert.equal(new Set(fires).size, fires.length);
    const starts = past.map((h) => h.StartTime);
    assert.deepEqual([...starts].sort().reverse(), starts);
  });

  void it("at(): runs once at that moment, then ends with the run's status", async () => {
    const when = new Date(Date.now() + 2_500);
    const text = when.toISOString().slice(0, 19).replace('T', ' ');
    const id = await run(stack, {
      NodeIdList: ['p1', 'p2'],
      Frequency: `at(${text})`,
      CommandContent: 'echo at-ran',
    });
    const before = await stack.describe(id);
    assert.equal(before.RepeatMode, 'Period');
    for (const n of before.InvokeNodes.InvokeNode) assert.equal(n.Repeats, 0);
    const inv = await stack.waitFor(
      'the at() run to end',
      async () => {
        const i = await stack.describe(id);
        return i.InvokeStatus === 'Finished' ? i : undefined;
      },
      20_000,
    );
    for (const n of inv.InvokeNodes.InvokeNode) {
      assert.equal(n.InvocationStatus, 'Success');
      assert.equal(n.Repeats, 1);
      assert.equal(n.Timed, 'false');
      assert.equal(n.Output, 'at-ran\n');
      assert.ok(Date.parse(n.StartTime) >= Math.floor(when.getTime() / 1000) * 1000);
    }
    assert.equal(inv.InvocationStatus, 'Success');
  });

  void it('rate(): first run one period after creation, then every period', async () => {
    const file = join(dir, 'rate');
    const before = Date.now();
    const id = await run(stack, {
      NodeIdList: ['p2'],
      Frequency: 'rate(2s)',
      CommandContent: logRun(file),
    });
    const after = Date.now();
    await stack.waitFor('three runs', async () => (await lines(file)).length >= 3, 20_000);
    await stack.call('StopInvocation', { InvokeId: id });
    const due = (await lines(file)).map((f) => Number(f.slice(1)));
    // Due times are creation + k·2 s: the first one period after creation, then 2 s apart.
    const first = due[0] ?? 0;
    assert.ok(first >= before + 2_000 - 50 && first <= after + 2_000 + 50, `${first - before}`);
    for (let i = 1; i < due.length; i++) assert.equal((due[i] ?? 0) - (due[i - 1] ?? 0), 2_000);
  });
});

void describe('NextRebootOnly and EveryReboot', () => {
  let stack: Stack;
  let dir: string;

  before(async () => {
    stack = await makeStack();
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-boot-'));
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('run at a boot (a new boot id), not at creation or an agent restart', async () => {
    let agent = await stack.startAgent('b1', { FLEETCMD_BOOT_ID: 'boot-1' });
    const onceFile = join(dir, 'next');
    const everyFile = join(dir, 'every');
    const next = await run(stack, {
      NodeIdList: ['b1'],
      RepeatMode: 'NextRebootOnly',
      CommandContent: logRun(onceFile),
    });
    const every = await run(stack, {
      NodeIdList: ['b1'],
      RepeatMode: 'EveryReboot',
      CommandContent: logRun(everyFile),
    });
    const restart = async (bootId: string) => {
      await agent.kill('SIGTERM');
      agent = await stack.startAgent('b1', { FLEETCMD_BOOT_ID: bootId });
    };
    const node = async (id: string) => nodeOf(await stack.describe(id), 'b1');

    // Not at creation.
    await stack.waitFor('records', async () => (await node(next)).InvocationStatus === 'Scheduled');
    await new Promise((r) => setTimeout(r, 1_500));
    for (const id of [next, every]) {
      const n = await node(id);
      assert.equal(n.InvocationStatus, 'Scheduled');
      assert.equal(n.Repeats, 0);
      assert.equal(n.Timed, 'true');
    }
    // An agent restart on the same boot triggers nothing.
    await restart('boot-1');
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(await lines(onceFile), []);
    assert.deepEqual(await lines(everyFile), []);

    // A reboot runs both.
    await restart('boot-2');
    await stack.waitFor(
      'both ran',
      async () => (await lines(everyFile)).length === 1 && (await lines(onceFile)).length === 1,
    );
    const done = await stack.waitFor('NextRebootOnly finished', async () => {
      const n = await node(next);
      return n.InvocationStatus === 'Success' ? n : undefined;
    });
    assert.equal(done.Timed, 'false');
    assert.equal(done.Repeats, 1);
    assert.equal((await stack.describe(next)).InvokeStatus, 'Finished');
    const e = await stack.waitFor('EveryReboot back to Scheduled', async () => {
      const n = await node(every);
      return n.InvocationStatus === 'Scheduled' && n.Repeats === 1 ? n : undefined;
    });
    assert.equal(e.Timed, 'true');
    assert.equal((await stack.describe(every)).InvokeStatus, 'Running');

    // The next reboot runs EveryReboot again, and NextRebootOnly no more.
    await restart('boot-3');
    // Repeats counts the run when it is claimed: its line on disk follows when the command ran,
    // and the record goes back to Scheduled when the run has ended (a stop before that would
    // find it Running and end it Terminated).
    await stack.waitFor('EveryReboot ran again, its line on disk, the run ended', async () => {
      const n = await node(every);
      return (
        n.Repeats === 2 &&
        n.InvocationStatus === 'Scheduled' &&
        (await lines(everyFile)).length === 2
      );
    });
    assert.equal((await lines(onceFile)).length, 1);
    const bootFires = await lines(everyFile);
    assert.equal(new Set(bootFires).size, 2, 'each boot is its own fire');

    // Stopped: no boot runs it any more.
    assert.equal((await stack.call('StopInvocation', { InvokeId: every })).status, 200);
    const stopped = await node(every);
    assert.equal(stopped.InvocationStatus, 'Cancelled');
    assert.equal(stopped.Timed, 'false');
    await restart('boot-4');
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal((await lines(everyFile)).length, 2);
    assert.equal((await node(every)).Repeats, 2);
  });
});

/** The hour now in `zone` (0-23). */
function hourIn(zone: string, ms = Date.now()): number {
  return Number(
    new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', hourCycle: 'h23' }).format(
      ms,
    ),
  );
}

void describe('time zones', () => {
  let stack: Stack;
  let dir: string;

  before(async () => {
    stack = await makeStack({ FLEETCMD_MIN_INTERVAL_SECONDS: '1' });
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-tz-'));
    await stack.startAgent('tokyo', { TZ: 'Asia/Tokyo' });
    await stack.startAgent('newyork', { TZ: 'America/New_York' });
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it("a cron without a zone fires at each node's own zone; with one, everywhere", async () => {
    // Stay clear of an hour boundary so "this hour in Tokyo" holds for the whole test.
    const msToHour = 3_600_000 - (Date.now() % 3_600_000);
    if (msToHour < 20_000) await new Promise((r) => setTimeout(r, msToHour + 1_000));
    const hour = hourIn('Asia/Tokyo');
    assert.notEqual(hour, hourIn('America/New_York'));
    const before = await schedulerCount(stack);
    const local = await run(stack, {
      NodeIdList: ['tokyo', 'newyork'],
      Frequency: `* * ${hour} * * *`,
      CommandContent: logRun(join(dir, 'local')),
    });
    await stack.waitFor(
      'one scheduler per zone',
      async () => (await schedulerCount(stack)) === before + 2,
    );
    const zoned = await run(stack, {
      NodeIdList: ['tokyo', 'newyork'],
      Frequency: `* * ${hour} * * * Asia/Tokyo`,
      CommandContent: logRun(join(dir, 'zoned')),
    });
    await stack.waitFor(
      'runs in Tokyo hours',
      async () => {
        const a = await stack.describe(local);
        const b = await stack.describe(zoned);
        return (
          nodeOf(a, 'tokyo').Repeats >= 2 &&
          nodeOf(b, 'tokyo').Repeats >= 2 &&
          nodeOf(b, 'newyork').Repeats >= 2
        );
      },
      20_000,
    );
    const a = await stack.describe(local);
    assert.equal(nodeOf(a, 'newyork').Repeats, 0, 'not this hour in New York');
    assert.equal(nodeOf(a, 'newyork').InvocationStatus, 'Scheduled');
    for (const id of [local, zoned]) await stack.call('StopInvocation', { InvokeId: id });
  });
});

const DAY = 86_400_000;

/** A slot's time from its fire id (f<due ms>). */
const slotOf = (fireId: string | undefined): number => Number(fireId?.slice(1));

/** The lines a logger wrote, parsed, of one message. */
function logLines(lines: readonly string[], msg: string): Record<string, unknown>[] {
  return lines
    .filter((l) => l.includes(msg))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

const PASSED_OVER = 'fire skipped: a later slot was due when its job was taken';

/**
 * A daily schedule on d1 at an hour 12 hours from now (`yearField` appended to its cron): the
 * stack's own scheduler fires nothing during the test, and BullMQ's next job for it stays about
 * 12 hours ahead. `fire` hands one fire job to a Scheduler of the test's own, as BullMQ would
 * hand it out, for a crafted slot and clock, and answers d1's record afterwards.
 */
async function drivenSchedule(
  stack: Stack,
  src: Parameters<Parameters<typeof withStores>[1]>[0],
  opts: { yearField?: string; metrics?: Metrics; frequency?: string; nodeId?: string } = {},
) {
  const hour = (new Date().getUTCHours() + 12) % 24;
  const nodeId = opts.nodeId ?? 'd1';
  const logged: string[] = [];
  const log = makeLogger('info', 'test', { write: (line: string) => logged.push(line) });
  const id = await run(stack, {
    NodeIdList: [nodeId],
    Frequency: opts.frequency ?? `0 0 ${hour} * * *${opts.yearField ? ` ${opts.yearField}` : ''}`,
    CommandContent: 'true',
  });
  // Its node record Scheduled, its schedule group recorded and BullMQ's job scheduler made (the
  // dispatch writes them in that order: a test reading between the last two found no scheduler).
  const group = await stack.waitFor('the schedule dispatched', async () => {
    if (nodeOf(await stack.describe(id), nodeId).InvocationStatus !== 'Scheduled') return undefined;
    const g = (await src.invocations.schedules(id))?.[0];
    return g && (await src.schedulerQueue.hasSchedule(g.id)) ? g : undefined;
  });
  const schedule = group.id;
  const fire = async (dueMs: number, clockMs: number) => {
    const scheduler = new Scheduler({
      ...src,
      workerConnection: src.redis,
      subscriber: src.redis,
      keys: stack.keys,
      log,
      deliveryTimeoutSeconds: 60,
      concurrency: 1,
      clock: () => clockMs,
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
    });
    const job = {
      name: 'fire',
      id: `repeat:${schedule}:${dueMs}`,
      repeatJobKey: schedule,
      // The zone its group fires in, as dispatch recorded it (the node's, or the cron's own).
      data: { invokeId: id, nodeIds: [nodeId], zone: opts.frequency ? group.zone : 'UTC' },
    } as unknown as Job;
    await scheduler.fire(job);
    const record = (await src.runs.read(id, [nodeId], false)).get(nodeId);
    const seen = Number(await src.redis.hget(stack.keys.nodeRun(nodeId, id), 'seenFireMs'));
    return { fire: record?.fire, skipped: record?.skipped, seen };
  };
  /** Hands out the job of slot `dueMs` at `clockMs`: d1 then holds fire `firedMs`. */
  const fires = async (
    dueMs: number,
    clockMs: number,
    want: { firedMs: number; skipped: number },
  ) =>
    assert.deepEqual(await fire(dueMs, clockMs), {
      fire: `f${want.firedMs}`,
      skipped: want.skipped,
      seen: want.firedMs,
    });
  /** Waits for d1's `n`th run to be over (the record Scheduled again). */
  const ran = (n: number) =>
    stack.waitFor(`run ${n} to finish`, async () => {
      const node = nodeOf(await stack.describe(id), nodeId);
      return node.Repeats === n && node.InvocationStatus === 'Scheduled';
    });
  const passedOver = () =>
    logLines(logged, PASSED_OVER).map((l) => [l.fireId, l.supersededBy, l.nodes]);
  return { id, hour, schedule, zone: group.zone, fires, ran, passedOver };
}

type DrivenSchedule = Awaited<ReturnType<typeof drivenSchedule>>;

/** Runs `fn` on a fresh drivenSchedule, stopping its invocation afterwards, even on failure. */
async function withDrivenSchedule(
  stack: Stack,
  opts: Parameters<typeof drivenSchedule>[2],
  fn: (s: DrivenSchedule, src: Parameters<Parameters<typeof withStores>[1]>[0]) => Promise<void>,
): Promise<void> {
  await withStores(stack, async (src) => {
    const s = await drivenSchedule(stack, src, opts);
    try {
      await fn(s, src);
    } finally {
      await stack.call('StopInvocation', { InvokeId: s.id });
    }
  });
}

/** Reads a histogram's count and sum from a Metrics registry. */
async function histogram(metrics: Metrics, name: string): Promise<{ count: number; sum: number }> {
  const values = (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  const of = (suffix: string) =>
    values.find((v) => (v as { metricName?: string }).metricName === `${name}${suffix}`)?.value;
  return { count: of('_count') ?? 0, sum: of('_sum') ?? 0 };
}

void describe('durability of schedules', () => {
  let stack: Stack;
  let dir: string;

  before(async () => {
    stack = await makeStack({ FLEETCMD_MIN_INTERVAL_SECONDS: '1' });
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-dur-'));
    await stack.startAgent('d1');
    await stack.startAgent('dny', { TZ: 'America/New_York' });
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('a fire job taken after a later slot was due fires that slot instead, and counts its own as skipped', async () => {
    const metrics = new Metrics();
    await withDrivenSchedule(stack, { metrics }, async (s) => {
      // A slot three days ago, and "now" half an hour after it: a job due two days before
      // that slot, taken now, had two later slots pass meanwhile, which BullMQ made no job for.
      const recent = Math.floor((Date.now() - 3 * DAY) / DAY) * DAY + s.hour * 3_600_000;
      // On time (taken before the next slot): its own slot, nothing skipped.
      const early = recent - 3 * DAY;
      await s.fires(early, early + 60_000, { firedMs: early, skipped: 0 });
      await s.ran(1);
      const lag = 'fleetcmd_fire_lag_seconds';
      assert.deepEqual(await histogram(metrics, lag), { count: 1, sum: 60 });

      // Late: the latest due slot runs in its place (not the one between: no back-fill),
      // and the job's own slot counts as skipped, logged once.
      const late = { dueMs: recent - 2 * DAY, clockMs: recent + 30 * 60_000 };
      await s.fires(late.dueMs, late.clockMs, { firedMs: recent, skipped: 1 });
      assert.deepEqual(s.passedOver(), [[`f${late.dueMs}`, `f${recent}`, 1]]);
      // The lag runs from the job's own due time, not from the slot it fired: a starved
      // scheduler shows.
      assert.deepEqual(await histogram(metrics, lag), {
        count: 2,
        sum: 60 + (late.clockMs - late.dueMs) / 1000,
      });

      // The same job again (BullMQ retries a stalled one): the same slot, found taken;
      // nothing counted, logged or observed twice.
      await s.fires(late.dueMs, late.clockMs + 5_000, { firedMs: recent, skipped: 1 });
      assert.deepEqual(s.passedOver(), [[`f${late.dueMs}`, `f${recent}`, 1]]);
      assert.equal((await histogram(metrics, lag)).count, 2);
    });
  });

  void it('a retried fire job that catches up does not count its own slot where it was taken', async () => {
    await withDrivenSchedule(stack, {}, async (s) => {
      const own = Math.floor((Date.now() - 5 * DAY) / DAY) * DAY + s.hour * 3_600_000;
      // The first attempt, on time, fires the job's own slot; then the job stalls.
      await s.fires(own, own + 60_000, { firedMs: own, skipped: 0 });
      await s.ran(1);
      // BullMQ hands it out again after the next slot was due (its successor's, which that
      // successor's job has not yet brought to this node): the retry fires that slot, but
      // the node already took the job's own slot, so nothing is skipped there.
      const next = own + DAY;
      await s.fires(own, next + 60_000, { firedMs: next, skipped: 0 });
      assert.deepEqual(s.passedOver(), [], 'no node counted a skip');
      await s.ran(2);
    });
  });

  // America/New_York springs forward at 02:00 EST (07:00Z) on 2026-03-08 and falls back at
  // 02:00 EDT (06:00Z) on 2026-11-01. The fire jobs are handed out as BullMQ makes them (its
  // cron-parser's slots, test/unit/frequency.test.ts) to the scheduler's fire path on a clock
  // of the test's: each fires the slot the zone says, and a late one the latest such slot.
  const at = (iso: string) => Date.parse(iso);
  for (const [what, frequency, nodeId] of [
    ["the cron's own zone", '0 30 2 * * * America/New_York', 'd1'],
    ["the node's zone (TZ of its agent)", '0 30 2 * * *', 'dny'],
  ] as const) {
    void it(`spring-forward in ${what}: the missing 02:30 fires at 03:30 EDT once, a late job the latest slot`, async () => {
      await withDrivenSchedule(stack, { frequency, nodeId }, async (s) => {
        assert.equal(s.zone, nodeId === 'dny' ? 'America/New_York' : s.zone);
        // The day before: 02:30 EST is 07:30Z.
        const before = at('2026-03-07T07:30:00Z');
        await s.fires(before, before + 60_000, { firedMs: before, skipped: 0 });
        await s.ran(1);
        // The change day has no 02:30: its slot is 03:30 EDT, also 07:30Z, one day (24 h) on.
        const change = at('2026-03-08T07:30:00Z');
        await s.fires(change, change + 60_000, { firedMs: change, skipped: 0 });
        await s.ran(2);
        // The job of the change day taken again a day late: the latest slot is 02:30 EDT of
        // the 9th (06:30Z, 23 h after the last), which runs; its own was taken, nothing counted.
        const next = at('2026-03-09T06:30:00Z');
        await s.fires(change, next + 30 * 60_000, { firedMs: next, skipped: 0 });
        await s.ran(3);
        assert.deepEqual(s.passedOver(), []);
      });
    });
  }

  void it("fall-back in the node's zone: a daily 01:30 runs once, an hourly one keeps real time", async () => {
    await withDrivenSchedule(stack, { frequency: '0 30 1 * * *', nodeId: 'dny' }, async (s) => {
      // 01:30 EDT (05:30Z) is the slot; 01:30 EST (06:30Z) an hour later is none: a job taken
      // then is still on time for its own slot (the next is 06:30Z on the 2nd).
      const first = at('2026-11-01T05:30:00Z');
      await s.fires(first, at('2026-11-01T06:45:00Z'), { firedMs: first, skipped: 0 });
      await s.ran(1);
      assert.deepEqual(s.passedOver(), []);
      const next = at('2026-11-02T06:30:00Z');
      await s.fires(next, next + 60_000, { firedMs: next, skipped: 0 });
      await s.ran(2);
    });
    await withDrivenSchedule(stack, { frequency: '0 0 * * * *', nodeId: 'dny' }, async (s) => {
      // Hourly: 01:00 EDT (05:00Z), taken after both 01:00 EST (06:00Z) and 02:00 EST (07:00Z)
      // were due: it fires 07:00Z, the latest, and counts its own slot as skipped.
      const own = at('2026-11-01T05:00:00Z');
      const latest = at('2026-11-01T07:00:00Z');
      await s.fires(own, latest + 10 * 60_000, { firedMs: latest, skipped: 1 });
      assert.deepEqual(s.passedOver(), [[`f${own}`, `f${latest}`, 1]]);
      await s.ran(1);
    });
  });

  void it('a late job for a slot in a year the cron excludes is not counted as skipped', async () => {
    // BullMQ knows no years (only a start and an end): it makes jobs for the slots of an
    // excluded year between two allowed ones. Here the last such job is taken once the next
    // allowed year has begun.
    const year = new Date().getUTCFullYear() - 1;
    await withDrivenSchedule(stack, { yearField: `${year - 2},${year}-2099` }, async (s) => {
      const excluded = Date.UTC(year - 1, 11, 31, s.hour);
      const firstAllowed = Date.UTC(year, 0, 1, s.hour);
      await s.fires(excluded, firstAllowed + 30 * 60_000, { firedMs: firstAllowed, skipped: 0 });
      assert.deepEqual(s.passedOver(), [], 'no slot passed over');
      await s.ran(1);
    });
  });

  void it("a late fire job leaves the slots from BullMQ's next job on to that job", async () => {
    await withDrivenSchedule(stack, {}, async (s, src) => {
      // BullMQ's next job: the schedule's first slot after now (12 hours or so ahead).
      const today = Math.floor(Date.now() / DAY) * DAY + s.hour * 3_600_000;
      const nextJob = today > Date.now() ? today : today + DAY;
      // Sent ahead: BullMQ's job is due FIRE_LEAD_MS before that slot.
      assert.deepEqual(await src.schedulerQueue.scheduledNext(s.schedule), {
        dueMs: nextJob - FIRE_LEAD_MS,
        ahead: true,
      });
      // A job three days before that, taken two days after it: of the slots due by then,
      // those from nextJob on have a job of their own; the latest before it is the catch-up.
      const dueMs = nextJob - 3 * DAY;
      await s.fires(dueMs, nextJob + 2 * DAY + 30 * 60_000, { firedMs: nextJob - DAY, skipped: 1 });
      assert.deepEqual(s.passedOver(), [[`f${dueMs}`, `f${nextJob - DAY}`, 1]]);
      await s.ran(1);
    });
  });

  void it('survive a server restart: one catch-up run, a lost scheduler re-asserted', async () => {
    const kept = join(dir, 'kept');
    const lost = join(dir, 'lost');
    const a = await run(stack, {
      NodeIdList: ['d1'],
      Frequency: '* * * * * *',
      CommandContent: logRun(kept),
    });
    const b = await run(stack, {
      NodeIdList: ['d1'],
      Frequency: '* * * * * *',
      CommandContent: logRun(lost),
    });
    await stack.waitFor(
      'runs',
      async () => (await lines(kept)).length >= 2 && (await lines(lost)).length >= 2,
    );

    // Every scheduler down for ~4 s; meanwhile b's job scheduler is lost.
    await stack.server.close();
    await new Promise((r) => setTimeout(r, 500));
    const q = new Queue(stack.keys.schedulerQueueName(), {
      connection: stack.redis,
      prefix: stack.keys.schedulerQueuePrefix(),
    });
    const ids = (await q.getJobSchedulers()).map((s) => s.key);
    const lostId = ids.find((k) => k.includes(b));
    assert.ok(lostId, `b's scheduler among ${ids.join(', ')}`);
    await q.removeJobScheduler(lostId);
    await q.close();
    await new Promise((r) => setTimeout(r, 3_500));
    // Nothing fires while every scheduler is down: the runs and skips so far stay as they are.
    const keptBefore = (await lines(kept)).map(slotOf);
    const skippedOf = async () =>
      Number(await stack.redis.hget(stack.keys.nodeRun('d1', a), 'skipped'));
    const skippedBefore = await skippedOf();
    const upAt = Date.now();
    const { startServer } = await import('../../src/server/main.js');
    const logged: string[] = [];
    const log = makeLogger('info', 'test', { write: (line: string) => logged.push(line) });
    // Where the first server (on a port it bound itself) answered.
    const port = Number(new URL(stack.url).port);
    stack.server = await startServer({ ...stack.config, port }, log);

    await stack.waitFor(
      'both resume',
      async () =>
        (await lines(kept)).length >= keptBefore.length + 3 &&
        (await lines(lost)).some((f) => slotOf(f) >= upAt),
      20_000,
    );
    // a: its pending job, for a slot of the downtime, is taken at the restart after later
    // slots were due. It is the one catch-up run: it fires the slot current when it was taken
    // (the latest due, which may fall just after upAt), its own slot is counted as skipped on
    // d1 and logged once, the slots in between are not run, and fires go on from there.
    const passed = logLines(logged, PASSED_OVER).filter((l) => l.invokeId === a);
    assert.equal(passed.length, 1, `one passed-over slot logged: ${JSON.stringify(passed)}`);
    const own = slotOf(String(passed[0]?.fireId));
    const catchUp = slotOf(String(passed[0]?.supersededBy));
    assert.ok(own > Math.max(...keptBefore) && own < upAt, `own slot ${own} in the downtime`);
    assert.ok(catchUp > own && catchUp > upAt - 1_000, `catch-up ${catchUp}, up at ${upAt}`);
    assert.equal(passed[0]?.nodes, 1, 'd1 counted the own slot as skipped');
    assert.ok((await skippedOf()) >= skippedBefore + 1, 'on its record');
    const resumed = (await lines(kept)).slice(keptBefore.length).map(slotOf);
    assert.equal(resumed[0], catchUp, `the catch-up runs first: ${JSON.stringify(resumed)}`);
    assert.deepEqual(
      resumed.filter((ms) => ms <= catchUp),
      [catchUp],
      'exactly one catch-up run, nothing of the downtime back-filled',
    );
    const keptFires = await lines(kept);
    assert.equal(new Set(keptFires).size, keptFires.length, 'no fire ran twice');
    // b: re-asserted at start, so it fires again.
    const lostFires = await lines(lost);
    assert.equal(new Set(lostFires).size, lostFires.length);
    for (const id of [a, b]) await stack.call('StopInvocation', { InvokeId: id });
  });
});
