import { useEffect, useState } from 'preact/hooks';
import { call, type ConsoleNode, type DescribeNodesAnswer } from './api';
import { shareRows } from './stable-rows';

export interface NodesState {
  nodes: readonly ConsoleNode[];
  /** True until the last page of the current pass has arrived. */
  loading: boolean;
  error?: string;
}

/**
 * Every node, page by page (DescribeNodes answers at most 50 a call): the list shows each page
 * as it arrives, then is read again every `refreshMs` so online states stay current.
 */
export function useAllNodes(refreshMs = 10_000): NodesState {
  const [state, setState] = useState<NodesState>({ nodes: [], loading: true });
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const pass = async () => {
      const seen: ConsoleNode[] = [];
      let token: string | undefined;
      try {
        do {
          const page: DescribeNodesAnswer = await call('DescribeNodes', {
            MaxResults: 50,
            ...(token ? { NextToken: token } : {}),
          });
          if (stopped) return;
          seen.push(...page.Nodes.Node);
          token = page.NextToken;
          // The first pass shows pages as they come; later passes swap the list in once whole.
          setState((s) => (s.loading ? { nodes: [...seen], loading: token !== undefined } : s));
        } while (token !== undefined);
        // Unchanged nodes keep their objects (and the list its identity when none changed), so
        // the table renders again only the rows that changed.
        setState((s) => {
          const nodes = shareRows(s.nodes, seen, (n) => n.NodeId);
          return nodes === s.nodes && !s.loading && s.error === undefined
            ? s
            : { nodes, loading: false };
        });
      } catch (err) {
        if (!stopped) setState((s) => ({ ...s, loading: false, error: String(err) }));
      }
      if (!stopped) timer = setTimeout(() => void pass(), refreshMs);
    };
    void pass();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [refreshMs]);
  return state;
}
