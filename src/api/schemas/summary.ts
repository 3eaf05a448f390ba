import { z } from 'zod';
import { FINAL_STATUS_NAMES } from '../../domain/status.js';
import { flag, invokeId } from './common.js';

/** SummarizeInvocation: an invocation's results as groups of identical answers. */
export const summarizeInvocationSchema = z.strictObject({
  InvokeId: invokeId,
  IncludeOutput: flag.default(false),
  ContentEncoding: z.enum(['PlainText', 'Base64']).default('Base64'),
});

/** The answer's schemas live with the other answers (response.ts), which the console imports. */
export {
  outputGroupSchema,
  summarizeInvocationResponse,
  type OutputGroupView,
  type SummarizeInvocationAnswer,
} from './response.js';

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
