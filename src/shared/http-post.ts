import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** An HTTP answer: its status and its body parsed as JSON (`{}` when it is not JSON). */
export interface JsonAnswer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * POSTs a JSON body over HTTP or HTTPS. HTTPS verifies the server's certificate against the
 * system's CAs, or only against `ca` (PEM) when given (a private CA, FLEETCMD_CA); a
 * certificate neither vouches for fails the request. Rejects when no answer comes at all.
 */
export function postJson(
  url: string,
  body: unknown,
  opts: { headers?: Record<string, string>; ca?: string | undefined; timeoutMs?: number } = {},
): Promise<JsonAnswer> {
  const target = new URL(url);
  const payload = Buffer.from(JSON.stringify(body));
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(payload.length),
          ...opts.headers,
        },
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        timeout: opts.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          } catch {
            parsed = {};
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${target.origin}`)));
    req.on('error', reject);
    req.end(payload);
  });
}
