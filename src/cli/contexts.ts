/**
 * Named contexts (an API address and its token) in $XDG_CONFIG_HOME/fleetcmd/config.json
 * (default ~/.config/fleetcmd/config.json): the file is 0600 in a 0700 directory, replaced
 * whole (written beside, then renamed) so a reader never sees half of it. A file that cannot be
 * read as a config is a ConfigError naming the file and what is wrong with it.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from '../shared/config-error.js';

export interface CliContext {
  url: string;
  /** Absent for a server run with --insecure-no-auth. */
  token?: string;
}

export interface CliConfig {
  /** The context used when neither flags, variables nor --context say where the API is. */
  current?: string;
  contexts: Record<string, CliContext>;
}

/** Names a user types: letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const CONTEXT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function configPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'fleetcmd', 'config.json');
}

function problem(file: string, what: string): ConfigError {
  return new ConfigError(`${file}: ${what} (fix or remove the file)`);
}

function checkContext(file: string, name: string, value: unknown): CliContext {
  if (!CONTEXT_NAME_RE.test(name))
    throw problem(file, `context name ${JSON.stringify(name)} is not valid`);
  const c = value as Record<string, unknown> | null;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) {
    throw problem(file, `contexts.${name} must be an object`);
  }
  if (typeof c.url !== 'string' || !/^https?:\/\/./.test(c.url)) {
    throw problem(file, `contexts.${name}.url must be an http(s) URL`);
  }
  if (c.token !== undefined && typeof c.token !== 'string') {
    throw problem(file, `contexts.${name}.token must be a string`);
  }
  return c.token === undefined ? { url: c.url } : { url: c.url, token: c.token };
}

/** The parsed file; an absent file is an empty config. */
export function readCliConfig(env: NodeJS.ProcessEnv): CliConfig {
  const file = configPath(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: {} };
    throw problem(file, `cannot read it: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw problem(file, `not valid JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw problem(file, 'must be a JSON object');
  }
  const { current, contexts = {} } = raw as { current?: unknown; contexts?: unknown };
  if (typeof contexts !== 'object' || contexts === null || Array.isArray(contexts)) {
    throw problem(file, '"contexts" must be an object');
  }
  const checked: Record<string, CliContext> = {};
  for (const [name, value] of Object.entries(contexts))
    checked[name] = checkContext(file, name, value);
  if (current !== undefined && (typeof current !== 'string' || !(current in checked))) {
    throw problem(file, `"current" names no context: ${JSON.stringify(current)}`);
  }
  return current === undefined ? { contexts: checked } : { current, contexts: checked };
}

/** Replaces the file: written beside it (0600), then renamed over it. */
export function writeCliConfig(env: NodeJS.ProcessEnv, config: CliConfig): string {
  const file = configPath(env);
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}

/** Where the API is and the token, by the documented order (see clientArgs). */
export interface Endpoint {
  url: string;
  token: string | undefined;
}

/**
 * Each of the URL and the token from the first that gives it: the flag (--url, --token), the
 * variable (FLEETCMD_URL, FLEETCMD_API_TOKEN), the context named by --context, the current
 * context; the URL defaults to http://127.0.0.1:8080.
 */
export function resolveEndpoint(
  flags: { url?: string; token?: string; context?: string },
  env: NodeJS.ProcessEnv,
): Endpoint {
  let ctx: CliContext | undefined;
  const needsContext =
    flags.context !== undefined ||
    (flags.url ?? env.FLEETCMD_URL) === undefined ||
    (flags.token ?? env.FLEETCMD_API_TOKEN) === undefined;
  if (needsContext) {
    const config = readCliConfig(env);
    const name = flags.context ?? config.current;
    if (name !== undefined) {
      ctx = config.contexts[name];
      if (ctx === undefined) {
        throw new ConfigError(`--context ${name}: no such context in ${configPath(env)}`);
      }
    }
  }
  return {
    url: flags.url ?? env.FLEETCMD_URL ?? ctx?.url ?? 'http://127.0.0.1:8080',
    token: flags.token ?? env.FLEETCMD_API_TOKEN ?? ctx?.token,
  };
}
