import { z } from 'zod';
import { fileNameProblem } from '../../domain/send-file.js';
import { resourceTag } from './tag-fields.js';
import { flag, invokeId, maxResults, nodeId, nodeIdList, userName } from './common.js';

/** A file name: one path component of at most 255 bytes (fileNameProblem). */
const fileName = z.string().superRefine((n, ctx) => {
  const problem = fileNameProblem(n);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** An absolute directory without `..` segments (it means what it says, wherever it resolves). */
const targetDir = z
  .string()
  .min(1, { message: 'must not be empty' })
  .max(4096)
  .refine((d) => d.startsWith('/'), { message: 'must be an absolute path' })
  .refine((d) => !d.includes('\0'), { message: 'must not contain NUL' })
  .refine((d) => !d.split('/').includes('..'), { message: 'must not contain .. segments' });

export const sendFileSchema = z.strictObject({
  NodeIdList: nodeIdList.optional(),
  ResourceTag: resourceTag.optional(),
  Name: fileName,
  TargetDir: targetDir,
  Content: z.string().min(1, { message: 'must not be empty' }),
  ContentType: z.enum(['PlainText', 'Base64']).default('PlainText'),
  FileMode: z
    .string()
    .regex(/^0?[0-7]{3,4}$/, { message: 'must be octal permissions such as 0644' })
    .default('0644'),
  FileOwner: userName.default(''),
  FileGroup: userName.default(''),
  Overwrite: flag.default(false),
  Timeout: z.number().int().min(1).max(86_400).default(60),
  Description: z.string().max(512).default(''),
});

export const describeSendFileResultsSchema = z.strictObject({
  InvokeId: invokeId.optional(),
  NodeId: nodeId.optional(),
  Name: z.string().max(255).optional(),
  /** An aggregate status (Success, PartialFailed, ...), or its legacy name. */
  InvocationStatus: z.string().max(32).optional(),
  MaxResults: maxResults,
  NextToken: z.string().max(512).optional(),
});
