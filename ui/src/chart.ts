// Latency chart of one provider's raw history (uPlot). Failed probes break the line and
// show as red markers along the bottom, so an outage is visible at a glance. The chart
// follows its host's width and is fed new samples in place.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Sample } from './types';

export interface LatencyChart {
  update(history: Sample[]): void;
  destroy(): void;
}

const HEIGHT = 180;

function columns(history: Sample[]): uPlot.AlignedData {
  return [
    history.map((s) => Date.parse(s.at) / 1000),
    history.map((s) => (s.ok ? s.latency_ms : null)),
    history.map((s) => (s.ok ? null : 0)),
  ];
}

export function latencyChart(host: HTMLElement, history: Sample[]): LatencyChart {
  const css = getComputedStyle(document.documentElement);
  const color = (name: string) => css.getPropertyValue(name).trim();
  const axis = { stroke: color('--muted'), grid: { stroke: color('--line') }, ticks: { stroke: color('--line') } };
  const opts: uPlot.Options = {
    width: Math.max(320, host.clientWidth),
    height: HEIGHT,
    cursor: { points: { show: false } },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, (max ?? 1) * 1.15)] } },
    axes: [{ ...axis, space: 90 }, { ...axis, label: 'ms', size: 50 }],
    series: [
      {},
      { label: 'latency (ms)', stroke: color('--accent'), width: 1.5, spanGaps: false },
      {
        label: 'failed',
        stroke: color('--bad'),
        width: 0,
        points: { show: true, size: 7, fill: color('--bad'), stroke: color('--bad') },
        value: (_u, v) => (v === null ? '' : 'failed'),
      },
    ],
  };
  const plot = new uPlot(opts, columns(history), host);
  const resize = new ResizeObserver(() => {
    const width = Math.max(320, host.clientWidth);
    if (width !== plot.width) plot.setSize({ width, height: HEIGHT });
  });
  resize.observe(host);
  return {
    update: (h) => plot.setData(columns(h)),
    destroy: () => {
      resize.disconnect();
      plot.destroy();
    },
  };
}
