// chart.js - line charts in SVG, written for this UI: several series over a
// numeric, time or elapsed-time x axis, a crosshair with a readout that
// follows the pointer or the arrow keys, and a legend. The server already
// downsampled long histories (metrics/get-history-bulk-interval), so every
// point given here is drawn.
import {h, s, fmtNum, fmtTime, fmtDuration, PALETTE} from './dom.js';

const DASHES = ['', '6 3', '2 3', '8 3 2 3', '1 2'];

export function niceTicks(lo, hi, count = 5) {
  if (!isFinite(lo) || !isFinite(hi)) return [];
  if (lo === hi) { const d = Math.abs(lo) || 1; lo -= d / 2; hi += d / 2; }
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function timeTicks(lo, hi, count = 5) {
  const steps = [1e3, 5e3, 15e3, 3e4, 6e4, 3e5, 9e5, 18e5, 36e5, 3 * 36e5, 6 * 36e5, 12 * 36e5, 864e5, 7 * 864e5, 30 * 864e5];
  const raw = (hi - lo) / count;
  const step = steps.find((x) => x >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) out.push(v);
  return out;
}

export function fmtX(kind, v, span) {
  if (kind === 'time') {
    const t = fmtTime(v);
    return span > 864e5 ? t.slice(5, 16) : t.slice(11);
  }
  if (kind === 'relative') return fmtDuration(v) || '0s';
  return fmtNum(v);
}

const marks = (se) => {
  const n = se.points.filter((p) => p[2]).length;
  return n ? ` (${n} marked)` : '';
};

// series: [{name, points: [[x, y], ...] sorted by x, color?}]; a point
// [x, y, true] is marked (e.g. a window that drifted): a ring, always drawn.
// refLines: [{y, label}], horizontal reference lines (a threshold), always
// inside the y range.
export function lineChart({series, xKind = 'step', title = '', xLabel = '', yLabel = '', width = 640, height = 260, logY = false, refLines = []}) {
  const M = {l: 62, r: 14, t: 12, b: 38};
  const W = width - M.l - M.r, H = height - M.t - M.b;
  const usable = series.map((se) => ({...se, points: se.points.filter(([x, y]) => isFinite(x) && isFinite(y) && (!logY || y > 0))}));
  let xs = [], ys = [];
  for (const se of usable) for (const [x, y] of se.points) { xs.push(x); ys.push(y); }
  const refs = refLines.filter((r) => isFinite(r.y) && (!logY || r.y > 0));
  const fig = h('figure', {class: 'chart'});
  if (title) fig.append(h('figcaption', {}, title));
  if (!xs.length) {
    fig.append(h('p', {class: 'muted'}, 'No points to draw.'));
    return fig;
  }
  for (const r of refs) ys.push(r.y);
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  xs = ys = null;
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const ty = (v) => (logY ? Math.log10(v) : v);
  let ly0 = ty(y0), ly1 = ty(y1);
  // equal to 6 digits (a metric that is 0.5 in every window, give or take
  // 1e-8): drawn flat, not with ticks that all read the same (fmtNum shows 6)
  if (ly1 - ly0 <= 1e-6 * Math.max(Math.abs(ly0), Math.abs(ly1), 1e-300)) { const d = Math.abs(ly0) * 0.05 || 1; ly0 -= d; ly1 += d; }
  const pad = (ly1 - ly0) * 0.05;
  ly0 -= pad; ly1 += pad;
  const X = (v) => M.l + ((v - x0) / (x1 - x0)) * W;
  const Y = (v) => M.t + H - ((ty(v) - ly0) / (ly1 - ly0)) * H;

  // max-width keeps the text near its drawn size on wide screens.
  const svg = s('svg', {viewBox: `0 0 ${width} ${height}`, class: 'chart-svg', role: 'img', tabindex: '0', style: `max-width:${Math.round(width * 1.15)}px`,
    'aria-label': `${title || 'Chart'}: ${usable.map((se) => `${se.name}, ${se.points.length} points${marks(se)}, last ${fmtNum(se.points.at(-1)?.[1])}`).join('; ')}${
      refs.map((r) => `; line at ${fmtNum(r.y)}${r.label ? ` (${r.label})` : ''}`).join('')}. Arrow keys move the readout.`});
  const grid = s('g', {class: 'grid'});
  const yt = logY ? niceTicks(ly0, ly1, 4).filter(Number.isInteger) : niceTicks(ly0, ly1, 5);
  for (const t of yt) {
    const yy = M.t + H - ((t - ly0) / (ly1 - ly0)) * H;
    grid.append(s('line', {x1: M.l, x2: M.l + W, y1: yy, y2: yy}),
      s('text', {x: M.l - 6, y: yy + 4, 'text-anchor': 'end'}, fmtNum(logY ? Math.pow(10, t) : t)));
  }
  const xt = xKind === 'time' ? timeTicks(x0, x1) : xKind === 'relative' ? timeTicks(x0, x1).filter((v) => v >= 0) : niceTicks(x0, x1, 6);
  for (const t of xt) {
    const xx = X(t);
    grid.append(s('line', {x1: xx, x2: xx, y1: M.t, y2: M.t + H}),
      // a label at the right edge ends there rather than past the drawing
      s('text', {x: xx, y: M.t + H + 16, 'text-anchor': xx > M.l + W - 30 ? 'end' : 'middle'}, fmtX(xKind, t, x1 - x0)));
  }
  svg.append(grid, s('rect', {class: 'frame', x: M.l, y: M.t, width: W, height: H}));
  if (xLabel) svg.append(s('text', {class: 'axis-label', x: M.l + W / 2, y: height - 4, 'text-anchor': 'middle'}, xLabel));
  for (const r of refs) {
    svg.append(s('g', {class: 'ref'}, s('line', {x1: M.l, x2: M.l + W, y1: Y(r.y), y2: Y(r.y)}),
      r.label ? s('text', {x: M.l + W - 4, y: Y(r.y) - 4, 'text-anchor': 'end'}, r.label) : null));
  }
  if (yLabel) svg.append(s('text', {class: 'axis-label', x: 12, y: M.t + H / 2, transform: `rotate(-90 12 ${M.t + H / 2})`, 'text-anchor': 'middle'}, yLabel));

  usable.forEach((se, i) => {
    const color = se.color || PALETTE[i % PALETTE.length];
    se.color = color;
    const pts = se.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ');
    const g = s('g', {class: 'series', 'data-series': se.name, 'data-points': se.points.length});
    g.append(s('polyline', {points: pts, fill: 'none', stroke: color, 'stroke-width': 1.8,
      'stroke-dasharray': DASHES[i % DASHES.length] || null, 'stroke-linejoin': 'round'}));
    if (se.points.length <= 40) for (const [x, y] of se.points) g.append(s('circle', {cx: X(x), cy: Y(y), r: 2.6, fill: color}));
    for (const [x, y, marked] of se.points) {
      if (marked) g.append(s('circle', {class: 'marked', cx: X(x), cy: Y(y), r: 5, stroke: color}));
    }
    svg.append(g);
  });

  // Crosshair and readout: nearest x of each series (they are sorted by x).
  const cross = s('line', {class: 'cross', y1: M.t, y2: M.t + H, visibility: 'hidden'});
  const dots = s('g');
  svg.append(cross, dots);
  const readout = h('div', {class: 'readout', 'aria-live': 'polite', hidden: true});
  const allX = [...new Set(usable.flatMap((se) => se.points.map((p) => p[0])))].sort((a, b) => a - b);
  let cursor = -1;
  const nearest = (pts, x) => {
    let lo = 0, hi = pts.length - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (pts[mid][0] < x) lo = mid + 1; else hi = mid; }
    if (lo > 0 && Math.abs(pts[lo - 1][0] - x) <= Math.abs(pts[lo][0] - x)) lo--;
    return pts[lo];
  };
  const show = (x) => {
    cross.setAttribute('x1', X(x)); cross.setAttribute('x2', X(x));
    cross.setAttribute('visibility', 'visible');
    dots.replaceChildren();
    const rows = [h('div', {class: 'readout-x'}, `${xLabel || 'x'}: ${fmtX(xKind, x, x1 - x0)}`)];
    for (const se of usable) {
      if (!se.points.length) continue;
      const p = nearest(se.points, x);
      dots.append(s('circle', {cx: X(p[0]), cy: Y(p[1]), r: 4, fill: se.color, stroke: '#fff'}));
      rows.push(h('div', {}, h('span', {class: 'swatch', style: `background:${se.color}`}), `${se.name}: ${fmtNum(p[1])}`));
    }
    readout.replaceChildren(...rows);
    readout.hidden = false;
  };
  const hide = () => { cross.setAttribute('visibility', 'hidden'); dots.replaceChildren(); readout.hidden = true; };
  svg.addEventListener('pointermove', (e) => {
    const ctm = svg.getScreenCTM();
    if (!ctm) return;
    const pt = new DOMPoint(e.clientX, e.clientY).matrixTransform(ctm.inverse());
    if (pt.x < M.l || pt.x > M.l + W) return hide();
    const x = x0 + ((pt.x - M.l) / W) * (x1 - x0);
    cursor = allX.findIndex((v) => v >= x);
    show(x);
  });
  svg.addEventListener('pointerleave', hide);
  svg.addEventListener('blur', hide);
  svg.addEventListener('keydown', (e) => {
    const step = e.shiftKey ? 10 : 1;
    if (e.key === 'ArrowRight') cursor = Math.min(allX.length - 1, cursor + step);
    else if (e.key === 'ArrowLeft') cursor = Math.max(0, (cursor < 0 ? allX.length : cursor) - step);
    else if (e.key === 'Home') cursor = 0;
    else if (e.key === 'End') cursor = allX.length - 1;
    else if (e.key === 'Escape') return hide();
    else return;
    e.preventDefault();
    show(allX[cursor]);
  });

  const legend = usable.length > 1 || series.length > 1
    ? h('ul', {class: 'legend'}, usable.map((se, i) => h('li', {},
      s('svg', {width: 26, height: 10, 'aria-hidden': 'true'}, s('line', {x1: 0, x2: 26, y1: 5, y2: 5, stroke: se.color, 'stroke-width': 2, 'stroke-dasharray': DASHES[i % DASHES.length] || null})),
      ` ${se.name}`)))
    : null;
  fig.append(h('div', {class: 'chart-wrap'}, svg, readout));
  if (legend) fig.append(legend);
  return fig;
}
