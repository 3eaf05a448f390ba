import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  GATE,
  launchSpec,
  workingDirectory,
  type LaunchInput,
} from '../../workers/agent/exec/launch-spec.js';

const HELPER = ['-c', 'exec "$@" 2>&1', 'fleetcmd'];

const base: LaunchInput = {
  account: { name: 'alice', uid: 1000, gid: 1001, home: '/home/alice', shell: '/bin/bash' },
  userSwitch: { kind: 'same' },
  cwd: '/srv',
  script: '/dev/shm/fleetcmd-x/script',
  launcher: '',
  invokeId: 'inv-1',
  fire: 'fire-1',
  runToken: 'token-1',
  viaSocket: true,
  lang: undefined,
  tz: undefined,
};

void describe('working directory', () => {
  const cases: [string, string][] = [
    ['', '/home/alice'],
    ['/srv/app', '/srv/app'],
    ['work', '/home/alice/work'],
    ['../bob', '/home/bob'],
  ];
  for (const [workingDir, cwd] of cases) {
    void it(`${JSON.stringify(workingDir)} -> ${cwd}`, () =>
      assert.equal(workingDirectory('/home/alice', workingDir), cwd));
  }
});

void describe('command line', () => {
  const script = base.script;
  const cases: [string, Partial<LaunchInput>, string, string[]][] = [
    ['the default launcher is sh itself', {}, '/bin/sh', [script]],
    [
      'without the output socket, sh goes through the helper shell',
      { viaSocket: false },
      '/bin/sh',
      [...HELPER, '/bin/sh', script],
    ],
    [
      'a launcher is split on whitespace and exec’d by the helper shell',
      { launcher: '  python3   -u ' },
      '/bin/sh',
      [...HELPER, 'python3', '-u', script],
    ],
    [
      'setpriv comes first, with the account and its groups',
      { userSwitch: { kind: 'setpriv', path: '/usr/bin/setpriv' } },
      '/usr/bin/setpriv',
      ['--reuid=1000', '--regid=1001', '--init-groups', '--', '/bin/sh', script],
    ],
    [
      'a gated command waits at the gate, after the user switch',
      { gated: true, userSwitch: { kind: 'setpriv', path: '/usr/bin/setpriv' } },
      '/usr/bin/setpriv',
      ['--reuid=1000', '--regid=1001', '--init-groups', '--', ...GATE, '/bin/sh', script],
    ],
    [
      'a gated launcher: the gate, then the helper shell',
      { gated: true, launcher: 'python3' },
      '/bin/sh',
      [...GATE.slice(1), '/bin/sh', ...HELPER, 'python3', script],
    ],
  ];
  for (const [name, input, file, args] of cases) {
    void it(name, () => {
      const spec = launchSpec({ ...base, ...input });
      assert.deepEqual([spec.file, spec.args], [file, args]);
    });
  }

  void it("uses spawn's uid and gid only for an 'ids' switch", () => {
    const ids = launchSpec({ ...base, userSwitch: { kind: 'ids' } }).how;
    assert.deepEqual([ids.uid, ids.gid, ids.cwd], [1000, 1001, '/srv']);
    for (const userSwitch of [
      { kind: 'same' as const },
      { kind: 'setpriv' as const, path: '/usr/bin/setpriv' },
    ]) {
      const how = launchSpec({ ...base, userSwitch }).how;
      assert.equal('uid' in how || 'gid' in how, false);
    }
  });
});

void describe('environment', () => {
  void it("is the account's, a clean PATH and the run's marks, in that order", () => {
    assert.deepEqual(Object.entries(launchSpec(base).how.env), [
      ['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ['HOME', '/home/alice'],
      ['USER', 'alice'],
      ['LOGNAME', 'alice'],
      ['SHELL', '/bin/bash'],
      ['LANG', 'C.UTF-8'],
      ['FLEETCMD_INVOKE_ID', 'inv-1'],
      ['FLEETCMD_FIRE_ID', 'fire-1'],
      ['FLEETCMD_RUN_TOKEN', 'token-1'],
    ]);
  });

  void it("passes the agent's LANG and a set TZ on; a Once run's fire id is empty", () => {
    const env = launchSpec({ ...base, lang: 'de_DE.UTF-8', tz: 'Europe/Berlin', fire: undefined })
      .how.env;
    assert.equal(env.LANG, 'de_DE.UTF-8');
    assert.equal(env.TZ, 'Europe/Berlin');
    assert.equal(env.FLEETCMD_FIRE_ID, '');
    assert.equal('TZ' in launchSpec({ ...base, tz: '' }).how.env, false);
  });
});
