import assert from 'node:assert/strict';
import { withCredentials, type RedisTarget } from '../../src/shared/redis-target.js';
import type { ApiResponse, Stack } from './stack.js';

/** `POST /v1/RegisterNode` (no token: the activation is the credential). */
export async function postRegisterNode(
  apiUrl: string,
  body: Record<string, unknown>,
): Promise<ApiResponse> {
  const res = await fetch(`${apiUrl}/v1/RegisterNode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A node registered the way an agent does it: an activation made for it, then RegisterNode. */
export interface Enrolled {
  activationId: string;
  NodeId: string;
  /** One Redis: the node's URL ('' on a cluster). */
  RedisUrl: string;
  /** The node's ACL user, and its Redis settings as environment (REDIS_URL or the cluster's). */
  Username: string;
  redisEnv: Record<string, string>;
  /** Where the node logs in, as its own ACL user: for a client of the node's (`clientOf`). */
  redisTarget: RedisTarget;
  Prefix: string;
}

/**
 * The node's Redis login from a RegisterNode answer: its RedisUrl on one Redis; on a cluster the
 * stack's nodes with the answer's RedisUsername and RedisPassword.
 */
export function nodeLogin(
  stack: Stack,
  answer: Record<string, unknown>,
): { target: RedisTarget; username: string; password: string } {
  if (typeof answer.RedisClusterNodes !== 'string') {
    const url = new URL(String(answer.RedisUrl));
    return {
      target: { kind: 'url', url: url.toString() },
      username: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
    };
  }
  const [username, password] = [String(answer.RedisUsername), String(answer.RedisPassword)];
  return { target: withCredentials(stack.redisTarget, username, password), username, password };
}

/** CreateActivation (with an admin token) and RegisterNode of `nodeId` with it; both must pass. */
export async function enrollNode(
  stack: Stack,
  adminToken: string,
  nodeId: string,
  activation: Record<string, unknown> = { InstanceCount: 1 },
): Promise<Enrolled> {
  const made = await stack.call('CreateActivation', activation, { token: adminToken });
  assert.equal(made.status, 200, JSON.stringify(made.body));
  const activationId = String(made.body.ActivationId);
  const r = await postRegisterNode(stack.url, {
    ActivationId: activationId,
    ActivationCode: made.body.ActivationCode,
    NodeId: nodeId,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return {
    activationId,
    NodeId: String(r.body.NodeId),
    RedisUrl: typeof r.body.RedisUrl === 'string' ? r.body.RedisUrl : '',
    ...(typeof r.body.RedisClusterNodes === 'string'
      ? {
          Username: String(r.body.RedisUsername),
          redisEnv: {
            REDIS_CLUSTER_NODES: r.body.RedisClusterNodes,
            REDIS_USERNAME: String(r.body.RedisUsername),
            REDIS_PASSWORD: String(r.body.RedisPassword),
          },
        }
      : {
          Username: decodeURIComponent(new URL(String(r.body.RedisUrl)).username),
          redisEnv: { REDIS_URL: String(r.body.RedisUrl) },
        }),
    redisTarget: nodeLogin(stack, r.body).target,
    Prefix: String(r.body.Prefix),
  };
}
