// models.js - the model registry: registered models (search by name),
// one model's versions with aliases and stages, and one version: its facts,
// ONNX signature (what Capstan read from the file at registration) and the
// lineage graph, with the deployments that serve it when the serving API
// answers.
import {h, replace, fmtTime, badge, errorBox, loading} from '../dom.js';
import {api} from '../api.js';
import {setParams} from '../nav.js';
import {lineageGraph} from '../lineage.js';

const enc = encodeURIComponent;

export async function renderList(main, _args, ctx) {
  ctx.setTitle('Models');
  const q = ctx.params.get('q') || '';
  const input = h('input', {type: 'search', id: 'model-search', value: q, placeholder: 'Name contains…', autocomplete: 'off'});
  const body = h('div', {'aria-live': 'polite'}, loading('models'));
  replace(main, h('h1', {}, 'Registered models'),
    h('form', {class: 'toolbar', role: 'search', onsubmit: (e) => e.preventDefault()}, h('label', {for: 'model-search'}, 'Search models'), input), body);
  let seq = 0;
  const load = async () => {
    const mine = ++seq;
    const t = input.value.replace(/'/g, "''");
    try {
      const out = [];
      let token;
      do {
        const r = await api.get('mlflow/registered-models/search', {max_results: 1000, filter: t ? `name ILIKE '%${t}%'` : undefined,
          order_by: 'name ASC', page_token: token}, ctx.signal);
        out.push(...(r.registered_models || []));
        token = r.next_page_token;
      } while (token && out.length < 5000);
      if (mine !== seq) return;
      body.replaceChildren(out.length ? h('table', {class: 'grid-table', id: 'models-table'},
        h('caption', {class: 'sr-only'}, `${out.length} registered models`),
        h('thead', {}, h('tr', {}, ['Name', 'Latest version', 'Aliases', 'Last updated', 'Description'].map((c) => h('th', {scope: 'col'}, c)))),
        h('tbody', {}, out.map((m) => {
          const latest = (m.latest_versions || []).reduce((a, v) => (!a || Number(v.version) > Number(a.version) ? v : a), null);
          return h('tr', {},
            h('th', {scope: 'row'}, h('a', {href: `#/models/${enc(m.name)}`}, m.name)),
            h('td', {}, latest ? h('a', {href: `#/models/${enc(m.name)}/versions/${enc(latest.version)}`}, `v${latest.version}`) : '—'),
            h('td', {}, (m.aliases || []).map((a) => h('span', {class: 'alias'}, `@${a.alias} → v${a.version}`))),
            h('td', {}, fmtTime(m.last_updated_timestamp)),
            h('td', {class: 'wrap'}, m.description || ''));
        }))) : h('p', {class: 'muted'}, 'No registered models match.'));
    } catch (e) { if (e.name !== 'AbortError' && mine === seq) body.replaceChildren(errorBox(e)); }
  };
  let timer;
  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { setParams({q: input.value}); load(); }, 200); });
  await load();
}

export async function renderModel(main, [name], ctx) {
  ctx.setTitle(name);
  replace(main, loading('model'));
  const [{registered_model: m}, versions] = await Promise.all([
    api.get('mlflow/registered-models/get', {name}, ctx.signal),
    allVersions(name, ctx.signal)]);
  const aliasesOf = (v) => (m.aliases || []).filter((a) => String(a.version) === String(v)).map((a) => a.alias);
  replace(main,
    h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('a', {href: '#/models'}, 'Models'), ' / ', name),
    h('h1', {}, name),
    m.description ? h('p', {}, m.description) : null,
    h('dl', {class: 'facts'}, h('dt', {}, 'Created'), h('dd', {}, fmtTime(m.creation_timestamp)),
      h('dt', {}, 'Last updated'), h('dd', {}, fmtTime(m.last_updated_timestamp)),
      h('dt', {}, 'Aliases'), h('dd', {}, (m.aliases || []).length ? (m.aliases || []).map((a) => h('span', {class: 'alias'}, `@${a.alias} → v${a.version}`)) : '—'),
      (m.tags || []).length ? [h('dt', {}, 'Tags'), h('dd', {}, m.tags.map((t) => h('span', {class: 'tag'}, `${t.key}=${t.value}`)))] : null),
    h('h2', {}, `Versions (${versions.length})`),
    h('div', {class: 'table-wrap'}, h('table', {class: 'grid-table', id: 'versions-table'},
      h('caption', {class: 'sr-only'}, `Versions of ${name}`),
      h('thead', {}, h('tr', {}, ['Version', 'Status', 'Stage', 'Aliases', 'Run', 'Registered', 'Source'].map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', {}, versions.map((v) => h('tr', {},
        h('th', {scope: 'row'}, h('a', {href: `#/models/${enc(name)}/versions/${enc(v.version)}`}, `Version ${v.version}`)),
        h('td', {}, badge(v.status)),
        h('td', {}, v.current_stage && v.current_stage !== 'None' ? badge(v.current_stage) : '—'),
        h('td', {}, aliasesOf(v.version).map((a) => h('span', {class: 'alias'}, `@${a}`))),
        h('td', {}, v.run_id ? h('a', {href: `#/runs/${v.run_id}`, class: 'mono'}, v.run_id.slice(0, 12)) : '—'),
        h('td', {}, fmtTime(v.creation_timestamp)),
        h('td', {class: 'mono truncate', title: v.source}, v.source || '')))))));
}

async function allVersions(name, signal) {
  const out = [];
  let token;
  do {
    const r = await api.get('mlflow/model-versions/search', {filter: `name='${name.replace(/'/g, "''")}'`, max_results: 1000,
      order_by: 'version_number DESC', page_token: token}, signal);
    out.push(...(r.model_versions || []));
    token = r.next_page_token;
  } while (token && out.length < 10000);
  return out;
}

// Deployments that serve name/version, from the serving API (absent on a
// server without it: then none).
async function deploymentsOf(name, version, signal) {
  let list;
  try { list = (await api.get('capstan/deployments', {}, signal)).deployments || []; } catch { return []; }
  const out = [];
  for (const d of list) {
    const st = d.status || {};
    for (const role of ['primary', 'canary', 'shadow']) {
      const m = st[role];
      if (m && m.name === name && String(m.version) === String(version)) out.push({d, role});
    }
  }
  return out;
}

export async function renderVersion(main, [name, version], ctx) {
  ctx.setTitle(`${name} v${version}`);
  replace(main, loading('model version'));
  const [{model_version: v}, graph, deps] = await Promise.all([
    api.get('mlflow/model-versions/get', {name, version}, ctx.signal),
    api.get('capstan/lineage', {name, version}, ctx.signal).catch((e) => ({error: e})),
    deploymentsOf(name, version, ctx.signal)]);
  const vnode = graph.nodes ? graph.nodes.find((n) => n.type === 'model_version') : null;
  const fmt = vnode && vnode.model_format;
  if (graph.nodes && vnode) {
    for (const {d, role} of deps) {
      const id = `deployment:${d.name}`;
      if (!graph.nodes.some((n) => n.id === id)) graph.nodes.push({id, type: 'deployment', name: d.name, role,
        weight: role === 'canary' ? d.canary_weight : role === 'primary' && d.canary ? 100 - (d.canary_weight || 0) : undefined});
      graph.edges.push({source: vnode.id, target: id, type: 'served_by'});
    }
  }
  const aliases = v.aliases || [];
  replace(main,
    h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('a', {href: '#/models'}, 'Models'), ' / ',
      h('a', {href: `#/models/${enc(name)}`}, name), ' / ', `Version ${version}`),
    h('h1', {}, `${name} `, h('span', {class: 'muted'}, `version ${version}`)),
    h('dl', {class: 'facts', id: 'version-facts'},
      h('dt', {}, 'Status'), h('dd', {}, badge(v.status), v.status_message ? ` ${v.status_message}` : ''),
      h('dt', {}, 'Stage'), h('dd', {}, v.current_stage || 'None'),
      h('dt', {}, 'Aliases'), h('dd', {}, aliases.length ? aliases.map((a) => h('span', {class: 'alias'}, `@${a}`)) : '—'),
      h('dt', {}, 'Run'), h('dd', {}, v.run_id ? h('a', {href: `#/runs/${v.run_id}`, class: 'mono'}, v.run_id) : '—'),
      h('dt', {}, 'Source'), h('dd', {class: 'mono wrap'}, v.source || ''),
      h('dt', {}, 'Registered'), h('dd', {}, fmtTime(v.creation_timestamp)),
      v.description ? [h('dt', {}, 'Description'), h('dd', {}, v.description)] : null,
      deps.length ? [h('dt', {}, 'Serving'), h('dd', {}, deps.map(({d, role}) => h('a', {class: 'alias', href: `#/deployments/${enc(d.name)}`}, `${d.name} (${role})`)))] : null),
    h('section', {class: 'card', 'aria-labelledby': 'sig-h'}, h('h2', {id: 'sig-h'}, 'Signature'), signature(fmt)),
    h('section', {class: 'card', 'aria-labelledby': 'lin-h'}, h('h2', {id: 'lin-h'}, 'Lineage'),
      graph.error ? errorBox(graph.error) : lineageGraph(graph),
      h('p', {class: 'muted'}, 'Also as ', h('a', {href: `/api/2.0/capstan/lineage?${new URLSearchParams({name, version, format: 'openlineage'})}`}, 'OpenLineage JSON'),
        ' and ', h('a', {href: `/api/2.0/capstan/lineage?${new URLSearchParams({name, version, format: 'dot'})}`}, 'Graphviz dot'), '.')));
}

function signature(fmt) {
  if (!fmt) return h('p', {class: 'muted'}, 'Not an ONNX model (no signature read at registration).');
  const table = (title, list, id) => h('table', {class: 'grid-table compact', id},
    h('caption', {}, title),
    h('thead', {}, h('tr', {}, ['Name', 'Type', 'Shape'].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, (list || []).map((io) => h('tr', {}, h('td', {class: 'mono'}, io.name),
      h('td', {}, `${io.kind && io.kind !== 'tensor' ? `${io.kind} ` : ''}${io.datatype || ''}`),
      h('td', {class: 'mono'}, io.shape ? `[${io.shape.map((d) => (d === -1 ? '?' : d)).join(', ')}]` : '')))));
  const ops = fmt.opsets ? Object.entries(fmt.opsets).map(([d, v]) => `${d} ${v}`).join(', ') : '';
  return h('div', {class: 'signature'},
    h('p', {}, `Format ${fmt.format || 'onnx'}`, fmt.file ? ` · file ${fmt.file}` : '', ops ? ` · opsets ${ops}` : '', fmt.producer ? ` · produced by ${fmt.producer}` : ''),
    h('div', {class: 'sig-tables'}, table('Inputs', fmt.inputs, 'signature-inputs'), table('Outputs', fmt.outputs, 'signature-outputs')));
}
