/**
 * A private redis-server (src/dev/private-redis.ts: `fleetcmd dev` and the test harness) lives
 * no longer than the process that started it, however that process ends: SIGKILLed, it cannot
 * stop the server itself, and its watchdog does. Real processes, waited on through /proc.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hangBound } from '../helpers/hang.js';
import { alive, waitFor } from '../helpers/stack.js';

const MODULE = fileURLToPath(new URL('../../src/dev/private-redis.ts', import.meta.url));

/** A process that starts a private server, prints its pid and port, and waits to be killed. */
const PARENT = `
const { startPrivateRedis } = await import(${JSON.stringify(MODULE)});
const r = await startPrivateRedis();
console.log(JSON.stringify({ pid: r.process.pid, url: r.url }));
setInterval(() => {}, 60_000);
`;

void describe('a private redis-server and the process that started it', () => {
  void it('goes when its parent is SIGKILLed', async () => {
    const parent = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', PARENT],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    parent.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const { pid } = await waitFor(
      'the parent to start its server',
      async () => {
        const line = out.split('\n').find((l) => l.startsWith('{'));
        return line ? (JSON.parse(line) as { pid: number; url: string }) : undefined;
      },
      60_000,
    );
    assert.ok(alive(pid), 'the server runs while its parent does');
    const exited = once(parent, 'exit');
    parent.kill('SIGKILL');
    await hangBound('the parent to die', exited);
    await waitFor('the server to go with its parent', async () => !alive(pid), 30_000);
  });
});
