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
