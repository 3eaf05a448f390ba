import { ApiClient } from './api-client.js';
import type { ClientArgs, Parsed } from './client-args.js';
import { line } from './print.js';

/** Runs a client subcommand's parsed form against the API, or prints its help. */
export async function withParsed<T>(
  parsed: Parsed<T>,
  run: (p: T & { client: ClientArgs }, api: ApiClient) => Promise<number>,
): Promise<number> {
  if ('help' in parsed) {
    line(parsed.help);
    return 0;
  }
  return run(parsed, new ApiClient({ url: parsed.client.url, token: parsed.client.token }));
}
