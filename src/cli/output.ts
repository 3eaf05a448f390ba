/**
 * `-o table|wide|json|yaml|jsonpath=EXPR` for listings and describe. json is the raw API
 * answers, one per line, as they arrive (see pages.ts; `--json` is the same); yaml and jsonpath
 * work on one document, the rows the table shows (or an invocation with its rows), through the
 * `yaml` and `jsonpath-plus` libraries, loaded only when asked for.
 */
import { renderTable } from './format.js';
import { UsageError } from './usage-error.js';

export type OutputFormat =
  { kind: 'table' | 'wide' | 'json' | 'yaml' } | { kind: 'jsonpath'; expr: string };

export const OUTPUT_KINDS = ['table', 'wide', 'json', 'yaml', 'jsonpath='] as const;

/** `-o` and `--json` as one format; `--json` with another `-o` is a contradiction. */
export function parseOutput(text: string | undefined, json: boolean): OutputFormat {
  if (text === undefined) return { kind: json ? 'json' : 'table' };
  let format: OutputFormat;
  if (text.startsWith('jsonpath=')) {
    const expr = text.slice('jsonpath='.length);
    if (expr === '')
      throw new UsageError('-o jsonpath= needs an expression, e.g. jsonpath=$[*].NodeId');
    format = { kind: 'jsonpath', expr };
  } else if (text === 'table' || text === 'wide' || text === 'json' || text === 'yaml') {
    format = { kind: text };
  } else {
    throw new UsageError(
      `-o ${JSON.stringify(text)}: expected table, wide, json, yaml or jsonpath=EXPR`,
    );
  }
  if (json && format.kind !== 'json') throw new UsageError(`--json contradicts -o ${text}`);
  return format;
}

/** A listing's table: its columns, and the extra ones `-o wide` adds (wide cuts no cell). */
export interface TableSpec<T> {
  header: readonly string[];
  row: (r: T) => string[];
  wide?: { header: readonly string[]; row: (r: T) => string[] };
}

/** The table for `format` (table or wide) as text. */
export function tableText<T>(format: OutputFormat, spec: TableSpec<T>, rows: readonly T[]): string {
  if (format.kind !== 'wide' || spec.wide === undefined) {
    return renderTable(
      spec.header,
      rows.map(spec.row),
      format.kind === 'wide' ? Infinity : undefined,
    );
  }
  const wide = spec.wide;
  return renderTable(
    [...spec.header, ...wide.header],
    rows.map((r) => [...spec.row(r), ...wide.row(r)]),
    Infinity,
  );
}

/** yaml or jsonpath of `doc`; false for the formats the caller prints itself (table, json). */
export async function printDocument(format: OutputFormat, doc: unknown): Promise<boolean> {
  if (format.kind === 'yaml') {
    const { stringify } = await import('yaml');
    process.stdout.write(stringify(doc));
    return true;
  }
  if (format.kind === 'jsonpath') {
    const { JSONPath } = await import('jsonpath-plus');
    let found: unknown[];
    try {
      found = JSONPath({ path: format.expr, json: doc as object, wrap: true }) as unknown[];
    } catch (err) {
      throw new UsageError(`-o jsonpath=${format.expr}: ${(err as Error).message}`);
    }
    for (const v of found) {
      process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v)}\n`);
    }
    return true;
  }
  return false;
}

/**
 * Prints a listing in `format`: the table (or wide table), yaml or jsonpath of `doc` (by
 * default the rows); nothing for json, whose raw answers were printed as they came.
 */
export async function printListing<T>(
  format: OutputFormat,
  spec: TableSpec<T>,
  rows: readonly T[],
  doc: unknown = rows,
): Promise<void> {
  if (format.kind === 'json') return;
  if (await printDocument(format, doc)) return;
  process.stdout.write(`${tableText(format, spec, rows)}\n`);
}
