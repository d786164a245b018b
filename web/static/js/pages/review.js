// review.js - a deployment's human review queue (#/deployments/NAME/review):
// the queued predictions, the current one's inputs, prediction and
// probabilities, a label picker, and who labelled what and when. Keyboard:
// a digit picks that class, Enter gives the picked label, j / k the next /
// previous item, s skips. The reviewer's name is kept in localStorage. From
// /api/2.0/capstan/review (api/review.c; items as feedback/review.c queues
// them); a label given here is feedback like any other.
import {h, replace, fmtTime, fmtNum, badge, errorBox, loading, toast} from '../dom.js';
import {api} from '../api.js';
import {setParams} from '../nav.js';

const enc = encodeURIComponent;
const REVIEWER_KEY = 'capstan.reviewer';
const STATUSES = [['pending', 'Pending'], ['labelled', 'Labelled'], ['skipped', 'Skipped'], ['all', 'All']];

function probabilities(item) {
  const p = item.probabilities || {};
  return h('table', {class: 'grid-table', id: 'review-probabilities'},
    h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Class'), h('th', {scope: 'col'}, 'Probability'))),
    h('tbody', {}, Object.entries(p).map(([k, v]) => h('tr', {dataset: {class: k}},
      h('th', {scope: 'row', class: 'mono'}, k), h('td', {class: 'num'}, fmtNum(v))))));
}

function inputs(item) {
  return h('table', {class: 'grid-table', id: 'review-inputs'},
    h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Input'), h('th', {scope: 'col'}, 'Value'))),
    h('tbody', {}, Object.entries(item.inputs || {}).map(([k, v]) => h('tr', {},
      h('th', {scope: 'row', class: 'mono'}, k), h('td', {class: 'num'}, typeof v === 'number' ? fmtNum(v) : String(v))))));
}

// The classes a reviewer picks from: the probability columns, else the prediction.
const classesOf = (item) => (item.probabilities ? Object.keys(item.probabilities) : [String(item.prediction)]);

function listView(items, current, onPick) {
  if (!items.length) return h('p', {class: 'muted', id: 'review-empty'}, 'Nothing to review here.');
  return h('table', {class: 'grid-table', id: 'review-queue'},
    h('thead', {}, h('tr', {}, ['Row', 'Reason', 'Prediction', 'Status', 'Label', 'By', 'When'].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, items.map((it, i) => {
      const tr = h('tr', {dataset: {id: it.id}, class: i === current ? 'selected' : '', 'aria-selected': String(i === current)},
        h('td', {class: 'mono'}, it.id), h('td', {}, it.reason), h('td', {}, String(it.prediction)),
        h('td', {}, badge(it.status, it.status === 'labelled' ? 'ready' : it.status === 'skipped' ? '' : 'failed')),
        h('td', {}, it.label || ''), h('td', {}, it.reviewer || ''), h('td', {}, it.labelled_at ? fmtTime(it.labelled_at) : ''));
      tr.addEventListener('click', () => onPick(i));
      return tr;
    })));
}

export async function render(main, [name], ctx) {
  ctx.setTitle(`${name} · Review`);
  const signal = ctx.signal;
  let status = STATUSES.find(([k]) => k === ctx.params.get('status'))?.[0] || 'pending';
  let items = [], current = 0, picked = null, pending = 0;
  const reviewer = h('input', {id: 'reviewer', type: 'text', placeholder: 'your name', value: localStorage.getItem(REVIEWER_KEY) || ''});
  reviewer.addEventListener('change', () => localStorage.setItem(REVIEWER_KEY, reviewer.value));
  const box = {list: h('div', {id: 'review-list'}), item: h('div', {id: 'review-item', 'aria-live': 'polite'}),
    count: h('span', {class: 'muted', id: 'review-count'})};

  const draw = () => {
    replace(box.list, listView(items, current, (i) => { current = i; picked = null; draw(); }));
    box.count.textContent = `${fmtNum(pending)} pending`;
    const it = items[current];
    if (!it) { replace(box.item); return; }
    const classes = classesOf(it);
    replace(box.item,
      h('h2', {}, 'Row ', h('span', {class: 'mono', id: 'review-current'}, it.id)),
      h('p', {}, 'Prediction ', h('strong', {id: 'review-prediction'}, String(it.prediction)), ` · ${it.reason} · model v${it.model_version} · ${fmtTime(it.pred_ms)}`),
      it.status === 'labelled' ? h('p', {id: 'review-done'}, `Labelled ${it.label} by ${it.reviewer} at ${fmtTime(it.labelled_at)}`) : null,
      h('div', {class: 'chart-grid'}, inputs(it), it.probabilities ? probabilities(it) : null),
      h('div', {class: 'toolbar', id: 'review-picker', role: 'group', 'aria-label': 'Label'},
        classes.map((c, i) => h('button', {type: 'button', class: picked === c ? '' : 'secondary', dataset: {class: c},
          'aria-pressed': String(picked === c), onclick: () => { picked = c; draw(); }}, i < 10 ? `${c} (${i})` : c)),
        h('button', {type: 'button', id: 'review-submit', disabled: picked === null, onclick: submit}, 'Label (Enter)'),
        h('button', {type: 'button', class: 'secondary', id: 'review-skip', onclick: skip}, 'Skip (s)')));
  };

  const load = async () => {
    replace(box.list, loading('review queue'));
    try {
      const out = await api.get('capstan/review/queue', {deployment: name, status, max_results: 1000}, signal);
      items = out.items || [];
      pending = out.pending || 0;
      current = Math.min(current, Math.max(0, items.length - 1));
      picked = null;
      draw();
    } catch (e) {
      if (e.name !== 'AbortError') replace(box.list, errorBox(e));
    }
  };

  async function answer(path, extra) {
    const it = items[current];
    if (!it) return;
    if (!reviewer.value) { toast('Give your name first (the Reviewer field).'); reviewer.focus(); return; }
    localStorage.setItem(REVIEWER_KEY, reviewer.value);
    try {
      await api.post(`capstan/review/${path}`, {deployment: name, id: it.id, reviewer: reviewer.value, ...extra}, signal);
      await load();
    } catch (e) {
      if (e.name !== 'AbortError') toast(e.message);
    }
  }
  function submit() {
    if (picked === null) return;
    const n = Number(picked);
    answer('label', {label: Number.isInteger(n) && String(n) === picked ? n : picked});
  }
  function skip() { answer('skip', {}); }

  const onKey = (e) => {
    if (e.target === reviewer || !items.length || e.ctrlKey || e.metaKey || e.altKey) return;
    const classes = classesOf(items[current]);
    if (/^[0-9]$/.test(e.key) && Number(e.key) < classes.length) { picked = classes[Number(e.key)]; draw(); }
    else if (e.key === 'Enter') submit();
    else if (e.key === 'j') { current = Math.min(items.length - 1, current + 1); picked = null; draw(); }
    else if (e.key === 'k') { current = Math.max(0, current - 1); picked = null; draw(); }
    else if (e.key === 's') skip();
    else return;
    e.preventDefault();
  };
  document.addEventListener('keydown', onKey);
  signal.addEventListener('abort', () => document.removeEventListener('keydown', onKey));

  const statusPicker = h('select', {id: 'review-status'}, STATUSES.map(([k, t]) => h('option', {value: k, selected: k === status}, t)));
  statusPicker.addEventListener('change', () => { status = statusPicker.value; setParams({status}); current = 0; load(); });
  replace(main,
    h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('a', {href: '#/deployments'}, 'Deployments'), ' / ',
      h('a', {href: `#/deployments/${enc(name)}`}, name), ' / Review'),
    h('div', {class: 'title-row'}, h('h1', {}, `${name} · Review`)),
    h('div', {class: 'toolbar'}, h('label', {class: 'inline-field'}, 'Reviewer', reviewer),
      h('label', {class: 'inline-field'}, 'Show', statusPicker), box.count,
      h('span', {class: 'muted'}, 'Keys: 0-9 pick a class, Enter labels, j / k next / previous, s skips')),
    h('section', {class: 'card'}, box.item),
    h('section', {class: 'card', 'aria-label': 'Queue'}, box.list));
  await load();
}
