import { CronExpressionParser } from 'cron-parser';
import type { CronExpression } from 'cron-parser';

export class FrequencyError extends Error {
  override name = 'FrequencyError';
}

export interface YearSet {
  /** Sorted, distinct allowed years within 1970..2099. */
  years: readonly number[];
}

export type Frequency =
  | {
      kind: 'cron';
      text: string;
      /** The six cron fields only, single-spaced, as BullMQ and cron-parser take them. */
      pattern: string;
      /** undefined = every year. */
      years: YearSet | undefined;
      /** Normalised (IANA as given, `UTC`, or `UTC+8:00`); undefined = the node's own zone. */
      zone: string | undefined;
    }
  | { kind: 'rate'; text: string; everyMs: number }
  | { kind: 'at'; text: string; atMs: number; zone: string | undefined };

type CronFrequency = Extract<Frequency, { kind: 'cron' }>;

export interface ParseOptions {
  nowMs: number;
  minIntervalSeconds: number;
}

const CRON_FIELDS = ['second', 'minute', 'hour', 'day-of-month', 'month', 'day-of-week'] as const;
type Field = (typeof CRON_FIELDS)[number] | 'year' | 'time zone' | 'rate' | 'at';

const MIN_YEAR = 1970;
const MAX_YEAR = 2099;
const DAY_SECONDS = 86_400;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: DAY_SECONDS } as const;
/**
 * A zone-less expression runs at each node's local time, and a wall time happens last at
 * UTC-12:00: "does it fire again" is asked there, so it is refused only if no node would run it.
 */
const LATEST_ZONE = 'UTC-12:00';

function fail(field: Field | undefined, message: string): never {
  throw new FrequencyError(`Frequency: ${field === undefined ? '' : `${field}: `}${message}`);
}

const belowMinimum = (seconds: number, opts: ParseOptions): string =>
  `fires ${seconds} s apart, below the minimum interval of ${opts.minIntervalSeconds} s`;

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Parses and validates a cron, rate() or at() text (trimmed, inner whitespace collapsed); throws
 * FrequencyError naming the field at fault.
 */
export function parseFrequency(text: string, opts: ParseOptions): Frequency {
  const clean = text.trim().replace(/\s+/g, ' ');
  if (clean === '') fail(undefined, 'empty; expected a six-field cron expression, rate() or at()');
  if (/^rate ?\(/i.test(clean)) return parseRate(clean, opts);
  if (/^at ?\(/i.test(clean)) return parseAt(clean, opts);
  return parseCron(clean, opts);
}

function parseRate(text: string, opts: ParseOptions): Frequency {
  const m = /^rate ?\( ?(\d+) ?([smhd]) ?\)$/.exec(text);
  if (!m) fail('rate', `expected rate(<n><s|m|h|d>) such as rate(5m), got "${text}"`);
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
  if (seconds === 0) fail('rate', `the count must be a positive integer, got ${m[1]}`);
  if (!Number.isSafeInteger(seconds * 1000)) fail('rate', `${m[1]}${m[2]} is too long`);
  if (seconds < opts.minIntervalSeconds) fail('rate', belowMinimum(seconds, opts));
  return { kind: 'rate', text, everyMs: seconds * 1000 };
}

/** A local calendar time; month is 1..12. */
type WallTime = [year: number, month: number, day: number, hour: number, min: number, sec: number];

function parseAt(text: string, opts: ParseOptions): Frequency {
  const m = /^at ?\( ?(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?: ([^ )]+))? ?\)$/.exec(text);
  if (!m) fail('at', `expected at(yyyy-MM-dd HH:mm:ss [time zone]), got "${text}"`);
  const wall = m.slice(1, 7).map(Number) as WallTime;
  const [year, month, day, hour, min, sec] = wall;
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const problems: [boolean, string][] = [
    [year < MIN_YEAR || year > MAX_YEAR, `year ${year} is outside ${MIN_YEAR}..${MAX_YEAR}`],
    [month < 1 || month > 12, `month ${month} is outside 1..12`],
    [day < 1 || day > days, `day ${day} is outside 1..${days} in ${year}-${m[2]}`],
    [hour > 23 || min > 59 || sec > 59, `time ${m[4]}:${m[5]}:${m[6]} does not exist`],
  ];
  const bad = problems.find(([wrong]) => wrong)?.[1];
  if (bad) fail('at', bad);
  const zone = m[7] === undefined ? undefined : normalizeZone(m[7]);
  const atMs = wallToEpoch(wall, zone ?? 'UTC');
  if (atMs <= opts.nowMs) fail('at', `${new Date(atMs).toISOString()} is not in the future`);
  return { kind: 'at', text, atMs, zone };
}

function parseCron(text: string, opts: ParseOptions): Frequency {
  const tokens = text.split(' ');
  if (tokens.length < 6) {
    const shape = 'sec min hour day-of-month month day-of-week [year] [time zone]';
    fail('second', `six fields are required, seconds first (${shape}); got ${tokens.length}`);
  }
  if (tokens.length > 8) {
    fail('time zone', `at most 8 fields (six cron fields, year, time zone); got ${tokens.length}`);
  }
  const [seventh, eighth] = tokens.slice(6);
  const hasYear = seventh !== undefined && /^[\d*,/-]+$/.test(seventh);
  if (eighth !== undefined && !hasYear) {
    fail('year', `"${seventh}" is not a year (the year comes before the time zone)`);
  }
  const fields = tokens.slice(0, 6);
  const expr = checkFields(fields);
  const years = hasYear ? parseYears(seventh) : undefined;
  const zoneText = hasYear ? eighth : seventh;
  const zone = zoneText === undefined ? undefined : normalizeZone(zoneText);
  const freq: CronFrequency = { kind: 'cron', text, pattern: fields.join(' '), years, zone };
  checkFiresAgain(freq, expr, opts.nowMs);
  checkMinInterval(freq, expr, opts);
  return freq;
}

/** Rejects what cron-parser would refuse or misread, naming the field at fault. */
function checkFields(fields: string[]): CronExpression {
  if (/W/i.test(fields[3]!))
    fail('day-of-month', `W (nearest weekday) is not supported in "${fields[3]}"`);
  // cron-parser fills H from a seed BullMQ never passes: each parse would pick another time.
  const hashed = fields.findIndex((f) => /H/.test(f.replace(/THU/gi, '')));
  if (hashed >= 0)
    fail(CRON_FIELDS[hashed]!, `H (hashed value) is not supported in "${fields[hashed]}"`);
  // cron-parser reads "9L" as "2L" instead of refusing it.
  const tooBig = fields[5]!.match(/\d+(?=L)/gi)?.find((d) => Number(d) > 7);
  if (tooBig) fail('day-of-week', `${tooBig}L: ${tooBig} is outside 0-7`);
  try {
    return CronExpressionParser.parse(fields.join(' '));
  } catch (err) {
    // Each field alone among wildcards shows which one cron-parser objects to.
    fields.forEach((f, i) => {
      try {
        CronExpressionParser.parse(fields.map((g, j) => (i === j ? g : '*')).join(' '));
      } catch (fieldErr) {
        fail(CRON_FIELDS[i]!, `"${f}": ${messageOf(fieldErr)}`);
      }
    });
    if (/day of month/i.test(messageOf(err))) {
      fail('day-of-month', `"${fields[3]}" never occurs in month(s) "${fields[4]}"`);
    }
    return fail(undefined, `invalid cron expression: ${messageOf(err)}`);
  }
}

function parseYears(text: string): YearSet | undefined {
  const years = new Set<number>();
  for (const item of text.split(',')) {
    if (item === '*') return undefined;
    const m = /^(?:(\*)|(\d{4})(?:-(\d{4}))?)(?:\/(\d+))?$/.exec(item);
    if (!m) fail('year', `"${item}" is not a year, range (a-b), list or step (*/n, a-b/n)`);
    const step = m[4] === undefined ? 1 : Number(m[4]);
    const from = m[1] ? MIN_YEAR : Number(m[2]);
    const to = m[3] ? Number(m[3]) : m[1] || m[4] ? MAX_YEAR : from;
    if (from < MIN_YEAR || to > MAX_YEAR)
      fail('year', `"${item}" is outside ${MIN_YEAR}..${MAX_YEAR}`);
    if (from > to || step < 1) fail('year', `"${item}" is an empty range`);
    for (let y = from; y <= to; y += step) years.add(y);
  }
  return { years: [...years].sort((a, b) => a - b) };
}

/** Longest month lengths, February in a leap year. */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function checkFiresAgain(freq: CronFrequency, expr: CronExpression, nowMs: number): void {
  // Asking cron-parser would cost its whole bounded search (~0.5 s) before it gives up.
  const { dayOfMonth, month, dayOfWeek } = expr.fields;
  const longest = Math.max(...month.values.map((m) => MONTH_DAYS[m - 1]!));
  const days = dayOfMonth.values.filter((d) => d === 'L' || d <= longest);
  if (dayOfWeek.isWildcard && days.length === 0) {
    fail(
      'day-of-month',
      `no day "${dayOfMonth.values.join(',')}" in month(s) "${month.values.join(',')}"`,
    );
  }
  const zone = freq.zone ?? LATEST_ZONE;
  if (!cronFires(freq, nowMs, zone).next().done) return;
  const everyYear = !cronFires({ ...freq, years: undefined }, nowMs, zone).next().done;
  if (everyYear) fail('year', `"${freq.text.split(' ')[6]}" has no fire after now`);
  fail('day-of-month', `"${freq.pattern}" never fires`);
}

/**
 * Every firing day repeats the same times of day, so the smallest gap is either between two of
 * those times or from the last one to the first on the next firing day. Local clock changes can
 * bring two fires closer for one night; that is not considered.
 */
function checkMinInterval(freq: CronFrequency, expr: CronExpression, opts: ParseOptions): void {
  // Whole-second patterns cannot fire closer than 1 s apart.
  if (opts.minIntervalSeconds <= 1) return;
  const { second, minute, hour } = expr.fields;
  const times = hour.values.flatMap((h) =>
    minute.values.flatMap((m) => second.values.map((s) => h * 3600 + m * 60 + s)),
  );
  let gap = times.reduce((g, t, i) => (i === 0 ? g : Math.min(g, t - times[i - 1]!)), Infinity);
  const span = times[times.length - 1]! - times[0]!;
  if (gap >= opts.minIntervalSeconds && DAY_SECONDS - span < opts.minIntervalSeconds) {
    gap = Math.min(gap, minDaysBetweenFiringDays(freq, opts.nowMs) * DAY_SECONDS - span);
  }
  if (gap < opts.minIntervalSeconds) {
    const field =
      gap < 60 ? 'second' : gap < 3600 ? 'minute' : gap < DAY_SECONDS ? 'hour' : 'day-of-month';
    fail(field, belowMinimum(gap, opts));
  }
}

/** Looks a year ahead, which covers every month length and weekday layout but leap days. */
function minDaysBetweenFiringDays(freq: CronFrequency, nowMs: number): number {
  const [, , , dom, month, dow] = freq.pattern.split(' ');
  const days = cronFires(
    { ...freq, pattern: `0 0 0 ${dom} ${month} ${dow}`, years: undefined },
    nowMs,
    'UTC',
  );
  let prev = days.next().value;
  let min = Infinity;
  for (let i = 0; i < 366 && prev !== undefined; i++) {
    const next = days.next().value;
    if (next !== undefined) min = Math.min(min, Math.round((next - prev) / (DAY_SECONDS * 1000)));
    prev = next;
  }
  return min;
}

/** IANA names already accepted: checking costs a parse, and nextFire checks the node's zone. */
const knownZones = new Set<string>();

/** An IANA name as given, `UTC`, or an offset as `UTC+8:00`; throws naming `time zone`. */
export function normalizeZone(text: string): string {
  const t = text.trim();
  if (/^(UTC|GMT)$/i.test(t)) return 'UTC';
  if (/^(UTC|GMT)[+-]/i.test(t)) {
    const m = /^(?:UTC|GMT)([+-])(\d{1,2})(?::(\d\d))?$/i.exec(t);
    if (!m) fail('time zone', `"${t}" is not an offset such as GMT+8:00, GMT-5 or UTC+05:30`);
    const [hours, minutes] = [Number(m[2]), Number(m[3] ?? 0)];
    if (minutes > 59) fail('time zone', `"${t}" has minutes outside 00..59`);
    if (hours * 60 + minutes > 14 * 60) fail('time zone', `"${t}" is beyond ±14:00`);
    if (hours + minutes === 0) return 'UTC';
    return `UTC${m[1]}${hours}:${String(minutes).padStart(2, '0')}`;
  }
  if (knownZones.has(t)) return t;
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: t });
    // luxon inside cron-parser must accept it too, or every later fire would throw.
    CronExpressionParser.parse('0 0 0 * * *', { currentDate: new Date(0), tz: t }).next();
  } catch {
    fail('time zone', `unknown zone "${t}" (use an IANA name, UTC, or an offset like GMT+8:00)`);
  }
  knownZones.add(t);
  return t;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Local wall time minus UTC at instant ms, in ms. */
function offsetMs(zone: string, ms: number): number {
  if (zone === 'UTC') return 0;
  const fixed = /^UTC([+-])(\d+):(\d\d)$/.exec(zone);
  if (fixed) return Number(`${fixed[1]}1`) * (Number(fixed[2]) * 60 + Number(fixed[3])) * 60_000;
  let format = formatters.get(zone);
  if (!format) {
    const n = 'numeric';
    const fields = { year: n, month: n, day: n, hour: n, minute: n, second: n } as const;
    format = new Intl.DateTimeFormat('en-US', { ...fields, timeZone: zone, hourCycle: 'h23' });
    formatters.set(zone, format);
  }
  const p: Record<string, number> = {};
  for (const { type, value } of format.formatToParts(ms)) p[type] = Number(value);
  const wallMs = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
  return wallMs - Math.floor(ms / 1000) * 1000;
}

/**
 * The instant a wall time happens in zone. A repeated time (clocks going back) gives its first
 * instant; a skipped one (clocks going forward) moves on by the gap, 02:30 becoming 03:30. Both
 * are what cron-parser does, so at() and cron agree.
 */
function wallToEpoch([year, month, ...rest]: WallTime, zone: string): number {
  const wallMs = Date.UTC(year, month - 1, ...rest);
  // The offsets a day either side straddle any clock change near this wall time.
  const candidates = [-1, 1].map(
    (side) => wallMs - offsetMs(zone, wallMs + side * DAY_SECONDS * 1000),
  );
  const exact = candidates.filter((t) => t + offsetMs(zone, t) === wallMs);
  return exact.length > 0 ? Math.min(...exact) : candidates[0]!;
}

const localYear = (ms: number, zone: string): number =>
  new Date(ms + offsetMs(zone, ms)).getUTCFullYear();

const startOfYear = (year: number, zone: string): number =>
  wallToEpoch([year, 1, 1, 0, 0, 0], zone);

function effectiveZone(freq: CronFrequency, zone: string | undefined): string {
  return freq.zone ?? (zone === undefined ? 'UTC' : normalizeZone(zone));
}

/**
 * cron-parser's next fire after cursor, parsed afresh as BullMQ does for every fire: an iterator
 * carries clock-change state that a fresh parse does not, and can answer differently.
 */
function firstAfter(pattern: string, cursor: number, zone: string): number | undefined {
  try {
    return CronExpressionParser.parse(pattern, { currentDate: new Date(cursor), tz: zone })
      .next()
      .getTime();
  } catch {
    // Its bounded search gave up. BullMQ ends the schedule then, so this does too.
    return undefined;
  }
}

/** Fires strictly after afterMs in allowed years, jumping over excluded years. */
function* cronFires(freq: CronFrequency, afterMs: number, zone: string): Generator<number> {
  const allowed = freq.years?.years;
  let cursor = afterMs;
  for (let stuck = 0; stuck < 240;) {
    const fire = firstAfter(freq.pattern, cursor, zone);
    if (fire === undefined) return;
    if (fire <= cursor) {
      // cron-parser 5.10.3 answers with an earlier time just before some clock changes
      // (Pacific/Chatham): step past the bad minutes rather than go back.
      cursor += 60_000;
      stuck++;
      continue;
    }
    stuck = 0;
    const year = localYear(fire, zone);
    if (allowed === undefined || allowed.includes(year)) {
      yield fire;
      cursor = fire;
      continue;
    }
    const nextYear = allowed.find((y) => y > year);
    if (nextYear === undefined) return;
    // 1 ms before midnight so that a fire at 00:00:00 on 1 January still counts.
    cursor = startOfYear(nextYear, zone) - 1;
  }
}

/**
 * The first fire strictly after afterMs, or undefined when there is none. A cron without a zone
 * runs in opts.zone (the node's; UTC when absent); rate fires are createdMs + k·everyMs, k ≥ 1.
 */
export function nextFire(
  freq: Frequency,
  afterMs: number,
  opts: { zone?: string; createdMs?: number },
): number | undefined {
  return nextFires(freq, afterMs, 1, opts)[0];
}

/** Up to count fires after afterMs, fewer when the schedule ends; see nextFire. */
export function nextFires(
  freq: Frequency,
  afterMs: number,
  count: number,
  opts: { zone?: string; createdMs?: number },
): number[] {
  const out: number[] = [];
  if (freq.kind === 'at') {
    if (count > 0 && freq.atMs > afterMs) out.push(freq.atMs);
  } else if (freq.kind === 'rate') {
    if (opts.createdMs === undefined) fail('rate', 'createdMs is needed to align the fires');
    const k = Math.max(1, Math.floor((afterMs - opts.createdMs) / freq.everyMs) + 1);
    for (let i = 0; i < count; i++) out.push(opts.createdMs + (k + i) * freq.everyMs);
  } else {
    const fires = cronFires(freq, afterMs, effectiveZone(freq, opts.zone));
    while (out.length < count) {
      const next = fires.next();
      if (next.done) break;
      out.push(next.value);
    }
  }
  return out;
}

/**
 * The last fire in (afterMs, untilMs], or undefined when there is none. A cron is searched back
 * from untilMs in doubling windows, so a dense one far behind costs a few steps, not a walk.
 */
export function latestFire(
  freq: Frequency,
  afterMs: number,
  untilMs: number,
  opts: { zone?: string; createdMs?: number },
): number | undefined {
  if (untilMs <= afterMs) return undefined;
  if (freq.kind === 'at')
    return freq.atMs > afterMs && freq.atMs <= untilMs ? freq.atMs : undefined;
  if (freq.kind === 'rate') {
    if (opts.createdMs === undefined) fail('rate', 'createdMs is needed to align the fires');
    const k = Math.floor((untilMs - opts.createdMs) / freq.everyMs);
    const fire = opts.createdMs + k * freq.everyMs;
    return k >= 1 && fire > afterMs ? fire : undefined;
  }
  const zone = effectiveZone(freq, opts.zone);
  for (let span = 1_000; ; span *= 2) {
    const from = Math.max(afterMs, untilMs - span);
    let latest: number | undefined;
    for (const fire of cronFires(freq, from, zone)) {
      if (fire > untilMs) break;
      latest = fire;
    }
    if (latest !== undefined || from === afterMs) return latest;
  }
}

/**
 * Bounds for BullMQ's scheduler in the effective zone: just before the start of the first
 * allowed year not yet over (BullMQ looks for fires strictly after startDate, and a fire at
 * 00:00:00 on 1 January must not be lost; omitted if that is not after afterMs), and the end
 * (exclusive) of the last; {} for every year.
 */
export function cronWindow(
  freq: CronFrequency,
  afterMs: number,
  zone?: string,
): { startMs?: number; endMs?: number } {
  const years = freq.years?.years ?? [];
  const last = years[years.length - 1];
  if (last === undefined) return {};
  const z = effectiveZone(freq, zone);
  const current = years.find((y) => startOfYear(y + 1, z) > afterMs);
  const startMs = current === undefined ? undefined : startOfYear(current, z) - 1;
  const endMs = startOfYear(last + 1, z);
  return startMs !== undefined && startMs > afterMs ? { startMs, endMs } : { endMs };
}

/** Whether ms falls in an allowed year, by the calendar of the effective zone. */
export function yearAllowed(freq: CronFrequency, ms: number, zone?: string): boolean {
  return !freq.years || freq.years.years.includes(localYear(ms, effectiveZone(freq, zone)));
}
