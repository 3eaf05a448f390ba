/**
 * The long-running roles `fleetcmd server` and `dev` (the agent's is agent-role.ts): settings
 * from flags and the environment, loaded through the zod config schema. Loaded only when a role
 * starts, so the client commands never pay for the schema.
 */
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../shared/config.js';
import { settingsFrom, untilSignal } from './role-settings.js';

/** `fleetcmd dev`: the local stack, with the banner a newcomer copies from. */
/** `fleetcmd dev --help` and `fleetcmd server --help`: what they take, without starting anything. */
export const DEV_HELP = `Usage: fleetcmd dev [--nodes 2] [--port 8080]

A whole local stack in one process tree: a private redis-server (a password generated at each
start), the server, and N agents that enroll through an activation. Prints the API's address,
its token and the Redis URL; Ctrl-C stops everything.
  --nodes N           agents to start (1-50, default 2), named n1, n2, ...
  --port P            the API's port (default 8080; 0 picks a free one)`;

export const SERVER_HELP = `Usage: fleetcmd server [--role api|scheduler|all] [--port P] [--insecure-no-auth]

The server: the HTTP API and the scheduler workers (any number of replicas on one Redis).
Settings come from the environment (docs/configuration.md); these flags override them:
  --role R            api, scheduler or all (FLEETCMD_ROLE, default all)
  --port P            the API's port (PORT, default 8080)
  --host H            the address to listen on (FLEETCMD_HOST)
  --redis-url U       one Redis (REDIS_URL); a cluster: REDIS_CLUSTER_NODES
  --prefix P          the Redis key prefix (FLEETCMD_PREFIX)
  --log-level L       LOG_LEVEL
  --insecure-no-auth  serve the API without tokens (local experiments only)`;

export async function devCli(rest: string[]): Promise<number> {
  const { settings, values } = settingsFrom(rest, { nodes: { type: 'string' } });
  if (values.help === true) {
    console.log(DEV_HELP);
    return 0;
  }
  const nodes = values.nodes === undefined ? 2 : Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 50) {
    throw new ConfigError('--nodes must be a whole number from 1 to 50');
  }
  if (settings.PORT === undefined) settings.PORT = '8080';
  const script = process.argv[1] ?? fileURLToPath(new URL('./main.js', import.meta.url));
  const { startDev } = await import('../dev/main.js');
  const stack = await startDev({
    nodes,
    settings,
    self: { execPath: process.execPath, execArgv: process.execArgv, script },
  });
  console.log(`fleetcmd dev is up.
  API:    ${stack.url}
  token:  ${stack.token}
  redis:  ${stack.redisUrl}
  nodes:  ${stack.nodeIds.join(', ')}

In another shell:
  export FLEETCMD_URL=${stack.url} FLEETCMD_API_TOKEN=${stack.token}
  npx fleetcmd run --nodes ${stack.nodeIds.join(',')} --wait -- 'echo hello from $(hostname)'
  curl -s -H "Authorization: Bearer ${stack.token}" -H 'Content-Type: application/json' \\
    -d '{"NodeIdList":["n1"],"CommandContent":"uname -a"}' ${stack.url}/v1/RunCommand
  REDIS_URL='${stack.redisUrl}' npx fleetcmd key add

Ctrl-C stops everything.`);
  return await untilSignal({ url: stack.url, close: stack.close });
}

/** `fleetcmd server`: the API and the scheduler (or one of them, --role). */
export async function serverCli(rest: string[]): Promise<number> {
  const { settings, values } = settingsFrom(rest);
  if (values.help === true) {
    console.log(SERVER_HELP);
    return 0;
  }
  const { startServer } = await import('../server/main.js');
  return await untilSignal(await startServer(loadConfig(settings)));
}
