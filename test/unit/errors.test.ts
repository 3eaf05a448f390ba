import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AppError, ERROR_CATALOGUE, coerceError } from '../../src/app/errors.js';
import type { ErrorCode } from '../../src/app/errors.js';

const CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

void describe('ERROR_CATALOGUE', () => {
  void it('gives every code a 4xx/5xx status and a meaning', () => {
    assert.ok(CODES.length > 0);
    for (const code of CODES) {
      const { status, meaning } = ERROR_CATALOGUE[code];
      assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`);
      assert.equal(typeof meaning, 'string');
      assert.ok(meaning.trim().length > 0, `${code} has a meaning`);
    }
  });

  void it('AppError takes its status from the catalogue', () => {
    for (const code of CODES) {
      const e = new AppError(code, 'x');
      assert.equal(e.code, code);
      assert.equal(e.status, ERROR_CATALOGUE[code].status);
    }
  });
});

void describe('coerceError', () => {
  const REDIS_DOWN = [
    "Stream isn't writeable and enableOfflineQueue options is false",
    'connect ECONNREFUSED 127.0.0.1:1',
  ];
  for (const message of REDIS_DOWN) {
    void it(`maps Error(${JSON.stringify(message)}) to 503 ServiceUnavailable`, () => {
      const e = coerceError(new Error(message));
      assert.ok(e instanceof AppError);
      assert.equal(e.status, 503);
      assert.equal(e.code, 'ServiceUnavailable');
    });
  }

  void it('maps an arbitrary Error to 500 InternalError without leaking its text', () => {
    const secret = 'db password hunter2 at /srv/secret/path.ts:42';
    const e = coerceError(new Error(secret));
    assert.ok(e instanceof AppError);
    assert.equal(e.status, 500);
    assert.equal(e.code, 'InternalError');
    assert.ok(!e.message.includes(secret));
    assert.ok(!e.message.includes('hunter2'));
  });

  void it('maps a thrown non-Error to 500 InternalError', () => {
    for (const thrown of ['ECONNREFUSED as a string', 42, undefined, null, { message: 'x' }]) {
      const e = coerceError(thrown);
      assert.equal(e.code, 'InternalError');
      assert.equal(e.status, 500);
    }
  });

  void it('passes an AppError through unchanged', () => {
    const original = new AppError('InvalidParameter', 'Timeout must be 10..86400');
    assert.equal(coerceError(original), original);
  });
});

void describe('docs/api.md error catalogue', () => {
  void it('documents every catalogue code as `Code`', () => {
    let doc: string;
    try {
      doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    } catch (err) {
      assert.fail(`docs/api.md cannot be read: ${(err as Error).message}`);
    }
    const missing = CODES.filter((code) => !doc.includes(`\`${code}\``));
    assert.deepEqual(missing, [], 'codes not documented in docs/api.md');
  });
});
