import { isOnline } from '../../domain/node.js';
import type { Action } from '../../app/deps.js';
import { decodeToken, encodeToken } from '../page-token.js';
import { renderNode } from '../render.js';
import { describeNodesSchema, parseBody } from '../schemas/common.js';
import {
  describeNodesResponse,
  type DescribeNodesAnswer,
  type NodeView,
} from '../schemas/response.js';
import { defineAction, type ActionEntry } from './define-action.js';

const isNodeCursor = (v: unknown): v is { after: string } =>
  typeof v === 'object' && v !== null && typeof (v as { after?: unknown }).after === 'string';

/** Registered nodes by node id; the RPC's DescribeCloudAssistantStatus is answered from it. */
export const describeNodes: Action<DescribeNodesAnswer> = async (body, deps) => {
  const req = parseBody(describeNodesSchema, body);
  const now = await deps.nodes.nowMs();
  const after =
    req.NextToken !== undefined ? decodeToken(req.NextToken, isNodeCursor).after : undefined;
  const ids =
    req.NodeId !== undefined ? [req.NodeId] : await deps.nodes.list(after, Number.MAX_SAFE_INTEGER);
  // One row more than asked tells whether a NextToken is due.
  const rows: NodeView[] = [];
  for (let i = 0; i < ids.length && rows.length <= req.MaxResults; i += 50) {
    const slice = ids.slice(i, i + 50);
    const infos = await Promise.all(slice.map((id) => deps.nodes.get(id)));
    for (const info of infos) {
      if (!info || rows.length > req.MaxResults) continue;
      const online = isOnline(info, now);
      if (req.Online !== undefined && online !== req.Online) continue;
      rows.push(renderNode(info, online, await deps.nodes.activeCount(info.nodeId)));
    }
  }
  const page = rows.slice(0, req.MaxResults);
  const last = page[page.length - 1]?.NodeId;
  const more = rows.length > req.MaxResults && typeof last === 'string';
  return { ...(more ? { NextToken: encodeToken({ after: last }) } : {}), Nodes: { Node: page } };
};

export const NODE_ACTIONS: Readonly<Record<string, ActionEntry>> = {
  DescribeNodes: defineAction({
    readOnly: true,
    handler: describeNodes,
    request: describeNodesSchema,
    response: describeNodesResponse,
    summary: 'Lists registered nodes with their agent’s state',
  }),
};
