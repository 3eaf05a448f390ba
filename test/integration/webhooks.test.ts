import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../../src/server/main.js';
import { makeLogger } from '../../src/shared/log.js';
import { hangBound } from '../helpers/hang.js';
import { startReplica } from '../helpers/promises.js';
import { makeStack, run, type Stack } from '../helpers/stack.js';

const ADMIN = randomBytes(16).toString('hex');

interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
  body: { EventId: string; EventType: string; Time: string; Data: Record<string, unknown> };
}

/**
 * A real HTTP receiver on 127.0.0.1: records every POST, and answers with what `answer`
 * says for it (a status, or 'hang': no answer at all). `down()` closes its port, `up()` opens
 * the same port again.
 */
class Receiver extends EventEmitter {
  readonly got: Received[] = [];
  answer: (n: number) => number | 'hang' = () => 200;
  port = 0;
  private server: Server | undefined;

  async up(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString();
        const r: Received = {
          headers: req.headers,
          raw,
          body: JSON.parse(raw) as Received['body'],
        };
        this.got.push(r);
        const a = this.answer(this.got.length);
        if (a !== 'hang') res.writeHead(a).end();
        this.emit('request', r);
      });
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    s.close();
    await once(s, 'close');
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Waits until a request matching `pred` has arrived (or has already); HANG_MS bounds it. */
  next(pred: (r: Received) => boolean): Promise<Received> {
    const wait = async () => {
      for (;;) {
        const found = this.got.find(pred);
        if (found) return found;
        await once(this, 'request');
      }
    };
    return hangBound('a webhook delivery', wait());
  }
}

const compareIds = (a: string, b: string) => {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
};

const of = (invokeId: string, type: string) => (r: Received) =>
  r.body.EventType === type && r.body.Data.InvokeId === invokeId;

void describe('webhooks', () => {
  let stack: Stack;
  const admin = (action: string, body: unknown) => stack.call(action, body, { token: ADMIN });

  before(async () => {
    stack = await makeStack({
      FLEETCMD_API_TOKENS: `ops:admin:${ADMIN}`,
      FLEETCMD_WEBHOOK_ALLOW_PRIVATE: 'true',
      FLEETCMD_WEBHOOK_RETRY_BASE_MS: '100',
      FLEETCMD_WEBHOOK_RETRY_MAX_MS: '400',
      FLEETCMD_WEBHOOK_TIMEOUT_MS: '1000',
      FLEETCMD_WEBHOOKS_MAX: '3',
    });
    await stack.startAgent('wh1');
  });
  after(async () => {
    await stack.close();
  });

  async function create(url: string, types: string[], secret?: string) {
    const res = await admin('CreateWebhook', {
      Url: url,
      EventTypes: types,
      ...(secret ? { Secret: secret } : {}),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return { id: res.body.WebhookId as string, secret: res.body.Secret as string };
  }

  void it('refuses bad input with a message naming the field, and non-admin tokens', async () => {
    const cases: [unknown, RegExp][] = [
      [{ Url: 'not a url', EventTypes: ['RunFinished'] }, /Url/],
      [{ Url: 'ftp://example.com/x', EventTypes: ['RunFinished'] }, /Url: must be http/],
      [
        { Url: 'http://example.com/x', EventTypes: ['RunDone'] },
        /EventTypes.*"RunDone" is not an event type/,
      ],
      [{ Url: 'http://example.com/x', EventTypes: [] }, /EventTypes/],
      [{ Url: 'http://example.com/x', EventTypes: ['RunFinished'], Secret: 'short' }, /Secret/],
    ];
    for (const [body, message] of cases) {
      const res = await admin('CreateWebhook', body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(String(res.body.Message), message);
    }
    const asRun = await stack.call('CreateWebhook', {
      Url: 'http://example.com/x',
      EventTypes: ['RunFinished'],
    });
    assert.equal(asRun.status, 403);
    const missing = await admin('DeleteWebhook', { WebhookId: 'wh-0000000000000000' });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.Code, 'InvalidWebhookId.NotFound');
  });

  void it('delivers signed events in order, RunFinished with the vendor task-completed fields', async () => {
    const rx = new Receiver();
    await rx.up();
    const hook = await create(rx.url, ['RunFinished', 'InvocationFinished']);
    try {
      const id = await run(stack, { NodeIdList: ['wh1'], CommandContent: 'exit 3', Name: 'three' });
      await rx.next(of(id, 'InvocationFinished'));
      const mine = rx.got.filter((r) => r.body.Data.InvokeId === id);
      assert.deepEqual(
        mine.map((r) => r.body.EventType),
        ['RunFinished', 'InvocationFinished'],
      );
      const fin = mine[0];
      assert.ok(fin);
      assert.equal(fin.headers['x-fleetcmd-event'], 'RunFinished');
      assert.match(String(fin.headers['x-fleetcmd-delivery']), /^[0-9a-f]{8}-[0-9a-f]{4}-/);
      const expected = `sha256=${createHmac('sha256', hook.secret).update(fin.raw).digest('hex')}`;
      assert.equal(fin.headers['x-fleetcmd-signature-256'], expected);
      assert.match(hook.secret, /^[0-9a-f]{64}$/);
      assert.deepEqual(Object.keys(fin.body), ['EventId', 'EventType', 'Time', 'Data']);
      assert.equal(fin.body.Data.NodeId, 'wh1');
      assert.equal(fin.body.Data.ExitCode, 3);
      assert.equal(fin.body.Data.InvocationStatus, 'Failed');
      assert.equal(fin.body.Data.CommandName, 'three');
      assert.equal(fin.body.Data.FinishTime, fin.body.Time);
      // Listing never shows the secret; the delivery log shows the attempt.
      const list = await admin('DescribeWebhooks', {});
      assert.equal(list.status, 200);
      assert.ok(!JSON.stringify(list.body).includes(hook.secret));
      const deliveries = await admin('DescribeWebhookDeliveries', { WebhookId: hook.id });
      const rows = (deliveries.body.Deliveries as { Delivery: Record<string, unknown>[] }).Delivery;
      assert.ok(rows.some((d) => d.EventId === fin.body.EventId && d.Status === 'Succeeded'));
    } finally {
      await admin('DeleteWebhook', { WebhookId: hook.id });
      await rx.down();
    }
  });

  void it('retries a 5xx and a timeout with the same delivery id, holding later events back', async () => {
    const rx = new Receiver();
    // The first attempt gets no answer (timeout), the second a 503, then all succeed.
    rx.answer = (n) => (n === 1 ? 'hang' : n === 2 ? 503 : 200);
    await rx.up();
    const hook = await create(rx.url, ['RunStarted', 'RunFinished'], 'a-secret-of-my-own-choosing');
    try {
      const id = await run(stack, { NodeIdList: ['wh1'], CommandContent: 'true' });
      await rx.next(of(id, 'RunFinished'));
      const mine = rx.got.filter((r) => r.body.Data.InvokeId === id);
      assert.deepEqual(
        mine.map((r) => r.body.EventType),
        ['RunStarted', 'RunStarted', 'RunStarted', 'RunFinished'],
      );
      const ids = new Set(mine.slice(0, 3).map((r) => r.headers['x-fleetcmd-delivery']));
      assert.equal(ids.size, 1, 'one delivery id across the attempts');
      assert.notEqual(
        mine[3]?.headers['x-fleetcmd-delivery'],
        mine[0]?.headers['x-fleetcmd-delivery'],
      );
      const sig = createHmac('sha256', 'a-secret-of-my-own-choosing').update(mine[3]?.raw ?? '');
      assert.equal(mine[3]?.headers['x-fleetcmd-signature-256'], `sha256=${sig.digest('hex')}`);
      const deliveries = await admin('DescribeWebhookDeliveries', {
        WebhookId: hook.id,
        MaxResults: 2,
      });
      assert.ok(deliveries.body.NextToken, 'four attempts: a second page');
      const page2 = await admin('DescribeWebhookDeliveries', {
        WebhookId: hook.id,
        NextToken: deliveries.body.NextToken,
      });
      const all = [
        ...(deliveries.body.Deliveries as { Delivery: Record<string, unknown>[] }).Delivery,
        ...(page2.body.Deliveries as { Delivery: Record<string, unknown>[] }).Delivery,
      ].reverse();
      assert.deepEqual(
        all.map((d) => [d.EventType, d.Attempt, d.Status, d.HttpStatus]),
        [
          ['RunStarted', 1, 'Retrying', 0],
          ['RunStarted', 2, 'Retrying', 503],
          ['RunStarted', 3, 'Succeeded', 200],
          ['RunFinished', 1, 'Succeeded', 200],
        ],
      );
    } finally {
      await admin('DeleteWebhook', { WebhookId: hook.id });
      await rx.down();
    }
  });

  void it('a receiver that was down gets every event afterwards, in order', async () => {
    const rx = new Receiver();
    await rx.up();
    const hook = await create(rx.url, ['RunFinished', 'InvocationFinished']);
    try {
      await rx.down();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        ids.push(await run(stack, { NodeIdList: ['wh1'], CommandContent: `exit ${i}` }));
      }
      // Wait until the receiver's absence has been seen (a refused connection, retried).
      await stack.waitFor('a failed attempt', async () => {
        const d = await admin('DescribeWebhookDeliveries', { WebhookId: hook.id });
        const rows = (d.body.Deliveries as { Delivery: Record<string, unknown>[] }).Delivery;
        return rows.some((r) => r.Status === 'Retrying' && r.HttpStatus === 0);
      });
      const last = ids[2] ?? '';
      await stack.waitFor('every invocation to finish', async () => {
        const inv = await stack.describe(last);
        return inv.InvocationStatus === 'Failed';
      });
      await rx.up();
      await rx.next(of(last, 'InvocationFinished'));
      const seen = rx.got
        .filter((r) => ids.includes(String(r.body.Data.InvokeId)))
        .map((r) => `${ids.indexOf(String(r.body.Data.InvokeId))}:${r.body.EventType}`);
      assert.deepEqual(seen, [
        '0:RunFinished',
        '0:InvocationFinished',
        '1:RunFinished',
        '1:InvocationFinished',
        '2:RunFinished',
        '2:InvocationFinished',
      ]);
    } finally {
      await admin('DeleteWebhook', { WebhookId: hook.id });
      await rx.down();
    }
  });

  void it('a delivery being retried survives a server restart', async () => {
    const rx = new Receiver();
    let failing = true;
    rx.answer = () => (failing ? 500 : 200);
    await rx.up();
    const hook = await create(rx.url, ['InvocationFinished']);
    try {
      const id = await run(stack, { NodeIdList: ['wh1'], CommandContent: 'true' });
      await rx.next(of(id, 'InvocationFinished'));
      await stack.server.close();
      const before = rx.got.length;
      failing = false;
      // On the port the first server bound, where the stack's client calls.
      const port = Number(new URL(stack.url).port);
      stack.server = await startServer({ ...stack.config, port }, makeLogger('silent', 'test'));
      const got = await rx.next(
        (r) => rx.got.indexOf(r) >= before && of(id, 'InvocationFinished')(r),
      );
      assert.equal(got.headers['x-fleetcmd-delivery'], rx.got[0]?.headers['x-fleetcmd-delivery']);
    } finally {
      await admin('DeleteWebhook', { WebhookId: hook.id });
      await rx.down();
    }
  });

  void it('with two replicas, each event is delivered once', async () => {
    const replica = await startReplica(stack);
    const rx = new Receiver();
    await rx.up();
    const hook = await create(rx.url, ['RunStarted', 'RunFinished', 'InvocationFinished']);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        ids.push(await run(stack, { NodeIdList: ['wh1'], CommandContent: 'true' }));
      }
      for (const id of ids) await rx.next(of(id, 'InvocationFinished'));
      const mine = rx.got.filter((r) => ids.includes(String(r.body.Data.InvokeId)));
      assert.equal(mine.length, 12);
      assert.equal(new Set(mine.map((r) => r.body.EventId)).size, 12);
      const eventIds = mine.map((r) => r.body.EventId);
      assert.deepEqual([...eventIds].sort(compareIds), eventIds, 'in the stream order');
    } finally {
      await admin('DeleteWebhook', { WebhookId: hook.id });
      await rx.down();
      await replica.server.close();
    }
  });

  void it('refuses more than FLEETCMD_WEBHOOKS_MAX webhooks', async () => {
    const made: string[] = [];
    try {
      for (let i = 0; i < 3; i++)
        made.push((await create(`http://example.com/${i}`, ['NodeOnline'])).id);
      const res = await admin('CreateWebhook', {
        Url: 'http://example.com/4',
        EventTypes: ['NodeOnline'],
      });
      assert.equal(res.status, 400);
      assert.equal(res.body.Code, 'Webhook.LimitExceeded');
    } finally {
      for (const id of made) await admin('DeleteWebhook', { WebhookId: id });
    }
  });
});
