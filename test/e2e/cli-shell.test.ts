/**
 * The CLI at home in a shell, against a real stack: contexts in the config file (and the order
 * in which flags, variables and contexts decide where requests go), -o formats, the exit code
 * table, waiting on a server without an event stream (the backing-off poll), and the bash
 * completion script run in a real bash.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../../src/dev/private-redis.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { hangBound } from '../helpers/hang.js';
import { CLI, ROOT, makeStack, run, runCli, waitFinal, type Stack } from '../helpers/stack.js';

/** `fleetcmd <args>` with `input` on its stdin. */
async function cliWithInput(
  args: string[],
  env: Record<string, string | undefined>,
  input: string,
) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

void describe('fleetcmd in a shell', () => {
  let stack: Stack;
  let dir: string;
  /** The environment of a user with no FLEETCMD_* variables and their own config directory. */
  let bare: Record<string, string | undefined>;
  let env: Record<string, string | undefined>;

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('s1');
    await stack.startAgent('s2');
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-shell-'));
    bare = {
      FLEETCMD_URL: undefined,
      FLEETCMD_API_TOKEN: undefined,
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_CACHE_HOME: join(dir, 'cache'),
    };
    env = { ...bare, FLEETCMD_URL: stack.url, FLEETCMD_API_TOKEN: stack.token };
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('contexts: add from stdin, use, list without tokens, and the documented order', async () => {
    const add = await cliWithInput(
      ['context', 'add', 'local', '--url', stack.url, '--token-stdin'],
      bare,
      `${stack.token}\n`,
    );
    assert.equal(add.code, 0, add.stderr);
    assert.ok(!add.stdout.includes(stack.token), 'the token is never printed back');
    const file = join(dir, 'config', 'fleetcmd', 'config.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'config', 'fleetcmd'))).mode & 0o777, 0o700);
    // The first context became the current one: no variable needed.
    const nodes = await runCli(['nodes', '-o', 'jsonpath=$[*].NodeId'], bare);
    assert.equal(nodes.code, 0, nodes.stderr);
    assert.deepEqual(nodes.stdout.trim().split('\n').sort(), ['s1', 's2']);

    const port = await freePort(); // nothing listens there
    const away = `http://127.0.0.1:${port}`;
    const other = await cliWithInput(
      ['context', 'add', 'away', '--url', away, '--token-stdin'],
      bare,
      `${stack.token}\n`,
    );
    assert.equal(other.code, 0, other.stderr);
    for (const format of [[], ['-o', 'json'], ['-o', 'yaml']]) {
      const l = await runCli(['context', 'list', ...format], bare);
      assert.equal(l.code, 0, l.stderr);
      assert.ok(!l.stdout.includes(stack.token), `context list ${format.join(' ')}`);
      assert.match(l.stdout, /away/);
    }
    // --context over the current context; the variable over --context; the flag over both.
    assert.equal((await runCli(['nodes', '--context', 'away'], bare)).code, EXIT.unreachable);
    const envWins = { ...bare, FLEETCMD_URL: stack.url };
    assert.equal((await runCli(['nodes', '--context', 'away'], envWins)).code, 0);
    const flagWins = { ...bare, FLEETCMD_URL: away };
    assert.equal((await runCli(['nodes', '--url', stack.url], flagWins)).code, 0);
    assert.equal((await runCli(['context', 'use', 'away'], bare)).code, 0);
    assert.equal((await runCli(['nodes'], bare)).code, EXIT.unreachable);
    const badToken = { ...bare, FLEETCMD_URL: stack.url, FLEETCMD_API_TOKEN: 'wrong' };
    assert.equal((await runCli(['nodes'], badToken)).code, EXIT.auth);
    assert.equal((await runCli(['context', 'use', 'local'], bare)).code, 0);
    assert.equal((await runCli(['context', 'remove', 'away'], bare)).code, 0);
    const ghost = await runCli(['nodes', '--context', 'away'], bare);
    assert.equal(ghost.code, EXIT.usage);
    assert.match(ghost.stderr, /no such context/);
  });

  void it('a config file that cannot be read is an error naming the file and the problem', async () => {
    const home = join(dir, 'broken');
    const file = join(home, 'fleetcmd', 'config.json');
    const broken = { ...bare, XDG_CONFIG_HOME: home };
    await runCli(['context', 'list'], broken); // nothing yet: an empty list
    await writeFile(join(dir, 'placeholder'), '');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(home, 'fleetcmd'), { recursive: true });
    await writeFile(file, '{"contexts": {"a": ');
    const r = await runCli(['nodes'], broken);
    assert.equal(r.code, EXIT.usage);
    assert.ok(r.stderr.includes(file), r.stderr);
    assert.match(r.stderr, /not valid JSON/);
    await writeFile(file, JSON.stringify({ contexts: { a: { url: 'ftp://x' } } }));
    const u = await runCli(['nodes'], broken);
    assert.equal(u.code, EXIT.usage);
    assert.match(u.stderr, /contexts\.a\.url must be an http\(s\) URL/);
  });

  void it('-o json, yaml, wide and jsonpath on listings and describe', async () => {
    const id = await run(stack, { NodeIdList: ['s1', 's2'], CommandContent: 'echo formats' });
    await waitFinal(stack, id);
    const y = await runCli(['nodes', '-o', 'yaml'], env);
    assert.equal(y.code, 0, y.stderr);
    const nodes = parseYaml(y.stdout) as { NodeId: string }[];
    assert.deepEqual(nodes.map((n) => n.NodeId).sort(), ['s1', 's2']);
    const w = await runCli(['nodes', '-o', 'wide'], env);
    assert.match(w.stdout, /^NODE\s+ONLINE.*BOOTED\s+RUNS\s+LAST INVOKED\s+CLOCK OFFSET$/m);
    const ids = (stdout: string) =>
      (
        JSON.parse(stdout.trim().split('\n')[0] ?? '') as { Nodes: { Node: { NodeId: string }[] } }
      ).Nodes.Node.map((n) => n.NodeId).sort();
    assert.deepEqual(ids((await runCli(['nodes', '-o', 'json'], env)).stdout), ['s1', 's2']);
    assert.deepEqual(ids((await runCli(['nodes', '--json'], env)).stdout), ['s1', 's2']);
    const p = await runCli(
      ['describe', id, '-o', 'jsonpath=$.InvocationResults[?(@.ExitCode==0)].NodeId'],
      env,
    );
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual(p.stdout.trim().split('\n').sort(), ['s1', 's2']);
    const list = await runCli(['describe', '--max', '5', '-o', 'jsonpath=$[*].InvokeId'], env);
    assert.ok(list.stdout.split('\n').includes(id));
    const c = await runCli(['command', 'create', '--name', 'fmt', '--', 'echo fmt'], env);
    assert.equal(c.code, 0, c.stderr);
    const cl = await runCli(['command', 'list', '--name', 'fmt', '-o', 'yaml'], env);
    assert.equal((parseYaml(cl.stdout) as { CommandId: string }[])[0]?.CommandId, c.stdout.trim());
    const bad = await runCli(['nodes', '--json', '-o', 'yaml'], env);
    assert.equal(bad.code, EXIT.usage);
    const unknown = await runCli(['nodes', '-o', 'xml'], env);
    assert.equal(unknown.code, EXIT.usage);
    assert.match(unknown.stderr, /expected table, wide, json, yaml or jsonpath=EXPR/);
  });

  void it('exit codes: PartialFailed 6, Stopped 5, unreachable 8 (waiting by polling)', async () => {
    // Exactly one node's mkdir succeeds: one Success, one Failed.
    const racy = join(dir, 'once');
    const pf = await runCli(['run', '--nodes', 's1,s2', '--wait', '--', `mkdir ${racy}`], env);
    assert.equal(pf.code, EXIT.partialFailed, pf.stdout + pf.stderr);
    assert.match(pf.stdout, /: PartialFailed$/m);

    const started = await runCli(['run', '--nodes', 's1', '--', 'sleep 300'], env);
    const id = started.stdout.trim();
    const follow = runCli(['logs', id, '--follow'], env);
    await stack.waitFor('running', async () => {
      const inv = await stack.describe(id);
      return inv.InvokeNodes.InvokeNode[0]?.InvocationStatus === 'Running';
    });
    assert.equal((await runCli(['stop', id], env)).code, 0);
    assert.equal((await hangBound('logs --follow', follow)).code, EXIT.stopped);

    const port = await freePort();
    const gone = await runCli(['nodes'], { ...env, FLEETCMD_URL: `http://127.0.0.1:${port}` });
    assert.equal(gone.code, EXIT.unreachable);
    assert.match(gone.stderr, /Unreachable/);
  });

  void it('bash completion completes commands, flags and values from the API', async () => {
    const id = await run(stack, { NodeIdList: ['s1'], CommandContent: 'true' });
    const cmd = await runCli(['command', 'create', '--name', 'compl', '--', 'true'], env);
    const commandId = cmd.stdout.trim();
    const script = await runCli(['completion', 'bash'], env);
    assert.equal(script.code, 0, script.stderr);
    const scriptFile = join(dir, 'fleetcmd.bash');
    await writeFile(scriptFile, script.stdout);
    // `fleetcmd` on PATH, as the script expects it.
    const bin = join(dir, 'bin');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(bin, { recursive: true });
    const shim = join(bin, 'fleetcmd');
    await writeFile(
      shim,
      `#!/bin/sh\nexec '${process.execPath}' '${join(ROOT, 'bin', 'fleetcmd.js')}' "$@"\n`,
    );
    await chmod(shim, 0o755);
    // Async: the stack's server runs in this process and must answer the script's requests.
    const complete = async (line: string): Promise<string[]> => {
      const words = line.split(' ');
      const program =
        `source '${scriptFile}'; complete -p fleetcmd >&2; ` +
        `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; ` +
        `_fleetcmd; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const child = spawn('bash', ['-c', program], {
        env: {
          ...process.env,
          ...env,
          PATH: `${bin}:${process.env.PATH ?? ''}`,
        } as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const [code] = (await hangBound('bash', once(child, 'exit'))) as [number | null];
      assert.equal(code, 0, stderr);
      assert.match(stderr, /complete .*-F _fleetcmd fleetcmd/);
      return stdout.split('\n').filter(Boolean).sort();
    };
    assert.deepEqual(await complete('fleetcmd ru'), ['run']);
    assert.deepEqual(await complete('fleetcmd comp'), ['completion']);
    assert.ok((await complete('fleetcmd run --')).includes('--nodes'));
    assert.ok((await complete('fleetcmd run --')).includes('--wait'));
    assert.deepEqual(await complete('fleetcmd command '), [
      'create',
      'delete',
      'invoke',
      'list',
      'modify',
    ]);
    assert.deepEqual(await complete('fleetcmd run --nodes '), ['s1', 's2']);
    assert.deepEqual(await complete('fleetcmd run --nodes s1,'), ['s1,s1', 's1,s2']);
    assert.deepEqual(await complete('fleetcmd nodes -o '), [
      'json',
      'jsonpath=',
      'table',
      'wide',
      'yaml',
    ]);
    assert.ok((await complete('fleetcmd logs ')).includes(id));
    assert.ok((await complete('fleetcmd command invoke ')).includes(commandId));
    // The cached answer holds ids, never the token.
    const { readdir } = await import('node:fs/promises');
    const cached = await readdir(join(dir, 'cache', 'fleetcmd'));
    assert.ok(cached.length > 0);
    for (const f of cached) {
      assert.ok(!(await readFile(join(dir, 'cache', 'fleetcmd', f), 'utf8')).includes(stack.token));
    }
    for (const shell of ['zsh', 'fish']) {
      const s = await runCli(['completion', shell], env);
      assert.equal(s.code, 0, s.stderr);
      assert.match(s.stdout, /fleetcmd __complete/);
    }
  });
});
