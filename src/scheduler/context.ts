import { parseFrequency, type Frequency } from '../domain/frequency.js';
import type { Invocation } from '../domain/invocation.js';
import type { SchedulerDeps } from './deps.js';

/** Invocations (with their parsed Frequency) kept in memory: both are immutable once created. */
const CACHE_LIMIT = 10_000;

/** An invocation as the scheduler works on it. */
export interface Loaded {
  inv: Invocation;
  /** undefined for a one-off or boot-triggered invocation. */
  freq: Frequency | undefined;
}

/** What every job handler of one scheduler shares: its deps, its clock and its invocation cache. */
export class SchedulerContext {
  private readonly cache = new Map<string, Loaded>();

  constructor(readonly deps: SchedulerDeps) {}

  now(): number {
    return (this.deps.clock ?? Date.now)();
  }

  /** The invocation and its parsed Frequency, from memory when seen before. */
  async load(invokeId: string): Promise<Loaded | undefined> {
    const hit = this.cache.get(invokeId);
    if (hit) return hit;
    const inv = await this.deps.invocations.get(invokeId);
    if (!inv) return undefined;
    // Validated when it was accepted; parsed again as of 1970 so that no check that depends on
    // the time of day (an at() in the past, a year range over) can refuse it now.
    const freq =
      inv.frequency === ''
        ? undefined
        : parseFrequency(inv.frequency, { nowMs: 0, minIntervalSeconds: 0 });
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    const entry = { inv, freq };
    this.cache.set(invokeId, entry);
    return entry;
  }
}
