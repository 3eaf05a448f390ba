import { z } from 'zod';
import type { Answer } from './response.js';
import { maxResults } from './common.js';

/** A UTC time as ISO-8601 with `Z` (seconds and milliseconds optional), in ms. */
const isoTime = z
  .string()
  .regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,3})?)?Z$/, {
    message: 'must be UTC ISO-8601 such as 2024-01-02T03:04:05Z',
  })
  .transform((v, ctx) => {
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'is not a valid date' });
      return z.NEVER;
    }
    return ms;
  });

export const describeAuditEventsSchema = z.strictObject({
  /** Only events at or after this time. */
  StartTime: isoTime.optional(),
  /** Only events at or before this time. */
  EndTime: isoTime.optional(),
  /** Only events of this action (RunCommand, AddNode, ...). */
  Action: z.string().min(1).max(64).optional(),
  /** Only events of this actor (token name, AccessKeyId or cli:user@host). */
  Actor: z.string().min(1).max(256).optional(),
  MaxResults: maxResults,
  NextToken: z.string().max(512).optional(),
});

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const auditEventSchema = z.strictObject({
  EventId: z.string().describe('Unique and ordered: `<ms>-<seq>` of the audit stream'),
  Time: z.string().describe('UTC with milliseconds, `2020-01-19T09:15:46.123Z`'),
  Action: z.string(),
  Interface: z.enum(['api', 'rpc', 'cli']),
  Actor: z.string().optional().describe('Absent when the caller was not authenticated'),
  ActorType: z.enum(['ApiToken', 'AccessKey', 'Cli']).optional(),
  SourceIp: z.string(),
  RequestId: z.string(),
  HttpStatus: z.number().int().describe('0 for a CLI command'),
  ResultCode: z.string().describe('`Success`, or the error code the caller was answered with'),
  NodeIds: z.array(z.string()).optional().describe('The first 10 target nodes'),
  NodeCount: z.number().int().optional(),
  ResourceTag: z
    .array(z.strictObject({ Key: z.string(), Value: z.string().optional() }))
    .optional(),
  CommandContentSha256: sha256.optional(),
  ContentSha256: sha256.optional().describe('SendFile: of the file’s bytes'),
  Parameters: z
    .array(z.strictObject({ Name: z.string(), Sha256: sha256 }))
    .optional()
    .describe('Parameter names with the SHA-256 of each value; values are never stored'),
  InvokeId: z.string().optional(),
  CommandId: z.string().optional(),
  AccessKeyId: z.string().optional().describe('key add|remove: the key (never its secret)'),
});

export const describeAuditEventsResponse = z.strictObject({
  RequestId: z.string(),
  NextToken: z.string().optional().describe('Present while more pages remain'),
  AuditEvents: z.strictObject({ AuditEvent: z.array(auditEventSchema) }),
});

export type DescribeAuditEventsAnswer = Answer<typeof describeAuditEventsResponse>;
export type AuditEventView = z.output<typeof auditEventSchema>;
