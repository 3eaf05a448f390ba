import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  EVENT_ID_RE,
  EVENT_TYPES,
  eventMatches,
  idBefore,
  isEventType,
  sseFrame,
  type EventFilter,
  type StoredEvent,
} from '../domain/events.js';
import { AppError } from '../app/errors.js';
import type { Logger } from '../shared/log.js';
import type { EventStore } from '../store/event-store.js';
import type { EventFeed } from './event-feed.js';

export interface EventRouteDeps {
  events: EventStore;
  feed: EventFeed;
  log: Logger;
  /** How often an idle stream gets a `: ping` comment. @default 15000 */
  heartbeatMs?: number;
}

/** Open streams per server process; more are refused (503) rather than let grow. */
export const MAX_WATCHERS = 1_000;
/** Events a watcher may have waiting (its socket not draining); past this it is closed. */
const MAX_PENDING = 10_000;
/** Bytes a watcher's socket may have unsent; past this it is closed (a stalled client). */
const MAX_UNSENT_BYTES = 4 * 1024 * 1024;
/** Events read per XRANGE while catching up. */
const PAGE = 500;

interface EventQuery {
  after?: string;
  follow: boolean;
  filter: EventFilter;
}

function badParam(field: string, why: string): AppError {
  return new AppError('InvalidParameter', `${field}: ${why}`);
}

/** The query (`type`, `InvokeId`, `after`, `follow`) and the Last-Event-ID header, checked. */
function parseQuery(req: FastifyRequest): EventQuery {
  const q = req.query as Record<string, unknown>;
  const one = (name: string): string | undefined => {
    const v = q[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw badParam(name, 'give it once');
    return v;
  };
  const filter: EventFilter = {};
  const type = one('type');
  if (type !== undefined) {
    const types = type.split(',').filter((t) => t !== '');
    const unknown = types.find((t) => !isEventType(t));
    if (unknown !== undefined || types.length === 0) {
      throw badParam(
        'type',
        `${JSON.stringify(unknown ?? '')} is not one of ${EVENT_TYPES.join(', ')}`,
      );
    }
    filter.types = new Set(types);
  }
  const invokeId = one('InvokeId');
  if (invokeId !== undefined) {
    if (invokeId === '' || invokeId.length > 128) throw badParam('InvokeId', 'not an InvokeId');
    filter.invokeId = invokeId;
  }
  const header = req.headers['last-event-id'];
  const after = (typeof header === 'string' && header !== '' ? header : undefined) ?? one('after');
  if (after !== undefined && after !== '0' && !EVENT_ID_RE.test(after)) {
    throw badParam('after', 'an EventId (<ms>-<seq>) or 0 is expected (Last-Event-ID too)');
  }
  const follow = one('follow');
  if (follow !== undefined && follow !== 'true' && follow !== 'false') {
    throw badParam('follow', 'true or false');
  }
  return { after, follow: follow !== 'false', filter };
}

/** One open GET /v1/events: its cursor, what the feed brought while it caught up, its socket. */
class Watcher {
  private pending: StoredEvent[] = [];
  private live = false;
  private closed = false;

  constructor(
    private readonly res: ServerResponse,
    private cursor: string,
    private readonly filter: EventFilter,
  ) {}

  /** The feed's events: held while catching up; a watcher that falls behind is ended. */
  send(batch: readonly StoredEvent[]): void {
    if (this.closed) return;
    if (this.live) return this.write(batch);
    this.pending.push(...batch);
    if (this.pending.length > MAX_PENDING) this.end();
  }

  /** Writes the events after the cursor, in order, once each. */
  private write(batch: readonly StoredEvent[]): void {
    if (this.closed) return;
    let text = '';
    for (const e of batch) {
      if (!idBefore(this.cursor, e.id)) continue;
      this.cursor = e.id;
      if (eventMatches(this.filter, e)) text += sseFrame(e);
    }
    if (text !== '') this.res.write(text);
    if (this.res.writableLength > MAX_UNSENT_BYTES) this.end();
  }

  /** Catches up from the stream (XRANGE pages), then sends what the feed brought meanwhile. */
  async catchUp(events: EventStore): Promise<void> {
    for (;;) {
      const page = await events.after(this.cursor, PAGE);
      this.write(page);
      if (page.length < PAGE || this.closed) break;
    }
    this.live = true;
    const waiting = this.pending;
    this.pending = [];
    this.write(waiting);
  }

  ping(): void {
    if (!this.closed) this.res.write(': ping\n\n');
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.res.end();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** Serves one stream until the client leaves, the server closes, or (follow=false) it is sent. */
async function serve(
  req: FastifyRequest,
  reply: FastifyReply,
  deps: EventRouteDeps,
  open: Set<Watcher>,
): Promise<void> {
  const query = parseQuery(req);
  if (open.size >= MAX_WATCHERS) {
    throw new AppError('ServiceUnavailable', `too many open event streams (${MAX_WATCHERS})`);
  }
  const start = query.after ?? (await deps.events.lastId());
  reply.hijack();
  const res = reply.raw;
  // A stream is meant to stay open: no idle timeout on its socket (pings keep proxies awake).
  req.raw.socket.setTimeout(0);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    'x-request-id': req.id,
  });
  res.write(': fleetcmd events\n\n');
  const w = new Watcher(res, start, query.filter);
  open.add(w);
  const unsubscribe = query.follow ? deps.feed.subscribe((b) => w.send(b)) : () => false;
  const ping = setInterval(() => w.ping(), deps.heartbeatMs ?? 15_000);
  const done = () => {
    clearInterval(ping);
    unsubscribe();
    open.delete(w);
    w.end();
  };
  res.on('close', done);
  try {
    await w.catchUp(deps.events);
  } catch (err) {
    deps.log.warn({ requestId: req.id, err: String(err) }, 'event stream failed');
    done();
  }
  if (!query.follow) done();
}

/**
 * `GET /v1/events`: the lifecycle events as server-sent events (docs/events.md), behind the
 * same authentication as the actions (`onRequest`); any role may watch. Open streams are ended
 * as the server closes, so a drain never waits for a watcher.
 */
export function registerEvents(
  api: FastifyInstance,
  onRequest: ((req: FastifyRequest, reply: FastifyReply) => Promise<unknown>)[],
  deps: EventRouteDeps,
): void {
  const open = new Set<Watcher>();
  api.get('/v1/events', { onRequest }, (req, reply) => serve(req, reply, deps, open));
  api.addHook('preClose', async () => {
    for (const w of open) w.end();
    open.clear();
    await deps.feed.close();
  });
}
