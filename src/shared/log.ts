import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** The password part of `scheme://user:password@host` (Redis URLs carry one). */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@/]+@/gi;

/** `text` with any URL's password replaced by `[redacted]` (the user name is kept). */
export function redactText(text: string): string {
  return text.replace(URL_PASSWORD, '$1[redacted]@');
}

/** Deepest a logged object is searched for URLs with passwords (log fields are shallow). */
const SCRUB_DEPTH = 4;

/** What a secret field's value is logged as. */
const CENSOR = '[redacted]';

/**
 * A copy of a logged value with URL passwords removed from its strings, and the secret fields
 * (SECRET_FIELDS) of its top level (`depth` 0) and one level down censored.
 */
function scrub(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) {
    // A copy of the same class (pino logs its name as `type`), message and stack scrubbed.
    const copy = Object.create(Object.getPrototypeOf(value) as object) as Record<string, unknown>;
    for (const k of Object.getOwnPropertyNames(value)) {
      copy[k] = scrubField(k, (value as unknown as Record<string, unknown>)[k], depth);
    }
    return copy;
  }
  if (depth >= SCRUB_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubField(k, v, depth);
  return out;
}

/** A field of an object at `depth`, censored when it is a secret one within the first two. */
function scrubField(key: string, value: unknown, depth: number): unknown {
  return depth <= 1 && value !== undefined && SECRET_SET.has(key)
    ? CENSOR
    : scrub(value, depth + 1);
}

/**
 * Fields that are never logged by value, wherever a caller puts them at the top level or one
 * level down: tokens, credentials, command content and output, parameter values, file content.
 */
const SECRET_FIELDS = [
  'token',
  'apiToken',
  'authorization',
  'password',
  'redisUrl',
  'CommandContent',
  'content',
  'Content',
  'output',
  'Output',
  'parameters',
  'Parameters',
];

const SECRET_SET: ReadonlySet<string> = new Set(SECRET_FIELDS);

/**
 * One pino logger per process. Command content, output, parameter values and tokens are never
 * logged (at any level: call sites log ids, statuses and sizes only); the redact list and the
 * URL-password scrub are a second line of defence for fields and messages that might carry them.
 */
export function makeLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    name,
    level,
    // Secret fields one level down are censored by scrub, which walks every field anyway: pino's
    // wildcard paths (`*.token`) cost about twice a whole line's other work (~9 us a line).
    // These literal paths are cheap.
    redact: {
      paths: [...SECRET_FIELDS, 'req.headers.authorization', 'req.headers.cookie'],
      censor: CENSOR,
    },
    formatters: { log: (object) => scrub(object, 0) as Record<string, unknown> },
    hooks: {
      // The message text too: `log.warn('cannot reach redis://u:pw@h')` keeps only the user.
      logMethod(args, method) {
        const clean = args.map((a: unknown) => (typeof a === 'string' ? redactText(a) : a));
        method.apply(this, clean as Parameters<typeof method>);
      },
    },
  };
  const logger = destination ? pino(options, destination) : pino(options);
  // A child logger's bindings pass no formatter (pino applies formatters.bindings to the base
  // bindings only): scrubbed here, as a line's fields are. Children inherit this `child`.
  const pinoChild = logger.child;
  logger.child = function child(this: Logger, bindings, childOptions) {
    return pinoChild.call(this, scrub(bindings, 0) as typeof bindings, childOptions);
  } as Logger['child'];
  return logger;
}
