// runs.js - one experiment's runs table. Everything heavy happens on the
// server: filtering (MLflow's search grammar), sorting by any attribute,
// metric, param or tag, and paging (runs/search with page tokens), so the
// browser only ever holds one page and 100,000 runs cost what 100 do.
// The view's state lives in the URL query (filter, order, dir, cols, page),
// rewritten in place, so every view is a deep link.
import {h, s, replace, fmtTime, fmtDuration, fmtNum, badge, errorBox, loading} from '../dom.js';
import {api, quoteKey} from '../api.js';
import {setParams, link} from '../nav.js';

const ATTRS = [
  {id: 'run_name', label: 'Run name', order: 'attributes.run_name'},
  {id: 'start_time', label: 'Created', order: 'attributes.start_time'},
  {id: 'duration', label: 'Duration', order: null},
  {id: 'status', label: 'Status', order: 'attributes.status'},
  {id: 'user_id', label: 'User', order: 'attributes.user_id'},
];
const GROUPS = [['m', 'metrics', 'Metrics'], ['p', 'params', 'Parameters'], ['t', 'tags', 'Tags']];
const DEFAULT_ORDER = 'attributes.start_time';
const DEFAULT_SHOWN = 8; // per group, when the user has not chosen columns

// Keys seen per experiment, kept across page loads (the column chooser offers
// what the loaded pages contained, as MLflow's UI does).
const seenKeys = new Map();
// Page-token stacks for "Previous", per query.
const tokenStacks = new Map();
// Selected runs for comparison survive paging and sorting.
const selected = new Map(); // run_id -> run name

export function encodeCols(cols) {
  return cols.map(([g, k]) => `${g}:${encodeURIComponent(k)}`).join(',');
}

export function decodeCols(text) {
  if (!text) return null;
  return text.split(',').filter(Boolean).map((c) => {
    const i = c.indexOf(':');
    return [c.slice(0, i), decodeURIComponent(c.slice(i + 1))];
  }).filter(([g]) => ['m', 'p', 't'].includes(g));
}

function valueOf(run, g, key) {
  const list = run.data && run.data[g === 'm' ? 'metrics' : g === 'p' ? 'params' : 'tags'];
  const e = list && list.find((x) => x.key === key);
  return e ? e.value : undefined;
}

export async function render(main, [expId], ctx) {
  const p = ctx.params;
  const state = {
    filter: p.get('filter') || '',
    order: p.get('order') || DEFAULT_ORDER,
    dir: p.get('dir') || (p.get('order') ? 'asc' : 'desc'),
    cols: decodeCols(p.get('cols')),
    page: p.get('page') || '',
    at: Number(p.get('at') || 0),
    size: Math.min(1000, Math.max(10, Number(p.get('size') || 100))),
    view: p.get('view') || 'active',
  };
  if (!seenKeys.has(expId)) seenKeys.set(expId, {m: new Set(), p: new Set(), t: new Set()});
  const seen = seenKeys.get(expId);

  const title = h('h1', {}, 'Runs');
  const crumbs = h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('a', {href: '#/experiments'}, 'Experiments'), ' / ', h('span', {id: 'exp-name'}, `Experiment ${expId}`));
  ctx.setTitle(`Experiment ${expId}`);
  api.get('mlflow/experiments/get', {experiment_id: expId}, ctx.signal).then((r) => {
    const name = r.experiment.name;
    title.textContent = name;
    crumbs.querySelector('#exp-name').textContent = name;
    ctx.setTitle(name);
  }).catch(() => {});

  // ---- toolbar: filter, view, page size, columns, compare ----
  const filterInput = h('input', {type: 'text', id: 'run-filter', class: 'mono', value: state.filter, spellcheck: 'false', autocomplete: 'off',
    placeholder: "metrics.rmse < 0.5 and params.model = 'tree'", 'aria-describedby': 'filter-help filter-error'});
  const filterError = h('div', {id: 'filter-error', class: 'field-error', role: 'alert'});
  const filterForm = h('form', {class: 'filter', role: 'search', onsubmit: (e) => { e.preventDefault(); state.filter = filterInput.value.trim(); state.page = ''; state.at = 0; load(); }},
    h('label', {for: 'run-filter'}, 'Filter runs'),
    h('div', {class: 'filter-row'}, filterInput, h('button', {type: 'submit'}, 'Search'),
      h('button', {type: 'button', class: 'secondary', onclick: () => { filterInput.value = ''; state.filter = ''; state.page = ''; state.at = 0; load(); }}, 'Clear')),
    h('div', {id: 'filter-help', class: 'help'}, 'MLflow search syntax: ', h('code', {}, 'metrics.acc > 0.9 and params.lr = \'0.01\' and tags.team = \'a\' and attributes.status = \'FINISHED\''), '. Press / to focus.'),
    filterError);

  const viewSel = h('select', {id: 'run-view', onchange: () => { state.view = viewSel.value; state.page = ''; state.at = 0; load(); }},
    [['active', 'Active'], ['deleted', 'Deleted'], ['all', 'All']].map(([v, l]) => h('option', {value: v, selected: state.view === v}, l)));
  const sizeSel = h('select', {id: 'page-size', onchange: () => { state.size = Number(sizeSel.value); state.page = ''; state.at = 0; load(); }},
    [25, 50, 100, 250, 500].map((n) => h('option', {value: n, selected: state.size === n}, String(n))));
  const colsBtn = h('button', {type: 'button', id: 'columns-button', 'aria-expanded': 'false', 'aria-controls': 'columns-panel', class: 'secondary'}, 'Columns');
  const colsPanel = h('div', {id: 'columns-panel', class: 'popover', hidden: true, role: 'dialog', 'aria-label': 'Choose columns'});
  colsBtn.addEventListener('click', () => {
    const open = colsPanel.hidden;
    colsPanel.hidden = !open;
    colsBtn.setAttribute('aria-expanded', String(open));
    if (open) { buildChooser(); colsPanel.querySelector('input')?.focus(); }
  });
  colsPanel.addEventListener('keydown', (e) => { if (e.key === 'Escape') { colsPanel.hidden = true; colsBtn.setAttribute('aria-expanded', 'false'); colsBtn.focus(); } });
  const compareBtn = h('a', {id: 'compare-button', class: 'button', role: 'button', 'aria-disabled': 'true'}, 'Compare');
  const status = h('span', {id: 'table-status', class: 'muted', 'aria-live': 'polite'});
  const prevBtn = h('button', {type: 'button', id: 'prev-page', class: 'secondary', onclick: () => page(-1)}, '‹ Previous');
  const nextBtn = h('button', {type: 'button', id: 'next-page', class: 'secondary', onclick: () => page(1)}, 'Next ›');
  const tools = h('div', {class: 'toolbar'},
    h('label', {for: 'run-view'}, 'Show'), viewSel,
    h('label', {for: 'page-size'}, 'Rows per page'), sizeSel,
    h('span', {class: 'pop-anchor'}, colsBtn, colsPanel),
    compareBtn, h('span', {class: 'spacer'}), status, prevBtn, nextBtn);
  const tableWrap = h('div', {class: 'table-wrap', id: 'runs-table-wrap'}, loading('runs'));
  replace(main, crumbs, title, filterForm, tools, tableWrap);

  const onKey = (e) => {
    if (e.key === '/' && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) { e.preventDefault(); filterInput.focus(); }
  };
  document.addEventListener('keydown', onKey);
  ctx.onCleanup(() => document.removeEventListener('keydown', onKey));

  function updateCompare() {
    const n = selected.size;
    compareBtn.textContent = `Compare (${n})`;
    if (n >= 2) {
      compareBtn.removeAttribute('aria-disabled');
      compareBtn.href = link('/compare', {runs: [...selected.keys()].join(','), exp: expId});
    } else {
      compareBtn.setAttribute('aria-disabled', 'true');
      compareBtn.removeAttribute('href');
    }
  }
  updateCompare();

  function shownCols() {
    if (state.cols) return state.cols;
    const out = [];
    for (const g of ['m', 'p']) [...seen[g]].sort().slice(0, DEFAULT_SHOWN).forEach((k) => out.push([g, k]));
    return out;
  }

  function buildChooser() {
    const cur = shownCols();
    const isOn = (g, k) => cur.some(([a, b]) => a === g && b === k);
    const search = h('input', {type: 'search', id: 'columns-search', placeholder: 'Find a key…', 'aria-label': 'Find a column key'});
    const lists = GROUPS.map(([g, , label]) => {
      const keys = [...seen[g]].sort();
      return h('fieldset', {}, h('legend', {}, `${label} (${keys.length})`),
        keys.length ? keys.map((k) => h('label', {class: 'check', 'data-key': k.toLowerCase()},
          h('input', {type: 'checkbox', checked: isOn(g, k), 'data-group': g, 'data-k': k}), ` ${k}`)) : h('p', {class: 'muted'}, 'None on the loaded pages'));
    });
    search.addEventListener('input', () => {
      const t = search.value.toLowerCase();
      for (const l of colsPanel.querySelectorAll('label.check')) l.hidden = !l.dataset.key.includes(t);
    });
    const apply = () => {
      const cols = [...colsPanel.querySelectorAll('input[type=checkbox]')].filter((c) => c.checked).map((c) => [c.dataset.group, c.dataset.k]);
      state.cols = cols;
      setParams({cols: encodeCols(cols) || ','});
      draw(lastRuns);
    };
    replace(colsPanel, search, h('div', {class: 'col-groups', onchange: apply}, lists),
      h('div', {class: 'row-end'},
        h('button', {type: 'button', class: 'secondary', onclick: () => { colsPanel.querySelectorAll('input[type=checkbox]').forEach((c) => { c.checked = false; }); apply(); }}, 'None'),
        h('button', {type: 'button', class: 'secondary', onclick: () => { state.cols = null; setParams({cols: null}); buildChooser(); draw(lastRuns); }}, 'Default'),
        h('button', {type: 'button', onclick: () => { colsPanel.hidden = true; colsBtn.setAttribute('aria-expanded', 'false'); colsBtn.focus(); }}, 'Done')));
  }

  function orderBy() {
    return [`${state.order} ${state.dir === 'asc' ? 'ASC' : 'DESC'}`];
  }
  const stackKey = () => JSON.stringify([expId, state.filter, state.order, state.dir, state.size, state.view]);

  function page(delta) {
    const key = stackKey();
    const stack = tokenStacks.get(key) || [];
    if (delta > 0 && nextToken) {
      stack.push([state.page, state.at]);
      tokenStacks.set(key, stack);
      state.page = nextToken;
      state.at += lastRuns.length;
    } else if (delta < 0) {
      const prev = stack.pop();
      [state.page, state.at] = prev || ['', 0];
    } else return;
    load().then(() => tableWrap.querySelector('table')?.focus());
  }

  function sortBy(order) {
    if (state.order === order) state.dir = state.dir === 'asc' ? 'desc' : 'asc';
    else { state.order = order; state.dir = order === DEFAULT_ORDER ? 'desc' : 'asc'; }
    state.page = ''; state.at = 0;
    return load();
  }

  let lastRuns = [], nextToken = null, inflight = null;

  async function load() {
    setParams({filter: state.filter, order: state.order === DEFAULT_ORDER ? null : state.order,
      dir: state.order === DEFAULT_ORDER && state.dir === 'desc' ? null : state.dir,
      page: state.page, at: state.at || null, size: state.size === 100 ? null : state.size,
      view: state.view === 'active' ? null : state.view});
    if (inflight) inflight.abort();
    const ac = new AbortController();
    inflight = ac;
    const abortAll = () => ac.abort();
    ctx.signal.addEventListener('abort', abortAll, {once: true});
    tableWrap.setAttribute('aria-busy', 'true');
    tableWrap.classList.add('stale');
    status.textContent = 'Loading…';
    const t0 = performance.now();
    try {
      const r = await api.post('mlflow/runs/search', {
        experiment_ids: [expId], filter: state.filter || undefined, order_by: orderBy(),
        max_results: state.size, page_token: state.page || undefined,
        run_view_type: {active: 'ACTIVE_ONLY', deleted: 'DELETED_ONLY', all: 'ALL'}[state.view],
      }, ac.signal);
      filterError.textContent = '';
      filterInput.removeAttribute('aria-invalid');
      lastRuns = r.runs || [];
      nextToken = r.next_page_token || null;
      for (const run of lastRuns) {
        for (const [g, field] of GROUPS) for (const e of (run.data && run.data[field]) || []) seen[g].add(e.key);
      }
      draw(lastRuns);
      const ms = Math.round(performance.now() - t0);
      status.textContent = lastRuns.length
        ? `Rows ${state.at + 1}–${state.at + lastRuns.length}${nextToken ? '' : ' (last page)'} · ${ms} ms`
        : 'No runs';
      document.body.dataset.runsLoaded = String(Date.now());
    } catch (e) {
      if (e.name === 'AbortError') return;
      status.textContent = '';
      if (state.filter && e.status === 400) {
        filterError.replaceChildren(h('strong', {}, 'Filter error: '), e.message);
        filterInput.setAttribute('aria-invalid', 'true');
      } else {
        tableWrap.replaceChildren(errorBox(e));
      }
    } finally {
      ctx.signal.removeEventListener('abort', abortAll);
      if (inflight === ac) inflight = null;
      tableWrap.removeAttribute('aria-busy');
      tableWrap.classList.remove('stale');
      prevBtn.disabled = !state.page;
      nextBtn.disabled = !nextToken;
    }
  }

  function header(label, order, extra) {
    const active = order && state.order === order;
    const sort = active ? (state.dir === 'asc' ? 'ascending' : 'descending') : 'none';
    const arrow = active ? (state.dir === 'asc' ? ' ▲' : ' ▼') : '';
    const th = h('th', {scope: 'col', 'aria-sort': order ? sort : null, class: extra || null, 'data-order': order || null, title: label});
    if (order) th.append(h('button', {type: 'button', class: 'sort', onclick: () => sortBy(order)}, label, h('span', {'aria-hidden': 'true'}, arrow)));
    else th.append(label);
    return th;
  }

  function draw(runs) {
    const cols = shownCols();
    const groups = GROUPS.map(([g, , label]) => [label, cols.filter(([c]) => c === g)]).filter(([, c]) => c.length);
    const table = h('table', {class: 'grid-table runs', id: 'runs-table', tabindex: '-1'},
      h('caption', {class: 'sr-only'}, `Runs of experiment ${expId}, sorted by ${state.order} ${state.dir}ending`));
    const thead = h('thead');
    if (groups.length) {
      thead.append(h('tr', {class: 'group-row'}, h('td', {colspan: ATTRS.length + 1}),
        groups.map(([label, c]) => h('th', {scope: 'colgroup', colspan: c.length}, label))));
    }
    const allBox = h('input', {type: 'checkbox', 'aria-label': 'Select all runs on this page',
      checked: runs.length > 0 && runs.every((r) => selected.has(r.info.run_id)),
      onchange: () => {
        for (const r of runs) if (allBox.checked) selected.set(r.info.run_id, r.info.run_name); else selected.delete(r.info.run_id);
        table.querySelectorAll('tbody input[type=checkbox]').forEach((c) => { c.checked = allBox.checked; });
        updateCompare();
      }});
    thead.append(h('tr', {}, h('th', {scope: 'col', class: 'sel'}, allBox),
      ATTRS.map((a) => header(a.label, a.order)),
      cols.map(([g, k]) => header(k, `${g === 'm' ? 'metrics' : g === 'p' ? 'params' : 'tags'}.${quoteKey(k)}`, `col-${g}`))));
    const tbody = h('tbody');
    const frag = document.createDocumentFragment();
    for (const r of runs) {
      const i = r.info;
      const box = h('input', {type: 'checkbox', 'aria-label': `Select ${i.run_name || i.run_id}`, checked: selected.has(i.run_id),
        onchange: () => { if (box.checked) selected.set(i.run_id, i.run_name); else selected.delete(i.run_id); updateCompare(); }});
      const tr = h('tr', {'data-run-id': i.run_id},
        h('td', {class: 'sel'}, box),
        h('th', {scope: 'row', class: 'name'}, h('a', {href: `#/runs/${i.run_id}`}, i.run_name || i.run_id)),
        h('td', {class: 'nowrap'}, fmtTime(i.start_time)),
        h('td', {class: 'num'}, i.end_time ? fmtDuration(i.end_time - i.start_time) : ''),
        h('td', {}, badge(i.status)),
        h('td', {}, i.user_id || ''));
      for (const [g, k] of cols) {
        const v = valueOf(r, g, k);
        tr.append(h('td', {class: g === 'm' ? 'num' : 'truncate', title: v === undefined ? null : String(v)}, v === undefined ? '' : g === 'm' ? fmtNum(v) : v));
      }
      frag.append(tr);
    }
    tbody.append(frag);
    table.append(thead, tbody);
    if (!runs.length) {
      tableWrap.replaceChildren(h('p', {class: 'muted', id: 'no-runs'}, state.filter ? 'No runs match the filter.' : 'This experiment has no runs yet.'));
      return;
    }
    tableWrap.replaceChildren(table);
  }

  await load();
}
