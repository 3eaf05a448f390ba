import type { Job, Worker } from 'bullmq';
import type { RedisClient } from '../store/redis.js';
import { eventJson } from '../domain/events.js';
import {
  attemptVerdict,
  retryDelayMs,
  webhookData,
  type DeliveryAttempt,
} from '../domain/webhook.js';
import type { Logger } from '../shared/log.js';
import type { EventStore } from '../store/event-store.js';
import type { Keys } from '../store/keys.js';
import type { InvocationStore } from '../store/invocation-store.js';
import { makeWebhookWorker, type WebhookJobData, type WebhookQueue } from '../store/queues.js';
import type { WebhookStore } from '../store/webhook-store.js';
import { deliveryId, postWebhook, signature } from './webhook-post.js';

/** The webhook settings (FLEETCMD_WEBHOOK_*). */
export interface WebhookSettings {
  allowPrivate: boolean;
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** A delivery is given up this long after its first attempt. */
  retrySeconds: number;
  backlogMax: number;
  concurrency: number;
}

export interface WebhookDeps {
  store: WebhookStore;
  /** The event stream the fan-out reads. */
  events: EventStore;
  invocations: InvocationStore;
  queue: WebhookQueue;
  keys: Keys;
  /** Commands (BullMQ's worker takes its own connections from this one's options). */
  workerConnection: RedisClient;
  /** A connection of its own: XREAD BLOCK holds it while it waits. */
  conn: RedisClient;
  settings: WebhookSettings;
  log: Logger;
}

/** How long one XREAD waits for new events. */
const BLOCK_MS = 1_000;
/** While no webhook exists, how often the fan-out looks again (and reads nothing else). */
const IDLE_MS = 2_000;
/** How often every backlog's head is given a job again (after a crash between two steps). */
const SWEEP_MS = 30_000;
const BATCH = 100;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A webhook's deliveries, one at a time and in the event stream's order (so in order per
 * invocation): a webhook's backlog holds its events not yet delivered, and only the oldest has
 * a delivery job. A job that succeeds (or gives up) takes its event out and queues the next;
 * one that fails is retried by BullMQ with growing waits, holding the ones behind it.
 */
export class Webhooks {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private worker: Worker<WebhookJobData> | undefined;
  private sweptAt = 0;

  constructor(private readonly deps: WebhookDeps) {}

  async start(): Promise<void> {
    const { settings } = this.deps;
    this.worker = makeWebhookWorker(
      this.deps.workerConnection,
      this.deps.keys,
      (job) => this.deliver(job),
      {
        concurrency: settings.concurrency,
        retryDelayMs: (n) => retryDelayMs(n, settings.retryBaseMs, settings.retryMaxMs),
      },
    );
    this.worker.on('error', (err) => this.deps.log.warn({ err: String(err) }, 'webhook worker'));
    void this.worker.run();
    await this.worker.waitUntilReady();
    this.loop = this.fanOutLoop();
  }

  /** Gives the oldest event of a webhook's backlog its delivery job (a no-op if it has one). */
  private async queueHead(webhookId: string): Promise<void> {
    const head = await this.deps.store.head(webhookId);
    if (head) await this.deps.queue.ensure(webhookId, head.eventId);
  }

  /** The JSON each event is delivered as (RunFinished with its command's id and name). */
  private async deliveries(batch: { id: string; type: string; timeMs: number; data: string }[]) {
    const invokeIds = [
      ...new Set(
        batch
          .filter((e) => e.type === 'RunFinished')
          .map((e) => (JSON.parse(e.data) as { InvokeId?: string }).InvokeId ?? ''),
      ),
    ];
    const invs = await this.deps.invocations.getMany(invokeIds);
    const byId = new Map(invokeIds.map((id, i) => [id, invs[i]]));
    return batch.map((e) => {
      const data = JSON.parse(e.data) as Record<string, unknown>;
      const time = new Date(e.timeMs).toISOString();
      const inv = byId.get(typeof data.InvokeId === 'string' ? data.InvokeId : '');
      const full = webhookData(e.type, data, time, inv);
      return { id: e.id, type: e.type, json: eventJson({ ...e, data: JSON.stringify(full) }) };
    });
  }

  private async fanOutOnce(): Promise<void> {
    const { store, conn, settings } = this.deps;
    const cursor = (await store.count()) > 0 ? await store.cursor() : undefined;
    if (cursor === undefined) return sleep(IDLE_MS);
    if (Date.now() - this.sweptAt > SWEEP_MS) {
      for (const id of await store.ids()) await this.queueHead(id);
      this.sweptAt = Date.now();
    }
    const batch = await this.deps.events.tail(conn, cursor, BLOCK_MS, BATCH);
    if (batch.length === 0) return;
    const touched = await store.fanOut(cursor, await this.deliveries(batch), settings.backlogMax);
    for (const id of touched ?? []) await this.queueHead(id);
  }

  private async fanOutLoop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.fanOutOnce();
      } catch (err) {
        if (this.stopped) return;
        this.deps.log.warn({ err: String(err) }, 'webhook fan-out failed; retrying');
        await sleep(BLOCK_MS);
      }
    }
  }

  /** One attempt of one delivery (see the class comment). */
  private async deliver(job: Job<WebhookJobData>): Promise<void> {
    const { store, settings } = this.deps;
    const { webhookId, eventId } = job.data;
    const hook = await store.get(webhookId);
    const head = hook ? await store.head(webhookId) : undefined;
    if (!hook || !head) return;
    // A job for an event already delivered: make sure the current head has one.
    if (head.eventId !== eventId) {
      await this.deps.queue.ensure(webhookId, head.eventId);
      return;
    }
    const eventType = (JSON.parse(head.json) as { EventType?: string }).EventType ?? '';
    const id = deliveryId(webhookId, eventId);
    const body = Buffer.from(head.json);
    const started = Date.now();
    const r = await postWebhook(
      hook.url,
      body,
      {
        'x-fleetcmd-event': eventType,
        'x-fleetcmd-delivery': id,
        'x-fleetcmd-signature-256': signature(hook.secret, body),
      },
      { timeoutMs: settings.timeoutMs, allowPrivate: settings.allowPrivate },
    );
    const verdict = r.refused ? 'Failed' : attemptVerdict(r.status);
    const nextWait = retryDelayMs(job.attemptsMade + 1, settings.retryBaseMs, settings.retryMaxMs);
    const expired = Date.now() + nextWait - job.timestamp > settings.retrySeconds * 1000;
    const status = verdict === 'Retry' ? (expired ? 'Failed' : 'Retrying') : verdict;
    const attempt: DeliveryAttempt = {
      DeliveryId: id,
      EventId: eventId,
      EventType: eventType,
      Attempt: job.attemptsMade + 1,
      Time: new Date(started).toISOString(),
      Status: status,
      HttpStatus: r.status,
      Error: r.error !== '' ? r.error : status === 'Succeeded' ? '' : `HTTP ${r.status}`,
      DurationMs: Date.now() - started,
    };
    await store.logAttempt(webhookId, attempt);
    // BullMQ retries it after retryDelayMs(attemptsMade); the events behind it wait.
    if (status === 'Retrying') throw new Error(`delivery ${id}: ${attempt.Error}`);
    await store.done(webhookId, eventId);
    await this.queueHead(webhookId);
  }

  /** Stops the fan-out, then the worker (an attempt under way finishes first). */
  async close(): Promise<void> {
    this.stopped = true;
    this.deps.conn.disconnect();
    await this.loop;
    await this.worker?.close();
  }
}
