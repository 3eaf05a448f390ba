/**
 * SendFile's Name and FileMode limits at the API: Name is at most 255 bytes (not characters)
 * without control characters; a set-user-id or set-group-id mode on a file its group or
 * others may write is refused unless FLEETCMD_ALLOW_SETUID_FILES=true.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FINAL_NODE_STATUSES } from '../../src/domain/status.js';
import type { DescribeSendFileResultsAnswer } from '../../src/api/schemas/response.js';
import { makeStack, type Stack } from '../helpers/stack.js';

/** Sends the file; the answer's status and body. */
async function sendFile(stack: Stack, dir: string, change: Record<string, unknown>) {
  return stack.call('SendFile', {
    NodeIdList: ['n1'],
    Name: 'f.txt',
    TargetDir: dir,
    Content: 'hi',
    Overwrite: true,
    ...change,
  });
}

/** The node's final status of a sent file. */
async function finalStatus(stack: Stack, invokeId: string): Promise<string> {
  return stack.waitFor(`${invokeId} to be sent`, async () => {
    const res = await stack.call('DescribeSendFileResults', { InvokeId: invokeId });
    const inv = (res.body as DescribeSendFileResultsAnswer).Invocations.Invocation[0];
    const n = inv?.InvokeNodes.InvokeNode[0];
    return n && FINAL_NODE_STATUSES.has(n.InvocationStatus) ? n.InvocationStatus : undefined;
  });
}

void describe('SendFile limits', () => {
  let stack: Stack;
  let dir: string;
  before(async () => {
    stack = await makeStack();
    await stack.startAgent('n1');
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-send-limits-'));
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('Name: 255 bytes at most, counted in UTF-8', async () => {
    const fits = 'é'.repeat(85); // 170 bytes
    const ok = await sendFile(stack, dir, { Name: fits });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(await finalStatus(stack, ok.body.InvokeId as string), 'Success');
    await stat(join(dir, fits));

    const long = 'é'.repeat(128); // 128 characters, 256 bytes
    const res = await sendFile(stack, dir, { Name: long });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.Code, 'InvalidParameter');
    assert.match(String(res.body.Message), /Name: .*256 bytes.*255/);
  });

  void it('Name: control characters are refused', async () => {
    for (const c of ['\n', '\x7f', '\x1b', '\t', '\r']) {
      const res = await sendFile(stack, dir, { Name: `a${c}b` });
      assert.equal(res.status, 400, `${JSON.stringify(c)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.Code, 'InvalidParameter');
      assert.match(String(res.body.Message), /Name: must not contain control characters/);
    }
  });

  void it('FileMode: set-user-id or set-group-id on a group- or world-writable file is refused', async () => {
    for (const mode of ['4777', '2775', '4766', '6757', '2772']) {
      const res = await sendFile(stack, dir, { FileMode: mode });
      assert.equal(res.status, 400, `${mode}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.Code, 'InvalidParameter');
      assert.match(String(res.body.Message), /FileMode: .*FLEETCMD_ALLOW_SETUID_FILES/);
    }
    const ok = await sendFile(stack, dir, { Name: 'suid', FileMode: '4755' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(await finalStatus(stack, ok.body.InvokeId as string), 'Success');
    assert.equal((await stat(join(dir, 'suid'))).mode & 0o7777, 0o4755);
  });
});

void describe('SendFile with FLEETCMD_ALLOW_SETUID_FILES=true', () => {
  let stack: Stack;
  let dir: string;
  before(async () => {
    stack = await makeStack({ FLEETCMD_ALLOW_SETUID_FILES: 'true' });
    await stack.startAgent('n1', { FLEETCMD_ALLOW_SETUID_FILES: 'true' });
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-send-suid-'));
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('FileMode 4777 is accepted and written', async () => {
    const ok = await sendFile(stack, dir, { Name: 'open-suid', FileMode: '4777' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(await finalStatus(stack, ok.body.InvokeId as string), 'Success');
    assert.equal((await stat(join(dir, 'open-suid'))).mode & 0o7777, 0o4777);
  });
});
