/**
 * Every `Example:` of the CLI reference (docs/cli.md, generated from the help texts) run as a
 * user would paste it, in bash with `fleetcmd` on PATH, against a local stack. The ids and
 * addresses an example names are placeholders this test replaces with real ones (a finished or
 * a running invocation, a fresh saved command, a file send, an issued key, the stack's URL and
 * Redis, a scratch directory for /etc/myapp); an example that exits non-zero fails the test.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_DOCS_PATH } from '../../scripts/gen-cli-docs.js';
import { hangBound } from '../helpers/hang.js';
import { ROOT, makeStack, run, runCli, waitFinal, type Stack } from '../helpers/stack.js';
import { targetEnv } from '../../src/shared/redis-target.js';

/** Each example's command line: `Example: cmd`, or `Example:` with the command indented below. */
export function examplesOf(markdown: string): string[] {
  const lines = markdown.split('\n');
  const out: string[] = [];
  for (const [i, l] of lines.entries()) {
    const m = /^Example:\s*(.*)$/.exec(l);
    if (!m) continue;
    const cmd = (m[1] ?? '').trim() || (lines[i + 1] ?? '').trim();
    if (cmd !== '') out.push(cmd);
  }
  return out;
}

/** Examples that follow a stream until interrupted (logs --follow ends with its run). */
const FOLLOWS = /^fleetcmd (events|audit)\b.*\s--follow\b/;

void describe('the examples of docs/cli.md', () => {
  let stack: Stack;
  let dir: string;
  let env: Record<string, string | undefined>;
  let finished: string;

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('n1');
    await stack.startAgent('n2');
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-examples-'));
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await writeFile(
      join(bin, 'fleetcmd'),
      `#!/bin/sh\nexec '${process.execPath}' '${join(ROOT, 'bin', 'fleetcmd.js')}' "$@"\n`,
    );
    await chmod(join(bin, 'fleetcmd'), 0o755);
    await writeFile(join(dir, 'app.conf'), 'setting = 1\n');
    env = {
      ...stack.env,
      FLEETCMD_URL: stack.url,
      FLEETCMD_API_TOKEN: stack.token,
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_CACHE_HOME: join(dir, 'cache'),
      PATH: `${bin}:${process.env.PATH ?? ''}`,
    };
    finished = await run(stack, { NodeIdList: ['n1', 'n2'], CommandContent: 'echo done' });
    await waitFinal(stack, finished);
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A saved command as the examples expect it: `df -h {{path}}` with parameters. */
  async function savedCommand(): Promise<string> {
    const r = await stack.call('CreateCommand', {
      Name: 'disk',
      CommandContent: 'df -h {{path}}',
      ContentEncoding: 'PlainText',
      EnableParameter: true,
    });
    return r.body.CommandId as string;
  }

  /** An invocation whose run failed (exit 3) the first time; run again, it succeeds. */
  async function failedOnce(): Promise<string> {
    const mark = join(dir, `failed-once-${Date.now()}`);
    const id = await run(stack, {
      NodeIdList: ['n2'],
      CommandContent: `if [ -e ${mark} ]; then echo ok; else touch ${mark}; exit 3; fi`,
    });
    await waitFinal(stack, id);
    return id;
  }

  /** The example with its placeholders replaced by real ids, addresses and paths. */
  async function substitute(example: string): Promise<string> {
    let text = example;
    if (text.includes('t-ind3k9ytvvduoe8')) {
      // stop needs a run that is still going; rerun one that failed on a node (and succeeds the
      // second time); the others read a finished one.
      const id = text.startsWith('fleetcmd stop')
        ? await run(stack, { NodeIdList: ['n1'], CommandContent: 'sleep 300' })
        : text.startsWith('fleetcmd rerun')
          ? await failedOnce()
          : finished;
      text = text.replaceAll('t-ind3k9ytvvduoe8', id);
    }
    if (text.includes('c-0123456789abcdef')) {
      text = text.replaceAll('c-0123456789abcdef', await savedCommand());
    }
    if (text.includes('f-ind3k9ytvvduoe8')) {
      const r = await stack.call('SendFile', {
        NodeIdList: ['n1'],
        Name: 'x.conf',
        TargetDir: join(dir, 'sent'),
        Content: Buffer.from('x').toString('base64'),
        ContentType: 'Base64',
      });
      text = text.replaceAll('f-ind3k9ytvvduoe8', r.body.InvokeId as string);
    }
    if (text.includes('FC0123456789ABCDEFGHIJKL')) {
      const k = await runCli(['key', 'add', '--json'], env);
      const { AccessKeyId } = JSON.parse(k.stdout) as { AccessKeyId: string };
      text = text.replaceAll('FC0123456789ABCDEFGHIJKL', AccessKeyId);
    }
    // The admin connection: REDIS_URL, or on the cluster its REDIS_CLUSTER_NODES and password.
    const adminEnv = Object.entries(targetEnv(stack.redisTarget))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    text = text.replaceAll('REDIS_URL=redis://admin:secret@redis:6379', adminEnv);
    if (text.includes('redis://admin:secret@redis:6379')) {
      text = text.replaceAll('redis://admin:secret@redis:6379', stack.redisUrl);
    }
    return text
      .replaceAll('/etc/myapp', join(dir, 'myapp'))
      .replaceAll('http://127.0.0.1:8080', stack.url);
  }

  void it('each runs and exits 0', async () => {
    const examples = examplesOf(await readFile(CLI_DOCS_PATH, 'utf8'));
    assert.ok(examples.length >= 20, `found only ${examples.length} examples`);
    await mkdir(join(dir, 'myapp'));
    for (const example of examples) {
      const line = await substitute(example);
      const child = spawn('bash', ['-c', line], {
        cwd: dir,
        env: { ...process.env, ...env } as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const exited = once(child, 'exit') as Promise<[number | null]>;
      if (FOLLOWS.test(example)) {
        // It runs until interrupted: it must print what happens (a run made now) and keep going.
        // Runs are made until one shows: the first may end before the stream is open.
        let printed = false;
        child.stdout.once('data', () => (printed = true));
        const runUntilPrinted = async () => {
          while (!printed && child.exitCode === null) {
            await waitFinal(
              stack,
              await run(stack, { NodeIdList: ['n1'], CommandContent: 'true' }),
            );
          }
        };
        await hangBound(`${example}: its first line`, runUntilPrinted());
        assert.equal(child.exitCode, null, `${example} ended by itself\n${output}`);
        child.kill('SIGINT');
        await hangBound(example, exited);
        continue;
      }
      const [code] = await hangBound(example, exited);
      assert.equal(code, 0, `${example}\n  ran as: ${line}\n${output}`);
    }
  });
});
