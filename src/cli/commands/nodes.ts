/** `fleetcmd nodes`: the registered nodes (DescribeNodes). */
import { clientArgs, CLIENT_HELP, noPositionals, parseFlags, type Parsed } from '../client-args.js';
import { orDash } from '../format.js';
import { printListing, type TableSpec } from '../output.js';
import { pages } from '../pages.js';
import { withParsed } from '../with-parsed.js';
// Types only: the CLI reads the answers the API's schemas describe, and loads none of the API.
import type { DescribeNodesAnswer, NodeView } from '../../api/schemas/response.js';

export const NODES_HELP = `Usage: fleetcmd nodes [--online]

Lists registered nodes: online, hostname, OS, time zone, agent version, active runs, last
heartbeat.
  --online            only nodes whose agent is heartbeating
${CLIENT_HELP}

Example: fleetcmd nodes --online`;

export function parseNodes(argv: string[], env: NodeJS.ProcessEnv): Parsed<{ online: boolean }> {
  const { values, positionals } = parseFlags(argv, { online: { type: 'boolean', default: false } });
  if (values.help) return { help: NODES_HELP };
  noPositionals(positionals, NODES_HELP);
  return { client: clientArgs(values, env), online: values.online };
}

const NODES_TABLE: TableSpec<NodeView> = {
  header: ['NODE', 'ONLINE', 'HOSTNAME', 'OS', 'ZONE', 'AGENT', 'ACTIVE', 'LAST HEARTBEAT'],
  row: (n) => [
    n.NodeId,
    n.Online ? 'yes' : 'no',
    orDash(n.Hostname),
    orDash(n.OsType),
    orDash(n.TimeZone),
    orDash(n.AgentVersion),
    String(n.ActiveTaskCount),
    orDash(n.LastHeartbeatTime),
  ],
  wide: {
    header: ['BOOTED', 'RUNS', 'LAST INVOKED'],
    row: (n) => [orDash(n.BootTime), String(n.InvocationCount), orDash(n.LastInvokedTime)],
  },
};

export function nodesCli(argv: string[]): Promise<number> {
  return withParsed(parseNodes(argv, process.env), async (p, api) => {
    const nodes = await pages<DescribeNodesAnswer, NodeView>(
      api,
      p.client,
      'DescribeNodes',
      p.online ? { Online: true } : {},
      (a) => ({ rows: a.Nodes.Node, next: a.NextToken }),
    );
    await printListing(p.client.output, NODES_TABLE, nodes);
    return 0;
  });
}
