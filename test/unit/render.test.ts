import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import {
  renderCommand,
  renderInvocation,
  renderNode,
  renderResult,
  renderSendFile,
} from '../../src/api/render.js';
import {
  commandSchema,
  fileInvocationSchema,
  invocationResultSchema,
  invocationSchema,
  nodeSchema,
} from '../../src/api/schemas/response.js';
import {
  pendingRun,
  type ContentEncoding,
  type Invocation,
  type RunRecord,
} from '../../src/domain/invocation.js';

/**
 * Every renderer's item parses against its response schema (strict: no field left out of the
 * schema), with and without the fields that only some records have (ExitCode, Output).
 * test/integration/openapi-responses.test.ts checks whole answers from a real stack.
 */

const CREATED_MS = Date.UTC(2020, 0, 19, 9, 15, 46, 123);

const INVOCATION: Invocation = {
  invokeId: 't-render',
  commandId: 'c-render',
  name: 'render',
  description: 'd',
  content: Buffer.from('echo hi'),
  nodeIds: ['done', 'pending'],
  frequency: '',
  repeatMode: 'Once',
  timeoutSeconds: 60,
  username: '',
  workingDir: '',
  parameters: { who: 'me' },
  enableParameter: false,
  terminationMode: 'ProcessTree',
  launcher: '',
  createdMs: CREATED_MS,
};

const DONE: RunRecord = {
  ...pendingRun(CREATED_MS),
  status: 'Failed',
  startedMs: CREATED_MS + 1000,
  finishedMs: CREATED_MS + 2000,
  exitCode: 3,
  errorCode: 'CommandFailed',
  errorInfo: 'exit 3',
  output: Buffer.from('out\n'),
  repeats: 1,
};

const RUNS: ReadonlyMap<string, RunRecord> = new Map([['done', DONE]]);
const ENCODINGS: readonly ContentEncoding[] = ['Base64', 'PlainText'];

function parses(schema: z.ZodType, item: unknown, where: string): void {
  const r = schema.safeParse(item);
  assert.ok(r.success, `${where}: ${r.error?.message}\n${JSON.stringify(item)}`);
}

void describe('renderers match their response schemas', () => {
  void it('DescribeInvocations items, with and without output', () => {
    for (const contentEncoding of ENCODINGS) {
      for (const includeOutput of [true, false]) {
        const item = renderInvocation(INVOCATION, RUNS, { includeOutput, contentEncoding });
        parses(invocationSchema, item, `${contentEncoding} output=${includeOutput}`);
      }
    }
  });

  void it('DescribeInvocationResults rows, ended and pending', () => {
    for (const encoding of ENCODINGS) {
      for (const rec of [DONE, pendingRun(CREATED_MS, true)]) {
        parses(invocationResultSchema, renderResult(INVOCATION, 'n1', rec, encoding), encoding);
      }
    }
  });

  void it('DescribeNodes rows, DescribeCommands items and DescribeSendFileResults items', () => {
    const node = {
      nodeId: 'n1',
      hostname: 'h',
      osType: 'linux',
      timeZone: 'UTC',
      agentVersion: '0.1.0',
      bootId: 'b',
      bootTimeMs: CREATED_MS,
      registeredMs: CREATED_MS,
      lastHeartbeatMs: undefined,
      heartbeatSeconds: 5,
      stoppedMs: undefined,
      invocationCount: 2,
      lastInvokedMs: undefined,
    };
    parses(nodeSchema, renderNode(node, true, 1), 'node');
    const command = {
      commandId: 'c-render',
      name: 'render',
      description: '',
      content: Buffer.from('echo {{who}}'),
      workingDir: '',
      timeoutSeconds: 60,
      username: '',
      enableParameter: true,
      launcher: '',
      terminationMode: 'Process' as const,
      createdMs: CREATED_MS,
      invokeTimes: 0,
    };
    for (const encoding of ENCODINGS) {
      parses(commandSchema, renderCommand(command, encoding), `command ${encoding}`);
    }
    for (const contentType of ENCODINGS) {
      const file = {
        targetDir: '/tmp',
        fileMode: '0644',
        fileOwner: '',
        fileGroup: '',
        overwrite: false,
        contentType,
      };
      const item = renderSendFile({ ...INVOCATION, file }, INVOCATION.nodeIds, RUNS);
      parses(fileInvocationSchema, item, `file ${contentType}`);
    }
  });
});
