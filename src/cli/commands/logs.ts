/** `fleetcmd logs`: the nodes' output of an invocation, once or followed until it ends. */
import {
  clientArgs,
  CLIENT_HELP,
  parseFlags,
  required,
  type ClientArgs,
  type Parsed,
} from '../client-args.js';
import { exitCodeFor, OutputFollower } from '../format.js';
import { invocationResults } from '../invocation.js';
import { escapeOutput, out, printOutputs } from '../print.js';
import { UsageError } from '../usage-error.js';
import { untilFinal } from '../wait.js';
import { withParsed } from '../with-parsed.js';
import { isFinalNodeStatus } from '../../domain/status.js';
import type { InvocationResultView } from '../../api/schemas/response.js';

export const LOGS_HELP = `Usage: fleetcmd logs <InvokeId> [--node N] [--follow]

Prints the nodes' output (a header line per node when there are several). The API keeps
24 KiB per run (its beginning and end): a line "… [N bytes dropped] …" stands for the rest.
  --node N            only this node
  --follow            keep printing new output until every node has finished (lines prefixed
                      with the node id when there are several); the exit code then tells how
                      it ended, as for run --wait
${CLIENT_HELP}

Example: fleetcmd logs t-ind3k9ytvvduoe8 --node n1
Example: fleetcmd logs t-ind3k9ytvvduoe8 --follow`;

interface LogsArgs {
  invokeId: string;
  node?: string;
  follow: boolean;
}

export function parseLogs(argv: string[], env: NodeJS.ProcessEnv): Parsed<LogsArgs> {
  const { values, positionals } = parseFlags(argv, {
    node: { type: 'string' },
    follow: { type: 'boolean', short: 'f', default: false },
  });
  if (values.help) return { help: LOGS_HELP };
  return {
    client: clientArgs(values, env),
    invokeId: required(positionals[0], 'the InvokeId', LOGS_HELP),
    node: values.node,
    follow: values.follow,
  };
}

/** --follow: prints what is new on each node until every node is final; the exit code then. */
async function follow(
  client: ClientArgs,
  invokeId: string,
  results: () => Promise<InvocationResultView[]>,
): Promise<number> {
  const followers = new Map<string, OutputFollower>();
  const finished = new Set<string>();
  /** Prints what is new; whether there was anything (the poll then stays quick). */
  const show = (rows: InvocationResultView[]): boolean => {
    let printed = false;
    const width = Math.max(...rows.map((r) => r.NodeId.length));
    for (const r of rows) {
      if (client.json || finished.has(r.NodeId)) continue;
      let f = followers.get(r.NodeId);
      if (!f) {
        const prefix = rows.length > 1 ? `${r.NodeId.padEnd(width)} | ` : '';
        f = new OutputFollower(prefix, undefined, escapeOutput(client));
        followers.set(r.NodeId, f);
      }
      const text = f.update(Buffer.from(r.Output, 'base64'), r.Dropped);
      out(text);
      printed ||= text !== '';
      if (isFinalNodeStatus(r.InvocationStatus)) {
        out(f.end());
        finished.add(r.NodeId);
        printed = true;
      }
    }
    return printed;
  };
  const allFinal = (rows: InvocationResultView[]) =>
    rows.every((r) => isFinalNodeStatus(r.InvocationStatus));
  // Output has no event of its own: the poll goes on beside the stream, quick while it flows.
  const rows = await untilFinal(client, invokeId, results, allFinal, {
    poll: true,
    changed: show,
  });
  show(rows);
  return exitCodeFor(rows.map((r) => r.InvocationStatus));
}

export function logsCli(argv: string[]): Promise<number> {
  return withParsed(parseLogs(argv, process.env), async (p, api) => {
    // Text mode reads Base64: exact bytes, so Dropped (bytes) lines up with what is printed.
    const body = {
      InvokeId: p.invokeId,
      NodeId: p.node,
      ContentEncoding: p.client.json ? 'PlainText' : 'Base64',
    };
    const results = async () => {
      const rows = await invocationResults(api, p.client, body);
      if (rows.length === 0) throw new UsageError(`${p.invokeId} has no node ${String(p.node)}`);
      return rows;
    };
    if (!p.follow) {
      const rows = await results();
      if (!p.client.json) printOutputs(p.client, rows, rows.length > 1);
      return 0;
    }
    return follow(p.client, p.invokeId, results);
  });
}
