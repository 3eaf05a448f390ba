import type { Invocation, RunRecord } from '../../domain/invocation.js';
import { AppError } from '../../app/errors.js';
import { stopInvocationNodes } from '../../app/stop-invocation.js';
import { existingInvocation, statusIs } from '../../app/invocations.js';
import type { Action } from '../../app/deps.js';
import { decodeCommandContent, submitInvocation } from '../../app/submit-invocation.js';
import { targetNodes } from '../../app/targets.js';
import { submitAnswer } from './submit-answer.js';
import { renderInvocation } from '../render.js';
import {
  describeInvocationResultsSchema,
  describeInvocationsSchema,
  parseBody,
  runCommandSchema,
  stopInvocationSchema,
  TARGET_FIELDS,
} from '../schemas/common.js';
import {
  describeInvocationResultsResponse,
  describeInvocationsResponse,
  emptyResponse,
  submitResponse,
  type DescribeInvocationsAnswer,
  type EmptyAnswer,
  type SubmitAnswer,
} from '../schemas/response.js';
import { defineAction, type ActionEntry } from './define-action.js';
import { describeInvocationResults } from './invocation-results.js';
import { invocationListing, listPage } from './listing.js';

const runCommand: Action<SubmitAnswer> = async (body, deps) => {
  const req = parseBody(runCommandSchema, body, TARGET_FIELDS);
  const { ClientToken, ...request } = req;
  const submitted = await submitInvocation(
    {
      clientToken: ClientToken,
      request,
      dryRun: req.RepeatMode === 'DryRun',
      resolve: async () => ({
        commandId: '',
        name: req.Name,
        description: req.Description,
        content: decodeCommandContent(req.CommandContent, req.ContentEncoding),
        nodeIds: await targetNodes(req, deps),
        frequency: req.Frequency,
        repeatMode: req.RepeatMode === 'DryRun' ? undefined : req.RepeatMode,
        timeoutSeconds: req.Timeout,
        username: req.Username,
        workingDir: req.WorkingDir,
        parameters: req.Parameters,
        enableParameter: req.EnableParameter,
        terminationMode: req.TerminationMode,
        launcher: req.Launcher,
        maxConcurrency: req.MaxConcurrency ?? '',
        maxErrors: req.MaxErrors ?? '',
      }),
    },
    deps,
  );
  return submitAnswer(submitted);
};

/**
 * With IncludeOutput, a page stops once it holds this many nodes' outputs (each up to 24 KiB):
 * an answer stays in the tens of MiB, and NextToken carries on.
 */
const MAX_OUTPUT_NODES = 1000;

const describeInvocations: Action<DescribeInvocationsAnswer> = async (body, deps) => {
  const req = parseBody(describeInvocationsSchema, body);
  const render = { includeOutput: req.IncludeOutput, contentEncoding: req.ContentEncoding };

  // Records read for the InvokeStatus filter; without output they also serve the answer.
  const readForFilter = new Map<string, Map<string, RunRecord>>();
  const statusRuns = async (inv: Invocation): Promise<Map<string, RunRecord>> => {
    if (req.InvokeStatus === undefined) return new Map();
    const runs = await deps.runs.read(inv.invokeId, inv.nodeIds, false);
    readForFilter.set(inv.invokeId, runs);
    return runs;
  };
  const view = async (inv: Invocation) => {
    const nodeIds =
      req.NodeId !== undefined ? inv.nodeIds.filter((n) => n === req.NodeId) : inv.nodeIds;
    const known = req.IncludeOutput ? undefined : readForFilter.get(inv.invokeId);
    const runs = known ?? (await deps.runs.read(inv.invokeId, nodeIds, req.IncludeOutput));
    return renderInvocation({ ...inv, nodeIds }, runs, render);
  };
  const matches = (inv: Invocation, runs: Map<string, RunRecord>): boolean => {
    if (req.NodeId !== undefined && !inv.nodeIds.includes(req.NodeId)) return false;
    if (req.CommandName !== undefined && inv.name !== req.CommandName) return false;
    if (req.RepeatMode !== undefined && inv.repeatMode !== req.RepeatMode) return false;
    return req.InvokeStatus === undefined || statusIs(inv, runs, req.NodeId, req.InvokeStatus);
  };

  if (req.InvokeId !== undefined) {
    const inv = await existingInvocation(deps, req.InvokeId);
    const list = matches(inv, await statusRuns(inv)) ? [await view(inv)] : [];
    return { Invocations: { Invocation: list } };
  }

  const nodesShown = (inv: Invocation) => (req.NodeId !== undefined ? 1 : inv.nodeIds.length);
  const { found, nextToken } = await listPage(invocationListing(deps, 'command', req.NodeId), {
    nextToken: req.NextToken,
    keep: async (inv) => matches(inv, await statusRuns(inv)),
    full: (page) =>
      page.length === req.MaxResults ||
      (req.IncludeOutput && page.reduce((n, inv) => n + nodesShown(inv), 0) >= MAX_OUTPUT_NODES),
  });
  const list = await Promise.all(found.map(view));
  return {
    ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
    Invocations: { Invocation: list },
  };
};

const stopInvocation: Action<EmptyAnswer> = async (body, deps) => {
  const req = parseBody(stopInvocationSchema, body);
  const inv = await existingInvocation(deps, req.InvokeId);
  const targets = req.NodeIdList ?? inv.nodeIds;
  const strangers = targets.filter((n) => !inv.nodeIds.includes(n));
  if (strangers.length > 0) {
    throw new AppError(
      'InvalidNodeId.NotFound',
      `NodeIdList: ${strangers.map((s) => JSON.stringify(s)).join(', ')} is not a target of ${inv.invokeId}`,
    );
  }
  await stopInvocationNodes(inv, targets, deps);
  return {};
};

/** The command invocations' actions: run, list, results, stop. */
export const INVOCATION_ACTIONS: Readonly<Record<string, ActionEntry>> = {
  RunCommand: defineAction({
    handler: runCommand,
    request: runCommandSchema,
    response: submitResponse,
    summary: 'Runs a command on nodes: once, on a schedule (Frequency) or at boot',
  }),
  DescribeInvocations: defineAction({
    readOnly: true,
    handler: describeInvocations,
    request: describeInvocationsSchema,
    response: describeInvocationsResponse,
    summary: 'Lists invocations, newest first, with each node’s status',
  }),
  DescribeInvocationResults: defineAction({
    readOnly: true,
    handler: describeInvocationResults,
    request: describeInvocationResultsSchema,
    response: describeInvocationResultsResponse,
    summary: 'Lists per-node run results (with IncludeHistory, every run of a schedule)',
  }),
  StopInvocation: defineAction({
    handler: stopInvocation,
    request: stopInvocationSchema,
    response: emptyResponse,
    summary: 'Stops an invocation on all or some of its nodes, and ends its schedule',
  }),
};
