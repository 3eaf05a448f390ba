/**
 * The HTTP server's own limits, over real sockets (node:net) to a real stack: a request whose
 * headers or body trickle in is cut off by the configured timeouts, a request refused with 401
 * while its body is still arriving closes the connection, and one client address cannot hold
 * more than FLEETCMD_HTTP_MAX_CONNECTIONS_PER_IP connections while another still connects.
 * No timing thresholds: the timeouts are small and each test waits on the socket's 'close'.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { makeStack, type Stack } from '../helpers/stack.js';
import { HANG_MS } from '../helpers/hang.js';

/** Generous: only a hang fails on it. */

/** A raw connection to the stack from `localAddress`, with everything it received. */
async function open(stack: Stack, localAddress = '127.0.0.1') {
  const { hostname, port } = new URL(stack.url);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = once(socket, 'close');
  await once(socket, 'connect');
  return { socket, received: () => received, closed };
}

/** Resolves when the server closed `socket`; fails on a hang. */
async function closedByServer(c: { closed: Promise<unknown>; socket: Socket }): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the server kept the connection open for ${HANG_MS} ms`)),
      HANG_MS,
    );
  });
  try {
    await Promise.race([c.closed, hang]);
  } finally {
    clearTimeout(timer);
    c.socket.destroy();
  }
}

void describe('HTTP timeouts', () => {
  let stack: Stack;
  before(async () => {
    stack = await makeStack({
      FLEETCMD_HTTP_REQUEST_TIMEOUT_SECONDS: '1',
      FLEETCMD_HTTP_HEADERS_TIMEOUT_SECONDS: '1',
      FLEETCMD_HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: '1',
    });
  });
  after(async () => {
    await stack.close();
  });

  void it('a body that trickles in (an authenticated request) is cut off by the request timeout', async () => {
    const c = await open(stack);
    const body = JSON.stringify({ MaxResults: 10 });
    c.socket.write(
      `POST /v1/DescribeNodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stack.token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length + 1000}\r\n\r\n`,
    );
    // One byte each 200 ms (never enough to finish) until the server hangs up.
    const drip = setInterval(() => {
      if (!c.socket.destroyed) c.socket.write(' ');
    }, 200);
    try {
      await closedByServer(c);
    } finally {
      clearInterval(drip);
    }
    assert.doesNotMatch(c.received(), /^HTTP\/1\.1 200/);
  });

  void it('headers that never end are cut off by the headers timeout', async () => {
    const c = await open(stack);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    await closedByServer(c);
    assert.doesNotMatch(c.received(), /^HTTP\/1\.1 200/);
  });

  void it('an idle keep-alive connection is closed by the keep-alive timeout', async () => {
    const c = await open(stack);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await closedByServer(c);
    assert.match(c.received(), /^HTTP\/1\.1 200/);
  });
});

void describe('HTTP connection cap and early refusals', () => {
  let stack: Stack;
  before(async () => {
    stack = await makeStack({
      FLEETCMD_HTTP_MAX_CONNECTIONS_PER_IP: '3',
      // Long, so only the behaviour under test closes a connection.
      FLEETCMD_HTTP_REQUEST_TIMEOUT_SECONDS: '600',
      FLEETCMD_HTTP_HEADERS_TIMEOUT_SECONDS: '600',
      FLEETCMD_HTTP_IDLE_TIMEOUT_SECONDS: '600',
    });
  });
  after(async () => {
    await stack.close();
  });

  void it('a 401 while the body is still arriving closes the connection', async () => {
    const c = await open(stack, '127.0.0.4');
    c.socket.write(
      'POST /v1/RunCommand HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n' +
        'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"NodeIdList":',
    );
    await closedByServer(c);
    assert.match(c.received(), /^HTTP\/1\.1 401/);
    assert.match(c.received(), /\r\nconnection: close\r\n/i);
    assert.match(c.received(), /"Code":"InvalidToken"/);
  });

  void it('more than the cap of connections from one address are refused; another address still connects', async () => {
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await open(stack, '127.0.0.2'));
    try {
      const over = await open(stack, '127.0.0.2');
      await closedByServer(over);
      assert.equal(over.received(), '', 'the refused connection got no answer');

      // The held ones still work.
      const first = held[0];
      assert.ok(first);
      first.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await stack.waitFor('an answer on a held connection', async () =>
        /^HTTP\/1\.1 200/.test(first.received()),
      );

      const other = await open(stack, '127.0.0.3');
      other.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await closedByServer(other);
      assert.match(other.received(), /^HTTP\/1\.1 200/);
    } finally {
      for (const h of held) h.socket.destroy();
    }
  });
});
