import { createHash, createHmac, randomBytes } from 'node:crypto';
import { Scheduler } from '../../src/scheduler/worker.js';
import { startServer } from '../../src/server/main.js';
import { makeLogger } from '../../src/shared/log.js';
import type { Running } from '../../src/shared/running.js';
import { EventStore } from '../../src/store/event-store.js';
import { InvocationStore } from '../../src/store/invocation-store.js';
import { NodeStore } from '../../src/store/node-store.js';
import { NodeQueues, SchedulerQueue } from '../../src/store/queues.js';
import { closeRedis, makeRedis } from '../../src/store/redis.js';
import { RunStore } from '../../src/store/run-store.js';
import { parseBody, type ApiResponse, type Stack } from './stack.js';

/**
 * Helpers for the tests of issue 26's "untested promises": a second server replica on a stack's
 * Redis and prefix, and the RPC HMAC-SHA1 query signature built from the vendor's documentation.
 */

/** A second `startServer` on the stack's Redis, prefix and token: another replica. */
export async function startReplica(stack: Stack): Promise<{
  server: Running;
  call: (action: string, body: unknown) => Promise<ApiResponse>;
}> {
  const server = await startServer({ ...stack.config, port: 0 }, makeLogger('silent', 'test'));
  const url = server.url ?? '';
  return {
    server,
    async call(action, body) {
      const res = await fetch(`${url}/v1/${action}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.token}` },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: parseBody(await res.text()) };
    },
  };
}

/** The hex SHA-256 of a text (how fleetcmd names a ClientToken's key). */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

/**
 * An RPC request signed with the HMAC-SHA1 query signature as the vendor documents it (not with
 * fleetcmd's code): the common parameters, then `Signature` = Base64 HMAC-SHA1, keyed with
 * `<secret>&`, of `POST&%2F&<encoded canonical query>`. Sent as a POST with the parameters in
 * the query string, as the SDKs' `signatureAlgorithm: 'v2'` does.
 */
export function sha1SignedRequest(
  baseUrl: string,
  key: { id: string; secret: string },
  r: { version: string; action: string; query: Record<string, string>; nonce?: string },
): { url: string; init: RequestInit } {
  const params: Record<string, string> = {
    ...r.query,
    Action: r.action,
    Version: r.version,
    Format: 'JSON',
    AccessKeyId: key.id,
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: r.nonce ?? randomBytes(16).toString('hex'),
    Timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  const canonical = Object.keys(params)
    .map((k) => [rfc3986(k), rfc3986(params[k] ?? '')] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const signature = createHmac('sha1', `${key.secret}&`)
    .update(`POST&${rfc3986('/')}&${rfc3986(canonical)}`)
    .digest('base64');
  return {
    url: `${baseUrl}/?${canonical}&Signature=${rfc3986(signature)}`,
    init: { method: 'POST' },
  };
}

/**
 * Runs one pass of the scheduler's upkeep (Scheduler.upkeep) from a Scheduler of the test's
 * own, on stores with the stack's retention, as a replica's upkeep job would; its worker is
 * never started, so it takes no job from the queue.
 */
export async function upkeepOnce(stack: Stack): Promise<void> {
  const redis = makeRedis(stack.redisTarget, 'worker', 'upkeep-test');
  const retentionMs = stack.config.retentionSeconds * 1000;
  const nodeQueues = new NodeQueues(redis, stack.keys);
  const schedulerQueue = new SchedulerQueue(redis, stack.keys);
  try {
    const scheduler = new Scheduler({
      invocations: new InvocationStore(redis, stack.keys, retentionMs),
      events: new EventStore(redis, stack.keys, stack.config.eventsMaxLen, retentionMs),
      runs: new RunStore(redis, stack.keys, retentionMs, {
        maxRuns: stack.config.historyRuns,
        maxAgeMs: stack.config.historySeconds * 1000,
      }),
      nodes: new NodeStore(redis, stack.keys),
      nodeQueues,
      schedulerQueue,
      workerConnection: redis,
      subscriber: redis,
      keys: stack.keys,
      log: makeLogger('silent', 'test'),
      deliveryTimeoutSeconds: stack.config.deliveryTimeoutSeconds,
      concurrency: 1,
    });
    await scheduler.upkeep();
  } finally {
    await schedulerQueue.close();
    await nodeQueues.close();
    await closeRedis(redis);
  }
}
