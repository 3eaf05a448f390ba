import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type RawSettings } from '../shared/config.js';
import { UsageError } from './usage-error.js';
import { commandCli } from './commands/command.js';
import { describeCli } from './commands/describe.js';
import { logsCli } from './commands/logs.js';
import { nodesCli } from './commands/nodes.js';
import { rerunCli } from './commands/rerun.js';
import { runCommandCli } from './commands/run.js';
import { sendFileCli } from './commands/send-file.js';
import { sendFileResultsCli } from './commands/send-file-results.js';
import { stopCli } from './commands/stop.js';
import type { Running } from '../shared/running.js';
import { ApiError } from './api-client.js';
import { HELP } from './help.js';

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

function settingsFrom(argv: string[], extra: Record<string, { type: 'string' | 'boolean' }> = {}) {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
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
  });
}

/** `fleetcmd dev`: the local stack, with the banner a newcomer copies from. */
async function devCli(rest: string[]): Promise<number> {
  const { settings, values } = settingsFrom(rest, { nodes: { type: 'string' } });
  const nodes = values.nodes === undefined ? 2 : Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 50) {
    throw new ConfigError('--nodes must be a whole number from 1 to 50');
  }
  if (settings.PORT === undefined) settings.PORT = '8080';
  const script = process.argv[1] ?? fileURLToPath(import.meta.url);
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

/** The long-running roles and the client commands, by name; undefined for an unknown one. */
async function dispatch(cmd: string, rest: string[]): Promise<number | undefined> {
  switch (cmd) {
    case 'server': {
      const { settings } = settingsFrom(rest);
      // Each role loads only its own code (an agent none of the server's).
      const { startServer } = await import('../server/main.js');
      return await untilSignal(await startServer(loadConfig(settings)));
    }
    case 'agent': {
      const { settings } = settingsFrom(rest);
      const { startAgent } = await import('../../workers/agent/main.js');
      return await untilSignal(await startAgent(loadConfig(settings)));
    }
    case 'dev':
      return await devCli(rest);
    case 'run':
      return await runCommandCli(rest);
    case 'describe':
      return await describeCli(rest);
    case 'rerun':
      return await rerunCli(rest);
    case 'stop':
      return await stopCli(rest);
    case 'nodes':
      return await nodesCli(rest);
    case 'logs':
      return await logsCli(rest);
    case 'command':
      return await commandCli(rest);
    case 'send-file':
      return await sendFileCli(rest);
    case 'send-file-results':
      return await sendFileResultsCli(rest);
    case 'node':
      return await (await import('./commands/node.js')).nodeCli(rest, process.env);
    case 'key':
      return await (await import('./commands/key.js')).keyCli(rest);
    default:
      return undefined;
  }
}

/** The exit code for an error the user can act on (printed without a stack); rethrows others. */
function usageFailure(err: unknown): number {
  if (err instanceof ConfigError || err instanceof ApiError) {
    console.error(err.message);
    return 2;
  }
  if (err instanceof UsageError) {
    console.error(err.usage ? `${err.message}\n\n${err.usage}` : err.message);
    return 2;
  }
  if (
    err instanceof TypeError &&
    /parseArgs|Unknown option|ERR_PARSE_ARGS/.test(
      String((err as { code?: string }).code ?? err.message),
    )
  ) {
    console.error(err.message);
    return 2;
  }
  throw err;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    console.log(HELP);
    return cmd === undefined ? 2 : 0;
  }
  try {
    const code = await dispatch(cmd, rest);
    if (code !== undefined) return code;
    console.error(`unknown command ${JSON.stringify(cmd)}\n\n${HELP}`);
    return 2;
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
