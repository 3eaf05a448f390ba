import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/dev/private-redis.js';
import { runJobId } from '../../src/store/queues.js';
import {
  describeOne,
  diskCounts,
  diskTotal,
  killAllFleet,
  apiFor,
  faultEnv,
  onlineNodes,
  probe,
  ready,
  startFleetAgent,
  startFleetServer,
  waitAllFinal,
  withNodeQueue,
  type FleetServer,
} from '../helpers/fleet.js';
import { gateSh, openGate } from '../helpers/events.js';
import { waitFor } from '../helpers/stack.js';
import { HANG_MS } from '../helpers/hang.js';

/**
 * Fault: Redis is SIGKILLed under load and restarted on the same port with the same data
 * directory, AOF with `appendfsync always` (each write is on disk before Redis acknowledges
 * it). No invocation answered with an InvokeId is lost; while Redis is away every API request
 * answers (503 ServiceUnavailable) rather than hanging; server and agents reconnect by
 * themselves; a command running through the outage reports its result afterwards. Executions
 * are counted on disk. No clock decides anything: Redis stays away until requests were answered
 * meanwhile, commands hold on gates, and bounds only catch hangs (how fast the 503 comes is a
 * benchmark's business). Redis comes back on the same port on purpose: that is the fault.
 */
const NODES = ['rr1', 'rr2'];
/** Only against hangs: a request, or a wait, that takes this long has hung. */
/** Answers of each action while Redis is away before it comes back. */
const OUTAGE_ANSWERS = 3;
/**
 * How long Redis stays away at least: the scenario (heartbeats lapse, connections retry), not a
 * bound any answer is held to.
 */
const OUTAGE_MIN_MS = 4_000;
/** Kill-and-restart cycles of the heavy-load test (each one a chance to cut a reply off). */
const RESTARTS = 5;

/** A redis-server we can kill and start again on the same port and directory. */
class AofRedis {
  private child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--hz',
        '100',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore', detached: true },
    );
    this.child = child;
    const r = probe(this.url);
    try {
      await waitFor(
        'redis-server to answer PING',
        async () => {
          if (child.exitCode !== null) throw new Error('redis-server exited at start-up');
          return (await r.ping().catch(() => '')) === 'PONG';
        },
        HANG_MS,
        25,
      );
    } finally {
      r.disconnect();
    }
  }

  /** SIGSTOP / SIGCONT: Redis keeps its connections open and answers nothing meanwhile. */
  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = once(child, 'exit');
    child.kill('SIGKILL');
    await gone;
  }
}

void describe('fault: Redis restart under load (AOF, appendfsync always)', () => {
  let dir: string;
  let redis: AofRedis;
  let env: Record<string, string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-fault-redis-'));
    redis = new AofRedis(await freePort(), dir);
    await redis.start();
    env = await faultEnv(
      { FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '60', FLEETCMD_MIN_INTERVAL_SECONDS: '1' },
      redis.url,
    );
  });
  after(async () => {
    // A command still holding on its gate goes on (and ends) before its agent is killed.
    await openGate(join(dir, 'long.gate')).catch(() => undefined);
    await killAllFleet();
    await redis.kill();
    await rm(dir, { recursive: true, force: true });
  });

  void it('nothing answered is lost, the API answers 503 while Redis is away, everything reconnects', async () => {
    const server: FleetServer = await startFleetServer(env);
    const call = apiFor(() => server.url, env);
    const agents = await Promise.all(NODES.map((n) => startFleetAgent(n, env)));
    const file = join(dir, 'runs.log');

    // A command that runs through the whole outage: it holds until Redis is back.
    const gate = join(dir, 'long.gate');
    const longRes = await call('RunCommand', {
      NodeIdList: ['rr1'],
      CommandContent: `echo "$FLEETCMD_INVOKE_ID rr1" >> ${file}; ${gateSh(gate)}; echo finished`,
    });
    assert.equal(longRes.status, 200, JSON.stringify(longRes.body));
    const longId = longRes.body.InvokeId as string;
    await waitFor(
      'the long command to start',
      async () => (await diskCounts(file)).has(`${longId} rr1`),
      HANG_MS,
    );

    // An every-second schedule, whose job scheduler must survive the restart and fire again.
    const schedFile = join(dir, 'schedule.log');
    const sched = await call('RunCommand', {
      NodeIdList: ['rr2'],
      CommandContent: `echo "$FLEETCMD_INVOKE_ID $FLEETCMD_FIRE_ID" >> ${schedFile}`,
      Frequency: 'rate(1s)',
    });
    assert.equal(sched.status, 200, JSON.stringify(sched.body));
    const schedId = sched.body.InvokeId as string;

    // Load: four clients submit Once runs without pause, before, during and after the outage.
    let redisAway = false;
    let loading = true;
    const answered: { id: string; node: string }[] = [];
    const duringOutage: { status: number; code: unknown; ms: number; action: string }[] = [];
    let i = 0;
    const client = async () => {
      while (loading) {
        const node = NODES[i++ % NODES.length] ?? '';
        const away = redisAway;
        const res = await call(
          'RunCommand',
          { NodeIdList: [node], CommandContent: `echo "$FLEETCMD_INVOKE_ID ${node}" >> ${file}` },
          HANG_MS,
        );
        if (res.status === 200) answered.push({ id: res.body.InvokeId as string, node });
        if (away && redisAway) {
          duringOutage.push({
            status: res.status,
            code: res.body.Code,
            ms: res.ms,
            action: 'RunCommand',
          });
        }
        if (res.status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
    };
    // And a reader, which must answer too.
    const reader = async () => {
      while (loading) {
        const away = redisAway;
        const res = await call('DescribeInvocations', { InvokeId: longId }, HANG_MS);
        if (away && redisAway) {
          duringOutage.push({
            status: res.status,
            code: res.body.Code,
            ms: res.ms,
            action: 'DescribeInvocations',
          });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const load = Promise.all([client(), client(), client(), client(), reader()]);
    await waitFor('load before the outage', async () => answered.length >= 20, HANG_MS);

    const longBefore = (await describeOne(call, longId))?.InvokeNodes.InvokeNode[0];
    assert.equal(longBefore?.InvocationStatus, 'Running', 'the long command runs into the outage');
    await redis.kill();
    redisAway = true;
    const answeredBefore = answered.length;
    // Away until both actions were answered meanwhile: requests that hang never get there.
    const outageStarted = Date.now();
    await Promise.all([
      new Promise((r) => setTimeout(r, OUTAGE_MIN_MS)),
      waitFor(
        'requests answered while Redis is away',
        async () =>
          ['RunCommand', 'DescribeInvocations'].every(
            (a) => duringOutage.filter((r) => r.action === a).length >= OUTAGE_ANSWERS,
          ),
        HANG_MS,
      ),
    ]);
    const outageMs = Date.now() - outageStarted;
    // Answered while Redis was away: only requests it had taken before it died can be.
    const answeredDuring = answered.length - answeredBefore;
    redisAway = false;
    await redis.start();

    await waitFor('the API to be ready again', () => ready(server.url), HANG_MS, 100);
    await openGate(gate);
    const firesAtRestart = await diskTotal(schedFile);
    const afterRestart = answered.length;
    await waitFor(
      'load after the outage',
      async () => answered.length >= afterRestart + 20,
      HANG_MS,
    );
    loading = false;
    await load;

    // While Redis was away: every request answered, 503 ServiceUnavailable.
    const slowest = Math.max(...duringOutage.map((r) => r.ms));
    const notServiceUnavailable = duringOutage.filter(
      (r) => r.status !== 503 || r.code !== 'ServiceUnavailable',
    );
    assert.deepEqual(notServiceUnavailable, [], 'every request during the outage answered 503');

    // Server and agents reconnected by themselves: both nodes online and running new work.
    await waitFor(
      'both agents online again',
      async () => (await onlineNodes(call, NODES)).length === 2,
      HANG_MS,
    );
    await waitFor(
      'the schedule to fire again after the restart',
      async () => (await diskTotal(schedFile)) >= firesAtRestart + 3,
      HANG_MS,
    );
    assert.equal((await call('StopInvocation', { InvokeId: schedId })).status, 200);
    const fires = await diskCounts(schedFile);
    assert.deepEqual(
      [...fires.entries()].filter(([, c]) => c > 1),
      [],
      'no fire of the schedule ran twice',
    );
    const fresh = await call('RunCommand', {
      NodeIdList: NODES,
      CommandContent: `echo "$FLEETCMD_INVOKE_ID {{ACS::NodeId}}" >> ${file}`,
      EnableParameter: true,
    });
    assert.equal(fresh.status, 200);
    const freshId = fresh.body.InvokeId as string;

    const final = await waitAllFinal(
      call,
      [longId, freshId, ...answered.map((a) => a.id)],
      120_000,
    );
    const long = (await describeOne(call, longId))?.InvokeNodes.InvokeNode[0];
    assert.equal(
      long?.InvocationStatus,
      'Success',
      'the command that ran through the outage reported',
    );
    const longOut = await call('DescribeInvocations', {
      InvokeId: longId,
      IncludeOutput: true,
      ContentEncoding: 'PlainText',
    });
    const longNode = (
      longOut.body.Invocations as {
        Invocation: { InvokeNodes: { InvokeNode: { Output: string }[] } }[];
      }
    ).Invocation[0]?.InvokeNodes.InvokeNode[0];
    assert.equal(longNode?.Output, 'finished\n');
    assert.equal(final.get(`${freshId} rr1`), 'Success');
    assert.equal(final.get(`${freshId} rr2`), 'Success');

    const counts = await diskCounts(file);
    const lost = answered
      .map((a) => ({
        ...a,
        status: final.get(`${a.id} ${a.node}`),
        runs: counts.get(`${a.id} ${a.node}`) ?? 0,
      }))
      .filter((a) => a.status !== 'Success' || a.runs !== 1);
    const duplicated = [...counts.entries()].filter(([, c]) => c > 1);
    console.log(
      `redis restart: ${answered.length} runs answered (${answeredBefore} before the kill, ` +
        `${answeredDuring} during the ${outageMs} ms outage); ${duringOutage.length} requests ` +
        `during the outage, slowest ${slowest} ms; lost ${lost.length}, duplicated ` +
        `${duplicated.length}; schedule: ${fires.size} fires (${firesAtRestart} before the ` +
        `restart), none twice`,
    );
    // What the processes said about a lost run, and its job's state, to tell where it went.
    for (const l of lost) {
      const job = await withNodeQueue(env, l.node, async (q) => {
        const j = await q.getJob(runJobId(l.id));
        return j ? `${await j.getState()} ${j.failedReason ?? ''}` : 'no job';
      });
      console.log(`lost ${l.id} on ${l.node}: ${String(l.status)}, ${l.runs} runs, job ${job}`);
    }
    const said = lost.flatMap((l) =>
      [server, ...agents].flatMap((p) =>
        p
          .log()
          .split('\n')
          .filter((line) => line.includes(l.id))
          .map((line) => `${p.name}: ${line}`),
      ),
    );
    assert.deepEqual(
      lost,
      [],
      `every answered invocation ran once and succeeded\n${said.join('\n')}`,
    );
    assert.deepEqual(duplicated, [], 'no command ran twice');
    assert.equal(counts.get(`${longId} rr1`), 1);
    assert.equal(counts.get(`${freshId} rr1`), 1);
    assert.equal(counts.get(`${freshId} rr2`), 1);
  });
  void it('a frozen Redis (SIGSTOP): every request answers 503 rather than hanging; all recovers on SIGCONT', async () => {
    const server = await startFleetServer(env);
    const call = apiFor(() => server.url, env);
    await startFleetAgent('rz1', env);
    const file = join(dir, 'frozen.log');
    const line = `echo "$FLEETCMD_INVOKE_ID rz1" >> ${file}`;
    const before = await call('RunCommand', { NodeIdList: ['rz1'], CommandContent: line });
    assert.equal(before.status, 200);
    const beforeId = before.body.InvokeId as string;
    await waitAllFinal(call, [beforeId], HANG_MS);

    redis.signal('SIGSTOP');
    const answers: { action: string; status: number; code: unknown; ms: number }[] = [];
    const wrong = () => answers.filter((a) => a.status !== 503 || a.code !== 'ServiceUnavailable');
    try {
      // Stops at the first wrong answer: a hang costs one HANG_MS, not nine.
      for (let i = 0; i < 3 && wrong().length === 0; i++) {
        for (const [action, body] of [
          ['RunCommand', { NodeIdList: ['rz1'], CommandContent: line, ClientToken: `frozen-${i}` }],
          ['DescribeInvocations', { InvokeId: beforeId }],
          ['DescribeNodes', {}],
        ] as const) {
          const res = await call(action, body, HANG_MS);
          answers.push({ action, status: res.status, code: res.body.Code, ms: res.ms });
          if (wrong().length > 0) break;
        }
      }
    } finally {
      redis.signal('SIGCONT');
    }
    console.log(`frozen redis: ${JSON.stringify(answers)}`);
    assert.deepEqual(wrong(), [], 'each request answered 503 ServiceUnavailable');
    assert.equal(answers.length, 9);
    await waitFor('the API to be ready again', () => ready(server.url), HANG_MS, 100);
    const afterRes = await call('RunCommand', { NodeIdList: ['rz1'], CommandContent: line });
    assert.equal(afterRes.status, 200);
    const afterId = afterRes.body.InvokeId as string;
    assert.equal((await waitAllFinal(call, [afterId], HANG_MS)).get(`${afterId} rz1`), 'Success');
    const counts = await diskCounts(file);
    assert.equal(counts.get(`${beforeId} rz1`), 1);
    assert.equal(counts.get(`${afterId} rz1`), 1);
    // A RunCommand answered 503 may still have been applied once Redis woke: at most once.
    assert.ok([...counts.values()].every((c) => c === 1));
  });
  void it('repeated restarts under heavy load: a job handed out as Redis died still runs, once', async () => {
    // Redis may die after it moved a job to active for an agent but before the reply got out:
    // that agent must still run it (its claim keeps it to once), not leave it to be Aborted.
    const server = await startFleetServer(env);
    const call = apiFor(() => server.url, env);
    const nodes = ['rh1', 'rh2'];
    const agents = await Promise.all(nodes.map((n) => startFleetAgent(n, env)));
    const file = join(dir, 'heavy.log');
    const answered: { id: string; node: string }[] = [];
    let loading = true;
    let i = 0;
    /** Requests answered other than 200 (Redis away), counted from each kill. */
    let refused = 0;
    const client = async () => {
      while (loading) {
        const node = nodes[i++ % nodes.length] ?? '';
        const res = await call('RunCommand', {
          NodeIdList: [node],
          CommandContent: `echo "$FLEETCMD_INVOKE_ID ${node}" >> ${file}`,
        });
        if (res.status === 200) answered.push({ id: res.body.InvokeId as string, node });
        else {
          refused++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, client));
    for (let k = 0; k < RESTARTS; k++) {
      const n0 = answered.length;
      await waitFor('load before a restart', async () => answered.length >= n0 + 15, HANG_MS);
      await redis.kill();
      refused = 0;
      // Away at least a second (the scenario), and until the clients saw it: a request refused.
      await Promise.all([
        new Promise((r) => setTimeout(r, 1_000)),
        waitFor('a request refused while Redis is away', async () => refused > 0, HANG_MS),
      ]);
      await redis.start();
      await waitFor('the API to be ready again', () => ready(server.url), HANG_MS, 100);
    }
    loading = false;
    await load;

    const final = await waitAllFinal(
      call,
      answered.map((a) => a.id),
      90_000,
    );
    const counts = await diskCounts(file);
    const lost = answered.filter(
      (a) => final.get(`${a.id} ${a.node}`) !== 'Success' || counts.get(`${a.id} ${a.node}`) !== 1,
    );
    const duplicated = [...counts.values()].filter((c) => c > 1).length;
    console.log(
      `redis restarted ${RESTARTS} times: ${answered.length} runs answered; lost ${lost.length}, ` +
        `duplicated ${duplicated}; active jobs re-checked after a reconnect: ` +
        `${agents.map((a) => a.log().split('handed out before a reconnect').length - 1).join('+')}`,
    );
    assert.deepEqual(lost, [], 'every answered run succeeded, once');
    assert.equal(duplicated, 0);
  });
});
