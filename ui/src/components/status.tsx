import { memo } from 'preact/compat';
import type { InvokeNodeView } from '../api';
import { NODE_STATUSES, tone } from '../status';

export function Badge({ status }: { status: string }) {
  return (
    <span class={`badge ${tone(status as InvokeNodeView['InvocationStatus'])}`}>{status}</span>
  );
}

/** Nodes by status as one bar (a segment per status, widths set through the CSSOM) and counts. */
function ProgressView({ nodes }: { nodes: readonly InvokeNodeView[] }) {
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(n.InvocationStatus, (counts.get(n.InvocationStatus) ?? 0) + 1);
  const present = NODE_STATUSES.filter((s) => counts.has(s));
  const total = nodes.length || 1;
  const done = nodes.filter(
    (n) => !['Pending', 'Running', 'Stopping', 'Scheduled'].includes(n.InvocationStatus),
  ).length;
  return (
    <div class="progress-wrap">
      <div
        class="progress"
        role="progressbar"
        aria-label="Nodes finished"
        aria-valuemin={0}
        aria-valuemax={nodes.length}
        aria-valuenow={done}
      >
        {present.map((s) => (
          <span
            key={s}
            class={`seg ${tone(s)}`}
            style={{ width: `${((counts.get(s) ?? 0) / total) * 100}%` }}
          />
        ))}
      </div>
      <ul class="legend">
        {present.map((s) => (
          <li key={s}>
            <Badge status={s} /> {counts.get(s)}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Counted again only when the node list changes (useStableRows keeps it while unchanged). */
export const Progress = memo(ProgressView);
