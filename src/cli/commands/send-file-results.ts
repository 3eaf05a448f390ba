/** `fleetcmd send-file-results`: the latest file sends, or one send's row per node. */
import {
  clientArgs,
  CLIENT_HELP,
  given,
  parseFlags,
  wholeNumber,
  type Body,
  type Parsed,
} from '../client-args.js';
import { printFileNodes } from '../file-invocation.js';
import { nodesDone } from '../format.js';
import { printDocument, printListing, type TableSpec } from '../output.js';
import { pages } from '../pages.js';
import { withParsed } from '../with-parsed.js';
// Types only: the CLI reads the answers the API's schemas describe, and loads none of the API.
import type {
  DescribeSendFileResultsAnswer,
  FileInvocationView,
} from '../../api/schemas/response.js';

export const SEND_FILE_RESULTS_HELP = `Usage: fleetcmd send-file-results [<InvokeId>] [--node N] [--name N] [--status S] [--max N]

Without an id: the latest file sends (id, name, target, status, nodes done/total, created).
With an id: one row per node (status, start, finish, error code and text).
  --node N            only sends to this node
  --name NAME         only sends of this file name
  --status S          only this status
  --max N             at most N rows (default 20 without an id, 1000 with one)
${CLIENT_HELP}

Example: fleetcmd send-file-results f-ind3k9ytvvduoe8`;

export function parseSendFileResults(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ invokeId?: string; max: number; request: Body }> {
  const { values, positionals } = parseFlags(argv, {
    node: { type: 'string' },
    name: { type: 'string' },
    status: { type: 'string' },
    max: { type: 'string' },
  });
  if (values.help) return { help: SEND_FILE_RESULTS_HELP };
  const invokeId = positionals[0];
  return {
    client: clientArgs(values, env),
    invokeId,
    max: wholeNumber('max', values.max, 1, 100_000) ?? (invokeId ? 1000 : 20),
    request: given({
      InvokeId: invokeId,
      NodeId: values.node,
      Name: values.name,
      InvocationStatus: values.status,
    }),
  };
}

const SEND_FILE_RESULTS_TABLE: TableSpec<FileInvocationView> = {
  header: ['INVOKE ID', 'NAME', 'TARGET', 'STATUS', 'NODES', 'CREATED'],
  row: (i) => [
    i.InvokeId,
    i.Name,
    i.TargetDir,
    i.InvocationStatus,
    nodesDone(i.InvokeNodes.InvokeNode),
    i.CreationTime,
  ],
  wide: {
    header: ['MODE', 'OWNER', 'GROUP', 'OVERWRITE'],
    row: (i) => [i.FileMode, i.FileOwner, i.FileGroup, i.Overwrite ? 'yes' : 'no'],
  },
};

export function sendFileResultsCli(argv: string[]): Promise<number> {
  return withParsed(parseSendFileResults(argv, process.env), async (p, api) => {
    const list = await pages<DescribeSendFileResultsAnswer, FileInvocationView>(
      api,
      p.client,
      'DescribeSendFileResults',
      p.request,
      (a) => ({ rows: a.Invocations.Invocation, next: a.NextToken }),
      p.max,
    );
    const one = list[0];
    if (p.invokeId !== undefined && one) {
      if (!(await printDocument(p.client.output, one)) && !p.client.json) printFileNodes(one);
      return 0;
    }
    await printListing(p.client.output, SEND_FILE_RESULTS_TABLE, list);
    return 0;
  });
}
