import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { OUTPUT_LIMIT_BYTES } from '../../src/domain/output.js';
import { outputCorpus } from '../../bench/output-corpus.js';
import { CLI, makeStack, nodeOf, run, runCli, waitFinal, type Stack } from '../helpers/stack.js';

/**
 * A real agent runs commands printing invalid UTF-8, NUL bytes and terminal escapes: the API
 * keeps them as bytes (Base64), PlainText answers are valid, escaped JSON, and the CLI shows
 * control characters visibly on a terminal unless --raw.
 */

/** Every kind of awkward byte: invalid UTF-8, NUL, CSI colour and clear, OSC title and link. */
const NASTY = Buffer.concat([
  Buffer.from('start\n'),
  Buffer.from([0x61, 0x00, 0x62, 0xff, 0xfe, 0xc0, 0x80, 0xc3, 0x28, 0xe2, 0x82, 0x0a]),
  Buffer.from(
    '\x1b[31mred\x1b[0m \x1b[2J\x1b]0;owned title\x07 \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\',
  ),
  Buffer.from([0x7f, 0xc2, 0x9b, 0x33, 0x31, 0x6d, 0x0d]),
  Buffer.from('fake\nend\n'),
]);

const strict = new TextDecoder('utf-8', { fatal: true });

interface Result {
  code: number | null;
  stdout: Buffer;
}

async function collect(child: ChildProcessByStdio<null, Readable, null>): Promise<Result> {
  const chunks: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout: Buffer.concat(chunks) };
}

/** The CLI with its stdout on a pseudo-terminal (util-linux `script`), as a user sees it. */
function cliOnTerminal(args: string[], env: Record<string, string>): Promise<Result> {
  const quoted = [process.execPath, '--import', 'tsx', CLI, ...args]
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  return collect(
    spawn('script', ['-qefc', quoted, '/dev/null'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  );
}

const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;

void describe('command output bytes', () => {
  let stack: Stack;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('n1');
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-bytes-'));
    env = { FLEETCMD_URL: stack.url, FLEETCMD_API_TOKEN: stack.token };
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `cat` of a file holding `bytes` and waits for it; returns the InvokeId. */
  async function printBytes(bytes: Buffer): Promise<string> {
    const file = join(dir, `out-${bytes.length}`);
    await writeFile(file, bytes);
    const id = await run(stack, { NodeIdList: ['n1'], CommandContent: `cat '${file}'` });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.InvocationStatus, 'Success', n.Output);
    return id;
  }

  void it('Base64 answers exactly the bytes printed, and PlainText is valid escaped JSON', async () => {
    assert.throws(() => strict.decode(NASTY), 'the sample is not valid UTF-8');
    const id = await printBytes(NASTY);
    const b64 = nodeOf(await stack.describe(id, { ContentEncoding: 'Base64' }), 'n1');
    assert.deepEqual(Buffer.from(b64.Output ?? '', 'base64'), NASTY);
    assert.equal(b64.Dropped, 0);

    // PlainText: the raw answer is JSON whose text has no raw control character at all.
    const res = await fetch(`${stack.url}/v1/DescribeInvocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ InvokeId: id, IncludeOutput: true, ContentEncoding: 'PlainText' }),
    });
    const raw = Buffer.from(await res.arrayBuffer());
    assert.equal(res.status, 200);
    assert.ok(!raw.some((b) => b < 0x20), 'no raw C0 byte in the JSON text');
    assert.doesNotThrow(() => strict.decode(raw), 'the answer is valid UTF-8');
    const text = (
      JSON.parse(raw.toString('utf8')) as {
        Invocations: { Invocation: { InvokeNodes: { InvokeNode: { Output: string }[] } }[] };
      }
    ).Invocations.Invocation[0]?.InvokeNodes.InvokeNode[0]?.Output;
    // Invalid bytes read as U+FFFD (lossy by design: Base64 is the exact form); the rest as is.
    assert.equal(text, NASTY.toString('utf8'));
    assert.ok(text?.includes('\x1b[31mred') && text.includes('\x00'));
  });

  void it('keeps 24 KiB of typical text compressed in Redis and answers it byte for byte', async () => {
    const text = outputCorpus(OUTPUT_LIMIT_BYTES);
    const id = await printBytes(text);
    const n = nodeOf(await stack.describe(id, { ContentEncoding: 'Base64' }), 'n1');
    assert.deepEqual(Buffer.from(n.Output ?? '', 'base64'), text);
    assert.equal(n.Dropped, 0);
    const key = stack.keys.nodeRun('n1', id);
    assert.equal(await stack.redis.hget(key, 'outputCodec'), 'br');
    const stored = await stack.redis.hstrlen(key, 'output');
    assert.ok(stored < text.length / 4, `${stored} bytes stored for ${text.length}`);
    // What does not shrink (bytes that look random) is kept as it is.
    const noise = randomBytes(4096);
    const plain = await printBytes(noise);
    const p = nodeOf(await stack.describe(plain, { ContentEncoding: 'Base64' }), 'n1');
    assert.deepEqual(Buffer.from(p.Output ?? '', 'base64'), noise);
  });

  void it('over the cap, keeps the head and tail bytes exactly, cutting only split sequences', async () => {
    const half = OUTPUT_LIMIT_BYTES / 2;
    // The head ends inside a 3-byte €: it gives up that €'s 2 bytes. The tail would begin with
    // 2 continuation bytes: it gives those up. Invalid bytes and escapes elsewhere stay.
    const head = Buffer.concat([
      NASTY,
      Buffer.alloc(half - 2 - NASTY.length, 0x61),
      Buffer.from('€'), // bytes half-2 .. half
    ]);
    const middle = Buffer.alloc(10_000, 0xff);
    const tailLength = OUTPUT_LIMIT_BYTES - (half - 2);
    const tail = Buffer.concat([
      Buffer.from([0x80, 0x80]),
      Buffer.alloc(tailLength - 2 - NASTY.length, 0x62),
      NASTY,
    ]);
    const all = Buffer.concat([head, middle, tail]);
    const id = await printBytes(all);
    const n = nodeOf(await stack.describe(id, { ContentEncoding: 'Base64' }), 'n1');
    const got = Buffer.from(n.Output ?? '', 'base64');
    const want = Buffer.concat([head.subarray(0, half - 2), tail.subarray(2)]);
    assert.equal(got.length + n.Dropped, all.length, 'bytes(Output) + Dropped == bytes printed');
    assert.deepEqual(got, want);
  });

  void it('the CLI passes output through to a pipe, and --raw is the same', async () => {
    const id = await printBytes(NASTY);
    for (const extra of [[], ['--raw']]) {
      const r = await runCli(['logs', id, ...extra], env);
      assert.equal(r.code, 0);
      assert.equal(r.stdoutBytes.toString('utf8'), NASTY.toString('utf8'));
    }
  });

  void it('the CLI shows control characters visibly on a terminal, unless --raw', async (t) => {
    if (!HAS_SCRIPT) return t.skip('util-linux script (a pseudo-terminal) is not installed');
    const id = await printBytes(NASTY);
    const logs = await cliOnTerminal(['logs', id], env);
    assert.equal(logs.code, 0, logs.stdout.toString());
    const shown = logs.stdout.toString('utf8');
    // The pty turns \n into \r\n; nothing else of C0, DEL or C1 reaches the terminal raw.
    const withoutLineEnds = shown.replace(/\r\n/g, '\n');
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(withoutLineEnds, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    assert.ok(shown.includes('\\x1b[31mred\\x1b[0m \\x1b[2J\\x1b]0;owned title\\x07'), shown);
    assert.ok(shown.includes('a\\x00b\uFFFD'), shown);
    assert.ok(shown.includes('\\x7f\\x9b31m\\x0dfake'), shown);

    const wait = await cliOnTerminal(
      ['run', '--nodes', 'n1', '--wait', '--', `cat '${join(dir, `out-${NASTY.length}`)}'`],
      env,
    );
    assert.equal(wait.code, 0);
    assert.ok(wait.stdout.toString('utf8').includes('\\x1b[2J'), 'run --wait escapes too');
    assert.ok(!wait.stdout.includes(Buffer.from('\x1b[2J')));

    const raw = await cliOnTerminal(['logs', id, '--raw'], env);
    assert.ok(raw.stdout.includes(Buffer.from('\x1b[31mred')), '--raw passes escapes through');
  });
});
