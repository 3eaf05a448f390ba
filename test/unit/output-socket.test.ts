import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { openOutputChannel, type OutputReader } from '../../workers/agent/exec/output-socket.js';

const LINUX = process.platform === 'linux';

/** Everything `reader` receives until it ends (each chunk copied: the reader reuses its buffer). */
function readAll(reader: OutputReader): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    reader.stream.once('end', () => resolve(Buffer.concat(chunks).toString()));
    reader.read((c) => chunks.push(Buffer.from(c)));
  });
}

void describe('output socket pairs', () => {
  void it('gives a child one stream for stdout and stderr, in the order it wrote', async (t) => {
    if (!LINUX) return t.skip('abstract sockets are Linux only');
    const pair = await openOutputChannel();
    assert.ok(pair, 'a channel on Linux');
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
    const pairs = await Promise.all(Array.from({ length: 20 }, () => openOutputChannel()));
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
    const pair = await openOutputChannel();
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
    const next = await openOutputChannel();
    assert.ok(next);
    next.writer.end('after');
    assert.equal(await readAll(next.reader), 'after');
    pair.writer.destroy();
    pair.reader.stream.destroy();
  });

  void it('reads into one buffer of its own, reused for every read', async (t) => {
    if (!LINUX) return t.skip('abstract sockets are Linux only');
    const pair = await openOutputChannel();
    assert.ok(pair);
    const size = 8 * 2 ** 20;
    const child = spawn('head', ['-c', String(size), '/dev/zero'], {
      stdio: ['ignore', pair.writer, 'ignore'],
    });
    pair.writer.destroy();
    const buffers = new Set<ArrayBufferLike>();
    let bytes = 0;
    let reads = 0;
    pair.reader.read((chunk) => {
      buffers.add(chunk.buffer);
      bytes += chunk.length;
      reads++;
    });
    await Promise.all([once(pair.reader.stream, 'end'), once(child, 'exit')]);
    assert.equal(bytes, size);
    assert.ok(reads > 1, `${reads} reads`);
    // A socket read with 'data' gets a new ArrayBuffer for each read.
    assert.equal(buffers.size, 1, `${buffers.size} buffers for ${reads} reads`);
  });

  void it('reads nothing before read(): what the writer sent first is all there', async (t) => {
    if (!LINUX) return t.skip('abstract sockets are Linux only');
    const pair = await openOutputChannel();
    assert.ok(pair);
    await new Promise<void>((r) => pair.writer.end('written before read()\n', r));
    // Turns of the event loop in which a reader that was not paused would have read it.
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await readAll(pair.reader), 'written before read()\n');
  });
});
