import type { Invocation, RunRecord } from '../../domain/invocation.js';
import { pendingRun, renderInvocation } from '../../domain/invocation.js';
import { isOnline } from '../../domain/node.js';
import { nodeInvokeStatus } from '../../domain/status.js';
import { isoSeconds } from '../../domain/time.js';
import { AppError } from '../../app/errors.js';
import { stopInvocationNodes } from '../../app/stop-invocation.js';
import type { IndexCursor } from '../../store/invocation-store.js';
import { decodeToken, encodeToken } from '../page-token.js';
import { existingInvocation, invocationOfKind, statusIs } from '../../app/invocations.js';
import type { Action, ActionDeps } from '../../app/deps.js';
import { invocationListing, isIndexCursor, listPage, moreAfter, scan } from './listing.js';
import { COMMAND_ACTIONS, COMMAND_DOCS } from './command.js';
import { describeSendFileResults, sendFile } from './file.js';
import { describeSendFileResultsSchema, sendFileSchema } from '../schemas/file.js';
import type { ActionDoc } from '../plugins/openapi.js';
import {
  describeInvocationResultsResponse,
  describeInvocationsResponse,
  describeNodesResponse,
  describeSendFileResultsResponse,
  emptyResponse,
  invokeIdResponse,
} from '../schemas/response.js';
import {
  canonicalJson,
  decodeCommandContent,
  sha256,
  submitInvocation,
} from '../../app/submit-invocation.js';
import {
  describeInvocationResultsSchema,
  describeInvocationsSchema,
  describeNodesSchema,
  parseBody,
  runCommandSchema,
  stopInvocationSchema,
} from '../schemas/common.js';

export type { Action, ActionDeps };

const runCommand: Action = async (body, deps) => {
  const req = parseBody(runCommandSchema, body);
  const { ClientToken, ...request } = req;
  const { invokeId } = await submitInvocation(
    {
      clientToken: ClientToken,
      request,
      resolve: () => ({
        commandId: '',
        name: req.Name,
        description: req.Description,
        content: decodeCommandContent(req.CommandContent, req.ContentEncoding),
        nodeIds: req.NodeIdList,
        frequency: req.Frequency,
        repeatMode: req.RepeatMode,
        timeoutSeconds: req.Timeout,
        username: req.Username,
        workingDir: req.WorkingDir,
        parameters: req.Parameters,
        enableParameter: req.EnableParameter,
        terminationMode: req.TerminationMode,
        launcher: req.Launcher,
      }),
    },
    deps,
  );
  return { InvokeId: invokeId };
};

/** Most nodes an invocation targets (NodeIdList): a cursor past them is past the invocation. */
const MAX_NODES = 1000;

/**
 * With IncludeOutput, a page stops once it holds this many nodes' outputs (each up to 24 KiB):
 * an answer stays in the tens of MiB, and NextToken carries on.
 */
const MAX_OUTPUT_NODES = 1000;

const describeInvocations: Action = async (body, deps) => {
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

/**
 * A position in DescribeInvocationResults: the invocation (by index entry), the node (by its
 * place in the invocation), and within the node the next past run by history sequence number
 * (absent: the node's first row). Past runs never change, so a page boundary stays put while
 * new runs are added in front. `f` ties the token to the request's filters.
 */
interface ResultsCursor {
  /** The invocation's index entry (absent when the request names an InvokeId). */
  at?: IndexCursor;
  node: number;
  seq?: number;
  f: string;
}

const isResultsCursor = (v: unknown): v is ResultsCursor => {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as ResultsCursor;
  return (
    Number.isSafeInteger(c.node) &&
    c.node >= 0 &&
    (c.seq === undefined || (Number.isSafeInteger(c.seq) && c.seq > 0)) &&
    typeof c.f === 'string' &&
    (c.at === undefined || isIndexCursor(c.at))
  );
};

/** Run states in which a periodic record describes a run under way (not yet in its history). */
const UNDER_WAY: ReadonlySet<string> = new Set(['Pending', 'Running', 'Stopping']);

/** One result row before rendering: a run record, and its history number if it is a past run. */
interface ResultRun {
  rec: RunRecord;
  seq?: number;
}

/**
 * Per-node run records, one row per node; with IncludeHistory one row per run (the run under
 * way, then past runs newest first, as far as history retention keeps them). Rows are ordered
 * invocation (newest first), node (request order), run; NextToken resumes after the last row.
 */
const describeInvocationResults: Action = async (body, deps) => {
  const req = parseBody(describeInvocationResultsSchema, body);
  const wanted = req.InvokeRecordStatus?.toLowerCase();
  const filters = sha256(
    canonicalJson([req.InvokeId, req.NodeId, wanted, req.IncludeHistory]),
  ).slice(0, 16);
  const encode = (b: Buffer | undefined) =>
    (b ?? Buffer.alloc(0)).toString(req.ContentEncoding === 'PlainText' ? 'utf8' : 'base64');

  const nodeRuns = async (inv: Invocation, nodeId: string): Promise<ResultRun[]> => {
    const rec =
      (await deps.runs.read(inv.invokeId, [nodeId], true)).get(nodeId) ??
      pendingRun(inv.createdMs, inv.repeatMode !== 'Once');
    if (!req.IncludeHistory || inv.repeatMode === 'Once') return [{ rec }];
    const past = await deps.runs.readHistory(nodeId, inv.invokeId, true);
    const current = UNDER_WAY.has(rec.status) && rec.fire !== '' ? [{ rec }] : [];
    const rows = [
      ...current,
      ...past.map((p) => ({ rec: { ...p, skipped: rec.skipped }, seq: p.seq })),
    ];
    // A node that has not run yet still has its row: its status and skips are visible.
    return rows.length > 0 ? rows : [{ rec }];
  };
  const row = (inv: Invocation, nodeId: string, r: RunRecord): Record<string, unknown> => ({
    CommandId: inv.commandId,
    InvokeId: inv.invokeId,
    NodeId: nodeId,
    InvocationStatus: r.status,
    InvokeRecordStatus: nodeInvokeStatus(r.status),
    Repeats: r.repeats,
    SkippedRepeats: r.skipped,
    FireTime: isoSeconds(r.fireMs),
    StartTime: isoSeconds(r.startedMs),
    FinishedTime: isoSeconds(r.finishedMs),
    StopTime: isoSeconds(r.stoppedMs),
    ...(r.exitCode !== undefined ? { ExitCode: r.exitCode } : {}),
    ErrorCode: r.errorCode,
    ErrorInfo: r.errorInfo,
    Output: encode(r.output),
    Dropped: r.dropped,
    Username: inv.username,
  });
  const matches = (r: RunRecord) =>
    wanted === undefined ||
    r.status.toLowerCase() === wanted ||
    nodeInvokeStatus(r.status).toLowerCase() === wanted;

  let start: ResultsCursor = { node: 0, f: filters };
  if (req.NextToken !== undefined) {
    start = decodeToken(req.NextToken, isResultsCursor);
    if (start.f !== filters || (start.at === undefined) !== (req.InvokeId !== undefined)) {
      throw new AppError(
        'InvalidParameter',
        'NextToken: was returned for a request with other filters',
      );
    }
  }
  const rows: Record<string, unknown>[] = [];
  let next: ResultsCursor | undefined;
  // Walks one invocation from a position; stops (setting `next`) once the page is full.
  const walk = async (inv: Invocation, at: IndexCursor | undefined, from: ResultsCursor) => {
    for (let n = from.node; n < inv.nodeIds.length && next === undefined; n++) {
      const nodeId = inv.nodeIds[n] as string;
      if (req.NodeId !== undefined && nodeId !== req.NodeId) continue;
      const resumeSeq = n === from.node ? from.seq : undefined;
      for (const { rec, seq } of await nodeRuns(inv, nodeId)) {
        if (resumeSeq !== undefined && (seq === undefined || seq > resumeSeq)) continue;
        if (!matches(rec)) continue;
        if (rows.length === req.MaxResults) {
          next = {
            ...(at ? { at } : {}),
            node: n,
            ...(seq !== undefined ? { seq } : {}),
            f: filters,
          };
          return;
        }
        rows.push(row(inv, nodeId, rec));
      }
    }
  };

  if (req.InvokeId !== undefined) {
    await walk(await existingInvocation(deps, req.InvokeId), undefined, start);
  } else {
    const { at } = start;
    if (at) {
      const inv = await invocationOfKind(deps, at.invokeId, 'command');
      if (inv) await walk(inv, at, start);
    }
    if (next === undefined) {
      const listing = invocationListing(deps, 'command', req.NodeId);
      const { last, exhausted } = await scan(listing, at, async (inv, entry) => {
        if (req.NodeId === undefined || inv.nodeIds.includes(req.NodeId)) {
          await walk(inv, entry, { node: 0, f: filters });
        }
        return next !== undefined;
      });
      // The scan limit ended the page early: resume after the last invocation scanned.
      if (next === undefined && !exhausted && last && (await moreAfter(listing, last))) {
        next = { at: last, node: MAX_NODES, f: filters };
      }
    }
  }
  return {
    Invocation: {
      ...(next ? { NextToken: encodeToken(next) } : {}),
      InvocationResults: { InvocationResult: rows },
    },
  };
};

const stopInvocation: Action = async (body, deps) => {
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

const isNodeCursor = (v: unknown): v is { after: string } =>
  typeof v === 'object' && v !== null && typeof (v as { after?: unknown }).after === 'string';

const describeNodes: Action = async (body, deps) => {
  const req = parseBody(describeNodesSchema, body);
  const now = await deps.nodes.nowMs();
  const after =
    req.NextToken !== undefined ? decodeToken(req.NextToken, isNodeCursor).after : undefined;
  const ids =
    req.NodeId !== undefined ? [req.NodeId] : await deps.nodes.list(after, Number.MAX_SAFE_INTEGER);
  // One row more than asked tells whether a NextToken is due.
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < ids.length && rows.length <= req.MaxResults; i += 50) {
    const slice = ids.slice(i, i + 50);
    const infos = await Promise.all(slice.map((id) => deps.nodes.get(id)));
    for (const info of infos) {
      if (!info || rows.length > req.MaxResults) continue;
      const online = isOnline(info, now);
      if (req.Online !== undefined && online !== req.Online) continue;
      rows.push({
        NodeId: info.nodeId,
        Online: online,
        LastHeartbeatTime: isoSeconds(info.lastHeartbeatMs),
        AgentVersion: info.agentVersion,
        Hostname: info.hostname,
        OsType: info.osType,
        TimeZone: info.timeZone,
        BootTime: isoSeconds(info.bootTimeMs),
        ActiveTaskCount: await deps.nodes.activeCount(info.nodeId),
        InvocationCount: info.invocationCount,
        LastInvokedTime: isoSeconds(info.lastInvokedMs),
      });
    }
  }
  const page = rows.slice(0, req.MaxResults);
  const last = page[page.length - 1]?.NodeId;
  const more = rows.length > req.MaxResults && typeof last === 'string';
  return { ...(more ? { NextToken: encodeToken({ after: last }) } : {}), Nodes: { Node: page } };
};

export const ACTIONS: Record<string, Action> = {
  RunCommand: runCommand,
  DescribeInvocations: describeInvocations,
  DescribeInvocationResults: describeInvocationResults,
  StopInvocation: stopInvocation,
  DescribeNodes: describeNodes,
  SendFile: sendFile,
  DescribeSendFileResults: describeSendFileResults,
  ...COMMAND_ACTIONS,
};

/**
 * Each action's request schema and summary, for GET /docs. Every action in ACTIONS needs one
 * (test/unit/openapi.test.ts fails otherwise): registering an action is one line in each map.
 */
export const ACTION_DOCS: Record<string, ActionDoc> = {
  RunCommand: {
    response: invokeIdResponse,
    schema: runCommandSchema,
    summary: 'Runs a command on nodes: once, on a schedule (Frequency) or at boot',
  },
  DescribeInvocations: {
    response: describeInvocationsResponse,
    schema: describeInvocationsSchema,
    summary: 'Lists invocations, newest first, with each node’s status',
  },
  DescribeInvocationResults: {
    response: describeInvocationResultsResponse,
    schema: describeInvocationResultsSchema,
    summary: 'Lists per-node run results (with IncludeHistory, every run of a schedule)',
  },
  StopInvocation: {
    response: emptyResponse,
    schema: stopInvocationSchema,
    summary: 'Stops an invocation on all or some of its nodes, and ends its schedule',
  },
  DescribeNodes: {
    response: describeNodesResponse,
    schema: describeNodesSchema,
    summary: 'Lists registered nodes with their agent’s state',
  },
  SendFile: {
    response: invokeIdResponse,
    schema: sendFileSchema,
    summary: 'Writes a file on nodes, atomically, with its mode, owner and group',
  },
  DescribeSendFileResults: {
    response: describeSendFileResultsResponse,
    schema: describeSendFileResultsSchema,
    summary: 'Lists file sends, newest first, with each node’s result',
  },
  ...COMMAND_DOCS,
};
