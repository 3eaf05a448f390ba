import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { environMarker, isPidEntry, processGroupOf } from '../../workers/agent/exec/orphans.js';

void describe('/proc/<pid>/stat', () => {
  const cases: [string, string, number][] = [
    ['a plain name', '4242 (sleep) S 1 4240 4240 0 -1 4194560 91 0', 4240],
    ['a name with spaces', '17 (my cmd) R 3 9 9 0 -1', 9],
    ['a name holding ") "', '17 (a) S 1 2 b) Z 5 77 77 0', 77],
    ['a name that is only ")"', '5 ()) S 1 31 31', 31],
  ];
  for (const [name, stat, pgrp] of cases) {
    void it(`reads the process group past ${name}`, () => {
      assert.equal(processGroupOf(stat), pgrp);
    });
  }

  void it('is NaN when the line has no group field', () => {
    assert.ok(Number.isNaN(processGroupOf('')));
    assert.ok(Number.isNaN(processGroupOf('12 (x) S 1')));
  });

  void it('finds the group whatever the command name holds', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 15 }).filter((s) => !s.includes('\0')),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        (comm, pid, ppid, pgrp) => {
          const stat = `${pid} (${comm}) S ${ppid} ${pgrp} ${pgrp} 0 -1 4194304 0 0`;
          assert.equal(processGroupOf(stat), pgrp);
        },
      ),
    );
  });
});

void describe('/proc entries and environment marks', () => {
  void it('takes only all-digit names for processes', () => {
    assert.deepEqual(['1', '4242', 'self', 'thread-self', 'net', '12a', ''].filter(isPidEntry), [
      '1',
      '4242',
    ]);
  });

  void it('matches a whole NUL-terminated entry, not a longer value', () => {
    const environ = Buffer.from('HOME=/root\0FLEETCMD_RUN_TOKEN=abcd\0PATH=/bin\0');
    assert.equal(environ.includes(environMarker('FLEETCMD_RUN_TOKEN', 'abcd')), true);
    assert.equal(environ.includes(environMarker('FLEETCMD_RUN_TOKEN', 'abc')), false);
    assert.deepEqual(environMarker('A', 'b'), Buffer.from('A=b\0'));
  });
});
