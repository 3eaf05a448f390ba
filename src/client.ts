/** A small HTTP client for fleetcmd's API, used by the CLI's run/describe/stop/nodes. */
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

  async call<T = Record<string, unknown>>(
    action: string,
    body: Record<string, unknown>,
  ): Promise<T> {
    const res = await fetch(`${this.opts.url.replace(/\/$/, '')}/v1/${action}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
      },
      body: JSON.stringify(body),
    });
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
