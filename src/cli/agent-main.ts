/**
 * `fleetcmd agent` on its own: the entry scripts/bundle-agent.mjs bundles into
 * dist/agent/fleetcmd-agent.js, which bin/fleetcmd.js runs for `fleetcmd agent`. One file with
 * only the code an agent runs, in place of the ~480 modules it loads from dist/ and
 * node_modules: an idle agent holds ~20 MiB less (bench/RESULTS.md, 2026-12-06 notes).
 */
// First: it holds the young generation small while the rest loads.
import { releaseYoungGeneration } from './young-generation.js';
import { agentCli } from './agent-role.js';
import { usageFailure } from './failure.js';

/** Runs `fleetcmd agent <argv>`: the exit code, as the CLI's main() gives it. */
export async function main(argv: string[]): Promise<number> {
  try {
    return await agentCli(argv, releaseYoungGeneration);
  } catch (err) {
    return usageFailure(err);
  }
}
