import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as $Ecs from '@alicloud/ecs20140526';
import { FINAL_NODE_STATUSES, type NodeStatus } from '../../src/domain/status.js';
import { ecsClient, testAccessKey, type SdkError } from '../helpers/rpc.js';
import { makeStack, type Stack } from '../helpers/stack.js';

/**
 * The instance dialect (version 2014-05-26) through the vendor's own SDK,
 * `@alicloud/ecs20140526`, against a local fleetcmd with real agents: only the endpoint and the
 * keys differ from what an operator runs against the vendor.
 */
void describe('RPC protocol, instance dialect, through @alicloud/ecs20140526', () => {
  let stack: Stack;
  const key = testAccessKey();
  let ecs: ReturnType<typeof ecsClient>;
  const suiteStarted = Date.now();

  before(async () => {
    stack = await makeStack(key.settings);
    await stack.startAgent('n1');
    await stack.startAgent('n2');
    ecs = ecsClient(stack, key);
  });
  after(async () => {
    await stack.close();
  });

  /** DescribeInvocations of one invocation (with output), through the SDK. */
  async function describeOne(invokeId: string) {
    const res = await ecs.describeInvocations(
      new $Ecs.DescribeInvocationsRequest({ regionId: 'local', invokeId, includeOutput: true }),
    );
    const inv = res.body?.invocations?.invocation?.[0];
    assert.ok(inv, `no invocation ${invokeId}`);
    return inv;
  }

  /** Hang bound only: every run here ends within seconds on an idle machine. */
  async function waitFinal(invokeId: string, timeoutMs = 60_000) {
    return stack.waitFor(
      `${invokeId} to finish`,
      async () => {
        const inv = await describeOne(invokeId);
        const nodes = inv.invokeInstances?.invokeInstance ?? [];
        const done = nodes.every((n) => FINAL_NODE_STATUSES.has(n.invocationStatus as NodeStatus));
        return done ? inv : undefined;
      },
      timeoutMs,
    );
  }

  void it('RunCommand, then DescribeInvocations with IncludeOutput: Base64 output is what the node printed', async () => {
    const run = await ecs.runCommand(
      new $Ecs.RunCommandRequest({
        regionId: 'local',
        type: 'RunShellScript',
        instanceId: ['n1', 'n2'],
        commandContent: 'echo "hi from {{ACS::NodeId}} {{who}}"',
        enableParameter: true,
        parameters: { who: 'sdk' },
        timeout: 30,
      }),
    );
    const invokeId = run.body?.invokeId;
    assert.match(invokeId ?? '', /^t-[a-z0-9]{17}$/);
    assert.match(run.body?.requestId ?? '', /^[0-9A-F-]{36}$/);

    const inv = await waitFinal(invokeId as string);
    assert.equal(inv.invocationStatus, 'Success');
    assert.equal(inv.invokeStatus, 'Finished');
    assert.equal(inv.commandType, 'RunShellScript');
    assert.equal(inv.commandId, '');
    assert.equal(inv.timed, false);
    assert.equal(inv.parameters, JSON.stringify({ who: 'sdk' }));
    const nodes = inv.invokeInstances?.invokeInstance ?? [];
    assert.deepEqual(nodes.map((n) => n.instanceId).sort(), ['n1', 'n2']);
    for (const n of nodes) {
      assert.equal(n.invocationStatus, 'Success');
      assert.equal(n.instanceInvokeStatus, 'Finished');
      assert.equal(n.exitCode, 0);
      assert.equal(n.timed, false);
      assert.equal(n.repeats, 1);
      assert.equal(
        Buffer.from(n.output ?? '', 'base64').toString('utf8'),
        `hi from ${n.instanceId} sdk\n`,
      );
    }

    // The same records answer the /v1 API in the node dialect.
    const v1 = await stack.describe(invokeId as string);
    assert.equal(v1.InvokeNodes.InvokeNode.length, 2);
    assert.equal(v1.InvokeNodes.InvokeNode[0]?.Timed, 'false');
  });

  void it('a Period RunCommand (Frequency, RepeatMode, Parameters, as the issue sends it) is Timed until stopped', async () => {
    const run = await ecs.runCommand(
      new $Ecs.RunCommandRequest({
        regionId: 'local',
        type: 'RunShellScript',
        instanceId: ['n1', 'n2'],
        commandContent: 'echo {{a}}',
        enableParameter: true,
        parameters: { a: 'b' },
        frequency: 'rate(30m)',
        repeatMode: 'Period',
      }),
    );
    const invokeId = run.body?.invokeId as string;
    const inv = await stack.waitFor(
      'the schedule to be set up',
      async () => {
        const i = await describeOne(invokeId);
        return i.invocationStatus === 'Scheduled' ? i : undefined;
      },
      60_000,
    );
    assert.equal(inv.repeatMode, 'Period');
    assert.equal(inv.frequency, 'rate(30m)');
    assert.equal(inv.timed, true);
    assert.equal(inv.invokeStatus, 'Running');
    for (const n of inv.invokeInstances?.invokeInstance ?? []) assert.equal(n.timed, true);

    await ecs.stopInvocation(new $Ecs.StopInvocationRequest({ regionId: 'local', invokeId }));
    const stopped = await stack.waitFor(
      'the schedule to stop',
      async () => {
        const i = await describeOne(invokeId);
        return i.timed === false ? i : undefined;
      },
      60_000,
    );
    for (const n of stopped.invokeInstances?.invokeInstance ?? []) assert.equal(n.timed, false);
  });

  void it('DescribeInvocationResults lists per-instance records with their output', async () => {
    const run = await ecs.runCommand(
      new $Ecs.RunCommandRequest({
        regionId: 'local',
        type: 'RunShellScript',
        instanceId: ['n1'],
        commandContent: 'printf results',
      }),
    );
    const invokeId = run.body?.invokeId as string;
    await waitFinal(invokeId);
    const res = await ecs.describeInvocationResults(
      new $Ecs.DescribeInvocationResultsRequest({ regionId: 'local', invokeId, instanceId: 'n1' }),
    );
    const rows = res.body?.invocation?.invocationResults?.invocationResult ?? [];
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.instanceId, 'n1');
    assert.equal(rows[0]?.invocationStatus, 'Success');
    assert.equal(Buffer.from(rows[0]?.output ?? '', 'base64').toString(), 'results');
  });

  void it('StopInvocation on a running command terminates it', async () => {
    const run = await ecs.runCommand(
      new $Ecs.RunCommandRequest({
        regionId: 'local',
        type: 'RunShellScript',
        instanceId: ['n1'],
        // Far longer than the hang bound below: only the stop can end it in time.
        commandContent: 'echo started; sleep 600; echo finished',
        timeout: 1200,
      }),
    );
    const invokeId = run.body?.invokeId as string;
    await stack.waitFor(
      'the command to run',
      async () => {
        const inv = await describeOne(invokeId);
        const n = inv.invokeInstances?.invokeInstance?.[0];
        return n?.invocationStatus === 'Running' && (n.output ?? '') !== '';
      },
      60_000,
    );
    const stop = await ecs.stopInvocation(
      new $Ecs.StopInvocationRequest({ regionId: 'local', invokeId, instanceId: ['n1'] }),
    );
    assert.ok(stop.body?.requestId);
    const inv = await waitFinal(invokeId);
    const n = inv.invokeInstances?.invokeInstance?.[0];
    assert.equal(n?.invocationStatus, 'Terminated');
    assert.equal(inv.invocationStatus, 'Stopped');
    assert.equal(Buffer.from(n?.output ?? '', 'base64').toString(), 'started\n', 'cut short');
  });

  void it('CreateCommand, then InvokeCommand with Parameters; DescribeCommands, ModifyCommand, DeleteCommand', async () => {
    const created = await ecs.createCommand(
      new $Ecs.CreateCommandRequest({
        regionId: 'local',
        name: 'greet',
        type: 'RunShellScript',
        commandContent: Buffer.from('echo "hello {{name}}"').toString('base64'),
        enableParameter: true,
        timeout: 30,
      }),
    );
    const commandId = created.body?.commandId as string;
    assert.match(commandId, /^c-[a-z0-9]{17}$/);

    const listed = await ecs.describeCommands(
      new $Ecs.DescribeCommandsRequest({ regionId: 'local', commandId }),
    );
    const cmd = listed.body?.commands?.command?.[0];
    assert.equal(cmd?.name, 'greet');
    assert.equal(cmd?.enableParameter, true);
    assert.deepEqual(cmd?.parameterNames?.parameterName, ['name']);

    await ecs.modifyCommand(
      new $Ecs.ModifyCommandRequest({ regionId: 'local', commandId, description: 'says hello' }),
    );

    const invoked = await ecs.invokeCommand(
      new $Ecs.InvokeCommandRequest({
        regionId: 'local',
        commandId,
        instanceId: ['n1', 'n2'],
        parameters: { name: 'operator' },
      }),
    );
    const invokeId = invoked.body?.invokeId as string;
    const inv = await waitFinal(invokeId);
    assert.equal(inv.commandId, commandId);
    assert.equal(inv.commandDescription, 'says hello');
    for (const n of inv.invokeInstances?.invokeInstance ?? []) {
      assert.equal(Buffer.from(n.output ?? '', 'base64').toString(), 'hello operator\n');
    }

    await ecs.deleteCommand(new $Ecs.DeleteCommandRequest({ regionId: 'local', commandId }));
    const gone = await ecs.describeCommands(
      new $Ecs.DescribeCommandsRequest({ regionId: 'local', commandId }),
    );
    assert.equal(gone.body?.commands?.command?.length, 0);
  });

  void it('SendFile, then DescribeSendFileResults', async () => {
    const dir = `/tmp/fleetcmd-rpc-${process.pid}-${Date.now()}`;
    const sent = await ecs.sendFile(
      new $Ecs.SendFileRequest({
        regionId: 'local',
        instanceId: ['n1'],
        name: 'hello.txt',
        targetDir: dir,
        content: 'file body\n',
        fileMode: '0600',
      }),
    );
    const invokeId = sent.body?.invokeId as string;
    const inv = await stack.waitFor(
      'the file to be written',
      async () => {
        const res = await ecs.describeSendFileResults(
          new $Ecs.DescribeSendFileResultsRequest({ regionId: 'local', invokeId }),
        );
        const i = res.body?.invocations?.invocation?.[0];
        return i?.invocationStatus === 'Success' ? i : undefined;
      },
      60_000,
    );
    assert.equal(inv.vmCount, 1);
    assert.equal(inv.overwrite, 'false');
    assert.equal(inv.invokeInstances?.invokeInstance?.[0]?.instanceId, 'n1');
    const { readFile, rm } = await import('node:fs/promises');
    assert.equal(await readFile(`${dir}/hello.txt`, 'utf8'), 'file body\n');
    await rm(dir, { recursive: true, force: true });
  });

  void it('DescribeCloudAssistantStatus reports each agent from its heartbeats', async () => {
    const res = await ecs.describeCloudAssistantStatus(
      new $Ecs.DescribeCloudAssistantStatusRequest({
        regionId: 'local',
        instanceId: ['n1', 'n2'],
      }),
    );
    const rows = res.body?.instanceCloudAssistantStatusSet?.instanceCloudAssistantStatus ?? [];
    assert.deepEqual(rows.map((r) => r.instanceId).sort(), ['n1', 'n2']);
    for (const r of rows) {
      assert.equal(r.cloudAssistantStatus, 'true');
      assert.match(r.lastHeartbeatTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      // A heartbeat of this suite's agents (whole seconds), not a time from before they ran.
      const beat = Date.parse(r.lastHeartbeatTime ?? '');
      assert.ok(beat >= Math.floor(suiteStarted / 1000) * 1000, r.lastHeartbeatTime);
      assert.ok(beat <= Date.now(), r.lastHeartbeatTime);
      assert.ok((r.cloudAssistantVersion ?? '') !== '');
      assert.equal(typeof r.activeTaskCount, 'number');
      assert.ok((r.invocationCount ?? 0) >= 1, 'earlier tests ran commands on both nodes');
      assert.match(r.lastInvokedTime ?? '', /^\d{4}-/);
      assert.equal(r.OSType, 'Linux');
    }
    // An agent that stops is reported "false" once its heartbeats stop.
    const n3 = await stack.startAgent('n3');
    await n3.kill('SIGTERM');
    const off = await ecs.describeCloudAssistantStatus(
      new $Ecs.DescribeCloudAssistantStatusRequest({ regionId: 'local', instanceId: ['n3'] }),
    );
    assert.equal(
      off.body?.instanceCloudAssistantStatusSet?.instanceCloudAssistantStatus?.[0]
        ?.cloudAssistantStatus,
      'false',
    );
  });

  void it('bad input answers the vendor error shape', async () => {
    await assert.rejects(
      ecs.runCommand(
        new $Ecs.RunCommandRequest({
          regionId: 'local',
          type: 'RunShellScript',
          instanceId: ['nope'],
          commandContent: 'true',
        }),
      ),
      (err: SdkError) => {
        assert.equal(err.statusCode, 400);
        assert.equal(err.code, 'InvalidNodeId.NotFound');
        assert.match(err.message, /InstanceId: node "nope" has never registered/);
        return true;
      },
    );
    await assert.rejects(
      ecs.runCommand(
        new $Ecs.RunCommandRequest({
          regionId: 'local',
          type: 'RunPowerShellScript',
          instanceId: ['n1'],
          commandContent: 'true',
        }),
      ),
      (err: SdkError) =>
        err.code === 'InvalidParameter' && /Type: only RunShellScript/.test(err.message),
    );
  });

  void it('TagResources, ListTagResources, RunCommand by ResourceTag and UntagResources', async () => {
    const tagged = await ecs.tagResources(
      new $Ecs.TagResourcesRequest({
        regionId: 'local',
        resourceType: 'instance',
        resourceId: ['n1'],
        tag: [
          new $Ecs.TagResourcesRequestTag({ key: 'role', value: 'web' }),
          new $Ecs.TagResourcesRequestTag({ key: 'tier', value: '' }),
        ],
      }),
    );
    assert.match(tagged.body?.requestId ?? '', /^[0-9A-F-]{36}$/);
    const list = await ecs.listTagResources(
      new $Ecs.ListTagResourcesRequest({
        regionId: 'local',
        resourceType: 'instance',
        tag: [new $Ecs.ListTagResourcesRequestTag({ key: 'role', value: 'web' })],
      }),
    );
    const rows = list.body?.tagResources?.tagResource ?? [];
    assert.deepEqual(
      rows.map((r) => [r.resourceId, r.resourceType, r.tagKey, r.tagValue]),
      [
        ['n1', 'instance', 'role', 'web'],
        ['n1', 'instance', 'tier', ''],
      ],
    );
    const byId = await ecs.listTagResources(
      new $Ecs.ListTagResourcesRequest({
        regionId: 'local',
        resourceType: 'instance',
        resourceId: ['n2', 'n1'],
      }),
    );
    assert.deepEqual(
      (byId.body?.tagResources?.tagResource ?? []).map((r) => r.resourceId),
      ['n1', 'n1'],
    );

    const run = await ecs.runCommand(
      new $Ecs.RunCommandRequest({
        regionId: 'local',
        type: 'RunShellScript',
        resourceTag: [new $Ecs.RunCommandRequestResourceTag({ key: 'role', value: 'web' })],
        commandContent: 'echo tagged',
        timeout: 30,
      }),
    );
    const inv = await waitFinal(run.body?.invokeId as string);
    const nodes = inv.invokeInstances?.invokeInstance ?? [];
    assert.deepEqual(
      nodes.map((n) => [n.instanceId, n.invocationStatus]),
      [['n1', 'Success']],
    );

    await ecs.untagResources(
      new $Ecs.UntagResourcesRequest({
        regionId: 'local',
        resourceType: 'instance',
        resourceId: ['n1'],
        tagKey: ['role', 'tier'],
      }),
    );
    const after_ = await ecs.listTagResources(
      new $Ecs.ListTagResourcesRequest({ regionId: 'local', resourceType: 'instance' }),
    );
    assert.deepEqual(after_.body?.tagResources?.tagResource ?? [], []);
    await assert.rejects(
      ecs.runCommand(
        new $Ecs.RunCommandRequest({
          regionId: 'local',
          type: 'RunShellScript',
          resourceTag: [new $Ecs.RunCommandRequestResourceTag({ key: 'role', value: 'web' })],
          commandContent: 'true',
        }),
      ),
      (err: SdkError) => {
        assert.equal(err.statusCode, 400);
        assert.equal(err.code, 'InvalidParameter.ResourceTag');
        assert.match(err.message, /ResourceTag: no node carries role=web/);
        return true;
      },
    );
  });
});
