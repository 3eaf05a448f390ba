/**
 * Waits for `work` at most `ms`; never rejects. For shutdown steps that must not hang when
 * Redis is away (ioredis queues commands offline until it reconnects).
 */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => undefined),
    new Promise((r) => (timer = setTimeout(r, ms))),
  ]);
  clearTimeout(timer);
}
