import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NodeCredentials } from '../store/node-acl.js';
import type { NodeStore } from '../store/node-store.js';

/** The tag an agent acknowledges a password with: a prefix of its SHA-256 (never the password). */
export function credentialsTag(password: string): string {
  return createHash('sha256').update(password).digest('hex').slice(0, 16);
}

export interface RotateDeps {
  credentials: NodeCredentials;
  nodes: NodeStore;
}

export type RotateOutcome =
  /** The agent switched to the new password and the old ones are removed. */
  | { rotated: true }
  /** No acknowledgement in time: the new password is withdrawn, the old one still holds. */
  | { rotated: false; why: string };

/**
 * Rotates a node's Redis password without stopping its agent or losing a run, in an order
 * that never leaves the agent holding dead credentials: (1) a new password is added to the
 * node's ACL user beside the old one; (2) the agent is told it on its control channel (again
 * every 2 s, pub/sub keeps nothing for a subscriber that is reconnecting); (3) the agent checks
 * it on a fresh connection, rewrites its state file, makes every connection reconnect with it,
 * and acknowledges; (4) only then are the other passwords removed. Open connections stay
 * authenticated throughout (Redis checks a password at AUTH only). Without an acknowledgement
 * within `timeoutMs` the new password is withdrawn and the old one stays.
 */
export async function rotateNodeCredentials(
  nodeId: string,
  deps: RotateDeps,
  timeoutMs = 30_000,
): Promise<RotateOutcome> {
  const password = await deps.credentials.addPassword(nodeId);
  const tag = credentialsTag(password);
  const deadline = Date.now() + timeoutMs;
  let toldMs = 0;
  while (Date.now() < deadline) {
    if (Date.now() - toldMs >= 2_000) {
      await deps.nodes.tell(nodeId, `rotate ${password}`);
      toldMs = Date.now();
    }
    if ((await deps.nodes.credentialsAck(nodeId)) === tag) {
      await deps.credentials.keepOnly(nodeId, password);
      return { rotated: true };
    }
    await sleep(100);
  }
  await deps.credentials.removePassword(nodeId, password);
  return {
    rotated: false,
    why: `the agent of ${nodeId} did not take the new password within ${Math.round(timeoutMs / 1000)} s (is it running?); its old password still holds`,
  };
}
