// Formatting for the views, all through `Intl` (see locale.ts for which locale does what):
// relative times and countdowns (whose text the ticker keeps current, ticker.ts), numbers,
// latencies, percentages, sizes, durations, clock times, plural words, and the state labels.
// Pure functions of their arguments and `now`: no DOM here.

import { UI_LANG, USER_LOCALE } from './locale';
import type { BreakerState, Status } from './types';

const relative = new Intl.RelativeTimeFormat(UI_LANG, { style: 'narrow', numeric: 'always' });
const plurals = new Intl.PluralRules(UI_LANG);
const integer = new Intl.NumberFormat(USER_LOCALE, { maximumFractionDigits: 0 });
/** Milliseconds as the engine logs them: no grouping ("1234 ms"). */
const millis = new Intl.NumberFormat(USER_LOCALE, { maximumFractionDigits: 0, useGrouping: false });
const millisFine = new Intl.NumberFormat(USER_LOCALE, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const oneDecimal = new Intl.NumberFormat(USER_LOCALE, { maximumFractionDigits: 1 });
const twoDigits = new Intl.NumberFormat(USER_LOCALE, { minimumIntegerDigits: 2, useGrouping: false });
const percentFine = new Intl.NumberFormat(USER_LOCALE, {
  style: 'percent',
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});
const percentWhole = new Intl.NumberFormat(USER_LOCALE, { style: 'percent', maximumFractionDigits: 0 });
const compactFormat = new Intl.NumberFormat(USER_LOCALE, { notation: 'compact', maximumFractionDigits: 1 });
const timeWithSeconds = new Intl.DateTimeFormat(USER_LOCALE, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const timeOnly = new Intl.DateTimeFormat(USER_LOCALE, { hour: '2-digit', minute: '2-digit' });
const dayOnly = new Intl.DateTimeFormat(USER_LOCALE, { month: 'short', day: 'numeric' });
const utcDay = new Intl.DateTimeFormat(USER_LOCALE, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const fullFormat = new Intl.DateTimeFormat(USER_LOCALE, { dateStyle: 'medium', timeStyle: 'medium' });

/** "5s ago", "3m ago", "2h ago", "4d ago" (in the UI's language); "never" without a time. */
export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  // Negated, so that 0 is -0: "0s ago", not "in 0s".
  if (s < 60) return relative.format(-s, 'second');
  if (s < 3600) return relative.format(-Math.floor(s / 60), 'minute');
  if (s < 86400) return relative.format(-Math.floor(s / 3600), 'hour');
  return relative.format(-Math.floor(s / 86400), 'day');
}

/** "m:ss" until `iso`, never negative (a clock face, not a sentence). */
export function countdown(iso: string | null, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.parse(iso) - now) / 1000));
  return `${integer.format(Math.floor(s / 60))}:${twoDigits.format(s % 60)}`;
}

/** "in 4:59" under an hour, "in 2 h 5 min" beyond, "due now" once passed. */
export function until(iso: string, now = Date.now()): string {
  const s = Math.round((Date.parse(iso) - now) / 1000);
  if (s <= 0) return 'due now';
  if (s < 3600) return `in ${countdown(iso, now)}`;
  const m = Math.floor((s % 3600) / 60);
  return `in ${integer.format(Math.floor(s / 3600))} h${m ? ` ${integer.format(m)} min` : ''}`;
}

/** A duration as a person says it, rounded down to its largest unit (as the engine words
 *  it: "5 h old"): "42 s", "3 min", "5 h", "3 d". */
export function duration(secs: number): string {
  if (secs < 60) return `${integer.format(secs)} s`;
  if (secs < 3600) return `${integer.format(Math.floor(secs / 60))} min`;
  if (secs < 172800) return `${integer.format(Math.floor(secs / 3600))} h`;
  return `${integer.format(Math.floor(secs / 86400))} d`;
}

/** An exact duration: "15 min", "1 h 30 min", "0 s". */
export function exactDuration(secs: number): string {
  const parts = [
    [Math.floor(secs / 86400), 'd'],
    [Math.floor((secs % 86400) / 3600), 'h'],
    [Math.floor((secs % 3600) / 60), 'min'],
    [secs % 60, 's'],
  ] as const;
  return parts.filter(([n]) => n > 0).map(([n, u]) => `${integer.format(n)} ${u}`).join(' ') || '0 s';
}

/** A latency: "4.2 ms" under 10 ms, "123 ms" above; "—" when unknown. */
export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  return `${v < 10 ? millisFine.format(v) : millis.format(v)} ms`;
}

/** Time elapsed, in seconds: "4.2 s" under 10 s, "42 s" above. */
export const elapsed = (ms: number) => `${(ms < 10_000 ? millisFine : integer).format(ms / 1000)} s`;

/** A measured duration in whole milliseconds, as the engine logs it: "1234 ms". */
export const millisExact = (v: number) => `${millis.format(v)} ms`;

/** A percentage given as 0–100: "99.5%"; "—" when unknown. */
export function percent(v: number | null | undefined): string {
  return v === null || v === undefined ? '—' : percentFine.format(v / 100);
}

/** A share given as 0–1, whole: "62%". */
export const share = (v: number) => percentWhole.format(v);

/** A count: "12,345". */
export const num = (n: number) => integer.format(n);

/** The word for `n` things, in the right form: "file" for 1, "files" for 2. */
export function wordFor(n: number, one: string, other = `${one}s`): string {
  return plurals.select(n) === 'one' ? one : other;
}

/** A count with its word, in the right form: "1 file", "2 files". */
export const plural = (n: number, one: string, other?: string) => `${num(n)} ${wordFor(n, one, other)}`;

/** A short number for chart axes: "1.2K", "3.4M". */
export const compact = (n: number) => compactFormat.format(n);

/** A size: "512 B", "1.5 KB", "12 MB" (binary multiples). */
export function bytes(n: number): string {
  if (n < 1024) return `${num(n)} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? oneDecimal.format(v) : num(Math.round(v))} ${units[i]}`;
}

/** Wall-clock time; the date is added when it is not today. */
export function clock(iso: string, withSeconds = true): string {
  const d = new Date(iso);
  const time = (withSeconds ? timeWithSeconds : timeOnly).format(d);
  if (d.toDateString() === new Date().toDateString()) return time;
  return `${dayOnly.format(d)} ${time}`;
}

/** Date and time in full, for titles (hover). */
export const fullTime = (iso: string) => fullFormat.format(new Date(iso));

/** "Nov 30": a UTC day given in epoch seconds (the usage is counted by UTC day). */
export const shortUtcDay = (secs: number) => utcDay.format(new Date(secs * 1000));

/** The badge text: the state in words, so colour is never the only signal. */
export function stateLabel(state: BreakerState, status: Status): string {
  if (status === 'disabled') return 'DISABLED';
  if (state === 'open') return 'DOWN';
  if (state === 'half_open' || status !== 'ok') return 'DEGRADED';
  return 'OK';
}

/** The badge colour class for a provider's state and status. */
export function stateTone(state: BreakerState, status: Status): Status {
  if (status === 'disabled') return 'disabled';
  if (state === 'open') return 'error';
  if (state === 'half_open') return 'warning';
  return status;
}

/** "expires in 14:32" until `iso`, then "expiring…" (the engine expires it on its next pass). */
export function expiresIn(iso: string, now = Date.now()): string {
  return Date.parse(iso) <= now ? 'expiring…' : `expires in ${countdown(iso, now)}`;
}
