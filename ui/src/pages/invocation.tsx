import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import useSWR, { useSWRConfig } from 'swr';
import { Link, useLocation } from 'wouter-preact';
import {
  base64Bytes,
  call,
  utf8,
  type DescribeInvocationsAnswer,
  type InvokeIdAnswer,
  type InvokeNodeView,
  type OutputGroupView,
  type SummarizeInvocationAnswer,
} from '../api';
import { Output } from '../components/ansi-text';
import { Badge, Progress } from '../components/status';
import { VirtualTable, type Column } from '../components/virtual-table';
import { throttle, useEvents } from '../events';
import { useCanRun } from '../role';
import { FINAL_NODE_STATUSES, SETTLED } from '../status';
import { useStableRows } from '../stable-rows';
import { formatTime } from '../time';

/**
 * Live progress comes by the event stream: each event of this invocation makes the page read it
 * again, at most once every WAKE_MS. While no stream is open (the server has none, or it broke
 * and is being reopened) the page polls every POLL_MS instead, until the invocation is settled.
 */
export const POLL_MS = 1000;
const WAKE_MS = 1000;

/** Whether an SWR key is a DescribeInvocations read of invocation `id` (table or output). */
const ofInvocation =
  (id: string) =>
  (key: unknown): boolean =>
    Array.isArray(key) &&
    key[0] === 'DescribeInvocations' &&
    (key[1] as { InvokeId?: string } | undefined)?.InvokeId === id;

/** At most this many output groups are listed (a fleet of distinct outputs has one per node). */
const GROUPS_SHOWN = 20;

/** A node's last run ended and did not succeed: what RerunInvocation picks by default. */
const rerunnable = (n: InvokeNodeView): boolean =>
  n.InvocationStatus !== 'Success' && FINAL_NODE_STATUSES.has(n.InvocationStatus);

/**
 * Rerun on failed: RerunInvocation with its default statuses (every final status but Success)
 * makes a new invocation on those nodes only, which the page then opens.
 */
function RerunButton({ id, count }: { id: string; count: number }) {
  const [, navigate] = useLocation();
  const rerun = async () => {
    const answer = await call<InvokeIdAnswer>('RerunInvocation', { InvokeId: id });
    navigate(`/invocations/${answer.InvokeId}`);
  };
  return (
    <ActionButton label={`Rerun failed (${count} ${count === 1 ? 'node' : 'nodes'})`} act={rerun} />
  );
}

/** A button for one API call: disabled while it runs, its error (if any) shown beside it. */
function ActionButton({
  label,
  danger = false,
  act,
}: {
  label: string;
  danger?: boolean;
  act: () => Promise<void>;
}) {
  const [state, setState] = useState<'idle' | 'busy' | string>('idle');
  const click = () => {
    setState('busy');
    act()
      .then(() => setState('idle'))
      .catch((err: unknown) => setState(String(err)));
  };
  return (
    <>
      <button
        type="button"
        class={danger ? 'danger' : undefined}
        disabled={state === 'busy'}
        onClick={click}
      >
        {label}
      </button>
      {state !== 'idle' && state !== 'busy' && (
        <span role="alert" class="error">
          {state}
        </span>
      )}
    </>
  );
}

/**
 * The invocation's ended runs grouped by status, exit code and output digest
 * (SummarizeInvocation), largest first. The answer is read again whenever a run ends (`ended`
 * counts them), and without outputs: a group's output is its first node's, shown in the output
 * panel below on demand, so a fleet of distinct outputs costs no read of each.
 */
function OutputGroups({
  id,
  ended,
  select,
}: {
  id: string;
  ended: number;
  select: (node: string) => void;
}) {
  const { data, error } = useSWR<SummarizeInvocationAnswer>(
    ended > 0 ? ['SummarizeInvocation', { InvokeId: id }, ended] : null,
    { keepPreviousData: true },
  );
  if (error) return <p class="error">{String(error)}</p>;
  const groups = data?.Groups.Group ?? [];
  if (groups.length === 0) return null;
  return (
    <section class="groups" aria-labelledby="groups-title">
      <h2 id="groups-title">Identical outputs</h2>
      <ul>
        {groups.slice(0, GROUPS_SHOWN).map((g) => (
          <OutputGroup
            key={`${g.InvocationStatus}/${g.ExitCode}/${g.OutputDigest}`}
            g={g}
            select={select}
          />
        ))}
      </ul>
      {groups.length > GROUPS_SHOWN && (
        <p class="muted">
          … and {groups.length - GROUPS_SHOWN} more groups (each node is in the table above)
        </p>
      )}
    </section>
  );
}

function OutputGroup({ g, select }: { g: OutputGroupView; select: (node: string) => void }) {
  const ids = g.NodeIds.NodeId;
  const first = ids[0];
  return (
    <li class="group">
      <span class="count">
        {g.NodeCount} {g.NodeCount === 1 ? 'node' : 'nodes'}
      </span>{' '}
      <Badge status={g.InvocationStatus} />
      {g.ExitCode !== undefined && <span class="muted"> exit {g.ExitCode}</span>}{' '}
      <span class="muted">
        {ids.join(', ')}
        {g.NodeCount > ids.length && ', …'}
      </span>{' '}
      {first !== undefined && g.OutputDigest !== '' && (
        <button
          type="button"
          class="link"
          aria-label={`Show output of the group of ${first}`}
          onClick={() => select(first)}
        >
          Output
        </button>
      )}
    </li>
  );
}

function StopButton({ id, nodes, label }: { id: string; nodes?: string[]; label: string }) {
  const { mutate } = useSWRConfig();
  const stop = async () => {
    await call('StopInvocation', { InvokeId: id, ...(nodes ? { NodeIdList: nodes } : {}) });
    // Stopping has no event of its own: read the invocation again now.
    void mutate(ofInvocation(id));
  };
  return <ActionButton label={label} danger act={stop} />;
}

function NodeOutput({ id, node, live }: { id: string; node: string; live: boolean }) {
  const { data, error } = useSWR<DescribeInvocationsAnswer>(
    ['DescribeInvocations', { InvokeId: id, NodeId: node, IncludeOutput: true }],
    {
      refreshInterval: (d?: DescribeInvocationsAnswer) => {
        const n = d?.Invocations.Invocation[0]?.InvokeNodes.InvokeNode[0];
        return live || (n && FINAL_NODE_STATUSES.has(n.InvocationStatus)) ? 0 : POLL_MS;
      },
    },
  );
  const n = data?.Invocations.Invocation[0]?.InvokeNodes.InvokeNode[0];
  return (
    <section class="node-output" aria-label={`Output of ${node}`}>
      <h2>
        Output of {node} {n && <Badge status={n.InvocationStatus} />}
        {n?.ExitCode !== undefined && <span class="muted"> exit {n.ExitCode}</span>}
      </h2>
      {n?.ErrorInfo && <p class="error">{n.ErrorInfo}</p>}
      {error ? (
        <p class="error">{String(error)}</p>
      ) : n ? (
        <Output base64={n.Output ?? ''} dropped={n.Dropped} />
      ) : (
        <p>Loading…</p>
      )}
    </section>
  );
}

const nodeKey = (n: InvokeNodeView): string => n.NodeId;
const NO_NODES: readonly InvokeNodeView[] = [];

/** The per-node table's columns; made once per invocation and role, not per render. */
function nodeColumns(
  invokeId: string,
  canRun: boolean,
  select: (node: string) => void,
): Column<InvokeNodeView>[] {
  return [
    { header: 'Node', width: 'minmax(7rem, 1fr)', cell: (n) => n.NodeId },
    { header: 'Status', width: '7rem', cell: (n) => <Badge status={n.InvocationStatus} /> },
    { header: 'Exit', width: '3.5rem', cell: (n) => n.ExitCode ?? '' },
    { header: 'Runs', width: '3.5rem', cell: (n) => n.Repeats },
    { header: 'Started', width: '11.5rem', cell: (n) => formatTime(n.StartTime) },
    { header: 'Finished', width: '11.5rem', cell: (n) => formatTime(n.FinishTime) },
    { header: 'Error', width: 'minmax(6rem, 1.5fr)', cell: (n) => n.ErrorInfo },
    {
      header: 'Actions',
      width: '11rem',
      cell: (n) => (
        <>
          <button
            type="button"
            class="link"
            aria-label={`Show output of ${n.NodeId}`}
            onClick={() => select(n.NodeId)}
          >
            Output
          </button>
          {canRun && !FINAL_NODE_STATUSES.has(n.InvocationStatus) && (
            <StopButton id={invokeId} nodes={[n.NodeId]} label={`Stop ${n.NodeId}`} />
          )}
        </>
      ),
    },
  ];
}

export function InvocationPage({ id }: { id: string }) {
  const canRun = useCanRun();
  const [selected, setSelected] = useState<string | undefined>();
  const { mutate } = useSWRConfig();
  const [finished, setFinished] = useState(false);
  const wake = useMemo(() => throttle(() => void mutate(ofInvocation(id)), WAKE_MS), [id]);
  useEffect(() => wake.cancel, [wake]);
  const stream = useEvents({ InvokeId: id }, !finished, wake);
  const live = stream === 'live';
  // The first read waits for the stream to answer (or a few seconds), so no change falls
  // between the read and the stream.
  const ready = useRef(false);
  if (stream !== 'connecting') ready.current = true;
  const { data, error } = useSWR<DescribeInvocationsAnswer>(
    ready.current ? ['DescribeInvocations', { InvokeId: id }] : null,
    {
      refreshInterval: (d?: DescribeInvocationsAnswer) => {
        const inv = d?.Invocations.Invocation[0];
        return live || (inv && SETTLED.has(inv.InvocationStatus)) ? 0 : POLL_MS;
      },
    },
  );
  const inv = data?.Invocations.Invocation[0];
  const settled = inv !== undefined && SETTLED.has(inv.InvocationStatus);
  useEffect(() => setFinished(settled), [settled]);
  // Rows keep their objects while unchanged, so a new answer renders only the rows it changed.
  const nodes = useStableRows(inv?.InvokeNodes.InvokeNode ?? NO_NODES, nodeKey);
  const columns = useMemo(() => nodeColumns(id, canRun, setSelected), [id, canRun]);
  const ended = useMemo(
    () => nodes.reduce((k, n) => k + (FINAL_NODE_STATUSES.has(n.InvocationStatus) ? 1 : 0), 0),
    [nodes],
  );
  const failed = useMemo(() => nodes.filter(rerunnable).length, [nodes]);
  if (error)
    return (
      <p role="alert" class="error">
        {String(error)}
      </p>
    );
  if (!inv) return <p class="loading">Loading {id}…</p>;
  const shown = selected ?? nodes[0]?.NodeId;
  const open = !SETTLED.has(inv.InvocationStatus);
  return (
    <section>
      <p class="crumbs">
        <Link href="/invocations">Invocations</Link> / {inv.InvokeId}
      </p>
      <h1>
        {inv.CommandName || inv.InvokeId} <Badge status={inv.InvocationStatus} />
      </h1>
      <dl class="facts">
        <dt>Repeat mode</dt>
        <dd>{inv.RepeatMode}</dd>
        {inv.Frequency && (
          <>
            <dt>Frequency</dt>
            <dd>{inv.Frequency}</dd>
          </>
        )}
        <dt>Created</dt>
        <dd>{formatTime(inv.CreationTime)}</dd>
        <dt>Timeout</dt>
        <dd>{inv.Timeout} s</dd>
        {inv.Username && (
          <>
            <dt>User</dt>
            <dd>{inv.Username}</dd>
          </>
        )}
        {inv.WorkingDir && (
          <>
            <dt>Working dir</dt>
            <dd>{inv.WorkingDir}</dd>
          </>
        )}
        <dt>Updates</dt>
        <dd>
          {!open
            ? 'settled'
            : live
              ? 'live, by the event stream'
              : `polled every ${POLL_MS / 1000} s (no event stream)`}
        </dd>
      </dl>
      <pre class="code content" aria-label="Command">
        {utf8(base64Bytes(inv.CommandContent))}
      </pre>
      {canRun && open && <StopButton id={inv.InvokeId} label="Stop invocation" />}
      {canRun && failed > 0 && <RerunButton id={inv.InvokeId} count={failed} />}
      <Progress nodes={nodes} />
      <VirtualTable
        rows={nodes}
        columns={columns}
        rowKey={nodeKey}
        label="Nodes of this invocation"
      />
      <OutputGroups id={inv.InvokeId} ended={ended} select={setSelected} />
      {shown && <NodeOutput key={shown} id={inv.InvokeId} node={shown} live={live} />}
    </section>
  );
}
