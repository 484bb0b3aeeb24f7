// Usage: the totals in words, a small chart of input and output tokens per day (uPlot, in a
// host element kept across renders and fed new data in place), and the by-model table.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { el, html, keyed } from '../../dom';
import { compact, num, shortUtcDay, wordFor } from '../../format';
import type { SessionsView, TokenCounts } from '../../types';

type Usage = SessionsView['usage'];
type Day = { key: string; tokens: TokenCounts };

const CHART_HEIGHT = 150;
const chartHost = el('div', { class: 'usage-chart', id: 'usage-chart' });
let chart: uPlot | null = null;
let chartResize: ResizeObserver | null = null;
let chartKey = '';
/** The days last given, for a chart made again (a light/dark switch). */
let lastDays: Day[] | null = null;

export function usageSection(u: Usage) {
  const t = u.tokens;
  const total = (key: string, value: number, label: string, title = '') =>
    html`<span class="total ${key === 'malformed' && value > 0 ? 'warn-text' : ''}" data-total=${key} data-value=${value}
      title=${title}><b>${num(value)}</b> ${label}</span>`;
  return html`<section class="usage" aria-labelledby="pipeline-usage-title">
    <h2 id="pipeline-usage-title">Usage</h2>
    <div class="usage-totals" id="usage-totals">
      ${total('records', u.records, 'records', 'Usage records counted (a message logged twice counts once)')}
      ${total('malformed', u.malformed, 'malformed', 'Lines that were not valid JSON records')}
      ${total('input', t.input, 'input tokens')} ${total('output', t.output, 'output tokens')}
      ${total('cache_read', t.cache_read, 'cache read')} ${total('cache_creation', t.cache_creation, 'cache write')}
      ${total('files', u.files, wordFor(u.files, 'file'), 'Files the usage processors have read')}
    </div>
    <div class="usage-row">
      <figure class="usage-figure">
        <figcaption>Tokens per day (UTC), last 30 days</figcaption>
        ${chartHost}
      </figure>
      <div class="table-wrap by-model">
        <table class="grid" id="usage-by-model" aria-label="Tokens by model">
          <thead>
            <tr>
              ${['Model', 'Input', 'Output', 'Cache read', 'Cache write', 'Messages'].map((h) => html`<th scope="col">${h}</th>`)}
            </tr>
          </thead>
          <tbody>
            ${keyed(u.by_model, (m) => m.key, model)}
            ${u.by_model.length ? '' : html`<tr><td colspan="6" class="empty">No usage recorded yet.</td></tr>`}
          </tbody>
        </table>
      </div>
    </div>
  </section>`;
}

function model(m: { key: string; tokens: TokenCounts }) {
  const t = m.tokens;
  return html`<tr data-model=${m.key}>
    <td>${m.key || '(unknown)'}</td>
    ${[t.input, t.output, t.cache_read, t.cache_creation, t.messages].map((v) => html`<td class="num">${num(v)}</td>`)}
  </tr>`;
}

/** Makes, feeds or empties the chart once its host is in the page. */
export function syncChart(days: Day[]): void {
  lastDays = days;
  if (!chartHost.isConnected) return;
  const key = JSON.stringify(days);
  if (key === chartKey && (chart || days.length === 0)) return;
  chartKey = key;
  if (days.length === 0) {
    destroyChart();
    chartHost.replaceChildren(el('p', { class: 'muted chart-empty' }, 'No usage recorded in the last 30 days.'));
    return;
  }
  if (chart) {
    chart.setData(dayColumns(days));
    return;
  }
  chartHost.replaceChildren();
  chart = makeChart(chartHost, days);
}

export function destroyChart(): void {
  chartResize?.disconnect();
  chartResize = null;
  chart?.destroy();
  chart = null;
  chartKey = '';
}

function dayColumns(days: Day[]): uPlot.AlignedData {
  return [
    days.map((d) => Date.parse(`${d.key}T00:00:00Z`) / 1000),
    days.map((d) => d.tokens.input),
    days.map((d) => d.tokens.output),
  ];
}

function makeChart(host: HTMLElement, days: Day[]): uPlot {
  const css = getComputedStyle(document.documentElement);
  const color = (name: string) => css.getPropertyValue(name).trim();
  const axis = { stroke: color('--muted'), grid: { stroke: color('--line') }, ticks: { stroke: color('--line') } };
  const bars = (align: -1 | 1) => uPlot.paths.bars!({ size: [0.4, 24], align });
  const day = (v: number | null) => (v === null ? '' : new Date(v * 1000).toISOString().slice(0, 10));
  const opts: uPlot.Options = {
    width: Math.max(280, host.clientWidth),
    height: CHART_HEIGHT,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    cursor: { points: { show: false } },
    scales: {
      // Half a day either side, so the first and last days' bars are not cut off.
      x: { time: true, range: (_u, min, max) => [min - 43200 * 1.2, max + 43200 * 1.2] },
      y: { range: (_u, _min, max) => [0, Math.max(1, (max ?? 1) * 1.15)] },
    },
    axes: [
      // One tick per day (or every few days), labelled with the date only.
      { ...axis, space: 50, incrs: [86400, 2 * 86400, 7 * 86400, 14 * 86400], values: (_u, ticks) => ticks.map(shortUtcDay) },
      { ...axis, size: 56, values: (_u, ticks) => ticks.map((v) => compact(v)) },
    ],
    series: [
      { label: 'day', value: (_u, v) => day(v) },
      { label: 'input', stroke: color('--accent'), fill: color('--accent'), width: 0, paths: bars(-1), points: { show: false } },
      { label: 'output', stroke: color('--warn'), fill: color('--warn'), width: 0, paths: bars(1), points: { show: false } },
    ],
  };
  const plot = new uPlot(opts, dayColumns(days), host);
  chartResize = new ResizeObserver(() => {
    const width = Math.max(280, host.clientWidth);
    if (width !== plot.width) plot.setSize({ width, height: CHART_HEIGHT });
  });
  chartResize.observe(host);
  return plot;
}

// The chart's colours are read when it is made: a light/dark switch makes it again.
window.matchMedia?.('(prefers-color-scheme: dark)').addEventListener?.('change', () => {
  if (!chart || !lastDays) return;
  destroyChart();
  syncChart(lastDays);
});
