// Overview: one row per provider, each updated in place from live updates (its cells and
// its "Probe now" button survive, so focus is never lost); a detail panel on expand with
// the latency chart, breaker facts and hourly aggregates; the incident and config-error
// banners above every view.

import { api } from '../api';
import { latencyChart, type LatencyChart } from '../chart';
import { ago, busy, clock, countdown, el, ms, percent, stateLabel, stateTone } from '../format';
import { sparkline } from '../sparkline';
import { notice } from '../statusbar';
import type { HourlyRow, ProviderDetail, ProviderView, StatusView } from '../types';

const COLUMNS = ['State', 'Provider', 'Kind', 'Latency', 'Last hour', 'Uptime 24 h', 'Checked', 'Last error', ''];

/** One provider's row and the cells that change. */
interface Row {
  tr: HTMLTableRowElement;
  badge: HTMLSpanElement;
  sub: HTMLSpanElement;
  where: HTMLSpanElement;
  inlineError: HTMLSpanElement;
  kind: HTMLTableCellElement;
  latency: HTMLTableCellElement;
  spark: HTMLTableCellElement;
  uptime: HTMLTableCellElement;
  checked: HTMLTableCellElement;
  error: HTMLTableCellElement;
}

/** The expanded provider's panel; the chart is kept and fed new samples. */
interface Detail {
  id: string;
  cell: HTMLTableCellElement;
  chart: LatencyChart | null;
  loading: boolean;
}

const providers = new Map<string, ProviderView>();
const rows = new Map<string, Row>();
let body: HTMLTableSectionElement | null = null;
let detail: Detail | null = null;

export function setProviders(list: ProviderView[]): void {
  providers.clear();
  for (const p of list) providers.set(p.id, p);
  renderRows();
  renderIncident();
}

export function updateProvider(p: ProviderView): void {
  const before = providers.get(p.id);
  providers.set(p.id, p);
  const row = rows.get(p.id);
  if (row) fillRow(row, p);
  else renderRows();
  if (!before || before.state !== p.state || before.last_error !== p.last_error) renderIncident();
  if (detail?.id === p.id && before?.last_checked_at !== p.last_checked_at) void loadDetail();
}

export function renderOverview(root: HTMLElement): void {
  const head = el('thead', {}, el('tr', {}, ...COLUMNS.map((h) => el('th', { scope: 'col' }, h))));
  body = el('tbody');
  const table = el('table', { class: 'providers', 'aria-label': 'Providers' }, head, body);
  root.replaceChildren(el('div', { class: 'table-wrap' }, table));
  renderRows();
}

/** Builds every row again (first render, a new provider list); the expanded one stays open. */
function renderRows(): void {
  const expanded = detail?.id;
  closeDetail();
  rows.clear();
  if (!body || !body.isConnected) return;
  const sorted = [...providers.values()].sort(
    (a, b) => rank(a) - rank(b) || a.node.localeCompare(b.node) || a.id.localeCompare(b.id),
  );
  const out: HTMLTableRowElement[] = [];
  for (const p of sorted) {
    const row = makeRow(p.id);
    fillRow(row, p);
    rows.set(p.id, row);
    out.push(row.tr);
  }
  if (sorted.length === 0) {
    const hint = 'No providers configured yet. Add [[providers]] to the config file; Steward reloads it on save.';
    out.push(el('tr', {}, el('td', { colspan: String(COLUMNS.length), class: 'empty' }, hint)));
  }
  body.replaceChildren(...out);
  if (expanded && rows.has(expanded)) toggle(expanded);
}

function rank(p: ProviderView): number {
  if (p.state === 'open') return 0;
  return { error: 0, warning: 1, ok: 2, disabled: 3 }[p.status] ?? 2;
}

function makeRow(id: string): Row {
  const td = (cls = '') => el('td', cls ? { class: cls } : {});
  const r: Row = {
    tr: el('tr', { tabindex: '0', 'aria-expanded': 'false', 'data-provider-id': id }),
    badge: el('span', { class: 'badge' }),
    sub: el('span', { class: 'state-sub' }),
    where: el('span', { class: 'sub' }),
    inlineError: el('span', { class: 'inline-error' }),
    kind: td('kind'),
    latency: td('num'),
    spark: td(),
    uptime: td('num'),
    checked: td('ago'),
    error: td('error'),
  };
  const probe = el('button', { type: 'button', class: 'probe', 'aria-label': `Probe now: ${id}` }, 'Probe now');
  probe.addEventListener('click', () => void probeNow(id, probe));
  r.tr.append(
    el('td', { class: 'state' }, r.badge, r.sub),
    el('td', { class: 'name' }, el('strong', {}, id), r.where, r.inlineError),
    r.kind,
    r.latency,
    r.spark,
    r.uptime,
    r.checked,
    r.error,
    el('td', { class: 'actions' }, probe),
  );
  r.tr.addEventListener('click', (e) => {
    if (!(e.target as HTMLElement).closest('button')) toggle(id);
  });
  r.tr.addEventListener('keydown', (e) => {
    if (e.target === r.tr && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      toggle(id);
    }
  });
  return r;
}

async function probeNow(id: string, button: HTMLButtonElement): Promise<void> {
  await busy(button, async () => {
    try {
      updateProvider(await api.probe(id));
    } catch (e) {
      notice(`Probe of ${id} failed: ${(e as Error).message}`);
    }
  });
}

function fillRow(r: Row, p: ProviderView): void {
  const tone = stateTone(p.state, p.status);
  r.tr.dataset.state = p.state;
  r.tr.dataset.status = p.status;
  r.tr.className = `provider tone-${tone}`;
  r.badge.className = `badge ${tone}`;
  r.badge.textContent = stateLabel(p.state, p.status);
  r.sub.dataset.until = p.state === 'open' && p.open_until ? p.open_until : '';
  r.sub.textContent = subLine(p);
  r.where.textContent = `${p.node} / ${p.service}`;
  r.kind.textContent = p.kind;
  r.latency.textContent = ms(p.last_latency_ms);
  r.spark.replaceChildren(sparkline(p.spark));
  r.uptime.textContent = percent(p.uptime_24h);
  r.checked.dataset.at = p.last_checked_at ?? '';
  r.checked.textContent = ago(p.last_checked_at);
  r.checked.title = p.last_checked_at ? clock(p.last_checked_at) : '';
  r.error.textContent = r.inlineError.textContent = p.healthy ? '' : (p.last_error ?? '');
  r.error.title = r.inlineError.title = p.last_error ?? '';
}

function subLine(p: ProviderView, now = Date.now()): string {
  if (p.state === 'open') return p.open_until ? `retry in ${countdown(p.open_until, now)}` : '';
  if (p.state === 'half_open') return 'trial probe';
  return '';
}

function toggle(id: string): void {
  const open = detail?.id !== id;
  closeDetail();
  for (const [rid, r] of rows) r.tr.setAttribute('aria-expanded', String(open && rid === id));
  if (!open) return;
  const row = rows.get(id);
  if (!row) return;
  const cell = el('td', { colspan: String(COLUMNS.length), class: 'detail', id: `detail-${id}` }, 'Loading history…');
  row.tr.after(el('tr', { class: 'detail-row' }, cell));
  detail = { id, cell, chart: null, loading: false };
  void loadDetail();
}

function closeDetail(): void {
  if (!detail) return;
  detail.chart?.destroy();
  detail.cell.parentElement?.remove();
  detail = null;
}

async function loadDetail(): Promise<void> {
  const d = detail;
  if (!d || d.loading) return;
  d.loading = true;
  try {
    const p = await api.provider(d.id);
    if (detail === d) showDetail(d, p);
  } catch (e) {
    if (detail === d) d.cell.textContent = `Could not load history: ${(e as Error).message}`;
  } finally {
    d.loading = false;
  }
}

function showDetail(d: Detail, p: ProviderDetail): void {
  const facts = el(
    'dl',
    { class: 'facts' },
    el('dt', {}, 'Breaker'),
    el('dd', {}, `${p.state.replace('_', '-')}, ${p.consecutive_failures} consecutive failure(s)`),
    el('dt', {}, 'Last checked'),
    el('dd', {}, p.last_checked_at ? `${ago(p.last_checked_at)} (${clock(p.last_checked_at)})` : 'never'),
    el('dt', {}, 'Last success'),
    el('dd', {}, p.last_success_at ? `${ago(p.last_success_at)} (${clock(p.last_success_at)})` : 'never'),
    el('dt', {}, 'Last failure'),
    el('dd', {}, p.last_failure_at ? `${ago(p.last_failure_at)} (${clock(p.last_failure_at)})` : 'never'),
    el('dt', {}, 'Last outcome'),
    el('dd', {}, p.last_outcome ?? '—'),
    el('dt', {}, 'Last error'),
    el('dd', { class: 'full-error' }, p.last_error ?? '—'),
  );
  const heading = el('h3', {}, `Latency, last 24 h (${p.history.length} samples)`);
  let host = d.cell.querySelector<HTMLElement>('.chart');
  if (!host) {
    host = el('div', { class: 'chart' });
    d.cell.replaceChildren(facts, heading, host, hourlyTable(p.hourly));
  } else {
    d.cell.querySelector('.facts')?.replaceWith(facts);
    d.cell.querySelector('h3')?.replaceWith(heading);
    d.cell.querySelector('.hourly')?.replaceWith(hourlyTable(p.hourly));
  }
  if (p.history.length < 2) {
    d.chart?.destroy();
    d.chart = null;
    host.textContent = 'Not enough samples for a chart yet.';
  } else if (d.chart) {
    d.chart.update(p.history);
  } else {
    host.replaceChildren();
    d.chart = latencyChart(host, p.history);
  }
}

function hourlyTable(hourly: HourlyRow[]): HTMLElement {
  if (hourly.length === 0) return el('div', { class: 'hourly' });
  const head = ['Hour', 'Samples', 'Up', 'Avg', 'Max'].map((h) => el('th', { scope: 'col' }, h));
  const body = [...hourly].reverse().map((h) =>
    el(
      'tr',
      {},
      el('td', {}, clock(h.hour, false)),
      el('td', { class: 'num' }, String(h.samples)),
      el('td', { class: 'num' }, percent(h.samples ? (100 * h.ok) / h.samples : null)),
      el('td', { class: 'num' }, ms(h.avg_latency_ms)),
      el('td', { class: 'num' }, ms(h.max_latency_ms)),
    ),
  );
  return el(
    'div',
    { class: 'hourly' },
    el('h3', {}, 'Older, per hour'),
    el('table', { 'aria-label': 'Hourly aggregates, newest first' }, el('thead', {}, el('tr', {}, ...head)), el('tbody', {}, ...body)),
  );
}

/** Re-renders the ticking text (relative times, countdowns) once a second. */
export function tick(): void {
  const now = Date.now();
  for (const [id, r] of rows) {
    r.checked.textContent = ago(r.checked.dataset.at || null, now);
    const p = providers.get(id);
    if (p && r.sub.dataset.until) r.sub.textContent = subLine(p, now);
  }
}

function renderIncident(): void {
  const host = document.getElementById('incident');
  if (!host) return;
  const down = [...providers.values()].filter((p) => p.state === 'open');
  host.hidden = down.length === 0;
  if (down.length === 0) {
    host.replaceChildren();
    return;
  }
  const list = down.map((p) => `${p.id} (${p.last_error ?? p.last_outcome ?? 'down'})`).join(', ');
  host.replaceChildren(
    el('strong', {}, `${down.length} provider${down.length > 1 ? 's' : ''} down: `),
    document.createTextNode(list),
  );
}

export function renderConfigErrors(status: StatusView): void {
  const host = document.getElementById('config-errors');
  if (!host) return;
  const issues = status.config_errors;
  host.hidden = issues.length === 0;
  if (issues.length === 0) {
    host.replaceChildren();
    return;
  }
  const where = (i: (typeof issues)[number]) =>
    `${i.file ?? status.config_path ?? 'config'}${i.line !== null ? `:${i.line}` : ''}`;
  host.replaceChildren(
    el('strong', {}, `The config file has ${issues.length === 1 ? 'an error' : `${issues.length} errors`}; running with the last good config.`),
    el('ul', {}, ...issues.map((i) => el('li', {}, `${where(i)} ${i.field ? `${i.field}: ` : ''}${i.message}`))),
  );
}
