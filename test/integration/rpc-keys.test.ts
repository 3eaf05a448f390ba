import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import * as $Ecs from '@alicloud/ecs20140526';
import { ecsClient, testAccessKey, type SdkError } from '../helpers/rpc.js';
import { CLI, makeStack, type Stack } from '../helpers/stack.js';

const run = promisify(execFile);

/** `fleetcmd key ...` as an operator runs it: a child process against the stack's Redis. */
async function keyCmd(
  stack: Stack,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', CLI, 'key', ...args],
      { env: { ...process.env, ...stack.env, ...env }, timeout: 60_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

void describe('fleetcmd key add|list|remove', () => {
  let stack: Stack;
  const envKey = testAccessKey();

  before(async () => {
    stack = await makeStack(envKey.settings);
  });
  after(async () => {
    await stack.close();
  });

  void it('key add issues a key every replica verifies (it lives in Redis); key remove revokes it', async () => {
    const added = await keyCmd(stack, ['add', '--json']);
    assert.equal(added.code, 0, added.stderr);
    const { AccessKeyId, AccessKeySecret } = JSON.parse(added.stdout) as {
      AccessKeyId: string;
      AccessKeySecret: string;
    };
    assert.match(AccessKeyId, /^FC[A-Z0-9]{22}$/);
    assert.ok(AccessKeySecret.length >= 32);
    const stored = await stack.redis.hget(stack.keys.accessKeys(), AccessKeyId);
    assert.equal((JSON.parse(stored ?? '{}') as { secret?: string }).secret, AccessKeySecret);

    // The server was started before the key existed: it reads keys from Redis per request.
    const ecs = ecsClient(stack, { id: AccessKeyId, secret: AccessKeySecret });
    const ok = await ecs.describeCloudAssistantStatus(
      new $Ecs.DescribeCloudAssistantStatusRequest({ regionId: 'local' }),
    );
    assert.ok(ok.body?.requestId);

    const listed = await keyCmd(stack, ['list', '--json'], envKey.settings);
    assert.equal(listed.code, 0, listed.stderr);
    const keys = (JSON.parse(listed.stdout) as { AccessKeys: Record<string, string>[] }).AccessKeys;
    assert.deepEqual(
      keys.map((k) => [k.AccessKeyId, k.Source]).sort(),
      [
        [AccessKeyId, 'redis'],
        [envKey.id, 'env'],
      ].sort(),
    );
    assert.ok(!listed.stdout.includes(AccessKeySecret), 'list never shows a secret');
    const table = await keyCmd(stack, ['list']);
    assert.match(table.stdout, new RegExp(`${AccessKeyId}\\s+key add\\s+\\d{4}-`));

    const removed = await keyCmd(stack, ['remove', AccessKeyId]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, new RegExp(`removed ${AccessKeyId}`));
    await assert.rejects(
      ecs.describeCloudAssistantStatus(
        new $Ecs.DescribeCloudAssistantStatusRequest({ regionId: 'local' }),
      ),
      (err: SdkError) => err.code === 'InvalidAccessKeyId.NotFound' && err.statusCode === 404,
    );
    const again = await keyCmd(stack, ['remove', AccessKeyId]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /no access key/);
  });

  void it('key add prints the id and secret for people; a key from FLEETCMD_ACCESS_KEYS cannot be removed here', async () => {
    const added = await keyCmd(stack, ['add']);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /AccessKey ID: +FC[A-Z0-9]{22}\nAccessKey secret: +\S{32}\n/);
    const envRemove = await keyCmd(stack, ['remove', envKey.id], envKey.settings);
    assert.equal(envRemove.code, 2);
    assert.match(envRemove.stderr, /FLEETCMD_ACCESS_KEYS/);
    const help = await keyCmd(stack, ['add', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Example: fleetcmd key add /);
    const bad = await keyCmd(stack, ['frobnicate']);
    assert.equal(bad.code, 2);
    const badEnv = await keyCmd(stack, ['list'], { FLEETCMD_ACCESS_KEYS: 'id-without-secret' });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /FLEETCMD_ACCESS_KEYS/);
  });
});
