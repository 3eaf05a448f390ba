import type { RedisClient } from './redis.js';
import type { AuditRecord } from '../domain/audit.js';
import type { Keys } from './keys.js';
import { makeScripts, type Scripts } from './scripts.js';

/** Audit events are kept this long unless configured otherwise: 90 days. */
export const DEFAULT_AUDIT_RETENTION_MS = 90 * 24 * 3600 * 1000;

/** One stored audit event: its stream id, its time (the id's ms) and the event. */
export interface StoredAuditEvent {
  eventId: string;
  timeMs: number;
  event: AuditRecord;
}

/** A page of the stream, newest first, between two times. */
export interface AuditRange {
  /** Only events at or after this time (ms). */
  startMs: number;
  /** Only events at or before this time (ms); undefined: up to now. */
  endMs?: number;
  /** Only events older than this event id (the last one a previous page returned). */
  beforeId?: string;
  count: number;
}

const STREAM_ID_RE = /^\d{1,16}-\d{1,20}$/;

/** Whether `id` is a stream id this store hands out (`<ms>-<seq>`). */
export function isAuditEventId(id: string): boolean {
  return STREAM_ID_RE.test(id);
}

/**
 * The audit trail: a Redis Stream appended to by one script (audit-append-1.lua), which also
 * trims what is older than the retention. Nothing here changes or deletes an event.
 */
export class AuditStore {
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** How long events are kept. @default DEFAULT_AUDIT_RETENTION_MS */
    readonly retentionMs: number = DEFAULT_AUDIT_RETENTION_MS,
  ) {
    this.scripts = makeScripts(redis, keys);
  }

  /** Appends one event (one round trip); answers its id. */
  async append(event: AuditRecord): Promise<string> {
    return this.scripts.auditAppend([], this.retentionMs, JSON.stringify(event));
  }

  /** Events newest first within the range (XREVRANGE); entries that do not parse are skipped. */
  async page(range: AuditRange): Promise<StoredAuditEvent[]> {
    const end =
      range.beforeId !== undefined
        ? `(${range.beforeId}`
        : range.endMs !== undefined
          ? String(Math.max(0, Math.floor(range.endMs)))
          : '+';
    const start = String(Math.max(0, Math.ceil(range.startMs)));
    const rows = await this.redis.xrevrange(this.keys.auditLog(), end, start, 'COUNT', range.count);
    const out: StoredAuditEvent[] = [];
    for (const [eventId, fields] of rows) {
      const at = fields.indexOf('e');
      const json = at >= 0 ? fields[at + 1] : undefined;
      const event = json !== undefined ? parseEvent(json) : undefined;
      if (event) out.push({ eventId, timeMs: Number(eventId.split('-')[0]), event });
    }
    return out;
  }
}

function parseEvent(json: string): AuditRecord | undefined {
  try {
    const v = JSON.parse(json) as unknown;
    return typeof v === 'object' && v !== null && typeof (v as AuditRecord).Action === 'string'
      ? (v as AuditRecord)
      : undefined;
  } catch {
    return undefined;
  }
}
