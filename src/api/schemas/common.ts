import { z } from 'zod';
import { NODE_ID_RE } from '../../shared/config.js';
import { AppError } from '../../app/errors.js';
import { resourceTag, tagMatchList } from './tag-fields.js';

/** Booleans as JSON booleans, or the texts "true"/"false" the vendor's clients send. */
export const flag = z
  .union([z.boolean(), z.enum(['true', 'false'])])
  .transform((v) => v === true || v === 'true');

export const nodeId = z.string().regex(NODE_ID_RE, { message: 'is not a valid node id' });
export const invokeId = z.string().min(1).max(64);

/** The nodes an invocation targets: 1..1000 distinct node ids. */
export const nodeIdList = z
  .array(nodeId)
  .min(1, { message: 'must name at least one node' })
  .max(1000, { message: 'may name at most 1000 nodes' })
  .refine((ids) => new Set(ids).size === ids.length, { message: 'names a node twice' });

/** A user name as a node's account database takes it ('' = the default). */
export const userName = z
  .string()
  .max(255)
  .regex(/^$|^[A-Za-z_][A-Za-z0-9_.-]*\$?$/, { message: 'is not a valid user name' });

export const maxResults = z.number().int().min(1).max(50).default(10);

/** The target fields of RunCommand, InvokeCommand and SendFile: exactly one is given. */
export const TARGET_FIELDS = ['NodeIdList', 'ResourceTag'] as const;

/** RunCommand's RepeatMode: DryRun checks the request and runs nothing. */
export const runRepeatMode = z.enum(['Once', 'Period', 'NextRebootOnly', 'EveryReboot', 'DryRun']);

/**
 * MaxConcurrency / MaxErrors: a number of nodes (`"50"`) or a percentage of the targets
 * (`"10%"`), checked further where the invocation is submitted (domain/rollout.ts).
 */
const rolloutLimit = z
  .union([z.string().max(16), z.number().int().min(0).max(1_000_000)])
  .transform(String)
  .meta({ description: 'A number of nodes ("50") or a percentage of the targets ("10%")' });

export const runCommandSchema = z.strictObject({
  /** Exactly one of NodeIdList and ResourceTag (checked by the action: see app/targets.ts). */
  NodeIdList: nodeIdList.optional(),
  ResourceTag: resourceTag.optional(),
  CommandContent: z.string().min(1, { message: 'must not be empty' }),
  ContentEncoding: z.enum(['PlainText', 'Base64']).default('PlainText'),
  Name: z.string().max(128).default(''),
  Description: z.string().max(512).default(''),
  Frequency: z.string().max(256).default(''),
  RepeatMode: runRepeatMode.optional(),
  Timeout: z.number().int().min(1).max(86_400).default(60),
  Username: userName.default(''),
  WorkingDir: z
    .string()
    .max(4096)
    .refine((d) => !d.includes('\0'), { message: 'must not contain NUL' })
    .default(''),
  EnableParameter: flag.default(false),
  Parameters: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
    .refine((p) => Object.keys(p).length <= 10, { message: 'may hold at most 10 entries' })
    .default({}),
  TerminationMode: z.enum(['ProcessTree', 'Process']).default('ProcessTree'),
  Launcher: z.string().max(1024).default(''),
  ClientToken: z
    .string()
    .max(64)
    .regex(/^[\x20-\x7e]*$/, { message: 'must be printable ASCII' })
    .optional(),
  MaxConcurrency: rolloutLimit.optional(),
  MaxErrors: rolloutLimit.optional(),
});

export const describeInvocationsSchema = z.strictObject({
  InvokeId: invokeId.optional(),
  NodeId: nodeId.optional(),
  CommandName: z.string().max(128).optional(),
  InvokeStatus: z.string().max(32).optional(),
  RepeatMode: z.enum(['Once', 'Period', 'NextRebootOnly', 'EveryReboot']).optional(),
  IncludeOutput: flag.default(false),
  ContentEncoding: z.enum(['PlainText', 'Base64']).default('Base64'),
  MaxResults: maxResults,
  NextToken: z.string().max(512).optional(),
});

export const describeInvocationResultsSchema = z.strictObject({
  InvokeId: invokeId.optional(),
  NodeId: nodeId.optional(),
  /** A node status (Running, Success, ...) or its legacy name (Finished, ...). */
  InvokeRecordStatus: z.string().max(32).optional(),
  IncludeHistory: flag.default(false),
  ContentEncoding: z.enum(['PlainText', 'Base64']).default('Base64'),
  MaxResults: maxResults,
  NextToken: z.string().max(512).optional(),
});

export const stopInvocationSchema = z.strictObject({
  InvokeId: invokeId,
  NodeIdList: z.array(nodeId).min(1).max(1000).optional(),
});

export const describeNodesSchema = z.strictObject({
  NodeId: nodeId.optional(),
  /** Only nodes whose tags match every pair. */
  Tag: tagMatchList.optional(),
  Online: flag.optional(),
  MaxResults: maxResults,
  NextToken: z.string().max(512).optional(),
});

/** Keys that name JavaScript internals: refused anywhere in a body, never interpreted. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deeper bodies are refused: no action takes more than a few levels. */
const MAX_DEPTH = 16;

/**
 * Walks the body iteratively (a hostile body may nest 100k levels) for forbidden keys. Only
 * objects and arrays are visited: a long list of strings (NodeIdList) costs one check each.
 */
function checkKeys(body: unknown): void {
  const stack: { value: object; path: string[] }[] = [];
  if (body !== null && typeof body === 'object') stack.push({ value: body, path: [] });
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { value, path } = item;
    if (path.length >= MAX_DEPTH) {
      throw new AppError('InvalidParameter', `${path[0] ?? 'body'}: nested too deeply`);
    }
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) {
        throw new AppError(
          'InvalidParameter',
          `${[...path, key].join('.')}: this field name is not allowed`,
        );
      }
      const child: unknown = (value as Record<string, unknown>)[key];
      if (child !== null && typeof child === 'object')
        stack.push({ value: child, path: [...path, key] });
    }
  }
}

/**
 * Parses a request body. The error names every field at fault (up to three): missing
 * fields first (code MissingParameter), then unknown ones, then wrong values.
 */
export function parseBody<S extends z.ZodType>(
  schema: S,
  body: unknown,
  /** Two fields of which exactly one must be given (NodeIdList or ResourceTag). */
  oneOf?: readonly [string, string],
): z.output<S> {
  if (body === undefined || body === null) body = {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError('InvalidParameter', 'the request body must be a JSON object');
  }
  checkKeys(body);
  const missing: string[] = [];
  const wrong: string[] = [];
  if (oneOf) {
    const [a, b] = oneOf;
    const given = oneOf.filter((f) => (body as Record<string, unknown>)[f] !== undefined);
    if (given.length === 0) missing.push(`${a} is required (or ${b}: one of them)`);
    if (given.length === 2) wrong.push(`${a}, ${b}: give one of them, not both`);
  }
  const r = schema.safeParse(body);
  if (r.success && missing.length + wrong.length === 0) return r.data;
  const unknown: string[] = [];
  const issues = r.success ? [] : r.error.issues;
  for (const issue of issues) {
    const field = issue.path.map(String).join('.') || 'body';
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.length > 0 ? ` in ${field}` : '';
      unknown.push(
        `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}${where} (field names are case-sensitive)`,
      );
    } else if (issue.code === 'invalid_type' && isMissing(body, issue.path)) {
      missing.push(`${field} is required`);
    } else {
      wrong.push(`${field}: ${issue.message}`);
    }
  }
  const message = [...missing, ...unknown, ...wrong].slice(0, 3).join('; ');
  throw new AppError(missing.length > 0 ? 'MissingParameter' : 'InvalidParameter', message);
}

function isMissing(body: unknown, path: readonly PropertyKey[]): boolean {
  let cur: unknown = body;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return true;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur === undefined;
}
