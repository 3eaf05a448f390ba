import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startPrivateRedis } from '../../src/dev/private-redis.js';
import { findOnPath } from '../../src/shared/on-path.js';
import { idsOf, userAdmin } from '../helpers/local-user.js';

/**
 * A local user who takes the port startPrivateRedis picked, between its check that the port is
 * free and redis-server's bind, must get neither the password nor the stack: the server that
 * answers must be the child startPrivateRedis started.
 */
const SKIP =
  process.getuid?.() !== 0
    ? 'needs root: the impostor runs as a second local user made with useradd'
    : (await findOnPath('redis-server')) === undefined
      ? 'needs redis-server on PATH'
      : false;

void describe('startPrivateRedis when another user took its port first', { skip: SKIP }, () => {
  const user = `fcimp${Math.random().toString(16).slice(2, 10)}`;
  let dir = '';

  before(async () => {
    userAdmin('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', user]);
    dir = await mkdtemp(join(tmpdir(), 'fc-impostor-'));
    await chmod(dir, 0o777);
  });

  after(async () => {
    const pid = Number(await readFile(join(dir, 'impostor.pid'), 'utf8').catch(() => '0'));
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
    userAdmin('userdel', [user]);
  });

  void it('never answers with the impostor nor sends it the password', async () => {
    const { uid, gid } = idsOf(user);
    // Stands in for redis-server: the other user's Redis (no password) takes the port first,
    // the way a racing user's would; the child itself stays up without listening.
    const fake = join(dir, 'fake-redis-server');
    await writeFile(
      fake,
      [
        '#!/bin/sh',
        'port=$3',
        `setpriv --reuid=${uid} --regid=${gid} --clear-groups redis-server --port "$port" \\`,
        `  --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \\`,
        `  --pidfile ${dir}/impostor.pid --dir ${dir} --logfile ${dir}/impostor.log`,
        `echo "$port" > ${dir}/impostor.port`,
        'exec sleep 600',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    let started: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
    try {
      started = await startPrivateRedis({ binary: fake });
    } catch (err) {
      assert.match(String(err), /redis-server/, 'a clear error');
    }
    const port = Number(await readFile(join(dir, 'impostor.port'), 'utf8'));
    const impostor = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    const stats = await impostor.info('commandstats').finally(() => impostor.disconnect());
    await started?.stop();
    assert.equal(started, undefined, `startPrivateRedis answered with the impostor's port ${port}`);
    assert.doesNotMatch(stats, /cmdstat_auth:/, 'the impostor received an AUTH');
  });
});
