// lineage.js - draws a model version's lineage graph (GET /api/2.0/capstan/
// lineage?format=graph) as an SVG picture: a layered layout, left to right,
// where a node's column is the longest path to it from a source, so data and
// code come first, then the run, the logged model, the version, and what
// serves or registers it. Nodes are links (focusable, with names a screen
// reader can say); a list of the same edges follows for anyone who cannot
// use the picture.
import {h, s, fmtTime, fmtBytes} from './dom.js';
import {datasetHref} from './nav.js';

const NODE_W = 190, NODE_H = 58, GAP_X = 70, GAP_Y = 22;
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

export function layout(graph) {
  const nodes = graph.nodes || [], edges = (graph.edges || []).filter((e) => e.source !== e.target);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const rank = new Map(nodes.map((n) => [n.id, 0]));
  // Longest path ranks; the graph is a DAG, but a bound keeps a cycle from looping.
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const e of edges) {
      if (!byId.has(e.source) || !byId.has(e.target)) continue;
      const r = rank.get(e.source) + 1;
      if (r > rank.get(e.target)) { rank.set(e.target, r); changed = true; }
    }
    if (!changed) break;
  }
  const cols = [];
  for (const n of nodes) (cols[rank.get(n.id)] ||= []).push(n);
  const pos = new Map();
  const maxRows = Math.max(...cols.map((c) => (c ? c.length : 0)), 1);
  const height = maxRows * (NODE_H + GAP_Y) + GAP_Y;
  cols.forEach((c, ci) => {
    if (!c) return;
    c.sort((a, b) => TYPE_ORDER.indexOf(a.type) - TYPE_ORDER.indexOf(b.type) || nodeTitle(a).localeCompare(nodeTitle(b)));
    const top = (height - c.length * (NODE_H + GAP_Y) + GAP_Y) / 2;
    c.forEach((n, ri) => pos.set(n.id, {x: 16 + ci * (NODE_W + GAP_X), y: top + ri * (NODE_H + GAP_Y)}));
  });
  const width = 32 + cols.length * NODE_W + Math.max(0, cols.length - 1) * GAP_X;
  return {nodes, edges: edges.filter((e) => pos.has(e.source) && pos.has(e.target)), pos, width, height};
}

export function lineageGraph(graph) {
  const L = layout(graph);
  const svg = s('svg', {viewBox: `0 0 ${L.width} ${L.height}`, class: 'lineage', id: 'lineage-graph', role: 'group',
    'aria-label': `Lineage graph with ${L.nodes.length} nodes and ${L.edges.length} edges`, style: `max-width:${L.width}px`});
  svg.append(s('defs', {}, s('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
    s('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head'}))));
  for (const e of L.edges) {
    const a = L.pos.get(e.source), b = L.pos.get(e.target);
    const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
    const mx = (x1 + x2) / 2;
    svg.append(s('path', {class: 'edge', d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}`, 'marker-end': 'url(#arrow)', 'data-type': e.type},
      s('title', {}, `${e.source} ${e.type} ${e.target}`)));
    if (e.type) svg.append(s('text', {class: 'edge-label', x: mx, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle'}, e.type.replace(/_/g, ' ')));
  }
  for (const n of L.nodes) {
    const p = L.pos.get(n.id);
    const title = nodeTitle(n), detail = nodeDetail(n);
    const g = s('g', {class: `node node-${n.type}`, transform: `translate(${p.x},${p.y})`, 'data-node-type': n.type, 'data-node-id': n.id},
      s('rect', {width: NODE_W, height: NODE_H, rx: 8}),
      s('text', {x: 10, y: 16, class: 'node-type'}, (TYPE_LABEL[n.type] || n.type).toUpperCase()),
      s('text', {x: 10, y: 34, class: 'node-title'}, title.length > 24 ? title.slice(0, 23) + '…' : title),
      detail ? s('text', {x: 10, y: 50, class: 'node-detail'}, detail.length > 30 ? detail.slice(0, 29) + '…' : detail) : null,
      s('title', {}, `${TYPE_LABEL[n.type] || n.type}: ${title}${detail ? ` (${detail})` : ''}`));
    const href = nodeHref(n);
    svg.append(href ? s('a', {href, 'aria-label': `${TYPE_LABEL[n.type] || n.type} ${title}`}, g) : g);
  }
  const byId = new Map(L.nodes.map((n) => [n.id, n]));
  const name = (id) => { const n = byId.get(id); return n ? `${TYPE_LABEL[n.type] || n.type} ${nodeTitle(n)}` : id; };
  return h('figure', {class: 'lineage-figure'},
    h('div', {class: 'lineage-scroll'}, svg),
    h('details', {}, h('summary', {}, 'Lineage as a list'),
      h('ul', {id: 'lineage-list'}, L.edges.map((e) => h('li', {}, `${name(e.source)} — ${e.type.replace(/_/g, ' ')} → ${name(e.target)}`)))));
}
