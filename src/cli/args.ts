/**
 * The client subcommands' arguments: help texts, and argv turned into API request bodies,
 * without I/O (send-file receives the file's bytes), so each can be tested on its own.
 */
import { basename } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MAX_FILE_BASE64_BYTES } from '../domain/send-file.js';

/** Bad flags or arguments: the CLI prints the message (and the usage) and exits 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}

export type Body = Record<string, unknown>;

/** Where the API is and how to print: shared by every client subcommand. */
export interface ClientArgs {
  url: string;
  token: string | undefined;
  json: boolean;
  /** Print command output's control characters as they are, even to a terminal. */
  raw: boolean;
}

/** A parsed subcommand, or a request for its help text. */
export type Parsed<T> = { help: string } | (T & { client: ClientArgs });

const CLIENT_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  raw: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** The subcommand's flags plus the client ones; positionals allowed (each parser checks them). */
function parseFlags<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  const config = {
    args: argv,
    allowPositionals: true as const,
    options: { ...CLIENT_OPTIONS, ...options },
  };
  return parseArgs(config);
}

const CLIENT_HELP = `  --json              print the raw API answers as JSON, one per line, and nothing else
  --raw               print command output as it is even to a terminal (by default a
                      terminal sees control characters such as ESC as \\x1b)
  --url URL           API address (default $FLEETCMD_URL or http://127.0.0.1:8080)
  --token TOKEN       bearer token (default $FLEETCMD_API_TOKEN)`;

function clientArgs(
  values: { url?: string; token?: string; json?: boolean; raw?: boolean },
  env: NodeJS.ProcessEnv,
): ClientArgs {
  return {
    url: values.url ?? env.FLEETCMD_URL ?? 'http://127.0.0.1:8080',
    token: values.token ?? env.FLEETCMD_API_TOKEN,
    json: values.json === true,
    raw: values.raw === true,
  };
}

function wholeNumber(flag: string, text: string | undefined, min: number, max: number) {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min || n > max) {
    throw new UsageError(`--${flag} must be a whole number from ${min} to ${max}`);
  }
  return n;
}

function nodeList(text: string | undefined, usage: string): string[] {
  const ids = (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new UsageError('--nodes is required (n1,n2,...)', usage);
  return ids;
}

function required<T>(value: T | undefined, what: string, usage: string): T {
  if (value === undefined || value === '') throw new UsageError(`${what} is required`, usage);
  return value;
}

function noPositionals(positionals: string[], usage: string): void {
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, usage);
  }
}

/** Only the fields that were given: an absent flag leaves the server's default. */
function given(fields: Record<string, unknown>): Body {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** `--param k=v` (repeatable) as the API's Parameters object. */
export function parameters(pairs: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param ${JSON.stringify(pair)}: expected name=value`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

const RUN_OPTIONS = {
  nodes: { type: 'string' },
  timeout: { type: 'string' },
  username: { type: 'string' },
  'working-dir': { type: 'string' },
  frequency: { type: 'string' },
  'repeat-mode': { type: 'string' },
  wait: { type: 'boolean', default: false },
} as const;

const RUN_OPTIONS_HELP = `  --nodes LIST          comma-separated node ids (required)
  --frequency TEXT      a schedule: six-field cron (seconds first), rate(5m) or at(...)
  --repeat-mode MODE    Once, Period, NextRebootOnly or EveryReboot
  --timeout SECONDS     kill the command after this long (default 60)
  --username NAME       run as this user (default: the agent's user)
  --working-dir PATH    working directory (default: the user's home)
  --wait                show progress while the nodes run, then each node's output; the exit
                        code tells how it ended (see fleetcmd --help); one-off runs only`;

/** The per-run fields of RunCommand and InvokeCommand, from RUN_OPTIONS. */
function runFields(
  values: {
    nodes?: string;
    timeout?: string;
    username?: string;
    'working-dir'?: string;
    frequency?: string;
    'repeat-mode'?: string;
    wait: boolean;
  },
  usage: string,
): Body {
  const nodes = nodeList(values.nodes, usage);
  const mode = values['repeat-mode'];
  // A schedule or a boot mode never ends by itself, so there is nothing to wait for.
  if (values.wait && (values.frequency || (mode && mode !== 'Once'))) {
    throw new UsageError('--wait works with one-off runs only: a schedule does not end by itself');
  }
  return {
    NodeIdList: nodes,
    ...given({
      Timeout: wholeNumber('timeout', values.timeout, 1, 86_400),
      Username: values.username,
      WorkingDir: values['working-dir'],
      Frequency: values.frequency,
      RepeatMode: mode,
    }),
  };
}

export const RUN_HELP = `Usage: fleetcmd run --nodes n1,n2 [options] -- 'command'

Runs a command on the given nodes (once, on a schedule or at boot) and prints its InvokeId.
${RUN_OPTIONS_HELP}
  --name NAME           a name shown by describe
  --user, --dir         older spellings of --username and --working-dir
${CLIENT_HELP}

Example: fleetcmd run --nodes n1,n2 --wait -- 'uname -a'
Example: fleetcmd run --nodes n1 --frequency '0 0 9 * * MON-FRI Europe/Berlin' -- 'backup.sh'`;

export function parseRun(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ wait: boolean; request: Body }> {
  const { values, positionals } = parseFlags(argv, {
    ...RUN_OPTIONS,
    user: { type: 'string' },
    dir: { type: 'string' },
    name: { type: 'string' },
  });
  if (values.help) return { help: RUN_HELP };
  const command = positionals.join(' ');
  if (command.trim() === '') throw new UsageError('the command is missing', RUN_HELP);
  const run = runFields(
    {
      ...values,
      username: values.username ?? values.user,
      'working-dir': values['working-dir'] ?? values.dir,
    },
    RUN_HELP,
  );
  return {
    client: clientArgs(values, env),
    wait: values.wait,
    request: { ...run, CommandContent: command, ...given({ Name: values.name }) },
  };
}

export const DESCRIBE_HELP = `Usage: fleetcmd describe [<InvokeId>] [--node N] [--status S] [--max N]

Without an id: the latest invocations (id, name, status, mode, nodes done/total, created).
With an id: one row per node (status, exit code, runs, start, finish, error).
  --node N            only invocations of (or the row of) this node
  --status S          only this status: an invocation's (Running, Success, Failed, ...) or,
                      with an id, a node's
  --max N             at most N rows (default 20 without an id, 1000 with one)
${CLIENT_HELP}

Example: fleetcmd describe --status Failed
Example: fleetcmd describe t-ind3k9ytvvduoe8 --node n1`;

export function parseDescribe(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ invokeId?: string; node?: string; status?: string; max: number }> {
  const { values, positionals } = parseFlags(argv, {
    node: { type: 'string' },
    status: { type: 'string' },
    max: { type: 'string' },
  });
  if (values.help) return { help: DESCRIBE_HELP };
  if (positionals.length > 1) throw new UsageError('describe takes one InvokeId', DESCRIBE_HELP);
  const invokeId = positionals[0];
  return {
    client: clientArgs(values, env),
    invokeId,
    node: values.node,
    status: values.status,
    max: wholeNumber('max', values.max, 1, 100_000) ?? (invokeId ? 1000 : 20),
  };
}

export const LOGS_HELP = `Usage: fleetcmd logs <InvokeId> [--node N] [--follow]

Prints the nodes' output (a header line per node when there are several). The API keeps
24 KiB per run (its beginning and end): a line "… [N bytes dropped] …" stands for the rest.
  --node N            only this node
  --follow            keep printing new output until every node has finished (lines prefixed
                      with the node id when there are several); the exit code then tells how
                      it ended, as for run --wait
${CLIENT_HELP}

Example: fleetcmd logs t-ind3k9ytvvduoe8 --node n1
Example: fleetcmd logs t-ind3k9ytvvduoe8 --follow`;

export function parseLogs(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ invokeId: string; node?: string; follow: boolean }> {
  const { values, positionals } = parseFlags(argv, {
    node: { type: 'string' },
    follow: { type: 'boolean', short: 'f', default: false },
  });
  if (values.help) return { help: LOGS_HELP };
  return {
    client: clientArgs(values, env),
    invokeId: required(positionals[0], 'the InvokeId', LOGS_HELP),
    node: values.node,
    follow: values.follow,
  };
}

export const STOP_HELP = `Usage: fleetcmd stop <InvokeId> [--nodes n1,n2]

Stops an invocation: nodes that have not started are Cancelled, running ones are killed.
  --nodes LIST        only these nodes
${CLIENT_HELP}

Example: fleetcmd stop t-ind3k9ytvvduoe8`;

export function parseStop(argv: string[], env: NodeJS.ProcessEnv): Parsed<{ request: Body }> {
  const { values, positionals } = parseFlags(argv, { nodes: { type: 'string' } });
  if (values.help) return { help: STOP_HELP };
  return {
    client: clientArgs(values, env),
    request: {
      InvokeId: required(positionals[0], 'the InvokeId', STOP_HELP),
      ...(values.nodes !== undefined ? { NodeIdList: nodeList(values.nodes, STOP_HELP) } : {}),
    },
  };
}

export const NODES_HELP = `Usage: fleetcmd nodes [--online]

Lists registered nodes: online, hostname, OS, time zone, agent version, active runs, last
heartbeat.
  --online            only nodes whose agent is heartbeating
${CLIENT_HELP}

Example: fleetcmd nodes --online`;

export function parseNodes(argv: string[], env: NodeJS.ProcessEnv): Parsed<{ online: boolean }> {
  const { values, positionals } = parseFlags(argv, { online: { type: 'boolean', default: false } });
  if (values.help) return { help: NODES_HELP };
  noPositionals(positionals, NODES_HELP);
  return { client: clientArgs(values, env), online: values.online };
}

export const COMMAND_HELP = `Usage: fleetcmd command create|list|modify|delete|invoke ...

Saved commands: content stored once, run by id with per-run nodes and parameters.
  fleetcmd command create --name N [--description D] [--timeout S] [--working-dir D]
                          [--username U] [--enable-parameter] -- 'content'
  fleetcmd command list [--name N]
  fleetcmd command modify <CommandId> [--name N] [--description D] [--timeout S]
                          [--working-dir D] [--username U]
  fleetcmd command delete <CommandId>
  fleetcmd command invoke <CommandId> --nodes n1,n2 [--param k=v ...] [--frequency F]
                          [--repeat-mode M] [--timeout S] [--wait]
Each takes --help, --json, --url and --token.

Example: fleetcmd command create --name disk --enable-parameter -- 'df -h {{path}}'
Example: fleetcmd command invoke c-0123456789abcdef --nodes n1,n2 --param path=/ --wait`;

/** What create and modify both set on a saved command. */
const SAVED_OPTIONS = {
  name: { type: 'string' },
  description: { type: 'string' },
  timeout: { type: 'string' },
  'working-dir': { type: 'string' },
  username: { type: 'string' },
} as const;

const SAVED_OPTIONS_HELP = `  --description TEXT
  --timeout SECONDS     default timeout of its runs (default 60)
  --working-dir PATH    default working directory
  --username NAME       default user`;

function savedFields(values: {
  name?: string;
  description?: string;
  timeout?: string;
  'working-dir'?: string;
  username?: string;
}): Body {
  return given({
    Name: values.name,
    Description: values.description,
    Timeout: wholeNumber('timeout', values.timeout, 1, 86_400),
    WorkingDir: values['working-dir'],
    Username: values.username,
  });
}

export const COMMAND_CREATE_HELP = `Usage: fleetcmd command create --name N [options] -- 'content'

Saves a command and prints its CommandId. Its content cannot change afterwards.
  --name NAME           required
${SAVED_OPTIONS_HELP}
  --enable-parameter    replace {{name}} in the content with each run's --param values
  --launcher TEXT       run the content with this instead of /bin/sh
  --termination-mode M  ProcessTree (default) or Process
${CLIENT_HELP}

Example: fleetcmd command create --name disk --enable-parameter -- 'df -h {{path}}'`;

export function parseCommandCreate(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ request: Body }> {
  const { values, positionals } = parseFlags(argv, {
    ...SAVED_OPTIONS,
    'enable-parameter': { type: 'boolean', default: false },
    launcher: { type: 'string' },
    'termination-mode': { type: 'string' },
  });
  if (values.help) return { help: COMMAND_CREATE_HELP };
  const content = positionals.join(' ');
  if (content.trim() === '') throw new UsageError('the content is missing', COMMAND_CREATE_HELP);
  return {
    client: clientArgs(values, env),
    request: {
      Name: required(values.name, '--name', COMMAND_CREATE_HELP),
      CommandContent: content,
      ContentEncoding: 'PlainText',
      EnableParameter: values['enable-parameter'],
      ...savedFields({ ...values, name: undefined }),
      ...given({ Launcher: values.launcher, TerminationMode: values['termination-mode'] }),
    },
  };
}

export const COMMAND_LIST_HELP = `Usage: fleetcmd command list [--name N]

Lists saved commands (id, name, timeout, parameters, runs, created, content).
  --name NAME         only commands with this name
${CLIENT_HELP}

Example: fleetcmd command list --name disk`;

export function parseCommandList(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ request: Body }> {
  const { values, positionals } = parseFlags(argv, { name: { type: 'string' } });
  if (values.help) return { help: COMMAND_LIST_HELP };
  noPositionals(positionals, COMMAND_LIST_HELP);
  return {
    client: clientArgs(values, env),
    request: { ContentEncoding: 'PlainText', ...given({ Name: values.name }) },
  };
}

export const COMMAND_MODIFY_HELP = `Usage: fleetcmd command modify <CommandId> [options]

Changes a saved command's name, description or run defaults (its content stays).
  --name NAME
${SAVED_OPTIONS_HELP}
${CLIENT_HELP}

Example: fleetcmd command modify c-0123456789abcdef --timeout 300`;

export function parseCommandModify(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ request: Body }> {
  const { values, positionals } = parseFlags(argv, {
    ...SAVED_OPTIONS,
  });
  if (values.help) return { help: COMMAND_MODIFY_HELP };
  const changes = savedFields(values);
  if (Object.keys(changes).length === 0) {
    throw new UsageError('nothing to change: give at least one option', COMMAND_MODIFY_HELP);
  }
  return {
    client: clientArgs(values, env),
    request: {
      CommandId: required(positionals[0], 'the CommandId', COMMAND_MODIFY_HELP),
      ...changes,
    },
  };
}

export const COMMAND_DELETE_HELP = `Usage: fleetcmd command delete <CommandId>

Deletes a saved command (its past invocations stay).
${CLIENT_HELP}

Example: fleetcmd command delete c-0123456789abcdef`;

export function parseCommandDelete(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ request: Body }> {
  const { values, positionals } = parseFlags(argv, {});
  if (values.help) return { help: COMMAND_DELETE_HELP };
  return {
    client: clientArgs(values, env),
    request: { CommandId: required(positionals[0], 'the CommandId', COMMAND_DELETE_HELP) },
  };
}

export const COMMAND_INVOKE_HELP = `Usage: fleetcmd command invoke <CommandId> --nodes n1,n2 [options]

Runs a saved command on the given nodes and prints the InvokeId.
${RUN_OPTIONS_HELP}
  --param NAME=VALUE    a parameter value (repeatable; the command needs --enable-parameter)
${CLIENT_HELP}

Example: fleetcmd command invoke c-0123456789abcdef --nodes n1,n2 --param path=/ --wait`;

export function parseCommandInvoke(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ wait: boolean; request: Body }> {
  const { values, positionals } = parseFlags(argv, {
    ...RUN_OPTIONS,
    param: { type: 'string', multiple: true },
  });
  if (values.help) return { help: COMMAND_INVOKE_HELP };
  const commandId = required(positionals[0], 'the CommandId', COMMAND_INVOKE_HELP);
  const run = runFields(values, COMMAND_INVOKE_HELP);
  const params = parameters(values.param);
  return {
    client: clientArgs(values, env),
    wait: values.wait,
    request: {
      CommandId: commandId,
      ...run,
      ...(Object.keys(params).length > 0 ? { Parameters: params } : {}),
    },
  };
}

/** SendFile's limit on Content, once Base64-encoded (defined with SendFile's other rules). */
export { MAX_FILE_BASE64_BYTES };

export const SEND_FILE_HELP = `Usage: fleetcmd send-file --nodes n1,n2 --target-dir DIR [options] <local-file>

Sends a local file (at most 24 KiB: 32 KiB once Base64-encoded) to the nodes and prints the
InvokeId.
  --nodes LIST          comma-separated node ids (required)
  --target-dir DIR      directory on the nodes (required)
  --name NAME           file name on the nodes (default: the local file's name)
  --mode MODE           permissions, octal (default 0644)
  --owner USER          owner on the nodes
  --group GROUP         group on the nodes
  --overwrite           replace a file that exists (default: fail on that node)
  --timeout SECONDS
  --description TEXT
  --wait                show progress, then each node's result; exit code as for run --wait
${CLIENT_HELP}

Example: fleetcmd send-file --nodes n1,n2 --target-dir /etc/myapp --mode 0600 --wait app.conf`;

export interface SendFileArgs {
  wait: boolean;
  /** The local file to read. */
  path: string;
  /** The request, once the file's bytes are known. */
  request: (bytes: Buffer) => Body;
}

export function parseSendFile(argv: string[], env: NodeJS.ProcessEnv): Parsed<SendFileArgs> {
  const { values, positionals } = parseFlags(argv, {
    nodes: { type: 'string' },
    'target-dir': { type: 'string' },
    name: { type: 'string' },
    mode: { type: 'string', default: '0644' },
    owner: { type: 'string' },
    group: { type: 'string' },
    overwrite: { type: 'boolean', default: false },
    timeout: { type: 'string' },
    description: { type: 'string' },
    wait: { type: 'boolean', default: false },
  });
  if (values.help) return { help: SEND_FILE_HELP };
  if (positionals.length !== 1) throw new UsageError('name one local file', SEND_FILE_HELP);
  const path = positionals[0] as string;
  const nodes = nodeList(values.nodes, SEND_FILE_HELP);
  const targetDir = required(values['target-dir'], '--target-dir', SEND_FILE_HELP);
  if (!/^[0-7]{3,4}$/.test(values.mode)) {
    throw new UsageError('--mode must be octal permissions such as 0644');
  }
  const fixed = {
    NodeIdList: nodes,
    Name: values.name ?? basename(path),
    TargetDir: targetDir,
    ContentType: 'Base64',
    FileMode: values.mode.padStart(4, '0'),
    Overwrite: values.overwrite,
    ...given({
      FileOwner: values.owner,
      FileGroup: values.group,
      Timeout: wholeNumber('timeout', values.timeout, 1, 86_400),
      Description: values.description,
    }),
  };
  return {
    client: clientArgs(values, env),
    wait: values.wait,
    path,
    request: (bytes) => {
      const content = bytes.toString('base64');
      if (content.length > MAX_FILE_BASE64_BYTES) {
        throw new UsageError(
          `${path} is ${bytes.length} bytes (${content.length} once Base64-encoded); SendFile takes at most ${MAX_FILE_BASE64_BYTES} Base64 bytes`,
        );
      }
      return { ...fixed, Content: content };
    },
  };
}

export const SEND_FILE_RESULTS_HELP = `Usage: fleetcmd send-file-results [<InvokeId>] [--node N] [--name N] [--status S] [--max N]

Without an id: the latest file sends (id, name, target, status, nodes done/total, created).
With an id: one row per node (status, start, finish, error code and text).
  --node N            only sends to this node
  --name NAME         only sends of this file name
  --status S          only this status
  --max N             at most N rows (default 20 without an id, 1000 with one)
${CLIENT_HELP}

Example: fleetcmd send-file-results f-ind3k9ytvvduoe8`;

export function parseSendFileResults(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Parsed<{ invokeId?: string; max: number; request: Body }> {
  const { values, positionals } = parseFlags(argv, {
    node: { type: 'string' },
    name: { type: 'string' },
    status: { type: 'string' },
    max: { type: 'string' },
  });
  if (values.help) return { help: SEND_FILE_RESULTS_HELP };
  const invokeId = positionals[0];
  return {
    client: clientArgs(values, env),
    invokeId,
    max: wholeNumber('max', values.max, 1, 100_000) ?? (invokeId ? 1000 : 20),
    request: given({
      InvokeId: invokeId,
      NodeId: values.node,
      Name: values.name,
      InvocationStatus: values.status,
    }),
  };
}
