import type { Invocation, RunRecord } from '../../domain/invocation.js';
import { MAX_FILE_BASE64_BYTES, setuidModeProblem } from '../../domain/send-file.js';
import { AppError } from '../../app/errors.js';
import {
  assertRegistered,
  createOrDiscard,
  existingInvocation,
  newId,
  statusIs,
} from '../../app/invocations.js';
import { decodeContent } from '../../app/content.js';
import { targetNodes } from '../../app/targets.js';
import type { Action } from '../../app/deps.js';
import { renderSendFile } from '../render.js';
import { describeSendFileResultsSchema, sendFileSchema } from '../schemas/file.js';
import { parseBody, TARGET_FIELDS } from '../schemas/common.js';
import {
  describeSendFileResultsResponse,
  invokeIdResponse,
  type DescribeSendFileResultsAnswer,
  type InvokeIdAnswer,
} from '../schemas/response.js';
import { defineAction, type ActionEntry } from './define-action.js';
import { invocationListing, listPage } from './listing.js';

const FILE_CONTENT = {
  field: 'Content',
  encodingField: 'ContentType',
  maxBase64Bytes: MAX_FILE_BASE64_BYTES,
  malformed: 'InvalidFileContent.Malformed',
  tooLong: 'InvalidFileContent.LengthLimitExceeded',
} as const;

/**
 * SendFile: a one-off invocation (`f-…`) whose runs write a file instead of running a command.
 * It goes through the same records, queues, dispatch and delivery deadline as RunCommand, and
 * is listed in its own index, so DescribeInvocations never shows it.
 */
const sendFile: Action<InvokeIdAnswer> = async (body, deps) => {
  const req = parseBody(sendFileSchema, body, TARGET_FIELDS);
  const modeProblem = deps.allowSetuidFiles
    ? undefined
    : setuidModeProblem(parseInt(req.FileMode, 8));
  if (modeProblem !== undefined) throw new AppError('InvalidParameter', `FileMode: ${modeProblem}`);
  const content = decodeContent(req.Content, req.ContentType, FILE_CONTENT);
  const nodeIds = await targetNodes(req, deps);
  await assertRegistered(deps, nodeIds);
  const inv: Invocation = {
    invokeId: newId('f-'),
    commandId: '',
    name: req.Name,
    description: req.Description,
    content,
    nodeIds,
    frequency: '',
    repeatMode: 'Once',
    timeoutSeconds: req.Timeout,
    username: '',
    workingDir: '',
    parameters: {},
    enableParameter: false,
    terminationMode: 'ProcessTree',
    launcher: '',
    createdMs: deps.clock(),
    file: {
      targetDir: req.TargetDir,
      fileMode: req.FileMode,
      fileOwner: req.FileOwner,
      fileGroup: req.FileGroup,
      overwrite: req.Overwrite,
      contentType: req.ContentType,
    },
  };
  await createOrDiscard(inv, deps);
  return { InvokeId: inv.invokeId };
};

/** Sent files, newest first, each with its nodes' results; NextToken pages by invocation. */
const describeSendFileResults: Action<DescribeSendFileResultsAnswer> = async (body, deps) => {
  const req = parseBody(describeSendFileResultsSchema, body);
  const shownNodes = (inv: Invocation) =>
    req.NodeId !== undefined ? inv.nodeIds.filter((n) => n === req.NodeId) : inv.nodeIds;
  const keep = async (inv: Invocation): Promise<boolean> => {
    if (req.NodeId !== undefined && !inv.nodeIds.includes(req.NodeId)) return false;
    if (req.Name !== undefined && inv.name !== req.Name) return false;
    if (req.InvocationStatus === undefined) return true;
    const runs = await deps.runs.read(inv.invokeId, shownNodes(inv), false);
    return statusIs(inv, runs, req.NodeId, req.InvocationStatus);
  };
  const view = async (inv: Invocation) => {
    const nodeIds = shownNodes(inv);
    const runs: Map<string, RunRecord> = await deps.runs.read(inv.invokeId, nodeIds, false);
    return inv.file ? renderSendFile({ ...inv, file: inv.file }, nodeIds, runs) : undefined;
  };

  let found: Invocation[];
  let nextToken: string | undefined;
  if (req.InvokeId !== undefined) {
    const inv = await existingInvocation(deps, req.InvokeId, 'file');
    found = (await keep(inv)) ? [inv] : [];
  } else {
    ({ found, nextToken } = await listPage(invocationListing(deps, 'file'), {
      nextToken: req.NextToken,
      keep,
      full: (page) => page.length === req.MaxResults,
    }));
  }
  const list = (await Promise.all(found.map(view))).filter((v) => v !== undefined);
  return {
    ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
    Invocations: { Invocation: list },
  };
};

export const FILE_ACTIONS: Readonly<Record<string, ActionEntry>> = {
  SendFile: defineAction({
    handler: sendFile,
    request: sendFileSchema,
    response: invokeIdResponse,
    summary: 'Writes a file on nodes, atomically, with its mode, owner and group',
  }),
  DescribeSendFileResults: defineAction({
    readOnly: true,
    handler: describeSendFileResults,
    request: describeSendFileResultsSchema,
    response: describeSendFileResultsResponse,
    summary: 'Lists file sends, newest first, with each node’s result',
  }),
};
