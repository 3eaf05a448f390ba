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

  /**
   * POST `/v1/<action>` through node:http(s) rather than fetch: loading fetch (undici) cost a
   * client command ~30 ms of its start-up, and node:https can take a private CA (FLEETCMD_CA).
   */
  async call<T = Record<string, unknown>>(
    action: string,
    body: Record<string, unknown>,
  ): Promise<T> {
    const url = `${this.opts.url.replace(/\/$/, '')}/v1/${action}`;
    const caFile = process.env.FLEETCMD_CA;
    const ca =
      caFile !== undefined && caFile !== '' && url.startsWith('https:')
        ? await readFile(caFile, 'utf8').catch((err: unknown) => {
            throw new ApiError(
              'Unreachable',
              `FLEETCMD_CA: cannot read ${caFile}: ${String(err)}`,
              0,
            );
          })
        : undefined;
    const headers: Record<string, string> = this.opts.token
      ? { authorization: `Bearer ${this.opts.token}` }
      : {};
    // No answer at all (refused, DNS, TLS): an API error for the CLI's exit code, not a crash.
    const res = await postJson(url, body, { headers, ca, timeoutMs: CALL_IDLE_MS }).catch(
      (err: unknown) => {
        throw new ApiError(
          'Unreachable',
          `${url}: ${err instanceof Error ? err.message : String(err)}`,
          0,
        );
      },
    );
    if (res.status < 200 || res.status >= 300) {
      throw new ApiError(
        String(res.body.Code ?? res.status),
        String(res.body.Message ?? `HTTP ${res.status}`),
        res.status,
      );
    }
    return res.body as T;
  }
}

/** How long a call may go without a byte from the server before it counts as unreachable. */
const CALL_IDLE_MS = 300_000;
