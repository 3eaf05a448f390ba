import type { Action, ActionDeps } from '../../app/deps.js';
import { existingInvocation } from '../../app/invocations.js';
import { outputGroups } from '../../app/summarize.js';
import type { ContentEncoding } from '../../domain/invocation.js';
import { NODE_STATUSES, type NodeStatus } from '../../domain/status.js';
import type { StoredGroup } from '../../store/rollout-store.js';
import { parseBody } from '../schemas/common.js';
import { DEFAULT_RERUN_STATUSES, rerunRequest } from '../../app/rerun.js';
import { submitInvocation } from '../../app/submit-invocation.js';
import { invokeIdResponse, type InvokeIdAnswer } from '../schemas/response.js';
import {
  rerunInvocationSchema,
  summarizeInvocationResponse,
  summarizeInvocationSchema,
  type OutputGroupView,
  type SummarizeInvocationAnswer,
} from '../schemas/summary.js';
import { defineAction, type ActionEntry } from './define-action.js';

const isStatus = (s: string): s is NodeStatus => (NODE_STATUSES as readonly string[]).includes(s);

/** One group as the API shows it; with `output`, the output of its first node. */
async function renderGroup(
  invokeId: string,
  g: StoredGroup & { status: NodeStatus },
  output: { encoding: ContentEncoding } | undefined,
  deps: ActionDeps,
): Promise<OutputGroupView> {
  const view: OutputGroupView = {
    InvocationStatus: g.status,
    ...(g.exitCode !== '' && /^-?\d+$/.test(g.exitCode) ? { ExitCode: Number(g.exitCode) } : {}),
    OutputDigest: g.digest,
    NodeCount: g.count,
    NodeIds: { NodeId: g.nodeIds },
  };
  const first = g.nodeIds[0];
  if (output && first !== undefined) {
    const run = (await deps.runs.read(invokeId, [first], true)).get(first);
    const bytes = run?.output ?? Buffer.alloc(0);
    view.Output = bytes.toString(output.encoding === 'PlainText' ? 'utf8' : 'base64');
  }
  return view;
}

const rerunInvocation: Action<InvokeIdAnswer> = async (body, deps) => {
  const req = parseBody(rerunInvocationSchema, body);
  const { ClientToken, ...request } = req;
  const statuses = req.Status ?? DEFAULT_RERUN_STATUSES;
  const made = await submitInvocation(
    {
      clientToken: ClientToken,
      request,
      resolve: async () =>
        rerunRequest(await existingInvocation(deps, req.InvokeId), statuses, deps),
    },
    deps,
  );
  // A rerun is never a DryRun (no RepeatMode is taken), so the answer names an invocation.
  if (!('invokeId' in made)) throw new Error('RerunInvocation made no invocation');
  return { InvokeId: made.invokeId };
};

const summarizeInvocation: Action<SummarizeInvocationAnswer> = async (body, deps) => {
  const req = parseBody(summarizeInvocationSchema, body);
  const groups = (await outputGroups(req.InvokeId, deps)).filter(
    (g): g is StoredGroup & { status: NodeStatus } => isStatus(g.status),
  );
  const output = req.IncludeOutput ? { encoding: req.ContentEncoding } : undefined;
  const Group = await Promise.all(groups.map((g) => renderGroup(req.InvokeId, g, output, deps)));
  return { Groups: { Group } };
};

/**
 * SummarizeInvocation (an invocation's results grouped by identical answers) and
 * RerunInvocation (the same run again on the nodes that did not succeed).
 */
export const SUMMARY_ACTIONS: Readonly<Record<string, ActionEntry>> = {
  SummarizeInvocation: defineAction({
    handler: summarizeInvocation,
    request: summarizeInvocationSchema,
    response: summarizeInvocationResponse,
    summary:
      'Groups an invocation’s ended runs by status, exit code and output digest, largest first',
  }),
  RerunInvocation: defineAction({
    handler: rerunInvocation,
    request: rerunInvocationSchema,
    response: invokeIdResponse,
    summary:
      'Runs an invocation’s content, parameters and settings again, once, on the nodes whose last run ended with one of Status',
  }),
};
