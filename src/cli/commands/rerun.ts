/** `fleetcmd rerun`: the same run again on the nodes that did not succeed (RerunInvocation). */
import {
  clientArgs,
  CLIENT_HELP,
  given,
  parseFlags,
  type Body,
  type Parsed,
} from '../client-args.js';
import { afterInvoke } from '../invocation.js';
import { UsageError } from '../usage-error.js';
import { withParsed } from '../with-parsed.js';

export const RERUN_HELP = `Usage: fleetcmd rerun <InvokeId> [--status Failed,Timeout,Error] [--wait] [--by-node]

Runs an invocation's content, parameters and settings (user, directory, timeout, saved command,
MaxConcurrency, MaxErrors) again, once, on the nodes whose last run ended with one of the
statuses, and prints the new InvokeId. A node whose run has not ended is never rerun.
  --status LIST       final statuses to rerun (default: every one but Success: Failed,
                      Timeout, Error, Invalid, Aborted, Cancelled, Terminated)
  --wait, --by-node   as for fleetcmd run
${CLIENT_HELP}

Example: fleetcmd rerun t-ind3k9ytvvduoe8 --status Failed,Timeout --wait`;

export function parseRerun(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ wait: boolean; byNode: boolean; request: Body }> {
  const { values, positionals } = parseFlags(argv, {
    status: { type: 'string' },
    wait: { type: 'boolean', default: false },
    'by-node': { type: 'boolean', default: false },
  });
  if (values.help) return { help: RERUN_HELP };
  const invokeId = positionals[0];
  if (invokeId === undefined || positionals.length > 1) {
    throw new UsageError('rerun takes one InvokeId', RERUN_HELP);
  }
  const status = values.status
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return {
    client: clientArgs(values, env),
    wait: values.wait,
    byNode: values['by-node'],
    request: { InvokeId: invokeId, ...given({ Status: status }) },
  };
}

export function rerunCli(argv: string[]): Promise<number> {
  return withParsed(parseRerun(argv, process.env), async (p, api) =>
    afterInvoke(api, p.client, await api.call('RerunInvocation', p.request), p.wait, p.byNode),
  );
}
