import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  accountFromPasswd,
  entryLine,
  gidFromGroup,
  onlyGroupIs,
  type Account,
} from '../../workers/agent/exec/accounts.js';

void describe('passwd entries', () => {
  const cases: [string, string | undefined, Account | undefined][] = [
    [
      'a full entry',
      'alice:x:1000:1001:Alice,,,:/home/alice:/bin/bash',
      { name: 'alice', uid: 1000, gid: 1001, home: '/home/alice', shell: '/bin/bash' },
    ],
    [
      'no home or shell',
      'alice:x:1000:1000:::',
      { name: 'alice', uid: 1000, gid: 1000, home: '/', shell: '/bin/sh' },
    ],
    ['no entry', undefined, undefined],
    ["another user's entry", 'alicia:x:1000:1000::/home/alicia:/bin/sh', undefined],
    ['too few fields', 'alice:x:1000:1000:/home/alice', undefined],
    ['a uid that is not a number', 'alice:x:one:1000::/:/bin/sh', undefined],
    ['a fractional gid', 'alice:x:1000:1.5::/:/bin/sh', undefined],
  ];
  for (const [name, line, expected] of cases) {
    void it(name, () => assert.deepEqual(accountFromPasswd('alice', line), expected));
  }
});

void describe('group entries', () => {
  const cases: [string | undefined, number | undefined][] = [
    ['wheel:x:10:alice,bob', 10],
    ['wheel:x:10', 10],
    ['wheel:x', undefined],
    ['wheel:x:ten:', undefined],
    ['wheels:x:11:', undefined],
    [undefined, undefined],
  ];
  for (const [line, gid] of cases) {
    void it(`${line ?? 'no entry'} -> ${gid ?? 'none'}`, () =>
      assert.equal(gidFromGroup('wheel', line), gid));
  }
});

void describe('entries in /etc files', () => {
  void it('finds the line whose first field is the name, not one it begins', () => {
    const text = 'bobby:x:1:1::/:/bin/sh\nbob:x:2:2::/:/bin/sh\n';
    assert.equal(entryLine(text, 'bob'), 'bob:x:2:2::/:/bin/sh');
    assert.equal(entryLine(text, 'bo'), undefined);
    assert.equal(entryLine('', 'bob'), undefined);
  });
});

void describe('id -G output', () => {
  const cases: [string, boolean][] = [
    ['1000\n', true],
    ['1000 1000\n', true],
    ['1000 27\n', false],
    ['27\n', false],
    ['', false],
  ];
  for (const [output, only] of cases) {
    void it(`${JSON.stringify(output)} -> ${only}`, () =>
      assert.equal(onlyGroupIs(output, 1000), only));
  }
});
