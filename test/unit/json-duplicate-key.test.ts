/**
 * The duplicate-key check over JSON text: it finds a key given twice in one object at any
 * depth (however the key is escaped), never flags what JSON.stringify writes (fast-check), and
 * bounds nesting.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { jsonKeyProblem, MAX_JSON_DEPTH } from '../../src/domain/json-keys.js';

void describe('jsonKeyProblem', () => {
  void it('finds a duplicate key at any depth, escaped or not', () => {
    const cases: [string, string | undefined][] = [
      ['{"a":1,"a":2}', 'duplicate key "a"'],
      ['{"a":{"b":1,"b":2}}', 'duplicate key "b"'],
      ['[{"k":1,"k":2}]', 'duplicate key "k"'],
      ['{"a":1,"\\u0061":2}', 'duplicate key "a"'],
      ['{"x":[1,{"y":{}}],"z":"\\"","x":null}', 'duplicate key "x"'],
      ['{"":1,"":2}', 'duplicate key ""'],
      ['{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}', undefined],
      ['{"v":"\\"a\\":1,\\"a\\":2"}', undefined],
      ['{"a\\\\":1,"a":2}', undefined],
      ['[]', undefined],
      ['"a"', undefined],
      ['  {  "a" : 1 ,  "b" : 2 }  ', undefined],
    ];
    for (const [text, want] of cases) assert.equal(jsonKeyProblem(text), want, text);
  });

  void it('bounds nesting depth', () => {
    const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
    assert.equal(jsonKeyProblem(nest(MAX_JSON_DEPTH)), undefined);
    assert.match(jsonKeyProblem(nest(MAX_JSON_DEPTH + 1)) ?? '', /nested deeper than \d+ levels/);
    assert.match(jsonKeyProblem(nest(200_000)) ?? '', /nested deeper/);
  });

  void it('never flags what JSON.stringify writes', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        assert.equal(jsonKeyProblem(JSON.stringify(v)), undefined);
        assert.equal(jsonKeyProblem(JSON.stringify(v, null, 2)), undefined);
      }),
      { numRuns: 2000 },
    );
  });

  void it('finds a key repeated in front of any object that has it', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue({ maxDepth: 3 }), {
          minKeys: 1,
        }),
        fc.nat(),
        (obj, i) => {
          const keys = Object.keys(obj);
          const k = keys[i % keys.length] ?? '';
          const text = `{${JSON.stringify(k)}:0,${JSON.stringify(obj).slice(1)}`;
          assert.equal(jsonKeyProblem(`[1,${text}]`), `duplicate key ${JSON.stringify(k)}`);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
