import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { alive, makeStack, nodeOf, run, waitFinal, type Stack } from '../helpers/stack.js';

void describe('RunCommand (Once) on a real agent', () => {
  let stack: Stack;
  let dir: string;

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('n1');
    await stack.startAgent('n2');
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-test-'));
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('runs on every node and reports Success with the output', async () => {
    const id = await run(stack, {
      NodeIdList: ['n1', 'n2'],
      CommandContent: 'echo "hello $USER"; pwd',
    });
    const inv = await waitFinal(stack, id);
    assert.equal(inv.InvocationStatus, 'Success');
    assert.equal(inv.InvokeStatus, 'Finished');
    for (const n of inv.InvokeNodes.InvokeNode) {
      assert.equal(n.InvocationStatus, 'Success');
      assert.equal(n.ExitCode, 0);
      assert.equal(n.Repeats, 1);
      assert.equal(n.ErrorCode, '');
      assert.match(n.Output ?? '', /^hello \S+\n\//);
      assert.equal(n.NodeInvokeStatus, 'Finished');
      assert.equal(n.Timed, 'false');
    }
  });

  void it('interleaves stdout and stderr in arrival order', async () => {
    const id = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: 'echo 1; echo 2 >&2; echo 3; echo 4 >&2; echo 5',
    });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.Output, '1\n2\n3\n4\n5\n');
  });

  void it('a non-zero exit is Failed with the seed error text', async () => {
    const id = await run(stack, { NodeIdList: ['n1', 'n2'], CommandContent: 'exit 7' });
    const inv = await waitFinal(stack, id);
    assert.equal(inv.InvocationStatus, 'Failed');
    const n = nodeOf(inv, 'n1');
    assert.equal(n.InvocationStatus, 'Failed');
    assert.equal(n.ExitCode, 7);
    assert.equal(n.ErrorCode, 'ExitCodeNonzero');
    assert.equal(n.ErrorInfo, 'the command execution exit code is not zero');
  });

  void it('mixed results aggregate to PartialFailed', async () => {
    const id = await run(stack, {
      NodeIdList: ['n1', 'n2'],
      CommandContent:
        'test "$(cat /proc/self/status | grep -c .)" -gt 0 && [ "$FLEETCMD_X" = "" ] && exit 0',
    });
    const ok = await waitFinal(stack, id);
    assert.equal(ok.InvocationStatus, 'Success');
    const marker = join(dir, 'partial');
    // n1 creates the marker and succeeds; n2 sees it and fails (order does not matter: one of each).
    const id2 = await run(stack, {
      NodeIdList: ['n1', 'n2'],
      CommandContent: `mkdir ${marker}`,
    });
    const inv = await waitFinal(stack, id2);
    const statuses = inv.InvokeNodes.InvokeNode.map((n) => n.InvocationStatus).sort();
    assert.deepEqual(statuses, ['Failed', 'Success']);
    assert.equal(inv.InvocationStatus, 'PartialFailed');
    assert.equal(inv.InvokeStatus, 'PartialFailed');
  });

  void it('an unknown Username is Invalid: the specified account does not exists', async () => {
    const id = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: 'true',
      Username: 'no_such_user_x9',
    });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.InvocationStatus, 'Invalid');
    assert.equal(n.ErrorCode, 'AccountNotExists');
    assert.equal(n.ErrorInfo, 'the specified account does not exists');
    assert.equal(n.ExitCode, undefined);
    assert.equal(n.StartTime, '');
    assert.equal(n.Repeats, 0);
  });

  void it('a missing WorkingDir is Invalid: the specified directory does not exists', async () => {
    const id = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: 'true',
      WorkingDir: join(dir, 'nope'),
    });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.InvocationStatus, 'Invalid');
    assert.equal(n.ErrorCode, 'DirectoryNotExists');
    assert.equal(n.ErrorInfo, 'the specified directory does not exists');
  });

  void it('runs in the requested WorkingDir', async () => {
    const id = await run(stack, { NodeIdList: ['n1'], CommandContent: 'pwd', WorkingDir: dir });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.Output, `${dir}\n`);
  });

  void it(
    'runs as the requested user when the agent is root',
    { skip: process.getuid?.() !== 0 },
    async () => {
      const id = await run(stack, {
        NodeIdList: ['n1'],
        CommandContent: 'id -un; echo $HOME',
        Username: 'nobody',
        WorkingDir: '/tmp',
      });
      const n = nodeOf(await waitFinal(stack, id), 'n1');
      assert.equal(n.InvocationStatus, 'Success', n.Output);
      assert.match(n.Output ?? '', /^nobody\n/);
    },
  );

  void it('runs in a clean environment that names the invocation', async () => {
    const id = await run(stack, { NodeIdList: ['n1'], CommandContent: 'env | sort' });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    const names = (n.Output ?? '')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('=')[0]);
    assert.ok(names.includes('PATH') && names.includes('HOME') && names.includes('USER'));
    assert.ok((n.Output ?? '').includes(`FLEETCMD_INVOKE_ID=${id}\n`));
    // Nothing of the agent's own environment leaks in (its Redis URL, key prefix, token).
    assert.ok(
      !names.some((v) => v === 'REDIS_URL' || v?.startsWith('FLEETCMD_PREFIX')),
      names.join(','),
    );
  });

  void it('runs the script with the Launcher, and reports a missing launcher as a failure', async () => {
    const id = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: 'echo "bash ${BASH_VERSION%%.*}"',
      Launcher: '/bin/bash --norc',
    });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.InvocationStatus, 'Success');
    assert.match(n.Output ?? '', /^bash \d+\n$/);
    const bad = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: 'true',
      Launcher: '/no/such/interpreter',
    });
    const b = nodeOf(await waitFinal(stack, bad), 'n1');
    assert.equal(b.InvocationStatus, 'Failed');
    assert.equal(b.ExitCode, 127);
    assert.match(b.Output ?? '', /\/no\/such\/interpreter/);
  });

  void it('Timeout kills the whole process tree and reports 128+SIGKILL', async () => {
    const pidFile = join(dir, 'tree.pid');
    const id = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: `sleep 300 & echo $! > ${pidFile}; echo started; wait`,
      Timeout: 1,
    });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.InvocationStatus, 'Timeout');
    assert.equal(n.ErrorCode, 'ExecutionTimeout');
    assert.equal(n.ErrorInfo, 'the command execution has been timeout');
    assert.equal(n.ExitCode, 137);
    assert.equal(n.Output, 'started\n');
    const grandchild = Number((await readFile(pidFile, 'utf8')).trim());
    await stack.waitFor('the background sleep to be killed', async () => !alive(grandchild), 3_000);
  });

  void it('TerminationMode Process kills only the main process', async () => {
    const pidFile = join(dir, 'proc.pid');
    const id = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: `sleep 300 > /dev/null 2>&1 & echo $! > ${pidFile}; wait`,
      Timeout: 1,
      TerminationMode: 'Process',
    });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.InvocationStatus, 'Timeout');
    assert.equal(n.ExitCode, 137);
    const grandchild = Number((await readFile(pidFile, 'utf8')).trim());
    assert.ok(alive(grandchild), 'the background child survives in Process mode');
    process.kill(grandchild, 'SIGKILL');
  });

  void it('caps output at 24 KiB keeping head and tail, never splitting UTF-8, with exact Dropped', async () => {
    // 20,000 x "€" (3 bytes) + "END\n": 60,004 bytes printed.
    const id = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: `printf 'A%.0s' 1; i=0; while [ $i -lt 2000 ]; do printf '€€€€€€€€€€'; i=$((i+1)); done; echo END`,
    });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    const printed = 1 + 20_000 * 3 + 4;
    const out = Buffer.from(n.Output ?? '', 'utf8');
    assert.ok(out.length <= 24_576);
    assert.equal(out.length + n.Dropped, printed);
    assert.ok(n.Dropped > 0);
    assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(out));
    assert.ok(n.Output?.startsWith('A€€'));
    assert.ok(n.Output?.endsWith('€€END\n'));
    // Base64 (the default encoding) carries the same bytes.
    const b64 = await stack.describe(id, { ContentEncoding: 'Base64' });
    assert.deepEqual(Buffer.from(nodeOf(b64, 'n1').Output ?? '', 'base64'), out);
  });

  void it('shows the output so far while the command runs', async () => {
    const id = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: 'echo first; sleep 30; echo second',
    });
    const seen = await stack.waitFor(
      'partial output while running',
      async () => {
        const n = nodeOf(await stack.describe(id), 'n1');
        return n.InvocationStatus === 'Running' && n.Output === 'first\n' ? n : undefined;
      },
      5_000,
    );
    assert.equal(seen.StartTime.length > 0, true);
    assert.equal(seen.FinishTime, '');
    assert.equal(seen.ExitCode, undefined);
    await stack.call('StopInvocation', { InvokeId: id });
    await waitFinal(stack, id);
  });
});
