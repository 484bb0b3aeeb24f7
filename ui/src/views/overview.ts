// Overview: one row per provider, updated in place from live updates; a detail panel
// with the latency chart on expand; the incident and config-error banners.

import { api } from '../api';
import { latencyChart } from '../chart';
import { ago, countdown, el, ms, stateLabel } from '../format';
import { sparkline } from '../sparkline';
import type { ProviderView, StatusView } from '../types';

const providers = new Map<string, ProviderView>();
const rows = new Map<string, HTMLTableRowElement>();
let table: HTMLTableSectionElement | null = null;
let expanded: string | null = null;

export function setProviders(list: ProviderView[]): void {
  providers.clear();
  for (const p of list) providers.set(p.id, p);
  rows.clear();
  if (table) renderRows();
  renderIncident();
}

export function updateProvider(p: ProviderView): void {
  const before = providers.get(p.id);
  providers.set(p.id, p);
  const row = rows.get(p.id);
  if (row) fillRow(row, p);
  else if (table) renderRows();
  if (!before || before.state !== p.state || before.last_error !== p.last_error) renderIncident();
  if (expanded === p.id && before?.last_checked_at !== p.last_checked_at) void loadDetail(p.id);
}

export function renderOverview(root: HTMLElement): void {
  const thead = el(
    'thead',
    {},
    el(
      'tr',
      {},
      ...['State', 'Provider', 'Kind', 'Latency', 'Last hour', 'Uptime 24 h', 'Checked', 'Last error', ''].map((h) =>
        el('th', { scope: 'col' }, h),
      ),
    ),
  );
  table = el('tbody');
  root.replaceChildren(el('table', { class: 'providers', 'aria-label': 'Providers' }, thead, table));
  renderRows();
}

function renderRows(): void {
  if (!table) return;
  rows.clear();
  const sorted = [...providers.values()].sort(
    (a, b) => rank(a) - rank(b) || a.node.localeCompare(b.node) || a.id.localeCompare(b.id),
  );
  const out: Node[] = [];
  for (const p of sorted) {
    const row = el('tr', { tabindex: '0', 'aria-expanded': 'false' });
    row.addEventListener('click', (e) => {
      if ((e.target as HTMLElement).closest('button')) return;
      toggle(p.id);
    });
    row.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        toggle(p.id);
      }
    });
    fillRow(row, p);
    rows.set(p.id, row);
    out.push(row);
    if (expanded === p.id) out.push(detailRow(p.id));
  }
  if (sorted.length === 0) {
    out.push(
      el(
        'tr',
        {},
        el('td', { colspan: '9', class: 'empty' }, 'No providers configured yet. Add [[providers]] to the config file; Steward reloads it on save.'),
      ),
    );
  }
  table.replaceChildren(...out);
  if (expanded) void loadDetail(expanded);
}

function rank(p: ProviderView): number {
  return { error: 0, warning: 1, ok: 2, disabled: 3 }[p.status] ?? 2;
}

function fillRow(row: HTMLTableRowElement, p: ProviderView): void {
  row.dataset.providerId = p.id;
  row.dataset.state = p.state;
  row.dataset.status = p.status;
  row.className = `provider status-${p.status}`;
  const badge = el('span', { class: `badge ${p.status}` }, stateLabel(p.state, p.status));
  const retry =
    p.state === 'open' && p.open_until
      ? el('span', { class: 'retry', 'data-until': p.open_until }, ` retry in ${countdown(p.open_until)}`)
      : '';
  const probe = el('button', { type: 'button', class: 'probe', 'aria-label': `Probe ${p.id} now` }, 'Probe now');
  probe.addEventListener('click', async () => {
    probe.disabled = true;
    try {
      updateProvider(await api.probe(p.id));
    } finally {
      probe.disabled = false;
    }
  });
  const err = p.status === 'ok' ? '' : (p.last_error ?? '');
  row.replaceChildren(
    el('td', {}, badge, retry),
    el('td', { class: 'name' }, el('strong', {}, p.id), el('span', { class: 'sub' }, `${p.node} / ${p.service}`)),
    el('td', { class: 'kind' }, p.kind),
    el('td', { class: 'num' }, ms(p.last_latency_ms)),
    el('td', {}, sparkline(p.spark)),
    el('td', { class: 'num' }, p.uptime_24h === null ? '—' : `${p.uptime_24h.toFixed(1)} %`),
    el('td', { class: 'ago', 'data-at': p.last_checked_at ?? '' }, ago(p.last_checked_at)),
    el('td', { class: 'error', title: p.last_error ?? '' }, err),
    el('td', {}, probe),
  );
}

function toggle(id: string): void {
  expanded = expanded === id ? null : id;
  renderRows();
  rows.get(id)?.setAttribute('aria-expanded', String(expanded === id));
  rows.get(id)?.focus();
}

function detailRow(id: string): HTMLTableRowElement {
  const cell = el('td', { colspan: '9', class: 'detail', id: `detail-${id}` }, 'Loading history…');
  return el('tr', { class: 'detail-row' }, cell);
}

async function loadDetail(id: string): Promise<void> {
  const cell = document.getElementById(`detail-${id}`);
  if (!cell) return;
  try {
    const d = await api.provider(id);
    const chart = el('div', { class: 'chart' });
    const facts = el(
      'dl',
      { class: 'facts' },
      el('dt', {}, 'Breaker'),
      el('dd', {}, `${d.state.replace('_', '-')}, ${d.consecutive_failures} consecutive failure(s)`),
      el('dt', {}, 'Last success'),
      el('dd', {}, ago(d.last_success_at)),
      el('dt', {}, 'Last failure'),
      el('dd', {}, ago(d.last_failure_at)),
      el('dt', {}, 'Last error'),
      el('dd', {}, d.last_error ?? '—'),
      el('dt', {}, 'Samples (24 h)'),
      el('dd', {}, `${d.history.length} raw, ${d.hourly.reduce((n, h) => n + h.samples, 0)} in hourly aggregates`),
    );
    cell.replaceChildren(facts, chart);
    if (d.history.length > 1) latencyChart(chart, d.history);
    else chart.textContent = 'Not enough samples for a chart yet.';
  } catch (e) {
    cell.textContent = `Could not load history: ${(e as Error).message}`;
  }
}

/** Re-renders the ticking cells (relative times, countdowns) once a second. */
export function tick(): void {
  const now = Date.now();
  for (const td of document.querySelectorAll<HTMLElement>('td.ago')) {
    td.textContent = ago(td.dataset.at || null, now);
  }
  for (const s of document.querySelectorAll<HTMLElement>('span.retry')) {
    s.textContent = ` retry in ${countdown(s.dataset.until ?? null, now)}`;
  }
}

export function renderIncident(): void {
  const host = document.getElementById('incident');
  if (!host) return;
  const down = [...providers.values()].filter((p) => p.state === 'open');
  if (down.length === 0) {
    host.replaceChildren();
    host.hidden = true;
    return;
  }
  host.hidden = false;
  const list = down.map((p) => `${p.id} (${p.last_error ?? 'down'})`).join(', ');
  host.replaceChildren(
    el('strong', {}, `${down.length} provider${down.length > 1 ? 's' : ''} down: `),
    document.createTextNode(list),
  );
}

export function renderConfigErrors(status: StatusView): void {
  const host = document.getElementById('config-errors');
  if (!host) return;
  host.hidden = status.config_errors.length === 0;
  host.replaceChildren(
    el('strong', {}, 'The config file has errors; running with the last good config.'),
    el(
      'ul',
      {},
      ...status.config_errors.map((i) =>
        el('li', {}, `${i.file ?? 'config'}${i.line ? ':' + i.line : ''}: ${i.field ? i.field + ': ' : ''}${i.message}`),
      ),
    ),
  );
}
