// pcoords.js - a parallel-coordinates plot in SVG: one vertical axis per
// hyperparameter (numeric params on a linear scale, others as evenly spaced
// categories) and a last axis for the chosen metric; one line per run,
// coloured along a blue-to-red ramp by that metric, with the run's name in
// its <title> so hovering or a screen reader can tell lines apart.
import {h, s, fmtNum} from './dom.js';
import {niceTicks} from './chart.js';

function ramp(t) {
  // blue (low) -> red (high), through grey, readable on white
  const a = [44, 123, 182], b = [150, 150, 150], c = [215, 48, 39];
  const [p, q, u] = t < 0.5 ? [a, b, t * 2] : [b, c, (t - 0.5) * 2];
  return `rgb(${p.map((v, i) => Math.round(v + (q[i] - v) * u)).join(',')})`;
}

// axes: [{name, values: [per run]}], runs: [{id, name}], metric: {name, values}
export function parallelCoordinates({axes, runs, metric, width = 1000, height = 300}) {
  const all = [...axes, {...metric, isMetric: true}];
  const M = {l: 40, r: 60, t: 34, b: 24};
  const W = width - M.l - M.r, H = height - M.t - M.b;
  const step = all.length > 1 ? W / (all.length - 1) : 0;
  const scales = all.map((ax) => {
    const nums = ax.values.map((v) => (v === undefined || v === null || v === '' ? NaN : Number(v)));
    const numeric = nums.every((n, i) => isFinite(n) || ax.values[i] === undefined);
    if (numeric && nums.some(isFinite)) {
      let lo = Math.min(...nums.filter(isFinite)), hi = Math.max(...nums.filter(isFinite));
      if (lo === hi) { lo -= 1; hi += 1; }
      return {numeric: true, pos: (v) => (isFinite(Number(v)) && v !== undefined ? M.t + H - ((Number(v) - lo) / (hi - lo)) * H : null),
        ticks: niceTicks(lo, hi, 4).filter((t) => t >= lo && t <= hi).map((t) => [t, fmtNum(t)]), lo, hi};
    }
    const cats = [...new Set(ax.values.filter((v) => v !== undefined).map(String))].sort();
    const y = (v) => { const i = cats.indexOf(String(v)); return i < 0 ? null : M.t + (cats.length === 1 ? H / 2 : (i / (cats.length - 1)) * H); };
    return {numeric: false, pos: y, ticks: cats.map((c) => [c, c.length > 12 ? c.slice(0, 11) + '…' : c]), cats};
  });
  const svg = s('svg', {viewBox: `0 0 ${width} ${height}`, class: 'pcoords', role: 'img', id: 'parallel-coordinates', style: `max-width:${Math.round(width * 1.15)}px`,
    'aria-label': `Parallel coordinates of ${axes.map((a) => a.name).join(', ')} against ${metric.name} for ${runs.length} runs`});
  const mv = metric.values.map(Number);
  const mlo = Math.min(...mv.filter(isFinite)), mhi = Math.max(...mv.filter(isFinite));
  const lines = s('g', {class: 'lines'});
  runs.forEach((r, ri) => {
    const pts = [];
    all.forEach((ax, ai) => {
      const y = scales[ai].pos(ax.values[ri]);
      if (y !== null) pts.push(`${(M.l + ai * step).toFixed(1)},${y.toFixed(1)}`);
    });
    const t = isFinite(mv[ri]) && mhi > mlo ? (mv[ri] - mlo) / (mhi - mlo) : 0.5;
    const pl = s('polyline', {points: pts.join(' '), fill: 'none', stroke: isFinite(mv[ri]) ? ramp(t) : '#bbb', 'stroke-width': 2, 'data-run': r.id},
      s('title', {}, `${r.name}: ${metric.name} = ${fmtNum(metric.values[ri])}`));
    lines.append(pl);
  });
  svg.append(lines);
  all.forEach((ax, ai) => {
    const x = M.l + ai * step;
    const g = s('g', {class: ['axis', ax.isMetric ? 'metric-axis' : ''].join(' ')});
    g.append(s('line', {x1: x, x2: x, y1: M.t, y2: M.t + H}));
    g.append(s('text', {x, y: M.t - 14, 'text-anchor': 'middle', class: 'axis-name'}, ax.name));
    for (const [v, label] of scales[ai].ticks) {
      const y = scales[ai].pos(v);
      if (y === null) continue;
      g.append(s('line', {x1: x - 3, x2: x + 3, y1: y, y2: y}), s('text', {x: x + 5, y: y + 4, class: 'tick'}, label));
    }
    svg.append(g);
  });
  return h('figure', {class: 'chart'}, h('figcaption', {}, `Hyperparameters against ${metric.name} (colour: low blue, high red)`), svg);
}
