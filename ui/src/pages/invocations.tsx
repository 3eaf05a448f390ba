import { useState } from 'preact/hooks';
import useSWR from 'swr';
import { Link } from 'wouter-preact';
import type { DescribeInvocationsAnswer, InvocationView } from '../api';
import { AGGREGATE_STATUSES } from '../../../src/domain/status.js';
import { Head, Pager } from '../components/bits';
import { Badge } from '../components/status';
import { REPEAT_MODES } from '../form';
import { formatTime } from '../time';

const STATUSES = ['', ...AGGREGATE_STATUSES];
const PAGE_SIZE = 20;

export function InvocationTable({
  rows,
  extra,
}: {
  rows: readonly InvocationView[];
  /** Columns after the usual ones (the Schedules page adds next fire and skipped fires). */
  extra?: readonly { header: string; cell: (i: InvocationView) => string }[];
}) {
  return (
    <table class="list">
      <Head
        columns={[
          'Invocation',
          'Name',
          'Status',
          'Mode',
          'Frequency',
          'Nodes',
          'Runs',
          'Created',
          ...(extra ?? []).map((c) => c.header),
        ]}
      />
      <tbody>
        {rows.map((i) => (
          <tr key={i.InvokeId}>
            <td>
              <Link href={`/invocations/${i.InvokeId}`}>{i.InvokeId}</Link>
            </td>
            <td>{i.CommandName}</td>
            <td>
              <Badge status={i.InvocationStatus} />
            </td>
            <td>{i.RepeatMode}</td>
            <td>{i.Frequency}</td>
            <td>{i.InvokeNodes.InvokeNode.length}</td>
            <td>{i.InvokeNodes.InvokeNode.reduce((sum, n) => sum + n.Repeats, 0)}</td>
            <td>{formatTime(i.CreationTime)}</td>
            {extra?.map((c) => (
              <td key={c.header}>{c.cell(i)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function InvocationsPage() {
  const [status, setStatus] = useState('');
  const [node, setNode] = useState('');
  const [name, setName] = useState('');
  const [mode, setMode] = useState('');
  // Tokens of the pages before this one: Previous pops, Next pushes.
  const [pages, setPages] = useState<string[]>([]);
  const token = pages[pages.length - 1];
  const body = {
    MaxResults: PAGE_SIZE,
    ...(status ? { InvokeStatus: status } : {}),
    ...(node.trim() ? { NodeId: node.trim() } : {}),
    ...(name.trim() ? { CommandName: name.trim() } : {}),
    ...(mode ? { RepeatMode: mode } : {}),
    ...(token ? { NextToken: token } : {}),
  };
  const { data, error } = useSWR<DescribeInvocationsAnswer>(['DescribeInvocations', body], {
    refreshInterval: 5000,
  });
  const filter = (set: (v: string) => void) => (e: Event) => {
    set((e.currentTarget as HTMLInputElement).value);
    setPages([]);
  };
  return (
    <section>
      <h1>Invocations</h1>
      <div class="filters">
        <label>
          Status
          <select value={status} onChange={filter(setStatus)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
        <label>
          Node
          <input value={node} onChange={filter(setNode)} />
        </label>
        <label>
          Name
          <input value={name} onChange={filter(setName)} />
        </label>
        <label>
          Mode
          <select value={mode} onChange={filter(setMode)}>
            {REPEAT_MODES.map((m) => (
              <option key={m} value={m}>
                {m || 'any'}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && (
        <p role="alert" class="error">
          {String(error)}
        </p>
      )}
      {data && <InvocationTable rows={data.Invocations.Invocation} />}
      <Pager pages={pages} setPages={setPages} next={data?.NextToken} />
    </section>
  );
}
