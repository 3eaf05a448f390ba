import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { InvocationStore, type IndexCursor } from '../../src/store/invocation-store.js';
import { Keys } from '../../src/store/keys.js';
import type { RedisClient } from '../../src/store/redis.js';
import { clientOf, freshPrefix, redisTarget } from '../helpers/redis.js';

void describe('invocation index paging', () => {
  let redis: RedisClient | undefined;
  after(() => redis?.disconnect());

  void it('walks every item exactly once, newest first, whatever the ties and page size', async () => {
    redis = clientOf(await redisTarget());
    const r = redis;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 300 }),
        fc.integer({ min: 1, max: 60 }),
        async (scores, pageSize) => {
          const keys = new Keys(freshPrefix());
          const store = new InvocationStore(r, keys);
          // Many ids per millisecond: scores 1..5 only.
          const ids = scores.map((_, i) => `t-${String(i).padStart(6, '0')}`);
          if (ids.length > 0) {
            await r.zadd(
              keys.invocationIndex(),
              ...scores.flatMap((s, i) => [s, ids[i] as string]),
            );
          }
          const seen: IndexCursor[] = [];
          let cursor: IndexCursor | undefined;
          for (;;) {
            const page = await store.page(pageSize, cursor);
            if (page.length === 0) break;
            assert.ok(page.length <= pageSize);
            seen.push(...page);
            cursor = page[page.length - 1];
          }
          assert.equal(seen.length, ids.length);
          assert.equal(new Set(seen.map((s) => s.invokeId)).size, ids.length);
          for (let i = 1; i < seen.length; i++) {
            const a = seen[i - 1] as IndexCursor;
            const b = seen[i] as IndexCursor;
            assert.ok(
              a.createdMs > b.createdMs || (a.createdMs === b.createdMs && a.invokeId > b.invokeId),
            );
          }
          await r.del(keys.invocationIndex());
        },
      ),
      { numRuns: 60 },
    );
  });
});
