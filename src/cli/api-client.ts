import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
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

/** A streaming answer of ApiClient.get: its status, content type and body as it arrives. */
export interface StreamAnswer {
  status: number;
  contentType: string;
  body: AsyncIterable<Buffer>;
  /** The whole body as JSON (`{}` when it is not JSON). */
  json(): Promise<Record<string, unknown>>;
  /** Ends the request; the body's iteration ends with it. */
  close(): void;
}

/**
 * The API's client, through node:http(s) rather than fetch: loading fetch (undici) cost a
 * client command ~30 ms of its start-up, and node:https can take a private CA (FLEETCMD_CA)
 * for the event stream as for calls.
 */
export class ApiClient {
  constructor(private readonly opts: ApiClientOptions) {}

  #url(path: string): string {
    return `${this.opts.url.replace(/\/$/, '')}/v1/${path}`;
  }

  #auth(): Record<string, string> {
    return this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {};
  }

  /** FLEETCMD_CA's PEM for an https URL, when set. */
  async #ca(url: string): Promise<string | undefined> {
    const caFile = process.env.FLEETCMD_CA;
    if (caFile === undefined || caFile === '' || !url.startsWith('https:')) return undefined;
    return readFile(caFile, 'utf8').catch((err: unknown) => {
      throw new ApiError('Unreachable', `FLEETCMD_CA: cannot read ${caFile}: ${String(err)}`, 0);
    });
  }

  /**
   * GET `/v1/<path>` with the bearer token, answered once its head arrives (the event stream
   * reads the body as it comes); no answer at all is an ApiError like call's.
   */
  async get(path: string, headers: Record<string, string>): Promise<StreamAnswer> {
    const url = this.#url(path);
    const target = new URL(url);
    const ca = await this.#ca(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        target,
        { headers: { ...headers, ...this.#auth() }, ...(ca !== undefined ? { ca } : {}) },
        (res) =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: res,
            json: async () => {
              const chunks: Buffer[] = [];
              for await (const c of res) chunks.push(c as Buffer);
              try {
                return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<
                  string,
                  unknown
                >;
              } catch {
                return {};
              }
            },
            close: () => req.destroy(),
          }),
      );
      // After the head, an error is the body's end (close(), or the connection broke).
      req.on('error', (err) => reject(new ApiError('Unreachable', `${url}: ${err.message}`, 0)));
      req.end();
    });
  }

  async call<T = Record<string, unknown>>(
    action: string,
    body: Record<string, unknown>,
  ): Promise<T> {
    const url = this.#url(action);
    const ca = await this.#ca(url);
    // No answer at all (refused, DNS, TLS): an API error for the CLI's exit code, not a crash.
    const res = await postJson(url, body, {
      headers: this.#auth(),
      ca,
      timeoutMs: CALL_IDLE_MS,
    }).catch((err: unknown) => {
      throw new ApiError(
        'Unreachable',
        `${url}: ${err instanceof Error ? err.message : String(err)}`,
        0,
      );
    });
    if (res.status < 200 || res.status >= 300) throw errorOf(res.status, res.body);
    return res.body as T;
  }
}

/** An error answer (`{Code, Message}`) as the ApiError the CLI's exit codes read. */
export function errorOf(status: number, body: Record<string, unknown>): ApiError {
  return new ApiError(
    String(body.Code ?? status),
    String(body.Message ?? `HTTP ${status}`),
    status,
  );
}

/** How long a call may go without a byte from the server before it counts as unreachable. */
const CALL_IDLE_MS = 300_000;
