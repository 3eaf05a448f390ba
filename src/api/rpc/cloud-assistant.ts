import { z } from 'zod';
import { describeNodes } from '../actions/nodes.js';
import type { Action } from '../../app/deps.js';
import { maxResults, nodeId, parseBody } from '../schemas/common.js';
import type { NodeView } from '../schemas/response.js';

/**
 * DescribeCloudAssistantStatus, the vendor's view of its agents, answered from fleetcmd's own
 * DescribeNodes: `CloudAssistantStatus` is "true" while the node's heartbeats arrive.
 */
export const describeCloudAssistantStatusSchema = z.strictObject({
  NodeIdList: z.array(nodeId).min(1).max(50, { message: 'may name at most 50 nodes' }).optional(),
  /** Linux or Windows (any case): only nodes whose agent reports that OS. */
  OSType: z.string().max(32).optional(),
  MaxResults: maxResults,
  NextToken: z.string().max(512).optional(),
});

const view = (n: NodeView) => ({
  NodeId: n.NodeId,
  CloudAssistantStatus: n.Online ? 'true' : 'false',
  CloudAssistantVersion: n.AgentVersion,
  LastHeartbeatTime: n.LastHeartbeatTime,
  ActiveTaskCount: n.ActiveTaskCount,
  InvocationCount: n.InvocationCount,
  LastInvokedTime: n.LastInvokedTime,
  OSType: n.OsType,
  SupportSessionManager: false,
});

export const describeCloudAssistantStatus: Action = async (body, deps) => {
  const req = parseBody(describeCloudAssistantStatusSchema, body);
  let rows: NodeView[];
  let nextToken: string | undefined;
  if (req.NodeIdList !== undefined) {
    // A node that never registered is left out, as the vendor leaves out unknown instances.
    const answers = await Promise.all(
      req.NodeIdList.map((id) => describeNodes({ NodeId: id }, deps)),
    );
    rows = answers.flatMap((a) => a.Nodes.Node);
  } else {
    const page = await describeNodes(
      {
        MaxResults: req.MaxResults,
        ...(req.NextToken !== undefined ? { NextToken: req.NextToken } : {}),
      },
      deps,
    );
    rows = page.Nodes.Node;
    nextToken = page.NextToken;
  }
  const os = req.OSType?.toLowerCase();
  const shown = rows.filter((n) => os === undefined || n.OsType.toLowerCase() === os);
  return {
    TotalCount: shown.length,
    ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
    NodeCloudAssistantStatusSet: { NodeCloudAssistantStatus: shown.map(view) },
  };
};
