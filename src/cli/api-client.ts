import { readFile } from 'node:fs/promises';
import { postJson } from '../shared/http-post.js';
/** A small HTTP client for fleetcmd's API, used by the CLI's client subcommands. */
export interface ApiClientOptions {
  url: string;
  token: string | undefined;
}

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(`${code}: ${message}`);
  }
}

export class ApiClient {
  constructor(private readonly opts: ApiClientOptions) {}

  /**
   * GET `/v1/<path>` with the bearer token, answered as the raw Response (the event stream
   * reads its body as it comes); no answer at all is an ApiError like call's.
   */
  async get(
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    const url = `${this.opts.url.replace(/\/$/, '')}/v1/${path}`;
    try {
      return await fetch(url, {
        headers: {
          ...headers,
          ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
        },
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new ApiError('Unreachable', `${url}: ${cause ?? String(err)}`, 0);
    }
  }

  async call<T = Record<string, unknown>>(
    action: string,
    body: Record<string, unknown>,
  ): Promise<T> {
    const url = `${this.opts.url.replace(/\/$/, '')}/v1/${action}`;
    // A private CA (FLEETCMD_CA): fetch cannot take one, node:https can.
    const caFile = process.env.FLEETCMD_CA;
    if (caFile !== undefined && caFile !== '' && url.startsWith('https:')) {
      return this.callWithCa<T>(url, body, caFile);
    }
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
        },
        body: JSON.stringify(body),
      });
    } catch (err) {
      // No answer at all (refused, DNS, TLS): an API error for the CLI's exit code, not a crash.
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new ApiError('Unreachable', `${url}: ${cause ?? String(err)}`, 0);
    }
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      throw new ApiError(
        String(json.Code ?? res.status),
        String(json.Message ?? res.statusText),
        res.status,
      );
    }
    return json as T;
  }

  private async callWithCa<T>(url: string, body: Record<string, unknown>, caFile: string) {
    const ca = await readFile(caFile, 'utf8').catch((err: unknown) => {
      throw new ApiError('Unreachable', `FLEETCMD_CA: cannot read ${caFile}: ${String(err)}`, 0);
    });
    const headers: Record<string, string> = this.opts.token
      ? { authorization: `Bearer ${this.opts.token}` }
      : {};
    const res = await postJson(url, body, { headers, ca }).catch((err: unknown) => {
      throw new ApiError('Unreachable', `${url}: ${String(err)}`, 0);
    });
    if (res.status < 200 || res.status >= 300) {
      throw new ApiError(
        String(res.body.Code ?? res.status),
        String(res.body.Message ?? ''),
        res.status,
      );
    }
    return res.body as T;
  }
}

/** One server-sent event of GET /v1/events: its `id`, `event` and `data` (the event's JSON). */
export interface StreamedEvent {
  id: string;
  event: string;
  data: string;
}

/** Splits an SSE body into events as it arrives (comments such as `: ping` are skipped). */
async function* sseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<StreamedEvent> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const fields = new Map<string, string>();
      for (const line of frame.split('\n')) {
        if (line.startsWith(':')) continue;
        const at = line.indexOf(':');
        if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1).replace(/^ /, ''));
      }
      const data = fields.get('data');
      if (data !== undefined) {
        yield { id: fields.get('id') ?? '', event: fields.get('event') ?? '', data };
      }
    }
  }
}

/** GET /v1/events with `query`: each event as it arrives, until the server ends the stream. */
export async function* streamEvents(
  opts: ApiClientOptions,
  query: URLSearchParams,
): AsyncGenerator<StreamedEvent> {
  const url = `${opts.url.replace(/\/$/, '')}/v1/events?${query.toString()}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
    });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new ApiError('Unreachable', `${url}: ${cause ?? String(err)}`, 0);
  }
  if (!res.ok || !res.body) {
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    throw new ApiError(
      String(json.Code ?? res.status),
      String(json.Message ?? res.statusText),
      res.status,
    );
  }
  yield* sseEvents(res.body as unknown as AsyncIterable<Uint8Array>);
}
