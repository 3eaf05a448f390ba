import {
  acs3CanonicalRequest,
  acs3Signature,
  nonceTtlMs,
  parseAcs3Authorization,
  parseSignedDate,
  rpcSha1Signature,
  sha256Hex,
  SIGNATURE_WINDOW_MS,
  signaturesEqual,
} from './signature.js';
import { AppError } from '../../app/errors.js';
import type { AccessKeyStore } from '../../store/access-key-store.js';

/** One RPC request as received: what either signature covers. */
export interface SignedRequest {
  method: string;
  path: string;
  /** Decoded query parameters, in order. */
  query: readonly [string, string][];
  /** Decoded form-body parameters, in order. */
  form: readonly [string, string][];
  rawBody: Buffer;
  /** Header values by lowercase name. */
  headers: Readonly<Record<string, string | undefined>>;
}

/** Parameters that belong to the HMAC-SHA1 signature, not to the action. */
export const SHA1_PROTOCOL_PARAMS: readonly string[] = [
  'AccessKeyId',
  'Signature',
  'SignatureMethod',
  'SignatureVersion',
  'SignatureNonce',
  'SignatureType',
  'Timestamp',
];

const NONCE_RE = /^[\x21-\x7e]{1,128}$/;

const incomplete = (why: string) => new AppError('IncompleteSignature', why);

/** 400 unless `dateText` is a well-formed date within the window; returns it in ms. */
function checkDate(dateText: string, field: string, nowMs: number): number {
  const dateMs = parseSignedDate(dateText);
  if (dateMs === undefined) {
    throw new AppError(
      'InvalidTimeStamp.Format',
      `${field}: ${JSON.stringify(dateText)} is not UTC ISO-8601 such as 2024-01-02T03:04:05Z`,
    );
  }
  if (Math.abs(nowMs - dateMs) > SIGNATURE_WINDOW_MS) {
    throw new AppError(
      'InvalidTimeStamp.Expired',
      `${field}: ${dateText} is more than 15 minutes from the server's time`,
    );
  }
  return dateMs;
}

function checkNonce(nonce: string | undefined, field: string): string {
  if (nonce === undefined || nonce === '') throw incomplete(`${field} is required`);
  if (!NONCE_RE.test(nonce)) {
    throw incomplete(`${field}: must be 1-128 printable ASCII characters without spaces`);
  }
  return nonce;
}

async function secretFor(keys: AccessKeyStore, accessKeyId: string): Promise<string> {
  const secret = await keys.secretOf(accessKeyId);
  if (secret === undefined) {
    throw new AppError(
      'InvalidAccessKeyId.NotFound',
      `no access key ${JSON.stringify(accessKeyId)}`,
    );
  }
  return secret;
}

/** A request whose signature holds: its nonce is still to be claimed (see claimNonce). */
export interface Verified {
  accessKeyId: string;
  nonce: string;
  /** How long the nonce must be remembered: while the request's date is accepted. */
  nonceTtlMs: number;
}

/**
 * Verifies the request's signature (ACS3-HMAC-SHA256 in the Authorization header, else the
 * HMAC-SHA1 query signature), its date and the form of its nonce. Reads the access key and
 * writes nothing.
 */
export async function verifySignature(
  req: SignedRequest,
  keys: AccessKeyStore,
  nowMs: number,
): Promise<Verified> {
  const auth = req.headers.authorization;
  if (auth !== undefined && auth !== '') return verifyAcs3(req, auth, keys, nowMs);
  if (req.query.some(([k]) => k === 'Signature' || k === 'SignatureMethod')) {
    return verifySha1(req, keys, nowMs);
  }
  throw incomplete(
    'the request is not signed: send an ACS3-HMAC-SHA256 Authorization header or an HMAC-SHA1 Signature parameter',
  );
}

async function verifyAcs3(
  req: SignedRequest,
  header: string,
  keys: AccessKeyStore,
  nowMs: number,
): Promise<Verified> {
  const auth = parseAcs3Authorization(header);
  if (typeof auth === 'string') throw incomplete(auth);
  const signed = new Set(auth.signedHeaders);
  // Every header the request's meaning depends on must be signed.
  const mustSign = [
    'host',
    ...Object.keys(req.headers).filter((h) => h.startsWith('x-acs-')),
    ...(req.rawBody.length > 0 && req.headers['content-type'] !== undefined
      ? ['content-type']
      : []),
  ];
  const unsigned = mustSign.filter((h) => !signed.has(h));
  if (unsigned.length > 0) throw incomplete(`SignedHeaders must include ${unsigned.join(', ')}`);
  const absent = auth.signedHeaders.filter((h) => req.headers[h] === undefined);
  if (absent.length > 0)
    throw incomplete(`signed header ${absent.join(', ')} is not in the request`);

  const date = req.headers['x-acs-date'];
  if (date === undefined) throw incomplete('the x-acs-date header is required');
  const dateMs = checkDate(date, 'x-acs-date', nowMs);
  const nonce = checkNonce(req.headers['x-acs-signature-nonce'], 'x-acs-signature-nonce');
  const payloadHash = req.headers['x-acs-content-sha256'];
  if (payloadHash === undefined) throw incomplete('the x-acs-content-sha256 header is required');
  if (payloadHash.toLowerCase() !== sha256Hex(req.rawBody)) {
    throw new AppError(
      'SignatureDoesNotMatch',
      'x-acs-content-sha256 is not the SHA-256 of the request body',
    );
  }

  const secret = await secretFor(keys, auth.accessKeyId);
  const canonical = acs3CanonicalRequest({
    method: req.method,
    path: req.path,
    query: req.query,
    headers: req.headers,
    signedHeaders: auth.signedHeaders,
    payloadHash: payloadHash.toLowerCase(),
  });
  if (!signaturesEqual(acs3Signature(secret, canonical), auth.signature)) {
    throw new AppError(
      'SignatureDoesNotMatch',
      'the signature does not match this request signed with that access key’s secret',
    );
  }
  return { accessKeyId: auth.accessKeyId, nonce, nonceTtlMs: nonceTtlMs(dateMs, nowMs) };
}

async function verifySha1(
  req: SignedRequest,
  keys: AccessKeyStore,
  nowMs: number,
): Promise<Verified> {
  const params = [...req.query, ...req.form];
  const one = (name: string): string | undefined => params.find(([k]) => k === name)?.[1];
  const method = one('SignatureMethod');
  if (method !== 'HMAC-SHA1') {
    throw incomplete(
      `SignatureMethod: must be HMAC-SHA1 (or sign with ACS3-HMAC-SHA256), got ${JSON.stringify(method ?? '')}`,
    );
  }
  const version = one('SignatureVersion');
  if (version !== undefined && version !== '1.0') {
    throw incomplete(`SignatureVersion: must be 1.0, got ${JSON.stringify(version)}`);
  }
  const accessKeyId = one('AccessKeyId');
  if (!accessKeyId) throw incomplete('AccessKeyId is required');
  const signature = one('Signature');
  if (!signature) throw incomplete('Signature is required');
  const timestamp = one('Timestamp');
  if (timestamp === undefined) throw incomplete('Timestamp is required');
  const dateMs = checkDate(timestamp, 'Timestamp', nowMs);
  const nonce = checkNonce(one('SignatureNonce'), 'SignatureNonce');

  const secret = await secretFor(keys, accessKeyId);
  const expected = rpcSha1Signature(
    req.method,
    params.filter(([k]) => k !== 'Signature'),
    secret,
  );
  if (!signaturesEqual(expected, signature)) {
    throw new AppError(
      'SignatureDoesNotMatch',
      'the signature does not match this request signed with that access key’s secret',
    );
  }
  return { accessKeyId, nonce, nonceTtlMs: nonceTtlMs(dateMs, nowMs) };
}

/**
 * Records a verified request's nonce; 400 SignatureNonceUsed when it was already used (a
 * replay, on this replica or another).
 */
export async function claimNonce(keys: AccessKeyStore, v: Verified): Promise<void> {
  if (!(await keys.claimNonce(v.accessKeyId, v.nonce, v.nonceTtlMs))) {
    throw new AppError(
      'SignatureNonceUsed',
      'this signature nonce was already used by that access key within the last 15 minutes',
    );
  }
}
