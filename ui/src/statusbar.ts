// The status bar: overall state, counts, pause and snooze switches, connection state, the
// bus, a database that takes no writes (full disk), the session pipeline in warning (a link
// to its view), refused input, a degraded observer, config errors, and a short-lived notice
// line. Its elements are built once and
// updated in place, so a focused button keeps focus across updates.

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
const bus = el('span', { id: 'bus-state', class: 'bus', hidden: '' });
/** The database cannot be written (full disk, I/O error): shown only then. */
const storage = el('span', { id: 'storage-state', class: 'warn', role: 'alert', hidden: '' });
/** The session pipeline in warning: a link to its view. */
const pipeline = el('a', { id: 'pipeline-state', class: 'warn', href: '#/pipeline', hidden: '' }, 'pipeline: warning');
const observer = el(
  'span',
  {
    id: 'observer-state',
    class: 'warn',
    hidden: '',
    title:
      'Most providers on several nodes failed at once, so the cause is likely this machine or its network. ' +
      'No fixes are planned until it clears.',
  },
  'observer degraded',
);
/** Refused input (invalid JSON, missing node or type): a button that asks the intake why. */
const rejected = el('button', {
  type: 'button',
  id: 'rejected-count',
  class: 'linkish warn',
  hidden: '',
  title:
    'Events Steward refused since it started (invalid JSON, no node or type, …). ' +
    'Click for the reasons; the full counters are at GET /api/intake.',
});
rejected.addEventListener('click', () =>
  busy(rejected, async () => {
    try {
      const { intake } = await api.intake();
      const why = Object.entries(intake.rejected)
        .sort((a, b) => b[1] - a[1])
        .map(([reason, n]) => `${reason.replace(/_/g, ' ')} ${n}`)
        .join(', ');
      notice(`Refused input: ${why || 'none'} (details: GET /api/intake)`, false);
    } catch (e) {
      notice(`Could not read the intake counters: ${(e as Error).message}`);
    }
  }),
);
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
  host.replaceChildren(
    overall,
    counts,
    probing,
    snooze,
    conn,
    storage,
    bus,
    pipeline,
    observer,
    rejected,
    config,
    note,
    el('span', { class: 'spacer' }),
    pauseButton,
    snoozeButton,
  );
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

/** Shows a message in the bar for a few seconds (as an error unless `error` is false). */
export function notice(message: string, error = true): void {
  note.textContent = message;
  note.classList.toggle('info', !error);
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
  renderBus(s);
  renderStorage(s);
  observer.hidden = !s.observer_degraded;
  pipeline.hidden = s.pipeline !== 'warning';
  const refused = s.events_rejected ?? 0;
  rejected.hidden = refused === 0;
  rejected.textContent = `${refused} event${refused === 1 ? '' : 's'} refused`;
  const n = s.config_errors.length;
  config.hidden = n === 0;
  config.textContent = n ? `${n} config error${n > 1 ? 's' : ''}` : '';
  pauseButton.textContent = s.paused ? 'Resume probing' : 'Pause probing';
  snoozeButton.textContent = s.snoozed_until ? 'Unsnooze' : 'Snooze 1 h';
}

function renderBus(s: StatusView): void {
  const b = s.bus;
  bus.hidden = !b;
  if (!b) return;
  bus.dataset.bus = b.connected ? 'connected' : 'disconnected';
  bus.className = b.connected ? 'bus' : 'bus warn';
  bus.textContent = b.connected ? 'bus: connected' : `bus: reconnecting…${b.last_error ? ` ${b.last_error}` : ''}`;
  const facts = [
    b.url,
    `channels: ${b.channels.join(', ') || 'none'}`,
    b.publish_channel ? `publishing to ${b.publish_channel}` : 'not publishing',
    `${b.received} received, ${b.published} published, ${b.publish_dropped} dropped, ${b.reconnects} reconnects, ${b.disconnects ?? 0} disconnects`,
  ];
  if (b.connected && b.connected_since) facts.push(`connected since ${clock(b.connected_since)}`);
  if (b.last_message_at) facts.push(`last message ${clock(b.last_message_at)}`);
  if (b.last_error) facts.push(`last error: ${b.last_error}`);
  bus.title = facts.join('\n');
}

function renderStorage(s: StatusView): void {
  const st = s.storage;
  storage.hidden = !st || st.ok;
  if (!st || st.ok) return;
  const waiting = st.unwritten_events ? `, ${st.unwritten_events} events waiting` : '';
  storage.textContent = `storage: ${st.error ?? 'cannot write'}${waiting}`;
  const facts = [
    `The database cannot be written${st.since ? ` since ${clock(st.since)}` : ''}: ${st.error ?? 'unknown error'}.`,
    'Probing goes on; new events are refused (503) until writes succeed again.',
    `${st.failed_writes} failed writes`,
  ];
  if (st.dropped_samples) facts.push(`${st.dropped_samples} probe samples dropped`);
  storage.title = facts.join('\n');
}
