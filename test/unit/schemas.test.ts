import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeNodesSchema, parseBody, runCommandSchema } from '../../src/api/schemas/common.js';
import { AppError } from '../../src/app/errors.js';

function rejection(schema: Parameters<typeof parseBody>[0], body: unknown): AppError {
  try {
    parseBody(schema, body);
  } catch (err) {
    assert.ok(err instanceof AppError);
    return err;
  }
  assert.fail('accepted');
}

void describe('parseBody', () => {
  void it('refuses a body nested 100,000 levels deep with a 400, not a stack overflow', () => {
    let deep = '1';
    for (let i = 0; i < 100_000; i++) deep = `[${deep}]`;
    const err = rejection(describeNodesSchema, JSON.parse(`{"MaxResults":${deep}}`));
    assert.equal(err.code, 'InvalidParameter');
    assert.match(err.message, /MaxResults: nested too deeply/);
  });

  void it('refuses __proto__, constructor and prototype keys at any depth', () => {
    for (const raw of [
      '{"__proto__":{"x":1}}',
      '{"Parameters":{"constructor":"1"}}',
      '{"Parameters":{"a":{"prototype":1}}}',
    ]) {
      const err = rejection(runCommandSchema, JSON.parse(raw));
      assert.equal(err.code, 'InvalidParameter');
      assert.match(err.message, /this field name is not allowed/);
    }
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  void it('names every field at fault, missing ones first', () => {
    // NodeIdList is optional here: the action asks for it or ResourceTag (app/targets.ts).
    const err = rejection(runCommandSchema, { nodeIdList: ['n1'], Timeout: 0 });
    assert.equal(err.code, 'MissingParameter');
    assert.match(
      err.message,
      /^CommandContent is required; unknown field "nodeIdList".*; Timeout: /,
    );
  });
});
