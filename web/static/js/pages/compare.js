// compare.js - runs side by side: overlaid curves of one metric, a
// params/metrics table that marks every row whose values differ (a ≠ mark
// and a highlight, not colour alone), and a parallel-coordinates plot of the
// hyperparameters that vary against a chosen metric. State: ?runs=a,b,c
// &metric=&x=&diff=1.
import {h, replace, fmtNum, fmtTime, fmtDuration, badge, errorBox, loading, PALETTE} from '../dom.js';
import {api} from '../api.js';
import {setParams, link} from '../nav.js';
import {lineChart} from '../chart.js';
import {histories, toPoints, xAxisPicker} from '../metrics.js';
import {parallelCoordinates} from '../pcoords.js';

export async function render(main, _args, ctx) {
  ctx.setTitle('Compare runs');
  const ids = [...new Set((ctx.params.get('runs') || '').split(',').filter((x) => /^[0-9a-fA-F]{1,64}$/.test(x)))];
  replace(main, h('h1', {}, 'Compare runs'), loading('runs'));
  const runs = await Promise.all(ids.map((id) => api.get('mlflow/runs/get', {run_id: id}, ctx.signal).then((r) => r.run)));
  const exp = ctx.params.get('exp') || (runs[0] && runs[0].info.experiment_id);
  const names = runs.map((r) => r.info.run_name || r.info.run_id.slice(0, 8));
  const get = (r, field) => new Map(((r.data && r.data[field]) || []).map((e) => [e.key, e.value]));
  const P = runs.map((r) => get(r, 'params')), Mx = runs.map((r) => get(r, 'metrics'));
  const paramKeys = [...new Set(P.flatMap((m) => [...m.keys()]))].sort();
  const metricKeys = [...new Set(Mx.flatMap((m) => [...m.keys()]))].sort();

  const header = [h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('a', {href: '#/experiments'}, 'Experiments'),
    exp ? [' / ', h('a', {href: `#/experiments/${encodeURIComponent(exp)}`, id: 'cmp-exp'}, `Experiment ${exp}`)] : null, ' / Compare'),
  h('h1', {}, `Compare ${runs.length} runs`)];
  const picker = addRunsPicker(exp, ids, ctx);
  if (exp) api.get('mlflow/experiments/get', {experiment_id: exp}, ctx.signal)
    .then((r) => { const a = document.getElementById('cmp-exp'); if (a) a.textContent = r.experiment.name; }).catch(() => {});
  if (runs.length < 2) {
    replace(main, ...header, h('p', {}, 'Choose at least two runs: tick them in an experiment\'s runs table, or add them here.'), picker);
    return;
  }

  // ---- metric curves ----
  let metric = ctx.params.get('metric');
  if (!metricKeys.includes(metric)) {
    // Default to the metric with the longest history (latest step), the one
    // most worth a curve; ties go alphabetically.
    // Metrics every run has come first.
    const has = (k) => Mx.filter((m) => m.has(k)).length;
    const steps = (k) => Math.max(...runs.map((r) => ((r.data && r.data.metrics) || []).find((m) => m.key === k)?.step || 0));
    const better = (k, b) => has(k) > has(b) || (has(k) === has(b) && steps(k) > steps(b));
    metric = metricKeys.reduce((best, k) => (best === undefined || better(k, best) ? k : best), undefined);
  }
  let xKind = ctx.params.get('x') || 'step';
  const chartBox = h('div', {id: 'compare-chart'});
  const metricSel = h('select', {id: 'compare-metric'}, metricKeys.map((k) => h('option', {value: k, selected: k === metric}, k)));
  let hist = new Map();
  const drawChart = () => chartBox.replaceChildren(lineChart({title: metric, xKind, xLabel: {step: 'step', relative: 'elapsed', time: 'time'}[xKind],
    series: runs.map((r, i) => ({name: names[i], color: PALETTE[i % PALETTE.length], points: toPoints(hist.get(r.info.run_id) || [], xKind)})), width: 1000, height: 320}));
  const loadChart = async () => {
    if (!metric) { chartBox.replaceChildren(h('p', {class: 'muted'}, 'These runs logged no metrics.')); return; }
    chartBox.setAttribute('aria-busy', 'true');
    try {
      hist = await histories(runs.map((r) => r.info.run_id), metric, ctx.signal);
      drawChart();
    } catch (e) { if (e.name !== 'AbortError') chartBox.replaceChildren(errorBox(e)); }
    chartBox.removeAttribute('aria-busy');
  };

  // ---- parallel coordinates ----
  const pcBox = h('div', {id: 'compare-pcoords'});
  const varying = paramKeys.filter((k) => new Set(P.map((m) => m.get(k))).size > 1);
  const drawPc = () => {
    const axesKeys = (varying.length ? varying : paramKeys).slice(0, 10);
    if (!axesKeys.length || !metric) { pcBox.replaceChildren(h('p', {class: 'muted'}, 'Needs parameters and a metric.')); return; }
    pcBox.replaceChildren(parallelCoordinates({axes: axesKeys.map((k) => ({name: k, values: P.map((m) => m.get(k))})),
      runs: runs.map((r, i) => ({id: r.info.run_id, name: names[i]})), metric: {name: metric, values: Mx.map((m) => m.get(metric))}}));
  };
  metricSel.addEventListener('change', () => { metric = metricSel.value; setParams({metric}); loadChart(); drawPc(); });

  // ---- diff table ----
  let onlyDiff = ctx.params.get('diff') === '1';
  const tableBox = h('div', {class: 'table-wrap'});
  const drawTable = () => {
    const rows = [];
    const section = (label, keys, values, fmt) => {
      const body = [];
      for (const k of keys) {
        const vals = values.map((m) => m.get(k));
        const differs = new Set(vals.map((v) => (v === undefined ? '\u0000' : String(v)))).size > 1;
        if (onlyDiff && !differs) continue;
        body.push(h('tr', {class: differs ? 'differs' : null, 'data-key': k},
          h('th', {scope: 'row', class: 'mono'}, differs ? h('span', {class: 'diff-mark', title: 'Values differ'}, '≠ ') : null, k, differs ? h('span', {class: 'sr-only'}, ' (differs)') : null),
          vals.map((v) => h('td', {class: fmt === fmtNum ? 'num' : 'wrap'}, v === undefined ? '—' : fmt(v)))));
      }
      rows.push(h('tr', {class: 'section-row'}, h('th', {scope: 'colgroup', colspan: runs.length + 1}, `${label} (${body.length}${onlyDiff ? ' differing' : ''})`)), ...body);
    };
    const attrs = new Map([['Status', runs.map((r) => r.info.status)], ['Started', runs.map((r) => fmtTime(r.info.start_time))],
      ['Duration', runs.map((r) => (r.info.end_time ? fmtDuration(r.info.end_time - r.info.start_time) : ''))]]);
    section('Run', [...attrs.keys()], runs.map((_, i) => new Map([...attrs].map(([k, v]) => [k, v[i]]))), String);
    section('Parameters', paramKeys, P, String);
    section('Metrics', metricKeys, Mx, fmtNum);
    tableBox.replaceChildren(h('table', {class: 'grid-table diff', id: 'diff-table'},
      h('caption', {class: 'sr-only'}, 'Parameters and metrics of the compared runs; rows marked ≠ differ'),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Key'), runs.map((r, i) => h('th', {scope: 'col'},
        h('span', {class: 'swatch', style: `background:${PALETTE[i % PALETTE.length]}`}), h('a', {href: `#/runs/${r.info.run_id}`}, names[i]), ' ', badge(r.info.status))))),
      h('tbody', {}, rows)));
  };
  const diffBox = h('input', {type: 'checkbox', id: 'only-diff', checked: onlyDiff,
    onchange: () => { onlyDiff = diffBox.checked; setParams({diff: onlyDiff ? '1' : null}); drawTable(); }});

  replace(main, ...header,
    h('section', {class: 'card', 'aria-labelledby': 'cmp-curves-h'}, h('h2', {id: 'cmp-curves-h'}, 'Metric curves'),
      h('div', {class: 'toolbar'}, h('label', {for: 'compare-metric'}, 'Metric'), metricSel,
        xAxisPicker('compare-x-axis', xKind, (k) => { xKind = k; setParams({x: k === 'step' ? null : k}); drawChart(); })), chartBox),
    h('section', {class: 'card', 'aria-labelledby': 'cmp-diff-h'}, h('h2', {id: 'cmp-diff-h'}, 'Parameters and metrics'),
      h('div', {class: 'toolbar'}, h('label', {class: 'check'}, diffBox, ' Only rows that differ')), tableBox),
    h('section', {class: 'card', 'aria-labelledby': 'cmp-pc-h'}, h('h2', {id: 'cmp-pc-h'}, 'Hyperparameters vs metric'), pcBox),
    picker);
  drawTable();
  drawPc();
  await loadChart();
}

// Finds runs of the experiment by name and adds them to the comparison.
function addRunsPicker(exp, ids, ctx) {
  if (!exp) return null;
  const input = h('input', {type: 'search', id: 'add-run-search', placeholder: 'Run name contains…', autocomplete: 'off'});
  const out = h('ul', {class: 'pick-list', 'aria-live': 'polite'});
  let timer;
  const search = async () => {
    const t = input.value.replace(/'/g, "''");
    try {
      const r = await api.post('mlflow/runs/search', {experiment_ids: [exp], max_results: 20,
        filter: t ? `attributes.run_name ILIKE '%${t}%'` : undefined}, ctx.signal);
      out.replaceChildren(...(r.runs || []).filter((x) => !ids.includes(x.info.run_id)).map((x) =>
        h('li', {}, h('a', {href: link('/compare', {runs: [...ids, x.info.run_id].join(','), exp})}, `Add ${x.info.run_name || x.info.run_id}`))));
    } catch (e) { if (e.name !== 'AbortError') out.replaceChildren(h('li', {}, errorBox(e))); }
  };
  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(search, 200); });
  search();
  return h('section', {class: 'card', 'aria-labelledby': 'cmp-add-h'}, h('h2', {id: 'cmp-add-h'}, 'Add runs'),
    h('label', {for: 'add-run-search'}, 'Find runs in this experiment'), input, out);
}
