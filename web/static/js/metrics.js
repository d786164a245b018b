// metrics.js - metric histories for charts, downsampled by the server
// (metrics/get-history-bulk-interval: MLflow's sampling, an even spread of
// max_results steps plus each run's first and last), and the x-axis
// choices shared by run and compare.
import {api} from './api.js';
import {h} from './dom.js';

export const MAX_POINTS = 1000;

// -> Map(run_id -> [{step, timestamp, value}] sorted by step then time)
export async function histories(runIds, key, signal, maxResults = MAX_POINTS) {
  const out = new Map(runIds.map((id) => [id, []]));
  for (let i = 0; i < runIds.length; i += 100) {
    const ids = runIds.slice(i, i + 100);
    const r = await api.get('mlflow/metrics/get-history-bulk-interval', {run_ids: ids, metric_key: key, max_results: maxResults}, signal);
    for (const m of r.metrics || []) if (out.has(m.run_id)) out.get(m.run_id).push(m);
  }
  for (const list of out.values()) list.sort((a, b) => a.step - b.step || a.timestamp - b.timestamp);
  return out;
}

export const X_KINDS = [['step', 'Step'], ['relative', 'Relative time'], ['time', 'Wall time']];

export function toPoints(list, xKind) {
  const t0 = list.length ? Math.min(...list.map((m) => Number(m.timestamp))) : 0;
  const pts = list.map((m) => {
    const y = typeof m.value === 'number' ? m.value : Number(m.value);
    const x = xKind === 'step' ? Number(m.step) : xKind === 'relative' ? Number(m.timestamp) - t0 : Number(m.timestamp);
    return [x, y];
  });
  if (xKind !== 'step') pts.sort((a, b) => a[0] - b[0]);
  return pts;
}

// A labelled <select> for the x axis; onChange(kind).
export function xAxisPicker(id, value, onChange) {
  const sel = h('select', {id, onchange: () => onChange(sel.value)},
    X_KINDS.map(([v, l]) => h('option', {value: v, selected: v === value}, l)));
  return h('span', {class: 'inline-field'}, h('label', {for: id}, 'X axis'), sel);
}
