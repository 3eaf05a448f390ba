/** Bad flags or arguments: the CLI prints the message (and the usage) and exits 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}
