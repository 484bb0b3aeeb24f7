// The status bar: overall state, counts, pause and snooze switches, connection state, the
// bus, the push channels, a database that takes no writes (full disk), the session
// pipeline in warning (a link to its view), refused input, a degraded observer, config errors, and a short-lived notice
// line. One template rendered again on every change: its buttons stay the same elements, so
// a focused button keeps focus across updates.

import { api, desktop, type Connection } from './api';
import { busy, html, nothing, render } from './dom';
import { clock, plural } from './format';
import type { StatusView } from './types';

let status: StatusView | null = null;
let connection: Connection = 'connecting';
let onStatus: (s: StatusView) => void = () => {};
let host: HTMLElement | null = null;
let note: { text: string; error: boolean } = { text: '', error: true };
let noticeTimer = 0;

const OBSERVER_WHY =
  'Most providers on several nodes failed at once, so the cause is likely this machine or its network. ' +
  'No fixes are planned until it clears.';
const REFUSED_WHY =
  'Events Steward refused since it started (invalid JSON, no node or type, …). ' +
  'Click for the reasons; the full counters are at GET /api/intake.';

/** Mounts the bar; `apply` receives the status that the bar's own buttons get back. */
export function initStatusBar(bar: HTMLElement, apply: (s: StatusView) => void): void {
  onStatus = apply;
  host = bar;
  update();
  if (desktop) {
    desktop.onAutostart((on) => {
      autostart = on;
      update();
    });
    desktop
      .autostart()
      .then((a) => {
        autostart = a.enabled;
        update();
      })
      .catch((err) => notice(`Cannot read "Start at login": ${(err as Error).message}`));
  }
}

/** "Start at login" in the tray app (`null`: unknown yet, or a browser). */
let autostart: boolean | null = null;

async function toggleAutostart(e: Event): Promise<void> {
  const box = e.currentTarget as HTMLInputElement;
  const want = box.checked;
  box.disabled = true;
  try {
    autostart = (await desktop!.setAutostart(want)).enabled;
  } catch (err) {
    notice(`Start at login failed: ${(err as Error).message}`);
  } finally {
    box.disabled = false;
    update();
  }
}

export function setStatus(s: StatusView): void {
  status = s;
  update();
}

export function setConnection(c: Connection): void {
  connection = c;
  update();
}

/** Shows a message in the bar for a few seconds (as an error unless `error` is false). */
export function notice(message: string, error = true): void {
  note = { text: message, error };
  clearTimeout(noticeTimer);
  noticeTimer = window.setTimeout(() => {
    note = { text: '', error: true };
    update();
  }, 8000);
  update();
}

/** A button that sends `run` (once at a time) and applies the status it answers. */
function act(run: () => Promise<StatusView>) {
  return (e: Event) => {
    const b = e.currentTarget as HTMLButtonElement;
    void busy(b, async () => {
      try {
        onStatus(await run());
      } catch (err) {
        notice(`${b.textContent} failed: ${(err as Error).message}`);
      }
    });
  };
}

async function explainRefused(e: Event): Promise<void> {
  await busy(e.currentTarget as HTMLButtonElement, async () => {
    try {
      const { intake } = await api.intake();
      const why = Object.entries(intake.rejected)
        .sort((a, b) => b[1] - a[1])
        .map(([reason, n]) => `${reason.replace(/_/g, ' ')} ${n}`)
        .join(', ');
      notice(`Refused input: ${why || 'none'} (details: GET /api/intake)`, false);
    } catch (err) {
      notice(`Could not read the intake counters: ${(err as Error).message}`);
    }
  });
}

function update(): void {
  if (!host) return;
  const s = status;
  if (s) {
    host.dataset.overall = s.overall;
    host.dataset.paused = String(s.paused);
  }
  render(
    html`${s ? facts(s) : nothing}<span class="conn ${connection}">${connection}</span>${s ? warnings(s) : nothing}<span
        class="notice ${note.error ? '' : 'info'}"
        role="status"
        >${note.text}</span
      ><span class="spacer"></span>${s ? switches(s) : nothing}`,
    host,
  );
}

/** Pause and snooze; in the tray app, start at login too. */
function switches(s: StatusView) {
  const pause = act(() => (status?.paused ? api.resume() : api.pause()));
  const snooze = act(() => api.snooze(status?.snoozed_until ? 0 : 60));
  return html`${desktop && autostart !== null
      ? html`<label class="autostart" title="Start Steward in the tray when you log in"
          ><input type="checkbox" id="autostart" .checked=${autostart} @change=${toggleAutostart} />Start at login</label
        >`
      : nothing}<button type="button" @click=${pause}>${s.paused ? 'Resume probing' : 'Pause probing'}</button
    ><button type="button" @click=${snooze}>${s.snoozed_until ? 'Unsnooze' : 'Snooze 1 h'}</button>`;
}

/** Overall state, counts, probing and snooze: before the connection state. */
function facts(s: StatusView) {
  const c = s.counts;
  const parts = [plural(c.providers, 'provider'), `${c.ok} ok`];
  if (c.warning) parts.push(`${c.warning} degraded`);
  if (c.error) parts.push(`${c.error} down`);
  if (c.disabled) parts.push(`${c.disabled} disabled`);
  return html`<span class="overall ${s.overall}"><span class="dot" aria-hidden="true"></span>${s.overall.toUpperCase()}</span
    ><span class="counts">${parts.join(' · ')}</span
    ><span class="probing ${s.paused ? 'warn' : ''}">${s.paused ? 'probing paused' : 'probing'}</span
    ><span class="snooze ${s.snoozed_until ? 'warn' : ''}"
      >${s.snoozed_until ? `notifications snoozed until ${clock(s.snoozed_until, false)}` : 'notifications on'}</span
    >`;
}

/** Storage, bus, pipeline, observer, refused input, config errors: each shown only when it says something. */
function warnings(s: StatusView) {
  const st = s.storage;
  const down = st && !st.ok;
  const refused = s.events_rejected ?? 0;
  const n = s.config_errors.length;
  return html`<span id="storage-state" class="warn" role="alert" ?hidden=${!down} title=${down ? storageFacts(s) : ''}
      >${down ? `storage: ${st.error ?? 'cannot write'}${st.unwritten_events ? `, ${st.unwritten_events} events waiting` : ''}` : ''}</span
    >${bus(s)}${push(s)}<a id="pipeline-state" class="warn" href="#/pipeline" ?hidden=${s.pipeline !== 'warning'}>pipeline: warning</a
    ><span id="observer-state" class="warn" ?hidden=${!s.observer_degraded} title=${OBSERVER_WHY}>observer degraded</span
    ><button type="button" id="rejected-count" class="linkish warn" ?hidden=${refused === 0} title=${REFUSED_WHY}
      @click=${explainRefused}>${plural(refused, 'event')} refused</button
    ><span class="warn" ?hidden=${n === 0}>${n ? plural(n, 'config error') : ''}</span>`;
}

/** The push channels: quiet while they deliver, a warning naming each failing one; a click
 *  sends each a test notice and says how each went. */
function push(s: StatusView) {
  const channels = s.channels ?? [];
  if (channels.length === 0) return html`<button type="button" id="push-state" hidden></button>`;
  const failing = channels.filter((c) => c.state === 'failing');
  const facts = channels.map((c) => {
    const line = [`${c.name} (${c.kind}): ${c.state}`, `${c.sent} sent`];
    if (c.failed) line.push(`${c.failed} given up`);
    if (c.dropped) line.push(`${c.dropped} dropped`);
    if (c.queued) line.push(`${c.queued} waiting`);
    if (c.last_sent_at) line.push(`last sent ${clock(c.last_sent_at)}`);
    if (c.state === 'failing' && c.last_error) line.push(`error: ${c.last_error}`);
    if (c.next_retry_at) line.push(`next try ${clock(c.next_retry_at)}`);
    return line.join(', ');
  });
  facts.push('Click to send each channel a test notification.');
  return html`<button
    type="button"
    id="push-state"
    class=${failing.length ? 'linkish push warn' : 'linkish push'}
    data-failing=${failing.map((c) => c.name).join(',')}
    title=${facts.join('\n')}
    @click=${testPush}
    >${failing.length
      ? `push: ${failing.map((c) => c.name).join(', ')} failing${failing.length === 1 && failing[0].last_error ? ` (${failing[0].last_error})` : ''}`
      : `push: ${plural(channels.length, 'channel')}`}</button
  >`;
}

async function testPush(e: Event): Promise<void> {
  await busy(e.currentTarget as HTMLButtonElement, async () => {
    try {
      const results = await api.testNotifications();
      const failed = results.filter((r) => !r.ok);
      const said = results.map((r) => (r.ok ? `${r.name} ok` : `${r.name} failed (${r.error ?? 'unknown error'})`));
      notice(`Test notification: ${said.join(', ') || 'no channels'}`, failed.length > 0);
    } catch (err) {
      notice(`Test notification failed: ${(err as Error).message}`);
    }
  });
}

function bus(s: StatusView) {
  const b = s.bus;
  if (!b) return html`<span id="bus-state" class="bus" hidden></span>`;
  const facts = [
    b.url,
    `channels: ${b.channels.join(', ') || 'none'}`,
    b.publish_channel ? `publishing to ${b.publish_channel}` : 'not publishing',
    `${b.received} received, ${b.published} published, ${b.publish_dropped} dropped, ${b.reconnects} reconnects, ${b.disconnects ?? 0} disconnects`,
  ];
  if (b.connected && b.connected_since) facts.push(`connected since ${clock(b.connected_since)}`);
  if (b.last_message_at) facts.push(`last message ${clock(b.last_message_at)}`);
  if (b.last_error) facts.push(`last error: ${b.last_error}`);
  return html`<span
    id="bus-state"
    class=${b.connected ? 'bus' : 'bus warn'}
    data-bus=${b.connected ? 'connected' : 'disconnected'}
    title=${facts.join('\n')}
    >${b.connected ? 'bus: connected' : `bus: reconnecting…${b.last_error ? ` ${b.last_error}` : ''}`}</span
  >`;
}

function storageFacts(s: StatusView): string {
  const st = s.storage!;
  const out = [
    `The database cannot be written${st.since ? ` since ${clock(st.since)}` : ''}: ${st.error ?? 'unknown error'}.`,
    'Probing goes on; new events are refused (503) until writes succeed again.',
    `${st.failed_writes} failed writes`,
  ];
  if (st.dropped_samples) out.push(`${st.dropped_samples} probe samples dropped`);
  return out.join('\n');
}
