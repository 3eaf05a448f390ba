import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gateSh, openGate, startCli } from '../helpers/events.js';
import { HANG_MS } from '../helpers/hang.js';
import { upkeepOnce } from '../helpers/promises.js';
import { makeLogger } from '../../src/shared/log.js';
import { NodeStore } from '../../src/store/node-store.js';
import { SchedulerQueue } from '../../src/store/queues.js';
import { openEvents, type SseClient, type SseEvent } from '../helpers/sse.js';
import { makeStack, run, runCli, type AgentProcess, type Stack } from '../helpers/stack.js';

const READ_TOKEN = 'events-reader-token-0123456789';

const of = (invokeId: string) => (e: SseEvent) => e.data.Data.InvokeId === invokeId;
const typed = (type: string, invokeId: string) => (e: SseEvent) =>
  e.event === type && e.data.Data.InvokeId === invokeId;

/** The events a finite (follow=false) stream sends, once it has ended. */
async function held(stack: Stack, query: string, headers: Record<string, string> = {}) {
  const c = await openEvents(stack.url, stack.token, query, headers);
  assert.equal(c.status, 200);
  await c.ended;
  return c.events;
}

void describe('lifecycle events (GET /v1/events)', () => {
  let stack: Stack;
  let agent: AgentProcess;
  let watcher: SseClient;

  before(async () => {
    stack = await makeStack({
      FLEETCMD_API_TOKENS: `reader:read:${READ_TOKEN}`,
      FLEETCMD_MIN_INTERVAL_SECONDS: '1',
      FLEETCMD_NODE_LOST_SECONDS: '3',
    });
    watcher = await openEvents(stack.url, stack.token);
    agent = await stack.startAgent('ev1');
  });
  after(async () => {
    watcher.close();
    await stack.close();
  });

  void it('a run announces InvocationCreated, RunStarted, RunFinished, InvocationFinished in order', async () => {
    const id = await run(stack, { NodeIdList: ['ev1'], CommandContent: 'echo hi; exit 3' });
    const fin = await watcher.next('InvocationFinished', typed('InvocationFinished', id));
    const mine = watcher.events.filter(of(id));
    assert.deepEqual(
      mine.map((e) => e.event),
      ['InvocationCreated', 'RunStarted', 'RunFinished', 'InvocationFinished'],
    );
    for (const e of mine) {
      assert.equal(e.id, e.data.EventId);
      assert.equal(e.event, e.data.EventType);
      assert.ok(!Number.isNaN(Date.parse(e.data.Time)));
    }
    const ids = mine.map((e) => e.id);
    assert.deepEqual(
      [...ids].sort((a, b) => (BigInt(a.replace('-', '')) < BigInt(b.replace('-', '')) ? -1 : 1)),
      ids,
    );
    const [created, started, finished] = mine;
    assert.equal(created?.data.Data.NodeCount, 1);
    assert.deepEqual(created?.data.Data.NodeIds, ['ev1']);
    assert.equal(created?.data.Data.RepeatMode, 'Once');
    assert.equal(started?.data.Data.NodeId, 'ev1');
    assert.equal(started?.data.Data.Repeats, 1);
    assert.deepEqual(
      {
        NodeId: finished?.data.Data.NodeId,
        InvocationStatus: finished?.data.Data.InvocationStatus,
        ExitCode: finished?.data.Data.ExitCode,
        Dropped: finished?.data.Data.Dropped,
        Repeats: finished?.data.Data.Repeats,
      },
      { NodeId: 'ev1', InvocationStatus: 'Failed', ExitCode: 3, Dropped: 0, Repeats: 1 },
    );
    assert.equal(fin.data.Data.InvocationStatus, 'Failed');
    assert.deepEqual(fin.data.Data.Counts, { Failed: 1 });
    assert.equal(fin.data.Data.NodeCount, 1);
    // The wire format: exactly the id, event and data lines.
    assert.equal(
      fin.raw,
      `id: ${fin.id}\nevent: InvocationFinished\ndata: ${JSON.stringify(fin.data)}`,
    );
  });

  void it('Last-Event-ID and ?after= resume with exactly the missed events', async () => {
    const first = await run(stack, { NodeIdList: ['ev1'], CommandContent: 'true' });
    await watcher.next('first finished', typed('InvocationFinished', first));
    const seen = watcher.events.find(typed('InvocationFinished', first))?.id ?? '';
    const second = await run(stack, { NodeIdList: ['ev1'], CommandContent: 'true' });
    await watcher.next('second finished', typed('InvocationFinished', second));
    const idx = watcher.events.findIndex((e) => e.id === seen);
    const missed = watcher.events.slice(idx + 1).map((e) => e.id);
    const upTo = missed.indexOf(watcher.events.find(typed('InvocationFinished', second))?.id ?? '');
    const expected = missed.slice(0, upTo + 1);
    assert.ok(expected.length >= 4);
    for (const resumed of [
      await held(stack, '?follow=false', { 'last-event-id': seen }),
      await held(stack, `?follow=false&after=${seen}`),
    ]) {
      assert.deepEqual(resumed.map((e) => e.id).slice(0, expected.length), expected);
    }
    // A resumed live stream: the missed ones, then new ones, no gap and no repeat.
    const live = await openEvents(stack.url, stack.token, '', { 'last-event-id': seen });
    const third = await run(stack, { NodeIdList: ['ev1'], CommandContent: 'true' });
    await live.next('third finished', typed('InvocationFinished', third));
    await watcher.next('third finished', typed('InvocationFinished', third));
    live.close();
    const all = watcher.events.map((e) => e.id);
    const tail = all.slice(idx + 1, all.indexOf(live.events.at(-1)?.id ?? '') + 1);
    assert.deepEqual(
      live.events.map((e) => e.id),
      tail,
    );
  });

  void it('filters by type and by InvokeId', async () => {
    const id = await run(stack, { NodeIdList: ['ev1'], CommandContent: 'true' });
    await watcher.next('finished', typed('InvocationFinished', id));
    const byType = await held(stack, '?follow=false&after=0&type=RunFinished,InvocationFinished');
    assert.ok(byType.some(typed('RunFinished', id)));
    assert.ok(byType.every((e) => e.event === 'RunFinished' || e.event === 'InvocationFinished'));
    const byInvocation = await held(stack, `?follow=false&after=0&InvokeId=${id}`);
    assert.deepEqual(
      byInvocation.map((e) => e.event),
      ['InvocationCreated', 'RunStarted', 'RunFinished', 'InvocationFinished'],
    );
    const bad = await openEvents(stack.url, stack.token, '?type=Nope');
    assert.equal(bad.status, 400);
    assert.match(bad.body, /type/);
    const badAfter = await openEvents(stack.url, stack.token, '', { 'last-event-id': 'x' });
    assert.equal(badAfter.status, 400);
  });

  /** Starts an agent, waits for its NodeOnline, kills it with `signal`; answers its NodeOffline. */
  async function onlineThenOffline(nodeId: string, signal: NodeJS.Signals): Promise<SseEvent> {
    const node = (type: string) => (e: SseEvent) =>
      e.event === type && e.data.Data.NodeId === nodeId;
    const agentOf = await stack.startAgent(nodeId);
    await watcher.next(`${nodeId} online`, node('NodeOnline'));
    await agentOf.kill(signal);
    return watcher.next(`${nodeId} offline`, node('NodeOffline'));
  }

  void it('announces NodeOnline and NodeOffline as an agent starts and stops', async () => {
    const off = await onlineThenOffline('ev2', 'SIGTERM');
    assert.equal(off.data.Data.Reason, 'Stopped');
  });

  void it('announces NodeOffline (Lost) once for an agent that died', async () => {
    const lost = await onlineThenOffline('ev3', 'SIGKILL');
    assert.equal(lost.data.Data.Reason, 'Lost');
    assert.equal(typeof lost.data.Data.LastHeartbeatMs, 'number');
    // Announced once per silence: asked again for the same silence, the script declines.
    const nodes = new NodeStore(stack.redis, stack.keys, makeLogger('silent', 'test'));
    assert.equal(await nodes.announceLost('ev3', Number(lost.data.Data.LastHeartbeatMs)), false);
    const id = await run(stack, { NodeIdList: ['ev1'], CommandContent: 'true' });
    await watcher.next('finished', typed('InvocationFinished', id));
    const offline = watcher.events.filter(
      (e) => e.event === 'NodeOffline' && e.data.Data.NodeId === 'ev3',
    );
    assert.equal(offline.length, 1);
  });

  void it('announces FireSkipped when a fire finds the previous run still running', async () => {
    const gate = join(await mkdtemp(join(tmpdir(), 'fc-ev-')), 'go');
    const id = await run(stack, {
      NodeIdList: ['ev1'],
      CommandContent: gateSh(gate),
      Frequency: 'rate(1s)',
    });
    await watcher.next('run started', typed('RunStarted', id));
    const skipped = await watcher.next('fire skipped', typed('FireSkipped', id));
    assert.equal(skipped.data.Data.NodeId, 'ev1');
    assert.equal(typeof skipped.data.Data.Fire, 'string');
    await stack.call('StopInvocation', { InvokeId: id });
    await openGate(gate);
    await watcher.next('stopped run finished', typed('RunFinished', id));
    // The stop found the run running: InvocationFinished waits for its end (the upkeep).
    const fin = await watcher.next('finished', typed('InvocationFinished', id));
    assert.equal(fin.data.Data.InvocationStatus, 'Stopped');
    const mine = watcher.events.filter(of(id)).map((e) => e.event);
    assert.equal(mine.indexOf('InvocationFinished'), mine.length - 1, mine.join(' '));
    assert.equal(mine.filter((t) => t === 'InvocationFinished').length, 1);
  });

  void it('a stopped Period invocation announces one InvocationFinished (Stopped) once every node is final', async () => {
    const id = await run(stack, {
      NodeIdList: ['ev1'],
      CommandContent: 'echo tick',
      Frequency: 'rate(1s)',
    });
    await watcher.next('a fire ran', typed('RunFinished', id));
    await stack.call('StopInvocation', { InvokeId: id });
    const final = await stack.waitFor('the stop final on every node', async () => {
      const inv = await stack.describe(id);
      return inv.InvocationStatus === 'Stopped' ? inv : undefined;
    });
    // A run still Stopping when the stop answered ends later: the upkeep then announces it.
    await upkeepOnce(stack);
    const fin = await watcher.next('finished', typed('InvocationFinished', id));
    const counts: Record<string, number> = {};
    for (const n of final.InvokeNodes.InvokeNode)
      counts[n.InvocationStatus] = (counts[n.InvocationStatus] ?? 0) + 1;
    assert.deepEqual(fin.data.Data, {
      InvokeId: id,
      InvocationStatus: 'Stopped',
      NodeCount: 1,
      Counts: counts,
    });
    assert.ok(!(await stack.redis.sismember(stack.keys.timedInvocations(), id)), 'retired');
    // Asked again (another upkeep, a repeated stop): nothing more.
    await upkeepOnce(stack);
    await stack.call('StopInvocation', { InvokeId: id });
    const all = await held(stack, `?follow=false&after=0&InvokeId=${id}`);
    assert.equal(all.filter((e) => e.event === 'InvocationFinished').length, 1);
    assert.equal(all.at(-1)?.event, 'InvocationFinished', 'after every RunFinished');
  });

  void it('an at() invocation that ran is retired by the upkeep with one InvocationFinished', async () => {
    const when = new Date(Date.now() + 2_000);
    const text = when.toISOString().slice(0, 19).replace('T', ' ');
    const id = await run(stack, {
      NodeIdList: ['ev1'],
      CommandContent: 'echo at-ran',
      Frequency: `at(${text})`,
    });
    await watcher.next('its run ended', typed('RunFinished', id));
    await stack.waitFor('the at() invocation over', async () => {
      const inv = await stack.describe(id);
      return inv.InvocationStatus === 'Success' ? inv : undefined;
    });
    await upkeepOnce(stack);
    const fin = await watcher.next('finished', typed('InvocationFinished', id));
    assert.deepEqual(fin.data.Data, {
      InvokeId: id,
      InvocationStatus: 'Success',
      NodeCount: 1,
      Counts: { Success: 1 },
    });
    assert.ok(!(await stack.redis.sismember(stack.keys.timedInvocations(), id)), 'retired');
    // The upkeep again, even with the invocation put back among the timed ones (a crash
    // between the announcement and its retirement): no second event.
    await stack.redis.sadd(stack.keys.timedInvocations(), id);
    await upkeepOnce(stack);
    await upkeepOnce(stack);
    assert.ok(!(await stack.redis.sismember(stack.keys.timedInvocations(), id)), 'retired again');
    const all = await held(stack, `?follow=false&after=0&InvokeId=${id}`);
    assert.deepEqual(
      all.map((e) => e.event),
      ['InvocationCreated', 'RunStarted', 'RunFinished', 'InvocationFinished'],
    );
  });

  void it('fleetcmd events prints held events, --json and --follow', async () => {
    const env = { FLEETCMD_URL: stack.url, FLEETCMD_API_TOKEN: READ_TOKEN };
    const id = await run(stack, { NodeIdList: ['ev1'], CommandContent: 'true' });
    await watcher.next('finished', typed('InvocationFinished', id));
    // Followed from an event before this run: its RunFinished, then later ones as they come.
    const from = watcher.events.find(typed('InvocationCreated', id))?.id ?? '';
    const follow = startCli(['events', '--follow', '--type', 'RunFinished', '--after', from], env);
    await follow.waitForOutput([`InvokeId=${id}`], HANG_MS);
    const held = await runCli(['events', '--invoke-id', id], env);
    assert.equal(held.code, 0, held.stderr);
    const lines = held.stdout.trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(/\s+/)[1]),
      ['InvocationCreated', 'RunStarted', 'RunFinished', 'InvocationFinished'],
    );
    assert.match(lines[2] ?? '', /NodeId=ev1 .*InvocationStatus=Success .*ExitCode=0/);
    const json = await runCli(
      ['events', '--invoke-id', id, '--type', 'RunFinished', '--json'],
      env,
    );
    const parsed = json.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as SseEvent['data']);
    assert.equal(parsed.length, 1);
    assert.equal(parsed[0]?.EventType, 'RunFinished');
    assert.equal(parsed[0]?.Data.InvokeId, id);
    const later = await run(stack, { NodeIdList: ['ev1'], CommandContent: 'true' });
    await follow.waitForOutput([`InvokeId=${later}`], HANG_MS);
    const bad = await runCli(['events', '--type', 'Nope'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--type/);
  });

  void it('a read token may watch; no token or a wrong one is refused', async () => {
    const reader = await openEvents(stack.url, READ_TOKEN, '?follow=false');
    assert.equal(reader.status, 200);
    await reader.ended;
    for (const token of [null, 'wrong']) {
      const refused = await openEvents(stack.url, token);
      assert.equal(refused.status, 401);
      assert.match(refused.body, /InvalidToken/);
    }
  });

  void it('closing the server ends open streams (a drain does not wait for watchers)', async () => {
    const open = await openEvents(stack.url, stack.token);
    assert.equal(open.status, 200);
    await agent.kill('SIGTERM');
    await stack.server.close();
    await open.ended;
    await watcher.ended;
  });
});

void describe('a stopped timed invocation retires as its last run ends', () => {
  let stack: Stack;
  before(async () => {
    stack = await makeStack({ FLEETCMD_MIN_INTERVAL_SECONDS: '1' });
    await stack.startAgent('evfin');
    // No upkeep pass from now on (it would also retire it): the event relay must.
    const queue = new SchedulerQueue(stack.redis, stack.keys);
    await queue.removeSchedules(['upkeep']);
    await queue.close();
  });
  after(() => stack.close());

  void it('a run still Stopping when StopInvocation answered: InvocationFinished and retirement follow its end', async () => {
    const w = await openEvents(stack.url, stack.token);
    try {
      const id = await run(stack, {
        NodeIdList: ['evfin'],
        CommandContent: 'sleep 600',
        Frequency: 'rate(1s)',
      });
      await w.next('the run started', typed('RunStarted', id));
      const stop = await stack.call('StopInvocation', { InvokeId: id });
      assert.equal(stop.status, 200, JSON.stringify(stop.body));
      // The stop answered while the run was still being stopped: not retired yet, but listed.
      assert.ok(await stack.redis.sismember(stack.keys.timedInvocations(), id), 'still timed');
      const fin = await w.next('finished', typed('InvocationFinished', id));
      assert.equal(fin.data.Data.InvocationStatus, 'Stopped');
      await stack.waitFor(
        'retired',
        async () => !(await stack.redis.sismember(stack.keys.timedInvocations(), id)),
        HANG_MS,
      );
      const ttl = await stack.redis.pttl(stack.keys.invocation(id));
      assert.ok(ttl > 0, `expires (TTL ${ttl} ms)`);
      assert.equal(await stack.redis.sismember(stack.keys.finishingInvocations(), id), 0);
      const all = await held(stack, `?follow=false&after=0&InvokeId=${id}`);
      assert.equal(all.filter((e) => e.event === 'InvocationFinished').length, 1);
      assert.equal(all.at(-1)?.event, 'InvocationFinished', 'after every RunFinished');
    } finally {
      w.close();
    }
  });
});

void describe('event stream length', () => {
  let stack: Stack;
  before(async () => {
    stack = await makeStack({ FLEETCMD_EVENTS_MAXLEN: '10' });
    await stack.startAgent('evlen');
  });
  after(() => stack.close());

  void it('stays bounded by FLEETCMD_EVENTS_MAXLEN (trimmed by whole stream nodes)', async () => {
    const w = await openEvents(stack.url, stack.token);
    // Timed far ahead: each is one InvocationCreated and no run.
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      ids.push(
        await run(stack, {
          NodeIdList: ['evlen'],
          CommandContent: 'true',
          Frequency: 'at(2099-01-01 00:00:00)',
        }),
      );
    }
    await w.next('last created', typed('InvocationCreated', ids.at(-1) ?? ''));
    w.close();
    const len = await stack.redis.xlen(stack.keys.events());
    // XADD MAXLEN ~ trims whole macro nodes (100 entries by default): at most 10 + 100 left.
    assert.ok(len <= 110 && len >= 10, `${len} events held`);
    const heldNow = await held(stack, '?follow=false&after=0');
    assert.equal(heldNow.length, len);
  });
});
