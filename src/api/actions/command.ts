import { AppError } from '../../app/errors.js';
import type { IndexEntry } from '../../store/index-page.js';
import type { SavedCommand } from '../../store/command-store.js';
import {
  createCommandSchema,
  deleteCommandSchema,
  describeCommandsSchema,
  IMMUTABLE_COMMAND_FIELDS,
  invokeCommandSchema,
  modifyCommandSchema,
} from '../schemas/command.js';
import { newId } from '../../app/invocations.js';
import type { Action, ActionDeps } from '../../app/deps.js';
import { listPage, type Listing } from './listing.js';
import { submitAnswer } from './submit-answer.js';
import { targetNodes } from '../../app/targets.js';
import { defineAction, type ActionEntry } from './define-action.js';
import { renderCommand } from '../render.js';
import {
  commandIdResponse,
  describeCommandsResponse,
  emptyResponse,
  submitResponse,
  type CommandIdAnswer,
  type DescribeCommandsAnswer,
  type EmptyAnswer,
  type SubmitAnswer,
} from '../schemas/response.js';
import { parseBody, TARGET_FIELDS } from '../schemas/common.js';
import {
  contentParameterNames,
  decodeCommandContent,
  submitInvocation,
} from '../../app/submit-invocation.js';

/** The saved command, or 404 InvalidCommandId.NotFound. */
async function existingCommand(deps: ActionDeps, commandId: string): Promise<SavedCommand> {
  const cmd = await deps.commands.get(commandId);
  if (!cmd) {
    throw new AppError(
      'InvalidCommandId.NotFound',
      `CommandId: no command ${JSON.stringify(commandId)}`,
    );
  }
  return cmd;
}

const createCommand: Action<CommandIdAnswer> = async (body, deps) => {
  const req = parseBody(createCommandSchema, body);
  const content = decodeCommandContent(req.CommandContent, req.ContentEncoding);
  // A parameterised content must read as a template now, not fail at every invocation.
  if (req.EnableParameter) contentParameterNames(content);
  const commandId = newId('c-');
  await deps.commands.create({
    commandId,
    name: req.Name,
    description: req.Description,
    content,
    workingDir: req.WorkingDir,
    timeoutSeconds: req.Timeout,
    username: req.Username,
    enableParameter: req.EnableParameter,
    launcher: req.Launcher,
    terminationMode: req.TerminationMode,
  });
  return { CommandId: commandId };
};

const isEntry = (v: unknown): v is IndexEntry =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as IndexEntry).id === 'string' &&
  typeof (v as IndexEntry).ms === 'number';

/** The saved commands' index; a deleted command reads as gone. */
const commandListing = (deps: ActionDeps): Listing<IndexEntry, SavedCommand> => ({
  page: (count, cursor) => deps.commands.page(count, cursor),
  load: (at) => Promise.all(at.map((a) => deps.commands.get(a.id))),
  isCursor: isEntry,
});

const describeCommands: Action<DescribeCommandsAnswer> = async (body, deps) => {
  const req = parseBody(describeCommandsSchema, body);
  const matches = (c: SavedCommand) => req.Name === undefined || c.name === req.Name;
  const view = (c: SavedCommand) => renderCommand(c, req.ContentEncoding);

  if (req.CommandId !== undefined) {
    const cmd = await deps.commands.get(req.CommandId);
    const list = cmd && matches(cmd) ? [view(cmd)] : [];
    return { TotalCount: list.length, Commands: { Command: list } };
  }

  const { found, nextToken } = await listPage(commandListing(deps), {
    nextToken: req.NextToken,
    keep: async (cmd) => matches(cmd),
    full: (page) => page.length === req.MaxResults,
  });
  return {
    ...(req.Name === undefined ? { TotalCount: await deps.commands.count() } : {}),
    ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
    Commands: { Command: found.map(view) },
  };
};

const modifyCommand: Action<EmptyAnswer> = async (body, deps) => {
  if (typeof body === 'object' && body !== null) {
    const field = IMMUTABLE_COMMAND_FIELDS.find((f) => Object.hasOwn(body, f));
    if (field !== undefined) {
      throw new AppError(
        'InvalidParameter',
        `${field}: cannot be modified once a command is saved; create a new command instead`,
      );
    }
  }
  const req = parseBody(modifyCommandSchema, body);
  const changed = await deps.commands.modify(req.CommandId, {
    name: req.Name,
    description: req.Description,
    workingDir: req.WorkingDir,
    timeoutSeconds: req.Timeout,
    username: req.Username,
    launcher: req.Launcher,
    terminationMode: req.TerminationMode,
  });
  if (!changed) await existingCommand(deps, req.CommandId);
  return {};
};

const deleteCommand: Action<EmptyAnswer> = async (body, deps) => {
  const req = parseBody(deleteCommandSchema, body);
  if (!(await deps.commands.delete(req.CommandId))) await existingCommand(deps, req.CommandId);
  return {};
};

/** Runs a saved command: its content and defaults, with this request's per-run overrides. */
const invokeCommand: Action<SubmitAnswer> = async (body, deps) => {
  const req = parseBody(invokeCommandSchema, body, TARGET_FIELDS);
  const { ClientToken, ...request } = req;
  const submitted = await submitInvocation(
    {
      clientToken: ClientToken,
      request,
      dryRun: req.RepeatMode === 'DryRun',
      // Only a first request reads the command: a retry is answered even once it is deleted.
      resolve: async () => {
        const cmd = await existingCommand(deps, req.CommandId);
        return {
          commandId: cmd.commandId,
          name: cmd.name,
          description: cmd.description,
          content: cmd.content,
          nodeIds: await targetNodes(req, deps),
          frequency: req.Frequency,
          repeatMode: req.RepeatMode === 'DryRun' ? undefined : req.RepeatMode,
          timeoutSeconds: req.Timeout ?? cmd.timeoutSeconds,
          username: req.Username ?? cmd.username,
          workingDir: req.WorkingDir ?? cmd.workingDir,
          parameters: req.Parameters,
          enableParameter: cmd.enableParameter,
          terminationMode: req.TerminationMode ?? cmd.terminationMode,
          launcher: cmd.launcher,
          maxConcurrency: req.MaxConcurrency ?? '',
          maxErrors: req.MaxErrors ?? '',
        };
      },
    },
    deps,
  );
  if ('created' in submitted && submitted.created) {
    await deps.commands.countInvocation(req.CommandId);
  }
  return submitAnswer(submitted);
};

/** The saved-command actions. */
export const COMMAND_ACTIONS: Readonly<Record<string, ActionEntry>> = {
  CreateCommand: defineAction({
    handler: createCommand,
    request: createCommandSchema,
    response: commandIdResponse,
    summary: 'Saves a command (content immutable once saved) with its defaults',
  }),
  DescribeCommands: defineAction({
    readOnly: true,
    handler: describeCommands,
    request: describeCommandsSchema,
    response: describeCommandsResponse,
    summary: 'Lists saved commands, newest first',
    // An unknown CommandId lists nothing rather than 404.
    notFoundFields: [],
  }),
  ModifyCommand: defineAction({
    handler: modifyCommand,
    request: modifyCommandSchema,
    response: emptyResponse,
    summary: 'Changes a saved command’s name, description or defaults (never its content)',
  }),
  DeleteCommand: defineAction({
    handler: deleteCommand,
    request: deleteCommandSchema,
    response: emptyResponse,
    summary: 'Deletes a saved command',
  }),
  InvokeCommand: defineAction({
    handler: invokeCommand,
    request: invokeCommandSchema,
    response: submitResponse,
    summary: 'Runs a saved command on nodes, with per-run overrides and parameters',
  }),
};
