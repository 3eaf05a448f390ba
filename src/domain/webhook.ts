/**
 * Webhooks (docs/webhooks.md): what a webhook is, how a delivery attempt's result is judged and
 * how long the next attempt waits. Pure: the scheduler's delivery worker does the I/O.
 */

/** A webhook as stored. The secret signs deliveries; no API answer shows it after creation. */
export interface Webhook {
  webhookId: string;
  url: string;
  eventTypes: string[];
  secret: string;
  createdMs: number;
}

/** One delivery attempt as recorded in the webhook's delivery log. */
export interface DeliveryAttempt {
  DeliveryId: string;
  EventId: string;
  EventType: string;
  /** 1 for the first attempt of a delivery. */
  Attempt: number;
  Time: string;
  /** `Succeeded`; `Retrying` (another attempt follows); `Failed` (given up). */
  Status: 'Succeeded' | 'Retrying' | 'Failed';
  /** The receiver's HTTP status; 0 when there was no answer. */
  HttpStatus: number;
  /** Why it did not succeed ('' when it did). */
  Error: string;
  DurationMs: number;
}

/**
 * What an answer (or its absence: `status` 0) means for a delivery: a 2xx is delivered; no
 * answer, a 5xx, 408 and 429 are worth another attempt; any other status (a 3xx is not
 * followed, a 4xx is the receiver refusing this delivery) will not change by retrying.
 */
export function attemptVerdict(status: number): 'Succeeded' | 'Retry' | 'Failed' {
  if (status >= 200 && status < 300) return 'Succeeded';
  if (status === 0 || status >= 500 || status === 408 || status === 429) return 'Retry';
  return 'Failed';
}

/**
 * The wait before attempt `attemptsMade + 1` (after `attemptsMade` failed ones): `baseMs`
 * doubled each time, at most `maxMs`.
 */
export function retryDelayMs(attemptsMade: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(Math.max(attemptsMade - 1, 0), 40);
  return Math.min(baseMs * 2 ** exp, maxMs);
}

/**
 * The Data a webhook carries: the event's own, and for RunFinished the fields the vendor's
 * Cloud Assistant task-completed event (`ecs:CloudAssistant:TaskCompleted`) has beyond it:
 * `CommandId`, `CommandName` and `FinishTime` (the event's own already carries `InvokeId`,
 * `NodeId`, `InvocationStatus` and `ExitCode`).
 */
export function webhookData(
  type: string,
  data: Record<string, unknown>,
  timeIso: string,
  invocation: { commandId: string; name: string } | undefined,
): Record<string, unknown> {
  if (type !== 'RunFinished') return data;
  return {
    ...data,
    CommandId: invocation?.commandId ?? '',
    CommandName: invocation?.name ?? '',
    FinishTime: timeIso,
  };
}
