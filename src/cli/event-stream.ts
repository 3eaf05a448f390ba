/**
 * The server's event stream (`GET /v1/events`, Server-Sent Events) read through the CLI's
 * ApiClient and parsed by eventsource-parser. The CLI uses it only as a wake-up: each event
 * says "something changed", and the caller re-reads through the API.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ApiClient, errorOf, type ApiClientOptions } from './api-client.js';

export interface EventStream {
  /** Settles when the stream ends (the server closed it, the connection broke, or close()). */
  readonly ended: Promise<void>;
  /** The id of the last event seen, for a resume (Last-Event-ID). */
  lastEventId(): string | undefined;
  close(): void;
}

/**
 * Opens the stream for `query`; undefined when the server has none (404, or another answer
 * that is not a stream), so the caller polls instead. A refused token is an ApiError.
 */
export async function openEventStream(
  api: ApiClient,
  query: Record<string, string>,
  onEvent: (event: EventSourceMessage) => void,
  lastEventId?: string,
): Promise<EventStream | undefined> {
  const res = await api.get(`events?${new URLSearchParams(query).toString()}`, {
    accept: 'text/event-stream',
    ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
  });
  if (res.status === 401 || res.status === 403) throw errorOf(res.status, await res.json());
  if (res.status !== 200 || !res.contentType.startsWith('text/event-stream')) {
    res.close();
    return undefined;
  }
  let last = lastEventId;
  const parser = createParser({
    onEvent(event) {
      if (event.id !== undefined) last = event.id;
      onEvent(event);
    },
  });
  const body = res.body;
  const ended = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch {
      // Aborted by close(), or the connection broke: either way the stream has ended.
    }
  })();
  return {
    ended,
    lastEventId: () => last,
    close: () => res.close(),
  };
}

/** GET /v1/events with `query`: each event as it arrives, until the server ends the stream. */
export async function* streamEvents(
  opts: ApiClientOptions,
  query: URLSearchParams,
): AsyncGenerator<EventSourceMessage> {
  const res = await new ApiClient(opts).get(`events?${query.toString()}`, {
    accept: 'text/event-stream',
  });
  if (res.status !== 200) throw errorOf(res.status, await res.json());
  const arrived: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => arrived.push(event) });
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    yield* arrived.splice(0);
  }
}
