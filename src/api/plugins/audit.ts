import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { auditDetails, type AuditInterface, type AuditRecord } from '../../domain/audit.js';
import type { Logger } from '../../shared/log.js';

/**
 * What a route learned about a call for its audit event: the action (the engine's name), the
 * front end, an RPC caller's verified AccessKeyId and the body as the action took it. A bearer
 * token's caller is `req.principal`, set by authentication.
 */
export interface AuditNote {
  action: string;
  via: Exclude<AuditInterface, 'cli'>;
  accessKeyId?: string;
  /** The action's body (the RPC front end's, unflattened); /v1 uses the parsed request body. */
  body?: unknown;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the /v1 and RPC routes once they know which action is called. */
    audit?: AuditNote;
  }
}

/** Where audit events go (the AuditStore). */
export interface AuditSink {
  append(event: AuditRecord): Promise<unknown>;
}

function answerOf(payload: unknown): Record<string, unknown> {
  if (typeof payload !== 'string' || payload === '') return {};
  try {
    const v = JSON.parse(payload) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The event of a call, from its note, its request and its serialized answer. */
export function auditRecordOf(
  req: FastifyRequest,
  reply: FastifyReply,
  note: AuditNote,
  payload: unknown,
): AuditRecord {
  const status = reply.statusCode;
  const answer = answerOf(payload);
  const code = typeof answer.Code === 'string' ? answer.Code : undefined;
  const actor =
    note.accessKeyId !== undefined
      ? { Actor: note.accessKeyId, ActorType: 'AccessKey' as const }
      : req.principal !== undefined
        ? { Actor: req.principal.name, ActorType: 'ApiToken' as const }
        : {};
  // A refused call (4xx) was not carried out: its body is not looked at.
  const accepted = status < 400 || status >= 500;
  return {
    Action: note.action,
    Interface: note.via,
    ...actor,
    SourceIp: req.ip,
    RequestId: String(req.id),
    HttpStatus: status,
    ResultCode: status < 400 ? 'Success' : (code ?? `Http${status}`),
    ...(accepted ? auditDetails(note.body ?? req.body, answer) : {}),
  };
}

/**
 * Appends one audit event for every call of a state-changing action (`writes(action)`), on
 * /v1 and on the RPC front end alike, refusals (401, 403, 400) included; 429 Throttling is not
 * recorded (the limiter sheds load, it would otherwise write per refused request). The event
 * is written before the answer is sent, so a caller that has its answer knows the event is
 * stored: one Redis round trip. A failed write cannot undo the call: it is logged at error
 * level with the event (which holds no secret) and the answer goes out unchanged.
 */
export function auditWrites(
  app: FastifyInstance,
  sink: AuditSink,
  log: Logger,
  writes: (action: string) => boolean,
): void {
  app.addHook('onSend', async (req, reply, payload) => {
    const note = req.audit;
    if (note === undefined || !writes(note.action) || reply.statusCode === 429) return payload;
    const event = auditRecordOf(req, reply, note, payload);
    try {
      await sink.append(event);
    } catch (err) {
      log.error(
        { requestId: req.id, event, err: err instanceof Error ? err.message : String(err) },
        'AUDIT EVENT NOT WRITTEN: a state-changing call has no audit record',
      );
    }
    return payload;
  });
}
