import { REPEAT_MODES, type RepeatModeChoice } from '../form';

/** An error message announced to screen readers; nothing when `error` is empty. */
export function ErrorLine({ error }: { error: string }) {
  return error ? (
    <p role="alert" class="error">
      {error}
    </p>
  ) : null;
}

/** A table's header row. */
export function Head({ columns }: { columns: readonly (string | false)[] }) {
  return (
    <thead>
      <tr>
        {columns.filter(Boolean).map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

/**
 * Previous/Next over an action's NextToken pages: `pages` holds the tokens of the pages before
 * the current one (Previous pops one, Next pushes the answer's NextToken).
 */
export function Pager({
  pages,
  setPages,
  next,
}: {
  pages: string[];
  setPages: (p: string[]) => void;
  next: string | undefined;
}) {
  return (
    <div class="pager">
      <button
        type="button"
        disabled={pages.length === 0}
        onClick={() => setPages(pages.slice(0, -1))}
      >
        Previous
      </button>
      <span>Page {pages.length + 1}</span>
      <button type="button" disabled={!next} onClick={() => next && setPages([...pages, next])}>
        Next
      </button>
    </div>
  );
}

/** Frequency and RepeatMode, as RunCommand and InvokeCommand take them. */
export function ScheduleFields({
  frequency,
  setFrequency,
  repeatMode,
  setRepeatMode,
}: {
  frequency: string;
  setFrequency: (v: string) => void;
  repeatMode: RepeatModeChoice;
  setRepeatMode: (v: RepeatModeChoice) => void;
}) {
  return (
    <>
      <label>
        Frequency
        <input
          placeholder="rate(5m), 0 0 9 * * MON-FRI, at(…)"
          value={frequency}
          onInput={(e) => setFrequency(e.currentTarget.value)}
        />
      </label>
      <label>
        Repeat mode
        <select
          value={repeatMode}
          onChange={(e) => setRepeatMode(e.currentTarget.value as RepeatModeChoice)}
        >
          {REPEAT_MODES.map((m) => (
            <option key={m} value={m}>
              {m || 'from Frequency'}
            </option>
          ))}
        </select>
      </label>
    </>
  );
}
