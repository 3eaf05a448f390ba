import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  errorInfoFor,
  exitCodeOf,
  outcomeOf,
  type ExecOutcome,
  type KilledFor,
  type LaunchExit,
} from '../../workers/agent/exec/outcome.js';
import { RUN_ERRORS } from '../../src/domain/run-errors.js';

const KILLED: (KilledFor | undefined)[] = [undefined, 'timeout', 'stop', 'shutdown'];

/** What, how it ended, why the agent killed it, and the outcome (detail given: 'why'). */
const CASES: [string, LaunchExit, KilledFor | undefined, ExecOutcome][] = [
  [
    'never started',
    'failed',
    undefined,
    {
      status: 'Error',
      exitCode: undefined,
      errorCode: 'ExecutionException',
      started: false,
      detail: 'why',
    },
  ],
  [
    'never started, even when stopped',
    'failed',
    'stop',
    {
      status: 'Error',
      exitCode: undefined,
      errorCode: 'ExecutionException',
      started: false,
      detail: 'why',
    },
  ],
  [
    'lost while draining',
    'lost',
    'shutdown',
    { status: 'Error', exitCode: undefined, errorCode: 'ExecutionInterrupted', started: true },
  ],
  [
    'lost',
    'lost',
    'timeout',
    {
      status: 'Error',
      exitCode: undefined,
      errorCode: 'ExecutionException',
      started: true,
      detail: 'why',
    },
  ],
  [
    'exit 0',
    { code: 0, signal: null },
    undefined,
    { status: 'Success', exitCode: 0, errorCode: '', started: true },
  ],
  [
    'exit 3',
    { code: 3, signal: null },
    undefined,
    { status: 'Failed', exitCode: 3, errorCode: 'ExitCodeNonzero', started: true },
  ],
  [
    'killed by a signal of its own',
    { code: null, signal: 'SIGSEGV' },
    undefined,
    { status: 'Failed', exitCode: 139, errorCode: 'ExitCodeNonzero', started: true },
  ],
  [
    'timed out',
    { code: null, signal: 'SIGKILL' },
    'timeout',
    { status: 'Timeout', exitCode: 137, errorCode: 'ExecutionTimeout', started: true },
  ],
  [
    'exit 0 after the timeout fired',
    { code: 0, signal: null },
    'timeout',
    { status: 'Timeout', exitCode: 0, errorCode: 'ExecutionTimeout', started: true },
  ],
  [
    'stopped',
    { code: null, signal: 'SIGKILL' },
    'stop',
    { status: 'Terminated', exitCode: 137, errorCode: '', started: true },
  ],
  [
    'killed by a drain',
    { code: null, signal: 'SIGKILL' },
    'shutdown',
    { status: 'Error', exitCode: 137, errorCode: 'ExecutionInterrupted', started: true },
  ],
];

void describe('exit -> outcome', () => {
  for (const [name, exit, killedFor, expected] of CASES) {
    void it(name, () => {
      assert.deepEqual(outcomeOf(exit, killedFor, 'why'), expected);
    });
  }

  void it('gives no detail key when there is none', () => {
    assert.equal('detail' in outcomeOf('failed', undefined, undefined), false);
    assert.equal('detail' in outcomeOf('lost', undefined, undefined), false);
  });

  void it('an exit code is reported as is; the status follows why the agent killed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...KILLED), (code, why) => {
        const o = outcomeOf({ code, signal: null }, why, 'why');
        assert.equal(o.exitCode, code);
        assert.equal(o.started, true);
        assert.equal('detail' in o, false);
        const status =
          why === 'timeout'
            ? 'Timeout'
            : why === 'stop'
              ? 'Terminated'
              : why === 'shutdown'
                ? 'Error'
                : code === 0
                  ? 'Success'
                  : 'Failed';
        assert.equal(o.status, status);
      }),
    );
  });
});

void describe('exit codes', () => {
  void it('is the code, else 128 + the signal number, as a shell reports it', () => {
    assert.equal(exitCodeOf({ code: 0, signal: null }), 0);
    assert.equal(exitCodeOf({ code: 255, signal: null }), 255);
    assert.equal(exitCodeOf({ code: null, signal: 'SIGHUP' }), 129);
    assert.equal(exitCodeOf({ code: null, signal: 'SIGKILL' }), 137);
    assert.equal(exitCodeOf({ code: null, signal: 'SIGTERM' }), 143);
    assert.equal(exitCodeOf({ code: null, signal: null }), 128);
  });
});

void describe('errorInfoFor', () => {
  void it("is '' for no error and the catalogue's text otherwise", () => {
    assert.equal(errorInfoFor(''), '');
    assert.equal(errorInfoFor('ExecutionTimeout'), RUN_ERRORS.ExecutionTimeout);
  });
});
