// quality.js - the Monitoring view's model quality from labels: the latest
// labelled window (labels, coverage, the task's headline metrics) and each
// headline metric over the labelled windows. From GET
// /api/2.0/capstan/feedback/quality (api/feedback.c; the window JSON is
// feedback/realised.h's), at the width the view shows.
import {h, fmtNum, fmtTime} from '../dom.js';
import {api} from '../api.js';
import {lineChart} from '../chart.js';

// [label, how to read it from a window's metrics] per task.
const HEADLINES = {
  classification: [['Accuracy', (m) => m.accuracy],
    ['F1', (m) => (m.binary || m.macro || {}).f1],
    ['ROC AUC', (m) => m.roc_auc]],
  regression: [['MAE', (m) => m.mae], ['RMSE', (m) => m.rmse], ['R²', (m) => m.r2]],
};

function latestView(w) {
  const heads = HEADLINES[w.task] || [];
  const row = (k, label, v) => [h('dt', {}, label), h('dd', {dataset: {fact: k}}, v)];
  return h('dl', {class: 'facts', id: 'quality-latest'},
    row('start', 'Window', fmtTime(w.start_ms)),
    row('labelled', 'Labels', fmtNum(w.labelled)),
    w.coverage !== undefined && w.coverage !== null ? row('coverage', 'Coverage', `${fmtNum(100 * w.coverage)} %`) : null,
    heads.map(([label, get]) => row(label.toLowerCase().replace(/[^a-z0-9]+/g, '_'), label, fmtNum(get(w.metrics || {})))));
}

function charts(windows) {
  const heads = HEADLINES[windows.at(-1).task] || [];
  return h('div', {class: 'chart-grid', id: 'quality-charts'}, heads.map(([label, get]) => {
    const points = windows.map((w) => [w.start_ms, Number(get(w.metrics || {}))]);
    return h('div', {class: 'chart-slot', dataset: {metric: label}},
      lineChart({title: `${label} per window`, xKind: 'time', xLabel: 'window start', yLabel: label,
        series: [{name: label, points}], width: 560, height: 240}));
  }));
}

// The card's body for deployment name over [from, now) at width seconds.
export async function qualityBody(name, width, from, signal) {
  const q = {deployment: name, from: Math.floor(from), to: Date.now() + 1, width_s: width};
  const windows = (await api.get('capstan/feedback/quality', q, signal)).windows || [];
  if (!windows.length) {
    return h('p', {class: 'muted', id: 'no-quality'}, 'No labels for the predictions of this range. Send ground truth with ',
      h('code', {}, `capstan feedback send ${name} --file labels.csv`), ' or POST /api/2.0/capstan/feedback.');
  }
  return [latestView(windows.at(-1)), charts(windows)];
}
