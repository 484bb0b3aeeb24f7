// Overview: one row per provider, kept by its id across live updates (its cells and its
// "Probe now" button stay the same elements, so focus is never lost); a detail panel on
// expand with the latency chart, breaker facts and hourly aggregates.

import { api } from '../api';
import { latencyChart, type LatencyChart } from '../chart';
import { busy, html, keyed, nothing, render } from '../dom';
import { clock, ms, percent, plural, stateLabel, stateTone } from '../format';
import { sparkline } from '../sparkline';
import { notice } from '../statusbar';
import { timeAgo, timeCountdown } from '../ticker';
import type { HourlyRow, ProviderDetail, ProviderView } from '../types';
import { renderIncident } from './banners';

const COLUMNS = ['State', 'Provider', 'Kind', 'Latency', 'Last hour', 'Uptime 24 h', 'Checked', 'Last error', ''];
const EMPTY = 'No providers configured yet. Add [[providers]] to the config file; Steward reloads it on save.';

/** The expanded provider's panel; its chart lives in `chartHost` and is fed new samples. */
interface Detail {
  id: string;
  data: ProviderDetail | null;
  error: string | null;
  loading: boolean;
  chartHost: HTMLDivElement;
  chart: LatencyChart | null;
}

const providers = new Map<string, ProviderView>();
/** The rows' order (down first, then by node and id): set when the list is loaded or shown
 *  and when a provider appears, not on every update, so rows do not move under the pointer. */
let order: string[] = [];
let detail: Detail | null = null;
/** The view's element, kept across visits (lit-html keeps its state on it). */
const mount = document.createElement('div');
mount.className = 'table-wrap';

export function setProviders(list: ProviderView[]): void {
  providers.clear();
  for (const p of list) providers.set(p.id, p);
  if (detail && !providers.has(detail.id)) closeDetail();
  sort();
  update();
  renderIncident(providers.values());
}

export function updateProvider(p: ProviderView): void {
  const before = providers.get(p.id);
  providers.set(p.id, p);
  if (!before) sort();
  update();
  if (!before || before.state !== p.state || before.last_error !== p.last_error) renderIncident(providers.values());
  if (detail?.id === p.id && before?.last_checked_at !== p.last_checked_at) void loadDetail();
}

export function renderOverview(root: HTMLElement): void {
  root.replaceChildren(mount);
  sort();
  update();
}

function sort(): void {
  order = [...providers.values()]
    .sort((a, b) => rank(a) - rank(b) || a.node.localeCompare(b.node) || a.id.localeCompare(b.id))
    .map((p) => p.id);
}

function update(): void {
  if (!mount.isConnected) return;
  const sorted = order.map((id) => providers.get(id)!);
  render(
    html`<table class="providers" aria-label="Providers">
      <thead>
        <tr>${COLUMNS.map((h) => html`<th scope="col">${h}</th>`)}</tr>
      </thead>
      <tbody>
        ${keyed(sorted, (p) => p.id, (p) => html`${row(p)}${detail?.id === p.id ? detailRow(detail) : nothing}`)}
        ${sorted.length ? nothing : html`<tr><td colspan=${COLUMNS.length} class="empty">${EMPTY}</td></tr>`}
      </tbody>
    </table>`,
    mount,
  );
  syncChart();
}

function rank(p: ProviderView): number {
  if (p.state === 'open') return 0;
  return { error: 0, warning: 1, ok: 2, disabled: 3 }[p.status] ?? 2;
}

function row(p: ProviderView) {
  const tone = stateTone(p.state, p.status);
  const error = p.healthy ? '' : (p.last_error ?? '');
  const onKey = (e: KeyboardEvent) => {
    if (e.target === e.currentTarget && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      toggle(p.id);
    }
  };
  return html`<tr
    class="provider tone-${tone}"
    tabindex="0"
    aria-expanded=${String(detail?.id === p.id)}
    data-provider-id=${p.id}
    data-state=${p.state}
    data-status=${p.status}
    @click=${(e: Event) => !(e.target as HTMLElement).closest('button') && toggle(p.id)}
    @keydown=${onKey}
  >
    <td class="state"><span class="badge ${tone}">${stateLabel(p.state, p.status)}</span><span class="state-sub"
        >${subLine(p)}</span></td>
    <td class="name"><strong>${p.id}</strong><span class="sub">${p.node} / ${p.service}</span><span
        class="inline-error" title=${p.last_error ?? ''}>${error}</span></td>
    <td class="kind">${p.kind}</td>
    <td class="num">${ms(p.last_latency_ms)}</td>
    <td>${sparkline(p.spark)}</td>
    <td class="num">${percent(p.uptime_24h)}</td>
    <td class="ago" data-at=${p.last_checked_at ?? ''} title=${p.last_checked_at ? clock(p.last_checked_at) : ''}
      >${p.last_checked_at ? timeAgo(p.last_checked_at) : 'never'}</td>
    <td class="error" title=${p.last_error ?? ''}>${error}</td>
    <td class="actions"><button type="button" class="probe" aria-label="Probe now: ${p.id}"
        @click=${(e: Event) => probeNow(p.id, e.currentTarget as HTMLButtonElement)}>Probe now</button></td>
  </tr>`;
}

/** Under the badge: the countdown to the next half-open trial, or that one is under way. */
function subLine(p: ProviderView) {
  if (p.state === 'open') return p.open_until ? html`retry in ${timeCountdown(p.open_until)}` : nothing;
  if (p.state === 'half_open') return 'trial probe';
  return nothing;
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

// ---- the detail panel ----------------------------------------------------------------------

function toggle(id: string): void {
  const open = detail?.id !== id;
  closeDetail();
  if (open && providers.has(id)) {
    const chartHost = document.createElement('div');
    chartHost.className = 'chart';
    detail = { id, data: null, error: null, loading: false, chartHost, chart: null };
    void loadDetail();
  }
  update();
}

function closeDetail(): void {
  detail?.chart?.destroy();
  detail = null;
}

async function loadDetail(): Promise<void> {
  const d = detail;
  if (!d || d.loading) return;
  d.loading = true;
  try {
    const p = await api.provider(d.id);
    d.data = p;
    d.error = null;
  } catch (e) {
    d.error = (e as Error).message;
  } finally {
    d.loading = false;
  }
  if (detail === d) update();
}

function detailRow(d: Detail) {
  return html`<tr class="detail-row">
    <td colspan=${COLUMNS.length} class="detail" id="detail-${d.id}">
      ${d.error ? html`<p class="notice">Could not load history: ${d.error}</p>` : nothing}
      ${d.data ? detailBody(d.data, d.chartHost) : d.error ? nothing : 'Loading history…'}
    </td>
  </tr>`;
}

function detailBody(p: ProviderDetail, chartHost: HTMLElement) {
  const when = (iso: string | null) => (iso ? html`${timeAgo(iso)} (${clock(iso)})` : 'never');
  return html`<dl class="facts">
      <dt>Breaker</dt>
      <dd>${p.state.replace('_', '-')}, ${plural(p.consecutive_failures, 'consecutive failure')}</dd>
      <dt>Last checked</dt>
      <dd>${when(p.last_checked_at)}</dd>
      <dt>Last success</dt>
      <dd>${when(p.last_success_at)}</dd>
      <dt>Last failure</dt>
      <dd>${when(p.last_failure_at)}</dd>
      <dt>Last outcome</dt>
      <dd>${p.last_outcome ?? '—'}</dd>
      <dt>Last error</dt>
      <dd class="full-error">${p.last_error ?? '—'}</dd>
    </dl>
    <h3>Latency, last 24 h (${p.history.length} samples)</h3>
    ${chartHost} ${hourlyTable(p.hourly)}`;
}

/** Makes, feeds or removes the expanded provider's chart, once its host is in the page. */
function syncChart(): void {
  const d = detail;
  if (!d?.data || !d.chartHost.isConnected) return;
  const history = d.data.history;
  if (history.length < 2) {
    d.chart?.destroy();
    d.chart = null;
    d.chartHost.textContent = 'Not enough samples for a chart yet.';
  } else if (d.chart) {
    d.chart.update(history);
  } else {
    d.chartHost.replaceChildren();
    d.chart = latencyChart(d.chartHost, history);
  }
}

function hourlyTable(hourly: HourlyRow[]) {
  if (hourly.length === 0) return html`<div class="hourly"></div>`;
  const rows = [...hourly].reverse();
  return html`<div class="hourly">
    <h3>Older, per hour</h3>
    <table aria-label="Hourly aggregates, newest first">
      <thead>
        <tr>${['Hour', 'Samples', 'Up', 'Avg', 'Max'].map((h) => html`<th scope="col">${h}</th>`)}</tr>
      </thead>
      <tbody>
        ${rows.map(
          (h) => html`<tr>
            <td>${clock(h.hour, false)}</td>
            <td class="num">${h.samples}</td>
            <td class="num">${percent(h.samples ? (100 * h.ok) / h.samples : null)}</td>
            <td class="num">${ms(h.avg_latency_ms)}</td>
            <td class="num">${ms(h.max_latency_ms)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}
