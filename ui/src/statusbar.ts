// The status bar: overall state, counts, pause and snooze switches, connection, config errors.

import { api, type Connection } from './api';
import { el } from './format';
import type { StatusView } from './types';

let status: StatusView | null = null;
let connection: Connection = 'connecting';
let onStatus: (s: StatusView) => void = () => {};

export function initStatusBar(apply: (s: StatusView) => void): void {
  onStatus = apply;
}

export function setStatus(s: StatusView): void {
  status = s;
  render();
}

export function setConnection(c: Connection): void {
  connection = c;
  render();
}

function button(label: string, action: () => Promise<StatusView>): HTMLButtonElement {
  const b = el('button', { type: 'button' }, label);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      onStatus(await action());
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

function render(): void {
  const bar = document.getElementById('statusbar');
  if (!bar || !status) return;
  const s = status;
  const c = s.counts;
  const parts = [`${c.providers} providers`, `${c.ok} ok`];
  if (c.warning) parts.push(`${c.warning} degraded`);
  if (c.error) parts.push(`${c.error} down`);
  if (c.disabled) parts.push(`${c.disabled} disabled`);
  const snoozed = s.snoozed_until
    ? `notifications snoozed until ${new Date(s.snoozed_until).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`
    : 'notifications on';
  bar.dataset.overall = s.overall;
  bar.replaceChildren(
    el('span', { class: `overall ${s.overall}` }, el('span', { class: 'dot', 'aria-hidden': 'true' }), s.overall.toUpperCase()),
    el('span', {}, parts.join(' · ')),
    el('span', { class: s.paused ? 'warn' : '' }, s.paused ? 'probing paused' : 'probing'),
    el('span', {}, snoozed),
    el('span', { class: `conn ${connection}` }, connection),
    s.config_errors.length ? el('span', { class: 'warn' }, `${s.config_errors.length} config error(s)`) : '',
    el('span', { class: 'spacer' }),
    s.paused ? button('Resume probing', api.resume) : button('Pause probing', api.pause),
    s.snoozed_until ? button('Unsnooze', () => api.snooze(0)) : button('Snooze 1 h', () => api.snooze(60)),
  );
}
