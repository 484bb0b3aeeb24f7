// Inline SVG sparkline of recent latencies; failed samples are red ticks on the baseline.
// A template: on a live update only its path and ticks change, the <svg> stays.

import { html, nothing, svg } from './dom';

export function sparkline(values: (number | null)[], width = 120, height = 22) {
  const ok = values.filter((v): v is number => v !== null);
  const failed = values.length - ok.length;
  const label = ok.length
    ? `latency, last hour: ${Math.round(Math.min(...ok))}–${Math.round(Math.max(...ok))} ms, ${failed} failed`
    : 'no data';
  const max = Math.max(1, ...ok);
  const step = width / Math.max(1, values.length - 1);
  const fails: string[] = [];
  let d = '';
  values.forEach((v, i) => {
    const x = (i * step).toFixed(1);
    if (v === null) {
      fails.push(x);
      d += ' ';
      return;
    }
    const y = (height - 2 - (v / max) * (height - 4)).toFixed(1);
    d += d.endsWith(' ') || d === '' ? `M${x},${y}` : `L${x},${y}`;
  });
  const marks =
    values.length < 2
      ? nothing
      : svg`${fails.map((x) => svg`<line x1=${x} x2=${x} y1=${height - 6} y2=${height} class="fail"></line>`)}<path d=${d.trim()}></path>`;
  return html`<svg width=${width} height=${height} viewBox="0 0 ${width} ${height}" preserveAspectRatio="none"
    class="spark" role="img" aria-label=${label}>${marks}</svg>`;
}
