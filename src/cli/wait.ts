/**
 * Waiting for an invocation's nodes to finish (run --wait, command invoke --wait, send-file
 * --wait, logs --follow), without a fixed polling pace: the wait listens to the server's event
 * stream for the invocation (RunFinished, InvocationFinished) and re-reads the invocation
 * through the API on each event, so what it shows never depends on an event's payload. A
 * server without the stream (404) is polled instead, starting 20 ms apart and backing off.
 */
import { ApiClient } from './api-client.js';
import type { ClientArgs } from './client-args.js';
import type { EventStream } from './event-stream.js';
import { plainProgressDue, progressLine } from './format.js';
import { isFinalNodeStatus, type NodeStatus } from '../domain/status.js';

/** The first pause between two reads when polling, and how it grows, up to the cap. */
export const POLL_FIRST_MS = 20;
export const POLL_GROWTH = 1.5;
export const POLL_CAP_MS = 250;
/** With the event stream, a read this often anyway (an event lost to a reconnect is caught). */
export const STREAM_SAFETY_MS = 5000;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pause after `ms` while nothing happens: 20, 30, 45, ... up to POLL_CAP_MS. */
export function backoff(ms: number): number {
  return Math.min(POLL_CAP_MS, Math.round(ms * POLL_GROWTH));
}

/** Pauses between reads: cut short by an event, growing while nothing happens. */
export class Wakeups {
  #pending = false;
  #wake: (() => void) | undefined;
  #delay = POLL_FIRST_MS;
  #stream: EventStream | undefined;
  #closed = false;

  /** Polling (no stream) or, with a stream, `poll` true keeps polling too (logs --follow). */
  constructor(private readonly poll: boolean) {}

  /** Something changed: the next (or current) pause ends at once. */
  notify(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Something new was seen: poll soon again. */
  reset(): void {
    this.#delay = POLL_FIRST_MS;
  }

  /** Whether the event stream is what wakes this wait. */
  get streaming(): boolean {
    return this.#stream !== undefined;
  }

  /** Until an event, or the pause (growing, or the stream's safety interval) is over. */
  async next(): Promise<void> {
    if (!this.#pending) {
      const ms = this.#stream && !this.poll ? STREAM_SAFETY_MS : this.#delay;
      if (!this.#stream || this.poll) this.#delay = backoff(this.#delay);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    this.#pending = false;
  }

  /**
   * Listens to the invocation's events; keeps listening across a dropped connection (resuming
   * from the last event id) and falls back to polling when the server has no stream.
   */
  async listen(api: ApiClient, invokeId: string): Promise<void> {
    const query = { InvokeId: invokeId, type: 'RunFinished,InvocationFinished' };
    const onEvent = () => this.notify();
    // Loaded only by a command that waits.
    const { openEventStream } = await import('./event-stream.js');
    const stream = await openEventStream(api, query, onEvent);
    // The wait may have ended while the stream was opening.
    if (this.#closed) return stream?.close();
    this.#stream = stream;
    void (async () => {
      while (this.#stream && !this.#closed) {
        await this.#stream.ended;
        if (this.#closed) return;
        const last = this.#stream.lastEventId();
        this.#stream = await openEventStream(api, query, onEvent, last).catch(() => undefined);
        if (this.#closed) return this.#stream?.close();
        // Back to polling until then: the read after a reconnect catches what was missed.
        this.notify();
      }
    })();
  }

  close(): void {
    this.#closed = true;
    this.#stream?.close();
    this.#wake?.();
  }
}

/** The progress line on stderr: redrawn in place on a terminal, occasional lines otherwise. */
class Progress {
  #last: { line: string; atMs: number } | undefined;
  readonly #tty = process.stderr.isTTY === true;

  constructor(private readonly enabled: boolean) {}

  /** Without a terminal, --json keeps stderr quiet too. */
  static for(client: ClientArgs): Progress {
    return new Progress(!client.json || process.stderr.isTTY === true);
  }

  update(statuses: readonly NodeStatus[]): void {
    if (!this.enabled) return;
    const text = progressLine(statuses);
    if (this.#tty) {
      process.stderr.write(`\r\x1b[2K${text}`);
    } else if (plainProgressDue(this.#last, text, Date.now())) {
      process.stderr.write(`${text}\n`);
      this.#last = { line: text, atMs: Date.now() };
    }
  }

  /** The final state, always shown once. */
  done(statuses: readonly NodeStatus[]): void {
    if (!this.enabled) return;
    const text = progressLine(statuses);
    if (this.#tty) process.stderr.write(`\r\x1b[2K${text}\n`);
    else if (this.#last?.line !== text) process.stderr.write(`${text}\n`);
  }
}

/**
 * Re-reads with `read` until `final` says so: after each event of the invocation's stream, or
 * each pause of the backing-off poll. `changed` tells the poll that something new was seen.
 */
export async function untilFinal<T>(
  client: ClientArgs,
  invokeId: string | undefined,
  read: () => Promise<T>,
  final: (value: T) => boolean,
  opts: { poll?: boolean; changed?: (value: T) => boolean } = {},
): Promise<T> {
  const wakeups = new Wakeups(opts.poll === true);
  try {
    // The stream opens while the first read runs, not before it: once it is open, one more
    // read follows (notify), so nothing that changed before the stream opened is missed.
    const listening =
      invokeId === undefined
        ? Promise.resolve()
        : wakeups
            .listen(new ApiClient({ url: client.url, token: client.token }), invokeId)
            .then(() => wakeups.notify());
    // A refused token on the stream fails the wait as it did when the stream opened first.
    let refused: unknown;
    listening.catch((err: unknown) => {
      refused = err;
      wakeups.notify();
    });
    for (;;) {
      if (refused !== undefined) throw refused;
      const value = await read();
      if (final(value)) return value;
      if (opts.changed?.(value) === true) wakeups.reset();
      await wakeups.next();
    }
  } finally {
    wakeups.close();
  }
}

/** Waits until every node is final, showing progress; returns the final statuses. */
export async function waitFinal(
  client: ClientArgs,
  statuses: () => Promise<NodeStatus[]>,
  invokeId?: string,
): Promise<NodeStatus[]> {
  const progress = Progress.for(client);
  let seen = '';
  const final = await untilFinal(
    client,
    invokeId,
    statuses,
    (now) => now.every(isFinalNodeStatus),
    {
      changed: (now) => {
        progress.update(now);
        const key = now.join();
        const changed = key !== seen;
        seen = key;
        return changed;
      },
    },
  );
  progress.done(final);
  return final;
}
