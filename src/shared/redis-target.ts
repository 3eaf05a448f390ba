/**
 * Where Redis is: one server (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES with
 * REDIS_USERNAME and REDIS_PASSWORD). store/redis.ts makes every connection from one of these.
 */
import { z } from 'zod';

/** @default of REDIS_URL. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface ClusterNode {
  host: string;
  port: number;
}

export interface ClusterTarget {
  kind: 'cluster';
  /** Seed nodes: the client learns the rest (and which holds which slots) from any of them. */
  nodes: readonly ClusterNode[];
  username?: string;
  password?: string;
  /** The nodes were given as rediss://: every connection uses TLS. */
  tls: boolean;
}

export type RedisTarget = { kind: 'url'; url: string } | ClusterTarget;

/** One `host:port` (or `redis://host:port`, `rediss://host:port`) entry. */
function parseNode(entry: string): { node: ClusterNode; tls: boolean } | string {
  const scheme = /^(rediss?):\/\//.exec(entry)?.[1];
  const rest = scheme ? entry.slice(scheme.length + 3).replace(/\/$/, '') : entry;
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:/@\s]+):(\d{1,5})$/.exec(rest);
  const port = Number(m?.[2]);
  if (!m?.[1] || !(port >= 1 && port <= 65535)) {
    return `${JSON.stringify(entry)} is not host:port (credentials go in REDIS_USERNAME and REDIS_PASSWORD)`;
  }
  return { node: { host: m[1].replace(/^\[|\]$/g, ''), port }, tls: scheme === 'rediss' };
}

/** REDIS_CLUSTER_NODES: `host:port,...`, all with rediss:// (TLS) or none. */
export const clusterNodes = z
  .string()
  .optional()
  .transform((text, ctx): Omit<ClusterTarget, 'kind'> | undefined => {
    if (text === undefined) return undefined;
    const parsed = text
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)
      .map(parseNode);
    const problem =
      parsed.find((p): p is string => typeof p === 'string') ??
      (parsed.length === 0 ? 'no node given' : undefined) ??
      (new Set(parsed.map((p) => typeof p !== 'string' && p.tls)).size > 1
        ? 'either every node is rediss:// (TLS) or none is'
        : undefined);
    if (problem !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `REDIS_CLUSTER_NODES: ${problem} (host:port,host:port,...)`,
      });
      return z.NEVER;
    }
    const nodes = parsed.flatMap((p) => (typeof p === 'string' ? [] : [p.node]));
    const tls = parsed.some((p) => typeof p !== 'string' && p.tls);
    return { nodes: Object.freeze(nodes), tls };
  });

/** The target with another user and password (a node's own ACL user). */
export function withCredentials(
  target: RedisTarget,
  username: string,
  password: string,
): RedisTarget {
  if (target.kind === 'cluster') return { ...target, username, password };
  const url = new URL(target.url);
  url.username = username;
  url.password = password;
  return { kind: 'url', url: url.toString() };
}

/** The environment variables that give a process this target (REDIS_URL or the cluster's). */
export function targetEnv(target: RedisTarget): Record<string, string> {
  if (target.kind === 'url') return { REDIS_URL: target.url };
  const scheme = target.tls ? 'rediss://' : '';
  const hostPort = (n: ClusterNode) => `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`;
  return {
    REDIS_CLUSTER_NODES: target.nodes.map((n) => scheme + hostPort(n)).join(','),
    ...(target.username !== undefined ? { REDIS_USERNAME: target.username } : {}),
    ...(target.password !== undefined ? { REDIS_PASSWORD: target.password } : {}),
  };
}

/** Where the target is, for a message: never a password. */
export function describeTarget(target: RedisTarget): string {
  if (target.kind === 'cluster') {
    return `the Redis Cluster at ${targetEnv({ kind: 'cluster', nodes: target.nodes, tls: target.tls }).REDIS_CLUSTER_NODES}`;
  }
  const url = new URL(target.url);
  if (url.password !== '') url.password = '***';
  return url.toString();
}

/** The ACL user a process logs in to Redis as: `default` when the target names none. */
export function redisUser(target: RedisTarget): string {
  const user =
    target.kind === 'cluster' ? target.username : decodeURIComponent(new URL(target.url).username);
  return user === undefined || user === '' ? 'default' : user;
}

/**
 * Why a process stops (or is not ready) when Redis refuses its credentials: the first line of
 * Redis's refusal (WRONGPASS, NOAUTH) and the user, the same for one Redis and a cluster.
 */
export function credentialsRefused(target: RedisTarget, refusal: string): string {
  const settings =
    target.kind === 'cluster'
      ? 'REDIS_USERNAME and REDIS_PASSWORD'
      : 'the user and password in REDIS_URL';
  return `Redis refused the credentials of user ${JSON.stringify(redisUser(target))} (${refusal}): check ${settings}`;
}
