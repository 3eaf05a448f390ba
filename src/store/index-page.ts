import type { RedisClient } from './redis.js';

/** An entry of a sorted-set index scored by creation time (ms). */
export interface IndexEntry {
  id: string;
  ms: number;
}

/**
 * The order of every index page: newest first, entries of the same millisecond by id,
 * descending (as Redis's ZREVRANGEBYSCORE gives them), so pages from several indexes merge.
 */
export function newestFirst(a: IndexEntry, b: IndexEntry): number {
  return b.ms - a.ms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/**
 * Up to `count` entries of the index at `key`, newest first, strictly after `cursor`. Entries
 * created at the same millisecond are ordered by id (descending), so a cursor never skips or
 * repeats an entry while newer ones are being added in front.
 */
export async function pageNewestFirst(
  redis: RedisClient,
  key: string,
  count: number,
  cursor: IndexEntry | undefined,
): Promise<IndexEntry[]> {
  const pairs = (raw: string[]): IndexEntry[] => {
    const out: IndexEntry[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      out.push({ id: raw[i] as string, ms: Number(raw[i + 1]) });
    }
    return out;
  };
  if (!cursor) {
    return pairs(
      await redis.zrevrangebyscore(key, '+inf', '-inf', 'WITHSCORES', 'LIMIT', 0, count),
    );
  }
  // First the rest of the cursor's own millisecond (ties sort by id, descending), then older.
  const ties = pairs(await redis.zrevrangebyscore(key, cursor.ms, cursor.ms, 'WITHSCORES')).filter(
    (it) => it.id < cursor.id,
  );
  if (ties.length >= count) return ties.slice(0, count);
  const older = pairs(
    await redis.zrevrangebyscore(
      key,
      `(${cursor.ms}`,
      '-inf',
      'WITHSCORES',
      'LIMIT',
      0,
      count - ties.length,
    ),
  );
  return [...ties, ...older];
}
