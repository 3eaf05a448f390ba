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
 * Walks the entries strictly after `after`, newest first, calling `visit` for each item still
 * there until it answers true (stop) or SCAN_LIMIT entries were scanned. Answers the last entry
 * scanned (gone items included, so a NextToken resumes after them) and whether the index ran
 * out (then nothing remains after `last`; otherwise ask `moreAfter`).
 */
export async function scan<C, T>(
  listing: Listing<C, T>,
  after: C | undefined,
  visit: (item: T, at: C) => Promise<boolean>,
): Promise<{ last: C | undefined; exhausted: boolean }> {
  let last = after;
  let scanned = 0;
  while (scanned < SCAN_LIMIT) {
    const batch = await listing.page(Math.min(BATCH, SCAN_LIMIT - scanned), last);
    if (batch.length === 0) return { last, exhausted: true };
    const items = await listing.load(batch);
    for (const [i, at] of batch.entries()) {
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
  const { last, exhausted } = await scan(listing, after, async (item) => {
    if (await opts.keep(item)) found.push(item);
    return opts.full(found);
  });
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
