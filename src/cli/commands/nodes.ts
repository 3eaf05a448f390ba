/** `fleetcmd nodes`: the registered nodes (DescribeNodes). */
import {
  clientArgs,
  CLIENT_HELP,
  noPositionals,
  parseFlags,
  tagPairs,
  type Body,
  type Parsed,
} from '../client-args.js';
import { orDash } from '../format.js';
import { printListing, type TableSpec } from '../output.js';
import { pages } from '../pages.js';
import { withParsed } from '../with-parsed.js';
// Types only: the CLI reads the answers the API's schemas describe, and loads none of the API.
import type { DescribeNodesAnswer, NodeView } from '../../api/schemas/response.js';

export const NODES_HELP = `Usage: fleetcmd nodes [--online] [--tag key=value ...]

Lists registered nodes: online, hostname, OS, time zone, agent version, active runs, last
heartbeat, tags.
  --online            only nodes whose agent is heartbeating
  --tag TAGS          only nodes whose tags match every key=value pair (a bare key: any
                      value); repeatable, or comma-separated: --tag gpu=h100,rack=r12
${CLIENT_HELP}

Example: fleetcmd nodes --online
Example: fleetcmd nodes --tag gpu=h100 --tag rack=r12`;

export function parseNodes(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ online: boolean; tags: Body[] | undefined }> {
  const { values, positionals } = parseFlags(argv, {
    online: { type: 'boolean', default: false },
    tag: { type: 'string', multiple: true },
  });
  if (values.help) return { help: NODES_HELP };
  noPositionals(positionals, NODES_HELP);
  const tags = values.tag?.flatMap((t) => tagPairs(t, '--tag', NODES_HELP));
  return { client: clientArgs(values, env), online: values.online, tags };
}

const NODES_TABLE: TableSpec<NodeView> = {
  header: ['NODE', 'ONLINE', 'HOSTNAME', 'OS', 'ZONE', 'AGENT', 'ACTIVE', 'LAST HEARTBEAT', 'TAGS'],
  row: (n) => [
    n.NodeId,
    n.Online ? 'yes' : 'no',
    orDash(n.Hostname),
    orDash(n.OsType),
    orDash(n.TimeZone),
    orDash(n.AgentVersion),
    String(n.ActiveTaskCount),
    orDash(n.LastHeartbeatTime),
    orDash(n.Tags.Tag.map((t) => `${t.TagKey}=${t.TagValue}`).join(',')),
  ],
  wide: {
    header: ['BOOTED', 'RUNS', 'LAST INVOKED', 'CLOCK OFFSET'],
    row: (n) => [
      orDash(n.BootTime),
      String(n.InvocationCount),
      orDash(n.LastInvokedTime),
      // Redis's clock minus the agent's; `!` flags one over 1 s (ClockSkewed).
      n.ClockOffsetMs === undefined ? '-' : `${n.ClockOffsetMs}ms${n.ClockSkewed ? ' !' : ''}`,
    ],
  },
};

export function nodesCli(argv: string[]): Promise<number> {
  return withParsed(parseNodes(argv, process.env), async (p, api) => {
    const nodes = await pages<DescribeNodesAnswer, NodeView>(
      api,
      p.client,
      'DescribeNodes',
      { ...(p.online ? { Online: true } : {}), ...(p.tags ? { Tag: p.tags } : {}) },
      (a) => ({ rows: a.Nodes.Node, next: a.NextToken }),
    );
    await printListing(p.client.output, NODES_TABLE, nodes);
    return 0;
  });
}
