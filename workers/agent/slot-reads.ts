import type { ArmedRun, ArmedStatus } from '../../src/store/agent-store.js';

/** The slot reads one agent makes: how long until a slot, and one round trip for many runs. */
export interface SlotReadDeps {
  /** How long until `slotMs` is past on Redis's clock, however far off this host's is (ms). */
  waitMs: (slotMs: number) => number;
  /** The statuses of these armed runs, in their order, in one round trip. */
  read: (runs: readonly ArmedRun[]) => Promise<ArmedStatus[]>;
}

interface Waiter {
  run: ArmedRun;
  resolve: (status: ArmedStatus) => void;
  reject: (err: unknown) => void;
}

/**
 * The reads at their slot of the runs armed for it (Agent.runArmed): every run of this agent due
 * at the same slot waits on one timer and is read in one pipelined round trip sent once the slot
 * is past: one timer, one socket write and one reply for a second's fires instead of one each.
 */
export class SlotReads {
  /** Runs waiting for their slot's read, by slot (ms, Redis's clock). */
  private readonly slots = new Map<number, Waiter[]>();

  constructor(private readonly deps: SlotReadDeps) {}

  /** Once `slotMs` is past on Redis's clock: the status of `run` (AgentStore.armedStatuses). */
  statusAt(slotMs: number, run: ArmedRun): Promise<ArmedStatus> {
    return new Promise((resolve, reject) => {
      const waiting = this.slots.get(slotMs);
      if (waiting) {
        waiting.push({ run, resolve, reject });
        return;
      }
      this.slots.set(slotMs, [{ run, resolve, reject }]);
      // A timer even for a slot past already: runs taken in the same turn share the read.
      setTimeout(() => this.wake(slotMs), Math.max(0, this.deps.waitMs(slotMs)));
    });
  }

  /**
   * The slot's timer. A timer may fire before its time on this host's clock (Node counts it from
   * the event loop's cached time, and the offset may have been measured again meanwhile): then
   * it is timed again for the rest, so no read goes out before the slot is past.
   */
  private wake(slotMs: number): void {
    const restMs = this.deps.waitMs(slotMs);
    if (restMs > 0) {
      setTimeout(() => this.wake(slotMs), restMs);
      return;
    }
    const waiting = this.slots.get(slotMs) ?? [];
    // Runs armed for this slot from now on make a read of their own.
    this.slots.delete(slotMs);
    this.deps.read(waiting.map((w) => w.run)).then(
      (statuses) => {
        for (const [i, w] of waiting.entries()) w.resolve(statuses[i] ?? 'Missing');
      },
      (err: unknown) => {
        for (const w of waiting) w.reject(err);
      },
    );
  }
}
