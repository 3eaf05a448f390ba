/**
 * A file send read back through the API, and its one-row-per-node table: what send-file --wait
 * ends with and what send-file-results prints for one InvokeId.
 */
import type { ApiClient } from './api-client.js';
import { orDash, renderTable } from './format.js';
import { line } from './print.js';
import { UsageError } from './usage-error.js';
// Types only: the CLI reads the answers the API's schemas describe, and loads none of the API.
import type { DescribeSendFileResultsAnswer, FileInvocationView } from '../api/schemas/response.js';

export async function sendFileInvocation(api: ApiClient, invokeId: string) {
  const answer = await api.call<DescribeSendFileResultsAnswer>('DescribeSendFileResults', {
    InvokeId: invokeId,
  });
  const inv = answer.Invocations.Invocation[0];
  if (!inv) throw new UsageError(`no file send ${invokeId}`);
  return { answer, inv };
}

export function printFileNodes(inv: FileInvocationView): void {
  line(
    `${inv.InvokeId}  ${inv.InvocationStatus}  ${inv.TargetDir}/${inv.Name}  created ${inv.CreationTime}`,
  );
  line(
    renderTable(
      ['NODE', 'STATUS', 'STARTED', 'FINISHED', 'ERROR CODE', 'ERROR'],
      inv.InvokeNodes.InvokeNode.map((n) => [
        n.NodeId,
        n.InvocationStatus,
        orDash(n.StartTime),
        orDash(n.FinishTime),
        orDash(n.ErrorCode),
        n.ErrorInfo,
      ]),
    ),
  );
}
