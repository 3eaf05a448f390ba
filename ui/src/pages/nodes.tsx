import { useMemo, useState } from 'preact/hooks';
import type { ConsoleNode } from '../api';
import { VirtualTable, type Column } from '../components/virtual-table';
import { ago } from '../time';
import { useAllNodes } from '../use-all-nodes';

const tagText = (n: ConsoleNode): string =>
  n.Tags.Tag.map((t) => (t.TagValue ? `${t.TagKey}=${t.TagValue}` : t.TagKey)).join(', ');

const nodeKey = (n: ConsoleNode): string => n.NodeId;

const COLUMNS: Column<ConsoleNode>[] = [
  { header: 'Node', width: 'minmax(8rem, 1.2fr)', cell: (n) => n.NodeId },
  {
    header: 'State',
    width: '9rem',
    cell: (n) => (
      <>
        <span class={`badge ${n.Online ? 'ok' : 'stop'}`}>{n.Online ? 'online' : 'offline'}</span>
        {n.ClockSkewed && (
          <span
            class="badge wait"
            title={`clock ${n.ClockOffsetMs ?? 0} ms off Redis's (positive: behind)`}
          >
            clock
          </span>
        )}
      </>
    ),
  },
  { header: 'Tags', width: 'minmax(6rem, 1fr)', cell: tagText },
  { header: 'OS', width: '6rem', cell: (n) => n.OsType },
  { header: 'Agent', width: '6rem', cell: (n) => n.AgentVersion },
  { header: 'Running', width: '5rem', cell: (n) => n.ActiveTaskCount },
  { header: 'Last heartbeat', width: '9rem', cell: (n) => ago(n.LastHeartbeatTime) },
];

export function NodesPage() {
  const { nodes, loading, error } = useAllNodes();
  const [text, setText] = useState('');
  const [online, setOnline] = useState<'all' | 'online' | 'offline'>('all');
  const shown = useMemo(() => {
    const q = text.trim().toLowerCase();
    return nodes.filter(
      (n) =>
        (online === 'all' || n.Online === (online === 'online')) &&
        (q === '' || n.NodeId.toLowerCase().includes(q) || tagText(n).toLowerCase().includes(q)),
    );
  }, [nodes, text, online]);
  const onlineCount = nodes.filter((n) => n.Online).length;
  return (
    <section>
      <h1>Nodes</h1>
      <div class="filters">
        <label>
          Filter by id or tag
          <input type="search" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        <label>
          State
          <select
            value={online}
            onChange={(e) => setOnline(e.currentTarget.value as typeof online)}
          >
            <option value="all">all</option>
            <option value="online">online</option>
            <option value="offline">offline</option>
          </select>
        </label>
        <span class="count" aria-live="polite">
          {shown.length} shown · {onlineCount} of {nodes.length} online
          {loading ? ' · loading…' : ''}
        </span>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <VirtualTable rows={shown} columns={COLUMNS} rowKey={nodeKey} label="Nodes" />
    </section>
  );
}
