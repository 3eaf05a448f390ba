import { useVirtualizer } from '@tanstack/react-virtual';
import type { ComponentChildren } from 'preact';
import { memo } from 'preact/compat';
import { useRef } from 'preact/hooks';

export interface Column<T> {
  header: string;
  /** CSS grid track, e.g. `8rem` or `1fr`. */
  width: string;
  cell: (row: T) => ComponentChildren;
}

interface RowProps<T> {
  row: T;
  index: number;
  start: number;
  size: number;
  template: string;
  columns: readonly Column<T>[];
}

function RowView<T>({ row, index, start, size, template, columns }: RowProps<T>) {
  return (
    <div
      class="vrow"
      role="row"
      aria-rowindex={index + 2}
      style={{
        gridTemplateColumns: template,
        height: `${size}px`,
        transform: `translateY(${start}px)`,
      }}
    >
      {columns.map((c) => (
        <span key={c.header} role="cell">
          {c.cell(row)}
        </span>
      ))}
    </div>
  );
}

/** A row renders again only when its data, place or columns change, not on every scroll frame. */
const VRow = memo(RowView) as typeof RowView;

/**
 * A table whose rows are rendered only while on screen (TanStack Virtual), so 10,000 rows
 * scroll like 50. Rows are ARIA rows of a grid laid out with CSS grid; the header stays put.
 */
export function VirtualTable<T>({
  rows,
  columns,
  rowKey,
  label,
  rowHeight = 36,
}: {
  rows: readonly T[];
  columns: readonly Column<T>[];
  rowKey: (row: T) => string;
  label: string;
  rowHeight?: number;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => rowHeight,
    overscan: 6,
    // Scroll updates render in the next frame rather than synchronously inside the scroll event.
    useFlushSync: false,
  });
  const template = columns.map((c) => c.width).join(' ');
  return (
    <div class="vtable" role="table" aria-label={label} aria-rowcount={rows.length + 1}>
      <div class="vrow vhead" role="row" style={{ gridTemplateColumns: template }}>
        {columns.map((c) => (
          <span key={c.header} role="columnheader">
            {c.header}
          </span>
        ))}
      </div>
      <div
        class="vscroll"
        ref={scroller}
        tabIndex={0}
        aria-label={`${label}, scrollable`}
        role="rowgroup"
        style={{ height: `${Math.max(virtual.getTotalSize(), rowHeight) + 2}px` }}
      >
        <div class="vspace" style={{ height: `${virtual.getTotalSize()}px` }}>
          {virtual.getVirtualItems().map((item) => {
            const row = rows[item.index] as T;
            return (
              <VRow
                key={rowKey(row)}
                row={row}
                index={item.index}
                start={item.start}
                size={item.size}
                template={template}
                columns={columns}
              />
            );
          })}
        </div>
      </div>
    </div>
  );
}
