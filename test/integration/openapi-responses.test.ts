import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ACTIONS } from '../../src/api/actions/registry.js';
import { makeStack, waitFinal, type Stack } from '../helpers/stack.js';

/**
 * Real answers of every action, from a real stack and agent, checked against the schemas GET
 * /docs documents them with (strict: an undocumented field fails too).
 */
/** A token of the admin role, for the enrollment actions. */
const ADMIN = randomBytes(16).toString('hex');

void describe('documented answer schemas match real answers', () => {
  let stack: Stack;
  let dir: string;
  const checked = new Map<string, number>();

  before(async () => {
    stack = await makeStack({ FLEETCMD_API_TOKENS: `ops:admin:${ADMIN}` });
    await stack.startAgent('n1');
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-docs-'));
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Calls an action that must succeed, and checks its answer against its documented schema. */
  async function call(
    action: string,
    body: unknown,
    token?: string,
  ): Promise<Record<string, unknown>> {
    const res = await stack.call(action, body, token === undefined ? undefined : { token });
    assert.equal(res.status, 200, `${action}: ${JSON.stringify(res.body)}`);
    const doc = ACTIONS[action];
    assert.ok(doc, action);
    const parsed = doc.response.safeParse(res.body);
    assert.ok(
      parsed.success,
      `${action} answer does not match its documented schema: ${parsed.error?.message}\n${JSON.stringify(res.body)}`,
    );
    checked.set(action, (checked.get(action) ?? 0) + 1);
    return res.body;
  }

  void it('every action, with lists that are empty, full, paged and filtered', async () => {
    await call('DescribeNodes', {});
    await call('DescribeNodes', { NodeId: 'n1', Online: true });
    await call('DescribeInvocations', {});
    await call('DescribeCommands', {});

    const done = (await call('RunCommand', {
      NodeIdList: ['n1'],
      CommandContent: 'echo out; exit 3',
      Name: 'docs',
      MaxConcurrency: '1',
      MaxErrors: '0',
    })) as { InvokeId: string };
    await waitFinal(stack, done.InvokeId);
    const sleeping = (await call('RunCommand', {
      NodeIdList: ['n1'],
      CommandContent: 'sleep 30',
      ClientToken: 'docs-token',
    })) as { InvokeId: string };
    await call('RunCommand', {
      NodeIdList: ['n1'],
      CommandContent: 'sleep 30',
      ClientToken: 'docs-token',
    });
    for (const IncludeOutput of [false, true]) {
      for (const ContentEncoding of ['Base64', 'PlainText']) {
        await call('DescribeInvocations', { IncludeOutput, ContentEncoding });
      }
    }
    const page = await call('DescribeInvocations', { MaxResults: 1 });
    assert.ok(page.NextToken);
    await call('DescribeInvocations', { MaxResults: 1, NextToken: page.NextToken });
    await call('DescribeInvocations', { InvokeId: done.InvokeId, IncludeOutput: true });
    // done failed (exit 3): its output groups, and a rerun of its failed node.
    await call('SummarizeInvocation', { InvokeId: done.InvokeId, IncludeOutput: true });
    const rerun = (await call('RerunInvocation', { InvokeId: done.InvokeId })) as {
      InvokeId: string;
    };
    await waitFinal(stack, rerun.InvokeId);
    const results = await call('DescribeInvocationResults', { MaxResults: 1 });
    await call('DescribeInvocationResults', {
      MaxResults: 1,
      NextToken: (results.Invocation as { NextToken?: string }).NextToken,
    });
    await call('DescribeInvocationResults', { InvokeId: done.InvokeId, IncludeHistory: true });
    await call('StopInvocation', { InvokeId: sleeping.InvokeId });
    await waitFinal(stack, sleeping.InvokeId);
    await call('DescribeInvocations', { InvokeId: sleeping.InvokeId });
    await call('DescribeNodes', { MaxResults: 1 });

    const { CommandId } = (await call('CreateCommand', {
      Name: 'docs-cmd',
      CommandContent: 'echo {{who}}',
      EnableParameter: true,
    })) as { CommandId: string };
    await call('CreateCommand', { Name: 'docs-other', CommandContent: 'true' });
    await call('ModifyCommand', { CommandId, Description: 'documented' });
    const invoked = (await call('InvokeCommand', {
      CommandId,
      NodeIdList: ['n1'],
      Parameters: { who: 'me' },
    })) as { InvokeId: string };
    await waitFinal(stack, invoked.InvokeId);
    const commands = await call('DescribeCommands', { MaxResults: 1 });
    await call('DescribeCommands', { MaxResults: 1, NextToken: commands.NextToken });
    await call('DescribeCommands', { Name: 'docs-cmd', ContentEncoding: 'PlainText' });
    await call('DescribeCommands', { CommandId });
    await call('DeleteCommand', { CommandId });

    const sent = (await call('SendFile', {
      NodeIdList: ['n1'],
      Name: 'docs.txt',
      TargetDir: dir,
      Content: 'hello',
    })) as { InvokeId: string };
    await call('SendFile', { NodeIdList: ['n1'], Name: 'x', TargetDir: dir, Content: 'x' });
    await stack.waitFor('the file to be sent', async () => {
      const r = await call('DescribeSendFileResults', { InvokeId: sent.InvokeId });
      const inv = (r.Invocations as { Invocation: { InvocationStatus: string }[] }).Invocation[0];
      return inv?.InvocationStatus === 'Success';
    });
    const files = await call('DescribeSendFileResults', { MaxResults: 1 });
    await call('DescribeSendFileResults', { MaxResults: 1, NextToken: files.NextToken });

    // The calls above were audited: every kind of event (with hashes, node ids, tag-less).
    const audit = await call('DescribeAuditEvents', { MaxResults: 50 });
    await call('DescribeAuditEvents', { MaxResults: 1, NextToken: audit.NextToken });
    await call('DescribeAuditEvents', { Action: 'Nothing', StartTime: '2020-01-01T00:00:00Z' });
    await call('ListTagResources', { ResourceType: 'node' });
    const tag = { ResourceType: 'node', ResourceId: ['n1'] };
    await call('TagResources', { ...tag, Tag: [{ Key: 'role', Value: 'web' }, { Key: 'b' }] });
    const tags = await call('ListTagResources', { ResourceType: 'node', MaxResults: 1 });
    await call('ListTagResources', { ResourceType: 'node', NextToken: tags.NextToken });
    await call('ListTagResources', { ResourceType: 'node', Tag: [{ Key: 'role' }] });
    await call('DescribeNodes', { Tag: [{ Key: 'role', Value: 'web' }] });
    await call('RunCommand', {
      ResourceTag: [{ Key: 'role' }],
      CommandContent: 'true',
      RepeatMode: 'DryRun',
    });
    await call('UntagResources', { ...tag, TagKey: ['role'] });

    // The admin actions (enrollment).
    const act = await call('CreateActivation', { InstanceCount: 2, Description: 'docs' }, ADMIN);
    const ActivationId = act.ActivationId as string;
    await call('CreateActivation', { InstanceName: 'web', IpAddressRange: '10.0.0.0/8' }, ADMIN);
    const acts = await call('DescribeActivations', { MaxResults: 1 }, ADMIN);
    await call('DescribeActivations', { MaxResults: 1, NextToken: acts.NextToken }, ADMIN);
    await call('DescribeActivations', { ActivationId }, ADMIN);
    await call('DisableActivation', { ActivationId }, ADMIN);
    await call('DeleteActivation', { ActivationId }, ADMIN);
    await call('DeregisterNodes', { NodeId: ['n1'] }, ADMIN);

    // Webhooks (admin too).
    const hook = await call(
      'CreateWebhook',
      { Url: 'https://example.com/hook', EventTypes: ['RunFinished'] },
      ADMIN,
    );
    const WebhookId = hook.WebhookId as string;
    await call('DescribeWebhooks', {}, ADMIN);
    await call('DescribeWebhookDeliveries', { WebhookId, MaxResults: 1 }, ADMIN);
    await call('DeleteWebhook', { WebhookId }, ADMIN);

    assert.deepEqual([...checked.keys()].sort(), Object.keys(ACTIONS).sort());
  });
});
