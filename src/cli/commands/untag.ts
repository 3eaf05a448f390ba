/** `fleetcmd untag`: removes tags from nodes (UntagResources). */
import { clientArgs, CLIENT_HELP, parseFlags, type Body, type Parsed } from '../client-args.js';
import { json, line } from '../print.js';
import { UsageError } from '../usage-error.js';
import { withParsed } from '../with-parsed.js';

export const UNTAG_HELP = `Usage: fleetcmd untag <NodeId> <key>...
       fleetcmd untag --nodes n1,n2 <key>...
       fleetcmd untag <NodeId>... --all

Removes tags from nodes, by key, whoever set them (an agent reports its own again when it
next starts). The first argument is the node and the others are keys, unless --nodes names
the nodes.
  --nodes LIST        the nodes (then every argument is a key)
  --all               every tag of the nodes (every argument is a node)
${CLIENT_HELP}

Example: fleetcmd untag n1 rack
Example: fleetcmd untag --nodes n1,n2 rack gpu`;

export function parseUntag(argv: string[], env: NodeJS.ProcessEnv): Parsed<{ request: Body }> {
  const { values, positionals } = parseFlags(argv, {
    nodes: { type: 'string' },
    all: { type: 'boolean', default: false },
  });
  if (values.help) return { help: UNTAG_HELP };
  let nodes: string[];
  let keys: string[];
  if (values.nodes !== undefined) {
    nodes = values.nodes
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    keys = positionals;
  } else if (values.all) {
    nodes = positionals;
    keys = [];
  } else {
    // Without --nodes: the first argument is the node, the rest keys.
    nodes = positionals.slice(0, 1);
    keys = positionals.slice(1);
  }
  if (nodes.length === 0) throw new UsageError('name at least one node', UNTAG_HELP);
  if (keys.length === 0 && !values.all) throw new UsageError('name a key, or --all', UNTAG_HELP);
  if (keys.length > 0 && values.all) throw new UsageError('keys or --all, not both', UNTAG_HELP);
  return {
    client: clientArgs(values, env),
    request: {
      ResourceType: 'node',
      ResourceId: nodes,
      ...(values.all ? { All: true } : { TagKey: keys }),
    },
  };
}

export function untagCli(argv: string[]): Promise<number> {
  return withParsed(parseUntag(argv, process.env), async (p, api) => {
    const answer = await api.call('UntagResources', p.request);
    if (p.client.json) json(answer);
    else line(`untagged ${(p.request.ResourceId as string[]).join(', ')}`);
    return 0;
  });
}
