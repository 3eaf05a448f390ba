/** UTC ISO-8601 with seconds and `Z` (`2020-01-19T09:15:46Z`); "" for a time that has not happened. */
export function isoSeconds(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return '';
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
