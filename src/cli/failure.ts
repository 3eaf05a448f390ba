/** How `fleetcmd` ends on an error: for the CLI (main.ts) and the agent's bundle (agent-main.ts). */
import { ConfigError } from '../shared/config-error.js';
import { UsageError } from './usage-error.js';
import { ApiError } from './api-client.js';
import { EXIT, exitCodeForHttp } from './exit-codes.js';

/** The exit code for an error the user can act on (printed without a stack); rethrows others. */
export function usageFailure(err: unknown): number {
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
