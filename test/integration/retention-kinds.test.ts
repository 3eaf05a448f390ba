/**
 * Retention of every kind of record besides a one-off invocation (test/integration/
 * retention.test.ts has that): a Period invocation's past runs expire after
 * FLEETCMD_HISTORY_SECONDS and, once it is stopped, it and its records after
 * FLEETCMD_RETENTION_SECONDS; a SendFile's records after the retention; a signature nonce once
 * its request's date leaves the 15-minute window (docs/architecture.md, Redis keys). A saved
 * command is not an invocation record: it is kept until DeleteCommand (docs/api.md), whatever
 * the retention.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HISTORY_SUFFIXES } from '../../src/store/keys.js';
import { send, signedRequest, testAccessKey } from '../helpers/rpc.js';
import { keysUnder } from '../helpers/redis.js';
import { makeStack, run, waitFinal, type Stack } from '../helpers/stack.js';

const RETENTION_SECONDS = 6;
const HISTORY_SECONDS = 2;

void describe('retention of each kind of record', () => {
  let stack: Stack;
  let dir: string;
  const key = testAccessKey();

  before(async () => {
    stack = await makeStack({
      ...key.settings,
      FLEETCMD_RETENTION_SECONDS: String(RETENTION_SECONDS),
      FLEETCMD_HISTORY_SECONDS: String(HISTORY_SECONDS),
      FLEETCMD_MIN_INTERVAL_SECONDS: '1',
      FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '1',
    });
    dir = await mkdtemp(join(tmpdir(), 'fc-retention-'));
    await stack.startAgent('rk1');
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  const named = async (id: string) =>
    (await keysUnder(stack.redis, stack.prefix)).filter((k) => k.includes(id));
  const allExpire = async (id: string) =>
    stack
      .waitFor(`every key of ${id} to expire`, async () => (await named(id)).length === 0, 60_000)
      .catch(async (err: unknown) => {
        throw new Error(`${String(err)}; left: ${JSON.stringify(await named(id))}`);
      });

  void it('a Period invocation: past runs after the history age, the rest after the retention once stopped', async () => {
    const id = await run(stack, {
      NodeIdList: ['rk1'],
      Frequency: '* * * * * *',
      CommandContent: 'echo tick',
    });
    const runKey = stack.keys.nodeRun('rk1', id);
    const histList = `${runKey}${HISTORY_SUFFIXES.list}`;
    await stack.waitFor(
      'three past runs',
      async () => (await stack.redis.llen(histList)) >= 3,
      60_000,
    );
    const entries = (await keysUnder(stack.redis, stack.prefix)).filter((k) =>
      k.startsWith(`${runKey}${HISTORY_SUFFIXES.entry}`),
    );
    assert.ok(entries.length > 0, 'history entries');
    for (const k of [histList, ...entries]) {
      const ttl = await stack.redis.pttl(k);
      // -2: gone since it was listed, its age passed (listing every master of a cluster takes
      // a while); what must not be is a key without a TTL (-1) or with a longer one.
      assert.ok(ttl === -2 || (ttl > 0 && ttl <= HISTORY_SECONDS * 1000), `${k} TTL ${ttl} ms`);
    }
    // A past run is gone once its age passes (newer ones keep arriving meanwhile).
    const oldest = entries[0] as string;
    await stack.waitFor(
      `${oldest} to expire`,
      async () => (await stack.redis.exists(oldest)) === 0,
    );
    // The live invocation itself does not expire while it may fire.
    assert.equal(await stack.redis.pttl(stack.keys.invocation(id)), -1);

    const stop = await stack.call('StopInvocation', { InvokeId: id });
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
    await waitFinal(stack, id, 30_000);
    await allExpire(id);
    assert.equal((await stack.call('DescribeInvocations', { InvokeId: id })).status, 404);
  });

  void it('a SendFile: its records after the retention, and its index entry with the next', async () => {
    const sendFile = async (name: string) => {
      const res = await stack.call('SendFile', {
        NodeIdList: ['rk1'],
        Name: name,
        TargetDir: dir,
        Content: 'kept a while',
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const id = String(res.body.InvokeId);
      await stack.waitFor(`${id} sent`, async () => {
        const r = await stack.call('DescribeSendFileResults', { InvokeId: id });
        const inv = (r.body as { Invocations: { Invocation: { InvocationStatus: string }[] } })
          .Invocations.Invocation[0];
        return inv?.InvocationStatus === 'Success';
      });
      return id;
    };
    const id = await sendFile('a.txt');
    // Its records (BullMQ's jobs are removed as they complete; they must be gone too, below).
    const keys = (await named(id)).filter((k) => !/:(?:sq|nq):/.test(k));
    assert.ok(keys.length > 0);
    for (const k of keys) {
      const ttl = await stack.redis.pttl(k);
      assert.ok(ttl > 0 && ttl <= RETENTION_SECONDS * 1000, `${k} TTL ${ttl} ms`);
    }
    await allExpire(id);
    await sendFile('b.txt');
    assert.equal(await stack.redis.zscore(stack.keys.sendFileIndex(), id), null);
  });

  void it('a signature nonce: once its request’s date leaves the window', async () => {
    // Dated 14 min 57 s ago: accepted, and remembered only the ~3 s it stays acceptable.
    const date = new Date(Date.now() - (15 * 60 - 3) * 1000)
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    const nonce = randomBytes(16).toString('hex');
    const req = signedRequest(stack, key, {
      version: '2022-12-15',
      action: 'DescribeNodes',
      query: { NodeId: 'rk1' },
      date,
      nonce,
    });
    const res = await send(req);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const digest = createHash('sha256').update(nonce).digest('hex').slice(0, 32);
    const nonceKey = stack.keys.signatureNonce(key.id, digest);
    const ttl = await stack.redis.pttl(nonceKey);
    assert.ok(ttl > 0 && ttl <= 3_000, `nonce TTL ${ttl} ms`);
    await stack.waitFor(
      'the nonce to expire',
      async () => (await stack.redis.exists(nonceKey)) === 0,
    );
    // And the request is no longer accepted either: its date is out of the window.
    const again = await send(req);
    assert.equal(again.status, 400, JSON.stringify(again.body));
    assert.equal(again.body.Code, 'InvalidTimeStamp.Expired');
  });

  void it('a saved command is kept past the retention, until DeleteCommand', async () => {
    const created = await stack.call('CreateCommand', {
      Name: 'kept',
      CommandContent: 'echo kept',
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const commandId = String(created.body.CommandId);
    const cmdKey = stack.keys.command(commandId);
    assert.equal(await stack.redis.pttl(cmdKey), -1, 'no TTL');
    // Past the retention (its own invocation expires meanwhile): still there, still runs.
    const inv = await stack.call('InvokeCommand', { CommandId: commandId, NodeIdList: ['rk1'] });
    assert.equal(inv.status, 200, JSON.stringify(inv.body));
    const invokeId = String(inv.body.InvokeId);
    await waitFinal(stack, invokeId);
    await allExpire(invokeId);
    const listed = await stack.call('DescribeCommands', { CommandId: commandId });
    assert.equal(listed.status, 200);
    assert.equal((listed.body as { TotalCount: number }).TotalCount, 1);
    const deleted = await stack.call('DeleteCommand', { CommandId: commandId });
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    assert.equal(await stack.redis.exists(cmdKey), 0);
  });
});
