import { hangBound } from './hang.js';

/** One server-sent event as received: its fields, and the JSON of its data line parsed. */
export interface SseEvent {
  id: string;
  event: string;
  data: { EventId: string; EventType: string; Time: string; Data: Record<string, unknown> };
  raw: string;
}

export interface SseClient {
  status: number;
  /** Every event so far, in arrival order. */
  events: SseEvent[];
  /** Comment lines received (without the leading ': '). */
  comments: string[];
  /** Resolves once the server has ended the stream. */
  ended: Promise<void>;
  /** Waits (bounded only against hangs) until an event satisfies `pred`; answers it. */
  next(what: string, pred: (e: SseEvent) => boolean): Promise<SseEvent>;
  close(): void;
}

/** Opens GET /v1/events (query string `query`) and parses the stream as it arrives. */
export async function openEvents(
  url: string,
  token: string | null,
  query = '',
  headers: Record<string, string> = {},
): Promise<SseClient & { body: string }> {
  const ac = new AbortController();
  const res = await fetch(`${url}/v1/events${query}`, {
    headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...headers },
    signal: ac.signal,
  });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  const client = {
    status: res.status,
    events,
    comments,
    body: '',
    ended: Promise.resolve(),
    async next(what: string, pred: (e: SseEvent) => boolean): Promise<SseEvent> {
      return hangBound(
        what,
        new Promise<SseEvent>((resolve) => {
          const check = () => {
            const hit = events.find(pred);
            if (!hit) return;
            waiters.delete(check);
            resolve(hit);
          };
          waiters.add(check);
          check();
        }),
      );
    },
    close: () => ac.abort(),
  };
  if (res.status !== 200) {
    client.body = await res.text();
    return client;
  }
  const parse = (frame: string) => {
    if (frame.startsWith(':')) {
      comments.push(frame.slice(1).trim());
      return;
    }
    const fields = new Map<string, string>();
    for (const line of frame.split('\n')) {
      const i = line.indexOf(': ');
      fields.set(line.slice(0, i), line.slice(i + 2));
    }
    events.push({
      id: fields.get('id') ?? '',
      event: fields.get('event') ?? '',
      data: JSON.parse(fields.get('data') ?? 'null') as SseEvent['data'],
      raw: frame,
    });
  };
  client.ended = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          parse(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
        for (const w of [...waiters]) w();
      }
    } catch {
      // aborted by close()
    }
  })();
  return client;
}
