/**
 * A bad setting (a flag, a variable, the CLI's config file): its message names what is wrong.
 * Apart from config.ts so that the CLI's client commands can name it without loading zod.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
