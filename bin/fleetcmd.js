#!/usr/bin/env node
// Entry point for the `fleetcmd` command: runs the compiled CLI (npm ci builds it via `prepare`).
// `fleetcmd agent` runs from its bundle instead (scripts/bundle-agent.mjs): one file holding only
// the code an agent runs, so an idle agent stays small.
const [command, ...rest] = process.argv.slice(2);
const run =
  command === 'agent'
    ? (await import('../dist/agent/fleetcmd-agent.js')).main(rest)
    : (await import('../dist/src/cli/main.js')).main(process.argv.slice(2));

run.then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
