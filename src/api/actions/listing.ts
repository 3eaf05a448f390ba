import type { Invocation, InvocationKind } from '../../domain/invocation.js';
import type { IndexCursor } from '../../store/invocation-store.js';
import { decodeToken, encodeToken } from '../page-token.js';
import { invocationOfKind } from '../../app/invocations.js';
import type { ActionDeps } from '../../app/deps.js';

/**
 * A newest-first index that listings walk (invocations, sent files, saved commands): positions
 * of type C, each standing for an item of type T that may have gone (expired or deleted).
 */
export interface Listing<C, T> {
  /** Up to `count` positions, newest first, strictly after `cursor`. */
  page(count: number, cursor: C | undefined): Promise<C[]>;
  /** The items at those positions, in order; undefined where one has gone. */
  load(at: readonly C[]): Promise<(T | undefined)[]>;
  /** Whether a value decoded from a NextToken is a position of this listing. */
  isCursor(v: unknown): v is C;
}

/** How many index entries one filtered page may scan before it answers with a NextToken. */
export const SCAN_LIMIT = 2000;

/** Entries read from the index per round trip. */
const BATCH = 100;

/**
 * Most items a page tests ahead of its walk at once (see listPage): the window doubles from 1
 * up to this.
 */
const AHEAD_MAX = 32;

/**
 * Walks the entries strictly after `after`, newest first, calling `visit` for each item still
 * there until it answers true (stop) or SCAN_LIMIT entries were scanned. Answers the last entry
 * scanned (gone items included, so a NextToken resumes after them) and whether the index ran
 * out (then nothing remains after `last`; otherwise ask `moreAfter`). With `ahead`, the items
 * about to be visited are shown to it first, in windows that double (1, 2, 4, ... AHEAD_MAX).
 */
export async function scan<C, T>(
  listing: Listing<C, T>,
  after: C | undefined,
  visit: (item: T, at: C) => Promise<boolean>,
  ahead?: (items: readonly T[]) => void,
): Promise<{ last: C | undefined; exhausted: boolean }> {
  let last = after;
  let scanned = 0;
  let window = 1;
  while (scanned < SCAN_LIMIT) {
    const batch = await listing.page(Math.min(BATCH, SCAN_LIMIT - scanned), last);
    if (batch.length === 0) return { last, exhausted: true };
    const items = await listing.load(batch);
    let shownTo = 0;
    for (const [i, at] of batch.entries()) {
      if (ahead && i >= shownTo) {
        shownTo = i + window;
        ahead(items.slice(i, shownTo).filter((item): item is T => item !== undefined));
        window = Math.min(2 * window, AHEAD_MAX);
      }
      scanned++;
      last = at;
      const item = items[i];
      if (item !== undefined && (await visit(item, at))) return { last, exhausted: false };
    }
  }
  return { last, exhausted: false };
}

/** Whether the index holds an entry older than `at`. */
export async function moreAfter<C, T>(listing: Listing<C, T>, at: C): Promise<boolean> {
  return (await listing.page(1, at)).length > 0;
}

/**
 * One page of a listing, newest first: the index is walked from `nextToken` keeping the items
 * `keep` accepts until `full` says the page is full or SCAN_LIMIT entries were scanned;
 * NextToken is given while older entries remain. Items created while a client pages are newer
 * than its token's position, so they are never listed; nothing older is skipped or repeated.
 */
export async function listPage<C, T>(
  listing: Listing<C, T>,
  opts: {
    nextToken: string | undefined;
    keep: (item: T) => Promise<boolean>;
    full: (found: readonly T[]) => boolean;
  },
): Promise<{ found: T[]; nextToken?: string }> {
  const after =
    opts.nextToken !== undefined ? decodeToken(opts.nextToken, listing.isCursor) : undefined;
  const found: T[] = [];
  // `keep` runs ahead of the walk (its reads go out together, one pipeline, rather than one
  // round trip per item), at most about as many items again as the page takes: a page that finds
  // nothing scans SCAN_LIMIT entries in ~70 round trips, not 2000.
  const kept = new Map<T, Promise<boolean>>();
  const keepOf = (item: T): Promise<boolean> => {
    let k = kept.get(item);
    if (!k) {
      k = opts.keep(item);
      // One the walk stops before still settles: never an unhandled rejection.
      k.catch(() => undefined);
      kept.set(item, k);
    }
    return k;
  };
  const { last, exhausted } = await scan(
    listing,
    after,
    async (item) => {
      if (await keepOf(item)) found.push(item);
      return opts.full(found);
    },
    (items) => {
      for (const item of items) void keepOf(item);
    },
  );
  const more = !exhausted && last !== undefined && (await moreAfter(listing, last));
  return { found, ...(more && last !== undefined ? { nextToken: encodeToken(last) } : {}) };
}

export const isIndexCursor = (v: unknown): v is IndexCursor =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as IndexCursor).createdMs === 'number' &&
  typeof (v as IndexCursor).invokeId === 'string';

/**
 * The index of one kind of invocation. An item of the other kind reads as gone, so a listing
 * shows only its own kind whatever its index holds. With `nodeId`, commands are walked in that
 * node's own index (the same positions, so a NextToken means the same in either), which holds
 * only invocations that target the node: a filtered page scans no one else's.
 */
export function invocationListing(
  deps: ActionDeps,
  kind: InvocationKind,
  nodeId?: string,
): Listing<IndexCursor, Invocation> {
  return {
    page: (count, cursor) => deps.invocations.page(count, cursor, kind, nodeId),
    load: (at) => Promise.all(at.map((a) => invocationOfKind(deps, a.invokeId, kind))),
    isCursor: isIndexCursor,
  };
}
