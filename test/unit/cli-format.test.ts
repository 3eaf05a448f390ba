import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  EXIT,
  LineWriter,
  OutputFollower,
  exitCodeFor,
  nodeHeader,
  plainProgressDue,
  progressLine,
  renderTable,
  visibleControls,
} from '../../src/cli/format.js';
import { OutputCapture } from '../../src/domain/output.js';
import { EXIT_TABLE, exitCodeForHttp } from '../../src/cli/exit-codes.js';
import type { NodeStatus } from '../../src/domain/status.js';

void describe('renderTable', () => {
  void it('pads columns to their widest cell, two spaces apart, no trailing blanks', () => {
    const t = renderTable(
      ['NODE', 'STATUS', 'ERROR'],
      [
        ['n1', 'Success', ''],
        ['node-22', 'Failed', 'exit code is not zero'],
      ],
    );
    assert.equal(
      t,
      [
        'NODE     STATUS   ERROR',
        'n1       Success',
        'node-22  Failed   exit code is not zero',
      ].join('\n'),
    );
  });

  void it('cuts long cells with … except in the last column', () => {
    const long = 'x'.repeat(50);
    const t = renderTable(['A', 'B'], [[long, long]], 10);
    const [head, row] = t.split('\n');
    assert.equal(row, `${'x'.repeat(9)}…  ${long}`);
    assert.equal(head, `A${' '.repeat(9)}  B`);
  });

  void it('counts characters, not UTF-16 units, and keeps each row on one line', () => {
    const t = renderTable(['N', 'V'], [['été🙂', 'a\nb\tc\x1b[31m']]);
    assert.deepEqual(t.split('\n'), ['N     V', 'été🙂  a b c [31m']);
  });

  void it('treats missing cells as empty', () => {
    assert.equal(renderTable(['A', 'B', 'C'], [['1']]), 'A  B  C\n1');
  });
});

void describe('progressLine', () => {
  void it('fills the bar with final nodes and counts each status present', () => {
    const s: NodeStatus[] = ['Success', 'Running', 'Failed', 'Success', 'Running', 'Running'];
    assert.equal(progressLine(s, 10), '[#####-----] 3/6  Running 3 · Success 2 · Failed 1');
  });

  void it('is empty at the start and full at the end', () => {
    assert.equal(progressLine(['Pending', 'Pending'], 4), '[----] 0/2  Pending 2');
    assert.equal(progressLine(['Success', 'Timeout'], 4), '[####] 2/2  Success 1 · Timeout 1');
    assert.equal(progressLine([], 4), '[----] 0/0  ');
  });

  void it('plain (non-terminal) lines come only when new and not more often than every 2 s', () => {
    assert.equal(plainProgressDue(undefined, 'a', 0), true);
    assert.equal(plainProgressDue({ line: 'a', atMs: 0 }, 'b', 1999), false);
    assert.equal(plainProgressDue({ line: 'a', atMs: 0 }, 'b', 2000), true);
    assert.equal(plainProgressDue({ line: 'a', atMs: 0 }, 'a', 9000), false);
  });
});

void describe('exitCodeFor', () => {
  const cases: [NodeStatus[], number][] = [
    [['Success', 'Success'], EXIT.success],
    [['Success', 'Terminated'], EXIT.success],
    [['Failed'], EXIT.failed],
    [['Success', 'Failed'], EXIT.partialFailed],
    [['Timeout', 'Failed', 'Error'], EXIT.failed],
    [['Timeout'], EXIT.timeout],
    [['Success', 'Timeout', 'Aborted'], EXIT.partialFailed],
    [['Timeout', 'Aborted'], EXIT.timeout],
    [['Error'], EXIT.notRun],
    [['Invalid', 'Success'], EXIT.partialFailed],
    [['Invalid', 'Error'], EXIT.notRun],
    [['Aborted', 'Cancelled'], EXIT.notRun],
    [['Cancelled', 'Terminated'], EXIT.stopped],
    [['Running'], EXIT.failed],
  ];
  for (const [statuses, code] of cases) {
    void it(`${statuses.join('+')} -> ${code}`, () => assert.equal(exitCodeFor(statuses), code));
  }

  void it('uses distinct codes, each in the documented table once', () => {
    const codes = Object.values(EXIT);
    assert.equal(new Set(codes).size, codes.length);
    assert.equal(EXIT.usage, 2);
    assert.deepEqual(EXIT_TABLE.map(([c]) => c).sort(), [...codes].sort());
  });

  void it('maps API answers to usage, auth and unreachable', () => {
    assert.equal(exitCodeForHttp(400), EXIT.usage);
    assert.equal(exitCodeForHttp(404), EXIT.usage);
    assert.equal(exitCodeForHttp(401), EXIT.auth);
    assert.equal(exitCodeForHttp(403), EXIT.auth);
    assert.equal(exitCodeForHttp(0), EXIT.unreachable);
    assert.equal(exitCodeForHttp(503), EXIT.unreachable);
  });
});

void describe('nodeHeader', () => {
  void it('names the node, status, exit code and error', () => {
    assert.equal(
      nodeHeader({ NodeId: 'n1', InvocationStatus: 'Failed', ExitCode: 4, ErrorInfo: 'boom' }),
      '--- n1: Failed exit 4 (boom)',
    );
    assert.equal(
      nodeHeader({ NodeId: 'n2', InvocationStatus: 'Pending', ErrorInfo: '' }),
      '--- n2: Pending',
    );
  });
});

void describe('LineWriter', () => {
  void it('with a prefix holds a partial line until it ends', () => {
    const w = new LineWriter('n1 | ');
    assert.equal(w.text('one\ntw'), 'n1 | one\n');
    assert.equal(w.text('o\nthree'), 'n1 | two\n');
    assert.equal(w.line('marker'), 'n1 | three\nn1 | marker\n');
    assert.equal(w.text('four'), '');
    assert.equal(w.end(), 'n1 | four\n');
    assert.equal(w.end(), '');
  });

  void it('without a prefix passes text through and ends an open line once', () => {
    const w = new LineWriter('');
    assert.equal(w.text('a\nb'), 'a\nb');
    assert.equal(w.line('m'), '\nm\n');
    assert.equal(w.text('c\n'), 'c\n');
    assert.equal(w.end(), '');
  });
});

/** Snapshots of a capture with a small limit, as the API would show them. */
function snap(capture: OutputCapture): [Buffer, number] {
  const s = capture.snapshot();
  return [s.output, s.dropped];
}

void describe('OutputFollower', () => {
  void it('prints only the new bytes of successive snapshots', () => {
    const f = new OutputFollower();
    assert.equal(f.update(Buffer.from('line 1\nli'), 0), 'line 1\nli');
    assert.equal(f.update(Buffer.from('line 1\nli'), 0), '');
    assert.equal(f.update(Buffer.from('line 1\nline 2\n'), 0), 'ne 2\n');
    assert.equal(f.end(), '');
  });

  void it('shows one snapshot with dropped bytes as beginning, marker, end', () => {
    const c = new OutputCapture(16);
    c.push(Buffer.from('abcdefghijklmnopqrstuvwxyz'));
    const f = new OutputFollower('', 16);
    assert.equal(f.update(...snap(c)) + f.end(), 'abcdefgh\n… [10 bytes dropped] …\nstuvwxyz\n');
  });

  void it('marks only the bytes it did not see when Dropped grows between polls', () => {
    const c = new OutputCapture(16);
    const f = new OutputFollower('', 16);
    c.push(Buffer.from('abcdefghijkl'));
    assert.equal(f.update(...snap(c)), 'abcdefghijkl');
    c.push(Buffer.from('mnopqrstuvwxyz'));
    assert.equal(f.update(...snap(c)), '\n… [6 bytes dropped] …\nstuvwxyz');
  });

  void it('repeats nothing and marks nothing when it keeps up with a capped stream', () => {
    const c = new OutputCapture(16);
    const f = new OutputFollower('', 16);
    let printed = '';
    for (const chunk of ['abcdefghij', 'klmnop', 'qrst', 'uvw', 'xyz\n']) {
      c.push(Buffer.from(chunk));
      printed += f.update(...snap(c));
    }
    assert.equal(c.snapshot().dropped > 0, true);
    assert.equal(printed + f.end(), 'abcdefghijklmnopqrstuvwxyz\n');
  });

  void it('never splits a character, across polls or around the dropped part', () => {
    const c = new OutputCapture(16);
    const f = new OutputFollower('', 16);
    const e = Buffer.from('é');
    c.push(Buffer.concat([e, e.subarray(0, 1)]));
    let printed = f.update(...snap(c));
    c.push(Buffer.concat([e.subarray(1), Buffer.from('é'.repeat(18))]));
    printed += f.update(...snap(c)) + f.end();
    assert.doesNotMatch(printed, /\uFFFD/);
    assert.equal(printed, 'éééé\n… [24 bytes dropped] …\néééé\n');
  });

  void it('prefixes every line with the node when asked', () => {
    const c = new OutputCapture(16);
    c.push(Buffer.from('abcdefg\nijklmnopqrs\nuvwxyz'));
    const f = new OutputFollower('n1 | ', 16);
    assert.equal(
      f.update(...snap(c)) + f.end(),
      'n1 | abcdefg\nn1 | … [10 bytes dropped] …\nn1 | s\nn1 | uvwxyz\n',
    );
  });

  void it('over any ASCII stream and any polling, prints each byte once, in place, or marks it', () => {
    const marker = /(\n?)… \[(\d+) bytes dropped\] …\n/;
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-c\n]{0,40}$/), { maxLength: 30 }),
        fc.integer({ min: 4, max: 64 }),
        (chunks, limit) => {
          const c = new OutputCapture(limit);
          const f = new OutputFollower('', limit);
          let stream = '';
          let prev = 0;
          for (const chunk of chunks) {
            c.push(Buffer.from(chunk));
            stream += chunk;
            const text = f.update(...snap(c));
            const m = marker.exec(text);
            if (!m) {
              assert.equal(text, stream.slice(prev));
            } else {
              const before = text.slice(0, m.index);
              const after = text.slice(m.index + m[0].length);
              const skipped = Number(m[2]);
              // The newline before the marker is the stream's own, or one added to end a line.
              const fits = [before + (m[1] ?? ''), before].some(
                (b) =>
                  stream.slice(prev, prev + b.length) === b &&
                  stream.endsWith(after) &&
                  b.length + skipped + after.length === stream.length - prev,
              );
              assert.ok(fits, JSON.stringify({ stream, prev, text }));
            }
            prev = stream.length;
          }
        },
      ),
    );
  });
});

/** What a terminal could act on (format.ts's own list, restated). */
// eslint-disable-next-line no-control-regex
const CONTROLS = /\r(?!\n)|[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;

void describe('terminal-safe output', () => {
  const SGR_RED = '\x1b[31m';
  void it('shows control characters as \\xNN and keeps text, newlines and tabs', () => {
    assert.equal(
      visibleControls(
        `a\tb\n${SGR_RED}red\x1b[0m\x00\x07\x7f\u009b2J\x1b]0;title\x07\x1b]8;;http://x\x1b\\l`,
      ),
      'a\tb\n\\x1b[31mred\\x1b[0m\\x00\\x07\\x7f\\x9b2J\\x1b]0;title\\x07\\x1b]8;;http://x\\x1b\\l',
    );
    // A carriage return may end a line (CRLF), never rewind one.
    assert.equal(visibleControls('ok\r\nDONE\rfake'), 'ok\r\nDONE\\x0dfake');
    assert.equal(visibleControls('é € \uFFFD 😀'), 'é € \uFFFD 😀');
  });

  void it('leaves no character a terminal acts on, whatever the text', () => {
    const unescaped = (text: string) => text.replace(/\\x[0-9a-f]{2}/g, '');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
        const shown = visibleControls(text);
        // Only newline, tab and a CR right before a newline remain of C0, DEL and C1 ...
        assert.doesNotMatch(shown, CONTROLS);
        // ... and all the rest is the text as it was.
        assert.equal(unescaped(shown), unescaped(text.replace(CONTROLS, '')));
      }),
      { numRuns: 500 },
    );
  });

  void it('an escaping follower escapes the output but not its prefixes and markers', () => {
    const c = new OutputCapture(16);
    c.push(Buffer.from(`${SGR_RED}abc${'x'.repeat(10)}z\x00\x1b[2Jq\n`));
    const f = new OutputFollower('n1 | ', 16, true);
    assert.equal(
      f.update(...snap(c)) + f.end(),
      'n1 | \\x1b[31mabc\nn1 | … [10 bytes dropped] …\nn1 | z\\x00\\x1b[2Jq\n',
    );
    const plain = new OutputFollower('', 64);
    const raw = `${SGR_RED}x\x00`;
    const c2 = new OutputCapture(64);
    c2.push(Buffer.from(raw));
    assert.equal(plain.update(...snap(c2)), raw, 'without escaping, output passes as it is');
  });

  void it('escapes a split control sequence and a split character correctly across polls', () => {
    const c = new OutputCapture(64);
    const f = new OutputFollower('', 64, true);
    c.push(Buffer.from([0x1b, 0xe2, 0x82]));
    let printed = f.update(...snap(c));
    c.push(Buffer.from([0xac, 0x5b, 0x4b, 0xff, 0x0a]));
    printed += f.update(...snap(c)) + f.end();
    // ESC visible, € whole, the invalid 0xff as U+FFFD.
    assert.equal(printed, '\\x1b€[K\uFFFD\n');
  });
});
