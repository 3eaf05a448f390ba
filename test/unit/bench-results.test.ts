/**
 * The format `npm run bench` writes (bench/results/latest.json, the RESULTS.md table), checked on
 * rows made by the harness's own builders from sample figures: no benchmark runs here. A row with
 * no target is a report (`"pass": null`), never a pass; the machine block names the commit
 * measured and whether its tree was clean.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, mock } from 'node:test';
import { z } from 'zod';
import {
  mustBeZero,
  publish,
  reportOnly,
  score,
  scorePairs,
  type BenchResult,
} from '../../bench/harness.js';
import { account } from '../../bench/fire-lag.js';
import { failedRow, latestJson, machine, markdown } from '../../bench/results-file.js';

const Row = z
  .object({
    name: z.string().min(1),
    unit: z.string().min(1),
    ours: z.number(),
    baseline: z.number().nullable(),
    /** null in JSON also for an infinite ratio (JSON has no Infinity). */
    ratio: z.number().nullable(),
    target: z.number().nullable(),
    pass: z.boolean().nullable(),
    note: z.string().optional(),
  })
  .strict()
  .refine((r) => (r.pass === null) === (r.target === null), {
    message: 'pass is null exactly when the row has no target',
  })
  .refine((r) => r.target !== null || (r.baseline === null && r.ratio === null), {
    message: 'a row without a target has no baseline or ratio either',
  });

const Machine = z.looseObject({
  commit: z.string().regex(/^[0-9a-f]{40}$/),
  clean: z.boolean(),
  date: z.string(),
  quick: z.boolean(),
});

const Latest = z.object({ machine: Machine, results: z.array(Row) }).strict();

/** One of each row the harness makes, from sample figures. */
function sampleRows(): BenchResult[] {
  return [
    score('passes', 'ms', 10, 50, 'lower', 1, 'absolute target'),
    score('fails', 'runs/s', 5, 10, 'higher', 0.9),
    score('zero time', 'ms', 0, 20, 'lower', 1),
    scorePairs(
      'pairs',
      'runs/s',
      [
        { ours: 9, baseline: 10 },
        { ours: 11, baseline: 10 },
        { ours: 10, baseline: 10 },
      ],
      'higher',
      0.9,
    ),
    mustBeZero('no duplicates', 0),
    mustBeZero('missed', 3, 'three missed'),
    reportOnly('a figure', 'ms', 12.72, 'no target'),
    failedRow('crashed', 1),
  ];
}

const dir = mkdtempSync(join(tmpdir(), 'bench-results-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The rows as run.ts reads them back: publish's JSON lines through BENCH_OUT. */
async function published(rows: BenchResult[]): Promise<{ lines: unknown[]; printed: string }> {
  const out = join(dir, `${Math.random().toString(36).slice(2)}.jsonl`);
  const saved = process.env.BENCH_OUT;
  process.env.BENCH_OUT = out;
  const log = mock.method(console, 'log', () => undefined);
  try {
    await publish(rows);
  } finally {
    log.mock.restore();
    if (saved === undefined) delete process.env.BENCH_OUT;
    else process.env.BENCH_OUT = saved;
  }
  const printed = log.mock.calls.map((c) => String(c.arguments[0])).join('\n');
  const text = readFileSync(out, 'utf8');
  return {
    lines: text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown),
    printed,
  };
}

void describe('bench results format', () => {
  void it('every row publish writes fits the schema; pass is null exactly when there is no target', async () => {
    const { lines } = await published(sampleRows());
    const rows = lines.map((l, i) => {
      const parsed = Row.safeParse(l);
      assert.ok(parsed.success, `row ${i} ${JSON.stringify(l)}: ${parsed.error?.message}`);
      return parsed.data;
    });
    const byName = new Map(rows.map((r) => [r.name, r]));
    assert.equal(byName.get('a figure')?.pass, null);
    assert.equal(byName.get('a figure')?.target, null);
    assert.equal(byName.get('passes')?.pass, true);
    assert.equal(byName.get('fails')?.pass, false);
    assert.equal(byName.get('no duplicates')?.pass, true);
    assert.equal(byName.get('missed')?.pass, false);
    assert.equal(byName.get('crashed: completed')?.pass, false);
  });

  void it('the printed table and the RESULTS.md table label a row without a target `report`', async () => {
    const rows = sampleRows();
    const { printed } = await published(rows);
    const printedLine = printed.split('\n').find((l) => l.startsWith('a figure'));
    assert.match(printedLine ?? '', /\breport$/);
    const md = markdown(await machine(), rows, 'npm run bench');
    const cells = (name: string) =>
      md
        .split('\n')
        .find((l) => l.startsWith(`| ${name} |`))
        ?.split(' | ')
        .map((c) => c.trim());
    // Columns: result, unit, ours, baseline, ratio, target, pass, note.
    assert.equal(cells('a figure')?.[6], 'report');
    assert.equal(cells('passes')?.[6], 'yes');
    assert.equal(cells('fails')?.[6], '**no**');
  });

  void it('latest.json names the commit measured and whether the tree was clean', async () => {
    const m = await machine();
    const doc = Latest.safeParse(JSON.parse(latestJson(m, sampleRows())));
    assert.ok(doc.success, doc.error?.message);
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const porcelain = execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8' });
    assert.equal(doc.data.machine.commit, head);
    assert.equal(doc.data.machine.clean, porcelain.trim() === '');
    const md = markdown(m, sampleRows(), 'npm run bench');
    assert.ok(md.includes(head), 'RESULTS.md names the commit');
  });
});

void describe('schedule accounting (bench/fire-lag.ts)', () => {
  void it('a fire the server skipped counts as missed unless it ran, then it is lagged by its start', () => {
    const t0 = 1_000_000;
    const t1 = t0 + 3_000;
    // Schedule a: all three fires started. Schedule b: its second fire was skipped and never
    // ran, its third skipped but ran anyway, 700 ms late. Schedule c: its first never ran.
    const starts = [
      { id: 'a', dueMs: t0, startMs: t0 + 10 },
      { id: 'a', dueMs: t0 + 1_000, startMs: t0 + 1_020 },
      { id: 'a', dueMs: t0 + 2_000, startMs: t0 + 2_030 },
      { id: 'b', dueMs: t0, startMs: t0 + 40 },
      { id: 'b', dueMs: t0 + 2_000, startMs: t0 + 2_700 },
      { id: 'c', dueMs: t0 + 1_000, startMs: t0 + 1_050 },
      { id: 'c', dueMs: t0 + 2_000, startMs: t0 + 2_060 },
    ];
    const skipped = new Set([`b ${t0 + 1_000}`, `b ${t0 + 2_000}`]);
    const acc = account(starts, ['a', 'b', 'c'], t0, t1, skipped);
    assert.equal(acc.missed, 2, 'b skipped and never ran, c never ran');
    assert.equal(acc.skippedRan, 1);
    assert.deepEqual(
      [...acc.lags].sort((x, y) => x - y),
      [10, 20, 30, 40, 50, 60, 700],
    );
    assert.deepEqual(acc.dateLags, [], 'no $(date) stamps: no such lags');
  });

  void it("a fire's first-instruction and $(date) stamps give two lags of the same first start", () => {
    const t0 = 1_000_000;
    const starts = [
      // Started twice: the earlier start counts, with its own date stamp.
      { id: 'a', dueMs: t0, startMs: t0 + 30, dateMs: t0 + 45 },
      { id: 'a', dueMs: t0, startMs: t0 + 12, dateMs: t0 + 25 },
      { id: 'b', dueMs: t0, startMs: t0 + 8, dateMs: t0 + 9 },
    ];
    const acc = account(starts, ['a', 'b'], t0, t0 + 1_000);
    assert.equal(acc.duplicates, 1);
    assert.deepEqual(acc.lags, [12, 8]);
    assert.deepEqual(acc.dateLags, [25, 9]);
  });
});
