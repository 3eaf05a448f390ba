/** API times (UTC ISO, "" when not happened) as local date-times and "3 min ago", with Intl. */
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
  ['second', 1],
];

/** Formatted times by their ISO text: a 10,000-row table formats each time once. */
const formatted = new Map<string, string>();

export function formatTime(iso: string): string {
  if (iso === '') return '—';
  let text = formatted.get(iso);
  if (text === undefined) {
    if (formatted.size > 50_000) formatted.clear();
    text = dateTime.format(new Date(iso));
    formatted.set(iso, text);
  }
  return text;
}

export function ago(iso: string, nowMs = Date.now()): string {
  if (iso === '') return '—';
  const seconds = Math.round((new Date(iso).getTime() - nowMs) / 1000);
  const [unit, size] = UNITS.find(([, s]) => Math.abs(seconds) >= s) ?? ['second', 1];
  return relative.format(Math.round(seconds / size), unit);
}
