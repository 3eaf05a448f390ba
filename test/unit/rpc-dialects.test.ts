import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as $Ecs from '@alicloud/ecs20140526';
import {
  DIALECT_ACTIONS,
  renameInMessage,
  renameParam,
  toInstanceDialect,
} from '../../src/api/rpc/dialects.js';
import { ACTIONS } from '../../src/api/actions/registry.js';

/** The request and answer field names the SDK's model of an action has. */
function modelNames(model: { names(): Record<string, string> }): Set<string> {
  return new Set(Object.values(model.names()));
}

void describe('dialect tables', () => {
  void it('the instance dialect has the actions the issue lists, each onto an engine action', () => {
    assert.deepEqual(Object.keys(DIALECT_ACTIONS.instance).sort(), [
      'CreateActivation',
      'CreateCommand',
      'DeleteActivation',
      'DeleteCommand',
      'DescribeActivations',
      'DescribeCloudAssistantStatus',
      'DescribeCommands',
      'DescribeInvocationResults',
      'DescribeInvocations',
      'DescribeSendFileResults',
      'DisableActivation',
      'InvokeCommand',
      'ListTagResources',
      'ModifyCommand',
      'RunCommand',
      'SendFile',
      'StopInvocation',
      'TagResources',
      'UntagResources',
    ]);
    for (const dialect of Object.values(DIALECT_ACTIONS)) {
      for (const a of Object.values(dialect)) {
        assert.ok(
          a.action === 'DescribeCloudAssistantStatus' || Object.hasOwn(ACTIONS, a.action),
          a.action,
        );
      }
    }
  });

  void it('every renamed instance field is a field of the SDK request model', () => {
    const requests: Record<string, { names(): Record<string, string> }> = {
      RunCommand: $Ecs.RunCommandRequest,
      InvokeCommand: $Ecs.InvokeCommandRequest,
      DescribeInvocations: $Ecs.DescribeInvocationsRequest,
      DescribeInvocationResults: $Ecs.DescribeInvocationResultsRequest,
      StopInvocation: $Ecs.StopInvocationRequest,
      SendFile: $Ecs.SendFileRequest,
      DescribeSendFileResults: $Ecs.DescribeSendFileResultsRequest,
      DescribeCloudAssistantStatus: $Ecs.DescribeCloudAssistantStatusRequest,
    };
    for (const [action, model] of Object.entries(requests)) {
      const names = modelNames(model);
      const spec = DIALECT_ACTIONS.instance[action];
      for (const field of [...Object.keys(spec?.rename ?? {}), ...Object.keys(spec?.fixed ?? {})]) {
        assert.ok(names.has(field), `${action}.${field}`);
      }
    }
  });
});

void describe('toInstanceDialect', () => {
  void it('renames node fields throughout, makes Timed a boolean and Overwrite a text', () => {
    const node = {
      Invocations: {
        Invocation: [
          {
            InvokeId: 't-1',
            InvokeNodes: {
              InvokeNode: [
                { NodeId: 'n1', NodeInvokeStatus: 'Finished', Timed: 'false', ExitCode: 0 },
              ],
            },
          },
        ],
      },
      Overwrite: true,
      NodeCount: 2,
    };
    assert.deepEqual(toInstanceDialect(node), {
      Invocations: {
        Invocation: [
          {
            InvokeId: 't-1',
            InvokeInstances: {
              InvokeInstance: [
                { InstanceId: 'n1', InstanceInvokeStatus: 'Finished', Timed: false, ExitCode: 0 },
              ],
            },
          },
        ],
      },
      Overwrite: 'true',
      VmCount: 2,
    });
  });

  void it('gives names the SDK answer models have', () => {
    const inv = modelNames($Ecs.DescribeInvocationsResponseBodyInvocationsInvocation);
    assert.ok(inv.has('InvokeInstances'));
    const node = modelNames(
      $Ecs.DescribeInvocationsResponseBodyInvocationsInvocationInvokeInstancesInvokeInstance,
    );
    for (const f of [
      'InstanceId',
      'InstanceInvokeStatus',
      'Timed',
      'Output',
      'Dropped',
      'ExitCode',
    ]) {
      assert.ok(node.has(f), f);
    }
    const status = modelNames($Ecs.DescribeCloudAssistantStatusResponseBody);
    assert.ok(status.has('InstanceCloudAssistantStatusSet'));
  });
});

void describe('names in parameters and messages', () => {
  const run = DIALECT_ACTIONS.instance.RunCommand;
  assert.ok(run);
  void it('renames the field of a flat parameter, index kept', () => {
    assert.equal(renameParam('InstanceId.2', run), 'NodeIdList.2');
    assert.equal(renameParam('InstanceId', run), 'NodeIdList');
    assert.equal(renameParam('CommandContent', run), 'CommandContent');
  });
  void it('puts the client’s field names into fleetcmd’s messages', () => {
    assert.equal(
      renameInMessage('NodeIdList: node "x" has never registered; InvalidNodeIdList', run),
      'InstanceId: node "x" has never registered; InvalidNodeIdList',
    );
  });
});
