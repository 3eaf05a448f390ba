/** Helpers shared by the Run and Commands forms. */

/** Node ids typed as a list separated by commas, spaces or newlines. */
export const splitIds = (text: string): string[] =>
  text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * A tag target typed as `key=value` or `key` (any value) pairs separated by commas or spaces,
 * as RunCommand's ResourceTag.
 */
export function parseTags(text: string): { Key: string; Value?: string }[] {
  return splitIds(text).map((pair) => {
    const eq = pair.indexOf('=');
    if (eq === 0) throw new Error(`tag "${pair}" has no key`);
    return eq < 0 ? { Key: pair } : { Key: pair.slice(0, eq), Value: pair.slice(eq + 1) };
  });
}

/** `key=value` lines into RunCommand's Parameters; blank lines are skipped. */
export function parseParameters(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`parameter line "${line}" is not key=value`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return out;
}

export const REPEAT_MODES = ['', 'Once', 'Period', 'NextRebootOnly', 'EveryReboot'] as const;
export type RepeatModeChoice = (typeof REPEAT_MODES)[number];

/** The fields RunCommand and InvokeCommand share, set only when given. */
export function runFields(f: {
  timeout: string;
  username: string;
  workingDir: string;
  frequency: string;
  repeatMode: RepeatModeChoice;
  parameters: string;
}): Record<string, unknown> {
  const params = parseParameters(f.parameters);
  return {
    ...(f.timeout.trim() ? { Timeout: Number(f.timeout) } : {}),
    ...(f.username.trim() ? { Username: f.username.trim() } : {}),
    ...(f.workingDir.trim() ? { WorkingDir: f.workingDir.trim() } : {}),
    ...(f.frequency.trim() ? { Frequency: f.frequency.trim() } : {}),
    ...(f.repeatMode ? { RepeatMode: f.repeatMode } : {}),
    ...(Object.keys(params).length > 0 ? { Parameters: params } : {}),
  };
}
