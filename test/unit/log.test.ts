import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { makeLogger, redactText } from '../../src/shared/log.js';

/** A logger at `level` whose lines are collected, parsed, in `lines`. */
function captured(level = 'trace') {
  const lines: Record<string, unknown>[] = [];
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      for (const l of chunk.toString().split('\n').filter(Boolean)) {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      }
      done();
    },
  });
  return { log: makeLogger(level, 'test', sink), lines, text: () => text };
}

void describe('makeLogger redaction', () => {
  void it('censors secret fields at the top level and one level down', () => {
    const { log, lines, text } = captured();
    log.info(
      {
        token: 'tok-1',
        apiToken: 'tok-2',
        authorization: 'Bearer tok-3',
        password: 'pw-1',
        redisUrl: 'redis://u:pw-2@h:6379',
        CommandContent: 'content-1',
        content: 'content-2',
        output: 'out-1',
        Parameters: { p: 'param-1' },
        req: { headers: { authorization: 'Bearer tok-4' }, Content: 'file-1' },
        invokeId: 't-keep',
      },
      'fields',
    );
    const all = text();
    for (const secret of ['tok-', 'pw-', 'content-', 'out-1', 'param-1', 'file-1']) {
      assert.ok(!all.includes(secret), `${secret} in ${all}`);
    }
    assert.equal(lines[0]?.invokeId, 't-keep', 'other fields are kept');
    assert.equal(lines[0]?.token, '[redacted]');
  });

  void it("censors a child logger's secret bindings and the fields of a logged error", () => {
    const { log, lines, text } = captured();
    const child = log.child({ token: 'tok-5', conn: { password: 'pw-3' }, nodeId: 'n1' });
    const err = Object.assign(new Error('failed'), { password: 'pw-4' });
    child.error({ err, nested: { deeper: { output: 'kept-at-depth-2' } } }, 'with bindings');
    const all = text();
    for (const secret of ['tok-5', 'pw-3', 'pw-4']) assert.ok(!all.includes(secret), all);
    assert.equal(lines[0]?.nodeId, 'n1');
    // Two levels down is beyond the censored levels (as with pino's `*.field` paths).
    assert.ok(all.includes('kept-at-depth-2'), all);
  });

  void it('removes the password of any URL in field values and in the message', () => {
    const { log, lines, text } = captured();
    log.warn({ target: 'rediss://agent-n1:s3cret@redis.example:6380/0' }, 'using it');
    log.warn('cannot reach redis://:s3cret2@127.0.0.1:6379 (retrying)');
    log.error({ err: new Error('connect to redis://u:s3cret3@h failed') }, 'worker error');
    const all = text();
    assert.ok(!/s3cret/.test(all), all);
    assert.equal(lines[0]?.target, 'rediss://agent-n1:[redacted]@redis.example:6380/0');
    assert.equal(lines[1]?.msg, 'cannot reach redis://:[redacted]@127.0.0.1:6379 (retrying)');
    const err = lines[2]?.err as { message?: string; type?: string };
    assert.equal(err.message, 'connect to redis://u:[redacted]@h failed', 'the error is kept');
    assert.equal(err.type, 'Error');
  });

  void it('leaves text without URL passwords as it is', () => {
    for (const text of [
      'redis://127.0.0.1:6379',
      'redis://user@h:1',
      'a:b@c is not a URL',
      'http://h/x:y@z',
      '',
    ]) {
      assert.equal(redactText(text), text);
    }
    assert.equal(
      redactText('x redis://a:b@h y http://c:d@e'),
      'x redis://a:[redacted]@h y http://c:[redacted]@e',
    );
  });

  void it('logs nothing below its level', () => {
    const { log, lines } = captured('info');
    log.debug({ invokeId: 't-1' }, 'debug line');
    log.info({ invokeId: 't-2' }, 'info line');
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['info line'],
    );
  });
});
