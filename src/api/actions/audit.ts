import type { Action } from '../../app/deps.js';
import { isAuditEventId, type StoredAuditEvent } from '../../store/audit-store.js';
import { decodeToken, encodeToken } from '../page-token.js';
import {
  describeAuditEventsResponse,
  describeAuditEventsSchema,
  type AuditEventView,
  type DescribeAuditEventsAnswer,
} from '../schemas/audit.js';
import { parseBody } from '../schemas/common.js';
import { defineAction, type ActionEntry } from './define-action.js';

/** Events one call reads at most while filtering: a sparse filter answers a short page. */
const SCAN_LIMIT = 2_000;
const SCAN_BATCH = 200;

const isCursor = (v: unknown): v is { before: string } =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { before?: unknown }).before === 'string' &&
  isAuditEventId((v as { before: string }).before);

const view = (e: StoredAuditEvent): AuditEventView => ({
  EventId: e.eventId,
  Time: new Date(e.timeMs).toISOString(),
  ...e.event,
});

/**
 * The audit trail, newest first. Filters are applied while reading the stream: a call reads
 * at most SCAN_LIMIT events, so a page may hold fewer than MaxResults events and still carry a
 * NextToken. Events older than the retention are never shown, trimmed yet or not.
 */
const describeAuditEvents: Action<DescribeAuditEventsAnswer> = async (body, deps) => {
  const req = parseBody(describeAuditEventsSchema, body);
  const startMs = Math.max(req.StartTime ?? 0, deps.clock() - deps.audit.retentionMs);
  let beforeId =
    req.NextToken !== undefined ? decodeToken(req.NextToken, isCursor).before : undefined;
  const matches = (e: StoredAuditEvent) =>
    (req.Action === undefined || e.event.Action === req.Action) &&
    (req.Actor === undefined || e.event.Actor === req.Actor);
  const filtered = req.Action !== undefined || req.Actor !== undefined;
  const found: StoredAuditEvent[] = [];
  let more = false;
  let scanned = 0;
  while (!more && scanned < SCAN_LIMIT) {
    const count = filtered ? SCAN_BATCH : req.MaxResults + 1 - found.length;
    const batch = await deps.audit.page({ startMs, endMs: req.EndTime, beforeId, count });
    for (const e of batch) {
      if (!matches(e)) {
        beforeId = e.eventId;
        continue;
      }
      // One match past the page: there is a next page, which starts after the last shown.
      if (found.length === req.MaxResults) {
        more = true;
        break;
      }
      found.push(e);
      beforeId = e.eventId;
    }
    scanned += batch.length;
    if (batch.length < count) break;
    if (scanned >= SCAN_LIMIT) more = true;
  }
  return {
    ...(more && beforeId !== undefined ? { NextToken: encodeToken({ before: beforeId }) } : {}),
    AuditEvents: { AuditEvent: found.map(view) },
  };
};

export const AUDIT_ACTIONS: Readonly<Record<string, ActionEntry>> = {
  DescribeAuditEvents: defineAction({
    handler: describeAuditEvents,
    request: describeAuditEventsSchema,
    response: describeAuditEventsResponse,
    summary: 'Lists audit events (who changed what), newest first; run-role tokens only',
    readOnly: true,
  }),
};
