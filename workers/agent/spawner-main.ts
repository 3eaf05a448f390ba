/**
 * The spawner: a small process, forked once by the agent (spawner.ts), that starts the agent's
 * commands. Node's spawn() forks the calling process, and the fork's cost grows with the
 * caller's memory (bench/spawn-rss.ts: ~12-15 µs per MiB); this process stays small, and its
 * fork no longer blocks the agent's event loop.
 *
 * It imports nothing but Node's own modules. Each spawn request comes with the command's output
 * socket as a handle (the writing end of a pair the agent made, exec/output-socket.ts), so the
 * command writes straight to the agent. It lives exactly as long as its channel to
 * the agent: it ignores the signals a terminal or an orchestrator sends the agent's group (the
 * agent drains first and decides what is killed) and exits when the agent is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { SpawnerReply, SpawnerRequest, SpawnRequest } from './spawner.js';

const children = new Map<number, ChildProcess>();

function reply(message: SpawnerReply): void {
  process.send?.(message);
}

function start(req: SpawnRequest, output: Socket | undefined): void {
  if (!output) {
    reply({ type: 'failed', id: req.id, reason: 'no output socket came with the request' });
    return;
  }
  output.on('error', () => undefined);
  let child: ChildProcess;
  try {
    child = spawn(req.file, req.args, {
      cwd: req.cwd,
      env: req.env,
      detached: true,
      stdio: ['ignore', output, output],
      ...(req.uid !== undefined ? { uid: req.uid } : {}),
      ...(req.gid !== undefined ? { gid: req.gid } : {}),
    });
  } catch (e) {
    output.destroy();
    reply({ type: 'failed', id: req.id, reason: `spawn: ${String(e)}` });
    return;
  }
  // The command holds its own copies of the socket.
  output.destroy();
  const pid = child.pid;
  if (pid === undefined) {
    child.once('error', (e) => reply({ type: 'failed', id: req.id, reason: e.message }));
    return;
  }
  child.on('error', () => undefined);
  children.set(req.id, child);
  child.once('exit', (code, signal) => {
    children.delete(req.id);
    reply({ type: 'exit', id: req.id, code, signal });
  });
  reply({ type: 'spawned', id: req.id, pid });
}

function kill(id: number, group: boolean): void {
  const child = children.get(id);
  // Not once it is reaped: its pid may be another process's by now.
  if (child?.pid && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(group ? -child.pid : child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  // Sent (or nothing left to kill): the agent knows this process is not wedged.
  reply({ type: 'killed', id });
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) {
  process.on(signal, () => undefined);
}
process.on('disconnect', () => process.exit(0));
process.on('message', (m: SpawnerRequest, handle: unknown) => {
  if (m.type === 'spawn') start(m, handle as Socket | undefined);
  else if (m.type === 'kill') kill(m.id, m.group);
});
