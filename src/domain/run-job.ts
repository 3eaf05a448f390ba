import { z } from 'zod';

/**
 * What the scheduler puts in a node's queue for one run, and what the agent accepts from it.
 * The agent validates it again: a malformed job is reported Error, never guessed at.
 */
export const runJobSchema = z.object({
  invokeId: z.string().regex(/^t-[a-z0-9]{6,40}$/),
  commandId: z.string().max(64).default(''),
  /** Base64 of the command text. */
  content: z.string().max(64 * 1024),
  username: z.string().max(255).default(''),
  workingDir: z.string().max(4096).default(''),
  timeoutSeconds: z.number().int().min(1).max(86_400),
  terminationMode: z.enum(['ProcessTree', 'Process']).default('ProcessTree'),
  launcher: z.string().max(1024).default(''),
});

export type RunJob = z.infer<typeof runJobSchema>;
