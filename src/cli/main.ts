import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type RawSettings } from '../shared/config.js';
import { UsageError } from './args.js';
import {
  commandCli,
  describeCli,
  logsCli,
  nodesCli,
  runCommandCli,
  sendFileCli,
  sendFileResultsCli,
  stopCli,
} from './commands.js';
import type { Running } from '../shared/running.js';
import { ApiError } from './api-client.js';

const HELP = `fleetcmd — run commands across a fleet of nodes

Usage:
  fleetcmd dev [--nodes 2] [--port 8080]       a whole local stack (private redis-server, server, agents)
  fleetcmd server [--role api|scheduler|all] [--port P] [--insecure-no-auth]
  fleetcmd agent --node-id ID [--allow-shared-credentials]
  fleetcmd node add|remove ID [--rotate] [--json]   a node's own Redis user (ACL)

  fleetcmd run --nodes n1,n2 [--timeout S] [--frequency F] [--wait] -- 'command'
  fleetcmd describe [<InvokeId>] [--node N] [--status S] [--max N]
  fleetcmd logs <InvokeId> [--node N] [--follow]
  fleetcmd stop <InvokeId> [--nodes n1,n2]
  fleetcmd nodes [--online]
  fleetcmd command create|list|modify|delete|invoke ...   saved commands
  fleetcmd send-file --nodes n1,n2 --target-dir DIR [--wait] <local-file>
  fleetcmd send-file-results [<InvokeId>]
  fleetcmd key add|list|remove [--json]        access keys for the vendor's RPC protocol (in Redis)

Each command has --help (with examples); the client commands take --json, --url and --token
(default $FLEETCMD_URL and $FLEETCMD_API_TOKEN). Configuration: flags or environment variables
(see README.md).

Exit codes of run --wait, command invoke --wait, send-file --wait and logs --follow:
  0 Success   1 a node failed (exit code not 0)   3 a node timed out
  4 a node could not run (Error, Invalid, Aborted)   5 every node was stopped
  2 (any command) bad arguments or an API error`;

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

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'server': {
        const { settings } = settingsFrom(rest);
        // Each role loads only its own code (an agent none of the server's).
        const { startServer } = await import('../server/main.js');
        const running = await startServer(loadConfig(settings));
        return await untilSignal(running);
      }
      case 'agent': {
        const { settings } = settingsFrom(rest);
        const { startAgent } = await import('../../workers/agent/main.js');
        const running = await startAgent(loadConfig(settings));
        return await untilSignal(running);
      }
      case 'dev': {
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

Ctrl-C stops everything.`);
        return await untilSignal({ url: stack.url, close: stack.close });
      }
      case 'run':
        return await runCommandCli(rest);
      case 'describe':
        return await describeCli(rest);
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
        return await (await import('./node.js')).nodeCli(rest, process.env);
      case 'key':
        return await (await import('./keys.js')).keyCli(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(HELP);
        return cmd === undefined ? 2 : 0;
      default:
        console.error(`unknown command ${JSON.stringify(cmd)}\n\n${HELP}`);
        return 2;
    }
  } catch (err) {
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
