import type { Job } from 'bullmq';
import { FIRE_AHEAD_JOB, fireDueMs, type FireData, type FireWatchData } from '../store/queues.js';

/** A fire job: one slot of a schedule (or an at()'s one fire) for one group of nodes. */
export interface FireJob {
  kind: 'fire';
  jobId: string | undefined;
  /** The job scheduler that made it; undefined for an at()'s one-off job. */
  repeatJobKey: string | undefined;
  /** The slot it was made for; undefined when the job does not say (then it is dropped). */
  dueMs: number | undefined;
  /** Delivered FIRE_LEAD_MS before its slot: its nodes' agents fire it at the slot. */
  ahead: boolean;
  data: FireData;
}

/** The scheduler queue's jobs, told apart once by name (see SchedulerQueue for who adds them). */
export type SchedulerJob =
  | { kind: 'upkeep' }
  | { kind: 'dispatch'; invokeId: string }
  | { kind: 'deliveryTimeout'; invokeId: string }
  | FireJob
  | { kind: 'fireWatch'; data: FireWatchData }
  | { kind: 'rolloutTick'; invokeId: string; fire: string };

export function fireJobOf(job: Job): FireJob {
  return {
    kind: 'fire',
    jobId: job.id,
    repeatJobKey: job.repeatJobKey,
    dueMs: fireDueMs(job),
    ahead: job.name === FIRE_AHEAD_JOB,
    data: job.data as FireData,
  };
}

/** The job's kind and data; undefined for a job this version does not know (it is dropped). */
export function parseSchedulerJob(job: Job): SchedulerJob | undefined {
  if (job.name === 'upkeep') return { kind: 'upkeep' };
  const data = job.data as { invokeId?: unknown };
  if (typeof data.invokeId !== 'string') return undefined;
  switch (job.name) {
    case 'dispatch':
    case 'deliveryTimeout':
      return { kind: job.name, invokeId: data.invokeId };
    case 'fire':
    case FIRE_AHEAD_JOB:
      return fireJobOf(job);
    case 'fireWatch':
      return { kind: 'fireWatch', data: job.data as FireWatchData };
    case 'rolloutTick': {
      const fire = (job.data as { fire?: unknown }).fire;
      return {
        kind: 'rolloutTick',
        invokeId: data.invokeId,
        fire: typeof fire === 'string' ? fire : '',
      };
    }
    default:
      return undefined;
  }
}
