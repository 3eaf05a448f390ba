/**
 * Contexts in the CLI's config file: written 0600 in a 0700 directory, read back, refused with
 * the file's name when broken, and the documented order: flags > variables > --context >
 * current context > http://127.0.0.1:8080, for the URL and the token each.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  configPath,
  readCliConfig,
  resolveEndpoint,
  writeCliConfig,
} from '../../src/cli/contexts.js';

void describe('CLI contexts', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-ctx-'));
    env = { XDG_CONFIG_HOME: dir };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  void it('writes the file 0600 in a 0700 directory and reads it back', async () => {
    const file = writeCliConfig(env, {
      current: 'a',
      contexts: { a: { url: 'http://a:1', token: 'ta' }, b: { url: 'http://b:1', token: 'tb' } },
    });
    assert.equal(file, configPath(env));
    assert.equal(file, join(dir, 'fleetcmd', 'config.json'));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'fleetcmd'))).mode & 0o777, 0o700);
    assert.equal(readCliConfig(env).contexts.b?.token, 'tb');
  });

  void it('resolves each of URL and token in the documented order', () => {
    const none = {};
    assert.deepEqual(resolveEndpoint(none, env), { url: 'http://a:1', token: 'ta' });
    assert.deepEqual(resolveEndpoint({ context: 'b' }, env), { url: 'http://b:1', token: 'tb' });
    const vars = { ...env, FLEETCMD_URL: 'http://v:1', FLEETCMD_API_TOKEN: 'tv' };
    assert.deepEqual(resolveEndpoint({ context: 'b' }, vars), { url: 'http://v:1', token: 'tv' });
    assert.deepEqual(resolveEndpoint({ url: 'http://f:1', token: 'tf', context: 'b' }, vars), {
      url: 'http://f:1',
      token: 'tf',
    });
    // Field by field: a variable for the URL only leaves the token to the context.
    assert.deepEqual(resolveEndpoint({}, { ...env, FLEETCMD_URL: 'http://v:1' }), {
      url: 'http://v:1',
      token: 'ta',
    });
    assert.deepEqual(resolveEndpoint({}, { XDG_CONFIG_HOME: join(dir, 'none') }), {
      url: 'http://127.0.0.1:8080',
      token: undefined,
    });
    assert.throws(
      () => resolveEndpoint({ context: 'ghost' }, env),
      /--context ghost: no such context/,
    );
  });

  void it('refuses a broken file, naming it and what is wrong', async () => {
    const broken = { XDG_CONFIG_HOME: join(dir, 'broken') };
    writeCliConfig(broken, { contexts: {} });
    const file = configPath(broken);
    const cases: [string, RegExp][] = [
      ['{', /not valid JSON/],
      ['[]', /must be a JSON object/],
      ['{"contexts": []}', /"contexts" must be an object/],
      ['{"contexts": {"a": {"url": 1}}}', /contexts\.a\.url must be an http\(s\) URL/],
      [
        '{"contexts": {"a": {"url": "http://x", "token": 5}}}',
        /contexts\.a\.token must be a string/,
      ],
      ['{"current": "z", "contexts": {}}', /"current" names no context: "z"/],
      ['{"contexts": {"bad name": {"url": "http://x"}}}', /context name "bad name" is not valid/],
    ];
    for (const [text, why] of cases) {
      await writeFile(file, text);
      assert.throws(
        () => readCliConfig(broken),
        (err: Error) =>
          err.name === 'ConfigError' && err.message.startsWith(file) && why.test(err.message),
        text,
      );
    }
  });
});
