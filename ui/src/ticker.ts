// The page's one clock. Relative times and countdowns are `<time>` elements made by the
// templates below (`data-ago`, `data-countdown`, `data-expires`, `data-until`, `data-since`,
// with the instant in `datetime`); their text belongs to this module alone, and no view
// re-renders anything to keep it current. The ticker:
// - writes an element's text when it appears or its `datetime` changes (a data update),
//   and when it scrolls into view or its `<details>` opens;
// - once a second, on the second, rewrites only the elements that are visible
//   (IntersectionObserver), and only those whose text changes ("5m ago" is left alone for a
//   minute); with nothing visible, no timer runs at all;
// - does nothing while `document.hidden`: no timer, no writes; when the page is shown again
//   it brings every visible time up to date at once and goes on.

import { html } from './dom';
import { ago, countdown, duration, expiresIn, fullTime, until } from './format';

/** Each kind of time: its text from the instant and now. */
const FORMATS: Record<string, (at: string, now: number) => string> = {
  /** "5s ago". */
  ago: (at, now) => ago(at, now),
  /** "4:59" until then. */
  countdown: (at, now) => countdown(at, now),
  /** "expires in 14:32", "expiring…". */
  expires: (at, now) => expiresIn(at, now),
  /** "in 4:59", "in 2 h 5 min", "due now". */
  until: (at, now) => until(at, now),
  /** "5 h": how long since then. */
  since: (at, now) => duration(Math.max(0, Math.round((now - Date.parse(at)) / 1000))),
};
const KINDS = Object.keys(FORMATS);
const SELECTOR = KINDS.map((k) => `time[data-${k}]`).join(',');

// The templates: an empty `<time>` the ticker fills (lit-html never touches its text).
export const timeAgo = (iso: string) => html`<time datetime=${iso} data-ago title=${fullTime(iso)}></time>`;
export const timeCountdown = (iso: string) => html`<time datetime=${iso} data-countdown title=${fullTime(iso)}></time>`;
export const timeExpires = (iso: string) => html`<time datetime=${iso} data-expires></time>`;
export const timeUntil = (iso: string) => html`<time datetime=${iso} data-until title=${fullTime(iso)}></time>`;
export const timeSince = (iso: string) => html`<time datetime=${iso} data-since title=${fullTime(iso)}></time>`;

/** Every ticking element in the page, the visible ones, and those not written since a change
 *  that came while the page was hidden. */
const known = new Set<HTMLElement>();
const visible = new Set<HTMLElement>();
const stale = new Set<HTMLElement>();
let timer = 0;

function text(e: HTMLElement, now: number): string {
  const kind = KINDS.find((k) => e.hasAttribute(`data-${k}`));
  const at = e.getAttribute('datetime');
  return kind && at ? FORMATS[kind](at, now) : '';
}

function write(e: HTMLElement, now = Date.now()): void {
  stale.delete(e);
  const t = text(e, now);
  if (e.textContent !== t) e.textContent = t;
}

/** Writes `e` now, or marks it for when the page is shown. */
function refresh(e: HTMLElement): void {
  if (document.hidden) stale.add(e);
  else write(e);
}

function tick(): void {
  timer = 0;
  if (document.hidden) return;
  const now = Date.now();
  for (const e of visible) write(e, now);
  schedule();
}

/** The next tick, on the next second, if anything visible ticks and the page is shown. */
function schedule(): void {
  if (timer || document.hidden || visible.size === 0) return;
  timer = window.setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
}

function stop(): void {
  clearTimeout(timer);
  timer = 0;
}

const seen = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const e = entry.target as HTMLElement;
    if (entry.isIntersecting && known.has(e)) {
      visible.add(e);
      refresh(e);
    } else {
      visible.delete(e);
    }
  }
  if (visible.size === 0) stop();
  else schedule();
});

const within = (n: Element) => [...(n.matches(SELECTOR) ? [n] : []), ...n.querySelectorAll(SELECTOR)] as HTMLElement[];

function adopt(e: HTMLElement): void {
  if (!known.has(e)) {
    known.add(e);
    seen.observe(e);
  }
  refresh(e);
}

function forget(e: HTMLElement): void {
  known.delete(e);
  visible.delete(e);
  stale.delete(e);
  seen.unobserve(e);
}

const changes = new MutationObserver((records) => {
  for (const r of records) {
    if (r.type === 'attributes') {
      if (known.has(r.target as HTMLElement)) refresh(r.target as HTMLElement);
      continue;
    }
    for (const n of r.removedNodes) {
      // A moved element is connected again by now: it stays known.
      if (n instanceof Element && !n.isConnected) for (const e of within(n)) forget(e);
    }
    for (const n of r.addedNodes) {
      if (n instanceof Element && n.isConnected) for (const e of within(n)) adopt(e);
    }
  }
});

/** Starts watching the page for ticking elements; call once. */
export function startTicker(): void {
  changes.observe(document.documentElement, { subtree: true, childList: true, attributes: true, attributeFilter: ['datetime'] });
  for (const e of within(document.documentElement)) adopt(e);
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      stop();
      return;
    }
    const now = Date.now();
    for (const e of new Set([...visible, ...stale])) write(e, now);
    schedule();
  });
}
