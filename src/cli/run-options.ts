/**
 * The per-run flags that `run` and `command invoke` share (nodes, schedule, timeout, user,
 * directory, --wait), their help lines, and the RunCommand/InvokeCommand fields they become.
 */
import { given, targetFields, wholeNumber, type Body } from './client-args.js';
import { UsageError } from './usage-error.js';

export const RUN_OPTIONS = {
  nodes: { type: 'string' },
  target: { type: 'string' },
  timeout: { type: 'string' },
  username: { type: 'string' },
  'working-dir': { type: 'string' },
  frequency: { type: 'string' },
  'repeat-mode': { type: 'string' },
  'max-concurrency': { type: 'string' },
  'max-errors': { type: 'string' },
  wait: { type: 'boolean', default: false },
  'by-node': { type: 'boolean', default: false },
} as const;

export const RUN_OPTIONS_HELP = `  --nodes LIST          comma-separated node ids (this or --target)
  --target TAGS         the nodes whose tags match every key=value pair (a bare key: any
                        value), e.g. gpu=h100,rack=r12; resolved once, when submitted
  --frequency TEXT      a schedule: six-field cron (seconds first), rate(5m) or at(...)
  --repeat-mode MODE    Once, Period, NextRebootOnly, EveryReboot, or DryRun (check the
                        request and print how many nodes it reaches; runs nothing)
  --timeout SECONDS     kill the command after this long (default 60)
  --username NAME       run as this user (default: the agent's user)
  --working-dir PATH    working directory (default: the user's home)
  --max-concurrency N   at most N nodes (or N% of them) run at once; the next starts as one ends
  --max-errors N        once more than N nodes (or N%) failed, the nodes not started are
                        Cancelled (MaxErrorsExceeded); see docs/rollout.md
  --wait                show progress while the nodes run, then each node's output (over 5
                        nodes: groups of identical answers, largest first); the exit code tells
                        how it ended (see fleetcmd --help); one-off runs only
  --by-node             with --wait, every node's output even over 5 nodes`;

/** The per-run fields of RunCommand and InvokeCommand, from RUN_OPTIONS. */
export function runFields(
  values: {
    nodes?: string;
    target?: string;
    timeout?: string;
    username?: string;
    'working-dir'?: string;
    frequency?: string;
    'repeat-mode'?: string;
    'max-concurrency'?: string;
    'max-errors'?: string;
    wait: boolean;
  },
  usage: string,
): Body {
  const targets = targetFields(values, usage);
  const mode = values['repeat-mode'];
  // A schedule or a boot mode never ends by itself, so there is nothing to wait for.
  if (values.wait && (values.frequency || (mode && mode !== 'Once'))) {
    throw new UsageError('--wait works with one-off runs only: a schedule does not end by itself');
  }
  return {
    ...targets,
    ...given({
      Timeout: wholeNumber('timeout', values.timeout, 1, 86_400),
      Username: values.username,
      WorkingDir: values['working-dir'],
      Frequency: values.frequency,
      RepeatMode: mode,
      MaxConcurrency: values['max-concurrency'],
      MaxErrors: values['max-errors'],
    }),
  };
}
