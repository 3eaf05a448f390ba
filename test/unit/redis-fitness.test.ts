import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { neededClients, redisWarnings } from '../../src/domain/redis-fitness.js';

void describe('redisWarnings', () => {
  void it('needs 3 connections a node and 100 spare', () => {
    assert.equal(neededClients(0), 100);
    assert.equal(neededClients(10_000), 30_100);
  });

  void it('is quiet when maxclients fits and nothing is evicted', () => {
    const facts = { maxClients: 30_100, evictionPolicy: 'noeviction', nodes: 10_000 };
    assert.deepEqual(redisWarnings(facts), []);
  });

  void it('warns below 3 x nodes + 100, naming both figures', () => {
    const [w, ...rest] = redisWarnings({
      maxClients: 30_099,
      evictionPolicy: 'noeviction',
      nodes: 10_000,
    });
    assert.deepEqual(rest, []);
    assert.equal(w?.check, 'maxclients');
    assert.match(w?.message ?? '', /maxclients is 30099, below the 30100 that 10000 registered/);
  });

  void it('warns on any policy but noeviction', () => {
    for (const policy of ['allkeys-lru', 'volatile-lru', 'allkeys-random', 'volatile-ttl']) {
      const ws = redisWarnings({ maxClients: 10_000, evictionPolicy: policy, nodes: 1 });
      assert.deepEqual(
        ws.map((w) => w.check),
        ['maxmemory-policy'],
        policy,
      );
      assert.match(ws[0]?.message ?? '', new RegExp(`is ${policy}, not noeviction`));
    }
  });

  void it('judges nothing it was not told', () => {
    const facts = { maxClients: undefined, evictionPolicy: undefined, nodes: 1_000_000 };
    assert.deepEqual(redisWarnings(facts), []);
  });
});
