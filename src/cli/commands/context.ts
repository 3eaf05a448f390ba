/**
 * `fleetcmd context add|use|list|remove`: named API addresses and tokens in the CLI's config
 * file (see contexts.ts). Tokens go in through stdin and are never printed back.
 */
import { parseArgs } from 'node:util';
import {
  configPath,
  CONTEXT_NAME_RE,
  readCliConfig,
  writeCliConfig,
  type CliConfig,
} from '../contexts.js';
import { parseOutput, printListing } from '../output.js';
import { json, line } from '../print.js';
import { UsageError } from '../usage-error.js';

export const CONTEXT_HELP = `Usage: fleetcmd context add|use|list|remove ...

Named contexts: where an API is and its token, kept in $XDG_CONFIG_HOME/fleetcmd/config.json
(default ~/.config/fleetcmd/config.json; the file is 0600, its directory 0700).
  fleetcmd context add NAME --url URL [--token-stdin] [--overwrite]
                        saves a context (the token is read from stdin, one line); the first
                        one saved becomes the current one
  fleetcmd context use NAME       makes NAME the current context
  fleetcmd context list [-o F]    the contexts (name, current, URL, whether a token is set)
  fleetcmd context remove NAME    forgets a context

Where a client command sends its requests: the URL and the token each come from the first of
  1. the flags --url and --token
  2. the variables FLEETCMD_URL and FLEETCMD_API_TOKEN
  3. the context named by --context NAME
  4. the current context (fleetcmd context use)
and the URL is http://127.0.0.1:8080 when none gives one.

Example: echo "$FLEETCMD_API_TOKEN" | fleetcmd context add local --url http://127.0.0.1:8080 --token-stdin --overwrite
Example: fleetcmd context use local
Example: fleetcmd context list`;

async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0]?.trim() ?? '';
}

function contextName(name: string | undefined): string {
  if (name === undefined) throw new UsageError('the context name is required', CONTEXT_HELP);
  if (!CONTEXT_NAME_RE.test(name)) {
    throw new UsageError(
      `context name ${JSON.stringify(name)}: 1-64 letters, digits, ".", "_" or "-"`,
      CONTEXT_HELP,
    );
  }
  return name;
}

function known(config: CliConfig, name: string, env: NodeJS.ProcessEnv): void {
  if (!(name in config.contexts)) {
    throw new UsageError(`no context ${JSON.stringify(name)} in ${configPath(env)}`);
  }
}

async function add(
  name: string,
  values: { url?: string; 'token-stdin'?: boolean; overwrite?: boolean },
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const url = values.url;
  if (url === undefined || !/^https?:\/\/./.test(url)) {
    throw new UsageError('--url is required: the API address, http(s)://...', CONTEXT_HELP);
  }
  const config = readCliConfig(env);
  if (name in config.contexts && values.overwrite !== true) {
    throw new UsageError(`context ${name} exists: add --overwrite to replace it`);
  }
  const token = values['token-stdin'] === true ? await readStdinLine() : undefined;
  if (token === '') throw new UsageError('--token-stdin: stdin held no token');
  config.contexts[name] = token === undefined ? { url } : { url, token };
  config.current ??= name;
  const file = writeCliConfig(env, config);
  line(`context ${name} saved in ${file}${config.current === name ? ' (current)' : ''}`);
  return 0;
}

async function list(output: string | undefined, asJson: boolean, env: NodeJS.ProcessEnv) {
  const config = readCliConfig(env);
  const format = parseOutput(output, asJson);
  // Never the token itself: whether one is set.
  const rows = Object.entries(config.contexts).map(([Name, c]) => ({
    Name,
    Current: config.current === Name,
    Url: c.url,
    Token: c.token !== undefined,
  }));
  if (format.kind === 'json') json({ Contexts: rows });
  await printListing(
    format,
    {
      header: ['CURRENT', 'NAME', 'URL', 'TOKEN'],
      row: (r) => [r.Current ? '*' : '', r.Name, r.Url, r.Token ? 'set' : 'none'],
    },
    rows,
  );
  return 0;
}

export async function contextCli(argv: string[], env = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    line(CONTEXT_HELP);
    return sub === undefined ? 2 : 0;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      'token-stdin': { type: 'boolean', default: false },
      overwrite: { type: 'boolean', default: false },
      output: { type: 'string', short: 'o' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    line(CONTEXT_HELP);
    return 0;
  }
  if (sub === 'list') return list(values.output, values.json, env);
  const name = contextName(positionals[0]);
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${positionals[1]}`);
  if (sub === 'add') return add(name, values, env);
  const config = readCliConfig(env);
  known(config, name, env);
  if (sub === 'use') {
    config.current = name;
    writeCliConfig(env, config);
    line(`current context: ${name}`);
    return 0;
  }
  if (sub === 'remove') {
    delete config.contexts[name];
    if (config.current === name) delete config.current;
    writeCliConfig(env, config);
    line(`context ${name} removed`);
    return 0;
  }
  throw new UsageError(`unknown context subcommand ${JSON.stringify(sub)}`, CONTEXT_HELP);
}
