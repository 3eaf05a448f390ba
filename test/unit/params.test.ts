import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  checkValues,
  MAX_PARAMETER_NAMES,
  ParameterError,
  parameterNames,
  substitute,
  type Builtins,
} from '../../src/domain/params.js';

const IDS: Builtins = { invokeId: 't-abc', nodeId: 'node-7', commandId: 'c-xyz' };
const b = (text: string) => Buffer.from(text, 'utf8');
const sub = (text: string, values: Record<string, string> = {}, ids: Builtins = IDS) =>
  substitute(b(text), values, ids).toString('utf8');

void describe('substitute', () => {
  const cases: [string, string, Record<string, string>, string][] = [
    ['one name', 'echo {{name}}', { name: 'x' }, 'echo x'],
    ['whitespace inside the braces', 'echo {{ name }}|{{\tname\t}}', { name: 'x' }, 'echo x|x'],
    ['names are case-insensitive', '{{Name}} {{NAME}}', { name: 'v' }, 'v v'],
    ['a value named in another case', '{{name}}', { NAME: 'v' }, 'v'],
    ['dash, underscore and digits', '{{a-b_c9}}', { 'a-b_c9': 'ok' }, 'ok'],
    ['a value with braces is not re-read', '{{a}}', { a: '{{a}}' }, '{{a}}'],
    ['a value with multi-byte text', '[{{a}}]', { a: 'héllo 世界' }, '[héllo 世界]'],
    ['an empty value', 'x{{a}}y', { a: '' }, 'xy'],
    ['InvokeId', '{{ACS::InvokeId}}', {}, 't-abc'],
    ['NodeId', '{{ACS::NodeId}}', {}, 'node-7'],
    ['InstanceId is NodeId', '{{ACS::InstanceId}}', {}, 'node-7'],
    ['CommandId', '{{ ACS::CommandId }}', {}, 'c-xyz'],
    ['built-ins are case-insensitive', '{{acs::nodeid}}', {}, 'node-7'],
    ['a third brace stays', '{{{a}}}', { a: 'v' }, '{v}'],
    ['a brace after a reference stays', '{{a}}}', { a: 'v' }, 'v}'],
    ['spaced braces around a reference stay', '{ {{a}} }', { a: 'v' }, '{ v }'],
    ['doubled braces around a reference stay', '{{{{a}}}}', { a: 'v' }, '{{v}}'],
    ['closing before, opening after', '}}{{a}}{{', { a: 'v' }, '}}v{{'],
    ['unreferenced values are ignored', 'plain', { unused: 'v' }, 'plain'],
    ['single braces are text', '{a} {{ }} {{}}', {}, '{a} {{ }} {{}}'],
    ['a name with a space is text', '{{a b}}', {}, '{{a b}}'],
    ['a dot is not a name character', '{{a.b}}', {}, '{{a.b}}'],
    ['a non-ASCII name is text', '{{héllo}}', {}, '{{héllo}}'],
    ['an unclosed reference is text', '{{a} {{a', {}, '{{a} {{a'],
    ['ACS:: alone is text', '{{ACS::}}', {}, '{{ACS::}}'],
    ['shell ${...} is text', 'echo ${HOME} $((1+1))', {}, 'echo ${HOME} $((1+1))'],
  ];
  for (const [name, content, values, want] of cases) {
    void it(name, () => assert.equal(sub(content, values), want));
  }

  void it('answers which name has no value', () => {
    assert.throws(
      () => sub('{{a}} {{b}} {{B}}', { a: '1' }),
      (e: unknown) =>
        e instanceof ParameterError &&
        e.field === 'Parameters' &&
        /"b"/.test(e.message) &&
        !/"B"/.test(e.message),
    );
  });

  void it('refuses an unknown built-in, naming it', () => {
    assert.throws(
      () => sub('{{ACS::Region}}'),
      (e: unknown) =>
        e instanceof ParameterError &&
        e.field === 'CommandContent' &&
        e.message.includes('ACS::Region'),
    );
  });

  void it('keeps bytes that are not UTF-8 exactly', () => {
    const content = Buffer.concat([
      Buffer.from([0xff, 0xfe, 0x7b]),
      b('{{a}}'),
      Buffer.from([0xc3, 0x28, 0x80, 0x7d]),
    ]);
    const out = substitute(content, { a: 'Z' }, IDS);
    assert.deepEqual(out, Buffer.from([0xff, 0xfe, 0x7b, 0x5a, 0xc3, 0x28, 0x80, 0x7d]));
  });

  void it('does not take a multi-byte character for whitespace', () => {
    // U+00A0 (no-break space) is C2 A0 in UTF-8: not whitespace inside braces.
    assert.equal(sub('{{\u00a0a}}', { a: 'v' }), '{{\u00a0a}}');
  });
});

void describe('parameterNames', () => {
  void it('lists custom names once, first spelling, in order of use, without built-ins', () => {
    assert.deepEqual(parameterNames(b('{{b}} {{ACS::NodeId}} {{A}} {{ b }} {{a}} {{c-1}}')), [
      'b',
      'A',
      'c-1',
    ]);
  });

  void it(`allows ${MAX_PARAMETER_NAMES} names and refuses one more`, () => {
    const refs = (n: number) => Array.from({ length: n }, (_, i) => `{{p${i}}}`).join(' ');
    assert.equal(parameterNames(b(refs(MAX_PARAMETER_NAMES))).length, MAX_PARAMETER_NAMES);
    assert.throws(
      () => parameterNames(b(refs(MAX_PARAMETER_NAMES + 1))),
      (e: unknown) => e instanceof ParameterError && e.field === 'CommandContent',
    );
    // Repeats and other spellings of one name count once.
    assert.equal(parameterNames(b(`${refs(20)} {{P0}} {{p1}}`)).length, 20);
  });
});

void describe('checkValues', () => {
  const bad: [string, Record<string, string>, RegExp][] = [
    ['an ACS:: name', { 'ACS::NodeId': 'x' }, /ACS::/],
    ['an acs:: name in lower case', { 'acs::x': 'x' }, /ACS::/],
    ['a name with a space', { 'a b': 'x' }, /"a b"/],
    ['an empty name', { '': 'x' }, /""/],
    ['two spellings of one name', { a: '1', A: '2' }, /case-insensitive/],
    [
      'eleven values',
      Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`v${i}`, ''])),
      /at most 10/,
    ],
  ];
  for (const [name, values, message] of bad) {
    void it(`refuses ${name}`, () => {
      assert.throws(
        () => checkValues(values),
        (e: unknown) =>
          e instanceof ParameterError && e.field === 'Parameters' && message.test(e.message),
      );
    });
  }

  void it('accepts ten values', () => {
    checkValues(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`v${i}`, ''])));
  });
});

void describe('substitute: properties', () => {
  const name = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
  const bytes = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a));
  /** Bytes with no `{` at all: nothing in them can start a reference. */
  const plain = bytes.map((buf) => Buffer.from(buf.filter((x) => x !== 0x7b)));
  const value = fc.string({ unit: 'grapheme', maxLength: 20 });

  void it('content with no `{{` is unchanged, byte for byte', () => {
    const noDoubleBrace = bytes.filter((buf) => !buf.toString('latin1').includes('{{'));
    fc.assert(
      fc.property(noDoubleBrace, fc.dictionary(name, value, { maxKeys: 10 }), (content, vals) => {
        let values = vals;
        try {
          checkValues(vals);
        } catch {
          values = {};
        }
        assert.deepEqual(substitute(content, values, IDS), content);
      }),
    );
  });

  void it('text around references keeps its bytes; each reference becomes its value', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(plain, name, value, fc.constantFrom('', ' ', '\t  ')), {
          minLength: 1,
          maxLength: 8,
        }),
        plain,
        (pieces, tail) => {
          // One value per name (case-insensitively): the last piece's spelling and value win.
          const values = new Map<string, [string, string]>();
          for (const [, n, v] of pieces) values.set(n.toLowerCase(), [n, v]);
          const passed = Object.fromEntries([...values.values()].slice(0, 10));
          fc.pre(values.size <= 10);
          const content = Buffer.concat([
            ...pieces.flatMap(([before, n, , ws]) => [before, b(`{{${ws}${n}${ws}}}`)]),
            tail,
          ]);
          const want = Buffer.concat([
            ...pieces.flatMap(([before, n]) => [
              before,
              b(values.get(n.toLowerCase())?.[1] ?? 'missing'),
            ]),
            tail,
          ]);
          assert.deepEqual(substitute(content, passed, IDS), want);
        },
      ),
    );
  });

  void it('braces next to references: as a simple left-to-right reader says', () => {
    const names = ['a', 'B', 'c-1', '_d'];
    const token = fc.oneof(
      fc.constantFrom('{', '}', '{{', '}}', '{{{', '}}}', ' ', '\t', 'x', ...names),
      fc
        .tuple(fc.constantFrom(...names), fc.constantFrom('', ' ', '\t\n'))
        .map(([n, ws]) => `{{${ws}${n}${ws}}}`),
      fc.constantFrom('{{ACS::NodeId}}', '{{acs::invokeid }}'),
      // Any bytes but `:`, so no unknown `ACS::` name can form.
      bytes.map((buf) => Buffer.from(buf.filter((x) => x !== 0x3a)).toString('latin1')),
    );
    const values = Object.fromEntries(names.map((n, i) => [n.toLowerCase(), `<${i}>`]));
    fc.assert(
      fc.property(fc.array(token, { maxLength: 12 }), (tokens) => {
        const content = Buffer.from(tokens.join(''), 'latin1');
        const want = readReferences(content, values, IDS);
        fc.pre(want.names.size <= 20);
        if (want.missing.length > 0) {
          assert.throws(
            () => substitute(content, values, IDS),
            (e: unknown) =>
              e instanceof ParameterError &&
              e.field === 'Parameters' &&
              e.message.includes(JSON.stringify(want.missing[0])),
          );
        } else {
          assert.deepEqual(substitute(content, values, IDS), want.out);
        }
      }),
      {
        numRuns: 500,
        examples: [[['{{{a}}}']], [['{{a}}}']], [['{ {{a}} }']], [['{', '{{', 'a', '}}']]],
      },
    );
  });

  void it('built-ins of another node differ only where they are referenced', () => {
    fc.assert(
      fc.property(plain, plain, name, name, (before, after, n1, n2) => {
        fc.pre(n1 !== n2);
        const content = Buffer.concat([before, b('{{ACS::NodeId}}'), after]);
        const one = substitute(content, {}, { ...IDS, nodeId: n1 });
        const two = substitute(content, {}, { ...IDS, nodeId: n2 });
        assert.deepEqual(one, Buffer.concat([before, b(n1), after]));
        assert.deepEqual(two, Buffer.concat([before, b(n2), after]));
      }),
    );
  });
});

const WHITESPACE = ' \t\n\r\f\v';

function isNameChar(c: string | undefined): boolean {
  if (c === undefined) return false;
  const x = c.charCodeAt(0);
  const within = (lo: string, hi: string) => x >= lo.charCodeAt(0) && x <= hi.charCodeAt(0);
  return within('a', 'z') || within('A', 'Z') || within('0', '9') || c === '_' || c === '-';
}

/**
 * The oracle: reads a content left to right; at each `{{` tries `{{ [ACS::]name }}` and, when
 * that fails, moves on by one character. Answers the content with references replaced, the
 * custom names met, and the names with no value (in order of first use).
 */
function readReferences(
  content: Buffer,
  values: Record<string, string>,
  ids: Builtins,
): { out: Buffer; names: Set<string>; missing: string[] } {
  const text = content.toString('latin1');
  const builtins: Record<string, string> = {
    'acs::invokeid': ids.invokeId,
    'acs::nodeid': ids.nodeId,
    'acs::instanceid': ids.nodeId,
    'acs::commandid': ids.commandId,
  };
  const parts: Buffer[] = [];
  const names = new Set<string>();
  const missing: string[] = [];
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    const ref = referenceAt(text, i);
    if (ref === undefined) {
      i++;
      continue;
    }
    const lower = ref.name.toLowerCase();
    const builtin = Object.hasOwn(builtins, lower);
    const value = builtin
      ? builtins[lower]
      : Object.hasOwn(values, lower)
        ? values[lower]
        : undefined;
    if (!builtin) names.add(lower);
    if (value === undefined && !missing.some((m) => m.toLowerCase() === lower)) {
      missing.push(ref.name);
    }
    parts.push(content.subarray(copied, i), Buffer.from(value ?? '', 'utf8'));
    i = copied = ref.end;
  }
  parts.push(content.subarray(copied));
  return { out: Buffer.concat(parts), names, missing };
}

function referenceAt(text: string, at: number): { name: string; end: number } | undefined {
  if (!text.startsWith('{{', at)) return undefined;
  let j = at + 2;
  while (WHITESPACE.includes(text[j] ?? 'x')) j++;
  const start = j;
  if (text.slice(j, j + 5).toLowerCase() === 'acs::') j += 5;
  const nameStart = j;
  while (isNameChar(text[j])) j++;
  if (j === nameStart) return undefined;
  const name = text.slice(start, j);
  while (WHITESPACE.includes(text[j] ?? 'x')) j++;
  return text.startsWith('}}', j) ? { name, end: j + 2 } : undefined;
}
