import type { ApiClient } from './api-client.js';
import type { Body, ClientArgs } from './client-args.js';
import { json } from './print.js';

/**
 * Calls a listing action page by page until `max` rows or the last page; with --json every
 * answer is printed as it arrives.
 */
export async function pages<A, T>(
  api: ApiClient,
  client: ClientArgs,
  action: string,
  body: Body,
  pick: (answer: A) => { rows: T[]; next: string | undefined },
  max = Number.MAX_SAFE_INTEGER,
): Promise<T[]> {
  const rows: T[] = [];
  let token: string | undefined;
  do {
    const answer = await api.call<A>(action, {
      ...body,
      MaxResults: Math.min(50, max - rows.length),
      ...(token ? { NextToken: token } : {}),
    });
    if (client.json) json(answer);
    const page = pick(answer);
    rows.push(...page.rows);
    token = page.next;
  } while (token && rows.length < max);
  return rows.slice(0, max);
}
