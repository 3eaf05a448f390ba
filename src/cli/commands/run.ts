/** `fleetcmd run`: runs a command on nodes (once, on a schedule or at boot) via RunCommand. */
import {
  clientArgs,
  CLIENT_HELP,
  given,
  parseFlags,
  type Body,
  type Parsed,
} from '../client-args.js';
import { afterInvoke } from '../invocation.js';
import { RUN_OPTIONS, RUN_OPTIONS_HELP, runFields } from '../run-options.js';
import { UsageError } from '../usage-error.js';
import { withParsed } from '../with-parsed.js';

export const RUN_HELP = `Usage: fleetcmd run --nodes n1,n2 [options] -- 'command'

Runs a command on the given nodes (once, on a schedule or at boot) and prints its InvokeId.
${RUN_OPTIONS_HELP}
  --name NAME           a name shown by describe
  --user, --dir         older spellings of --username and --working-dir
${CLIENT_HELP}

Example: fleetcmd run --nodes n1,n2 --wait -- 'uname -a'
Example: fleetcmd run --nodes n1 --frequency '0 0 9 * * MON-FRI Europe/Berlin' -- 'backup.sh'`;

export function parseRun(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ wait: boolean; byNode: boolean; request: Body }> {
  const { values, positionals } = parseFlags(argv, {
    ...RUN_OPTIONS,
    user: { type: 'string' },
    dir: { type: 'string' },
    name: { type: 'string' },
  });
  if (values.help) return { help: RUN_HELP };
  const command = positionals.join(' ');
  if (command.trim() === '') throw new UsageError('the command is missing', RUN_HELP);
  const run = runFields(
    {
      ...values,
      username: values.username ?? values.user,
      'working-dir': values['working-dir'] ?? values.dir,
    },
    RUN_HELP,
  );
  return {
    client: clientArgs(values, env),
    wait: values.wait,
    byNode: values['by-node'],
    request: { ...run, CommandContent: command, ...given({ Name: values.name }) },
  };
}

export function runCommandCli(argv: string[]): Promise<number> {
  return withParsed(parseRun(argv, process.env), async (p, api) =>
    afterInvoke(api, p.client, await api.call('RunCommand', p.request), p.wait, p.byNode),
  );
}
