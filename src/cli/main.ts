/**
 * `fleetcmd`: finds the command in the command table and runs it. Nothing here loads a
 * command's code (or zod, or the server) before that command runs: see command-table.ts.
 */
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../shared/config-error.js';
import { UsageError } from './usage-error.js';
import { ApiError } from './api-client.js';
import { findCommand } from './command-table.js';
import { EXIT, exitCodeForHttp } from './exit-codes.js';
import { HELP } from './help.js';

/** The exit code for an error the user can act on (printed without a stack); rethrows others. */
function usageFailure(err: unknown): number {
  if (err instanceof ApiError) {
    console.error(err.message);
    return exitCodeForHttp(err.status);
  }
  if (err instanceof ConfigError) {
    console.error(err.message);
    return EXIT.usage;
  }
  if (err instanceof UsageError) {
    console.error(err.usage ? `${err.message}\n\n${err.usage}` : err.message);
    return EXIT.usage;
  }
  if (
    err instanceof TypeError &&
    /parseArgs|Unknown option|ERR_PARSE_ARGS/.test(
      String((err as { code?: string }).code ?? err.message),
    )
  ) {
    console.error(err.message);
    return EXIT.usage;
  }
  throw err;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    console.log(HELP);
    return cmd === undefined ? EXIT.usage : EXIT.success;
  }
  const command = findCommand(cmd);
  if (command === undefined) {
    console.error(`unknown command ${JSON.stringify(cmd)}\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    return usageFailure(err);
  }
}

// Run directly (node --import tsx src/cli/main.ts ...), as the tests and the dev agents do.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    },
  );
}
