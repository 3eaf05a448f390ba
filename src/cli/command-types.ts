/**
 * The shape of the command table's entries (command-table.ts), apart so that the modules the
 * table loads can name them without importing the table.
 */

/** Values the completion asks the API (or the config file) for. */
export type CompletionKind = 'nodes' | 'invocations' | 'commands' | 'tags' | 'contexts';

export interface CliCommand {
  readonly name: string;
  /** Its lines in `fleetcmd --help`. */
  readonly usage: string;
  readonly run: (argv: string[]) => Promise<number>;
  /** Its help page ('' key) and its subcommands' pages, by subcommand: flags for completion. */
  readonly pages?: () => Promise<Readonly<Record<string, string>>>;
  /** What a positional argument is (per subcommand when it has some), for completion. */
  readonly positional?: CompletionKind | Readonly<Record<string, CompletionKind>>;
  /** Left out of the help (the completion scripts' helper). */
  readonly hidden?: boolean;
}
