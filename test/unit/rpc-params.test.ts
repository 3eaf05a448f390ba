import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseUrlEncoded,
  RpcParamError,
  unflatten,
  type FieldKind,
} from '../../src/api/rpc/params.js';

const KINDS: Record<string, FieldKind> = {
  NodeIdList: 'list',
  Parameters: 'map',
  Timeout: 'number',
  CommandContent: 'text',
  EnableParameter: 'text',
};
const kindOf = (f: string): FieldKind => KINDS[f] ?? 'text';
const flat = (o: Record<string, string>) => new Map(Object.entries(o));

void describe('unflatten', () => {
  void it('builds lists from Name.N in order, maps from JSON text, numbers from digits', () => {
    assert.deepEqual(
      unflatten(
        flat({
          'NodeIdList.2': 'n2',
          'NodeIdList.1': 'n1',
          Parameters: '{"a":"b","n":1}',
          Timeout: '30',
          CommandContent: 'echo 1.5',
          EnableParameter: 'true',
        }),
        kindOf,
      ),
      {
        NodeIdList: ['n1', 'n2'],
        Parameters: { a: 'b', n: 1 },
        Timeout: 30,
        CommandContent: 'echo 1.5',
        EnableParameter: 'true',
      },
    );
  });

  void it('takes a list as JSON text too', () => {
    assert.deepEqual(unflatten(flat({ NodeIdList: '["n1"]' }), kindOf), { NodeIdList: ['n1'] });
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ 'NodeIdList.1': 'a', 'NodeIdList.3': 'c' }, /NodeIdList\.2: is missing/],
    [{ 'NodeIdList.0': 'a' }, /numbered NodeIdList\.1 to NodeIdList\.1000/],
    [{ 'NodeIdList.x': 'a' }, /NodeIdList\.x/],
    [{ 'NodeIdList.01': 'a' }, /NodeIdList\.01/],
    [{ 'NodeIdList.1001': 'a' }, /NodeIdList\.1001/],
    [{ NodeIdList: 'n1', 'NodeIdList.1': 'n1' }, /given both whole and as NodeIdList\.N/],
    [{ NodeIdList: 'n1' }, /must be flattened as NodeIdList\.1/],
    [{ 'Timeout.1': '5' }, /Timeout is not a list/],
    [{ Parameters: '{not json' }, /Parameters: must be a JSON object/],
    [{ Parameters: '["a"]' }, /Parameters: must be a JSON object/],
    [{ Timeout: '1e3' }, /Timeout: must be a whole number/],
    [{ Timeout: '' }, /Timeout: must be a whole number/],
  ];
  for (const [input, why] of bad) {
    void it(`refuses ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => unflatten(flat(input), kindOf),
        (err: Error) => err instanceof RpcParamError && why.test(err.message),
      );
    });
  }
});

void describe('parseUrlEncoded', () => {
  void it('decodes %XX and + as a space, keeps order and empty values', () => {
    assert.deepEqual(parseUrlEncoded('a=1&b=x%20y+z&c=&d&e=%E2%82%AC', 'q'), [
      ['a', '1'],
      ['b', 'x y z'],
      ['c', ''],
      ['d', ''],
      ['e', '€'],
    ]);
  });

  void it('refuses a malformed escape and a nameless parameter', () => {
    assert.throws(
      () => parseUrlEncoded('a=%E2%82', 'the query string'),
      /not valid percent-encoding/,
    );
    assert.throws(
      () => parseUrlEncoded('=1', 'the form body'),
      /the form body: a parameter has no name/,
    );
  });
});
