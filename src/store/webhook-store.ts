import type { RedisClient } from './redis.js';
import type { DeliveryAttempt, Webhook } from '../domain/webhook.js';
import type { Keys } from './keys.js';
import { makeScripts, type Scripts } from './scripts.js';

type StreamEntry = [id: string, fields: string[]];

/** A webhook's delivery log keeps about this many attempts. */
const LOG_MAXLEN = 1_000;

const fieldOf = (fields: string[], name: string) => {
  const i = fields.indexOf(name);
  return i >= 0 && i % 2 === 0 ? (fields[i + 1] ?? '') : '';
};

/** An event waiting in a webhook's backlog: its id and the JSON delivered. */
export interface BacklogEntry {
  eventId: string;
  json: string;
}

/**
 * Webhooks and their deliveries (docs/webhooks.md): the webhook hashes, the fan-out that copies
 * events of the event stream into each webhook's backlog (wh-fanout-2.lua), the backlog's head
 * that the delivery worker sends, and the log of attempts. All `{global}`.
 */
export class WebhookStore {
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {
    this.scripts = makeScripts(redis, keys);
  }

  /** 'Full' when `max` webhooks exist already. */
  create(w: Omit<Webhook, 'createdMs'>, max: number): Promise<'Created' | 'Full'> {
    return this.scripts.whCreate(
      [w.webhookId],
      max,
      w.webhookId,
      w.url,
      w.eventTypes.join(','),
      w.secret,
    );
  }

  delete(webhookId: string): Promise<boolean> {
    return this.scripts.whDelete([webhookId], webhookId);
  }

  async get(webhookId: string): Promise<Webhook | undefined> {
    const h = await this.redis.hgetall(this.keys.webhook(webhookId));
    if (h.url === undefined) return undefined;
    return {
      webhookId,
      url: h.url,
      eventTypes: (h.types ?? '').split(',').filter(Boolean),
      secret: h.secret ?? '',
      createdMs: Number(h.createdMs ?? 0),
    };
  }

  /** Every webhook id, oldest first. */
  ids(): Promise<string[]> {
    return this.redis.zrange(this.keys.webhooks(), 0, -1);
  }

  count(): Promise<number> {
    return this.redis.zcard(this.keys.webhooks());
  }

  /** Events waiting in a webhook's backlog. */
  backlogLength(webhookId: string): Promise<number> {
    return this.redis.xlen(this.keys.webhookBacklog(webhookId));
  }

  /** The fan-out's cursor; undefined while no webhook exists. */
  async cursor(): Promise<string | undefined> {
    return (await this.redis.get(this.keys.webhookCursor())) ?? undefined;
  }

  /**
   * Copies a batch read after `fromId` into the backlogs of the webhooks that want each event;
   * answers the webhooks that got some, or undefined when another replica copied it first.
   */
  async fanOut(
    fromId: string,
    batch: readonly { id: string; type: string; json: string }[],
    backlogMax: number,
  ): Promise<string[] | undefined> {
    const last = batch.at(-1);
    if (!last) return [];
    const reply = await this.scripts.whFanout(
      [],
      fromId,
      last.id,
      this.keys.webhookPrefix(),
      this.keys.webhookBacklogPrefix(),
      backlogMax,
      ...batch.flatMap((e) => [e.id, e.type, e.json]),
    );
    if (reply === '!') return undefined;
    return reply.split(',').filter(Boolean);
  }

  /** The oldest event not yet delivered to a webhook. */
  async head(webhookId: string): Promise<BacklogEntry | undefined> {
    const rows = (await this.redis.xrange(
      this.keys.webhookBacklog(webhookId),
      '-',
      '+',
      'COUNT',
      1,
    )) as StreamEntry[];
    const row = rows[0];
    return row ? { eventId: row[0], json: fieldOf(row[1], 'e') } : undefined;
  }

  /** Takes a delivered (or given-up) event out of the backlog. */
  async done(webhookId: string, eventId: string): Promise<void> {
    await this.redis.xdel(this.keys.webhookBacklog(webhookId), eventId);
  }

  async logAttempt(webhookId: string, attempt: DeliveryAttempt): Promise<void> {
    await this.redis.xadd(
      this.keys.webhookLog(webhookId),
      'MAXLEN',
      '~',
      LOG_MAXLEN,
      '*',
      'e',
      JSON.stringify(attempt),
    );
  }

  /** Attempts newest first, before `beforeId` (exclusive) when given; with their log ids. */
  async attempts(
    webhookId: string,
    beforeId: string | undefined,
    count: number,
  ): Promise<{ id: string; attempt: DeliveryAttempt }[]> {
    const rows = (await this.redis.xrevrange(
      this.keys.webhookLog(webhookId),
      beforeId === undefined ? '+' : `(${beforeId}`,
      '-',
      'COUNT',
      count,
    )) as StreamEntry[];
    return rows.map(([id, fields]) => ({
      id,
      attempt: JSON.parse(fieldOf(fields, 'e') || '{}') as DeliveryAttempt,
    }));
  }
}
