import type { Tag } from '../domain/tags.js';
import type { ContentEncoding, FileSpec, Invocation, RunRecord } from '../domain/invocation.js';
import { pendingRun } from '../domain/invocation.js';
import type { NodeInfo } from '../domain/node.js';
import { isClockSkewed } from '../domain/clock.js';
import { aggregateStatus, legacyInvokeStatus, nodeInvokeStatus } from '../domain/status.js';
import { isoSeconds } from '../domain/time.js';
import { contentParameterNames } from '../app/submit-invocation.js';
import type { SavedCommand } from '../store/command-store.js';
import type {
  CommandView,
  FileInvocationView,
  InvocationResultView,
  InvocationView,
  InvokeNodeView,
  NodeView,
} from './schemas/response.js';

/**
 * Records as the API shows them: each function builds one item of an action's answer, typed by
 * that answer's schema (src/api/schemas/response.ts). Field order is the vendor's (the seed's
 * for DescribeInvocations, test/unit/seed-shape.test.ts).
 */

export interface RenderOptions {
  includeOutput: boolean;
  contentEncoding: ContentEncoding;
}

function encode(bytes: Buffer | undefined, encoding: ContentEncoding): string {
  return (bytes ?? Buffer.alloc(0)).toString(encoding === 'PlainText' ? 'utf8' : 'base64');
}

/** One `Invocation` object in the seed's DescribeInvocations shape, field for field. */
export function renderInvocation(
  inv: Invocation,
  runs: ReadonlyMap<string, RunRecord>,
  opts: RenderOptions,
): InvocationView {
  const timed = inv.repeatMode !== 'Once';
  const records = inv.nodeIds.map(
    (id) => [id, runs.get(id) ?? pendingRun(inv.createdMs, timed)] as const,
  );
  const aggregate = aggregateStatus(records.map(([, r]) => r.status));
  return {
    CreationTime: isoSeconds(inv.createdMs),
    Frequency: inv.frequency,
    InvocationStatus: aggregate,
    RepeatMode: inv.repeatMode,
    InvokeStatus: legacyInvokeStatus(aggregate),
    Parameters: JSON.stringify(inv.parameters),
    CommandContent: encode(inv.content, opts.contentEncoding),
    CommandName: inv.name,
    CommandDescription: inv.description,
    InvokeId: inv.invokeId,
    Username: inv.username,
    WorkingDir: inv.workingDir,
    Timeout: inv.timeoutSeconds,
    ...(inv.maxConcurrency ? { MaxConcurrency: inv.maxConcurrency } : {}),
    ...(inv.maxErrors ? { MaxErrors: inv.maxErrors } : {}),
    InvokeNodes: {
      InvokeNode: records.map(([nodeId, r]) => renderRun(nodeId, r, opts)),
    },
  };
}

function renderRun(nodeId: string, r: RunRecord, opts: RenderOptions): InvokeNodeView {
  return {
    CreationTime: isoSeconds(r.createdMs),
    UpdateTime: isoSeconds(r.updatedMs),
    FinishTime: isoSeconds(r.finishedMs),
    InvocationStatus: r.status,
    Repeats: r.repeats,
    NodeId: nodeId,
    ...(opts.includeOutput ? { Output: encode(r.output, opts.contentEncoding) } : {}),
    Dropped: r.dropped,
    StopTime: isoSeconds(r.stoppedMs),
    // A run that has not ended has no exit code: the field is left out rather than made up.
    ...(r.exitCode !== undefined ? { ExitCode: r.exitCode } : {}),
    StartTime: isoSeconds(r.startedMs),
    ErrorInfo: r.errorInfo,
    Timed: r.timed ? 'true' : 'false',
    ErrorCode: r.errorCode,
    NodeInvokeStatus: nodeInvokeStatus(r.status),
  };
}

/** One row of DescribeInvocationResults: one run of one node. */
export function renderResult(
  inv: Invocation,
  nodeId: string,
  r: RunRecord,
  encoding: ContentEncoding,
): InvocationResultView {
  return {
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
    Output: encode(r.output, encoding),
    Dropped: r.dropped,
    Username: inv.username,
  };
}

/** One row of DescribeNodes; `activeTaskCount` is read from the node's queue. */
export function renderNode(
  info: NodeInfo,
  online: boolean,
  activeTaskCount: number,
  tags: readonly Tag[] = [],
): NodeView {
  return {
    NodeId: info.nodeId,
    Online: online,
    LastHeartbeatTime: isoSeconds(info.lastHeartbeatMs),
    AgentVersion: info.agentVersion,
    Hostname: info.hostname,
    OsType: info.osType,
    TimeZone: info.timeZone,
    BootTime: isoSeconds(info.bootTimeMs),
    ActiveTaskCount: activeTaskCount,
    InvocationCount: info.invocationCount,
    LastInvokedTime: isoSeconds(info.lastInvokedMs),
    ...(info.clockOffsetMs !== undefined ? { ClockOffsetMs: info.clockOffsetMs } : {}),
    ClockSkewed: isClockSkewed(info.clockOffsetMs),
    Tags: { Tag: tags.map((t) => ({ TagKey: t.key, TagValue: t.value })) },
  };
}

/** One saved command of DescribeCommands. */
export function renderCommand(c: SavedCommand, encoding: ContentEncoding): CommandView {
  return {
    CommandId: c.commandId,
    Name: c.name,
    Description: c.description,
    Type: 'RunShellScript',
    CommandContent: encode(c.content, encoding),
    WorkingDir: c.workingDir,
    Timeout: c.timeoutSeconds,
    Username: c.username,
    EnableParameter: c.enableParameter,
    ParameterNames: { ParameterName: c.enableParameter ? contentParameterNames(c.content) : [] },
    Launcher: c.launcher,
    TerminationMode: c.terminationMode,
    CreationTime: isoSeconds(c.createdMs),
    InvokeTimes: c.invokeTimes,
  };
}

/** One `Invocation` object of DescribeSendFileResults: the request, and each node's result. */
export function renderSendFile(
  inv: Invocation & { file: FileSpec },
  nodeIds: readonly string[],
  runs: ReadonlyMap<string, RunRecord>,
): FileInvocationView {
  const { file } = inv;
  const records = nodeIds.map((id) => [id, runs.get(id) ?? pendingRun(inv.createdMs)] as const);
  return {
    InvokeId: inv.invokeId,
    Name: inv.name,
    Description: inv.description,
    TargetDir: file.targetDir,
    FileMode: file.fileMode,
    FileOwner: file.fileOwner,
    FileGroup: file.fileGroup,
    Overwrite: file.overwrite,
    ContentType: file.contentType,
    Content: encode(inv.content, file.contentType),
    CreationTime: isoSeconds(inv.createdMs),
    InvocationStatus: aggregateStatus(records.map(([, r]) => r.status)),
    NodeCount: inv.nodeIds.length,
    InvokeNodes: {
      InvokeNode: records.map(([nodeId, r]) => ({
        NodeId: nodeId,
        InvocationStatus: r.status,
        CreationTime: isoSeconds(r.createdMs),
        StartTime: isoSeconds(r.startedMs),
        FinishTime: isoSeconds(r.finishedMs),
        UpdateTime: isoSeconds(r.updatedMs),
        ErrorCode: r.errorCode,
        ErrorInfo: r.errorInfo,
      })),
    },
  };
}
