import { isOnline } from '../../domain/node.js';
import type { Action, ActionDeps } from '../../app/deps.js';
import { nodesMatching } from '../../app/targets.js';
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

/**
 * The node ids a DescribeNodes page is taken from, in id order, after `after`: one node, the
 * nodes whose tags match every pair of Tag (from the tag indexes), or every registered node.
 */
async function candidates(
  req: { NodeId?: string | undefined; Tag?: { Key: string; Value?: string | undefined }[] },
  after: string | undefined,
  deps: ActionDeps,
): Promise<string[]> {
  if (req.NodeId !== undefined) {
    const ok = req.Tag === undefined || (await matching(req.Tag, deps)).includes(req.NodeId);
    return ok ? [req.NodeId] : [];
  }
  if (req.Tag === undefined) return deps.nodes.list(after, Number.MAX_SAFE_INTEGER);
  const ids = await matching(req.Tag, deps);
  return after === undefined ? ids : ids.filter((id) => id > after);
}

/** Nodes whose tags match every pair (sorted); none past the target cap. */
async function matching(tags: { Key: string; Value?: string | undefined }[], deps: ActionDeps) {
  return (await nodesMatching(tags, deps)) ?? [];
}

/** Registered nodes by node id; the RPC's DescribeCloudAssistantStatus is answered from it. */
export const describeNodes: Action<DescribeNodesAnswer> = async (body, deps) => {
  const req = parseBody(describeNodesSchema, body);
  const now = await deps.nodes.nowMs();
  const after =
    req.NextToken !== undefined ? decodeToken(req.NextToken, isNodeCursor).after : undefined;
  const ids = await candidates(req, after, deps);
  // One row more than asked tells whether a NextToken is due.
  const rows: NodeView[] = [];
  for (let i = 0; i < ids.length && rows.length <= req.MaxResults; i += 50) {
    const slice = ids.slice(i, i + 50);
    const [infos, tags] = await Promise.all([
      Promise.all(slice.map((id) => deps.nodes.get(id))),
      deps.nodes.tags.tagsOf(slice),
    ]);
    for (const [j, info] of infos.entries()) {
      if (!info || rows.length > req.MaxResults) continue;
      const online = isOnline(info, now);
      if (req.Online !== undefined && online !== req.Online) continue;
      const active = await deps.nodes.activeCount(info.nodeId);
      rows.push(renderNode(info, online, active, tags[j]));
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
