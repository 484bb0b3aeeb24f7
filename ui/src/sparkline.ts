// Inline SVG sparkline of recent latencies; failed samples are red ticks on the baseline.

const NS = 'http://www.w3.org/2000/svg';

export function sparkline(values: (number | null)[], width = 120, height = 22): SVGSVGElement {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  const ok = values.filter((v): v is number => v !== null);
  const failed = values.length - ok.length;
  svg.setAttribute(
    'aria-label',
    ok.length ? `latency, last hour: ${Math.round(Math.min(...ok))}–${Math.round(Math.max(...ok))} ms, ${failed} failed` : 'no data',
  );
  if (values.length < 2) return svg;
  const max = Math.max(1, ...ok);
  const step = width / (values.length - 1);
  let d = '';
  values.forEach((v, i) => {
    const x = (i * step).toFixed(1);
    if (v === null) {
      const tick = document.createElementNS(NS, 'line');
      tick.setAttribute('x1', x);
      tick.setAttribute('x2', x);
      tick.setAttribute('y1', String(height - 6));
      tick.setAttribute('y2', String(height));
      tick.setAttribute('class', 'fail');
      svg.append(tick);
      d += ' ';
      return;
    }
    const y = (height - 2 - (v / max) * (height - 4)).toFixed(1);
    d += d.endsWith(' ') || d === '' ? `M${x},${y}` : `L${x},${y}`;
  });
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', d.trim());
  svg.append(path);
  return svg;
}
