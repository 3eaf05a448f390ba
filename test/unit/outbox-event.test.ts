import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { outboxEvent } from '../../src/domain/events.js';

const DIGEST = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

void describe('outboxEvent: a RunFinished read from a node outbox', () => {
  void it('gives the run end the output groups and rollouts count', () => {
    const ev = outboxEvent(
      'n1',
      'RunFinished',
      JSON.stringify({
        InvokeId: 't-1',
        InvocationStatus: 'Failed',
        ExitCode: 3,
        Fire: 'f1000',
        OutputDigest: DIGEST,
      }),
    );
    assert.deepEqual(ev?.runEnd, {
      invokeId: 't-1',
      fire: 'f1000',
      status: 'Failed',
      exitCode: '3',
      digest: DIGEST,
    });
    assert.equal(JSON.parse(ev?.data ?? '{}').OutputDigest, DIGEST);
  });

  void it('a run that never exited has no exit code; a digest that is not one is ""', () => {
    const ev = outboxEvent(
      'n1',
      'RunFinished',
      JSON.stringify({ InvokeId: 't-1', InvocationStatus: 'Aborted', OutputDigest: 'x"y' }),
    );
    assert.deepEqual(ev?.runEnd, {
      invokeId: 't-1',
      fire: '',
      status: 'Aborted',
      exitCode: '',
      digest: '',
    });
    const data = JSON.parse(ev?.data ?? '{}') as Record<string, unknown>;
    assert.equal(data.ExitCode, null);
    assert.equal(data.OutputDigest, '');
  });

  void it('other events, and a RunFinished whose status is not final, tell no run end', () => {
    const started = outboxEvent('n1', 'RunStarted', JSON.stringify({ InvokeId: 't-1' }));
    assert.ok(started);
    assert.equal(started.runEnd, undefined);
    const running = JSON.stringify({ InvokeId: 't-1', InvocationStatus: 'Running' });
    assert.equal(outboxEvent('n1', 'RunFinished', running), undefined);
  });
});
