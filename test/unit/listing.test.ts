import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { listPage, SCAN_LIMIT, type Listing } from '../../src/api/actions/listing.js';

interface Pos {
  ms: number;
  id: string;
}
interface Item {
  id: string;
  tag: number;
}

/** An in-memory newest-first index (ties by id, descending) whose items may be gone. */
function memoryListing(): {
  listing: Listing<Pos, Item>;
  add(ms: number, id: string, tag: number): void;
  drop(id: string): void;
} {
  const index: Pos[] = [];
  const items = new Map<string, Item>();
  const newer = (a: Pos, b: Pos) => a.ms > b.ms || (a.ms === b.ms && a.id > b.id);
  return {
    listing: {
      page: async (count, cursor) => {
        const sorted = [...index].sort((a, b) => (newer(a, b) ? -1 : 1));
        return sorted.filter((p) => !cursor || newer(cursor, p)).slice(0, count);
      },
      load: async (at) => at.map((p) => items.get(p.id)),
      isCursor: (v): v is Pos =>
        typeof v === 'object' && v !== null && typeof (v as Pos).id === 'string',
    },
    add(ms, id, tag) {
      index.push({ ms, id });
      items.set(id, { id, tag });
    },
    drop: (id) => items.delete(id),
  };
}

void describe('listPage', () => {
  void it('lists every earlier match once, newest first, while newer items are added', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 2 })), {
          maxLength: 60,
        }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 2 }),
        async (entries, pageSize, wanted) => {
          const mem = memoryListing();
          entries.forEach(([ms, tag], i) => mem.add(ms, `i${String(i).padStart(3, '0')}`, tag));
          // Every fifth item has gone (expired or deleted) but keeps its index entry.
          entries.forEach((_, i) => i % 5 === 4 && mem.drop(`i${String(i).padStart(3, '0')}`));
          const expected = entries
            .map(([ms, tag], i) => ({ ms, tag, id: `i${String(i).padStart(3, '0')}`, i }))
            .filter((e) => e.tag === wanted && e.i % 5 !== 4)
            .sort((a, b) => b.ms - a.ms || (a.id < b.id ? 1 : -1))
            .map((e) => e.id);
          const seen: string[] = [];
          let token: string | undefined;
          for (let pages = 0; ; pages++) {
            assert.ok(pages <= entries.length + 1, 'the walk ends');
            const { found, nextToken } = await listPage(mem.listing, {
              nextToken: token,
              keep: async (item) => item.tag === wanted,
              full: (page) => page.length === pageSize,
            });
            assert.ok(found.length <= pageSize);
            seen.push(...found.map((f) => f.id));
            token = nextToken;
            if (token === undefined) break;
            // Newer than anything listed: never on a later page.
            mem.add(100 + pages, `new${pages}`, wanted);
          }
          assert.deepEqual(seen, expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  void it('a page stops after SCAN_LIMIT entries with a NextToken that carries on', async () => {
    const mem = memoryListing();
    const n = SCAN_LIMIT + 10;
    for (let i = 0; i < n; i++) mem.add(i, `i${String(i).padStart(5, '0')}`, i < 3 ? 1 : 0);
    const opts = {
      keep: async (item: Item) => item.tag === 1,
      full: (page: readonly Item[]) => page.length === 10,
    };
    const first = await listPage(mem.listing, { ...opts, nextToken: undefined });
    assert.deepEqual(first.found, []);
    assert.ok(first.nextToken !== undefined, 'the scan limit answers a NextToken');
    const second = await listPage(mem.listing, { ...opts, nextToken: first.nextToken });
    assert.deepEqual(
      second.found.map((f) => f.id),
      ['i00002', 'i00001', 'i00000'],
    );
    assert.equal(second.nextToken, undefined);
  });

  void it('tests items ahead of the walk together, once each, and not far past what a page takes', async () => {
    const mem = memoryListing();
    // Newest first: i00299, i00298, ...; every 50th matches, the first one as the 50th item.
    for (let i = 0; i < 300; i++)
      mem.add(i, `i${String(i).padStart(5, '0')}`, i % 50 === 0 ? 1 : 0);
    const tested: string[] = [];
    let inFlight = 0;
    let mostInFlight = 0;
    const keep = async (item: Item) => {
      tested.push(item.id);
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      await Promise.resolve();
      inFlight--;
      return item.tag === 1;
    };
    const one = await listPage(mem.listing, {
      nextToken: undefined,
      keep,
      full: (page) => page.length === 1,
    });
    assert.deepEqual(
      one.found.map((f) => f.id),
      ['i00250'],
    );
    assert.ok(tested.length >= 50 && tested.length <= 100, `${tested.length} tested`);
    assert.equal(new Set(tested).size, tested.length, 'each item tested once');
    assert.ok(mostInFlight > 8, `at most ${mostInFlight} tested at once`);

    tested.length = 0;
    const all = await listPage(mem.listing, {
      nextToken: undefined,
      keep,
      full: (page) => page.length === 100,
    });
    assert.equal(all.found.length, 6);
    assert.equal(tested.length, 300, 'a page that never fills tests every item once');
    assert.equal(new Set(tested).size, 300);
  });
});
