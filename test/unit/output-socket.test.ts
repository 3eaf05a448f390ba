import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { outputSocketPair } from '../../workers/agent/output-socket.js';

const LINUX = process.platform === 'linux';

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
});
