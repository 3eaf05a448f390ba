import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Job } from 'bullmq';
import { Metrics } from '../../src/api/plugins/metrics.js';
import { buildServer } from '../../src/api/server.js';
import { AuditStore } from '../../src/store/audit-store.js';
import { loadConfig } from '../../src/shared/config.js';
import { AGGREGATE_STATUSES } from '../../src/domain/status.js';
import { makeLogger } from '../../src/shared/log.js';
import { startServer } from '../../src/server/main.js';
import { freePort } from '../../src/dev/private-redis.js';
import { Keys } from '../../src/store/keys.js';
import { CommandStore } from '../../src/store/command-store.js';
import { InvocationStore } from '../../src/store/invocation-store.js';
import { NodeStore } from '../../src/store/node-store.js';
import { NodeQueues, SchedulerQueue } from '../../src/store/queues.js';
import { closeRedis, makeRedis } from '../../src/store/redis.js';
import { RunStore } from '../../src/store/run-store.js';
import {
  makeStack,
  nodeOf,
  run,
  waitFinal,
  type AgentProcess,
  type Stack,
} from '../helpers/stack.js';
import { testScheduler, withStores } from '../helpers/stores.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (the subset prom-client writes). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `exposition line ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k as string] = v as string;
    }
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** One scrape of GET /metrics (no token) of the stack's server or another one, parsed. */
async function scrape(stack: Stack | { url: string }): Promise<Sample[]> {
  const res = await fetch(`${stack.url}/metrics`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return parse(text);
}

/** The sum of a metric's series whose labels include `labels`; undefined when none exists. */
function value(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const hits = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return hits.length === 0 ? undefined : hits.reduce((a, s) => a + s.value, 0);
}

function must(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const v = value(samples, name, labels);
  assert.ok(v !== undefined, `${name}${JSON.stringify(labels)} is exposed`);
  return v;
}

const FINAL = ['Success', 'Failed', 'Timeout', 'Error', 'Invalid', 'Aborted', 'Cancelled'];

void describe('GET /metrics', () => {
  let stack: Stack;
  let o2: AgentProcess;

  before(async () => {
    stack = await makeStack({ FLEETCMD_MIN_INTERVAL_SECONDS: '1' });
    await stack.startAgent('o1');
    o2 = await stack.startAgent('o2');
    // A registered node whose agent stopped cleanly: offline, its queue not consumed.
    const o3 = await stack.startAgent('o3');
    await o3.kill('SIGTERM');
  });
  after(() => stack.close());

  void it('is public Prometheus text with process metrics and agents registered/online', async () => {
    const res = await fetch(`${stack.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers.get('content-type')), /^text\/plain/);
    const text = await res.text();
    for (const name of [
      'process_cpu_seconds_total',
      'fleetcmd_invocations_created_total',
      'fleetcmd_runs_total',
      'fleetcmd_recent_invocations',
      'fleetcmd_recent_invocations_truncated',
      'fleetcmd_dispatch_latency_seconds',
      'fleetcmd_fire_lag_seconds',
      'fleetcmd_scheduler_queue_jobs',
      'fleetcmd_run_queue_jobs',
      'fleetcmd_run_queue_max_node_jobs',
      'fleetcmd_delivery_deadlines',
      'fleetcmd_agents_registered',
      'fleetcmd_agents_online',
      'fleetcmd_http_requests_total',
      'fleetcmd_http_request_duration_seconds',
    ]) {
      assert.ok(text.includes(`# TYPE ${name} `), `${name} is exposed`);
    }
    // Agents join the registry as the scheduler hears their announcements.
    const m = await stack.waitFor('three nodes registered', async () => {
      const s = await scrape(stack);
      return must(s, 'fleetcmd_agents_registered') === 3 ? s : undefined;
    });
    assert.equal(must(m, 'fleetcmd_agents_online'), 2);
    for (const state of ['waiting', 'delayed', 'active']) {
      must(m, 'fleetcmd_run_queue_jobs', { state });
    }
    for (const state of ['waiting', 'delayed', 'active', 'completed', 'failed']) {
      must(m, 'fleetcmd_scheduler_queue_jobs', { state });
    }
  });

  void it('counts created invocations, runs by final status and dispatches exactly', async () => {
    const before = await scrape(stack);
    const ok = await run(stack, { NodeIdList: ['o1'], CommandContent: 'true' });
    const bad = await run(stack, { NodeIdList: ['o2'], CommandContent: 'exit 3' });
    assert.equal(nodeOf(await waitFinal(stack, ok), 'o1').InvocationStatus, 'Success');
    assert.equal(nodeOf(await waitFinal(stack, bad), 'o2').InvocationStatus, 'Failed');
    const after = await scrape(stack);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      must(after, name, labels) - (value(before, name, labels) ?? 0);

    for (const status of FINAL) {
      const expected = status === 'Success' || status === 'Failed' ? 1 : 0;
      assert.equal(delta('fleetcmd_runs_total', { status }), expected, status);
    }
    assert.equal(
      delta('fleetcmd_invocations_created_total', { kind: 'command', repeat_mode: 'Once' }),
      2,
    );
    assert.equal(delta('fleetcmd_dispatch_latency_seconds_count'), 2);
    assert.equal(delta('fleetcmd_http_requests_total', { action: 'RunCommand', code: '200' }), 2);
    // A refused request is counted under its status and creates nothing.
    const refused = await stack.call('RunCommand', { NodeIdList: ['nope'], CommandContent: 'x' });
    assert.equal(refused.status, 400);
    const later = await scrape(stack);
    assert.equal(
      must(later, 'fleetcmd_http_requests_total', { action: 'RunCommand', code: '400' }) -
        (value(after, 'fleetcmd_http_requests_total', { action: 'RunCommand', code: '400' }) ?? 0),
      1,
    );
    assert.equal(
      must(later, 'fleetcmd_invocations_created_total', { repeat_mode: 'Once' }),
      must(after, 'fleetcmd_invocations_created_total', { repeat_mode: 'Once' }),
    );
  });

  void it('shows recent command invocations by status; a sent file is counted as kind file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetcmd-obs-'));
    try {
      await withStores(stack, async (src) => {
        // A registry of its own that reads Redis at every scrape (the server's caches a while).
        const metrics = new Metrics({ recentCacheMs: 0 });
        const read = async () => parse(await metrics.render(src, 5_000));
        const before = await read();
        const createdBefore = await scrape(stack);
        const ok = await run(stack, { NodeIdList: ['o1'], CommandContent: 'true' });
        const bad = await run(stack, { NodeIdList: ['o2'], CommandContent: 'exit 3' });
        const sent = await stack.call('SendFile', {
          NodeIdList: ['o1'],
          Name: 'obs.txt',
          TargetDir: dir,
          Content: 'hello',
        });
        assert.equal(sent.status, 200, JSON.stringify(sent.body));
        assert.equal((await waitFinal(stack, ok)).InvocationStatus, 'Success');
        assert.equal((await waitFinal(stack, bad)).InvocationStatus, 'Failed');
        await stack.waitFor('the file sent', async () => {
          const res = await stack.call('DescribeSendFileResults', { InvokeId: sent.body.InvokeId });
          const invs = res.body.Invocations as { Invocation: { InvocationStatus: string }[] };
          return invs.Invocation[0]?.InvocationStatus === 'Success';
        });
        const after = await read();
        // The two commands, each in its status; the sent file is not a command invocation.
        for (const status of AGGREGATE_STATUSES) {
          const delta =
            must(after, 'fleetcmd_recent_invocations', { status }) -
            must(before, 'fleetcmd_recent_invocations', { status });
          assert.equal(delta, status === 'Success' || status === 'Failed' ? 1 : 0, status);
        }
        assert.equal(must(after, 'fleetcmd_recent_invocations_truncated'), 0);
        const created = await scrape(stack);
        const delta = (kind: string) =>
          must(created, 'fleetcmd_invocations_created_total', { kind, repeat_mode: 'Once' }) -
          (value(createdBefore, 'fleetcmd_invocations_created_total', {
            kind,
            repeat_mode: 'Once',
          }) ?? 0);
        assert.equal(delta('command'), 2);
        assert.equal(delta('file'), 1);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  void it('serves /healthz and /metrics from a scheduler-only process; dispatches count once', async () => {
    const sched = await startServer(
      loadConfig({
        ...stack.env,
        FLEETCMD_API_TOKEN: stack.token,
        PORT: '0',
        FLEETCMD_HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
        FLEETCMD_ROLE: 'scheduler',
      }),
      makeLogger('silent', 'test'),
    );
    try {
      const url = sched.url;
      assert.ok(url !== undefined, 'a scheduler-only process listens');
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      const api = await fetch(`${url}/v1/DescribeNodes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(api.status, 404, 'no API on a scheduler-only process');
      const dispatches = (s: Sample[]) => must(s, 'fleetcmd_dispatch_latency_seconds_count');
      const before = [await scrape(stack), await scrape({ url })];
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        ids.push(await run(stack, { NodeIdList: ['o1'], CommandContent: 'true' }));
      }
      for (const id of ids) await waitFinal(stack, id);
      const after = [await scrape(stack), await scrape({ url })];
      // Either replica may take each dispatch job; together they observe each one once.
      const observed = after.reduce((n, s, i) => n + dispatches(s) - dispatches(before[i] ?? s), 0);
      assert.equal(observed, 4);
      const [api0, sched0] = after as [Sample[], Sample[]];
      must(sched0, 'fleetcmd_fire_lag_seconds_count');
      // A fleet-wide series is the same on every replica.
      assert.equal(
        must(sched0, 'fleetcmd_agents_registered'),
        must(api0, 'fleetcmd_agents_registered'),
      );
    } finally {
      await sched.close();
    }
  });

  void it('observes a dispatch or a fire once, not again when its job is retried', async () => {
    const once = await run(stack, { NodeIdList: ['o1'], CommandContent: 'true' });
    await waitFinal(stack, once);
    const timed = await run(stack, {
      NodeIdList: ['o1'],
      Frequency: 'rate(1h)',
      CommandContent: 'true',
    });
    try {
      await stack.waitFor(
        'the schedule dispatched',
        async () => nodeOf(await stack.describe(timed), 'o1').InvocationStatus === 'Scheduled',
      );
      await withStores(stack, async (src) => {
        const metrics = new Metrics();
        const scheduler = testScheduler(stack, src, { metrics });
        const count = async (name: string) =>
          must(parse(await metrics.registry.metrics()), `${name}_count`);
        // The stack's scheduler dispatched it already: this is a retried dispatch job.
        await scheduler.dispatch(once);
        assert.equal(await count('fleetcmd_dispatch_latency_seconds'), 0);
        // One fire of the schedule, then the same job again, as BullMQ retries it.
        const fireMs = Date.now();
        const job = {
          name: 'fire',
          id: 'obs-retried-fire',
          data: { invokeId: timed, nodeIds: ['o1'], zone: '', fireMs },
        } as unknown as Job;
        await scheduler.fire(job);
        assert.equal(await count('fleetcmd_fire_lag_seconds'), 1);
        await scheduler.fire(job);
        assert.equal(await count('fleetcmd_fire_lag_seconds'), 1);
        const repeats = await stack.waitFor('the fire run', async () => {
          const node = nodeOf(await stack.describe(timed), 'o1');
          return node.Repeats > 0 && node.InvocationStatus === 'Scheduled' ? node.Repeats : false;
        });
        assert.equal(repeats, 1);
        // The retried dispatch queued its job again (the agent skips it): let it drain, so the
        // next tests see o1's queue as it was.
        await stack.waitFor('o1 queue drained', async () => {
          const d = await src.nodeQueues.depth('o1');
          return d.waiting + d.delayed + d.active === 0;
        });
      });
    } finally {
      await stack.call('StopInvocation', { InvokeId: timed });
    }
  });

  void it('shows a run waiting in an offline node’s queue, then counts it Aborted', async () => {
    const before = await scrape(stack);
    const waitingBefore = must(before, 'fleetcmd_run_queue_jobs', { state: 'waiting' });
    const id = await run(stack, { NodeIdList: ['o3'], CommandContent: 'true' });
    // The job waits until the delivery deadline (3 s in the test stack) aborts it.
    const seen = await stack.waitFor('the run job waiting', async () => {
      const s = await scrape(stack);
      return must(s, 'fleetcmd_run_queue_jobs', { state: 'waiting' }) > waitingBefore
        ? s
        : undefined;
    });
    assert.equal(must(seen, 'fleetcmd_run_queue_jobs', { state: 'waiting' }), waitingBefore + 1);
    assert.ok(must(seen, 'fleetcmd_run_queue_max_node_jobs') >= 1);
    assert.equal(nodeOf(await waitFinal(stack, id), 'o3').InvocationStatus, 'Aborted');
    const after = await scrape(stack);
    assert.equal(
      must(after, 'fleetcmd_runs_total', { status: 'Aborted' }) -
        must(before, 'fleetcmd_runs_total', { status: 'Aborted' }),
      1,
    );
    assert.equal(must(after, 'fleetcmd_run_queue_jobs', { state: 'waiting' }), waitingBefore);
  });

  void it('observes fire lag for each fire of a schedule', async () => {
    const before = await scrape(stack);
    const lagBefore = must(before, 'fleetcmd_fire_lag_seconds_count');
    const id = await run(stack, {
      NodeIdList: ['o1'],
      Frequency: '*/1 * * * * *',
      CommandContent: 'true',
    });
    try {
      const after = await stack.waitFor(
        'two fires observed',
        async () => {
          const s = await scrape(stack);
          return must(s, 'fleetcmd_fire_lag_seconds_count') >= lagBefore + 2 ? s : undefined;
        },
        20_000,
      );
      assert.equal(
        must(after, 'fleetcmd_invocations_created_total', { repeat_mode: 'Period' }) -
          (value(before, 'fleetcmd_invocations_created_total', { repeat_mode: 'Period' }) ?? 0),
        1,
      );
      // A schedule's dispatch queues no run job: it is not a dispatch latency sample.
      assert.equal(
        must(after, 'fleetcmd_dispatch_latency_seconds_count'),
        must(before, 'fleetcmd_dispatch_latency_seconds_count'),
      );
    } finally {
      await stack.call('StopInvocation', { InvokeId: id });
    }
  });

  void it('counts an agent that stops as registered but offline', async () => {
    await o2.kill('SIGTERM');
    const m = await scrape(stack);
    assert.equal(must(m, 'fleetcmd_agents_registered'), 3);
    assert.equal(must(m, 'fleetcmd_agents_online'), 1);
  });
});

void describe('GET /metrics without Redis', () => {
  void it('answers 503 ServiceUnavailable within its bound instead of hanging', async () => {
    const redis = makeRedis(`redis://127.0.0.1:${await freePort()}`, 'producer', 'dead');
    const keys = new Keys('dead');
    const nodeQueues = new NodeQueues(redis, keys);
    const schedulerQueue = new SchedulerQueue(redis, keys);
    const app = buildServer({
      invocations: new InvocationStore(redis, keys),
      runs: new RunStore(redis, keys),
      nodes: new NodeStore(redis, keys),
      commands: new CommandStore(redis, keys),
      audit: new AuditStore(redis, keys),
      nodeQueues,
      schedulerQueue,
      deliveryTimeoutSeconds: 60,
      minIntervalSeconds: 10,
      clock: () => Date.now(),
      redis,
      apiToken: 'secret',
      log: makeLogger('silent', 'test'),
      metricsTimeoutMs: 1_000,
    });
    try {
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(res.statusCode, 503);
      const body = res.json<{ Code: string; Message: string; RequestId: string }>();
      assert.equal(body.Code, 'ServiceUnavailable');
      assert.match(body.Message, /Redis/);
      assert.ok(body.RequestId.length > 0);
      // The process itself is fine.
      assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    } finally {
      await app.close();
      await schedulerQueue.close();
      await nodeQueues.close();
      await closeRedis(redis);
    }
  });
});
