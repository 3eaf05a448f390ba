/**
 * A schedule's next fire, worked out in the browser from its Frequency with the scheduler's own
 * code (src/domain/frequency.ts, pure): DescribeInvocations keeps the vendor's response shape
 * (SPEC §2), which has no next-fire field, so the console computes it rather than the API
 * growing one.
 */
import { nextFire, parseFrequency } from '../../src/domain/frequency.js';
import type { InvocationView } from './api';
import { formatTime } from './time';

/** Wall times of a zone-less cron: the same clock time on every node, in its own zone. */
const wallTime = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'short',
  timeStyle: 'medium',
  timeZone: 'UTC',
});

/** The next fire of `inv` after `nowMs` as text: a time, "next boot", or "none". */
export function nextFireText(inv: InvocationView, nowMs = Date.now()): string {
  if (inv.InvocationStatus === 'Stopped' || inv.InvocationStatus === 'Stopping')
    return 'none (stopped)';
  if (inv.RepeatMode === 'EveryReboot') return 'at every boot';
  if (inv.RepeatMode === 'NextRebootOnly') return 'at the next boot';
  if (inv.Frequency === '') return '—';
  try {
    // The minimum interval was checked when the schedule was made.
    const freq = parseFrequency(inv.Frequency, { nowMs, minIntervalSeconds: 0 });
    const next = nextFire(freq, nowMs, { createdMs: Date.parse(inv.CreationTime) });
    if (next === undefined) return 'none (no fire left)';
    if (freq.kind === 'cron' && freq.zone === undefined)
      // Without a zone each node fires at this clock time in its own zone.
      return `${wallTime.format(new Date(next))} node-local`;
    return formatTime(new Date(next).toISOString());
  } catch {
    // An at() in the past, or a cron whose last year has gone: it will not fire again.
    return 'none (no fire left)';
  }
}
