/**
 * The top-level help that `fleetcmd --help` prints, made from the command table. Kept apart from
 * main.ts so that scripts/gen-cli-docs.ts can build docs/cli.md from the very text the CLI prints.
 */
import { COMMANDS } from './command-table.js';
import { exitCodesText } from './exit-codes.js';

export const HELP = `fleetcmd — run commands across a fleet of nodes

Usage:
${COMMANDS.filter((c) => !c.hidden)
  .map((c) => c.usage)
  .join('\n')}

Each command has --help (with examples). The client commands take --url, --token and
--context (where the API is: flags, then $FLEETCMD_URL and $FLEETCMD_API_TOKEN, then the
--context named, then the current context of \`fleetcmd context use\`), and listings take
-o table|wide|json|yaml|jsonpath=EXPR (--json is -o json). Configuration of the server and
agents: flags or environment variables (see docs/configuration.md).

Exit codes (the first line that matches wins; the statuses are those of run --wait,
command invoke --wait, rerun --wait, send-file --wait and logs --follow):
${exitCodesText()}`;
