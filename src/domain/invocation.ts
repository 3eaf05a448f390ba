import type { NodeStatus } from './status.js';

export type RepeatMode = 'Once' | 'Period' | 'NextRebootOnly' | 'EveryReboot';
export type TerminationMode = 'ProcessTree' | 'Process';
export type ContentEncoding = 'PlainText' | 'Base64';

/** What a SendFile invocation writes on each node; its file name is the invocation's `name`. */
export interface FileSpec {
  /** Absolute directory the file goes into (created when missing). */
  targetDir: string;
  /** Octal permission text as sent, e.g. `0644`. */
  fileMode: string;
  /** '' is the agent's own user. */
  fileOwner: string;
  /** '' is the owner's primary group. */
  fileGroup: string;
  overwrite: boolean;
  /** How the content was sent, and how DescribeSendFileResults shows it. */
  contentType: ContentEncoding;
}

/** Commands and sent files share records and dispatch, but are listed by their own actions. */
export type InvocationKind = 'command' | 'file';

export function invocationKind(inv: Invocation): InvocationKind {
  return inv.file ? 'file' : 'command';
}

/** Content limit: 24 KiB once Base64-encoded, as the vendor's API. */
export const MAX_CONTENT_BASE64_BYTES = 24 * 1024;

/** Length of `byteLength` bytes once Base64-encoded (with padding). */
export function base64Length(byteLength: number): number {
  return Math.ceil(byteLength / 3) * 4;
}

/** An invocation as stored: the request after validation, plus bookkeeping. */
export interface Invocation {
  invokeId: string;
  commandId: string;
  name: string;
  description: string;
  /** The command text, exactly as the user meant it (decoded when sent as Base64). */
  content: Buffer;
  nodeIds: string[];
  frequency: string;
  repeatMode: RepeatMode;
  timeoutSeconds: number;
  username: string;
  workingDir: string;
  parameters: Record<string, string>;
  enableParameter: boolean;
  terminationMode: TerminationMode;
  launcher: string;
  createdMs: number;
  /** Present on a SendFile invocation: `content` is then the file's bytes. */
  file?: FileSpec;
  /** Rollout control as sent (`"50"`, `"10%"`); absent or '' = no limit (domain/rollout.ts). */
  maxConcurrency?: string;
  maxErrors?: string;
}

/**
 * An invocation without its target list: what a run job and a rollout step need (a tag target's
 * list may hold 100,000 ids, kept beside the hash).
 */
export type InvocationHead = Omit<Invocation, 'nodeIds'>;

/** One node's run of an invocation, as the agent and the scheduler record it. */
export interface RunRecord {
  status: NodeStatus;
  createdMs: number | undefined;
  updatedMs: number | undefined;
  startedMs: number | undefined;
  finishedMs: number | undefined;
  stoppedMs: number | undefined;
  exitCode: number | undefined;
  errorCode: string;
  errorInfo: string;
  output: Buffer | undefined;
  dropped: number;
  repeats: number;
  /** Whether this node's schedule may still fire (the seed's `Timed`). */
  timed: boolean;
  /** Fires skipped because the previous run was still pending or running. */
  skipped: number;
  /** The fire the latest run belongs to ('' for a one-off run). */
  fire: string;
  /** When that fire was due (ms), for fires of a clock schedule. */
  fireMs: number | undefined;
}

/** A node listed in an invocation that has no run record yet: accepted, not yet delivered. */
export function pendingRun(createdMs: number, timed = false): RunRecord {
  return {
    status: 'Pending',
    createdMs,
    updatedMs: createdMs,
    startedMs: undefined,
    finishedMs: undefined,
    stoppedMs: undefined,
    exitCode: undefined,
    errorCode: '',
    errorInfo: '',
    output: undefined,
    dropped: 0,
    repeats: 0,
    timed,
    skipped: 0,
    fire: '',
    fireMs: undefined,
  };
}
