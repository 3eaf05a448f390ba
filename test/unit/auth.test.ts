import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mayCall, TokenRing } from '../../src/api/plugins/auth.js';
import { ConfigError, loadConfig } from '../../src/shared/config.js';

const READ = 'r'.repeat(20);
const RUN = 'u'.repeat(20);

void describe('API tokens', () => {
  void it('FLEETCMD_API_TOKENS parses name:role:token entries, commas or white space', () => {
    const c = loadConfig({ FLEETCMD_API_TOKENS: ` ci:read:${READ},\n deploy:run:${RUN}:x ` });
    assert.deepEqual(c.apiTokens, [
      { name: 'ci', role: 'read', token: READ },
      { name: 'deploy', role: 'run', token: `${RUN}:x` },
    ]);
    assert.deepEqual(loadConfig({}).apiTokens, []);
    assert.equal(loadConfig({}).rateLimit, 0, 'rate limiting is off by default');
    assert.equal(loadConfig({}).rateLimitWindowSeconds, 60);
  });

  void it('a bad entry stops start-up naming the entry, never showing its token', () => {
    const secret = 'S3cret-token-value';
    const cases: [string, RegExp][] = [
      [`ci:${secret}`, /entry 1: expected name:role:token/],
      [`ci:root:${secret}`, /entry 1 \(ci\): the role must be read, run or admin/],
      [`ci:read:short`, /entry 1 \(ci\): the token must be at least 16 characters/],
      [`ok:read:${READ} bad/name:read:${secret}`, /entry 2: the name must be/],
      [`a:read:${READ},a:run:${RUN}`, /entry 2 \(a\): the name is used twice/],
      [`a:read:${READ},b:run:${READ}`, /entry 2 \(b\): the token is listed twice/],
      [`default:run:${RUN}`, /the name default is FLEETCMD_API_TOKEN's/],
      [secret, /entry 1: expected name:role:token/],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => loadConfig({ FLEETCMD_API_TOKENS: value }),
        (err: Error) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, /FLEETCMD_API_TOKENS/);
          assert.match(err.message, message);
          assert.ok(!err.message.includes(secret), `token shown: ${err.message}`);
          return true;
        },
      );
    }
    assert.throws(
      () => loadConfig({ FLEETCMD_API_TOKEN: RUN, FLEETCMD_API_TOKENS: `x:read:${RUN}` }),
      /repeats the token of FLEETCMD_API_TOKEN/,
    );
    assert.throws(() => loadConfig({ FLEETCMD_RATE_LIMIT: '-1' }), /FLEETCMD_RATE_LIMIT/);
  });

  void it('identifies a bearer token by name and role, and nothing else', () => {
    const ring = new TokenRing([
      { name: 'ci', role: 'read', token: READ },
      { name: 'deploy', role: 'run', token: RUN },
    ]);
    assert.deepEqual(ring.identify(`Bearer ${READ}`), { name: 'ci', role: 'read' });
    assert.deepEqual(ring.identify(`Bearer ${RUN}`), { name: 'deploy', role: 'run' });
    for (const h of [undefined, '', READ, `bearer ${READ}`, `Bearer ${READ}x`, 'Bearer ']) {
      assert.equal(ring.identify(h), undefined, String(h));
    }
    assert.equal(new TokenRing([]).identify(`Bearer ${READ}`), undefined);
  });

  void it('read tokens may call Describe* actions only', () => {
    assert.ok(mayCall('read', 'DescribeInvocations'));
    assert.ok(mayCall('read', 'DescribeNodes'));
    for (const a of [
      'RunCommand',
      'StopInvocation',
      'SendFile',
      'CreateCommand',
      'InvokeCommand',
    ]) {
      assert.equal(mayCall('read', a), false, a);
      assert.ok(mayCall('run', a), a);
    }
  });
});
