import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../src/shared/config.js';
import type { RedisTarget } from '../../src/shared/redis-target.js';

/**
 * What RegisterNode answered, kept in FLEETCMD_STATE_DIR so every later start of the agent
 * needs no flags. It holds the node's Redis password: the directory is 0700 and the file 0600.
 */
export const agentStateSchema = z
  .strictObject({
    NodeId: z.string().min(1),
    /** One Redis: the URL with the node's user and password. */
    RedisUrl: z
      .string()
      .regex(/^rediss?:\/\//)
      .optional(),
    /** A Redis Cluster: REDIS_CLUSTER_NODES, and the node's user and password. */
    RedisClusterNodes: z.string().min(1).optional(),
    RedisUsername: z.string().optional(),
    RedisPassword: z.string().optional(),
    Prefix: z.string().min(1),
    ActivationId: z.string(),
    /** The API the node registered with. */
    ServerUrl: z.string(),
    RegisteredAt: z.string(),
  })
  .refine((s) => (s.RedisUrl === undefined) !== (s.RedisClusterNodes === undefined), {
    message: 'exactly one of RedisUrl and RedisClusterNodes',
  });

export type AgentState = z.infer<typeof agentStateSchema>;

export const STATE_FILE = 'agent.json';

export function statePath(stateDir: string): string {
  return join(stateDir, STATE_FILE);
}

/** The stored state, or undefined when there is none; a damaged file is a ConfigError. */
export async function readState(stateDir: string): Promise<AgentState | undefined> {
  let text: string;
  try {
    text = await readFile(statePath(stateDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`FLEETCMD_STATE_DIR: cannot read ${statePath(stateDir)}: ${String(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const r = agentStateSchema.safeParse(parsed);
  if (!r.success) {
    throw new ConfigError(
      `FLEETCMD_STATE_DIR: ${statePath(stateDir)} is not an agent state file (remove it to register again)`,
    );
  }
  return r.data;
}

/**
 * Writes the state atomically: a temporary file (0600) in the same directory, written and
 * fsynced, renamed over the old one, and the directory fsynced, so a crash leaves the old file
 * or the new one, never a part. The directory is made (and kept) 0700.
 */
export async function writeState(stateDir: string, state: AgentState): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await chmod(stateDir, 0o700);
  const final = statePath(stateDir);
  const temp = `${final}.tmp-${process.pid}`;
  const file = await open(temp, 'w', 0o600);
  try {
    await file.writeFile(`${JSON.stringify(state, null, 2)}\n`);
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(temp, { force: true });
    throw err;
  }
  await file.close();
  await rename(temp, final);
  const dir = await open(stateDir, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** The Redis settings a state gives an agent: REDIS_URL, or the cluster's three. */
export function stateRedisEnv(state: AgentState): Record<string, string> {
  if (state.RedisUrl !== undefined) return { REDIS_URL: state.RedisUrl };
  return {
    REDIS_CLUSTER_NODES: state.RedisClusterNodes ?? '',
    ...(state.RedisUsername !== undefined ? { REDIS_USERNAME: state.RedisUsername } : {}),
    ...(state.RedisPassword !== undefined ? { REDIS_PASSWORD: state.RedisPassword } : {}),
  };
}

/** Whether `target` is the state's own Redis settings (so rotation may rewrite the state). */
export function stateIsTarget(state: AgentState, target: RedisTarget): boolean {
  if (target.kind === 'url') return state.RedisUrl === target.url;
  return (
    state.RedisClusterNodes !== undefined &&
    target.username === state.RedisUsername &&
    target.password === state.RedisPassword
  );
}

/** The state with a rotated password. */
export function withStatePassword(state: AgentState, next: RedisTarget): AgentState {
  return next.kind === 'url'
    ? { ...state, RedisUrl: next.url }
    : { ...state, RedisPassword: next.password ?? '' };
}
