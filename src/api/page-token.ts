import { AppError } from '../app/errors.js';

/** A NextToken: JSON in base64url; a token the API did not make is refused by its check. */
export function encodeToken(obj: unknown): string {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

export function decodeToken<T>(token: string, check: (v: unknown) => v is T): T {
  try {
    const v: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (check(v)) return v;
  } catch {
    // fall through to the error below
  }
  throw new AppError('InvalidParameter', 'NextToken: is not a token this API returned');
}
