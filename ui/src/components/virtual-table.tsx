import { useVirtualizer, type Range } from '@tanstack/react-virtual';
import type { ComponentChildren } from 'preact';
import { memo } from 'preact/compat';
import { useCallback, useRef } from 'preact/hooks';

export interface Column<T> {
  header: string;
  /** CSS grid track, e.g. `8rem` or `1fr`. */
  width: string;
  cell: (row: T) => ComponentChildren;
}

/** Every row is this tall (styles.css `.vrow` agrees): no row is measured. */
export const ROW_HEIGHT = 36;

/**
 * Rows are put in the page in blocks of this many: scrolling changes the DOM once every BLOCK
 * rows (a block added below, one dropped above), not on every frame a row comes into view.
 */
const BLOCK = 16;

/** TanStack Virtual's range widened to whole blocks, with at least `overscan` rows either side. */
function blockRange(range: Range): number[] {
  const first = Math.max(0, Math.floor((range.startIndex - range.overscan) / BLOCK) * BLOCK);
  const last = Math.min(
    range.count - 1,
    (Math.floor((range.endIndex + range.overscan) / BLOCK) + 1) * BLOCK - 1,
  );
  const out: number[] = [];
  for (let i = first; i <= last; i++) out.push(i);
  return out;
}

interface RowProps<T> {
  row: T;
  index: number;
  columns: readonly Column<T>[];
}

function RowView<T>({ row, index, columns }: RowProps<T>) {
  return (
    <div class="vrow" role="row" aria-rowindex={index + 2}>
      {columns.map((c) => (
        <span key={c.header} role="cell">
          {c.cell(row)}
        </span>
      ))}
    </div>
  );
}

/** A row renders again only when its data or the columns change (a row is an object of its own). */
const VRow = memo(RowView) as typeof RowView;

interface RowsProps<T> {
  rows: readonly T[];
  first: number;
  last: number;
  columns: readonly Column<T>[];
  rowKey: (row: T) => string;
}

/**
 * The rows first..last in the normal flow of one box moved down to the first one's place: one
 * transform for the lot, and rows of a fixed height that never need measuring.
 */
function RowsView<T>({ rows, first, last, columns, rowKey }: RowsProps<T>) {
  const shown: preact.JSX.Element[] = [];
  for (let i = first; i <= last; i++) {
    const row = rows[i];
    if (row !== undefined)
      shown.push(<VRow key={rowKey(row)} row={row} index={i} columns={columns} />);
  }
  return (
    <div class="vrows" style={{ transform: `translateY(${first * ROW_HEIGHT}px)` }}>
      {shown}
    </div>
  );
}

/** Skips the rows entirely while the block range is the same (most scroll frames). */
const Rows = memo(RowsView) as typeof RowsView;

function HeadView<T>({ columns, template }: { columns: readonly Column<T>[]; template: string }) {
  return (
    <div class="vrow vhead" role="row" style={{ gridTemplateColumns: template }}>
      {columns.map((c) => (
        <span key={c.header} role="columnheader">
          {c.header}
        </span>
      ))}
    </div>
  );
}

const Head = memo(HeadView) as typeof HeadView;

/**
 * A table whose rows are rendered only near the screen (TanStack Virtual), so 10,000 rows scroll
 * like 50. Rows are ARIA rows of a grid laid out with CSS grid; the header stays put. Pass
 * `columns` and `rowKey` that keep their identity between renders (module constants or
 * useMemo), and rows that keep theirs while unchanged (useStableRows): a row whose object is the
 * same as before is not rendered again.
 */
export function VirtualTable<T>({
  rows,
  columns,
  rowKey,
  label,
}: {
  rows: readonly T[];
  columns: readonly Column<T>[];
  rowKey: (row: T) => string;
  label: string;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: useCallback(() => ROW_HEIGHT, []),
    overscan: 4,
    rangeExtractor: blockRange,
    // Scroll updates render in the next microtask rather than synchronously in the scroll event.
    useFlushSync: false,
  });
  const template = columns.map((c) => c.width).join(' ');
  const items = virtual.getVirtualItems();
  const total = virtual.getTotalSize();
  return (
    <div
      class="vtable"
      role="table"
      aria-label={label}
      aria-rowcount={rows.length + 1}
      style={{ '--vcols': template }}
    >
      <Head columns={columns} template={template} />
      <div
        class="vscroll"
        ref={scroller}
        tabIndex={0}
        aria-label={`${label}, scrollable`}
        role="rowgroup"
        style={{ height: `${Math.max(total, ROW_HEIGHT) + 2}px` }}
      >
        <div class="vspace" style={{ height: `${total}px` }}>
          <Rows
            rows={rows}
            first={items[0]?.index ?? 0}
            last={items[items.length - 1]?.index ?? -1}
            columns={columns}
            rowKey={rowKey}
          />
        </div>
      </div>
    </div>
  );
}
