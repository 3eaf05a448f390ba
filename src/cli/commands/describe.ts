/**
 * `fleetcmd describe`: the latest invocations, or one invocation's row per node
 * (DescribeInvocations, DescribeInvocationResults).
 */
import type { ApiClient } from '../api-client.js';
import {
  clientArgs,
  CLIENT_HELP,
  parseFlags,
  wholeNumber,
  type ClientArgs,
  type Parsed,
} from '../client-args.js';
import { nodesDone, orDash } from '../format.js';
import { GROUPS_FROM_NODES, printGroups } from '../groups.js';
import { printListing, type TableSpec } from '../output.js';
import { describeInvocation, invocationResults } from '../invocation.js';
import { pages } from '../pages.js';
import { json, line } from '../print.js';
import { UsageError } from '../usage-error.js';
import { withParsed } from '../with-parsed.js';
// Types only: the CLI reads the answers the API's schemas describe, and loads none of the API.
import type {
  DescribeInvocationsAnswer,
  InvocationResultView,
  InvocationView,
} from '../../api/schemas/response.js';

export const DESCRIBE_HELP = `Usage: fleetcmd describe [<InvokeId>] [--node N] [--status S] [--max N] [--by-node]

Without an id: the latest invocations (id, name, status, mode, nodes done/total, created).
With an id: one row per node (status, exit code, runs, start, finish, error); over 5 nodes,
the groups of identical answers instead, largest first (count, status, exit code, the first
line of the output; the nodes of a small group), as SummarizeInvocation answers.
  --by-node           with an id, one row per node even over 5 nodes
  --node N            only invocations of (or the row of) this node
  --status S          only this status: an invocation's (Running, Success, Failed, ...) or,
                      with an id, a node's
  --max N             at most N rows (default 20 without an id, 1000 with one)
${CLIENT_HELP}

Example: fleetcmd describe --status Failed
Example: fleetcmd describe t-ind3k9ytvvduoe8 --node n1`;

interface DescribeArgs {
  invokeId?: string;
  node?: string;
  status?: string;
  max: number;
  byNode: boolean;
}

export function parseDescribe(argv: string[], env: NodeJS.ProcessEnv): Parsed<DescribeArgs> {
  const { values, positionals } = parseFlags(argv, {
    node: { type: 'string' },
    status: { type: 'string' },
    max: { type: 'string' },
    'by-node': { type: 'boolean', default: false },
  });
  if (values.help) return { help: DESCRIBE_HELP };
  if (positionals.length > 1) throw new UsageError('describe takes one InvokeId', DESCRIBE_HELP);
  const invokeId = positionals[0];
  return {
    client: clientArgs(values, env),
    invokeId,
    node: values.node,
    status: values.status,
    max: wholeNumber('max', values.max, 1, 100_000) ?? (invokeId ? 1000 : 20),
    byNode: values['by-node'],
  };
}

const INVOCATIONS_TABLE: TableSpec<InvocationView> = {
  header: ['INVOKE ID', 'NAME', 'STATUS', 'MODE', 'NODES', 'CREATED'],
  row: (i) => [
    i.InvokeId,
    orDash(i.CommandName),
    i.InvocationStatus,
    i.RepeatMode,
    nodesDone(i.InvokeNodes.InvokeNode),
    i.CreationTime,
  ],
  wide: {
    header: ['FREQUENCY', 'TIMEOUT', 'USER', 'COMMAND'],
    row: (i) => [
      orDash(i.Frequency),
      String(i.Timeout),
      orDash(i.Username),
      i.CommandContent.replace(/\s+/g, ' '),
    ],
  },
};

const RESULTS_TABLE: TableSpec<InvocationResultView> = {
  header: ['NODE', 'STATUS', 'EXIT', 'RUNS', 'STARTED', 'FINISHED', 'ERROR'],
  row: (r) => [
    r.NodeId,
    r.InvocationStatus,
    orDash(r.ExitCode),
    String(r.Repeats),
    orDash(r.StartTime),
    orDash(r.FinishedTime),
    r.ErrorInfo,
  ],
  wide: {
    header: ['DROPPED', 'ERROR CODE'],
    row: (r) => [String(r.Dropped), orDash(r.ErrorCode)],
  },
};

/** Without an id: one row per invocation. */
async function describeList(p: DescribeArgs & { client: ClientArgs }, api: ApiClient) {
  const filters = {
    NodeId: p.node,
    InvokeStatus: p.status,
    // The wide table shows the command as text.
    ...(p.client.output.kind === 'wide' ? { ContentEncoding: 'PlainText' } : {}),
  };
  const list = await pages<DescribeInvocationsAnswer, InvocationView>(
    api,
    p.client,
    'DescribeInvocations',
    filters,
    (a) => ({ rows: a.Invocations.Invocation, next: a.NextToken }),
    p.max,
  );
  await printListing(p.client.output, INVOCATIONS_TABLE, list);
}

function summaryLine(inv: InvocationView): string {
  return `${inv.InvokeId}  ${inv.InvocationStatus}  ${inv.RepeatMode}  created ${inv.CreationTime}  ${inv.CommandName}`.trimEnd();
}

/**
 * With an id: the invocation's summary line, then one row per node (the table: its groups over
 * GROUPS_FROM_NODES nodes, unless --by-node or a filter); yaml and jsonpath read the
 * invocation with its rows as InvocationResults.
 */
async function describeOne(
  p: DescribeArgs & { invokeId: string; client: ClientArgs },
  api: ApiClient,
) {
  const { answer, inv } = await describeInvocation(api, { InvokeId: p.invokeId });
  if (p.client.json) json(answer);
  const total = inv.InvokeNodes.InvokeNode.length;
  const table = p.client.output.kind === 'table';
  if (table && !p.byNode && p.node === undefined && p.status === undefined) {
    if (total > GROUPS_FROM_NODES) {
      line(summaryLine(inv));
      await printGroups(api, p.invokeId, total);
      return;
    }
  }
  const rows = await invocationResults(
    api,
    p.client,
    { InvokeId: p.invokeId, NodeId: p.node, InvokeRecordStatus: p.status },
    p.max,
  );
  if (p.client.output.kind === 'table' || p.client.output.kind === 'wide') {
    line(summaryLine(inv));
  }
  await printListing(p.client.output, RESULTS_TABLE, rows, { ...inv, InvocationResults: rows });
}

export function describeCli(argv: string[]): Promise<number> {
  return withParsed(parseDescribe(argv, process.env), async (p, api) => {
    const { invokeId } = p;
    if (invokeId === undefined) await describeList(p, api);
    else await describeOne({ ...p, invokeId }, api);
    return 0;
  });
}
