import { createHash } from 'node:crypto';
import type { Logger } from '../../src/shared/log.js';
import type { RedisTarget } from '../../src/shared/redis-target.js';
import type { AgentStore } from '../../src/store/agent-store.js';
import {
  authRefusal,
  closeRedis,
  makeRedis,
  waitReady,
  type CredentialGroup,
  type RedisClient,
} from '../../src/store/redis.js';
import { readState, withStatePassword, writeState } from './state.js';

/** Exit code of an agent stopped because its node was deregistered (EX_CONFIG: no restart). */
export const DEREGISTERED_EXIT_CODE = 78;

export interface ControlDeps {
  nodeId: string;
  store: AgentStore;
  subscriber: RedisClient;
  /** The queue connection, whose authentication failures are watched. */
  connection: RedisClient;
  group: CredentialGroup;
  /** The Redis (URL or cluster) the agent runs on (rotation changes its password). */
  redis: RedisTarget;
  /** The state directory holding those credentials, when they came from it. */
  stateDir: string | undefined;
  log: Logger;
  /** Stops the agent for good: the reason is logged first. */
  stop(exitCode: number, why: string): void;
}

/** The same tag the server expects (src/app/rotate-node.ts credentialsTag). */
const tagOf = (password: string) =>
  createHash('sha256').update(password).digest('hex').slice(0, 16);

/**
 * Takes a rotated password: checks it on a fresh connection, rewrites the state file, makes
 * every connection reconnect with it, then acknowledges, so the server removes the old one
 * only once nothing of this agent depends on it. Runs and open connections are untouched.
 */
async function takePassword(
  deps: ControlDeps,
  current: RedisTarget,
  password: string,
): Promise<RedisTarget> {
  const next: RedisTarget =
    current.kind === 'cluster' ? { ...current, password } : withUrlPassword(current.url, password);
  const probe = makeRedis(next, 'producer', `fleetcmd-agent-${deps.nodeId}-probe`);
  try {
    await waitReady(probe, 5_000);
    await probe.ping();
  } finally {
    await closeRedis(probe);
  }
  if (deps.stateDir !== undefined) {
    const state = await readState(deps.stateDir);
    if (state) await writeState(deps.stateDir, withStatePassword(state, next));
  }
  deps.group.setPassword(password);
  await deps.store.ackCredentials(tagOf(password));
  deps.log.info(
    { nodeId: deps.nodeId, stateRewritten: deps.stateDir !== undefined },
    'Redis credentials rotated: reconnects use the new password',
  );
  return next;
}

function withUrlPassword(url: string, password: string): RedisTarget {
  const next = new URL(url);
  next.password = password;
  return { kind: 'url', url: next.toString() };
}

/** The password a target connects with. */
const passwordOf = (t: RedisTarget): string =>
  t.kind === 'cluster' ? (t.password ?? '') : decodeURIComponent(new URL(t.url).password);

/**
 * The node's control words besides `stop <InvokeId>` (agent.ts): `rotate <password>` and
 * `deregistered`. A refused authentication (WRONGPASS, the user deleted while the agent was
 * away from its channel) stops the agent too, naming the likely reason.
 */
export function watchControl(deps: ControlDeps): void {
  let current = deps.redis;
  let taking: string | undefined;
  const channel = deps.store.controlChannel();
  deps.subscriber.on('message', (ch: string, message: string) => {
    if (ch !== channel) return;
    if (message === 'deregistered') {
      deps.stop(
        DEREGISTERED_EXIT_CODE,
        `node ${deps.nodeId} was deregistered (DeregisterNodes or fleetcmd node remove): its Redis user is removed; the agent stops`,
      );
      return;
    }
    const password = message.startsWith('rotate ') ? message.slice('rotate '.length) : '';
    // The server repeats the word until acknowledged: take each password once.
    if (password === '' || password === passwordOf(current) || password === taking) return;
    taking = password;
    takePassword(deps, current, password).then(
      (next) => {
        current = next;
        taking = undefined;
      },
      (err: unknown) => {
        taking = undefined;
        deps.log.error({ err: String(err) }, 'rotated Redis credentials not taken');
      },
    );
  });
  for (const conn of [deps.connection, deps.subscriber]) {
    conn.on('error', (err: Error) => {
      const refused = authRefusal(err);
      if (refused !== undefined)
        deps.stop(DEREGISTERED_EXIT_CODE, refusedWhy(deps.nodeId, refused));
    });
  }
}

/** Why an agent whose Redis credentials are refused stops: at start-up, or while it runs. */
export function refusedWhy(nodeId: string, refusal: string): string {
  return `Redis refused node ${nodeId}'s credentials (${refusal}): the node was deregistered or its user removed; register it again (remove the state file) or give it new credentials`;
}
