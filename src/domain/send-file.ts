import type { FileSpec, Invocation, RunRecord } from './invocation.js';
import { pendingRun } from './invocation.js';
import { aggregateStatus } from './status.js';
import { isoSeconds } from './time.js';

/** One `Invocation` object of DescribeSendFileResults: the request, and each node's result. */
export function renderSendFile(
  inv: Invocation & { file: FileSpec },
  nodeIds: readonly string[],
  runs: ReadonlyMap<string, RunRecord>,
): Record<string, unknown> {
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
    Content: inv.content.toString(file.contentType === 'Base64' ? 'base64' : 'utf8'),
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
