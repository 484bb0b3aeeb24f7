// Overview: the fleet at a glance, instant at 10,000 providers.
// - A bar: counts per state for the whole fleet ("9,990 up · 7 down · 3 half-open"), a filter
//   box (id, node, service, state; `/` focuses it unless one is typing, Escape clears it)
//   and collapse/expand all.
// - One table: a header row per node (click or Enter collapses it; it counts the node's
//   providers by state), then that node's providers, problems first, ids in natural order
//   (the order and the counts are fleet.ts's). A row keeps its elements by its id across
//   updates (its cells and its "Probe now" button stay the same elements, so focus is not
//   lost); Enter or a click expands it into a detail row with the latency chart, breaker
//   facts and hourly aggregates. Arrow keys, Home and End move between rows.
// - Virtualized (virtual.ts): only the rows in view and a few around them are in the page,
//   all of one height; the detail row's height is measured.
// - Live updates are coalesced: a message only stores the provider's view (O(1)) and asks
//   for a frame; once per animation frame the rows are ordered again if a provider changed
//   state, and only the rows in view are rendered, each again only if its view changed.
// - A re-sort moves nothing under the pointer: the row under the pointer (or else the
//   focused row) keeps its place on screen and the scroll position moves instead, so a row
//   is never clicked by mistake and focus is never lost to a re-sort. The rest of the list
//   is in its true order at once (a provider that goes down rises to its node's top, and
//   its node to the top, unless the person is pointing elsewhere in the list).

import { api } from '../api';
import { latencyChart, type LatencyChart } from '../chart';
import { busy, html, keyed, nothing, render, unlessChanged } from '../dom';
import { CATEGORIES, CATEGORY_LABEL, Fleet, type Counts, type Row } from '../fleet';
import { clock, ms, num, percent, plural, stateLabel, stateTone } from '../format';
import { sparkline } from '../sparkline';
import { notice } from '../statusbar';
import { timeAgo, timeCountdown } from '../ticker';
import type { HourlyRow, ProviderDetail, ProviderView } from '../types';
import { VirtualWindow } from '../virtual';
import { NAMED_DOWN, renderIncident } from './banners';

const COLUMNS = ['State', 'Provider', 'Kind', 'Latency', 'Last hour', 'Uptime 24 h', 'Checked', 'Last error', ''];
const EMPTY = 'No providers configured yet. Add [[providers]] to the config file; Steward reloads it on save.';
/** Every row's height until one is measured (style.css gives rows this height). */
const ROW_HEIGHT = 40;
/** The detail row's height until it is measured. */
const DETAIL_HEIGHT = 420;
/** Narrow windows hide columns (style.css, the same widths): the Kind and Last error columns
 *  below 900 px, Checked too below 720 px. A row that spans the table (a node's header, the
 *  detail, the spacers) must span exactly the shown ones, or the table grows phantom columns. */
const NARROW = [matchMedia('(max-width: 900px)'), matchMedia('(max-width: 720px)')];
const HIDDEN = [2, 1];
const shownColumns = () => NARROW.reduce((n, q, i) => n - (q.matches ? HIDDEN[i] : 0), COLUMNS.length);
let columns = shownColumns();
for (const q of NARROW) {
  q.addEventListener('change', () => {
    columns = shownColumns();
    redraw = true;
    schedule();
  });
}

/** The expanded provider's panel; its chart lives in `chartHost` and is fed new samples. */
interface Detail {
  id: string;
  data: ProviderDetail | null;
  error: string | null;
  loading: boolean;
  chartHost: HTMLDivElement;
  chart: LatencyChart | null;
}

/** What the table lists: the fleet's rows, with the detail row after its provider's. */
type Item = Row | { kind: 'detail'; key: string; id: string };

const fleet = new Fleet();
let detail: Detail | null = null;
let detailHeight = DETAIL_HEIGHT;
let items: Item[] = [];
/** Each item's index by key, made when first needed after `items` changed. */
let indexByKey: Map<string, number> | null = null;
let filterText = '';

// What the next frame has to do.
let frame = 0;
/** Providers updated since the last frame. */
const changed = new Set<string>();
let redraw = false;
let incident = false;
/** The scroll position to apply after the next render (null: leave it). */
let scrollTo: number | null = null;
/** The span rendered last, to tell whether a scroll needs a render. */
let shown = { start: 0, end: 0 };

/** The row under the pointer, by key (kept by pointer events over the table). */
let hovered: string | null = null;
/** The scroll position when the view was left (an element out of the page forgets it). */
let savedScroll = 0;
let measured = false;

// The view's elements, kept across visits (lit-html keeps its state on `mount`).
const mount = document.createElement('div');
mount.className = 'overview';
const scroller = document.createElement('div');
scroller.className = 'fleet-scroll';
const bar = document.createElement('div');
bar.className = 'fleet-bar';
mount.append(bar, scroller);
const win = new VirtualWindow(scroller, ROW_HEIGHT);

scroller.addEventListener(
  'scroll',
  () => {
    if (!mount.isConnected) return;
    savedScroll = scroller.scrollTop;
    schedule();
  },
  { passive: true },
);
scroller.addEventListener('pointerover', (e) => {
  hovered = (e.target as Element).closest<HTMLElement>('tr[data-key]')?.dataset.key ?? null;
});
scroller.addEventListener('pointerleave', () => {
  hovered = null;
});
const resized = new ResizeObserver(() => {
  measured = false;
  redraw = true;
  schedule();
});
resized.observe(scroller);
const detailResized = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const h = entry.target.getBoundingClientRect().height;
    if (h > 0 && Math.abs(h - detailHeight) > 0.5) {
      detailHeight = h;
      redraw = true;
      schedule();
    }
  }
});
let observedDetail: Element | null = null;

document.addEventListener('keydown', (e) => {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey || !mount.isConnected || typing(e.target)) return;
  e.preventDefault();
  const box = bar.querySelector<HTMLInputElement>('#provider-filter');
  box?.focus();
  box?.select();
});

function typing(target: EventTarget | null): boolean {
  const t = target as HTMLElement | null;
  return !!t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
}

// ---- data in ------------------------------------------------------------------------------

export function setProviders(list: ProviderView[]): void {
  fleet.set(list);
  if (detail && !fleet.has(detail.id)) closeDetail();
  incident = true;
  redraw = true;
  schedule();
}

export function updateProvider(p: ProviderView): void {
  const before = fleet.get(p.id);
  const change = fleet.update(p);
  changed.add(p.id);
  if (change.down) incident = true;
  if (change.moved) redraw = true;
  if (detail?.id === p.id && before?.last_checked_at !== p.last_checked_at) void loadDetail();
  schedule();
}

export function renderOverview(root: HTMLElement): void {
  root.replaceChildren(mount);
  hovered = null;
  // At once, not on the next frame: the tab shows its rows in the frame it is opened.
  scrollTo = savedScroll;
  redraw = true;
  flush();
}

function schedule(): void {
  if (!frame) frame = requestAnimationFrame(flush);
}

/** The frame's work: the banner, the order if it is stale, and the rows in view. */
function flush(): void {
  cancelAnimationFrame(frame);
  frame = 0;
  if (incident) {
    incident = false;
    renderIncident(fleet.firstDown(NAMED_DOWN), fleet.down.size);
  }
  if (!mount.isConnected) {
    changed.clear();
    return;
  }
  if (fleet.stale) reorder();
  const top = scrollTo ?? scroller.scrollTop;
  const span = win.span(items.length, top);
  if (!redraw && span.start === shown.start && span.end === shown.end && !visibleChanged(span)) {
    changed.clear();
    return;
  }
  redraw = false;
  changed.clear();
  draw();
  if (scrollTo !== null) {
    scroller.scrollTop = scrollTo;
    scrollTo = null;
  }
  syncChart();
  if (!measured) measure();
}

function visibleChanged(span: { start: number; end: number }): boolean {
  if (changed.size === 0) return false;
  for (let i = span.start; i < span.end; i++) {
    const item = items[i];
    if (item.kind === 'provider' && changed.has(item.id)) return true;
  }
  return false;
}

/** Takes the fleet's rows (rebuilt if stale), keeping the pointed-at or focused row where
 *  it is on screen. */
function reorder(): void {
  const anchor = anchorKey();
  const top = scrollTo ?? scroller.scrollTop;
  const place = anchor === null ? null : win.placeOf(indexOf(anchor), top);
  items = withDetail(fleet.rows());
  indexByKey = null;
  redraw = true;
  if (anchor !== null && place !== null) {
    const i = indexOf(anchor);
    if (i >= 0) scrollTo = win.pin(i, place);
  }
}

/** The key of the row under the pointer, or else of the focused row, when it is in view. */
function anchorKey(): string | null {
  const focused = (document.activeElement as Element | null)?.closest<HTMLElement>('tr[data-key]');
  for (const key of [hovered, scroller.contains(focused ?? null) ? focused!.dataset.key! : null]) {
    if (key === null) continue;
    const i = indexOf(key);
    if (i >= shown.start && i < shown.end) return key;
  }
  return null;
}

function indexOf(key: string): number {
  if (!indexByKey) indexByKey = new Map(items.map((item, i) => [item.key, i]));
  return indexByKey.get(key) ?? -1;
}

function withDetail(rows: Row[]): Item[] {
  const d = detail;
  win.setTall(null);
  if (!d) return rows;
  const at = rows.findIndex((r) => r.kind === 'provider' && r.id === d.id);
  if (at < 0) return rows;
  win.setTall(at + 1, detailHeight);
  return [...rows.slice(0, at + 1), { kind: 'detail', key: `d:${d.id}`, id: d.id }, ...rows.slice(at + 1)];
}

/** Measures the rendered rows (their one height, the sticky header above them) and renders
 *  again on the next frame if the guess was off. */
function measure(): void {
  const row = scroller.querySelector('tr.provider, tr.group');
  const head = scroller.querySelector('thead');
  if (!row || !head) return;
  measured = true;
  const h = row.getBoundingClientRect().height;
  const top = head.getBoundingClientRect().height;
  if (Math.abs(h - win.rowHeight) > 0.01 || Math.abs(top - win.top) > 0.01) {
    win.rowHeight = h;
    win.top = top;
    redraw = true;
    schedule();
  }
}

// ---- drawing ------------------------------------------------------------------------------

function draw(): void {
  const tall = detail ? indexOf(`d:${detail.id}`) : -1;
  win.setTall(tall >= 0 ? tall : null, detailHeight);
  const s = win.span(items.length, scrollTo ?? scroller.scrollTop);
  const slice = items.slice(s.start, s.end);
  shown = s;
  render(barTemplate(), bar);
  render(
    html`<table class="providers" aria-label="Providers" aria-rowcount=${items.length + 1}>
      <thead>
        <tr aria-rowindex="1">${COLUMNS.map((h) => html`<th scope="col">${h}</th>`)}</tr>
      </thead>
      <tbody @keydown=${onKey}>
        <tr class="spacer" aria-hidden="true"><td colspan=${columns} data-spacer="before"></td></tr>
        ${keyed(slice, (item) => item.key, (item, i) => itemTemplate(item, s.start + i))}
        <tr class="spacer" aria-hidden="true"><td colspan=${columns} data-spacer="after"></td></tr>
        ${emptyRow()}
      </tbody>
    </table>`,
    scroller,
  );
  // Through the CSSOM: the page's Content-Security-Policy refuses `style` attributes.
  scroller.querySelector<HTMLElement>('td[data-spacer="before"]')!.style.height = `${s.before}px`;
  scroller.querySelector<HTMLElement>('td[data-spacer="after"]')!.style.height = `${s.after}px`;
  const el = detail ? scroller.querySelector(`#detail-${CSS.escape(detail.id)}`)?.closest('tr') : null;
  if (el !== observedDetail) {
    if (observedDetail) detailResized.unobserve(observedDetail);
    if (el) detailResized.observe(el);
    observedDetail = el ?? null;
  }
}

function emptyRow() {
  if (fleet.size === 0) return html`<tr><td colspan=${columns} class="empty">${EMPTY}</td></tr>`;
  if (fleet.filtering && fleet.matching === 0) {
    return html`<tr><td colspan=${columns} class="empty">No provider matches “${filterText.trim()}”.</td></tr>`;
  }
  return nothing;
}

/** The order of counts: up first, then the problems, worst first, then the disabled. */
const COUNT_ORDER = ['up', ...CATEGORIES.filter((k) => k !== 'up')] as const;

/** "9,990 up · 7 down · 3 half-open": up always, the others when there are any. */
function countsTemplate(c: Counts) {
  const parts = COUNT_ORDER.filter((k) => k === 'up' || c[k] > 0).map(
    (k) => html`<span class="count ${k}" data-count=${k}>${num(c[k])} ${CATEGORY_LABEL[k]}</span>`,
  );
  return parts.map((p, i) => (i ? html` · ${p}` : p));
}

function barTemplate() {
  const onInput = (e: Event) => setFilter((e.currentTarget as HTMLInputElement).value);
  const onKeydown = (e: KeyboardEvent) => {
    if (e.key !== 'Escape') return;
    e.preventDefault();
    const box = e.currentTarget as HTMLInputElement;
    if (!box.value) box.blur();
    box.value = '';
    setFilter('');
  };
  const all = fleet.allCollapsed;
  return html`<p class="fleet-counts" id="fleet-counts">
      <strong>${plural(fleet.size, 'provider')}</strong>: ${countsTemplate(fleet.totals)}
    </p>
    <label class="fleet-filter"
      ><span class="visually-hidden">Filter providers</span
      ><input
        type="search"
        id="provider-filter"
        placeholder="Filter: id, node, service, state"
        aria-keyshortcuts="/"
        autocomplete="off"
        spellcheck="false"
        .value=${filterText}
        @input=${onInput}
        @keydown=${onKeydown} /><kbd aria-hidden="true">/</kbd></label
    >
    <span class="fleet-shown" ?hidden=${!fleet.filtering}>${num(fleet.matching)} of ${num(fleet.size)} shown</span>
    <button type="button" id="collapse-all" @click=${() => collapseAll(!all)} ?hidden=${fleet.size === 0}>
      ${all ? 'Expand all nodes' : 'Collapse all nodes'}
    </button>`;
}

function itemTemplate(item: Item, index: number) {
  if (item.kind === 'group') return unlessChanged([item, index, columns], () => groupRow(item, index));
  if (item.kind === 'detail') return detailRow(detail!, index);
  const p = fleet.get(item.id)!;
  const open = detail?.id === p.id;
  return unlessChanged([p, open, index], () => row(p, open, index));
}

function groupRow(g: Extract<Row, { kind: 'group' }>, index: number) {
  const summary = countsTemplate(g.counts);
  return html`<tr class="group" data-key=${g.key} data-node=${g.node} aria-rowindex=${index + 2}
    @click=${(e: Event) => !(e.target as HTMLElement).closest('button') && toggleNode(g.node)}>
    <td colspan=${columns}>
      <button type="button" class="group-toggle" aria-expanded=${String(!g.collapsed)} data-focus="row"
        @click=${() => toggleNode(g.node)}><span class="chevron" aria-hidden="true">${g.collapsed ? '▸' : '▾'}</span
        >${g.node}</button>
      <span class="group-summary">${plural(g.size, 'provider')}: ${summary}${fleet.filtering
          ? html` · <span class="group-matching">${num(g.matching)} shown</span>`
          : nothing}</span>
    </td>
  </tr>`;
}

function row(p: ProviderView, open: boolean, index: number) {
  const tone = stateTone(p.state, p.status);
  const error = p.healthy ? '' : (p.last_error ?? '');
  return html`<tr
    class="provider tone-${tone}"
    tabindex="0"
    data-focus="row"
    aria-expanded=${String(open)}
    aria-rowindex=${index + 2}
    data-key="p:${p.id}"
    data-provider-id=${p.id}
    data-state=${p.state}
    data-status=${p.status}
    @click=${(e: Event) => !(e.target as HTMLElement).closest('button') && toggle(p.id)}
  >
    <td class="state"><span class="badge ${tone}">${stateLabel(p.state, p.status)}</span><span class="state-sub"
        >${subLine(p)}</span></td>
    <td class="name"><strong>${p.id}</strong><span class="sub">${p.node} / ${p.service}<span
        class="inline-error" title=${p.last_error ?? ''}>${error}</span></span></td>
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

// ---- what a person does -------------------------------------------------------------------

function setFilter(text: string): void {
  filterText = text;
  // A new filter shows its matches from the top, wherever the pointer is.
  hovered = null;
  if (fleet.setFilter(text)) scrollTo = 0;
  redraw = true;
  schedule();
}

function toggleNode(node: string): void {
  fleet.toggle(node);
  redraw = true;
  flush();
}

function collapseAll(on: boolean): void {
  fleet.collapseAll(on);
  scrollTo = 0;
  redraw = true;
  flush();
}

/** Arrow keys, Home and End move between rows (scrolling as needed); Enter and Space on a
 *  provider row expand it (a node's header is a button: they press it). */
function onKey(e: KeyboardEvent): void {
  const row = (e.target as Element).closest<HTMLElement>('tr[data-key]');
  if (!row) return;
  const onRow = e.target === row || (e.target as HTMLElement).dataset.focus === 'row';
  if (!onRow) return;
  if (row.classList.contains('provider') && e.target === row && (e.key === 'Enter' || e.key === ' ')) {
    e.preventDefault();
    toggle(row.dataset.providerId!);
    return;
  }
  const at = indexOf(row.dataset.key!);
  const step = { ArrowDown: 1, ArrowUp: -1 }[e.key];
  let to = -1;
  if (step) {
    to = at + step;
    if (items[to]?.kind === 'detail') to += step;
  } else if (e.key === 'Home') to = 0;
  else if (e.key === 'End') to = items.length - 1;
  else return;
  e.preventDefault();
  if (items[to]?.kind === 'detail') to--;
  if (to < 0 || to >= items.length) return;
  focusItem(to);
}

/** Scrolls item `i` into view, renders, and focuses it (a row, or a node header's button). */
function focusItem(i: number): void {
  scrollTo = win.reveal(i, scroller.scrollTop);
  redraw = true;
  flush();
  const key = items[i].key;
  const el = scroller.querySelector<HTMLElement>(`tr[data-key="${CSS.escape(key)}"]`);
  (el?.matches('[data-focus="row"]') ? el : el?.querySelector<HTMLElement>('[data-focus="row"]'))?.focus();
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
  if (open && fleet.has(id)) {
    const chartHost = document.createElement('div');
    chartHost.className = 'chart';
    detail = { id, data: null, error: null, loading: false, chartHost, chart: null };
    void loadDetail();
  }
  reorder();
  flush();
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
  if (detail === d) {
    redraw = true;
    schedule();
  }
}

function detailRow(d: Detail, index: number) {
  return html`<tr class="detail-row" data-key="d:${d.id}" aria-rowindex=${index + 2}>
    <td colspan=${columns} class="detail" id="detail-${d.id}">
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
