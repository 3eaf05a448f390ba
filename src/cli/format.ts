/**
 * What the CLI prints, without I/O: tables, the progress line, exit codes, node headers and the
 * diffing that turns successive output snapshots into "only what is new".
 */
import { StringDecoder } from 'node:string_decoder';
import { headCut, OUTPUT_LIMIT_BYTES } from '../domain/output.js';
import {
  FINAL_NODE_STATUSES,
  isFinalNodeStatus,
  NODE_STATUSES,
  type NodeStatus,
} from '../domain/status.js';
import type { InvocationResultView } from '../api/schemas/response.js';

/** The exit codes moved to exit-codes.ts; re-exported for the commands that import them here. */
export { EXIT, exitCodeFor } from './exit-codes.js';

/** Widest a column (but the last) may be before its cells are cut with `…`. */
export const MAX_COLUMN_WIDTH = 40;

/** Characters, not UTF-16 units, so `é` and emoji count once. */
function width(text: string): number {
  return [...text].length;
}

/** One line per cell: control characters (newlines, tabs, escapes) would break the grid. */
function cell(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

/** `text` cut to `max` characters, the last one `…` when it was longer. */
export function truncate(text: string, max: number): string {
  if (width(text) <= max) return text;
  return `${[...text].slice(0, Math.max(0, max - 1)).join('')}…`;
}

/**
 * A plain-text table: a header row, two spaces between columns, every column but the last cut
 * at `maxWidth` characters. The last column is never cut (error texts are read in full).
 */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  maxWidth: number = MAX_COLUMN_WIDTH,
): string {
  const last = header.length - 1;
  const cells = [header, ...rows].map((r) =>
    header.map((_, i) => {
      const text = cell(r[i] ?? '');
      return i === last ? text : truncate(text, maxWidth);
    }),
  );
  const widths = header.map((_, i) => Math.max(...cells.map((r) => width(r[i] ?? ''))));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === last ? c : c + ' '.repeat((widths[i] ?? 0) - width(c))))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `-` for a time that has not happened (the API answers `""`). */
export function orDash(text: string | number | undefined): string {
  return text === undefined || text === '' ? '-' : String(text);
}

/** `2/3`: how many of an invocation's nodes have finished, of how many. */
export function nodesDone(nodes: readonly { InvocationStatus: NodeStatus }[]): string {
  return `${nodes.filter((n) => isFinalNodeStatus(n.InvocationStatus)).length}/${nodes.length}`;
}

/** `[#####-----] 3/6  Success 2 · Failed 1 · Running 3`: final nodes fill the bar. */
export function progressLine(statuses: readonly NodeStatus[], barWidth = 20): string {
  const total = statuses.length;
  const done = statuses.filter((s) => FINAL_NODE_STATUSES.has(s)).length;
  const filled = total === 0 ? 0 : Math.round((done / total) * barWidth);
  const counts = NODE_STATUSES.map((s) => [s, statuses.filter((x) => x === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${s} ${n}`)
    .join(' · ');
  return `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${done}/${total}  ${counts}`;
}

/**
 * Whether a progress line goes to a non-terminal stderr: when it says something new and the
 * last one is at least `everyMs` old, so logs get occasional lines, not one per poll.
 */
export function plainProgressDue(
  last: { line: string; atMs: number } | undefined,
  line: string,
  nowMs: number,
  everyMs = 2000,
): boolean {
  return last === undefined || (line !== last.line && nowMs - last.atMs >= everyMs);
}

/** What a node header shows of a DescribeInvocationResults row. */
export type NodeHeaderView = Pick<
  InvocationResultView,
  'NodeId' | 'InvocationStatus' | 'ExitCode' | 'ErrorInfo'
>;

/** `--- n1: Failed exit 4 (the command execution exit code is not zero)` */
export function nodeHeader(n: NodeHeaderView): string {
  const exit = n.ExitCode === undefined ? '' : ` exit ${n.ExitCode}`;
  return `--- ${n.NodeId}: ${n.InvocationStatus}${exit}${n.ErrorInfo ? ` (${n.ErrorInfo})` : ''}`;
}

/**
 * Control characters a terminal could act on: C0 but newline and tab, DEL, and C1 (which some
 * terminals read as ESC sequences, e.g. U+009B as CSI). A carriage return is kept only before a
 * newline (CRLF line ends), so a line cannot be overwritten to hide what came before.
 */
// eslint-disable-next-line no-control-regex
const TERMINAL_CONTROLS = /\r(?!\n)|[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;

/**
 * `text` safe to show on a terminal: each control character (see TERMINAL_CONTROLS) is written
 * visibly as `\xNN` (its code point), so `ESC[2J` prints as `\x1b[2J` instead of clearing the
 * screen. Everything else, newlines and tabs included, is kept. Not reversible (a literal `\x1b`
 * in the output looks the same): exact bytes come from `--raw`, a pipe, or the API's Base64.
 */
export function visibleControls(text: string): string {
  return text.replace(
    TERMINAL_CONTROLS,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

export function droppedMarker(bytes: number): string {
  return `… [${bytes} bytes dropped] …`;
}

/**
 * Lines of one node's output for the terminal. With a prefix (several nodes interleave) a line
 * is held until it is complete, then printed with the prefix; without one, text passes through.
 */
export class LineWriter {
  #partial = '';
  #atLineStart = true;

  constructor(private readonly prefix: string) {}

  text(text: string): string {
    if (text === '') return '';
    if (this.prefix === '') {
      this.#atLineStart = text.endsWith('\n');
      return text;
    }
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop() ?? '';
    return lines.map((l) => `${this.prefix}${l}\n`).join('');
  }

  /** Ends a pending line, then prints `line` on its own. */
  line(line: string): string {
    return `${this.end()}${this.prefix}${line}\n`;
  }

  /** Whatever is pending, ended with a newline. */
  end(): string {
    if (this.prefix === '') {
      const out = this.#atLineStart ? '' : '\n';
      this.#atLineStart = true;
      return out;
    }
    const out = this.#partial === '' ? '' : `${this.prefix}${this.#partial}\n`;
    this.#partial = '';
    return out;
  }
}

/**
 * Turns successive snapshots of one node's capped output into the text not printed yet.
 *
 * A snapshot holds every byte while `dropped` is 0; beyond the cap it is the beginning (about
 * half the cap, cut before a split character) followed by the end, and `dropped` bytes in
 * between are gone. Positions here are in the whole stream: the follower remembers how far it
 * has printed, prints new bytes of the beginning, a marker for the bytes it can no longer see,
 * then the new bytes of the end (the end is aligned to the stream's end, so it needs no guess).
 * Only where the cut fell inside a multi-byte character can the seam be placed up to 3 bytes
 * off, because a snapshot alone does not tell how many bytes that cut removed.
 */
export class OutputFollower {
  /** Bytes of the stream printed or announced as dropped. */
  #position = 0;
  readonly #decoder = new StringDecoder('utf8');
  readonly #lines: LineWriter;

  /** Applied to the command's text (not to prefixes and markers) before it is printed. */
  readonly #show: (text: string) => string;

  constructor(
    prefix = '',
    private readonly limitBytes: number = OUTPUT_LIMIT_BYTES,
    /** Show control characters as `\xNN` (for a terminal), see visibleControls. */
    escapeControls = false,
  ) {
    this.#lines = new LineWriter(prefix);
    this.#show = escapeControls ? visibleControls : (text) => text;
  }

  update(output: Buffer, dropped: number): string {
    const total = output.length + dropped;
    // Less than printed: a new run of the same node began (a schedule); start over.
    if (total < this.#position) this.#position = 0;
    let out = '';
    if (dropped === 0) {
      out += this.#bytes(output.subarray(this.#position));
      this.#position = output.length;
      return out;
    }
    const seam = headCut(
      output.subarray(0, Math.min(Math.floor(this.limitBytes / 2), output.length)),
    );
    if (this.#position < seam) {
      out += this.#bytes(output.subarray(this.#position, seam));
      this.#position = seam;
    }
    const tailFrom = seam + dropped;
    if (this.#position < tailFrom) {
      out += this.#flushDecoder();
      out += this.#lines.line(droppedMarker(tailFrom - this.#position));
      this.#position = tailFrom;
    }
    out += this.#bytes(output.subarray(this.#position - dropped));
    this.#position = total;
    return out;
  }

  /** The node is final: what is still pending, ended with a newline. */
  end(): string {
    return this.#flushDecoder() + this.#lines.end();
  }

  #bytes(bytes: Buffer): string {
    return this.#lines.text(this.#show(this.#decoder.write(bytes)));
  }

  #flushDecoder(): string {
    return this.#lines.text(this.#show(this.#decoder.end()));
  }
}
