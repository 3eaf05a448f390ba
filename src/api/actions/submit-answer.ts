import type { DryRunResult } from '../../app/submit-invocation.js';
import type { SubmitAnswer } from '../schemas/response.js';

/** RunCommand's and InvokeCommand's answer: the InvokeId, or a DryRun's findings. */
export function submitAnswer(r: { invokeId: string } | DryRunResult): SubmitAnswer {
  if ('dryRun' in r) {
    return { DryRun: true, NodeCount: r.nodeCount, OfflineNodeIds: r.offlineNodeIds };
  }
  return { InvokeId: r.invokeId };
}
