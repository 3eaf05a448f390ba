/**
 * `fleetcmd __complete <kind>` (hidden): the values the completion scripts offer, one a line,
 * asked of the API (node ids, tags, InvokeIds, CommandIds) or read from the config file
 * (contexts). API answers are cached on disk for a few seconds, per API address, under
 * $XDG_CACHE_HOME/fleetcmd (default ~/.cache), so pressing Tab again does not ask again. Any
 * failure prints nothing: a completion must never print errors into the user's command line.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from './api-client.js';
import { clientArgs, parseFlags } from './client-args.js';
import type { CompletionKind } from './command-types.js';
import { readCliConfig } from './contexts.js';
// Types only: the CLI reads the answers the API's schemas describe, and loads none of the API.
import type {
  DescribeCommandsAnswer,
  DescribeInvocationsAnswer,
  DescribeNodesAnswer,
} from '../api/schemas/response.js';

/** How long a cached answer is used. */
export const COMPLETE_CACHE_MS = 10_000;
/** The longest a completion waits for the API. */
const COMPLETE_TIMEOUT_MS = 3_000;

const KINDS: readonly CompletionKind[] = ['nodes', 'invocations', 'commands', 'tags', 'contexts'];

/** Tags as `key=value`, whatever shape a node's Tags has (list of Key/Value, or an object). */
function tagsOf(node: Record<string, unknown>): string[] {
  const tags = node.Tags as unknown;
  const list = Array.isArray(tags)
    ? tags
    : tags && typeof tags === 'object' && Array.isArray((tags as { Tag?: unknown }).Tag)
      ? (tags as { Tag: unknown[] }).Tag
      : undefined;
  if (list) {
    return list.map((t) => {
      const { Key, Value } = t as { Key?: unknown; Value?: unknown };
      return Value === undefined || Value === '' ? String(Key) : `${String(Key)}=${String(Value)}`;
    });
  }
  if (tags && typeof tags === 'object') {
    return Object.entries(tags).map(([k, v]) => (v === '' ? k : `${k}=${String(v)}`));
  }
  return [];
}

async function ask(api: ApiClient, kind: CompletionKind): Promise<string[]> {
  const page = { MaxResults: 50 };
  if (kind === 'nodes' || kind === 'tags') {
    const a = await api.call<DescribeNodesAnswer>('DescribeNodes', page);
    const nodes = a.Nodes.Node;
    if (kind === 'nodes') return nodes.map((n) => n.NodeId);
    return [...new Set(nodes.flatMap((n) => tagsOf(n as unknown as Record<string, unknown>)))];
  }
  if (kind === 'invocations') {
    const a = await api.call<DescribeInvocationsAnswer>('DescribeInvocations', page);
    return a.Invocations.Invocation.map((i) => i.InvokeId);
  }
  const a = await api.call<DescribeCommandsAnswer>('DescribeCommands', page);
  return a.Commands.Command.map((c) => c.CommandId);
}

function cacheFile(env: NodeJS.ProcessEnv, url: string, kind: CompletionKind): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  const key = createHash('sha256').update(url).digest('hex').slice(0, 16);
  return join(base, 'fleetcmd', `complete-${key}-${kind}.json`);
}

function cached(file: string): string[] | undefined {
  try {
    if (Date.now() - statSync(file).mtimeMs > COMPLETE_CACHE_MS) return undefined;
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return Array.isArray(v) ? v.map(String) : undefined;
  } catch {
    return undefined;
  }
}

function store(file: string, values: string[]): void {
  try {
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(values), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // No cache this time.
  }
}

export async function completeValues(
  kind: CompletionKind,
  argv: string[],
  env: NodeJS.ProcessEnv,
): Promise<string[]> {
  if (kind === 'contexts') return Object.keys(readCliConfig(env).contexts);
  const { values } = parseFlags(argv, {});
  const client = clientArgs(values, env);
  const file = cacheFile(env, client.url, kind);
  const hit = cached(file);
  if (hit) return hit;
  const found = await ask(new ApiClient({ url: client.url, token: client.token }), kind);
  store(file, found);
  return found;
}

export async function completeCli(argv: string[], env = process.env): Promise<number> {
  const [kind, ...rest] = argv;
  if (!KINDS.includes(kind as CompletionKind)) return 0;
  setTimeout(() => process.exit(0), COMPLETE_TIMEOUT_MS).unref();
  try {
    const found = await completeValues(kind as CompletionKind, rest, env);
    if (found.length > 0) process.stdout.write(`${found.join('\n')}\n`);
  } catch {
    // Nothing to offer.
  }
  return 0;
}
