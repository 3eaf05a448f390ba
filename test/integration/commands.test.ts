import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keysUnder } from '../helpers/redis.js';
import {
  makeStack,
  nodeOf,
  quietKeys,
  relayCaughtUp,
  run,
  waitFinal,
  type Stack,
} from '../helpers/stack.js';
import type {
  CommandView,
  DescribeCommandsAnswer,
  DescribeInvocationResultsAnswer,
} from '../../src/api/schemas/response.js';

const COMMAND_ID_RE = /^c-[a-z0-9]{17}$/;

void describe('saved commands and parameters', () => {
  let stack: Stack;
  let dir: string;

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('n1');
    await stack.startAgent('node-two');
    await relayCaughtUp(stack, 2);
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-cmds-'));
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function ok(action: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await stack.call(action, body);
    assert.equal(res.status, 200, `${action}: ${JSON.stringify(res.body)}`);
    return res.body;
  }
  async function create(body: Record<string, unknown>): Promise<string> {
    const id = (await ok('CreateCommand', body)).CommandId as string;
    assert.match(id, COMMAND_ID_RE);
    return id;
  }
  async function describeOne(commandId: string, extra = {}): Promise<CommandView | undefined> {
    const page = (await ok('DescribeCommands', { CommandId: commandId, ...extra })) as unknown;
    return (page as DescribeCommandsAnswer).Commands.Command[0];
  }
  async function invoke(body: Record<string, unknown>): Promise<string> {
    return (await ok('InvokeCommand', body)).InvokeId as string;
  }
  /** Sends a request that must fail with `code`, and checks that no key came or went. */
  async function expectRefused(
    action: string,
    body: unknown,
    status: number,
    code: string,
    mentions: (string | RegExp)[],
  ): Promise<void> {
    const before = await quietKeys(stack);
    const res = await stack.call(action, body);
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.body.Code, code, JSON.stringify(res.body));
    for (const m of mentions) assert.match(String(res.body.Message), new RegExp(m));
    assert.deepEqual(await quietKeys(stack), before, `${action} changed keys`);
  }

  void it('a missing parameter value is 400 naming it, and nothing is created', async () => {
    const id = await create({
      Name: 'needs-a-value',
      CommandContent: 'echo {{ first }} {{Second}}',
      EnableParameter: true,
    });
    await expectRefused(
      'InvokeCommand',
      { CommandId: id, NodeIdList: ['n1'], Parameters: { first: 'x' } },
      400,
      'InvalidParameter',
      ['Parameters', '"Second"'],
    );
    await expectRefused(
      'RunCommand',
      {
        NodeIdList: ['n1'],
        CommandContent: 'echo {{who}}',
        EnableParameter: true,
        Parameters: { someoneElse: 'x' },
      },
      400,
      'InvalidParameter',
      ['"who"'],
    );
    assert.equal((await describeOne(id))?.InvokeTimes, 0);
  });

  void it('CreateCommand then DescribeCommands shows every field', async () => {
    const content = 'cd {{ Dir }} && echo {{who}} {{ACS::NodeId}} {{WHO}}';
    const id = await create({
      Name: 'greet',
      Description: 'says hello',
      CommandContent: Buffer.from(content).toString('base64'),
      ContentEncoding: 'Base64',
      Type: 'RunShellScript',
      WorkingDir: '/tmp',
      Timeout: 30,
      EnableParameter: 'true',
      Launcher: '/bin/sh',
      TerminationMode: 'Process',
    });
    const plain = await describeOne(id, { ContentEncoding: 'PlainText' });
    assert.deepEqual(
      { ...plain, CreationTime: undefined },
      {
        CommandId: id,
        Name: 'greet',
        Description: 'says hello',
        Type: 'RunShellScript',
        CommandContent: content,
        WorkingDir: '/tmp',
        Timeout: 30,
        Username: '',
        EnableParameter: true,
        ParameterNames: { ParameterName: ['Dir', 'who'] },
        Launcher: '/bin/sh',
        TerminationMode: 'Process',
        CreationTime: undefined,
        InvokeTimes: 0,
      },
    );
    assert.match(plain?.CreationTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // Base64 is the default encoding of CommandContent.
    const b64 = await describeOne(id);
    assert.equal(Buffer.from(b64?.CommandContent ?? '', 'base64').toString(), content);
    // Defaults.
    const bare = await describeOne(await create({ Name: 'bare', CommandContent: 'true' }));
    assert.equal(bare?.Timeout, 60);
    assert.equal(bare?.EnableParameter, false);
    assert.equal(bare?.TerminationMode, 'ProcessTree');
    assert.deepEqual(bare?.ParameterNames, { ParameterName: [] });
  });

  void it('CreateCommand refuses bad requests and creates nothing', async () => {
    await expectRefused('CreateCommand', { CommandContent: 'true' }, 400, 'MissingParameter', [
      'Name',
    ]);
    await expectRefused(
      'CreateCommand',
      { Name: 'x', CommandContent: 'true', Type: 'RunBatScript' },
      400,
      'InvalidParameter',
      ['Type'],
    );
    await expectRefused(
      'CreateCommand',
      { Name: 'x', CommandContent: 'echo {{ACS::Region}}', EnableParameter: true },
      400,
      'InvalidParameter',
      ['ACS::Region'],
    );
    await expectRefused(
      'CreateCommand',
      { Name: 'x', CommandContent: 'a'.repeat(18_433) },
      400,
      'InvalidCommandContent.LengthLimitExceeded',
      ['CommandContent'],
    );
  });

  void it('pages newest first without skipping or repeating while commands are created', async () => {
    for (let i = 0; i < 5; i++) await create({ Name: `page-${i}`, CommandContent: 'true' });
    const first = (await ok('DescribeCommands', {
      MaxResults: 3,
    })) as unknown as DescribeCommandsAnswer;
    const total = first.TotalCount ?? 0;
    assert.ok(total >= 5, `TotalCount ${total}`);
    const seen = first.Commands.Command.map((c) => c.CommandId);
    const times = first.Commands.Command.map((c) => c.CreationTime);
    let token = first.NextToken;
    const added: string[] = [];
    while (token !== undefined) {
      // A command created between pages is newer than the cursor: it must not appear.
      added.push(await create({ Name: 'late', CommandContent: 'true' }));
      const page = (await ok('DescribeCommands', {
        MaxResults: 3,
        NextToken: token,
      })) as unknown as DescribeCommandsAnswer;
      seen.push(...page.Commands.Command.map((c) => c.CommandId));
      times.push(...page.Commands.Command.map((c) => c.CreationTime));
      token = page.NextToken;
    }
    assert.equal(seen.length, total);
    assert.equal(new Set(seen).size, total, 'no command listed twice');
    for (const id of added) assert.ok(!seen.includes(id), `${id} created later is not listed`);
    assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
    const all = await keysUnder(stack.redis, stack.prefix);
    assert.equal(all.filter((k) => k.includes(':cmd:{')).length, total + added.length);
    // Filtering by Name.
    const late = (await ok('DescribeCommands', {
      Name: 'late',
      MaxResults: 50,
    })) as unknown as DescribeCommandsAnswer;
    assert.deepEqual(late.Commands.Command.map((c) => c.CommandId).sort(), [...added].sort());
  });

  void it('ModifyCommand changes the defaults; content and EnableParameter are immutable', async () => {
    const id = await create({ Name: 'before', CommandContent: 'echo same', Timeout: 10 });
    const res = await ok('ModifyCommand', {
      CommandId: id,
      Name: 'after',
      Timeout: 20,
      WorkingDir: '/',
    });
    assert.deepEqual(Object.keys(res), ['RequestId']);
    const cmd = await describeOne(id, { ContentEncoding: 'PlainText' });
    assert.equal(cmd?.Name, 'after');
    assert.equal(cmd?.Timeout, 20);
    assert.equal(cmd?.WorkingDir, '/');
    assert.equal(cmd?.Description, '');
    for (const field of ['CommandContent', 'EnableParameter']) {
      await expectRefused(
        'ModifyCommand',
        { CommandId: id, [field]: field === 'CommandContent' ? 'echo other' : true },
        400,
        'InvalidParameter',
        [field, 'cannot be modified'],
      );
    }
    assert.equal(
      (await describeOne(id, { ContentEncoding: 'PlainText' }))?.CommandContent,
      'echo same',
    );
    await expectRefused(
      'ModifyCommand',
      { CommandId: 'c-doesnotexist00000', Name: 'x' },
      404,
      'InvalidCommandId.NotFound',
      ['CommandId'],
    );
  });

  void it('InvokeCommand runs the command with per-run overrides and counts InvokeTimes', async () => {
    const id = await create({
      Name: 'where',
      Description: 'prints the directory',
      CommandContent: 'pwd',
      WorkingDir: '/',
      Timeout: 50,
    });
    const first = await invoke({ CommandId: id, NodeIdList: ['n1'] });
    const second = await invoke({
      CommandId: id,
      NodeIdList: ['n1', 'node-two'],
      WorkingDir: dir,
      Timeout: 7,
    });
    const a = await waitFinal(stack, first);
    assert.equal(nodeOf(a, 'n1').Output, '/\n');
    assert.equal(a.Timeout, 50);
    const b = await waitFinal(stack, second);
    for (const n of b.InvokeNodes.InvokeNode) {
      assert.equal(n.InvocationStatus, 'Success');
      assert.equal(n.Output, `${dir}\n`);
    }
    assert.equal(b.Timeout, 7);
    assert.equal(b.WorkingDir, dir);
    assert.equal(b.CommandName, 'where');
    assert.equal(b.CommandDescription, 'prints the directory');
    assert.equal(b.CommandContent, 'pwd');
    const results = await ok('DescribeInvocationResults', { InvokeId: second });
    const rows = (results as DescribeInvocationResultsAnswer).Invocation.InvocationResults
      .InvocationResult;
    assert.deepEqual(
      rows.map((r) => r.CommandId),
      [id, id],
    );
    assert.equal((await describeOne(id))?.InvokeTimes, 2);
    // The command's defaults are untouched by the overrides.
    assert.equal((await describeOne(id))?.WorkingDir, '/');
  });

  void it('InvokeCommand replaces parameters and built-ins per node', async () => {
    const id = await create({
      Name: 'params',
      CommandContent:
        'echo "{{ greeting }}, {{Count}} from {{ACS::NodeId}}/{{ACS::InstanceId}}"\necho "{{ACS::InvokeId}} {{acs::commandid}} {{not a ref}}"',
      EnableParameter: true,
    });
    const invokeId = await invoke({
      CommandId: id,
      NodeIdList: ['n1', 'node-two'],
      Parameters: { GREETING: 'hi there', count: 3, unused: 'ignored' },
    });
    const inv = await waitFinal(stack, invokeId);
    for (const nodeId of ['n1', 'node-two']) {
      const n = nodeOf(inv, nodeId);
      assert.equal(n.InvocationStatus, 'Success', JSON.stringify(n));
      assert.equal(
        n.Output,
        `hi there, 3 from ${nodeId}/${nodeId}\n${invokeId} ${id} {{not a ref}}\n`,
      );
    }
    assert.notEqual(nodeOf(inv, 'n1').Output, nodeOf(inv, 'node-two').Output);
    // The invocation keeps the template and the values passed.
    assert.match(String(inv.CommandContent), /\{\{ greeting \}\}/);
    assert.deepEqual(JSON.parse(String(inv.Parameters)), {
      GREETING: 'hi there',
      count: '3',
      unused: 'ignored',
    });
  });

  void it('bytes outside the references reach the node unchanged', async () => {
    const content = Buffer.concat([
      Buffer.from("printf '%s' '"),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from("{{a}}'"),
    ]);
    const id = await create({
      Name: 'bytes',
      CommandContent: content.toString('base64'),
      ContentEncoding: 'Base64',
      EnableParameter: true,
    });
    const inv = await waitFinal(
      stack,
      await invoke({ CommandId: id, NodeIdList: ['n1'], Parameters: { a: 'é' } }),
    );
    const out = (await stack.describe(inv.InvokeId, { ContentEncoding: 'Base64' })).InvokeNodes
      .InvokeNode[0]?.Output;
    assert.deepEqual(
      Buffer.from(out ?? '', 'base64'),
      Buffer.concat([Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('é')]),
    );
  });

  void it('RunCommand with EnableParameter replaces parameters; without it {{...}} is text', async () => {
    const content = 'echo "{{x}}-{{ACS::CommandId}}-{{ACS::NodeId}}"';
    const withParams = await run(stack, {
      NodeIdList: ['node-two'],
      CommandContent: content,
      EnableParameter: true,
      Parameters: { x: true },
    });
    const plain = await run(stack, {
      NodeIdList: ['node-two'],
      CommandContent: content,
      Parameters: { x: 'ignored' },
    });
    assert.equal(nodeOf(await waitFinal(stack, withParams), 'node-two').Output, 'true--node-two\n');
    assert.equal(
      nodeOf(await waitFinal(stack, plain), 'node-two').Output,
      '{{x}}-{{ACS::CommandId}}-{{ACS::NodeId}}\n',
    );
  });

  void it('InvokeCommand honours ClientToken: same request same InvokeId, another 409', async () => {
    const id = await create({ Name: 'token', CommandContent: 'true' });
    const body = { CommandId: id, NodeIdList: ['n1'], ClientToken: 'cmd-token-1' };
    const first = await invoke(body);
    // Key order does not make a request different.
    assert.equal(
      await invoke({ ClientToken: 'cmd-token-1', NodeIdList: ['n1'], CommandId: id }),
      first,
    );
    await expectRefused(
      'InvokeCommand',
      { ...body, NodeIdList: ['node-two'] },
      409,
      'IdempotentParameterMismatch',
      ['ClientToken'],
    );
    await waitFinal(stack, first);
    assert.equal((await describeOne(id))?.InvokeTimes, 1);
  });

  void it('InvokeCommand retried with its ClientToken answers the first InvokeId after a delete', async () => {
    const id = await create({ Name: 'retried', CommandContent: 'true' });
    const body = { CommandId: id, NodeIdList: ['n1'], ClientToken: 'cmd-token-deleted' };
    const first = await invoke(body);
    await ok('DeleteCommand', { CommandId: id });
    assert.equal(await invoke({ ...body }), first);
    // Another request with that token is still a mismatch; a new token needs the command.
    const other = await stack.call('InvokeCommand', { ...body, NodeIdList: ['node-two'] });
    assert.equal(other.status, 409, JSON.stringify(other.body));
    const fresh = await stack.call('InvokeCommand', { ...body, ClientToken: 'cmd-token-new' });
    assert.equal(fresh.status, 404, JSON.stringify(fresh.body));
    assert.equal(fresh.body.Code, 'InvalidCommandId.NotFound');
    await waitFinal(stack, first);
  });

  void it('DeleteCommand removes it: describe is empty, invoke, modify and delete answer 404', async () => {
    const id = await create({ Name: 'doomed', CommandContent: 'true' });
    assert.equal(Object.keys(await ok('DeleteCommand', { CommandId: id })).join(), 'RequestId');
    const page = (await ok('DescribeCommands', {
      CommandId: id,
    })) as unknown as DescribeCommandsAnswer;
    assert.deepEqual(page.Commands.Command, []);
    assert.equal(await stack.redis.zscore(stack.keys.commandIndex(), id), null);
    assert.equal(await stack.redis.exists(stack.keys.command(id)), 0);
    for (const [action, body] of [
      ['InvokeCommand', { CommandId: id, NodeIdList: ['n1'] }],
      ['ModifyCommand', { CommandId: id, Name: 'x' }],
      ['DeleteCommand', { CommandId: id }],
    ] as const) {
      await expectRefused(action, body, 404, 'InvalidCommandId.NotFound', [id]);
    }
  });
});
