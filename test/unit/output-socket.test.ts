import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { connect, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { expectOutput } from '../../workers/agent/exec/output-socket.js';
import { hangBound } from '../helpers/hang.js';

const LINUX = process.platform === 'linux';
/** A nonce is a randomUUID(): 36 ASCII bytes. */
const NONCE_BYTES = 36;

/**
 * The first read of the next connection the listener at `address` accepts, once the listener
 * has handled it: Node publishes each accepted socket on `net.server.socket` before the
 * listener's own handler sees it, so this 'data' handler runs just before the listener's one,
 * and the promise settles after both.
 */
function listenerRead(address: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const onSocket = (message: unknown) => {
      const { socket } = message as { socket: Socket & { server?: Server } };
      if (socket.server?.address() !== address) return;
      unsubscribe('net.server.socket', onSocket);
      socket.once('data', (chunk: Buffer) => resolve(chunk));
    };
    subscribe('net.server.socket', onSocket);
  });
}

/**
 * Both ends of one output channel, made in this process as the spawner makes them in its own:
 * connect to the expected address and write the nonce. Undefined where none can be made.
 */
async function outputSocketPair(): Promise<{ writer: Socket; reader: Socket } | undefined> {
  const expected = await expectOutput();
  if (expected === undefined) return undefined;
  const writer = connect(expected.address);
  writer.on('error', () => writer.destroy());
  writer.write(expected.nonce);
  const reader = await expected.take();
  if (!reader) writer.destroy();
  return reader ? { writer, reader } : undefined;
}

/** Everything `reader` receives until it ends. */
function readAll(reader: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    reader.on('data', (c: Buffer) => chunks.push(c));
    reader.once('end', () => resolve(Buffer.concat(chunks).toString()));
    reader.resume();
  });
}

void describe('output socket pairs', () => {
  void it('gives a child one stream for stdout and stderr, in the order it wrote', async (t) => {
    if (!LINUX) return t.skip('abstract sockets are Linux only');
    const pair = await outputSocketPair();
    assert.ok(pair, 'a pair on Linux');
    const child = spawn('/bin/sh', ['-c', 'echo 1; echo 2 >&2; echo 3; echo 4 >&2'], {
      stdio: ['ignore', pair.writer, pair.writer],
    });
    pair.writer.destroy();
    const [out] = await Promise.all([
      readAll(pair.reader),
      new Promise((r) => child.once('exit', r)),
    ]);
    assert.equal(out, '1\n2\n3\n4\n');
  });

  void it('pairs concurrent requests each with its own end', async (t) => {
    if (!LINUX) return t.skip('abstract sockets are Linux only');
    const pairs = await Promise.all(Array.from({ length: 20 }, () => outputSocketPair()));
    const got = await Promise.all(
      pairs.map((p, i) => {
        assert.ok(p);
        p.writer.end(`pair ${i}`);
        return readAll(p.reader);
      }),
    );
    assert.deepEqual(
      got,
      pairs.map((_, i) => `pair ${i}`),
    );
  });

  void it('closes a connection that does not start with a pending nonce', async (t) => {
    if (!LINUX) return t.skip('abstract sockets are Linux only');
    const pair = await outputSocketPair();
    assert.ok(pair);
    // The listener's address is the only abstract one of this process named fleetcmd-output.
    const { readFileSync } = await import('node:fs');
    const address = readFileSync('/proc/net/unix', 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[7] ?? '')
      .find((p) => p.startsWith(`@fleetcmd-output-${process.pid}-`));
    assert.ok(address, 'the listener is in /proc/net/unix');
    const stranger = connect(`\0${address.slice(1)}`);
    stranger.on('error', () => undefined);
    stranger.write('x'.repeat(36));
    await new Promise((r) => stranger.once('close', r));
    // Pairing still works.
    const next = await outputSocketPair();
    assert.ok(next);
    next.writer.end('after');
    assert.equal(await readAll(next.reader), 'after');
    pair.writer.destroy();
    pair.reader.destroy();
  });

  void it('keeps what a writer sent in the same read as its nonce, and what it sent before the take', async (t) => {
    if (!LINUX) return t.skip('abstract sockets are Linux only');
    const expected = await expectOutput();
    assert.ok(expected);
    // Another process's writer: its command may write before this process has read the nonce,
    // so the listener's first read holds both.
    const firstRead = listenerRead(expected.address);
    const writer = connect(expected.address);
    await new Promise<void>((r) => writer.end(`${expected.nonce}first line\nsecond line\n`, r));
    // Accepted and read before anyone takes it, as when the spawner answers after the accept:
    // take() is called only once the listener has read the nonce (and paired it).
    const first = await hangBound('the listener to read the nonce', firstRead);
    assert.ok(first.length > NONCE_BYTES, 'the output came in the same read as the nonce');
    const reader = await expected.take();
    assert.ok(reader, 'the connection was paired');
    assert.equal(await readAll(reader), 'first line\nsecond line\n');
  });

  void it('take() gives up after its timeout, and cancel() closes a connection that comes later', async (t) => {
    if (!LINUX) return t.skip('abstract sockets are Linux only');
    const expected = await expectOutput();
    assert.ok(expected);
    assert.equal(await expected.take(50), undefined);
    const late = connect(expected.address);
    late.on('error', () => undefined);
    late.write(expected.nonce);
    // Its nonce is no longer pending: the listener closes it (the bound only catches a hang).
    await hangBound('the late connection to be closed', once(late, 'close'));
  });
});
