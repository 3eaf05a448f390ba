import { parseDeadlineMember, type DeliveryDeadline } from '../domain/delivery-deadline.js';
import { settleWithin } from '../shared/settle.js';
import type { SchedulerContext } from './context.js';
import { abortUndelivered } from './delivery.js';
import { deliveryDeadline } from './dispatch.js';

/**
 * How often each scheduler replica looks for due deadlines (one ZRANGE): a deadline is checked
 * within ~1 s of its due time, and an idle replica adds 1 Redis command a second.
 */
export const DEADLINE_POLL_MS = 1_000;
/**
 * How long a leased deadline is left to the replica that took it: one that dies (or stalls)
 * this long leaves it to the next poll of any replica. A check is a compare-and-set per node,
 * so one that takes longer is done twice, never wrong.
 */
export const DEADLINE_LEASE_MS = 30_000;
/** Deadlines leased per call (one script call; more are leased right after). */
const LEASE_BATCH = 100;

/** One deadline's check: what the scheduler's BullMQ deadline jobs did. */
export async function checkDeadline(ctx: SchedulerContext, d: DeliveryDeadline): Promise<void> {
  if (d.kind === 'once') return deliveryDeadline(ctx, d.invokeId);
  return abortUndelivered(ctx, d.invokeId, d.nodeIds, d.fire);
}

/**
 * Each scheduler replica's loop over the delivery deadlines (store/deadline-store.ts): when one
 * is due, lease the due ones, check each, and remove those checked. A check that fails stays
 * leased and is taken again when its lease ends (as a BullMQ job was retried); a member this
 * version cannot read is dropped with a warning.
 */
export class DeadlinePoller {
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly ctx: SchedulerContext) {}

  start(): void {
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      try {
        await this.pass();
      } catch (err) {
        this.ctx.deps.log.warn({ err: String(err) }, 'delivery deadlines not checked');
      }
      if (this.closed) break;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, DEADLINE_POLL_MS);
      });
    }
  }

  /**
   * Checks what is due. A fixed pace rather than a wait for the next due time: the deadlines
   * that came due within a poll share one lease and one removal (at 1 s, a busy fleet's
   * deadlines cost ~6 commands a second in all, plus each check's own reads).
   */
  private async pass(): Promise<void> {
    const { deadlines } = this.ctx.deps.schedulerQueue;
    for (;;) {
      const next = await deadlines.nextDueMs();
      const now = this.ctx.now();
      if (next === undefined || next > now) return;
      const leased = await deadlines.lease(now, DEADLINE_LEASE_MS, LEASE_BATCH);
      await deadlines.remove(await this.checkAll(leased));
      if (this.closed || leased.length < LEASE_BATCH) return;
    }
  }

  /** Checks the leased deadlines; answers those done (checked, or unreadable). */
  private async checkAll(members: readonly string[]): Promise<string[]> {
    const { log } = this.ctx.deps;
    const done: string[] = [];
    await Promise.all(
      members.map(async (member) => {
        const d = parseDeadlineMember(member);
        if (!d) {
          log.warn({ member: member.slice(0, 200) }, 'unknown delivery deadline dropped');
          done.push(member);
          return;
        }
        try {
          await checkDeadline(this.ctx, d);
          done.push(member);
        } catch (err) {
          log.warn({ invokeId: d.invokeId, err: String(err) }, 'delivery deadline check failed');
        }
      }),
    );
    return done;
  }

  /**
   * Stops looking; a pass under way is given a few seconds to finish (one cut short leaves its
   * deadlines leased, to be taken again when the lease ends).
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.wake?.();
    if (this.running) await settleWithin(this.running, 3_000);
  }
}
