// artifacts.js - a run's artifact browser: a lazily expanded tree (one
// artifacts/list call per opened folder) and a preview of the chosen file:
// text, JSON (pretty), CSV (table), images (from a blob: URL, so an SVG's
// scripts never run) and MLmodel (a summary of flavors and signature above
// the raw file). HTML is shown as source, never rendered.
import {h, replace, fmtBytes, errorBox, loading} from './dom.js';
import {api} from './api.js';
import {parseYaml} from './yaml.js';
import {setParams} from './nav.js';

const TEXT_EXT = /\.(txt|log|md|py|yaml|yml|toml|ini|cfg|sh|sql|html?|xml|js|ts|r|ipynb|tsv|out|err|conf|properties|dockerfile|gitignore)$/i;
const IMG_EXT = /\.(png|jpe?g|gif|svg|webp|bmp|ico)$/i;
const PREVIEW_LIMIT = 4 << 20;

export function kindOf(path) {
  const base = path.split('/').pop();
  if (base === 'MLmodel') return 'mlmodel';
  if (/\.json$/i.test(base)) return 'json';
  if (/\.csv$/i.test(base)) return 'csv';
  if (IMG_EXT.test(base)) return 'image';
  if (TEXT_EXT.test(base) || /^(requirements|LICENSE|README|Dockerfile|MLproject|conda|python_env)/.test(base)) return 'text';
  return 'binary';
}

export function artifactUrl(runId, path) {
  return `/get-artifact?${new URLSearchParams({path, run_uuid: runId})}`;
}

export function browser(runId, signal, initial) {
  const tree = h('ul', {class: 'tree', role: 'tree', 'aria-label': 'Artifacts'});
  const preview = h('section', {class: 'preview', id: 'artifact-preview', 'aria-label': 'Artifact preview', 'aria-live': 'polite'},
    h('p', {class: 'muted'}, 'Choose a file to preview it.'));
  const root = h('div', {class: 'artifacts'}, h('div', {class: 'tree-pane'}, tree), preview);
  let objectUrl = null;

  async function list(path) {
    const r = await api.get('mlflow/artifacts/list', {run_id: runId, path: path || undefined}, signal);
    return (r.files || []).sort((a, b) => (b.is_dir - a.is_dir) || a.path.localeCompare(b.path));
  }

  function item(f, level) {
    const name = f.path.split('/').pop();
    const li = h('li', {role: 'treeitem', 'aria-level': level, 'data-path': f.path});
    if (f.is_dir) {
      const kids = h('ul', {role: 'group', hidden: true});
      const btn = h('button', {type: 'button', class: 'tree-dir', 'aria-expanded': 'false'}, h('span', {'aria-hidden': 'true', class: 'caret'}, '▸ '), name + '/');
      let loaded = false;
      btn.addEventListener('click', async () => {
        const open = btn.getAttribute('aria-expanded') !== 'true';
        btn.setAttribute('aria-expanded', String(open));
        btn.firstChild.textContent = open ? '▾ ' : '▸ ';
        kids.hidden = !open;
        if (open && !loaded) {
          loaded = true;
          kids.replaceChildren(h('li', {class: 'muted'}, 'Loading…'));
          try {
            const files = await list(f.path);
            kids.replaceChildren(...(files.length ? files.map((c) => item(c, level + 1)) : [h('li', {class: 'muted'}, '(empty)')]));
          } catch (e) { kids.replaceChildren(h('li', {}, errorBox(e))); }
        }
      });
      li.append(btn, kids);
    } else {
      const btn = h('button', {type: 'button', class: 'tree-file'}, name, h('span', {class: 'muted size'}, ` ${fmtBytes(f.file_size)}`));
      btn.addEventListener('click', () => {
        root.querySelectorAll('.tree-file[aria-current]').forEach((b) => b.removeAttribute('aria-current'));
        btn.setAttribute('aria-current', 'true');
        setParams({artifact: f.path});
        show(f);
      });
      li.append(btn);
    }
    return li;
  }

  async function show(f) {
    if (objectUrl) { URL.revokeObjectURL(objectUrl); objectUrl = null; }
    const url = artifactUrl(runId, f.path);
    const kind = kindOf(f.path);
    const head = h('div', {class: 'preview-head'}, h('h3', {}, f.path), h('a', {href: url, download: f.path.split('/').pop()}, 'Download'),
      h('span', {class: 'muted'}, ` ${fmtBytes(f.file_size)}`));
    if (kind === 'binary') return replace(preview, head, h('p', {class: 'muted'}, 'No preview for this file type.'));
    if (f.file_size > PREVIEW_LIMIT) return replace(preview, head, h('p', {class: 'muted'}, `Too large to preview (over ${fmtBytes(PREVIEW_LIMIT)}).`));
    replace(preview, head, loading('file'));
    try {
      const r = await api.raw(url, signal);
      let body;
      if (kind === 'image') {
        const blob = await r.blob();
        const type = /\.svg$/i.test(f.path) ? 'image/svg+xml' : blob.type;
        objectUrl = URL.createObjectURL(type === blob.type ? blob : new Blob([blob], {type}));
        body = h('img', {src: objectUrl, alt: f.path, class: 'artifact-image'});
      } else {
        const text = await r.text();
        body = kind === 'json' ? jsonView(text) : kind === 'csv' ? csvView(text) : kind === 'mlmodel' ? mlmodelView(text) : h('pre', {class: 'code'}, text);
      }
      replace(preview, head, body);
    } catch (e) {
      if (e.name !== 'AbortError') replace(preview, head, errorBox(e));
    }
  }

  (async () => {
    tree.replaceChildren(h('li', {class: 'muted'}, 'Loading…'));
    try {
      const files = await list('');
      tree.replaceChildren(...(files.length ? files.map((f) => item(f, 1)) : [h('li', {class: 'muted'}, 'This run has no artifacts.')]));
      // Deep link: open the folders on the way to ?artifact= and preview it.
      if (initial) {
        const parts = initial.split('/');
        for (let i = 1; i <= parts.length; i++) {
          const p = parts.slice(0, i).join('/');
          const li = [...tree.querySelectorAll('li[data-path]')].find((x) => x.dataset.path === p);
          if (!li) break;
          const b = li.querySelector(':scope > button');
          if (i < parts.length) {
            if (b.getAttribute('aria-expanded') !== 'true') {
              b.click();
              for (let t = 0; t < 100 && li.querySelector(':scope > ul > li.muted'); t++) await new Promise((res) => setTimeout(res, 20));
            }
          } else b.click();
        }
      }
    } catch (e) {
      if (e.name !== 'AbortError') tree.replaceChildren(h('li', {}, errorBox(e)));
    }
  })();
  return root;
}

export function jsonView(text) {
  try {
    return h('pre', {class: 'code json'}, JSON.stringify(JSON.parse(text), null, 2));
  } catch (e) {
    return h('div', {}, h('p', {class: 'field-error'}, `Not valid JSON: ${e.message}`), h('pre', {class: 'code'}, text));
  }
}

// RFC 4180 fields: quotes, doubled quotes, separators and newlines in quotes.
export function parseCsv(text, maxRows = 500) {
  const rows = [];
  let row = [], field = '', q = false;
  for (let i = 0; i < text.length && rows.length < maxRows; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') q = false; else field += c;
    } else if (c === '"') q = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if ((field || row.length) && rows.length < maxRows) { row.push(field); rows.push(row); }
  return rows;
}

export function csvView(text) {
  const rows = parseCsv(text);
  if (!rows.length) return h('p', {class: 'muted'}, 'Empty file.');
  const [head, ...body] = rows;
  const more = text.split('\n').length - 1 > rows.length;
  return h('div', {class: 'table-wrap'}, h('table', {class: 'grid-table csv'},
    h('thead', {}, h('tr', {}, head.map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, body.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))),
  more ? h('p', {class: 'muted'}, `First ${rows.length - 1} rows shown.`) : null);
}

export function signatureTable(title, spec) {
  let cols = spec;
  if (typeof spec === 'string') { try { cols = JSON.parse(spec); } catch { return h('p', {}, `${title}: ${spec}`); } }
  if (!Array.isArray(cols)) return null;
  return h('table', {class: 'grid-table compact'}, h('caption', {}, title),
    h('thead', {}, h('tr', {}, ['Name', 'Type', 'Shape'].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, cols.map((c) => {
      const ts = c['tensor-spec'];
      return h('tr', {}, h('td', {class: 'mono'}, c.name || '(unnamed)'), h('td', {}, ts ? `tensor ${ts.dtype}` : c.type || ''),
        h('td', {class: 'mono'}, ts && ts.shape ? `[${ts.shape.join(', ')}]` : ''));
    })));
}

export function mlmodelView(text) {
  let doc = {};
  try { doc = parseYaml(text); } catch { /* raw text below still shows */ }
  const flavors = doc.flavors && typeof doc.flavors === 'object' ? Object.keys(doc.flavors) : [];
  const sig = doc.signature || {};
  return h('div', {class: 'mlmodel'},
    h('dl', {class: 'facts'},
      h('dt', {}, 'Flavors'), h('dd', {}, flavors.length ? flavors.join(', ') : '—'),
      doc.model_uuid ? [h('dt', {}, 'Model UUID'), h('dd', {class: 'mono'}, doc.model_uuid)] : null,
      doc.run_id ? [h('dt', {}, 'Run'), h('dd', {}, h('a', {href: `#/runs/${doc.run_id}`}, doc.run_id))] : null,
      doc.mlflow_version ? [h('dt', {}, 'MLflow version'), h('dd', {}, String(doc.mlflow_version))] : null,
      doc.utc_time_created ? [h('dt', {}, 'Created'), h('dd', {}, String(doc.utc_time_created))] : null),
    sig.inputs ? signatureTable('Signature inputs', sig.inputs) : null,
    sig.outputs ? signatureTable('Signature outputs', sig.outputs) : null,
    h('details', {open: true}, h('summary', {}, 'MLmodel file'), h('pre', {class: 'code'}, text)));
}
