/**
 * Output groups in the terminal: `run --wait` and `describe <id>` print an invocation of more
 * than GROUPS_FROM_NODES nodes as its groups of identical answers (SummarizeInvocation), one
 * line each: `997 nodes  Success exit 0  | ok` (the first line of the group's output), then the
 * node ids of a group of few nodes. `--by-node` prints every node instead.
 */
import type { ApiClient } from './api-client.js';
import { line } from './print.js';
// Types only: the CLI reads the answers the API's schemas describe, and loads none of the API.
import type { SummarizeInvocationAnswer } from '../api/schemas/summary.js';

/** More nodes than this took part: groups rather than one entry per node. */
export const GROUPS_FROM_NODES = 5;

/** Groups of at most this many nodes also list them. */
const LIST_NODES_UP_TO = 10;

/** One line of text to show for an output: its first line, control characters made visible. */
function firstLine(text: string): string {
  const first = text.split('\n')[0] ?? '';
  // eslint-disable-next-line no-control-regex
  return first.replace(/[\x00-\x1f\x7f]/g, '?').slice(0, 120);
}

/** The groups as lines (largest first, as the API answers them). */
export function groupLines(answer: SummarizeInvocationAnswer, totalNodes: number): string[] {
  const groups = answer.Groups.Group;
  const width = String(Math.max(totalNodes, 1)).length;
  const out: string[] = [];
  let counted = 0;
  for (const g of groups) {
    counted += g.NodeCount;
    const nodes = `${String(g.NodeCount).padStart(width)} ${g.NodeCount === 1 ? 'node ' : 'nodes'}`;
    const exit = g.ExitCode !== undefined ? ` exit ${g.ExitCode}` : '';
    out.push(`${nodes}  ${g.InvocationStatus}${exit}  | ${firstLine(g.Output ?? '')}`.trimEnd());
    if (g.NodeCount <= LIST_NODES_UP_TO && g !== groups[0]) {
      out.push(`${' '.repeat(width + 8)}${g.NodeIds.NodeId.join(' ')}`);
    }
  }
  if (counted < totalNodes) {
    out.push(`${String(totalNodes - counted).padStart(width)} nodes  not finished`);
  }
  return out;
}

/** Prints the invocation's groups (SummarizeInvocation, outputs as text). */
export async function printGroups(
  api: ApiClient,
  invokeId: string,
  totalNodes: number,
): Promise<void> {
  const answer = await api.call<SummarizeInvocationAnswer>('SummarizeInvocation', {
    InvokeId: invokeId,
    IncludeOutput: true,
    ContentEncoding: 'PlainText',
  });
  for (const l of groupLines(answer, totalNodes)) line(l);
}
