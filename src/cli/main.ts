/**
 * `fleetcmd`: finds the command in the command table and runs it. Nothing here loads a
 * command's code (or zod, or the server) before that command runs: see command-table.ts.
 */
import { fileURLToPath } from 'node:url';
import { findCommand } from './command-table.js';
import { EXIT } from './exit-codes.js';
import { usageFailure } from './failure.js';
import { HELP } from './help.js';

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
