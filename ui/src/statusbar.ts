// The status bar: overall state, counts, pause and snooze switches, connection state,
// config errors, and a short-lived notice line for failed actions. Its elements are built
// once and updated in place, so a focused button keeps focus across updates.

import { api, type Connection } from './api';
import { busy, clock, el } from './format';
import type { StatusView } from './types';

let status: StatusView | null = null;
let connection: Connection = 'connecting';
let onStatus: (s: StatusView) => void = () => {};
let noticeTimer = 0;

const overall = el('span', { class: 'overall' });
const counts = el('span', { class: 'counts' });
const probing = el('span', { class: 'probing' });
const snooze = el('span', { class: 'snooze' });
const conn = el('span', { class: 'conn' });
const config = el('span', { class: 'warn' });
const note = el('span', { class: 'notice', role: 'status' });
const pauseButton = action(() => (status?.paused ? api.resume() : api.pause()));
const snoozeButton = action(() => api.snooze(status?.snoozed_until ? 0 : 60));

function action(run: () => Promise<StatusView>): HTMLButtonElement {
  const b = el('button', { type: 'button' });
  b.addEventListener('click', () =>
    busy(b, async () => {
      try {
        onStatus(await run());
      } catch (e) {
        notice(`${b.textContent} failed: ${(e as Error).message}`);
      }
    }),
  );
  return b;
}

/** Mounts the bar; `apply` receives the status that the bar's own buttons get back. */
export function initStatusBar(host: HTMLElement, apply: (s: StatusView) => void): void {
  onStatus = apply;
  host.replaceChildren(overall, counts, probing, snooze, conn, config, note, el('span', { class: 'spacer' }), pauseButton, snoozeButton);
  render();
}

export function setStatus(s: StatusView): void {
  status = s;
  render();
}

export function setConnection(c: Connection): void {
  connection = c;
  render();
}

/** Shows a message in the bar for a few seconds. */
export function notice(message: string): void {
  note.textContent = message;
  clearTimeout(noticeTimer);
  noticeTimer = window.setTimeout(() => (note.textContent = ''), 8000);
}

function render(): void {
  conn.className = `conn ${connection}`;
  conn.textContent = connection;
  pauseButton.hidden = snoozeButton.hidden = !status;
  const bar = overall.parentElement;
  if (!bar || !status) return;
  const s = status;
  const c = s.counts;
  bar.dataset.overall = s.overall;
  bar.dataset.paused = String(s.paused);
  overall.className = `overall ${s.overall}`;
  overall.replaceChildren(el('span', { class: 'dot', 'aria-hidden': 'true' }), s.overall.toUpperCase());
  const parts = [`${c.providers} provider${c.providers === 1 ? '' : 's'}`, `${c.ok} ok`];
  if (c.warning) parts.push(`${c.warning} degraded`);
  if (c.error) parts.push(`${c.error} down`);
  if (c.disabled) parts.push(`${c.disabled} disabled`);
  counts.textContent = parts.join(' · ');
  probing.className = s.paused ? 'probing warn' : 'probing';
  probing.textContent = s.paused ? 'probing paused' : 'probing';
  snooze.className = s.snoozed_until ? 'snooze warn' : 'snooze';
  snooze.textContent = s.snoozed_until
    ? `notifications snoozed until ${clock(s.snoozed_until, false)}`
    : 'notifications on';
  const n = s.config_errors.length;
  config.hidden = n === 0;
  config.textContent = n ? `${n} config error${n > 1 ? 's' : ''}` : '';
  pauseButton.textContent = s.paused ? 'Resume probing' : 'Pause probing';
  snoozeButton.textContent = s.snoozed_until ? 'Unsnooze' : 'Snooze 1 h';
}
