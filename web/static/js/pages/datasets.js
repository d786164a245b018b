// datasets.js - datasets stored by content (`capstan data add`): every
// dataset with its latest version; one dataset's versions, newest first,
// with two picked to diff; one version's facts, files (paged with the API's
// page tokens), tabular schema and profile when it has tables, and the runs
// and model versions that used it; the diff of two versions.
import {h, replace, crumbs, card, gridTable, fmtTime, fmtNum, fmtBytes, errorBox, loading} from '../dom.js';
import {api} from '../api.js';
import {setParams, datasetHref} from '../nav.js';

const enc = encodeURIComponent;
const BASE = 'capstan/datasets';
const FILES_PAGE = 100;
// A diff can list every file of a large tree; past this many rows a list
// says how many more there are instead of drawing them (100,000 rows take
// seconds to lay out).
const DIFF_ROWS = 1000;

const diffHref = (name, a, b) => `${datasetHref(name)}/diff/${enc(a)}/${enc(b)}`;
const top = (...parts) => crumbs(['Datasets', '#/datasets'], ...parts);

// "xxh128:<32 hex digits>" as its first 12 digits; the whole hash in the title.
function shortHash(hash) {
  return h('span', {class: 'mono', title: hash || ''}, String(hash || '').replace(/^[a-z0-9]+:/, '').slice(0, 12));
}

const size = (n) => h('span', {title: `${n} bytes`}, fmtBytes(n));
const tagList = (tags) => Object.entries(tags || {}).map(([k, v]) => h('span', {class: 'tag'}, `${k}=${v}`));

// The cells a version shows in the lists, after its name or number.
const versionCells = (v) => [h('td', {}, shortHash(v.hash)), h('td', {class: 'num'}, v.files), h('td', {class: 'num'}, size(v.size)),
  h('td', {}, v.author || ''), h('td', {class: 'nowrap'}, fmtTime(v.created_at)), h('td', {class: 'wrap'}, v.message || '')];
const VERSION_COLS = ['Hash', 'Files', 'Size', 'Author', 'Created', 'Message'];

// Shows head and a loading note, then head and what build() returns, or the
// server's message (a missing version, say) in its place.
async function page(main, ctx, head, what, build) {
  replace(main, head, loading(what));
  let body;
  try { body = await build(); } catch (e) {
    if (e.name === 'AbortError' || ctx.signal.aborted) throw e;
    body = [errorBox(e)];
  }
  replace(main, head, body);
}

export async function renderList(main, _args, ctx) {
  ctx.setTitle('Datasets');
  await page(main, ctx, h('h1', {}, 'Datasets'), 'datasets', async () => {
    const list = (await api.get(`${BASE}/list`, {}, ctx.signal)).datasets || [];
    if (!list.length) return h('p', {class: 'muted', id: 'no-datasets'}, 'No datasets yet: ', h('code', {}, 'capstan data add DIR --name NAME'), ' adds one.');
    return h('div', {class: 'table-wrap'}, gridTable({id: 'datasets-table', caption: `${list.length} datasets`},
      ['Name', 'Versions', 'Latest', ...VERSION_COLS],
      list.map(({name, versions, latest: v}) => h('tr', {'data-name': name},
        h('th', {scope: 'row'}, h('a', {href: datasetHref(name)}, name)),
        h('td', {class: 'num'}, versions),
        h('td', {}, h('a', {href: datasetHref(name, v.version)}, `v${v.version}`)),
        versionCells(v)))));
  });
}

// Two radio buttons a row (from, to) and a link to the diff they pick;
// the newest version against the one before it to start with.
function diffPicker(name, versions) {
  const pick = {a: versions[1] && versions[1].version, b: versions[0] && versions[0].version};
  const go = h('a', {class: 'button', id: 'diff-link'});
  const update = () => {
    go.href = diffHref(name, pick.a, pick.b);
    go.textContent = `Diff v${pick.a} → v${pick.b}`;
  };
  update();
  const radio = (side, v) => h('td', {}, h('input', {type: 'radio', name: `diff-${side}`, value: v.version, checked: pick[side] === v.version,
    'aria-label': `Diff ${side === 'a' ? 'from' : 'to'} version ${v.version}`, onchange: () => { pick[side] = v.version; update(); }}));
  return {tool: h('div', {class: 'toolbar'}, h('span', {class: 'muted'}, 'Pick a version in each of the columns From and To:'), go),
    cells: (v) => [radio('a', v), radio('b', v)]};
}

export async function renderDataset(main, [name], ctx) {
  ctx.setTitle(name);
  await page(main, ctx, [top(name), h('h1', {}, name)], 'versions', async () => {
    const versions = (await api.get(`${BASE}/versions`, {name}, ctx.signal)).versions || [];
    const diff = versions.length > 1 ? diffPicker(name, versions) : null;
    return [h('h2', {}, `Versions (${versions.length})`),
      diff ? diff.tool : h('p', {class: 'muted'}, 'One version: nothing to diff yet.'),
      h('div', {class: 'table-wrap'}, gridTable({id: 'dataset-versions', caption: `Versions of ${name}, newest first`},
        ['Version', ...VERSION_COLS, 'Tags', ...(diff ? ['From', 'To'] : [])],
        versions.map((v) => h('tr', {'data-version': v.version},
          h('th', {scope: 'row'}, h('a', {href: datasetHref(name, v.version)}, `Version ${v.version}`)),
          versionCells(v), h('td', {}, tagList(v.tags)), diff ? diff.cells(v) : null))))];
  });
}

const fact = (key, label, ...value) => [h('dt', {}, label), h('dd', {'data-fact': key}, value)];

function facts(v) {
  const tags = tagList(v.tags);
  return h('dl', {class: 'facts', id: 'version-facts'},
    fact('hash', 'Hash', h('span', {class: 'mono wrap'}, v.hash)),
    fact('files', 'Files', String(v.files)),
    fact('size', 'Size', `${fmtBytes(v.size)} (${v.size} bytes)`),
    fact('author', 'Author', v.author || ''),
    fact('created', 'Created', fmtTime(v.created_at)),
    fact('message', 'Message', v.message || '—'),
    v.parent ? fact('parent', 'Parent', h('a', {href: datasetHref(v.name, v.parent)}, `Version ${v.parent}`), ' · ',
      h('a', {href: diffHref(v.name, v.parent, v.version), id: 'diff-parent'}, 'what changed')) : null,
    fact('tags', 'Tags', tags.length ? tags : '—'));
}

// One page of the file list at a time; the tokens of the pages before are
// kept so Previous can go back (the API's tokens only go forward).
function filesCard(ref, v, ctx) {
  const status = h('span', {id: 'files-status', class: 'muted', 'aria-live': 'polite'});
  const prev = h('button', {type: 'button', id: 'files-prev', class: 'secondary', disabled: true}, '‹ Previous');
  const next = h('button', {type: 'button', id: 'files-next', class: 'secondary', disabled: true}, 'Next ›');
  const wrap = h('div', {class: 'table-wrap', id: 'files-wrap'}, loading('files'));
  const back = [];
  let token = ctx.params.get('files') || '', at = Number(ctx.params.get('files_at')) || 0, nextToken = null, shown = 0;
  const load = async () => {
    wrap.setAttribute('aria-busy', 'true');
    prev.disabled = next.disabled = true;
    try {
      const r = await api.get(`${BASE}/files`, {ref, max_results: FILES_PAGE, page_token: token || undefined}, ctx.signal);
      const files = r.files || [];
      nextToken = r.next_page_token || null;
      shown = files.length;
      wrap.replaceChildren(gridTable({id: 'files-table', caption: `Files of ${ref}`}, ['Path', 'Size', 'Hash'],
        files.map((f) => h('tr', {}, h('td', {class: 'mono wrap'}, f.path), h('td', {class: 'num'}, size(f.size)), h('td', {}, shortHash(f.hash))))));
      status.textContent = shown ? `Files ${at + 1}–${at + shown} of ${v.files}` : 'No files';
      setParams({files: token, files_at: at || null});
    } catch (e) {
      if (e.name !== 'AbortError') wrap.replaceChildren(errorBox(e));
    } finally {
      wrap.removeAttribute('aria-busy');
      prev.disabled = !token;
      next.disabled = !nextToken;
    }
  };
  prev.addEventListener('click', () => { [token, at] = back.pop() || ['', 0]; load(); });
  next.addEventListener('click', () => { back.push([token, at]); at += shown; token = nextToken; load(); });
  load();
  return card('files', `Files (${v.files})`, h('div', {class: 'toolbar'}, h('span', {class: 'spacer'}), status, prev, next), wrap);
}

const PROFILE_COLS = ['Column', 'Type', 'Nullable', 'Count', 'Missing', 'Distinct', 'Min', '25%', '50%', '75%', 'Max', 'Mean', 'Std', 'Most frequent'];

// A table file's schema (name, type, nullable) and profile, a row a column.
function tableProfile(t, i) {
  const cols = t.columns || [];
  const num = (x) => h('td', {class: 'num'}, fmtNum(x));
  return h('div', {class: 'table-profile', 'data-path': t.path},
    h('h3', {class: 'sub'}, h('span', {class: 'mono'}, t.path), ` · ${fmtNum(t.rows)} rows · ${cols.length} columns`),
    h('div', {class: 'table-wrap'}, gridTable({id: `profile-${i}`, caption: `Schema and profile of ${t.path}`}, PROFILE_COLS,
      cols.map((c) => h('tr', {'data-column': c.name},
        h('th', {scope: 'row', class: 'mono'}, c.name), h('td', {}, c.type || ''), h('td', {}, c.nullable ? 'yes' : 'no'),
        [c.count, c.missing, c.distinct, c.min, c.p25, c.p50, c.p75, c.max, c.mean, c.std].map(num),
        h('td', {class: 'wrap'}, (c.top || []).map(([val, n]) => h('span', {class: 'tag'}, `${val} (${n})`))))))));
}

function tablesCard(v) {
  const tables = v.tables || [];
  const warnings = (v.validation && v.validation.warnings) || [];
  return card('tables', 'Schema and profile',
    tables.length ? tables.map(tableProfile)
      : h('p', {class: 'muted', id: 'no-tables'}, 'No tabular profile: CSV, JSONL and .npy files get a schema and a profile when they are added.'),
    warnings.length ? [h('h3', {class: 'sub'}, `Validation warnings (${warnings.length})`),
      h('ul', {id: 'validation-warnings'}, warnings.map((w) => h('li', {}, typeof w === 'string' ? w : w.message || JSON.stringify(w))))] : null);
}

function usedByCard(usage) {
  if (usage.error) return card('used-by', 'Used by', errorBox(usage.error));
  const runs = usage.runs || [], mvs = usage.model_versions || [];
  const none = (id, text) => h('p', {class: 'muted', id}, text);
  return card('used-by', 'Used by',
    h('h3', {class: 'sub'}, `Runs (${runs.length})`),
    runs.length ? gridTable({id: 'used-runs', caption: 'Runs that used this version'}, ['Run', 'Run ID', 'Experiment'],
      runs.map((r) => h('tr', {'data-run': r.run_id},
        h('td', {}, h('a', {href: `#/runs/${r.run_id}`}, r.run_name || r.run_id.slice(0, 12))),
        h('td', {class: 'mono'}, r.run_id),
        h('td', {}, h('a', {href: `#/experiments/${enc(r.experiment_id)}`}, `Experiment ${r.experiment_id}`)))))
      : none('no-runs', 'No run recorded this version as an input (capstan data get NAME@N --run-id ID, or an MLflow dataset input with a capstan-dataset: source).'),
    h('h3', {class: 'sub'}, `Model versions (${mvs.length})`),
    mvs.length ? gridTable({id: 'used-models', caption: 'Model versions trained on this version'}, ['Model version', 'Run'],
      mvs.map((m) => h('tr', {},
        h('td', {}, h('a', {href: `#/models/${enc(m.name)}/versions/${enc(m.version)}`}, `${m.name} v${m.version}`)),
        h('td', {}, m.run_id ? h('a', {href: `#/runs/${m.run_id}`, class: 'mono'}, m.run_id.slice(0, 12)) : '—'))))
      : none('no-models', 'No model version comes from a run that used this version.'));
}

export async function renderVersion(main, [name, n], ctx) {
  ctx.setTitle(`${name} v${n}`);
  const ref = `${name}@${n}`;
  await page(main, ctx, top([name, datasetHref(name)], `Version ${n}`), 'dataset version', async () => {
    const [{version: v}, usage] = await Promise.all([api.get(`${BASE}/get`, {ref}, ctx.signal),
      api.get(`${BASE}/usage`, {ref}, ctx.signal).catch((e) => ({error: e}))]);
    return [h('h1', {}, `${name} `, h('span', {class: 'muted'}, `version ${v.version}`)), facts(v),
      usedByCard(usage), tablesCard(v), filesCard(ref, v, ctx)];
  });
}

function diffList(id, title, list, cols, cells) {
  const shown = list.slice(0, DIFF_ROWS);
  return card(id, `${title} (${list.length})`, list.length
    ? [h('div', {class: 'table-wrap'}, gridTable({id: `${id}-table`, caption: `${title} files`}, cols,
      shown.map((f) => h('tr', {'data-path': f.path}, h('td', {class: 'mono wrap'}, f.path), cells(f))))),
    list.length > shown.length ? h('p', {class: 'muted'}, `${list.length - shown.length} more not shown.`) : null]
    : h('p', {class: 'muted'}, 'None.'));
}

export async function renderDiff(main, [name, a, b], ctx) {
  ctx.setTitle(`${name} v${a} → v${b}`);
  await page(main, ctx, [top([name, datasetHref(name)], `Diff v${a} → v${b}`),
    h('h1', {}, `${name}: `, h('a', {href: datasetHref(name, a)}, `v${a}`), ' → ', h('a', {href: datasetHref(name, b)}, `v${b}`))], 'diff', async () => {
    const d = await api.get(`${BASE}/diff`, {a: `${name}@${a}`, b: `${name}@${b}`}, ctx.signal);
    const added = d.added || [], removed = d.removed || [], changed = d.changed || [];
    const delta = (f) => f.size_b - f.size_a;
    return [h('p', {id: 'diff-summary'}, `${added.length} added, ${removed.length} removed, ${changed.length} changed, ${d.unchanged} unchanged`,
      ` · ${fmtBytes(d.a.size)} in ${d.a.files} files → ${fmtBytes(d.b.size)} in ${d.b.files} files`),
    diffList('added', 'Added', added, ['Path', 'Size'], (f) => h('td', {class: 'num'}, size(f.size))),
    diffList('removed', 'Removed', removed, ['Path', 'Size'], (f) => h('td', {class: 'num'}, size(f.size))),
    diffList('changed', 'Changed', changed, ['Path', `Size in v${a}`, `Size in v${b}`, 'Change'], (f) => [
      h('td', {class: 'num'}, size(f.size_a)), h('td', {class: 'num'}, size(f.size_b)),
      h('td', {class: 'num'}, `${delta(f) > 0 ? '+' : delta(f) < 0 ? '−' : '±'}${fmtBytes(Math.abs(delta(f)))}`)])];
  });
}
