// run.js - one run: facts, params, latest metrics, tags, dataset inputs,
// a chart per metric (over step, elapsed or wall time; histories come
// downsampled from the server and load as the charts scroll into view), and
// the artifact browser. Tabs are real tabs (arrow keys) and deep-linkable
// (?tab=charts, ?tab=artifacts&artifact=model/MLmodel).
import {h, replace, fmtTime, fmtDuration, fmtNum, badge, errorBox, loading} from '../dom.js';
import {api} from '../api.js';
import {setParams, link} from '../nav.js';
import {lineChart} from '../chart.js';
import {histories, toPoints, xAxisPicker} from '../metrics.js';
import {browser} from '../artifacts.js';

const TABS = [['overview', 'Overview'], ['charts', 'Metric charts'], ['artifacts', 'Artifacts']];

export function kvTable(id, title, rows, {num = false, filter = false} = {}) {
  const sec = h('section', {class: 'card', 'aria-labelledby': `${id}-h`}, h('h2', {id: `${id}-h`}, `${title} (${rows.length})`));
  if (!rows.length) { sec.append(h('p', {class: 'muted'}, 'None.')); return sec; }
  const tbody = h('tbody', {}, rows.map(([k, v, extra]) => h('tr', {'data-key': String(k).toLowerCase()},
    h('th', {scope: 'row', class: 'mono'}, k), h('td', {class: num ? 'num' : 'wrap'}, v), extra !== undefined ? h('td', {}, extra) : null)));
  if (filter && rows.length > 10) {
    const inp = h('input', {type: 'search', placeholder: 'Filter…', 'aria-label': `Filter ${title.toLowerCase()}`,
      oninput: () => { for (const tr of tbody.rows) tr.hidden = !tr.dataset.key.includes(inp.value.toLowerCase()); }});
    sec.append(inp);
  }
  sec.append(h('table', {class: 'grid-table kv', id}, h('caption', {class: 'sr-only'}, title), tbody));
  return sec;
}

export async function render(main, [runId], ctx) {
  ctx.setTitle(`Run ${runId.slice(0, 8)}`);
  replace(main, loading('run'));
  const {run} = await api.get('mlflow/runs/get', {run_id: runId}, ctx.signal);
  const info = run.info, data = run.data || {};
  const tags = new Map((data.tags || []).map((t) => [t.key, t.value]));
  const name = info.run_name || tags.get('mlflow.runName') || runId;
  ctx.setTitle(name);

  const crumbs = h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'},
    h('a', {href: '#/experiments'}, 'Experiments'), ' / ',
    h('a', {href: `#/experiments/${encodeURIComponent(info.experiment_id)}`, id: 'run-exp-link'}, `Experiment ${info.experiment_id}`), ' / ', name);
  api.get('mlflow/experiments/get', {experiment_id: info.experiment_id}, ctx.signal)
    .then((r) => { crumbs.querySelector('#run-exp-link').textContent = r.experiment.name; }).catch(() => {});
  const parent = tags.get('mlflow.parentRunId');
  const facts = h('dl', {class: 'facts'},
    h('dt', {}, 'Run ID'), h('dd', {class: 'mono'}, runId),
    h('dt', {}, 'Status'), h('dd', {}, badge(info.status)),
    h('dt', {}, 'Started'), h('dd', {}, fmtTime(info.start_time)),
    h('dt', {}, 'Duration'), h('dd', {}, info.end_time ? fmtDuration(info.end_time - info.start_time) : '—'),
    h('dt', {}, 'User'), h('dd', {}, info.user_id || '—'),
    tags.get('mlflow.source.name') ? [h('dt', {}, 'Source'), h('dd', {class: 'mono'}, tags.get('mlflow.source.name'))] : null,
    tags.get('mlflow.source.git.commit') ? [h('dt', {}, 'Git commit'), h('dd', {class: 'mono'}, tags.get('mlflow.source.git.commit'))] : null,
    parent ? [h('dt', {}, 'Parent run'), h('dd', {}, h('a', {href: `#/runs/${parent}`}, parent))] : null,
    info.lifecycle_stage === 'deleted' ? [h('dt', {}, 'Lifecycle'), h('dd', {}, badge('deleted'))] : null);

  // ---- tabs ----
  let tab = ctx.params.get('tab') || 'overview';
  if (!TABS.some(([t]) => t === tab)) tab = 'overview';
  const tablist = h('div', {role: 'tablist', class: 'tabs', 'aria-label': 'Run sections'});
  const panels = {};
  const buttons = {};
  for (const [id, label] of TABS) {
    buttons[id] = h('button', {type: 'button', role: 'tab', id: `tab-${id}`, 'aria-controls': `panel-${id}`, onclick: () => select(id)}, label);
    panels[id] = h('div', {role: 'tabpanel', id: `panel-${id}`, 'aria-labelledby': `tab-${id}`, tabindex: '0', hidden: true});
    tablist.append(buttons[id]);
  }
  tablist.addEventListener('keydown', (e) => {
    const ids = TABS.map(([t]) => t);
    let i = ids.indexOf(tab);
    if (e.key === 'ArrowRight') i = (i + 1) % ids.length;
    else if (e.key === 'ArrowLeft') i = (i + ids.length - 1) % ids.length;
    else if (e.key === 'Home') i = 0;
    else if (e.key === 'End') i = ids.length - 1;
    else return;
    e.preventDefault();
    select(ids[i]);
    buttons[ids[i]].focus();
  });
  const built = {};
  function select(id) {
    tab = id;
    for (const [t] of TABS) {
      const on = t === id;
      buttons[t].setAttribute('aria-selected', String(on));
      buttons[t].tabIndex = on ? 0 : -1;
      panels[t].hidden = !on;
    }
    setParams({tab: id === 'overview' ? null : id, artifact: id === 'artifacts' ? ctx.params.get('artifact') : null});
    if (!built[id]) { built[id] = true; builders[id](panels[id]); }
  }

  const metrics = (data.metrics || []).slice().sort((a, b) => a.key.localeCompare(b.key));
  const builders = {
    overview(panel) {
      const userTags = [...tags].filter(([k]) => !k.startsWith('mlflow.'));
      const sysTags = [...tags].filter(([k]) => k.startsWith('mlflow.') && k !== 'mlflow.log-model.history');
      const inputs = (run.inputs && run.inputs.dataset_inputs) || [];
      panel.append(h('div', {class: 'cards'},
        kvTable('params-table', 'Parameters', (data.params || []).slice().sort((a, b) => a.key.localeCompare(b.key)).map((p) => [p.key, p.value]), {filter: true}),
        kvTable('metrics-table', 'Metrics (latest)', metrics.map((m) => [m.key, fmtNum(m.value),
          h('a', {href: link(`/runs/${runId}`, {tab: 'charts', metric: m.key}), 'aria-label': `Chart of ${m.key}`}, `step ${m.step}`)]), {num: true, filter: true}),
        kvTable('tags-table', 'Tags', userTags.map(([k, v]) => [k, v])),
        datasetsCard(inputs),
        sysTags.length ? h('details', {class: 'card'}, h('summary', {}, `System tags (${sysTags.length})`),
          h('table', {class: 'grid-table kv'}, h('tbody', {}, sysTags.map(([k, v]) => h('tr', {}, h('th', {scope: 'row', class: 'mono'}, k), h('td', {class: 'wrap'}, v)))))) : null));
    },
    charts(panel) {
      if (!metrics.length) { panel.append(h('p', {class: 'muted'}, 'This run logged no metrics.')); return; }
      let xKind = ctx.params.get('x') || 'step';
      const only = ctx.params.get('metric');
      const grid = h('div', {class: 'chart-grid', id: 'run-charts'});
      const keys = only && metrics.some((m) => m.key === only) ? [only, ...metrics.map((m) => m.key).filter((k) => k !== only)] : metrics.map((m) => m.key);
      const cache = new Map();
      const slots = keys.map((key) => {
        const slot = h('div', {class: 'chart-slot', 'data-metric': key}, h('p', {class: 'muted'}, key));
        slot.draw = () => {
          const list = cache.get(key);
          if (list) slot.replaceChildren(lineChart({title: key, series: [{name: name, points: toPoints(list, xKind)}], xKind,
            xLabel: {step: 'step', relative: 'elapsed', time: 'time'}[xKind], width: 560, height: 240}));
        };
        slot.load = async () => {
          if (slot.loading) return;
          slot.loading = true;
          try {
            const hist = await histories([runId], key, ctx.signal);
            cache.set(key, hist.get(runId));
            slot.draw();
          } catch (e) {
            if (e.name !== 'AbortError') slot.replaceChildren(errorBox(e));
          }
        };
        return slot;
      });
      // Histories load as their charts come near the viewport: a run with
      // hundreds of metrics does not fire hundreds of requests up front.
      const io = new IntersectionObserver((entries) => {
        for (const en of entries) if (en.isIntersecting) { io.unobserve(en.target); en.target.load(); }
      }, {rootMargin: '400px'});
      slots.forEach((sl) => io.observe(sl));
      ctx.onCleanup(() => io.disconnect());
      panel.append(h('div', {class: 'toolbar'}, xAxisPicker('run-x-axis', xKind, (k) => { xKind = k; setParams({x: k === 'step' ? null : k}); slots.forEach((sl) => sl.draw()); }),
        h('span', {class: 'muted'}, `${keys.length} metrics; long histories are downsampled by the server to about 1,000 points.`)), grid);
      grid.append(...slots);
    },
    artifacts(panel) {
      panel.append(browser(runId, ctx.signal, ctx.params.get('artifact')));
    },
  };

  // A pipeline run, or one of its stages, links to the pipeline's DAG.
  const pipelineId = tags.has('capstan.pipeline') ? runId : tags.has('capstan.stage') ? parent : null;
  replace(main, crumbs, h('div', {class: 'title-row'}, h('h1', {}, name),
    pipelineId ? h('a', {class: 'button secondary', id: 'pipeline-link', href: `#/pipelines/${pipelineId}`}, 'Pipeline DAG') : null,
    h('a', {class: 'button secondary', href: link('/compare', {runs: runId, exp: info.experiment_id})}, 'Compare with…')), facts, tablist, ...Object.values(panels));
  select(tab);
}

function datasetsCard(inputs) {
  const sec = h('section', {class: 'card', 'aria-labelledby': 'inputs-h'}, h('h2', {id: 'inputs-h'}, `Inputs (${inputs.length} datasets)`));
  if (!inputs.length) { sec.append(h('p', {class: 'muted'}, 'None.')); return sec; }
  sec.append(h('table', {class: 'grid-table', id: 'inputs-table'},
    h('thead', {}, h('tr', {}, ['Dataset', 'Digest', 'Context', 'Source', 'Schema'].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, inputs.map((inp) => {
      const d = inp.dataset || {};
      const ctxTag = (inp.tags || []).find((t) => t.key === 'mlflow.data.context');
      let schema = '';
      try {
        const sc = JSON.parse(d.schema || '{}');
        const cols = sc['mlflow_colspec'] || sc['mlflow_tensorspec'] || [];
        schema = Array.isArray(cols) ? cols.map((c) => c.name || c.type).filter(Boolean).join(', ') : '';
      } catch { schema = ''; }
      let source = d.source || '';
      try { const so = JSON.parse(source); source = so.uri || so.url || so.path || source; } catch { /* plain text */ }
      return h('tr', {}, h('td', {}, d.name || ''), h('td', {class: 'mono'}, d.digest || ''), h('td', {}, ctxTag ? ctxTag.value : ''),
        h('td', {class: 'truncate', title: source}, `${d.source_type || ''} ${source}`.trim()), h('td', {class: 'wrap'}, schema));
    }))));
  return sec;
}
