/** A small SVG line chart for the training curves (loss and accuracy per epoch), redrawn as epochs arrive. */
const NS = 'http://www.w3.org/2000/svg';

export interface Series { name: string; colour: string; points: [number, number][]; dashed?: boolean }

export function drawChart(svg: SVGSVGElement, title: string, series: Series[], yRange?: [number, number]): void {
  const W = 340, H = 190, L = 40, R = 10, T = 22, B = 26;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const all = series.flatMap((s) => s.points);
  const maxX = Math.max(2, ...all.map((p) => p[0]));
  let [lo, hi] = yRange ?? [Math.min(...all.map((p) => p[1]), 0), Math.max(...all.map((p) => p[1]), 1e-3)];
  if (!all.length) [lo, hi] = yRange ?? [0, 1];
  const x = (v: number) => L + ((v - 1) / (maxX - 1)) * (W - L - R);
  const y = (v: number) => T + (1 - (v - lo) / (hi - lo || 1)) * (H - T - B);
  const el = (tag: string, attrs: Record<string, string | number>, text?: string) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text) e.textContent = text;
    svg.append(e);
    return e;
  };
  el('text', { x: L, y: 14, class: 'chart-title' }, title);
  for (const f of [0, 0.5, 1]) {
    const v = lo + f * (hi - lo);
    el('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' });
    el('text', { x: L - 4, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, v.toFixed(2));
  }
  el('text', { x: W - R, y: H - 6, class: 'tick', 'text-anchor': 'end' }, `epoch ${maxX}`);
  // One legend entry per solid series; dashed ones are the same runs' training curves.
  let legendX = L + 70;
  for (const s of series) {
    if (s.points.length) {
      el('polyline', { points: s.points.map(([a, b]) => `${x(a)},${y(b)}`).join(' '), fill: 'none', stroke: s.colour, 'stroke-width': 2, ...(s.dashed ? { 'stroke-dasharray': '4 3' } : {}) });
    }
    if (s.dashed) continue;
    el('text', { x: legendX, y: 14, class: 'legend', fill: s.colour }, s.name);
    legendX += 56;
  }
  el('text', { x: W - R, y: 14, class: 'tick', 'text-anchor': 'end' }, 'dashed: train');
}
