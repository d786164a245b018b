// dom.js - tiny element builders and formatters shared by every page.
// Text always goes in as text nodes (never innerHTML), so values from the
// server (run names, params, artifact contents) cannot inject markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function put(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function h(tag, attrs, ...children) {
  return put(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return put(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

// A page's breadcrumb trail: [label, href] pairs for the links, then the
// current page's label.
export function crumbs(...parts) {
  const out = [];
  parts.forEach((p, i) => {
    if (i) out.push(' / ');
    out.push(Array.isArray(p) ? h('a', {href: p[1]}, p[0]) : p);
  });
  return h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, out);
}

// A table with one header row of column names; attrs.caption (read to
// screen readers only) and attrs.class (added to grid-table) are optional.
export function gridTable({caption, class: cls, ...attrs}, cols, rows) {
  return h('table', {...attrs, class: ['grid-table', cls]},
    caption ? h('caption', {class: 'sr-only'}, caption) : null,
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, rows));
}

// A titled card section; id names its heading (id-h) for aria-labelledby.
export function card(id, title, ...children) {
  return h('section', {class: 'card', id, 'aria-labelledby': `${id}-h`}, h('h2', {id: `${id}-h`}, title), children);
}

// ---- formatting -------------------------------------------------------------

export function fmtTime(ms) {
  if (ms === undefined || ms === null || ms === '') return '';
  const d = new Date(Number(ms));
  if (isNaN(d)) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtDuration(ms) {
  if (ms === undefined || ms === null || isNaN(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const sec = ms / 1000;
  if (sec < 60) return `${sec.toFixed(1)}s`;
  const m = Math.floor(sec / 60), r = Math.round(sec % 60);
  if (m < 60) return `${m}m ${r}s`;
  const hr = Math.floor(m / 60);
  return `${hr}h ${m % 60}m`;
}

export function fmtNum(v) {
  if (v === undefined || v === null || v === '') return '';
  const n = Number(v);
  if (!isFinite(n)) return String(v);
  if (Number.isInteger(n) && Math.abs(n) < 1e15) return String(n);
  const a = Math.abs(n);
  if (a !== 0 && (a < 1e-4 || a >= 1e9)) return n.toExponential(4);
  return String(Number(n.toPrecision(6)));
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  n = Number(n);
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

// The status words the server uses, as a small badge (text, not colour only).
export function badge(text, kind) {
  return h('span', {class: ['badge', `badge-${(kind || text || '').toLowerCase()}`]}, text);
}

export function toast(msg) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('show'), 4000);
}

// A message in place of content that could not load; role=alert so screen
// readers hear it.
export function errorBox(err) {
  return h('div', {class: 'error', role: 'alert'},
    h('strong', {}, err && err.code ? `${err.code}: ` : 'Error: '), err && err.message ? err.message : String(err));
}

export function loading(what) {
  return h('p', {class: 'loading', 'aria-busy': 'true'}, `Loading ${what}…`);
}

// Series colours: distinguishable, and the charts also use dash patterns and
// legends so colour is never the only cue.
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf',
  '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
