// dag.js - a directed acyclic graph as an SVG picture, laid out left to
// right by levels: a node's column is the longest path to it from a source,
// so every edge points right. Nodes are boxes of three lines (kind, title,
// detail) and links where they have an href, focusable with names a screen
// reader can say. Drawn by the lineage graph (lineage.js) and the pipeline
// page (pages/pipelines.js).
import {s} from './dom.js';

const NODE_W = 190, NODE_H = 58, GAP_X = 70, GAP_Y = 22;

// graph: {nodes: [{id, ...}], edges: [{source, target, type?}]}; order
// sorts the nodes of one column, top to bottom.
export function layout(graph, order) {
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
    c.sort(order);
    const top = (height - c.length * (NODE_H + GAP_Y) + GAP_Y) / 2;
    c.forEach((n, ri) => pos.set(n.id, {x: 16 + ci * (NODE_W + GAP_X), y: top + ri * (NODE_H + GAP_Y)}));
  });
  const width = 32 + cols.length * NODE_W + Math.max(0, cols.length - 1) * GAP_X;
  return {nodes, edges: edges.filter((e) => pos.has(e.source) && pos.has(e.target)), pos, width, height};
}

const cut = (t, n) => (t.length > n ? t.slice(0, n - 1) + '…' : t);

// The SVG of a layout L: id and cls name it, label says what it shows, and
// box(n) describes a node: {kind, title, detail, href, attrs} (attrs go on
// the node's group: its class, data- attributes).
export function dagSvg(L, {id, cls, label, box}) {
  const svg = s('svg', {viewBox: `0 0 ${L.width} ${L.height}`, class: cls, id, role: 'group', 'aria-label': label, style: `max-width:${L.width}px`});
  svg.append(s('defs', {}, s('marker', {id: `${id}-arrow`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
    s('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head'}))));
  for (const e of L.edges) {
    const a = L.pos.get(e.source), b = L.pos.get(e.target);
    const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
    const mx = (x1 + x2) / 2;
    svg.append(s('path', {class: 'edge', d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}`, 'marker-end': `url(#${id}-arrow)`,
      'data-type': e.type, 'data-source': e.source, 'data-target': e.target},
    s('title', {}, `${e.source} ${e.type || '→'} ${e.target}`)));
    if (e.type) svg.append(s('text', {class: 'edge-label', x: mx, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle'}, e.type.replace(/_/g, ' ')));
  }
  for (const n of L.nodes) {
    const p = L.pos.get(n.id), b = box(n);
    const g = s('g', {...b.attrs, class: ['node', b.attrs && b.attrs.class], transform: `translate(${p.x},${p.y})`},
      s('rect', {width: NODE_W, height: NODE_H, rx: 8}),
      s('text', {x: 10, y: 16, class: 'node-type'}, b.kind.toUpperCase()),
      s('text', {x: 10, y: 34, class: 'node-title'}, cut(b.title, 24)),
      b.detail ? s('text', {x: 10, y: 50, class: 'node-detail'}, cut(b.detail, 30)) : null,
      s('title', {}, `${b.kind}: ${b.title}${b.detail ? ` (${b.detail})` : ''}`));
    svg.append(b.href ? s('a', {href: b.href, 'aria-label': `${b.kind} ${b.title}`}, g) : g);
  }
  return svg;
}
