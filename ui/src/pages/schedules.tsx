import useSWR from 'swr';
import {
  call,
  type DescribeInvocationResultsAnswer,
  type DescribeInvocationsAnswer,
  type InvocationView,
} from '../api';
import { nextFireText } from '../next-fire';
import { InvocationTable } from './invocations';

const MODES = ['Period', 'EveryReboot', 'NextRebootOnly'] as const;

/** Skipped fires of one schedule: the sum over its nodes (DescribeInvocationResults). */
function useSkipped(rows: readonly InvocationView[]): Map<string, number> {
  const ids = rows.map((r) => r.InvokeId);
  const { data } = useSWR(ids.length > 0 ? ['skipped', ids] : null, async () => {
    const out = new Map<string, number>();
    await Promise.all(
      ids.map(async (id) => {
        const a = await call<DescribeInvocationResultsAnswer>('DescribeInvocationResults', {
          InvokeId: id,
          MaxResults: 50,
        });
        out.set(
          id,
          a.Invocation.InvocationResults.InvocationResult.reduce((s, r) => s + r.SkippedRepeats, 0),
        );
      }),
    );
    return out;
  });
  return data ?? new Map();
}

function ModeList({ mode }: { mode: (typeof MODES)[number] }) {
  const { data, error } = useSWR<DescribeInvocationsAnswer>(
    ['DescribeInvocations', { RepeatMode: mode, MaxResults: 50 }],
    {
      refreshInterval: 5000,
    },
  );
  const rows = data?.Invocations.Invocation ?? [];
  const skipped = useSkipped(rows);
  return (
    <section aria-label={mode}>
      <h2>
        {mode === 'Period' ? 'Periodic' : mode === 'EveryReboot' ? 'At every boot' : 'At next boot'}
      </h2>
      {error && (
        <p role="alert" class="error">
          {String(error)}
        </p>
      )}
      {data && rows.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <InvocationTable
          rows={rows}
          extra={[
            { header: 'Next fire', cell: (i) => nextFireText(i) },
            { header: 'Skipped', cell: (i) => String(skipped.get(i.InvokeId) ?? '…') },
          ]}
        />
      )}
    </section>
  );
}

/**
 * Period and boot invocations, newest 50 of each: the Frequency as written, the next fire
 * (worked out here from it, next-fire.ts), runs so far and skipped fires.
 */
export function SchedulesPage() {
  return (
    <section>
      <h1>Schedules</h1>
      {MODES.map((m) => (
        <ModeList key={m} mode={m} />
      ))}
    </section>
  );
}
