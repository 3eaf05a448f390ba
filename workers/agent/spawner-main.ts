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
 *
 * A gated command (a fire made ahead of its slot, SpawnRequest.gated) waits on fd 3, the end of a
 * pipe this process keeps the other end of, until a release request writes one byte to it. When
 * the agent goes, held commands are killed and their script directories removed before this
 * process exits; when this process dies, the pipe's end of file makes each one exit unrun.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { rmdirSync, unlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { SpawnerReply, SpawnerRequest, SpawnRequest } from './spawner.js';

const children = new Map<number, ChildProcess>();

/** A command held at its gate: this process's end of the gate pipe, and its script directory. */
interface Gate {
  pipe: Socket;
  scriptDir: string | undefined;
}

/** Gated commands not released yet, by request id. */
const gates = new Map<number, Gate>();

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
  const stdio: StdioOptions = ['ignore', output, output, ...(req.gated ? ['pipe' as const] : [])];
  try {
    child = spawn(req.file, req.args, {
      cwd: req.cwd,
      env: req.env,
      detached: true,
      stdio,
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
  const pipe = req.gated ? (child.stdio[3] as Socket | null) : null;
  if (pipe) {
    pipe.on('error', () => undefined);
    gates.set(req.id, { pipe, scriptDir: req.scriptDir });
  }
  child.once('exit', (code, signal) => {
    children.delete(req.id);
    gates.delete(req.id);
    pipe?.destroy();
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

/** Lets a gated command run: one byte on its gate, which it reads, then closes, then execs. */
function release(id: number): void {
  const gate = gates.get(id);
  if (gate) {
    gates.delete(id);
    gate.pipe.end('\n');
  }
  reply({ type: 'released', id });
}

/**
 * The agent is gone: nothing will release a held command any more. Each is killed (its group)
 * and its script directory removed (the file, then the directory: never recursive), so none
 * waits on, and nothing of it is left behind.
 */
function dropHeld(): void {
  for (const [id, gate] of gates) {
    const pid = children.get(id)?.pid;
    try {
      if (pid) process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    if (gate.scriptDir === undefined) continue;
    try {
      unlinkSync(join(gate.scriptDir, 'script'));
      rmdirSync(gate.scriptDir);
    } catch {
      // Gone already, or not as it was made: left as it is.
    }
  }
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) {
  process.on(signal, () => undefined);
}
process.on('disconnect', () => {
  dropHeld();
  process.exit(0);
});
process.on('message', (m: SpawnerRequest, handle: unknown) => {
  if (m.type === 'spawn') start(m, handle as Socket | undefined);
  else if (m.type === 'kill') kill(m.id, m.group);
  else if (m.type === 'release') release(m.id);
});
