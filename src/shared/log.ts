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

function scrub(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) {
    // A copy of the same class (pino logs its name as `type`), message and stack scrubbed.
    const copy = Object.create(Object.getPrototypeOf(value) as object) as Record<string, unknown>;
    for (const k of Object.getOwnPropertyNames(value)) {
      copy[k] = scrub((value as unknown as Record<string, unknown>)[k], depth + 1);
    }
    return copy;
  }
  if (depth >= SCRUB_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, depth + 1);
  return out;
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

/**
 * One pino logger per process. Command content, output, parameter values and tokens are never
 * logged (at any level: call sites log ids, statuses and sizes only); the redact list and the
 * URL-password scrub are a second line of defence for fields and messages that might carry them.
 */
export function makeLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    name,
    level,
    redact: {
      paths: [
        ...SECRET_FIELDS,
        ...SECRET_FIELDS.map((f) => `*.${f}`),
        'req.headers.authorization',
        'req.headers.cookie',
      ],
      censor: '[redacted]',
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
  return destination ? pino(options, destination) : pino(options);
}
