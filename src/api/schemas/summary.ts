import { z } from 'zod';
import { FINAL_STATUS_NAMES, NODE_STATUSES } from '../../domain/status.js';
import { flag, invokeId } from './common.js';

/** SummarizeInvocation: an invocation's results as groups of identical answers. */
export const summarizeInvocationSchema = z.strictObject({
  InvokeId: invokeId,
  IncludeOutput: flag.default(false),
  ContentEncoding: z.enum(['PlainText', 'Base64']).default('Base64'),
});

export const outputGroupSchema = z.strictObject({
  InvocationStatus: z.enum(NODE_STATUSES),
  ExitCode: z.number().int().optional().describe('Absent when the runs have none'),
  OutputDigest: z
    .string()
    .describe('sha256 (hex) of the stored output bytes, computed by the agent; "" when none ran'),
  NodeCount: z.number().int().describe('Runs in the group (of a timed invocation: every fire)'),
  NodeIds: z.strictObject({
    NodeId: z.array(z.string()).describe('Up to 10 of the group’s nodes'),
  }),
  Output: z.string().optional().describe('With IncludeOutput: the output of the first node'),
});

export const summarizeInvocationResponse = z.strictObject({
  RequestId: z.string(),
  Groups: z.strictObject({ Group: z.array(outputGroupSchema) }),
});

export type OutputGroupView = z.output<typeof outputGroupSchema>;
export type SummarizeInvocationAnswer = Omit<
  z.output<typeof summarizeInvocationResponse>,
  'RequestId'
>;

/** Final statuses a rerun may select nodes by (a node whose run has not ended is never rerun). */
const RERUN_STATUSES = FINAL_STATUS_NAMES;

/** RerunInvocation: the same run again, on the nodes whose last run ended with one of Status. */
export const rerunInvocationSchema = z.strictObject({
  InvokeId: invokeId,
  Status: z
    .array(z.enum(RERUN_STATUSES))
    .min(1)
    .max(RERUN_STATUSES.length)
    .optional()
    .describe('Default: every final status but Success'),
  ClientToken: z
    .string()
    .max(64)
    .regex(/^[\x20-\x7e]*$/, { message: 'must be printable ASCII' })
    .optional(),
});
