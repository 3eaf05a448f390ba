import { constants as osConstants } from 'node:os';
import { RUN_ERRORS, type RunErrorCode } from '../../../src/domain/run-errors.js';

export type ExecStatus = 'Success' | 'Failed' | 'Timeout' | 'Error' | 'Invalid' | 'Terminated';

export interface ExecOutcome {
  status: ExecStatus;
  exitCode: number | undefined;
  errorCode: RunErrorCode | '';
  started: boolean;
  /** Why an Error happened (for the agent's log), where the status alone does not say. */
  detail?: string;
}

export type StopReason = 'stop' | 'shutdown';

/** Why the agent killed a command, if it did. */
export type KilledFor = 'timeout' | StopReason;

/**
 * How a launched command ended: its exit code or signal; 'failed' when it never started; 'lost'
 * when it started but its end is unknown (its spawner died).
 */
export type LaunchExit = { code: number | null; signal: NodeJS.Signals | null } | 'failed' | 'lost';

function signalNumber(signal: NodeJS.Signals | null): number {
  if (!signal) return 0;
  return (osConstants.signals as Record<string, number>)[signal] ?? 0;
}

/** The exit code a shell would report: the code, else 128 + the number of the killing signal. */
export function exitCodeOf(exit: { code: number | null; signal: NodeJS.Signals | null }): number {
  return exit.code ?? 128 + signalNumber(exit.signal);
}

/** What a run's end means: its status, exit code and error code, and whether it started. */
export function outcomeOf(
  exit: LaunchExit,
  killedFor: KilledFor | undefined,
  detail: string | undefined,
): ExecOutcome {
  const error = (started: boolean): ExecOutcome => ({
    status: 'Error',
    exitCode: undefined,
    errorCode: 'ExecutionException',
    started,
    ...(detail !== undefined ? { detail } : {}),
  });
  if (exit === 'failed') return error(false);
  if (exit === 'lost' && killedFor === 'shutdown') {
    return {
      status: 'Error',
      exitCode: undefined,
      errorCode: 'ExecutionInterrupted',
      started: true,
    };
  }
  if (exit === 'lost') return error(true);
  const exitCode = exitCodeOf(exit);
  if (killedFor === 'timeout')
    return { status: 'Timeout', exitCode, errorCode: 'ExecutionTimeout', started: true };
  if (killedFor === 'stop') return { status: 'Terminated', exitCode, errorCode: '', started: true };
  if (killedFor === 'shutdown')
    return { status: 'Error', exitCode, errorCode: 'ExecutionInterrupted', started: true };
  if (exitCode === 0) return { status: 'Success', exitCode, errorCode: '', started: true };
  return { status: 'Failed', exitCode, errorCode: 'ExitCodeNonzero', started: true };
}

/** The errorInfo text a run reports with `code` ('' for none). */
export function errorInfoFor(code: RunErrorCode | ''): string {
  return code === '' ? '' : RUN_ERRORS[code];
}
