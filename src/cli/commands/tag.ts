/** `fleetcmd tag`: sets tags on nodes (TagResources). */
import { clientArgs, CLIENT_HELP, parseFlags, type Body, type Parsed } from '../client-args.js';
import { json, line } from '../print.js';
import { UsageError } from '../usage-error.js';
import { withParsed } from '../with-parsed.js';

export const TAG_HELP = `Usage: fleetcmd tag <NodeId>... <key=value>...

Sets tags on nodes: the arguments with "=" are tags, the others node ids. Tags set here are
kept across agent restarts and win over a tag of the same key the agent reports (see
docs/tags.md). A node carries at most 20 tags.
${CLIENT_HELP}

Example: fleetcmd tag n1 n2 rack=r12 gpu=h100`;

export function parseTag(argv: string[], env: NodeJS.ProcessEnv): Parsed<{ request: Body }> {
  const { values, positionals } = parseFlags(argv, {});
  if (values.help) return { help: TAG_HELP };
  const nodes = positionals.filter((a) => !a.includes('='));
  const tags = positionals
    .filter((a) => a.includes('='))
    .map((a) => ({ Key: a.slice(0, a.indexOf('=')), Value: a.slice(a.indexOf('=') + 1) }));
  if (nodes.length === 0) throw new UsageError('name at least one node', TAG_HELP);
  if (tags.length === 0) throw new UsageError('give at least one key=value tag', TAG_HELP);
  return {
    client: clientArgs(values, env),
    request: { ResourceType: 'node', ResourceId: nodes, Tag: tags },
  };
}

export function tagCli(argv: string[]): Promise<number> {
  return withParsed(parseTag(argv, process.env), async (p, api) => {
    const answer = await api.call('TagResources', p.request);
    if (p.client.json) json(answer);
    else line(`tagged ${(p.request.ResourceId as string[]).join(', ')}`);
    return 0;
  });
}
