import { createHash, createHmac } from 'node:crypto';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { resolveWebhookHost } from '../app/webhook-address.js';
import { AppError } from '../app/errors.js';
import { VERSION } from '../shared/version.js';

/** What one attempt got: the receiver's status (0: no answer) and why, when it went wrong. */
export interface PostResult {
  status: number;
  error: string;
  /** The URL was refused (a refused address): retrying cannot help. */
  refused: boolean;
}

/** `sha256=<hex HMAC-SHA256 of the raw body keyed with the secret>`. */
export function signature(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * X-Fleetcmd-Delivery: the same for every attempt of one event to one webhook (a receiver can
 * drop a repeat), different for any other pair. UUID-shaped, from a SHA-256 of the two ids.
 */
export function deliveryId(webhookId: string, eventId: string): string {
  const h = createHash('sha256').update(`${webhookId}/${eventId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Bytes of a receiver's answer read at most (then the answer is dropped). */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * POSTs one delivery. The host is resolved once and checked (resolveWebhookHost), and the
 * connection goes to that address (the `lookup` below answers it), so what was checked is what
 * is reached; HTTPS still verifies the certificate against the URL's host name. A redirect is
 * an answer like any other (Node's client never follows one). `timeoutMs` bounds the whole
 * attempt, from connecting to the end of the answer.
 */
export async function postWebhook(
  urlText: string,
  body: Buffer,
  headers: Record<string, string>,
  opts: { timeoutMs: number; allowPrivate: boolean },
): Promise<PostResult> {
  const url = new URL(urlText);
  let target: { address: string; family: 4 | 6 };
  try {
    target = await resolveWebhookHost(url, opts.allowPrivate);
  } catch (err) {
    const refused = err instanceof AppError;
    return { status: 0, error: err instanceof Error ? err.message : String(err), refused };
  }
  const lookup: RequestOptions['lookup'] = (_host, options, cb) => {
    const done = cb as (...args: unknown[]) => void;
    if ((options as { all?: boolean }).all) done(null, [target]);
    else done(null, target.address, target.family);
  };
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<PostResult>((resolve) => {
    const req = request(
      url,
      {
        method: 'POST',
        lookup,
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': String(body.length),
          'user-agent': `fleetcmd-webhook/${VERSION}`,
          ...headers,
        },
      },
      (res) => {
        let seen = 0;
        res.on('data', (c: Buffer) => {
          seen += c.length;
          if (seen > MAX_ANSWER_BYTES) res.destroy();
        });
        const status = res.statusCode ?? 0;
        res.on('close', () => resolve({ status, error: '', refused: false }));
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    req.on('error', (err) => resolve({ status: 0, error: err.message, refused: false }));
    req.on('close', () => clearTimeout(timer));
    req.end(body);
  });
}
