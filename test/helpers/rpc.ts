import { createHash, createHmac, randomBytes } from 'node:crypto';
import Ecs from '@alicloud/ecs20140526';
import OpenApi, * as $OpenApi from '@alicloud/openapi-client';
import { parseBody, type Stack } from './stack.js';

/** An access key for a test stack: pass `settings` to makeStack. */
export function testAccessKey(): {
  id: string;
  secret: string;
  settings: { FLEETCMD_ACCESS_KEYS: string };
} {
  const id = `TK${randomBytes(6).toString('hex').toUpperCase()}`;
  const secret = randomBytes(18).toString('base64url');
  return { id, secret, settings: { FLEETCMD_ACCESS_KEYS: `${id}:${secret}` } };
}

/** The stack's address as the vendor's SDKs take it: host:port, no scheme. */
export function endpointOf(stack: Stack): string {
  return new URL(stack.url).host;
}

/** The official instance-dialect SDK (`@alicloud/ecs20140526`), pointed at the stack. */
export function ecsClient(
  stack: Stack,
  key: { id: string; secret: string },
  headers?: Record<string, string>,
) {
  return new Ecs.default(
    new $OpenApi.Config({
      accessKeyId: key.id,
      accessKeySecret: key.secret,
      endpoint: endpointOf(stack),
      protocol: 'http',
      regionId: 'local',
      // Headers set here replace the SDK's own before it signs (a stale x-acs-date, say).
      ...(headers ? { globalParameters: new $OpenApi.GlobalParameters({ headers }) } : {}),
    }),
  );
}

/**
 * The generic client (`@alicloud/openapi-client`), for the node dialect (no SDK package of
 * it is published) or for HMAC-SHA1 signatures (`signatureAlgorithm: 'v2'`).
 */
export function genericClient(
  stack: Stack,
  key: { id: string; secret: string },
  extra: Partial<{
    signatureAlgorithm: string;
    headers: Record<string, string>;
    queries: Record<string, string>;
  }> = {},
) {
  const { headers, queries, ...rest } = extra;
  return new OpenApi.default(
    new $OpenApi.Config({
      accessKeyId: key.id,
      accessKeySecret: key.secret,
      endpoint: endpointOf(stack),
      protocol: 'http',
      ...rest,
      // Set here, they replace the client's own before it signs (a stale Timestamp, say).
      ...(headers || queries
        ? { globalParameters: new $OpenApi.GlobalParameters({ headers, queries }) }
        : {}),
    }),
  );
}

/** One RPC call through `callApi` (style RPC, POST, parameters in the query): the raw answer. */
export async function callRpc(
  client: ReturnType<typeof genericClient>,
  version: string,
  action: string,
  query: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const params = new $OpenApi.Params({
    action,
    version,
    protocol: 'HTTP',
    pathname: '/',
    method: 'POST',
    authType: 'AK',
    style: 'RPC',
    reqBodyType: 'formData',
    bodyType: 'json',
  });
  const request = new $OpenApi.OpenApiRequest({ query: flatten(query) });
  // The runtime options' defaults: no retry (a command must not run twice).
  const runtime = {} as Parameters<typeof client.callApi>[2];
  const res = (await client.callApi(params, request, runtime)) as { body: Record<string, unknown> };
  return res.body;
}

/**
 * The RPC style's parameters, as the vendor documents them: lists as `Name.1`, `Name.2`, ...,
 * maps as JSON text, everything else as text.
 */
export function flatten(query: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) v.forEach((item, i) => (out[`${k}.${i + 1}`] = String(item)));
    else if (typeof v === 'object' && v !== null) out[k] = JSON.stringify(v);
    else out[k] = String(v);
  }
  return out;
}

/** An error the SDKs threw, as the server sent it. */
export interface SdkError {
  code: string;
  statusCode: number;
  message: string;
  data?: Record<string, unknown>;
}

/** Percent-encoding as the vendor's signature documentation states it (RFC 3986). */
function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

export interface RawRpc {
  method?: 'GET' | 'POST';
  version: string;
  action: string;
  query?: Record<string, string>;
  /** A form body (sent as application/x-www-form-urlencoded). */
  form?: Record<string, string>;
  /** Raw body bytes, instead of `form`. */
  body?: Buffer;
  /** Signed as x-acs-date. @default now */
  date?: string;
  nonce?: string;
  /** Sign with this secret instead of the key's own. */
  signWith?: string;
  /** Replaces x-acs-content-sha256 after signing. */
  contentSha256?: string;
  /** Sends no Authorization header. */
  unsigned?: boolean;
}

/**
 * An ACS3-HMAC-SHA256 request built in the test from the vendor's documented algorithm (not with
 * fleetcmd's code): the canonical request (method, path, sorted encoded query, signed headers,
 * their names, the body's SHA-256), its SHA-256 signed with HMAC-SHA256 by the secret.
 */
export function signedRequest(
  stack: Stack,
  key: { id: string; secret: string },
  r: RawRpc,
): { url: string; init: RequestInit } {
  const method = r.method ?? 'POST';
  const query = r.query ?? {};
  const body =
    r.body ??
    (r.form
      ? Buffer.from(new URLSearchParams(r.form).toString().replace(/\+/g, '%20'))
      : Buffer.alloc(0));
  const headers: Record<string, string> = {
    host: endpointOf(stack),
    'x-acs-action': r.action,
    'x-acs-version': r.version,
    'x-acs-date': r.date ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'x-acs-signature-nonce': r.nonce ?? randomBytes(16).toString('hex'),
    'x-acs-content-sha256': createHash('sha256').update(body).digest('hex'),
  };
  if (body.length > 0) headers['content-type'] = 'application/x-www-form-urlencoded';
  const names = Object.keys(headers).sort();
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((k) => `${rfc3986(k)}=${rfc3986(query[k] ?? '')}`)
    .join('&');
  const canonical = [
    method,
    '/',
    canonicalQuery,
    names.map((n) => `${n}:${headers[n]}\n`).join(''),
    names.join(';'),
    headers['x-acs-content-sha256'],
  ].join('\n');
  const toSign = `ACS3-HMAC-SHA256\n${createHash('sha256').update(canonical).digest('hex')}`;
  const signature = createHmac('sha256', r.signWith ?? key.secret)
    .update(toSign)
    .digest('hex');
  if (!r.unsigned) {
    headers.authorization = `ACS3-HMAC-SHA256 Credential=${key.id},SignedHeaders=${names.join(';')},Signature=${signature}`;
  }
  if (r.contentSha256 !== undefined) headers['x-acs-content-sha256'] = r.contentSha256;
  delete headers.host;
  const qs = canonicalQuery === '' ? '' : `?${canonicalQuery}`;
  return {
    url: `${stack.url}/${qs}`,
    init: { method, headers, ...(method === 'POST' && body.length > 0 ? { body } : {}) },
  };
}

/** Sends a request built by signedRequest: status and parsed JSON answer. */
export async function send(req: { url: string; init: RequestInit }) {
  const res = await fetch(req.url, req.init);
  return { status: res.status, body: parseBody(await res.text()) };
}
