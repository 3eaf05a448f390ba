/**
 * What every client subcommand's argument parser shares: the client flags (where the API is,
 * how to print), their help lines, and small checks that turn argv into API request fields.
 * No I/O, so each subcommand's parser can be tested on its own.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { resolveEndpoint } from './contexts.js';
import { parseOutput, type OutputFormat } from './output.js';
import { UsageError } from './usage-error.js';

export type Body = Record<string, unknown>;

/** Where the API is and how to print: shared by every client subcommand. */
export interface ClientArgs {
  url: string;
  token: string | undefined;
  /** -o json (or --json): the raw API answers. */
  json: boolean;
  /** -o: how listings and describe print. */
  output: OutputFormat;
  /** Print command output's control characters as they are, even to a terminal. */
  raw: boolean;
}

/** A parsed subcommand, or a request for its help text. */
export type Parsed<T> = { help: string } | (T & { client: ClientArgs });

const CLIENT_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  context: { type: 'string' },
  json: { type: 'boolean', default: false },
  output: { type: 'string', short: 'o' },
  raw: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** The subcommand's flags plus the client ones; positionals allowed (each parser checks them). */
export function parseFlags<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: O,
) {
  const config = {
    args: argv,
    allowPositionals: true as const,
    options: { ...CLIENT_OPTIONS, ...options },
  };
  return parseArgs(config);
}

/** The client flags' lines, at the end of every client subcommand's help. */
export const CLIENT_HELP = `  -o, --output F      table, wide (more columns, no cut cells), json (the raw API answers,
                      one per line, and nothing else), yaml, or jsonpath=EXPR (e.g.
                      jsonpath='$[*].NodeId'); yaml and jsonpath read the rows a listing shows
  --json              the same as -o json
  --raw               print command output as it is even to a terminal (by default a
                      terminal sees control characters such as ESC as \\x1b)
  --url URL           API address (default $FLEETCMD_URL or http://127.0.0.1:8080)
  --token TOKEN       bearer token (default $FLEETCMD_API_TOKEN)
  --context NAME      a context of \`fleetcmd context add\` (default: the current one); flags
                      and the variables above win over it`;

export function clientArgs(
  values: {
    url?: string;
    token?: string;
    context?: string;
    json?: boolean;
    output?: string;
    raw?: boolean;
  },
  env: NodeJS.ProcessEnv,
): ClientArgs {
  const output = parseOutput(values.output, values.json === true);
  return {
    ...resolveEndpoint(values, env),
    json: output.kind === 'json',
    output,
    raw: values.raw === true,
  };
}

export function wholeNumber(flag: string, text: string | undefined, min: number, max: number) {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min || n > max) {
    throw new UsageError(`--${flag} must be a whole number from ${min} to ${max}`);
  }
  return n;
}

export function nodeList(text: string | undefined, usage: string): string[] {
  const ids = (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) {
    throw new UsageError('--nodes (n1,n2,...) or --target (key=value,...) is required', usage);
  }
  return ids;
}

/**
 * `--nodes n1,n2` or `--target gpu=h100,rack=r12` (exactly one): NodeIdList, or ResourceTag
 * pairs (`key` alone matches any value of the key).
 */
export function targetFields(
  values: { nodes?: string | undefined; target?: string | undefined },
  usage: string,
): Body {
  if (values.nodes !== undefined && values.target !== undefined) {
    throw new UsageError('--nodes and --target: give one of them, not both', usage);
  }
  if (values.target === undefined) return { NodeIdList: nodeList(values.nodes, usage) };
  return { ResourceTag: tagPairs(values.target, '--target', usage) };
}

/** `k=v,k2` as [{Key, Value?}] (a bare key: no Value); nothing checked but the shape. */
export function tagPairs(text: string, flag: string, usage: string): Body[] {
  const pairs = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const eq = s.indexOf('=');
      return eq < 0 ? { Key: s } : { Key: s.slice(0, eq), Value: s.slice(eq + 1) };
    });
  if (pairs.length === 0) throw new UsageError(`${flag} needs key=value pairs`, usage);
  return pairs;
}

export function required<T>(value: T | undefined, what: string, usage: string): T {
  if (value === undefined || value === '') throw new UsageError(`${what} is required`, usage);
  return value;
}

export function noPositionals(positionals: string[], usage: string): void {
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, usage);
  }
}

/** Only the fields that were given: an absent flag leaves the server's default. */
export function given(fields: Record<string, unknown>): Body {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}
