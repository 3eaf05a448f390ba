import { createHash } from 'node:crypto';
import { z } from 'zod';
import { base64Length, MAX_CONTENT_BASE64_BYTES } from './invocation.js';
import { MAX_PARAMETER_VALUES, ParameterError, substitute } from './params.js';
import type { RunErrorCode } from './run-errors.js';

/** The file part of a SendFile run: where and how the agent writes the job's content. */
export const fileJobSchema = z.object({
  name: z.string().min(1).max(255),
  targetDir: z.string().min(1).max(4096),
  /** Permission bits (FileMode parsed from octal). */
  mode: z.number().int().min(0).max(0o7777),
  owner: z.string().max(255).default(''),
  group: z.string().max(255).default(''),
  overwrite: z.boolean().default(false),
});

export type FileJob = z.infer<typeof fileJobSchema>;

/**
 * What the scheduler puts in a node's queue for one run, and what the agent accepts from it.
 * The agent validates it again: a malformed job is reported Error, never guessed at.
 */
export const runJobSchema = z
  .object({
    /** `t-…` runs a command; `f-…` writes a file and carries `file`. */
    invokeId: z.string().regex(/^[tf]-[a-z0-9]{6,40}$/),
    /** The fire this run belongs to: '' for a one-off run, `f<ms>` or `b<digest>` for a timed one. */
    fire: z
      .string()
      .regex(/^(?:[fb][a-z0-9]{1,40})?$/)
      .default(''),
    commandId: z.string().max(64).default(''),
    /** Base64 of the command text (of the file's bytes for a file run). */
    content: z.string().max(64 * 1024),
    username: z.string().max(255).default(''),
    workingDir: z.string().max(4096).default(''),
    timeoutSeconds: z.number().int().min(1).max(86_400),
    terminationMode: z.enum(['ProcessTree', 'Process']).default('ProcessTree'),
    launcher: z.string().max(1024).default(''),
    /** Whether `{{...}}` references in the content are replaced on the node (SPEC §4). */
    enableParameter: z.boolean().default(false),
    /** The values of the content's custom parameters (only with enableParameter). */
    parameters: z
      .record(z.string(), z.string())
      .refine((p) => Object.keys(p).length <= MAX_PARAMETER_VALUES)
      .default({}),
    file: fileJobSchema.optional(),
    /**
     * A schedule's fire delivered ahead of its slot: the agent waits for the slot on its
     * corrected clock, then claims it. `fired`: the delivery moved the record to Pending for
     * this fire; else the previous run had not ended then, and the agent first fires it on the
     * record itself at the slot (run-fire-3.lua, with these arguments). Absent: run at once.
     */
    ahead: z
      .object({
        slotMs: z.number().int().nonnegative(),
        fired: z.boolean(),
        final: z.boolean(),
        passedOverMs: z.number().int().nonnegative().optional(),
      })
      .optional(),
  })
  .refine((j) => j.invokeId.startsWith('f-') === (j.file !== undefined), {
    message: 'a file run (f-) and only a file run carries a file part',
  });

export type RunJob = z.infer<typeof runJobSchema>;

/**
 * The content one node runs: the job's, with its parameters and the built-ins (this run's and
 * this node's ids) replaced when enableParameter is set; or why it cannot run (the run is then
 * Invalid).
 */
export function contentForNode(
  job: RunJob,
  nodeId: string,
): { content: Buffer } | { errorCode: RunErrorCode } {
  const content = Buffer.from(job.content, 'base64');
  if (!job.enableParameter) return { content };
  let replaced: Buffer;
  try {
    replaced = substitute(content, job.parameters, {
      invokeId: job.invokeId,
      nodeId,
      commandId: job.commandId,
    });
  } catch (err) {
    if (err instanceof ParameterError) return { errorCode: 'ParameterInvalid' };
    throw err;
  }
  if (base64Length(replaced.length) > MAX_CONTENT_BASE64_BYTES) {
    return { errorCode: 'ContentLengthLimitExceeded' };
  }
  return { content: replaced };
}

/** The fire id of a node's boot: the same boot always gives the same id. */
export function bootFireId(bootId: string): string {
  return `b${createHash('sha256').update(bootId).digest('hex').slice(0, 16)}`;
}

/**
 * What a node's boot trigger holds (written by the scheduler, read by the agent at boot): the
 * run to enqueue, and whether it is the invocation's last (NextRebootOnly).
 */
export const bootTriggerSchema = z.object({ final: z.boolean(), job: runJobSchema });

export type BootTrigger = z.infer<typeof bootTriggerSchema>;

export function parseBootTrigger(raw: string): BootTrigger | undefined {
  try {
    const r = bootTriggerSchema.safeParse(JSON.parse(raw));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
