/**
 * The long-running roles (`fleetcmd server`, `agent`, `dev`): settings from flags and the
 * environment, loaded through the zod config schema. Loaded only when a role starts, so the
 * client commands never pay for the schema.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type RawSettings } from '../shared/config.js';
import type { Running } from '../shared/running.js';

/** Flags that stand for configuration variables (the variable names are what errors cite). */
const CONFIG_FLAGS = {
  'redis-url': 'REDIS_URL',
  port: 'PORT',
  host: 'FLEETCMD_HOST',
  role: 'FLEETCMD_ROLE',
  'node-id': 'FLEETCMD_NODE_ID',
  prefix: 'FLEETCMD_PREFIX',
  'log-level': 'LOG_LEVEL',
} as const;

type FlagSpec = { type: 'string' | 'boolean'; multiple?: boolean };

function settingsFrom(argv: string[], extra: Record<string, FlagSpec> = {}) {
  const options: Record<string, FlagSpec> = {
    'insecure-no-auth': { type: 'boolean' },
    'allow-shared-credentials': { type: 'boolean' },
    help: { type: 'boolean' },
    ...extra,
  };
  for (const flag of Object.keys(CONFIG_FLAGS)) options[flag] = { type: 'string' };
  const { values } = parseArgs({ args: argv, options, strict: true });
  const settings: RawSettings = { ...process.env };
  for (const [flag, name] of Object.entries(CONFIG_FLAGS)) {
    const v = values[flag];
    if (typeof v === 'string') settings[name] = v;
  }
  // `--tag k=v` (repeatable, agent only) stands for FLEETCMD_NODE_TAGS, replacing it.
  const tags = values.tag;
  if (Array.isArray(tags) && tags.length > 0) settings.FLEETCMD_NODE_TAGS = tags.join(',');
  if (values['insecure-no-auth'] === true) settings.FLEETCMD_INSECURE_NO_AUTH = true;
  if (values['allow-shared-credentials'] === true) {
    settings.FLEETCMD_ALLOW_SHARED_CREDENTIALS = true;
  }
  return { settings, values };
}

/** Runs until SIGTERM/SIGINT, then closes gracefully; a second signal exits at once. */
async function untilSignal(running: Running): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      void running.close().then(() => resolve(sig === 'SIGINT' ? 130 : 0));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    // A process that ends by itself (an agent whose node was deregistered) says with what code.
    void running.ended?.then((code) => {
      stopping = true;
      resolve(code);
    });
  });
}

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

/** `fleetcmd agent`: one node's agent (it loads none of the server's code). */
export async function agentCli(rest: string[]): Promise<number> {
  const agent = await import('../../workers/agent/cli.js');
  const { settings, values } = settingsFrom(rest, {
    ...agent.AGENT_FLAGS,
    tag: { type: 'string', multiple: true },
  });
  if (values.help === true) {
    console.log((await import('./commands/agent.js')).AGENT_HELP);
    return 0;
  }
  const code = await untilSignal(await agent.agentCli(settings, values));
  // Stopped and its connections closed: a report still retrying against a Redis that refuses
  // the node (deregistered) must not keep the process alive. Its run is reported by the next
  // start, as after any crash.
  setTimeout(() => process.exit(code), AGENT_EXIT_GRACE_MS).unref();
  return code;
}

/** How long a stopped agent's process may take to end by itself before it exits anyway (ms). */
const AGENT_EXIT_GRACE_MS = 2_000;
