import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The vendor's two request signatures, as pure functions over a request's parts: ACS3-HMAC-SHA256
 * (the `Authorization` header the current SDKs send) and the older RPC HMAC-SHA1 query signature
 * (`SignatureMethod=HMAC-SHA1`, `Signature=` among the parameters).
 */

export const ACS3_ALGORITHM = 'ACS3-HMAC-SHA256';

/** How far a request's date may be from the server's clock, either way: 15 minutes. */
export const SIGNATURE_WINDOW_MS = 15 * 60 * 1000;

/** RFC 3986 percent-encoding: everything but `A-Z a-z 0-9 - _ . ~` (space is %20, `*` %2A). */
export function percentEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `k=v` pairs, percent-encoded, sorted by encoded key (then value), joined with `&`. */
export function canonicalQuery(params: readonly (readonly [string, string])[]): string {
  return params
    .map(([k, v]) => [percentEncode(k), percentEncode(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

export interface Acs3Request {
  method: string;
  /** The request path as sent, e.g. `/`. */
  path: string;
  /** Decoded query parameters (not the body's). */
  query: readonly (readonly [string, string])[];
  /** Header values by lowercase name. */
  headers: Readonly<Record<string, string | undefined>>;
  /** Lowercase, in the order the Authorization header lists them. */
  signedHeaders: readonly string[];
  /** Hex SHA-256 of the body, as the `x-acs-content-sha256` header states it. */
  payloadHash: string;
}

/** The ACS3 canonical request: method, path, query, signed headers, their names, payload hash. */
export function acs3CanonicalRequest(r: Acs3Request): string {
  const headerLines = r.signedHeaders.map((h) => `${h}:${(r.headers[h] ?? '').trim()}\n`).join('');
  return [
    r.method.toUpperCase(),
    r.path,
    canonicalQuery(r.query),
    headerLines,
    r.signedHeaders.join(';'),
    r.payloadHash,
  ].join('\n');
}

/** Hex HMAC-SHA256 of `ACS3-HMAC-SHA256\n<hex sha256 of the canonical request>`. */
export function acs3Signature(secret: string, canonicalRequest: string): string {
  const stringToSign = `${ACS3_ALGORITHM}\n${sha256Hex(canonicalRequest)}`;
  return createHmac('sha256', secret).update(stringToSign).digest('hex');
}

export interface Acs3Authorization {
  accessKeyId: string;
  signedHeaders: string[];
  signature: string;
}

/**
 * Parses `ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=a;b,Signature=<hex>`; a string naming
 * what is wrong when it does not parse.
 */
export function parseAcs3Authorization(header: string): Acs3Authorization | string {
  if (!header.startsWith(`${ACS3_ALGORITHM} `)) {
    return `the Authorization header must start with ${ACS3_ALGORITHM}`;
  }
  const parts = new Map<string, string>();
  for (const item of header.slice(ACS3_ALGORITHM.length + 1).split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) return `the Authorization header has a malformed part ${JSON.stringify(item)}`;
    parts.set(item.slice(0, eq).trim(), item.slice(eq + 1).trim());
  }
  const accessKeyId = parts.get('Credential');
  const signed = parts.get('SignedHeaders');
  const signature = parts.get('Signature');
  if (!accessKeyId) return 'the Authorization header has no Credential';
  if (!signed) return 'the Authorization header has no SignedHeaders';
  if (!signature || !/^[0-9a-fA-F]{64}$/.test(signature)) {
    return 'the Authorization header has no Signature of 64 hex digits';
  }
  return {
    accessKeyId,
    signedHeaders: signed.split(';').map((h) => h.trim().toLowerCase()),
    signature: signature.toLowerCase(),
  };
}

/**
 * The RPC HMAC-SHA1 signature: Base64 HMAC-SHA1, keyed with `<secret>&`, of
 * `<METHOD>&%2F&<percent-encoded canonical query>` over every parameter but `Signature`.
 */
export function rpcSha1Signature(
  method: string,
  params: readonly (readonly [string, string])[],
  secret: string,
): string {
  const stringToSign = `${method.toUpperCase()}&${percentEncode('/')}&${percentEncode(canonicalQuery(params))}`;
  return createHmac('sha1', `${secret}&`).update(stringToSign).digest('base64');
}

/** Compares two signatures in constant time (lengths may differ). */
export function signaturesEqual(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** ISO-8601 UTC with seconds (`2024-01-02T03:04:05Z`, milliseconds allowed): ms, or undefined. */
export function parseSignedDate(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * How long a nonce must be remembered so that it cannot be replayed while its date is still
 * accepted: until the date leaves the window (at most 30 minutes when the date is ahead).
 */
export function nonceTtlMs(dateMs: number, nowMs: number): number {
  return Math.max(1000, dateMs + SIGNATURE_WINDOW_MS - nowMs);
}
