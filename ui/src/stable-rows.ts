import { useRef } from 'preact/hooks';

/** Field by field; a nested value (a node's Tags) by its JSON. */
function sameRow(a: object, b: object): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    const x: unknown = (a as Record<string, unknown>)[k];
    const y: unknown = (b as Record<string, unknown>)[k];
    if (x === y) continue;
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
    if (JSON.stringify(x) !== JSON.stringify(y)) return false;
  }
  return true;
}

/**
 * `next` with each row that equals its namesake in `prev` (same key) replaced by that older
 * object, and `prev` itself when no row changed: a table of memoised rows then renders only the
 * rows a new answer really changed, and nothing when it changed none.
 */
export function shareRows<T extends object>(
  prev: readonly T[],
  next: readonly T[],
  key: (row: T) => string,
): readonly T[] {
  const old = new Map<string, T>();
  for (const row of prev) old.set(key(row), row);
  let changed = prev.length !== next.length;
  const out = next.map((row, i) => {
    const before = old.get(key(row));
    if (before !== undefined && sameRow(before, row)) {
      if (prev[i] !== before) changed = true;
      return before;
    }
    changed = true;
    return row;
  });
  return changed ? out : prev;
}

/** shareRows against the rows this hook returned last time. */
export function useStableRows<T extends object>(
  next: readonly T[],
  key: (row: T) => string,
): readonly T[] {
  const input = useRef<readonly T[]>([]);
  const output = useRef<readonly T[]>([]);
  if (next !== input.current) {
    input.current = next;
    output.current = shareRows(output.current, next, key);
  }
  return output.current;
}
