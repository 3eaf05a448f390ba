import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue, type Job } from 'bullmq';
import { FIRE_LEAD_MS } from '../../src/domain/schedule-plan.js';
import { FIRE_AHEAD_JOB, runJobId } from '../../src/store/queues.js';
import { makeStack, type AgentProcess, type Stack } from '../helpers/stack.js';
import { testScheduler, withStores } from '../helpers/stores.js';
import { HANG_MS } from '../helpers/hang.js';
import { OutputCapture } from '../../src/domain/output.js';
import { makeLogger } from '../../src/shared/log.js';
import { AgentStore } from '../../src/store/agent-store.js';
import { closeRedis, makeRedis, type RedisClient } from '../../src/store/redis.js';
import { Agent } from '../../workers/agent/agent.js';
import type { ExecOutcome } from '../../workers/agent/exec/outcome.js';
import type { CommandHandle, ExecRequest } from '../../workers/agent/exec/start-command.js';

type Stores = Parameters<Parameters<typeof withStores>[1]>[0];

/**
 * How far ahead of its slot a crafted fire is delivered here: far more than the steps a test
 * takes between delivery and slot (a stop, a kill), which each test also checks happened before
 * the slot. The real lead is FIRE_LEAD_MS; the agent waits for whatever slot the job names.
 */
const LEAD_MS = 8_000;

/** The `fire` values a command appended to `file` (one line per run). */
async function ranFires(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '');
}

/**
 * The live processes whose environment carries FLEETCMD_INVOKE_ID=<invokeId> (zombies aside),
 * with their arguments; undefined when there is none.
 */
async function runProcesses(
  invokeId: string,
): Promise<{ pid: number; args: string[] }[] | undefined> {
  const marker = `\0FLEETCMD_INVOKE_ID=${invokeId}\0`;
  const found: { pid: number; args: string[] }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const environ = `\0${await readFile(`/proc/${name}/environ`, 'latin1')}`;
      if (!environ.includes(marker)) continue;
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const args = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').slice(0, -1);
      found.push({ pid: Number(name), args });
    } catch {
      // Gone meanwhile.
    }
  }
  return found.length > 0 ? found : undefined;
}

/** The agent's log lines (pino JSON) with this message and invocation. */
function logged(agent: AgentProcess, msg: string, invokeId: string): Record<string, unknown>[] {
  return agent
    .log()
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    })
    .filter((l) => l.msg === msg && l.invokeId === invokeId);
}

/**
 * A daily schedule on `nodeId` 12 hours from now, so the stack's scheduler fires nothing of it
 * during the test; `deliver(slotMs)` hands a `fireAhead` job for that slot to a Scheduler of the
 * test's own, as BullMQ hands one out ahead of its slot, with the real clock.
 */
async function aheadSchedule(stack: Stack, src: Stores, nodeId: string, content: string) {
  const hour = (new Date().getUTCHours() + 12) % 24;
  const created = await stack.call('RunCommand', {
    NodeIdList: [nodeId],
    Frequency: `0 0 ${hour} * * * UTC`,
    CommandContent: content,
  });
  const id = String(created.body.InvokeId);
  const group = await stack.waitFor('the schedule dispatched', async () => {
    const record = (await src.runs.read(id, [nodeId], false)).get(nodeId);
    if (record?.status !== 'Scheduled') return undefined;
    const g = (await src.invocations.schedules(id))?.[0];
    return g && (await src.schedulerQueue.hasSchedule(g.id)) ? g : undefined;
  });
  const scheduler = () => testScheduler(stack, src, { clock: () => Date.now() });
  const job = (slotMs: number) =>
    ({
      name: FIRE_AHEAD_JOB,
      id: `repeat:${group.id}:${slotMs - FIRE_LEAD_MS}`,
      repeatJobKey: group.id,
      // The slot in the data (as an at()'s job carries it): a crafted slot, not the cron's.
      data: { invokeId: id, nodeIds: [nodeId], zone: group.zone, fireMs: slotMs },
    }) as unknown as Job;
  const record = async () => {
    const r = (await src.runs.read(id, [nodeId], false)).get(nodeId);
    assert.ok(r, 'the run record');
    return r;
  };
  return {
    id,
    record,
    /** Delivers the fire of `slotMs` by `replicas` schedulers at once. */
    deliver: (slotMs: number, replicas = 1) =>
      Promise.all(Array.from({ length: replicas }, () => scheduler().fire(job(slotMs)))),
  };
}

void describe('fires sent ahead of their slot, started by the agent at the slot', () => {
  let stack: Stack;
  let dir: string;
  let agent: AgentProcess;
  const nodeId = 'ah1';

  before(async () => {
    stack = await makeStack({ FLEETCMD_MIN_INTERVAL_SECONDS: '1' });
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-ahead-'));
    agent = await stack.startAgent(nodeId);
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The state of a node's run job in BullMQ ('unknown' once it is done and removed). */
  async function jobState(src: Stores, jobId: string): Promise<string> {
    const q = new Queue(stack.keys.nodeQueueName(nodeId), {
      connection: src.redis,
      prefix: stack.keys.nodeQueuePrefix(),
    });
    try {
      return (await (await q.getJob(jobId))?.getState()) ?? 'unknown';
    } finally {
      await q.close();
    }
  }

  const held = (src: Stores, id: string, slotMs: number) =>
    stack.waitFor(
      'the agent to hold the fire',
      async () => (await jobState(src, runJobId(id, `f${slotMs}`))) === 'active',
      HANG_MS,
    );

  void it('armed before the slot, still Pending; a StopInvocation answered before the slot: the run never starts', async () => {
    const file = join(dir, 'stop');
    await withStores(stack, async (src) => {
      const s = await aheadSchedule(stack, src, nodeId, `echo "$FLEETCMD_FIRE_ID" >> '${file}'`);
      const slot = Date.now() + LEAD_MS;
      await s.deliver(slot);
      await held(src, s.id, slot);
      const made = await stack.waitFor('the fire made ahead', () => runProcesses(s.id), HANG_MS);
      const scriptDir = dirname(made[0]?.args.at(-1) ?? '');
      // The agent arms the fire when it takes the job: its claim is on the record, which stays
      // Pending (nothing shows Running before the slot), and the run is in the node's active set.
      const runKey = stack.keys.nodeRun(nodeId, s.id);
      await stack.waitFor(
        'the agent to arm the fire',
        async () => (await src.redis.hget(runKey, 'claim')) !== null,
        HANG_MS,
      );
      assert.equal((await s.record()).status, 'Pending');
      assert.equal(await src.redis.sismember(stack.keys.nodeActive(nodeId), s.id), 1);
      const stop = await stack.call('StopInvocation', { InvokeId: s.id });
      assert.equal(stop.status, 200);
      assert.ok((await src.nodes.nowMs()) < slot, 'the stop answered before the slot');
      assert.equal((await s.record()).status, 'Cancelled');
      // The agent's decision at the slot: its read finds the run Cancelled.
      const refused = await stack.waitFor(
        'the agent to refuse the fire at its slot',
        async () => logged(agent, 'run not claimed; skipped', s.id)[0],
        HANG_MS,
      );
      assert.equal(refused.status, 'Cancelled');
      // What was made ahead is killed unrun, its script directory removed.
      await stack.waitFor(
        'no process of the fire left',
        async () => (await runProcesses(s.id)) === undefined,
        HANG_MS,
      );
      assert.equal(existsSync(scriptDir), false, `${scriptDir} removed`);
      assert.deepEqual(await ranFires(file), []);
      const r = await s.record();
      assert.equal(r.status, 'Cancelled');
      assert.equal(r.repeats, 0);
      await stack.waitFor(
        'the run out of the active set',
        async () => (await src.redis.sismember(stack.keys.nodeActive(nodeId), s.id)) === 0,
        HANG_MS,
      );
    });
  });

  void it('busy at the slot: skipped and counted then (not at delivery); free by the slot: runs', async () => {
    const file = join(dir, 'busy');
    const gate = join(dir, 'gate');
    const content =
      `echo "$FLEETCMD_FIRE_ID" >> '${file}'; ` +
      `while [ ! -e '${gate}'-"$FLEETCMD_FIRE_ID" ]; do sleep 0.05; done`;
    await withStores(stack, async (src) => {
      const s = await aheadSchedule(stack, src, nodeId, content);
      try {
        const first = Date.now() + 2 * FIRE_LEAD_MS;
        await s.deliver(first);
        await stack.waitFor('the first run', async () => (await s.record()).status === 'Running');

        // Delivered while the first run goes: nothing is decided or counted yet.
        const second = Date.now() + LEAD_MS;
        await s.deliver(second);
        const atDelivery = await s.record();
        assert.equal(atDelivery.fire, `f${first}`);
        assert.equal(atDelivery.skipped, 0, 'no skip counted at delivery');
        await stack.waitFor(
          'the second fire skipped at its slot',
          async () =>
            logged(agent, 'fire skipped at its slot: the previous run has not ended', s.id)[0],
          HANG_MS,
        );
        const skipped = await s.record();
        assert.equal(skipped.skipped, 1);
        assert.equal(skipped.status, 'Running');
        assert.equal(skipped.fire, `f${first}`);

        // Busy when delivered, free by its slot: the third fire runs.
        const third = Date.now() + LEAD_MS;
        await s.deliver(third);
        await writeFile(`${gate}-f${first}`, '');
        await stack.waitFor(
          'the first run over',
          async () => (await s.record()).status === 'Scheduled',
        );
        assert.ok((await src.nodes.nowMs()) < third, 'the first run ended before the third slot');
        await stack.waitFor(
          'the third fire to start',
          async () => (await ranFires(file)).includes(`f${third}`),
          HANG_MS,
        );
        assert.deepEqual(await ranFires(file), [`f${first}`, `f${third}`]);
        const r = await s.record();
        assert.equal(r.repeats, 2);
        assert.equal(r.skipped, 1);
        await writeFile(`${gate}-f${third}`, '');
        await stack.waitFor(
          'the third run over',
          async () => (await s.record()).status === 'Scheduled',
        );
      } finally {
        await stack.call('StopInvocation', { InvokeId: s.id });
      }
    });
  });

  void it('two scheduler replicas delivering one fire: it runs once', async () => {
    const file = join(dir, 'replicas');
    await withStores(stack, async (src) => {
      const s = await aheadSchedule(stack, src, nodeId, `echo "$FLEETCMD_FIRE_ID" >> '${file}'`);
      try {
        const slot = Date.now() + 2 * FIRE_LEAD_MS;
        await s.deliver(slot, 2);
        await stack.waitFor('the run over', async () => {
          const r = await s.record();
          return r.repeats === 1 && r.status === 'Scheduled';
        });
        // Its job done and gone: nothing of the fire is left to run.
        await stack.waitFor(
          'no run job of the fire left',
          async () => (await jobState(src, runJobId(s.id, `f${slot}`))) === 'unknown',
          HANG_MS,
        );
        assert.deepEqual(await ranFires(file), [`f${slot}`]);
      } finally {
        await stack.call('StopInvocation', { InvokeId: s.id });
      }
    });
  });

  void it('an agent killed after the delivery, before the slot: nobody runs that fire', async () => {
    const file = join(dir, 'killed');
    await withStores(stack, async (src) => {
      const s = await aheadSchedule(stack, src, nodeId, `echo "$FLEETCMD_FIRE_ID" >> '${file}'`);
      try {
        const slot = Date.now() + LEAD_MS;
        await s.deliver(slot);
        await held(src, s.id, slot);
        // Its process made ahead, held at the spawner's gate until the slot.
        const made = await stack.waitFor('the fire made ahead', () => runProcesses(s.id), HANG_MS);
        const scriptDir = dirname(made[0]?.args.at(-1) ?? '');
        assert.match(made[0]?.args.join(' ') ?? '', /fleetcmd-gate/);
        await agent.kill('SIGKILL');
        assert.ok((await src.nodes.nowMs()) < slot, 'killed before the slot');
        // The agent gone, its spawner kills what it held and removes its script directory.
        await stack.waitFor(
          'no process of the fire left',
          async () => (await runProcesses(s.id)) === undefined,
          HANG_MS,
        );
        assert.equal(existsSync(scriptDir), false, `${scriptDir} removed`);
        agent = await stack.startAgent(nodeId);
        // The fire's delivery deadline (its slot + 3 s) ends it: Aborted, never run.
        await stack.waitFor(
          'the fire aborted at its deadline',
          async () => (await s.record()).status !== 'Pending',
          HANG_MS,
        );
        const r = await s.record();
        assert.equal(r.repeats, 0);
        // DeliveryTimeout: the restarted agent is online by then (ClientNotRunning if it is not yet).
        assert.match(r.errorCode, /^(DeliveryTimeout|ClientNotRunning)$/);
        assert.deepEqual(await ranFires(file), []);
        // The schedule goes on: the next fire runs on the restarted agent.
        const next = Date.now() + 2 * FIRE_LEAD_MS;
        await s.deliver(next);
        await stack.waitFor(
          'the next fire to run',
          async () => (await ranFires(file)).includes(`f${next}`),
          HANG_MS,
        );
        assert.deepEqual(await ranFires(file), [`f${next}`]);
      } finally {
        await stack.call('StopInvocation', { InvokeId: s.id });
      }
    });
  });
});

/**
 * The races of an armed fire's start, made to happen at a chosen step: an Agent in this process
 * whose store and command start call the test's hooks (a StopInvocation) at the step under test,
 * and whose commands spawn nothing.
 */
void describe('a fire armed ahead of its slot: a stop racing its start', () => {
  let stack: Stack;
  let connection: RedisClient;
  let subscriber: RedisClient;
  let agent: Agent;
  const nodeId = 'ah2';
  const hooks: {
    beforeSlotRead?: () => Promise<void>;
    atStart?: () => Promise<void>;
    /** The next command runs until it is stopped. */
    hold?: boolean;
  } = {};
  /** Invocations whose command started, and those the agent stopped. */
  const started: string[] = [];
  const stopped: string[] = [];
  /** What each run-spawned-3.lua call answered. */
  const spawnedReplies: string[] = [];

  class HookedStore extends AgentStore {
    override async armedStatuses(...args: Parameters<AgentStore['armedStatuses']>) {
      await hooks.beforeSlotRead?.();
      return super.armedStatuses(...args);
    }
    override async spawned(...args: Parameters<AgentStore['spawned']>) {
      const reply = await super.spawned(...args);
      spawnedReplies.push(reply);
      return reply;
    }
  }

  /** A command that ends at once (Success), or when stopped (`hooks.hold`). */
  async function execute(req: ExecRequest): Promise<CommandHandle> {
    const hold = hooks.hold === true;
    hooks.hold = false;
    await hooks.atStart?.();
    started.push(req.invokeId);
    let end: (o: ExecOutcome) => void = () => undefined;
    const done = new Promise<ExecOutcome>((resolve) => (end = resolve));
    if (!hold) end({ status: 'Success', exitCode: 0, errorCode: '', started: true });
    return {
      capture: new OutputCapture(),
      pid: undefined,
      scriptDir: '',
      done,
      stop: () => {
        stopped.push(req.invokeId);
        end({ status: 'Terminated', exitCode: 143, errorCode: '', started: true });
      },
    };
  }

  /** Delivers the fire of `slotMs` and waits for its run to end. */
  async function deliverUntilEnded(
    s: Awaited<ReturnType<typeof aheadSchedule>>,
    slotMs: number,
  ): Promise<void> {
    await s.deliver(slotMs);
    await stack.waitFor('the run ended', async () => {
      const r = await s.record();
      return r.status !== 'Pending' && r.status !== 'Stopping';
    });
  }

  before(async () => {
    stack = await makeStack({ FLEETCMD_MIN_INTERVAL_SECONDS: '1' });
    connection = makeRedis(stack.redisTarget, 'worker', 'armed-test');
    subscriber = makeRedis(stack.redisTarget, 'subscriber', 'armed-test-ctl');
    agent = new Agent({
      nodeId,
      store: new HookedStore(connection, stack.keys, nodeId),
      keys: stack.keys,
      connection,
      subscriber,
      log: makeLogger('silent', 'test'),
      heartbeatSeconds: 10,
      concurrency: 2,
      graceSeconds: 1,
      bootId: 'armed-test',
      execute,
      // No progress tick during a test: a stop is seen through the start's own reply.
      progressIntervalMs: 600_000,
    });
    await agent.start();
  });
  after(async () => {
    await agent.stop(0);
    await closeRedis(subscriber);
    await closeRedis(connection);
    await stack.close();
  });

  void it('not stopped: Pending until the start, then Running with a start between the slot and now', async () => {
    await withStores(stack, async (src) => {
      const s = await aheadSchedule(stack, src, nodeId, 'true');
      try {
        const slot = Date.now() + 2 * FIRE_LEAD_MS;
        let atStart: { nowMs: number; status: string } | undefined;
        hooks.atStart = async () => {
          hooks.atStart = undefined;
          atStart = { nowMs: await src.nodes.nowMs(), status: (await s.record()).status };
        };
        await s.deliver(slot);
        await stack.waitFor('the run over', async () => {
          const r = await s.record();
          return r.repeats === 1 && r.status === 'Scheduled' ? r : undefined;
        });
        assert.deepEqual(started, [s.id]);
        // At the start, the slot has come on Redis's clock and the record is still Pending.
        assert.ok(atStart && atStart.nowMs >= slot, 'started at or after the slot');
        assert.equal(atStart.status, 'Pending');
        const r = await s.record();
        assert.equal(r.fireMs, slot);
        assert.ok((r.startedMs ?? 0) >= slot, `startedMs ${r.startedMs} >= slot ${slot}`);
        assert.ok((r.startedMs ?? Infinity) <= (r.finishedMs ?? 0));
        assert.equal(spawnedReplies.at(-1), 'Running');
      } finally {
        hooks.atStart = undefined;
        await stack.call('StopInvocation', { InvokeId: s.id });
      }
    });
  });

  void it('a stop after the slot, before the read at the slot: never starts, Cancelled', async () => {
    await withStores(stack, async (src) => {
      const s = await aheadSchedule(stack, src, nodeId, 'true');
      const slot = Date.now() + 2 * FIRE_LEAD_MS;
      let answered: unknown;
      let stopMs = 0;
      hooks.beforeSlotRead = async () => {
        hooks.beforeSlotRead = undefined;
        stopMs = await src.nodes.nowMs();
        answered = (await stack.call('StopInvocation', { InvokeId: s.id })).status;
      };
      try {
        await deliverUntilEnded(s, slot);
      } finally {
        hooks.beforeSlotRead = undefined;
      }
      assert.equal(answered, 200);
      assert.ok(stopMs >= slot, 'the stop came after the slot');
      assert.ok(!started.includes(s.id), 'the command never started');
      const r = await s.record();
      assert.equal(r.status, 'Cancelled');
      assert.equal(r.repeats, 0);
      assert.equal(r.startedMs, undefined);
      assert.equal(await src.redis.sismember(stack.keys.nodeActive(nodeId), s.id), 0);
    });
  });

  void it('a stop after the read at the slot, before the start is recorded: killed, Terminated', async () => {
    await withStores(stack, async (src) => {
      const s = await aheadSchedule(stack, src, nodeId, 'true');
      const slot = Date.now() + 2 * FIRE_LEAD_MS;
      let answered: unknown;
      let afterStop = '';
      hooks.hold = true;
      hooks.atStart = async () => {
        hooks.atStart = undefined;
        answered = (await stack.call('StopInvocation', { InvokeId: s.id })).status;
        afterStop = (await s.record()).status;
      };
      try {
        await deliverUntilEnded(s, slot);
      } finally {
        hooks.atStart = undefined;
        hooks.hold = false;
      }
      assert.equal(answered, 200);
      // Past its slot, the agent may have started it without having recorded it: Stopping.
      assert.equal(afterStop, 'Stopping');
      assert.ok(started.includes(s.id) && stopped.includes(s.id), 'started, then stopped');
      assert.equal(spawnedReplies.at(-1), 'Stopping');
      const r = await s.record();
      assert.equal(r.status, 'Terminated');
      assert.equal(r.repeats, 1);
      assert.ok((r.startedMs ?? 0) >= slot, `startedMs ${r.startedMs} >= slot ${slot}`);
      assert.equal(await src.redis.sismember(stack.keys.nodeActive(nodeId), s.id), 0);
    });
  });
});
