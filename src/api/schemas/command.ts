import { z } from 'zod';
import { flag, runCommandSchema } from './common.js';

/** Saved command ids: `c-` and 17 lowercase letters and digits (checked loosely: 404 else). */
const commandId = z.string().min(1).max(64);

/** RunCommand's fields, with their checks and defaults, where a saved command has the same. */
const run = runCommandSchema.shape;

export const createCommandSchema = z.strictObject({
  Name: z.string().min(1).max(128),
  Description: run.Description,
  CommandContent: run.CommandContent,
  ContentEncoding: run.ContentEncoding,
  Type: z.literal('RunShellScript', { message: 'only RunShellScript is supported' }).optional(),
  WorkingDir: run.WorkingDir,
  Timeout: run.Timeout,
  Username: run.Username,
  EnableParameter: flag.default(false),
  Launcher: run.Launcher,
  TerminationMode: run.TerminationMode,
});

export const describeCommandsSchema = z.strictObject({
  CommandId: commandId.optional(),
  Name: z.string().max(128).optional(),
  MaxResults: z.number().int().min(1).max(50).default(10),
  NextToken: z.string().max(512).optional(),
  ContentEncoding: z.enum(['PlainText', 'Base64']).default('Base64'),
});

/** Fields a saved command may never change: its content and how the content reads. */
export const IMMUTABLE_COMMAND_FIELDS = ['CommandContent', 'EnableParameter'];

export const modifyCommandSchema = z.strictObject({
  CommandId: commandId,
  Name: createCommandSchema.shape.Name.optional(),
  Description: run.Description.unwrap().optional(),
  WorkingDir: run.WorkingDir.unwrap().optional(),
  Timeout: run.Timeout.unwrap().optional(),
  Username: run.Username.unwrap().optional(),
  Launcher: run.Launcher.unwrap().optional(),
  TerminationMode: run.TerminationMode.unwrap().optional(),
});

/** A saved command's run: RunCommand's per-run fields; absent ones take the command's. */
export const invokeCommandSchema = z.strictObject({
  CommandId: commandId,
  NodeIdList: run.NodeIdList,
  ResourceTag: run.ResourceTag,
  Timeout: run.Timeout.unwrap().optional(),
  WorkingDir: run.WorkingDir.unwrap().optional(),
  Username: run.Username.unwrap().optional(),
  Frequency: run.Frequency,
  RepeatMode: run.RepeatMode,
  Parameters: run.Parameters,
  TerminationMode: run.TerminationMode.unwrap().optional(),
  ClientToken: run.ClientToken,
  MaxConcurrency: run.MaxConcurrency,
  MaxErrors: run.MaxErrors,
});

export const deleteCommandSchema = z.strictObject({ CommandId: commandId });
