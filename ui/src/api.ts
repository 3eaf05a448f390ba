/**
 * The console's one way to the API: `POST /v1/{Action}` with the bearer token from
 * sessionStorage (never a URL or a cookie). Answer types are the server's own, inferred from its
 * zod response schemas (src/api/schemas/response.ts), imported as types only.
 */
import type { NodeView, WhoamiAnswer } from '../../src/api/schemas/response.js';

export type {
  CommandIdAnswer,
  CommandView,
  DescribeCommandsAnswer,
  DescribeInvocationResultsAnswer,
  DescribeInvocationsAnswer,
  DescribeNodesAnswer,
  InvocationResultView,
  InvocationView,
  InvokeIdAnswer,
  InvokeNodeView,
  NodeView,
  OutputGroupView,
  SummarizeInvocationAnswer,
  WhoamiAnswer,
} from '../../src/api/schemas/response.js';

/** A node as the console shows it: tags appear once the API returns them. */
export type ConsoleNode = NodeView;

const TOKEN_KEY = 'fleetcmd.apiToken';

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  save: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

/** An answer other than 2xx: the API's Code and Message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Called when the API refuses the token (401): the app goes back to the sign-in form. */
let onUnauthorized: () => void = () => undefined;
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

/** The API refused the token: back to the sign-in form. */
export const unauthorized = (): void => onUnauthorized();

async function send<T>(path: string, init: RequestInit, token = session.token()): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
  const body = (await res.json().catch(() => ({}))) as { Code?: string; Message?: string };
  if (!res.ok) {
    if (res.status === 401) unauthorized();
    throw new ApiError(res.status, body.Code ?? 'Error', body.Message ?? res.statusText);
  }
  return body as T;
}

/** Calls an action; rejects with ApiError on an error answer. */
export function call<T>(action: string, body: object = {}): Promise<T> {
  return send<T>(`/v1/${encodeURIComponent(action)}`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
}

/** Who a token is (GET /v1/whoami); used by sign-in before the token is saved. */
export function whoami(token: string): Promise<WhoamiAnswer> {
  return send<WhoamiAnswer>('/v1/whoami', { method: 'GET' }, token);
}

/** The SWR fetcher: the key is [action, body]. */
export const fetchAction = <T>([action, body]: readonly [string, object]): Promise<T> =>
  call<T>(action, body);

/** Base64 (the API's default encoding for content and output) to bytes. */
export function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export const utf8 = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
