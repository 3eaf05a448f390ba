import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FINAL_NODE_STATUSES } from '../../src/domain/status.js';
import { keysUnder } from '../helpers/redis.js';
import { makeStack, relayCaughtUp, run, VOLATILE_KEY_RE, type Stack } from '../helpers/stack.js';
import type {
  DescribeSendFileResultsAnswer,
  FileInvocationView,
  FileNodeView,
} from '../../src/api/schemas/response.js';

const FILE_ID_RE = /^f-[a-z0-9]{17}$/;
const isRoot = process.getuid?.() === 0;

/** An account database entry's numeric id (field 3), or undefined. */
async function idOf(file: '/etc/passwd' | '/etc/group', name: string): Promise<number | undefined> {
  const line = (await readFile(file, 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`));
  return line === undefined ? undefined : Number(line.split(':')[2]);
}

async function describeFiles(
  stack: Stack,
  body: Record<string, unknown>,
): Promise<DescribeSendFileResultsAnswer> {
  const res = await stack.call('DescribeSendFileResults', body);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as DescribeSendFileResultsAnswer;
}

async function send(stack: Stack, body: Record<string, unknown>): Promise<string> {
  const res = await stack.call('SendFile', { NodeIdList: ['n1'], ...body });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const id = res.body.InvokeId as string;
  assert.match(id, FILE_ID_RE);
  return id;
}

/** Waits until every node of the sent file is final; returns its DescribeSendFileResults row. */
async function waitSent(stack: Stack, invokeId: string): Promise<FileInvocationView> {
  return stack.waitFor(`${invokeId} to be sent`, async () => {
    const inv = (await describeFiles(stack, { InvokeId: invokeId })).Invocations.Invocation[0];
    return inv?.InvokeNodes.InvokeNode.every((n) => FINAL_NODE_STATUSES.has(n.InvocationStatus))
      ? inv
      : undefined;
  });
}

function only(inv: FileInvocationView): FileNodeView {
  const [n, ...rest] = inv.InvokeNodes.InvokeNode;
  assert.ok(n && rest.length === 0, JSON.stringify(inv.InvokeNodes));
  return n;
}

async function tempFilesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.startsWith('.fleetcmd-'));
}

void describe('SendFile on a real agent', () => {
  let stack: Stack;
  let dir: string;

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('n1');
    await relayCaughtUp(stack, 1);
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-send-'));
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('refuses a Name or TargetDir that could escape, and bad content, changing nothing', async () => {
    const target = join(dir, 'refused');
    const ok = { NodeIdList: ['n1'], Name: 'x.txt', TargetDir: target, Content: 'hi' };
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ Name: 'a/b' }, 'InvalidParameter', /Name: must not contain \//],
      [{ Name: '..' }, 'InvalidParameter', /Name: must not be \. or \.\./],
      [{ Name: '.' }, 'InvalidParameter', /Name/],
      [{ Name: 'a\0b' }, 'InvalidParameter', /Name: must not contain NUL/],
      [{ Name: '' }, 'InvalidParameter', /Name/],
      [{ Name: undefined }, 'MissingParameter', /Name is required/],
      [{ TargetDir: 'relative/dir' }, 'InvalidParameter', /TargetDir: must be an absolute path/],
      [{ TargetDir: `${dir}/../etc` }, 'InvalidParameter', /TargetDir: must not contain \.\./],
      [{ TargetDir: undefined }, 'MissingParameter', /TargetDir is required/],
      [{ FileMode: '0999' }, 'InvalidParameter', /FileMode/],
      [{ FileMode: 'rwxr-xr-x' }, 'InvalidParameter', /FileMode/],
      [
        { ContentType: 'Base64', Content: 'not base64!' },
        'InvalidFileContent.Malformed',
        /Content/,
      ],
      [
        { Content: 'x'.repeat(24 * 1024 + 1) },
        'InvalidFileContent.LengthLimitExceeded',
        /Content is \d+ bytes once Base64-encoded; the limit is 32768/,
      ],
      [{ NodeIdList: ['nope'] }, 'InvalidNodeId.NotFound', /nope/],
    ];
    const before = await keysUnder(stack.redis, stack.prefix);
    for (const [change, code, message] of cases) {
      const res = await stack.call('SendFile', { ...ok, ...change });
      assert.equal(res.status, 400, `${JSON.stringify(change)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.Code, code, JSON.stringify(res.body));
      assert.match(String(res.body.Message), message);
    }
    const afterwards = (await keysUnder(stack.redis, stack.prefix)).filter(
      (k) => !VOLATILE_KEY_RE.test(k),
    );
    assert.deepEqual(
      afterwards,
      before.filter((k) => !VOLATILE_KEY_RE.test(k)),
    );
    await assert.rejects(stat(target), { code: 'ENOENT' });
    // The largest content that fits is accepted: 24 KiB of bytes are 32 KiB once encoded.
    const id = await send(stack, { ...ok, Content: 'x'.repeat(24 * 1024) });
    assert.equal(only(await waitSent(stack, id)).InvocationStatus, 'Success');
  });

  void it('writes the file with its content and mode, creating TargetDir, and leaves no temp file', async () => {
    const target = join(dir, 'a', 'b', 'c');
    const id = await send(stack, {
      Name: 'hello.conf',
      TargetDir: target,
      Content: 'key = value\n',
      FileMode: '0640',
      Description: 'a test file',
    });
    const inv = await waitSent(stack, id);
    const n = only(inv);
    assert.equal(n.InvocationStatus, 'Success', JSON.stringify(n));
    assert.equal(inv.InvocationStatus, 'Success');
    assert.equal(n.ErrorCode, '');
    assert.equal(n.ErrorInfo, '');
    assert.match(n.StartTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(n.FinishTime, /Z$/);
    assert.equal(inv.Name, 'hello.conf');
    assert.equal(inv.Description, 'a test file');
    assert.equal(inv.TargetDir, target);
    assert.equal(inv.FileMode, '0640');
    assert.equal(inv.Overwrite, false);
    assert.equal(inv.ContentType, 'PlainText');
    assert.equal(inv.Content, 'key = value\n');
    assert.equal(inv.NodeCount, 1);
    const path = join(target, 'hello.conf');
    assert.equal(await readFile(path, 'utf8'), 'key = value\n');
    const st = await stat(path);
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(st.uid, process.getuid?.());
    assert.deepEqual(await tempFilesIn(target), []);
  });

  void it(
    'gives the file the FileOwner and FileGroup asked for',
    { skip: !isRoot && 'the agent is not root' },
    async () => {
      const uid = await idOf('/etc/passwd', 'nobody');
      const group = (await idOf('/etc/group', 'nogroup')) !== undefined ? 'nogroup' : 'nobody';
      const gid = await idOf('/etc/group', group);
      assert.ok(uid !== undefined && gid !== undefined, 'nobody and its group exist here');
      const id = await send(stack, {
        Name: 'owned',
        TargetDir: dir,
        Content: 'mine',
        FileOwner: 'nobody',
        FileGroup: group,
        FileMode: '0600',
      });
      assert.equal(only(await waitSent(stack, id)).InvocationStatus, 'Success');
      const st = await stat(join(dir, 'owned'));
      assert.equal(st.uid, uid);
      assert.equal(st.gid, gid);
      assert.equal(st.mode & 0o7777, 0o600);
      // FileOwner alone: the owner's primary group.
      const id2 = await send(stack, {
        Name: 'owned2',
        TargetDir: dir,
        Content: 'x',
        FileOwner: 'nobody',
      });
      assert.equal(only(await waitSent(stack, id2)).InvocationStatus, 'Success');
      const st2 = await stat(join(dir, 'owned2'));
      assert.equal(st2.uid, uid);
      assert.equal(st2.gid, (await idOf('/etc/group', 'nogroup')) ?? uid);
    },
  );

  void it('an unknown FileOwner or FileGroup fails with the vendor codes and writes nothing', async () => {
    const target = join(dir, 'unknown-owner');
    const byOwner = await send(stack, {
      Name: 'f',
      TargetDir: target,
      Content: 'x',
      FileOwner: 'no_such_user_x9',
    });
    const a = only(await waitSent(stack, byOwner));
    assert.equal(a.InvocationStatus, 'Failed');
    assert.equal(a.ErrorCode, 'AccountNotExists');
    assert.equal(a.ErrorInfo, 'the specified account does not exists');
    const byGroup = await send(stack, {
      Name: 'f',
      TargetDir: target,
      Content: 'x',
      FileGroup: 'no_such_group_x9',
    });
    const inv = await waitSent(stack, byGroup);
    assert.equal(inv.InvocationStatus, 'Failed');
    const b = only(inv);
    assert.equal(b.InvocationStatus, 'Failed');
    assert.equal(b.ErrorCode, 'UserGroupNotExists');
    assert.equal(b.ErrorInfo, 'Group not exists');
    await assert.rejects(stat(target), { code: 'ENOENT' });
  });

  void it('refuses to replace an existing file without Overwrite, and replaces it with', async () => {
    const path = join(dir, 'existing.txt');
    await writeFile(path, 'original\n', { mode: 0o644 });
    const refused = await send(stack, { Name: 'existing.txt', TargetDir: dir, Content: 'new\n' });
    const n = only(await waitSent(stack, refused));
    assert.equal(n.InvocationStatus, 'Failed');
    assert.equal(n.ErrorCode, 'FileAlreadyExists');
    assert.equal(n.ErrorInfo, 'File already exists');
    assert.equal(await readFile(path, 'utf8'), 'original\n');
    assert.deepEqual(await tempFilesIn(dir), []);

    const replaced = await send(stack, {
      Name: 'existing.txt',
      TargetDir: dir,
      Content: 'new\n',
      Overwrite: true,
      FileMode: '0755',
    });
    const inv = await waitSent(stack, replaced);
    assert.equal(only(inv).InvocationStatus, 'Success');
    assert.equal(inv.Overwrite, true);
    assert.equal(await readFile(path, 'utf8'), 'new\n');
    assert.equal((await stat(path)).mode & 0o7777, 0o755);
    assert.deepEqual(await tempFilesIn(dir), []);
  });

  void it('a TargetDir that is a file is a failure that names the path', async () => {
    const blocker = join(dir, 'blocker');
    await writeFile(blocker, 'in the way');
    const id = await send(stack, { Name: 'x', TargetDir: join(blocker, 'sub'), Content: 'x' });
    const n = only(await waitSent(stack, id));
    assert.equal(n.InvocationStatus, 'Failed');
    assert.equal(n.ErrorCode, 'FilePathInvalid');
    assert.match(
      n.ErrorInfo,
      /^File path is invalid: blocker is a symbolic link or not a directory/,
    );
  });

  void it('never writes through a symbolic link in TargetDir or at the file name', async () => {
    // A directory the agent must not reach, and links to it planted where the file would go.
    const victim = join(dir, 'victim');
    await mkdir(victim);
    await writeFile(join(victim, 'x.txt'), 'precious');
    await symlink(victim, join(dir, 'planted'));

    for (const targetDir of [join(dir, 'planted'), join(dir, 'planted', 'sub')]) {
      const id = await send(stack, {
        Name: 'x.txt',
        TargetDir: targetDir,
        Content: 'evil',
        Overwrite: true,
      });
      const n = only(await waitSent(stack, id));
      assert.equal(n.InvocationStatus, 'Failed', targetDir);
      assert.equal(n.ErrorCode, 'FilePathInvalid');
      assert.match(n.ErrorInfo, /planted is a symbolic link/);
    }
    assert.deepEqual((await readdir(victim)).sort(), ['x.txt']);
    assert.equal(await readFile(join(victim, 'x.txt'), 'utf8'), 'precious');

    // A link at the file's own name: without Overwrite it is left alone, with it the link itself
    // is replaced by the file, and what it pointed to is untouched.
    const real = join(dir, 'real');
    await mkdir(real);
    await symlink(join(victim, 'x.txt'), join(real, 'x.txt'));
    const kept = only(
      await waitSent(stack, await send(stack, { Name: 'x.txt', TargetDir: real, Content: 'new' })),
    );
    assert.equal(kept.ErrorCode, 'FileAlreadyExists');
    assert.equal(await readFile(join(victim, 'x.txt'), 'utf8'), 'precious');
    const replaced = only(
      await waitSent(
        stack,
        await send(stack, { Name: 'x.txt', TargetDir: real, Content: 'new', Overwrite: true }),
      ),
    );
    assert.equal(replaced.InvocationStatus, 'Success');
    assert.equal((await lstat(join(real, 'x.txt'))).isSymbolicLink(), false);
    assert.equal(await readFile(join(real, 'x.txt'), 'utf8'), 'new');
    assert.equal(await readFile(join(victim, 'x.txt'), 'utf8'), 'precious');
    assert.deepEqual(await tempFilesIn(real), []);
  });

  void it('readers never see a partial file while it is replaced', async () => {
    const path = join(dir, 'swap.bin');
    const size = 24 * 1024;
    await writeFile(path, Buffer.alloc(size, 'A'));
    const seen = new Set<string>();
    let done = false;
    let sawOld: () => void = () => undefined;
    const readingOld = new Promise<void>((r) => (sawOld = r));
    const reader = (async () => {
      while (!done) {
        const bytes = await readFile(path);
        assert.equal(bytes.length, size, 'a reader saw a file of another length');
        const kinds = new Set(bytes);
        assert.equal(kinds.size, 1, 'a reader saw old and new bytes mixed');
        seen.add(String.fromCharCode([...kinds][0] ?? 0));
        if (seen.has('A')) sawOld();
      }
    })();
    // The file is sent only once the reader is reading the old one.
    await Promise.race([readingOld, reader]);
    const id = await send(stack, {
      Name: 'swap.bin',
      TargetDir: dir,
      Content: 'B'.repeat(size),
      Overwrite: true,
    });
    try {
      assert.equal(only(await waitSent(stack, id)).InvocationStatus, 'Success');
    } finally {
      done = true;
      await reader;
    }
    assert.equal((await readFile(path)).toString(), 'B'.repeat(size));
    assert.ok(seen.has('A'), 'the reader ran before the replacement');
    assert.deepEqual(await tempFilesIn(dir), []);
  });

  void it('Base64 content arrives byte for byte', async () => {
    const bytes = Buffer.concat([Buffer.from([0, 255, 0, 10, 13]), randomBytes(4000)]);
    const id = await send(stack, {
      Name: 'blob.bin',
      TargetDir: dir,
      Content: bytes.toString('base64'),
      ContentType: 'Base64',
    });
    const inv = await waitSent(stack, id);
    assert.equal(only(inv).InvocationStatus, 'Success');
    assert.equal(inv.ContentType, 'Base64');
    assert.equal(inv.Content, bytes.toString('base64'));
    assert.deepEqual(await readFile(join(dir, 'blob.bin')), bytes);
  });

  void it('is not listed by DescribeInvocations or DescribeInvocationResults', async () => {
    const cmd = await run(stack, { NodeIdList: ['n1'], CommandContent: 'true' });
    const id = await send(stack, { Name: 'hidden', TargetDir: dir, Content: 'x' });
    await waitSent(stack, id);
    const listed = await stack.call('DescribeInvocations', { MaxResults: 50 });
    assert.equal(listed.status, 200);
    const ids = (listed.body.Invocations as { Invocation: { InvokeId: string }[] }).Invocation.map(
      (i) => i.InvokeId,
    );
    assert.ok(ids.includes(cmd), 'the command is listed');
    assert.deepEqual(
      ids.filter((i) => i.startsWith('f-')),
      [],
    );
    for (const action of ['DescribeInvocations', 'DescribeInvocationResults', 'StopInvocation']) {
      const res = await stack.call(action, { InvokeId: id });
      assert.equal(res.status, 404, `${action}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.Code, 'InvalidInvokeId.NotFound');
    }
    const results = await stack.call('DescribeInvocationResults', { MaxResults: 50 });
    const rows = (
      results.body.Invocation as { InvocationResults: { InvocationResult: { InvokeId: string }[] } }
    ).InvocationResults.InvocationResult;
    assert.ok(rows.every((r) => r.InvokeId.startsWith('t-')));
    // And a command id is not a sent file.
    const res = await stack.call('DescribeSendFileResults', { InvokeId: cmd });
    assert.equal(res.status, 404);
  });

  void it('a NextToken forged to point at the other kind shows nothing of it', async () => {
    const file = await send(stack, { Name: 'forged', TargetDir: dir, Content: 'secret' });
    await waitSent(stack, file);
    for (let i = 0; i < 2; i++) await run(stack, { NodeIdList: ['n1'], CommandContent: 'true' });
    const forge = (token: unknown, invokeId: string) => {
      const t = JSON.parse(Buffer.from(String(token), 'base64url').toString()) as {
        at: { createdMs: number; invokeId: string };
      };
      t.at.invokeId = invokeId;
      return Buffer.from(JSON.stringify(t)).toString('base64url');
    };
    // A real token's filters and position, with the sent file's id in place of the command's.
    const first = await stack.call('DescribeInvocationResults', { MaxResults: 1 });
    const token = (first.body.Invocation as { NextToken?: string }).NextToken;
    assert.ok(token, JSON.stringify(first.body));
    const forged = await stack.call('DescribeInvocationResults', {
      MaxResults: 50,
      NextToken: forge(token, file),
    });
    assert.equal(forged.status, 200, JSON.stringify(forged.body));
    const rows = (
      forged.body.Invocation as { InvocationResults: { InvocationResult: { InvokeId: string }[] } }
    ).InvocationResults.InvocationResult;
    assert.ok(rows.length > 0);
    assert.deepEqual(
      rows.filter((r) => !r.InvokeId.startsWith('t-')),
      [],
      'a sent file shown as a command result',
    );
    // The other way: a sent-file listing token naming a command lists sent files only.
    await send(stack, { Name: 'forged-2', TargetDir: dir, Content: 'x', Overwrite: true });
    const files = await describeFiles(stack, { MaxResults: 1 });
    assert.ok(files.NextToken);
    const cmd = await run(stack, { NodeIdList: ['n1'], CommandContent: 'true' });
    const t = JSON.parse(Buffer.from(files.NextToken, 'base64url').toString()) as {
      invokeId: string;
    };
    const other = await describeFiles(stack, {
      MaxResults: 50,
      NextToken: Buffer.from(JSON.stringify({ ...t, invokeId: cmd })).toString('base64url'),
    });
    assert.ok(other.Invocations.Invocation.every((i) => i.InvokeId.startsWith('f-')));
  });

  void it('pages DescribeSendFileResults newest first, and filters by Name and status', async () => {
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      sent.push(
        await send(stack, {
          Name: 'paged',
          TargetDir: join(dir, 'paged'),
          Content: `${i}`,
          Overwrite: true,
        }),
      );
    }
    for (const id of sent) await waitSent(stack, id);
    const seen: string[] = [];
    const sizes: number[] = [];
    let token: string | undefined;
    do {
      const page = await describeFiles(stack, {
        Name: 'paged',
        MaxResults: 2,
        ...(token ? { NextToken: token } : {}),
      });
      sizes.push(page.Invocations.Invocation.length);
      seen.push(...page.Invocations.Invocation.map((i) => i.InvokeId));
      token = page.NextToken;
    } while (token);
    assert.deepEqual(sizes, [2, 2, 1]);
    assert.deepEqual(seen, [...sent].reverse());
    // Every sent file so far, newest first, across pages of 3.
    const all: FileInvocationView[] = [];
    token = undefined;
    do {
      const page = await describeFiles(stack, {
        MaxResults: 3,
        ...(token ? { NextToken: token } : {}),
      });
      all.push(...page.Invocations.Invocation);
      token = page.NextToken;
    } while (token);
    assert.deepEqual(
      all.slice(0, 5).map((i) => i.InvokeId),
      [...sent].reverse(),
    );
    assert.equal(new Set(all.map((i) => i.InvokeId)).size, all.length);
    const times = all.map((i) => i.CreationTime);
    assert.deepEqual(times, [...times].sort().reverse());
    // Status filters: the failures above, none of the paged ones.
    const failed = await describeFiles(stack, { InvocationStatus: 'Failed', MaxResults: 50 });
    assert.ok(failed.Invocations.Invocation.length >= 3);
    assert.ok(failed.Invocations.Invocation.every((i) => i.InvocationStatus === 'Failed'));
    const pagedFailed = await describeFiles(stack, { Name: 'paged', InvocationStatus: 'Failed' });
    assert.deepEqual(pagedFailed.Invocations.Invocation, []);
    const byNode = await describeFiles(stack, { NodeId: 'n2', MaxResults: 50 });
    assert.deepEqual(byNode.Invocations.Invocation, []);
  });

  void it('a node that is offline at the delivery deadline is Aborted: ClientNotRunning', async () => {
    const n9 = await stack.startAgent('n9');
    await n9.kill('SIGTERM');
    const id = await send(stack, {
      NodeIdList: ['n1', 'n9'],
      Name: 'late',
      TargetDir: dir,
      Content: 'x',
    });
    const inv = await waitSent(stack, id);
    const late = inv.InvokeNodes.InvokeNode.find((n) => n.NodeId === 'n9');
    assert.equal(late?.InvocationStatus, 'Aborted');
    assert.equal(late?.ErrorCode, 'ClientNotRunning');
    assert.equal(inv.InvocationStatus, 'PartialFailed');
    assert.equal(inv.NodeCount, 2);
  });
});
