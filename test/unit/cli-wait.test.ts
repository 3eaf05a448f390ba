/**
 * The CLI's waiting module against a tiny API on a real socket (node:http, in this process):
 * the event-stream branch (GET /v1/events, Server-Sent Events) wakes a re-read per event and
 * resumes with Last-Event-ID; a server without the stream (404) is polled instead.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ClientArgs } from '../../src/cli/client-args.js';
import { backoff, POLL_CAP_MS, POLL_FIRST_MS, waitFinal } from '../../src/cli/wait.js';
import type { NodeStatus } from '../../src/domain/status.js';
import { ApiClient } from '../../src/cli/api-client.js';
import { hangBound } from '../helpers/hang.js';

/** A fake API: DescribeInvocations answers `statuses`; /v1/events streams when `stream`. */
class FakeApi {
  statuses: NodeStatus[] = ['Running', 'Running'];
  stream = true;
  reads = 0;
  /** Each events request: its query, its headers. */
  subscriptions: { query: URLSearchParams; headers: IncomingMessage['headers'] }[] = [];
  open: ServerResponse[] = [];
  #waiters: (() => void)[] = [];
  readonly server = createServer((req, res) => this.#handle(req, res));

  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once `fn` holds (checked after every request). */
  until(fn: () => boolean): Promise<void> {
    if (fn()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => (fn() ? resolve() : this.#waiters.push(check));
      this.#waiters.push(check);
    });
  }

  send(id: number, type: string): void {
    const data = JSON.stringify({ EventId: String(id), EventType: type, Data: {} });
    for (const res of this.open) res.write(`id: ${id}\nevent: ${type}\ndata: ${data}\n\n`);
  }

  #changed(): void {
    const waiters = this.#waiters.splice(0);
    for (const w of waiters) w();
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.headers.authorization !== 'Bearer tok') {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"Code":"Unauthorized"}');
      return;
    }
    if (req.method === 'GET' && url.pathname === '/v1/events') {
      this.subscriptions.push({ query: url.searchParams, headers: req.headers });
      if (!this.stream) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"Code":"NotFound"}');
      } else {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write(': connected\n\n');
        this.open.push(res);
        res.on('close', () => {
          this.open = this.open.filter((r) => r !== res);
          this.#changed();
        });
      }
      this.#changed();
      return;
    }
    req.resume();
    req.on('end', () => {
      this.reads += 1;
      const nodes = this.statuses.map((s, i) => ({ NodeId: `n${i}`, InvocationStatus: s }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ Invocations: { Invocation: [{ InvokeNodes: { InvokeNode: nodes } }] } }),
      );
      this.#changed();
    });
  }
}

function clientOf(url: string, token = 'tok'): ClientArgs {
  return { url, token, json: true, output: { kind: 'json' }, raw: false };
}

void describe('the CLI waiting for an invocation', () => {
  const api = new FakeApi();
  let url = '';
  before(async () => {
    url = await api.start();
  });
  after(() => {
    for (const r of api.open) r.destroy();
    api.server.close();
  });

  const statuses = (client: ClientArgs) => async () => {
    const a = await new ApiClient(client).call<{
      Invocations: {
        Invocation: { InvokeNodes: { InvokeNode: { InvocationStatus: NodeStatus }[] } }[];
      };
    }>('DescribeInvocations', { InvokeId: 't-1' });
    return a.Invocations.Invocation[0]!.InvokeNodes.InvokeNode.map((n) => n.InvocationStatus);
  };

  void it('re-reads on each event of the stream and resumes it with Last-Event-ID', async () => {
    api.statuses = ['Running', 'Running'];
    api.stream = true;
    api.reads = 0;
    api.subscriptions = [];
    const client = clientOf(url);
    const done = waitFinal(client, statuses(client), 't-1');
    // The stream opens while the first read runs; once it is open, one more read follows, so a
    // change between the first read and the stream's start is not missed.
    await hangBound(
      'the first read and the read once the stream is open',
      api.until(() => api.reads === 2 && api.open.length === 1),
    );
    const first = api.subscriptions[0]!;
    assert.equal(first.query.get('InvokeId'), 't-1');
    assert.equal(first.query.get('type'), 'RunFinished,InvocationFinished');
    assert.equal(first.headers.accept, 'text/event-stream');
    api.statuses = ['Success', 'Running'];
    api.send(7, 'RunFinished');
    await hangBound(
      'a read after the event',
      api.until(() => api.reads >= 3),
    );
    // The server drops the connection: the client comes back with the last id it saw.
    for (const r of api.open) r.end();
    await hangBound(
      'the resume',
      api.until(() => api.subscriptions.length === 2 && api.open.length === 1),
    );
    assert.equal(api.subscriptions[1]!.headers['last-event-id'], '7');
    api.statuses = ['Success', 'Failed'];
    api.send(8, 'RunFinished');
    assert.deepEqual(await hangBound('waitFinal', done), ['Success', 'Failed']);
    await hangBound(
      'the stream closed',
      api.until(() => api.open.length === 0),
    );
  });

  void it('polls, backing off from 20 ms, when the server has no event stream (404)', async () => {
    api.statuses = ['Running'];
    api.stream = false;
    api.reads = 0;
    api.subscriptions = [];
    const client = clientOf(url);
    const done = waitFinal(client, statuses(client), 't-1');
    await hangBound(
      'three reads',
      api.until(() => api.reads >= 3),
    );
    api.statuses = ['Success'];
    assert.deepEqual(await hangBound('waitFinal', done), ['Success']);
    assert.equal(api.subscriptions.length, 1, 'asked for the stream once');
  });

  void it('a refused token on the stream is an auth error', async () => {
    const client = clientOf(url, 'wrong');
    await assert.rejects(
      waitFinal(client, statuses(client), 't-1'),
      (err: Error & { status?: number }) => err.status === 401,
    );
  });

  void it('the poll starts at 20 ms and grows to its cap, never a fixed pace', () => {
    const delays = [POLL_FIRST_MS];
    while (delays.length < 20) delays.push(backoff(delays.at(-1)!));
    assert.equal(delays[0], 20);
    assert.ok(delays[1]! > delays[0]!);
    assert.equal(delays.at(-1), POLL_CAP_MS);
    assert.ok(delays.every((d, i) => i === 0 || d >= delays[i - 1]!));
  });
});
