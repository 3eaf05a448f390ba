/** `fleetcmd stop`: stops an invocation on all or some of its nodes (StopInvocation). */
import {
  clientArgs,
  CLIENT_HELP,
  nodeList,
  parseFlags,
  required,
  type Body,
  type Parsed,
} from '../client-args.js';
import { json, line } from '../print.js';
import { withParsed } from '../with-parsed.js';

export const STOP_HELP = `Usage: fleetcmd stop <InvokeId> [--nodes n1,n2]

Stops an invocation: nodes that have not started are Cancelled, running ones are killed.
  --nodes LIST        only these nodes
${CLIENT_HELP}

Example: fleetcmd stop t-ind3k9ytvvduoe8`;

export function parseStop(argv: string[], env: NodeJS.ProcessEnv): Parsed<{ request: Body }> {
  const { values, positionals } = parseFlags(argv, { nodes: { type: 'string' } });
  if (values.help) return { help: STOP_HELP };
  return {
    client: clientArgs(values, env),
    request: {
      InvokeId: required(positionals[0], 'the InvokeId', STOP_HELP),
      ...(values.nodes !== undefined ? { NodeIdList: nodeList(values.nodes, STOP_HELP) } : {}),
    },
  };
}

export function stopCli(argv: string[]): Promise<number> {
  return withParsed(parseStop(argv, process.env), async (p, api) => {
    const answer = await api.call('StopInvocation', p.request);
    if (p.client.json) json(answer);
    else line(`stopping ${String(p.request.InvokeId)}`);
    return 0;
  });
}
