/**
 * An invocation read back through the API (its summary, its per-node results), and what `run`
 * and `command invoke` do once the API has answered with an InvokeId.
 */
import type { ApiClient } from './api-client.js';
import type { Body, ClientArgs } from './client-args.js';
import { exitCodeFor } from './format.js';
import { GROUPS_FROM_NODES, printGroups } from './groups.js';
import { pages } from './pages.js';
import { json, line, printOutputs } from './print.js';
import { UsageError } from './usage-error.js';
import { waitFinal } from './wait.js';
import { aggregateStatus } from '../domain/status.js';
// Types only: the CLI reads the answers the API's schemas describe, and loads none of the API.
import type {
  DescribeInvocationResultsAnswer,
  DescribeInvocationsAnswer,
  InvocationResultView,
  InvocationView,
  InvokeIdAnswer,
  SubmitAnswer,
} from '../api/schemas/response.js';

export async function describeInvocation(
  api: ApiClient,
  body: Body,
): Promise<{ answer: DescribeInvocationsAnswer; inv: InvocationView }> {
  const answer = await api.call<DescribeInvocationsAnswer>('DescribeInvocations', body);
  const inv = answer.Invocations.Invocation[0];
  if (!inv) throw new UsageError(`no invocation ${String(body.InvokeId)} matches`);
  return { answer, inv };
}

export function invocationResults(
  api: ApiClient,
  client: ClientArgs,
  body: Body,
  max?: number,
): Promise<InvocationResultView[]> {
  return pages<DescribeInvocationResultsAnswer, InvocationResultView>(
    api,
    client,
    'DescribeInvocationResults',
    body,
    (a) => ({
      rows: a.Invocation.InvocationResults.InvocationResult,
      next: a.Invocation.NextToken,
    }),
    max,
  );
}

/** After RunCommand or InvokeCommand: the InvokeId, or with --wait progress, outputs, exit code. */
/** What a DryRun answer says, in one line. */
function dryRunLine(nodeCount: number, offline: readonly string[]): string {
  const off = offline.length === 0 ? 'all online' : `offline: ${offline.join(', ')}`;
  return `dry run: would run on ${nodeCount} node${nodeCount === 1 ? '' : 's'} (${off}); nothing was run`;
}

export async function afterInvoke(
  api: ApiClient,
  client: ClientArgs,
  answer: InvokeIdAnswer | SubmitAnswer,
  wait: boolean,
  byNode = false,
): Promise<number> {
  if ('DryRun' in answer && answer.DryRun === true) {
    if (client.json) json(answer);
    else line(dryRunLine(answer.NodeCount ?? 0, answer.OfflineNodeIds ?? []));
    return 0;
  }
  const id = answer.InvokeId ?? '';
  if (client.json) json(answer);
  else if (!wait) line(id);
  if (!wait) return 0;
  const statuses = await waitFinal(
    client,
    async () => {
      const { inv } = await describeInvocation(api, { InvokeId: id });
      return inv.InvokeNodes.InvokeNode.map((n) => n.InvocationStatus);
    },
    id,
  );
  if (client.json) {
    const final = { InvokeId: id, IncludeOutput: true, ContentEncoding: 'PlainText' };
    json((await describeInvocation(api, final)).answer);
  } else if (!byNode && statuses.length > GROUPS_FROM_NODES) {
    await printGroups(api, id, statuses.length);
    line(`${id}: ${aggregateStatus(statuses)}`);
  } else {
    const rows = await invocationResults(api, client, { InvokeId: id, ContentEncoding: 'Base64' });
    printOutputs(client, rows, true);
    line(`${id}: ${aggregateStatus(statuses)}`);
  }
  return exitCodeFor(statuses);
}
