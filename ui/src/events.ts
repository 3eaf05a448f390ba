/**
 * The server's event stream (`GET /v1/events`, server-sent events, docs/events.md) read with
 * fetch: EventSource cannot send an Authorization header, and the token must never be put in a
 * URL, so the body is read as a stream and parsed by eventsource-parser. The console uses events
 * as wake-ups: an event says "this changed", and the page reads it again through the API.
 */
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, session, unauthorized } from './api';

/** One lifecycle event as the stream sends it (its `data:` line). */
export interface FleetEvent {
  EventId: string;
  EventType: string;
  Time: string;
  Data: Record<string, unknown>;
}

/** Waits before reopening a stream that failed or ended: doubles up to the last. */
const RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

/**
 * Reads one stream until it ends (server gone, connection broken, `signal` aborted): calls
 * `opened` once the server has answered (from then on no change is missed) and `onEvent` for
 * each event. Resolves when the stream ends; rejects when it could not be opened.
 */
async function readStream(
  query: URLSearchParams,
  lastEventId: string | undefined,
  signal: AbortSignal,
  opened: () => void,
  onEvent: (event: FleetEvent) => void,
): Promise<void> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  const token = session.token();
  if (token) headers.authorization = `Bearer ${token}`;
  if (lastEventId) headers['last-event-id'] = lastEventId;
  const res = await fetch(`/v1/events?${query.toString()}`, {
    headers,
    signal,
    credentials: 'omit',
    cache: 'no-store',
  });
  if (res.status === 401) unauthorized();
  if (
    !res.ok ||
    res.body === null ||
    !res.headers.get('content-type')?.startsWith('text/event-stream')
  ) {
    await res.body?.cancel().catch(() => undefined);
    throw new ApiError(res.status, 'EventStream', `the event stream answered ${res.status}`);
  }
  opened();
  const events = res.body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream());
  // A reader loop rather than for await: not every browser iterates streams yet.
  const reader = events.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    let event: FleetEvent;
    try {
      event = JSON.parse(value.data) as FleetEvent;
    } catch {
      continue;
    }
    onEvent(event);
  }
}

/** Where a page's stream is: not answered yet, open, or not open (the page polls). */
export type StreamState = 'connecting' | 'live' | 'down';

/** How long a first stream may take to answer before the page starts polling meanwhile. */
const CONNECT_MS = 3_000;

/**
 * Follows the events matching `query` (`InvokeId`, `type`) while `enabled`, reopening a
 * stream that ends with its Last-Event-ID (so nothing in between is missed). `onEvent` is
 * called for each event, and once with no event each time a stream (re)opens: changes made
 * while no stream was open are caught up by reading again then. A page reads its data first
 * once the state has left `connecting` (its read then misses nothing), and polls while `down`.
 */
export function useEvents(
  query: Record<string, string>,
  enabled: boolean,
  onEvent: (event?: FleetEvent) => void,
): StreamState {
  const [state, setState] = useState<StreamState>(enabled ? 'connecting' : 'down');
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const text = new URLSearchParams(query).toString();
  useEffect(() => {
    if (!enabled) {
      setState('down');
      return;
    }
    const abort = new AbortController();
    let last: string | undefined;
    let failures = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const slow = setTimeout(() => setState((s) => (s === 'connecting' ? 'down' : s)), CONNECT_MS);
    const open = () => {
      readStream(
        new URLSearchParams(text),
        last,
        abort.signal,
        () => {
          failures = 0;
          setState('live');
          handler.current();
        },
        (event) => {
          last = event.EventId;
          handler.current(event);
        },
      )
        .catch(() => undefined)
        .finally(() => {
          if (abort.signal.aborted) return;
          setState('down');
          timer = setTimeout(open, RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)]);
        });
    };
    open();
    return () => {
      abort.abort();
      clearTimeout(timer);
      clearTimeout(slow);
    };
  }, [text, enabled]);
  return state;
}

/**
 * `fn` at most once every `ms`: at once when it has not run for `ms`, else once at the end of
 * the wait however many calls came meanwhile (a 10,000-node invocation sends thousands of
 * events; the page reads it again at most once a second).
 */
export function throttle(fn: () => void, ms: number): { (): void; cancel(): void } {
  let lastRun = -Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = () => {
    timer = undefined;
    lastRun = Date.now();
    fn();
  };
  const call = () => {
    if (timer !== undefined) return;
    const wait = lastRun + ms - Date.now();
    if (wait <= 0) run();
    else timer = setTimeout(run, wait);
  };
  call.cancel = () => clearTimeout(timer);
  return call;
}
