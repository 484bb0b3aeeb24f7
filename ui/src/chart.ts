// Latency chart of one provider's history (uPlot). Failed probes show as gaps with red
// markers along the bottom, so an outage is visible at a glance.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Sample } from './types';

export function latencyChart(host: HTMLElement, history: Sample[]): uPlot {
  const xs = history.map((s) => Date.parse(s.at) / 1000);
  const lat = history.map((s) => (s.ok ? s.latency_ms : null));
  const fails = history.map((s) => (s.ok ? null : 0));
  const css = getComputedStyle(document.documentElement);
  const ink = css.getPropertyValue('--muted').trim() || '#888';
  const opts: uPlot.Options = {
    width: Math.max(320, host.clientWidth || 640),
    height: 180,
    legend: { show: true },
    cursor: { points: { show: false } },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, (max ?? 1) * 1.15)] } },
    axes: [
      { stroke: ink, grid: { stroke: 'rgba(128,128,128,.15)' } },
      { stroke: ink, grid: { stroke: 'rgba(128,128,128,.15)' }, label: 'ms', size: 50 },
    ],
    series: [
      {},
      { label: 'latency', stroke: css.getPropertyValue('--accent').trim() || '#3a7bd5', width: 1.5, spanGaps: false },
      {
        label: 'failed',
        stroke: 'transparent',
        points: { show: true, size: 7, fill: css.getPropertyValue('--bad').trim() || '#d33', stroke: 'transparent' },
      },
    ],
  };
  return new uPlot(opts, [xs, lat, fails] as uPlot.AlignedData, host);
}
