/**
 * `fleetcmd command create|list|modify|delete|invoke`: saved commands, whose content is stored
 * once and run by id with per-run nodes and parameters.
 */
import {
  clientArgs,
  CLIENT_HELP,
  given,
  noPositionals,
  parseFlags,
  required,
  wholeNumber,
  type Body,
  type Parsed,
} from '../client-args.js';
import { orDash, truncate } from '../format.js';
import { printListing, type TableSpec } from '../output.js';
import { afterInvoke } from '../invocation.js';
import { pages } from '../pages.js';
import { line } from '../print.js';
import { RUN_OPTIONS, RUN_OPTIONS_HELP, runFields } from '../run-options.js';
import { UsageError } from '../usage-error.js';
import { withParsed } from '../with-parsed.js';
// Types only: the CLI reads the answers the API's schemas describe, and loads none of the API.
import type {
  CommandIdAnswer,
  CommandView,
  DescribeCommandsAnswer,
} from '../../api/schemas/response.js';

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
): Parsed<{ wait: boolean; byNode: boolean; request: Body }> {
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
    byNode: values['by-node'],
    request: {
      CommandId: commandId,
      ...run,
      ...(Object.keys(params).length > 0 ? { Parameters: params } : {}),
    },
  };
}

function createCli(argv: string[]): Promise<number> {
  return withParsed(parseCommandCreate(argv, process.env), async (p, api) => {
    const answer = await api.call<CommandIdAnswer>('CreateCommand', p.request);
    line(p.client.json ? JSON.stringify(answer) : answer.CommandId);
    return 0;
  });
}

const COMMANDS_TABLE: TableSpec<CommandView> = {
  header: ['COMMAND ID', 'NAME', 'TIMEOUT', 'PARAMETERS', 'RUNS', 'CREATED', 'CONTENT'],
  row: (c) => [
    c.CommandId,
    c.Name,
    String(c.Timeout),
    orDash(c.ParameterNames?.ParameterName.join(',')),
    String(c.InvokeTimes),
    c.CreationTime,
    truncate(c.CommandContent.replace(/\s+/g, ' '), 60),
  ],
  wide: {
    header: ['USER', 'DIR', 'DESCRIPTION'],
    row: (c) => [orDash(c.Username), orDash(c.WorkingDir), orDash(c.Description)],
  },
};

function listCli(argv: string[]): Promise<number> {
  return withParsed(parseCommandList(argv, process.env), async (p, api) => {
    const commands = await pages<DescribeCommandsAnswer, CommandView>(
      api,
      p.client,
      'DescribeCommands',
      p.request,
      (a) => ({ rows: a.Commands.Command, next: a.NextToken }),
    );
    await printListing(p.client.output, COMMANDS_TABLE, commands);
    return 0;
  });
}

function modifyCli(argv: string[]): Promise<number> {
  return withParsed(parseCommandModify(argv, process.env), async (p, api) => {
    const answer = await api.call('ModifyCommand', p.request);
    line(p.client.json ? JSON.stringify(answer) : `modified ${String(p.request.CommandId)}`);
    return 0;
  });
}

function deleteCli(argv: string[]): Promise<number> {
  return withParsed(parseCommandDelete(argv, process.env), async (p, api) => {
    const answer = await api.call('DeleteCommand', p.request);
    line(p.client.json ? JSON.stringify(answer) : `deleted ${String(p.request.CommandId)}`);
    return 0;
  });
}

function invokeCli(argv: string[]): Promise<number> {
  return withParsed(parseCommandInvoke(argv, process.env), async (p, api) =>
    afterInvoke(api, p.client, await api.call('InvokeCommand', p.request), p.wait, p.byNode),
  );
}

/** Saved commands: `fleetcmd command create|list|modify|delete|invoke`. */
export async function commandCli(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'create':
      return createCli(rest);
    case 'list':
      return listCli(rest);
    case 'modify':
      return modifyCli(rest);
    case 'delete':
      return deleteCli(rest);
    case 'invoke':
      return invokeCli(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      line(COMMAND_HELP);
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command subcommand ${JSON.stringify(sub)}`, COMMAND_HELP);
  }
}
