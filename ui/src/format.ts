// Small helpers shared by the views: relative times, countdowns, latencies, clock times,
// state labels, the busy guard for buttons, and `el`, the one DOM builder.

import type { BreakerState, Status } from './types';

export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** "m:ss" until `iso`, never negative. */
export function countdown(iso: string | null, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.parse(iso) - now) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function ms(v: number | null): string {
  if (v === null || v === undefined) return '—';
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

export function percent(v: number | null): string {
  return v === null || v === undefined ? '—' : `${v.toFixed(1)} %`;
}

/** Wall-clock time; the date is added when it is not today. */
export function clock(iso: string, withSeconds = true): string {
  const d = new Date(iso);
  const time = d.toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    ...(withSeconds ? { second: '2-digit' } : {}),
  });
  if (d.toDateString() === new Date().toDateString()) return time;
  return `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

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

/** Runs `work` once at a time per button. The button is marked busy rather than disabled,
 *  because disabling a focused button would drop keyboard focus. */
export async function busy(button: HTMLButtonElement, work: () => Promise<void>): Promise<void> {
  if (button.getAttribute('aria-busy') === 'true') return;
  button.setAttribute('aria-busy', 'true');
  try {
    await work();
  } finally {
    button.removeAttribute('aria-busy');
  }
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}
