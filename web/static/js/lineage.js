// lineage.js - draws a model version's lineage graph (GET /api/2.0/capstan/
// lineage?format=graph) as an SVG picture (dag.js: left to right by levels),
// so data and code come first, then the run, the logged model, the version,
// and what serves or registers it; a list of the same edges follows for
// anyone who cannot use the picture.
import {h, fmtTime, fmtBytes} from './dom.js';
import {layout, dagSvg} from './dag.js';
import {datasetHref} from './nav.js';

const TYPE_LABEL = {dataset: 'Dataset', code: 'Code', parent_run: 'Parent run', run: 'Run', logged_model: 'Logged model',
  model_version: 'Model version', registered_model: 'Registered model', deployment: 'Deployment'};
const TYPE_ORDER = ['dataset', 'code', 'parent_run', 'run', 'logged_model', 'model_version', 'registered_model', 'deployment'];

export function nodeTitle(n) {
  switch (n.type) {
    case 'dataset': return n.name || 'dataset';
    case 'code': return (n.script || '').split('/').pop() || (n.git_commit || '').slice(0, 10) || 'code';
    case 'run': case 'parent_run': return n.run_name || (n.run_id || '').slice(0, 12);
    case 'logged_model': return n.name || (n.model_id || '').slice(0, 14);
    case 'model_version': return `${n.name} v${n.version}`;
    case 'registered_model': return n.name;
    case 'deployment': return n.name;
    default: return n.id;
  }
}

// A Capstan dataset's node carries the version ("capstan_dataset", from the
// server) or {"ref", "removed": true} once that version is gone.
function datasetDetail(n) {
  const cd = n.capstan_dataset;
  if (cd && cd.removed) return ['removed', cd.ref];
  if (cd && cd.version) return [`v${cd.version}`, n.context, fmtBytes(cd.size)];
  return [n.context, n.digest && `#${n.digest.slice(0, 8)}`];
}

function nodeDetail(n) {
  switch (n.type) {
    case 'dataset': return datasetDetail(n).filter(Boolean).join(' · ');
    case 'code': return n.git_commit ? `git ${n.git_commit.slice(0, 10)}` : n.script || '';
    case 'run': return [n.status, n.start_time && fmtTime(n.start_time).slice(0, 16)].filter(Boolean).join(' · ');
    case 'model_version': return [n.status, n.current_stage && n.current_stage !== 'None' ? n.current_stage : '',
      ...(n.aliases || []).map((a) => `@${a}`)].filter(Boolean).join(' · ');
    case 'deployment': return n.role ? `${n.role}${n.weight !== undefined ? ` ${n.weight}%` : ''}` : '';
    case 'logged_model': return n.model_type || n.status || '';
    default: return '';
  }
}

function nodeHref(n) {
  if ((n.type === 'run' || n.type === 'parent_run') && n.run_id) return `#/runs/${n.run_id}`;
  if (n.type === 'model_version') return `#/models/${encodeURIComponent(n.name)}/versions/${encodeURIComponent(n.version)}`;
  if (n.type === 'registered_model') return `#/models/${encodeURIComponent(n.name)}`;
  if (n.type === 'deployment') return `#/deployments/${encodeURIComponent(n.name)}`;
  const cd = n.type === 'dataset' && n.capstan_dataset;
  if (cd && cd.name && cd.version) return datasetHref(cd.name, cd.version);
  return null;
}

// Within a column: data and code first, then the run, the model, what serves it.
const byType = (a, b) => TYPE_ORDER.indexOf(a.type) - TYPE_ORDER.indexOf(b.type) || nodeTitle(a).localeCompare(nodeTitle(b));

export function lineageGraph(graph) {
  const L = layout(graph, byType);
  const svg = dagSvg(L, {id: 'lineage-graph', cls: 'lineage', label: `Lineage graph with ${L.nodes.length} nodes and ${L.edges.length} edges`,
    box: (n) => ({kind: TYPE_LABEL[n.type] || n.type, title: nodeTitle(n), detail: nodeDetail(n), href: nodeHref(n),
      attrs: {class: `node-${n.type}`, 'data-node-type': n.type, 'data-node-id': n.id}})});
  const byId = new Map(L.nodes.map((n) => [n.id, n]));
  const name = (id) => { const n = byId.get(id); return n ? `${TYPE_LABEL[n.type] || n.type} ${nodeTitle(n)}` : id; };
  return h('figure', {class: 'lineage-figure'},
    h('div', {class: 'lineage-scroll'}, svg),
    h('details', {}, h('summary', {}, 'Lineage as a list'),
      h('ul', {id: 'lineage-list'}, L.edges.map((e) => h('li', {}, `${name(e.source)} — ${e.type.replace(/_/g, ' ')} → ${name(e.target)}`)))));
}
