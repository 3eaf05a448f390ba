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
}
