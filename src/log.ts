import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * One pino logger per process. Command content, output and tokens are never logged at info;
 * the redact list is a second line of defence for fields that might carry them.
 */
export function makeLogger(level: string, name: string): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: [
        'token',
        'apiToken',
        'authorization',
        'req.headers.authorization',
        'CommandContent',
        'content',
        'output',
      ],
      censor: '[redacted]',
    },
  });
}
