// monitoring.js - one deployment's live monitoring: the reference baseline,
// the latest window of the chosen width (rows, dataset and prediction drift,
// data quality, how the scores were computed), its drift table, each
// feature's drift score over the windows (the HTML drift report's charts),
// the model quality from labels (quality.js), the alert rules with their
// current state and the alert history.
// Everything comes from /api/2.0/capstan/monitor/ (api/monitor.c,
// api/monitor_baseline.c, api/alerts.c); the window JSON is described in
// monitor/monitor.h.
import {h, replace, fmtTime, fmtNum, badge, errorBox, loading} from '../dom.js';
import {api} from '../api.js';
import {setParams} from '../nav.js';
import {lineChart} from '../chart.js';
import {qualityBody} from './quality.js';

const enc = encodeURIComponent;
const MON = 'capstan/monitor';
// The latest windows drawn: the windows API answers newest first
// (order=desc) up to max_results, so the latest are always in the answer.
const MAX_WINDOWS = 1000;
const RANGES = [['15m', 9e5, 'Last 15 minutes'], ['1h', 36e5, 'Last hour'], ['6h', 216e5, 'Last 6 hours'],
  ['24h', 864e5, 'Last 24 hours'], ['7d', 6048e5, 'Last 7 days'], ['30d', 2592e6, 'Last 30 days']];

const fmtWidth = (sec) => {
  const n = Number(sec);
  for (const [unit, name] of [[86400, 'd'], [3600, 'h'], [60, 'min']]) if (n >= unit && n % unit === 0) return `${n / unit} ${name}`;
  return `${n} s`;
};
const yesNo = (v, yes, no) => (v ? badge(yes, 'failed') : badge(no, 'ready'));
const emptyNote = (id, ...text) => h('p', {class: 'muted', id}, ...text);

function card(id, title, ...body) {
  return h('section', {class: 'card', 'aria-labelledby': `${id}-h`, id}, h('h2', {id: `${id}-h`}, title), ...body);
}

function facts(rows) {
  return h('dl', {class: 'facts'}, rows.filter(Boolean).map(([k, label, v]) =>
    [h('dt', {}, label), h('dd', {dataset: {fact: k}}, v)]));
}

// A missing resource (404) is an empty state, anything else an error.
async function optional(p) {
  try { return await p; } catch (e) {
    if (e.name !== 'AbortError' && e.status === 404) return null;
    throw e;
  }
}

// ---- baseline -----------------------------------------------------------------

function baselineView(name, b) {
  if (!b) {
    return emptyNote('no-baseline', 'No baseline, so no drift is computed. Set one: ',
      h('code', {}, `capstan monitor baseline ${name} --data FILE`), ' (a CSV, JSONL or .npy file of reference inputs).');
  }
  const cols = (b.columns || []).map((c) => `${c.name} (${c.role}, ${c.kind})`).join(', ');
  return facts([
    ['target', 'Target', h('span', {class: 'mono'}, b.target || '')],
    b.model_name ? ['model', 'Model version', h('a', {href: `#/models/${enc(b.model_name)}/versions/${enc(b.model_version)}`}, `${b.model_name} v${b.model_version}`)] : null,
    ['rows', 'Rows', b.sample_rows !== undefined && b.sample_rows !== b.rows ? `${fmtNum(b.rows)} (sample of ${fmtNum(b.sample_rows)})` : fmtNum(b.rows)],
    ['created', 'Created', fmtTime(b.created_at)],
    ['columns', 'Columns', cols],
  ]);
}

// ---- the latest window ----------------------------------------------------------

function driftVerdict(r) {
  if (!r) return h('span', {class: 'muted'}, 'not computed');
  const n = r.number_of_columns ?? (r.columns || []).length;
  return h('span', {}, yesNo(r.dataset_drift, 'drift', 'no drift'),
    ` ${fmtNum(r.number_of_drifted_columns)} of ${fmtNum(n)} columns drifted (share ${fmtNum(r.share_of_drifted_columns)}`,
    r.drift_share !== undefined ? `, dataset drift at ≥ ${fmtNum(r.drift_share)})` : ')');
}

function qualityVerdict(q) {
  if (!q) return h('span', {class: 'muted'}, 'not computed');
  const failed = (q.columns || []).filter((c) => (c.failed || []).length).map((c) => `${c.column}: ${c.failed.join(', ')}`);
  if (q.duplicated_rows && q.duplicated_rows.failed) failed.push(`duplicated rows: ${fmtNum(q.duplicated_rows.count)}`);
  return h('span', {}, q.passed ? badge('passed', 'ready') : badge('failed', 'failed'), failed.length ? ` ${failed.join('; ')}` : '');
}

function methodText(w) {
  if (!w.method) return h('span', {class: 'muted'}, '—');
  const ap = w.approximation || [];
  return h('span', {}, w.method === 'exact' ? 'exact (the window\'s rows against the baseline\'s sample)' : 'from profiles (sketches)',
    ap.length ? ` · approximated: ${ap.map((a) => `${a.column} (${a.method}, error ≤ ${fmtNum(a.error_bound)})`).join(', ')}` : '');
}

function summaryView(w) {
  const versions = Object.entries(w.model_versions || {}).map(([v, n]) => `${v}: ${fmtNum(n)}`).join(', ');
  const errors = w.errors || [];
  return h('div', {},
    facts([
      ['window', 'Window', `${fmtTime(w.start_ms)} – ${fmtTime(w.end_ms)} (${fmtWidth(w.width_s)})`],
      ['rows', 'Rows', `${fmtNum(w.rows)}${w.late_rows ? ` (+${fmtNum(w.late_rows)} late)` : ''}`],
      versions ? ['versions', 'Model versions', versions] : null,
      ['reference', 'Reference', w.reference ? `${w.reference.target} (${fmtNum(w.reference.rows)} rows)` : h('span', {class: 'muted'}, 'none')],
      ['dataset-drift', 'Dataset drift', driftVerdict(w.drift)],
      ['prediction-drift', 'Prediction drift', driftVerdict(w.prediction_drift)],
      ['data-quality', 'Data quality', qualityVerdict(w.data_quality)],
      ['method', 'Method', methodText(w)],
    ]),
    errors.length ? h('ul', {class: 'error', id: 'window-errors', role: 'alert'}, errors.map((e) => h('li', {}, e))) : null);
}

function driftTable(id, caption, report) {
  if (!report || !(report.columns || []).length) return null;
  return h('div', {class: 'table-wrap'}, h('table', {class: 'grid-table', id},
    h('caption', {class: 'sr-only'}, caption),
    h('thead', {}, h('tr', {}, ['Column', 'Type', 'Test', 'Threshold', 'Score', 'Drifted'].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, report.columns.map((c) => h('tr', {dataset: {column: c.column}},
      h('th', {scope: 'row', class: 'mono'}, c.column), h('td', {}, c.column_type || ''), h('td', {}, c.stattest || ''),
      h('td', {class: 'num'}, fmtNum(c.stattest_threshold)), h('td', {class: 'num'}, fmtNum(c.drift_score)),
      h('td', {}, yesNo(c.drift_detected, 'drifted', 'no')))))));
}

// ---- drift over time ---------------------------------------------------------------

// One chart per column: its score in each window (x: the window's start),
// the latest threshold drawn, drifted windows marked.
function driftCharts(id, windows, key, emptyText) {
  const byCol = new Map();
  for (const w of windows) {
    for (const c of (w[key] && w[key].columns) || []) {
      if (!byCol.has(c.column)) byCol.set(c.column, {points: [], threshold: null, test: ''});
      const e = byCol.get(c.column);
      e.points.push([w.start_ms, Number(c.drift_score), !!c.drift_detected]);
      e.threshold = c.stattest_threshold;
      e.test = c.stattest;
    }
  }
  if (!byCol.size) return h('div', {id}, emptyNote(`${id}-empty`, emptyText));
  return h('div', {class: 'chart-grid', id}, [...byCol].map(([col, e]) => h('div', {class: 'chart-slot', dataset: {column: col}},
    lineChart({title: `${col} · ${e.test} score`, xKind: 'time', xLabel: 'window start', yLabel: 'drift score',
      series: [{name: col, points: e.points}], refLines: isFinite(e.threshold) ? [{y: Number(e.threshold), label: `threshold ${fmtNum(e.threshold)}`}] : [],
      width: 560, height: 240}))));
}

// ---- alerts ----------------------------------------------------------------------------

function condition(r) {
  const col = r.column ? `[${r.column}]` : '';
  return `${r.metric}${col} ${r.op} ${fmtNum(r.threshold)}`;
}

function stateBadge(st) {
  return badge(st || 'unknown', {firing: 'failed', pending: 'pending', inactive: 'ready', resolved: 'ready'}[st] || 'unknown');
}

function rulesView(alerts) {
  if (!alerts.length) {
    return emptyNote('no-alert-rules', 'No alert rules. Add one with ', h('code', {}, `POST /api/2.0/${MON}/alerts/rules`),
      ' (see the README\'s "Alerts").');
  }
  return h('div', {class: 'table-wrap'}, h('table', {class: 'grid-table', id: 'alert-rules'},
    h('caption', {class: 'sr-only'}, 'Alert rules and their current state'),
    h('thead', {}, h('tr', {}, ['Rule', 'Condition', 'For', 'Window', 'Severity', 'State', 'Streak', 'Since'].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, alerts.map((a) => {
      const r = a.rule || {};
      return h('tr', {dataset: {rule: a.name}},
        h('th', {scope: 'row'}, a.name), h('td', {class: 'mono'}, condition(r)),
        h('td', {class: 'num'}, `${fmtNum(r.for)} window${r.for === 1 ? '' : 's'}`),
        h('td', {}, r.window ? fmtWidth(r.window) : 'smallest'), h('td', {}, r.severity || ''),
        h('td', {}, stateBadge(a.state)), h('td', {class: 'num'}, fmtNum(a.streak)),
        h('td', {}, a.last_event ? fmtTime(a.last_event.at_ms) : ''));
    }))));
}

function eventsView(events, more) {
  if (!events.length) return emptyNote('no-alert-events', 'No alert has fired or resolved yet.');
  return h('div', {},
    h('div', {class: 'table-wrap'}, h('table', {class: 'grid-table', id: 'alert-events'},
      h('caption', {class: 'sr-only'}, 'Alert history, newest first'),
      h('thead', {}, h('tr', {}, ['Time', 'Rule', 'State', 'Value', 'Window', 'Summary', 'Delivery'].map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', {}, events.map((e) => h('tr', {dataset: {event: e.id}},
        h('td', {class: 'nowrap'}, fmtTime(e.at_ms)), h('th', {scope: 'row'}, e.rule), h('td', {}, stateBadge(e.state)),
        h('td', {class: 'num'}, fmtNum(e.value)), h('td', {class: 'num'}, e.window_id ?? ''),
        h('td', {class: 'wrap'}, (e.detail && e.detail.annotations && e.detail.annotations.summary) || ''),
        h('td', {}, e.delivery || '', e.attempts ? ` (${e.attempts} attempts)` : '')))))),
    more ? h('p', {class: 'muted'}, `Showing the newest ${events.length} events.`) : null);
}

async function alertsView(name, signal) {
  let states, events;
  try {
    [states, events] = await Promise.all([
      api.get(`${MON}/alerts`, {deployment: name}, signal),
      api.get(`${MON}/alerts/events`, {deployment: name, max_results: 200}, signal)]);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    return [errorBox(e)];
  }
  return [h('h3', {}, 'Rules'), rulesView(states.alerts || []),
    h('h3', {class: 'sub'}, 'History'), eventsView(events.events || [], !!events.next_page_token)];
}

// ---- the page ------------------------------------------------------------------------------

function picker(id, label, options, value, onChange) {
  const sel = h('select', {id}, options.map(([v, text]) => h('option', {value: v, selected: String(v) === String(value)}, text)));
  sel.addEventListener('change', () => onChange(sel.value));
  return h('label', {class: 'inline-field'}, label, sel);
}

// From now back over the range, the latest MAX_WINDOWS windows of the width.
function windowsQuery(name, width, rangeMs) {
  return {deployment: name, width, from: Math.max(0, Math.floor(Date.now() - rangeMs)), max_results: MAX_WINDOWS,
    order: 'desc'};
}

// The parts of the page drawn from the windows of one width (els: their boxes).
function drawWindows(els, {name, width, from, windows, baseline}) {
  const w = windows.at(-1);
  if (!w) {
    replace(els.summary, emptyNote('no-windows', `No ${fmtWidth(width)} windows since ${fmtTime(from)}. `,
      'A window is stored once it has closed after the deployment served requests; try a longer range or send traffic to ',
      h('code', {}, `/v2/models/${name}/infer`), '.'));
    replace(els.tables);
  } else {
    replace(els.summary, summaryView(w));
    const noRef = w.reference ? 'No drift in this window.' : 'No drift: the window has no reference (set a baseline).';
    const t = driftTable('drift-table', 'Drift of the inputs, latest window', w.drift);
    const p = driftTable('prediction-drift-table', 'Drift of the outputs, latest window', w.prediction_drift);
    replace(els.tables, h('h3', {class: 'sub'}, 'Input drift'), t || emptyNote('no-drift-table', noRef),
      p ? [h('h3', {class: 'sub'}, 'Prediction drift'), p] : null);
  }
  const noData = baseline ? 'No drift scores in this range.' : 'No baseline, so no drift scores.';
  replace(els.charts, driftCharts('drift-charts', windows, 'drift', noData));
  replace(els.predCharts, driftCharts('prediction-drift-charts', windows, 'prediction_drift', noData));
}

async function probe(name, signal) {
  // Windows from now on: none, but the widths in use (and a 404 for a
  // deployment that does not exist).
  const [windows, baseline] = await Promise.all([
    api.get(`${MON}/windows`, {deployment: name, from: Date.now(), max_results: 1}, signal),
    optional(api.get(`${MON}/baselines/get`, {target: `deployment:${name}`}, signal))]);
  return {widths: (windows.widths_s || []).map(Number), baseline};
}

export async function render(main, [name], ctx) {
  ctx.setTitle(`${name} · Monitoring`);
  replace(main, loading('monitoring'));
  const signal = ctx.signal;
  let widths, baseline;
  try { ({widths, baseline} = await probe(name, signal)); } catch (e) {
    if (e.name !== 'AbortError') replace(main, crumbs(name), h('h1', {}, 'Monitoring'), errorBox(e));
    return;
  }
  let width = Number(ctx.params.get('width'));
  if (!widths.includes(width)) width = widths[0] || 0;
  let range = RANGES.find(([k]) => k === ctx.params.get('range')) || RANGES[3];
  const els = {summary: h('div', {id: 'window-summary', 'aria-live': 'polite'}), tables: h('div', {}),
    charts: h('div', {}), predCharts: h('div', {}), since: h('span', {class: 'muted', id: 'range-note'})};
  const alerts = h('div', {id: 'alerts'}, loading('alerts'));
  const quality = h('div', {id: 'quality'});
  // labels judge windows of prediction time: without a live monitor, hours
  const drawQuality = async (from) => {
    replace(quality, loading('quality'));
    try { replace(quality, await qualityBody(name, width || 3600, from, signal)); } catch (e) {
      if (e.name !== 'AbortError') replace(quality, errorBox(e));
    }
  };
  let seq = 0;
  const load = async () => {
    drawQuality(Date.now() - range[1]);
    if (!widths.length) return;
    const mine = ++seq;
    const q = windowsQuery(name, width, range[1]);
    replace(els.summary, loading('windows'));
    els.since.textContent = `Windows since ${fmtTime(q.from)}`;
    let windows;
    try {
      // newest first from the API; drawn oldest first
      windows = ((await api.get(`${MON}/windows`, q, signal)).windows || []).reverse();
      if (mine === seq && windows.length === MAX_WINDOWS) els.since.textContent += ` (the latest ${MAX_WINDOWS})`;
    } catch (e) {
      if (e.name !== 'AbortError' && mine === seq) replace(els.summary, errorBox(e));
      return;
    }
    if (mine === seq) drawWindows(els, {name, width, from: q.from, windows, baseline});
  };
  replace(main, crumbs(name),
    h('div', {class: 'title-row'}, h('h1', {}, `${name} · Monitoring`)),
    widths.length ? h('div', {class: 'toolbar'},
      picker('monitor-width', 'Window width', widths.map((w) => [w, fmtWidth(w)]), width, (v) => { width = Number(v); setParams({width: v}); load(); }),
      picker('monitor-range', 'Range', RANGES.map(([k, , t]) => [k, t]), range[0], (v) => { range = RANGES.find(([k]) => k === v); setParams({range: v}); load(); }),
      h('button', {type: 'button', class: 'secondary', id: 'monitor-refresh', onclick: load}, 'Refresh'), els.since)
      : emptyNote('monitor-off', 'This server runs no live monitor, so it stores no windows.'),
    card('baseline', 'Baseline', baselineView(name, baseline)),
    card('latest', 'Latest window', els.summary, els.tables),
    card('drift-over-time', 'Drift score per feature over time', els.charts),
    card('prediction-drift-over-time', 'Prediction drift over time', els.predCharts),
    card('model-quality', 'Model quality from labels', quality),
    card('alerts-card', 'Alerts', alerts));
  const loaded = load();
  replace(alerts, await alertsView(name, signal));
  await loaded;
}

function crumbs(name) {
  return h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('a', {href: '#/deployments'}, 'Deployments'), ' / ',
    h('a', {href: `#/deployments/${enc(name)}`}, name), ' / Monitoring');
}
