import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/shared/config.js';

void describe('FLEETCMD_ACCESS_KEYS', () => {
  void it('parses id:secret pairs (secrets may hold colons); none by default', () => {
    assert.equal(loadConfig({}).accessKeys.size, 0);
    const c = loadConfig({
      FLEETCMD_ACCESS_KEYS: ' ops:0123456789abcdef , ci.bot:with:colons-0123456789 ',
    });
    assert.deepEqual(
      [...c.accessKeys],
      [
        ['ops', '0123456789abcdef'],
        ['ci.bot', 'with:colons-0123456789'],
      ],
    );
  });

  const bad: [string, RegExp][] = [
    ['nosecret', /the secret of nosecret must be at least 16 characters/],
    ['k:short', /at least 16 characters/],
    ['k:has a space in the secret', /without spaces/],
    ['bad id!:0123456789abcdef', /access key id "bad id!"/],
    ['k:0123456789abcdef,k:fedcba9876543210', /k is given twice/],
  ];
  for (const [value, why] of bad) {
    void it(`refuses ${JSON.stringify(value)}, naming the variable`, () => {
      assert.throws(
        () => loadConfig({ FLEETCMD_ACCESS_KEYS: value }),
        (err: Error) =>
          err instanceof ConfigError &&
          /FLEETCMD_ACCESS_KEYS/.test(err.message) &&
          why.test(err.message),
      );
    });
  }
});
