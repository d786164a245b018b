// experiments.js - the experiment list with a name search (server-side:
// experiments/search with a LIKE filter), newest first.
import {h, replace, fmtTime, errorBox, loading} from '../dom.js';
import {api} from '../api.js';
import {setParams} from '../nav.js';

export async function render(main, _args, ctx) {
  ctx.setTitle('Experiments');
  const q = ctx.params.get('q') || '';
  const input = h('input', {type: 'search', id: 'exp-search', value: q, placeholder: 'Name contains…', autocomplete: 'off'});
  const body = h('div', {id: 'exp-list', 'aria-live': 'polite'}, loading('experiments'));
  const form = h('form', {class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); }},
    h('label', {for: 'exp-search'}, 'Search experiments'), input);
  replace(main, h('h1', {}, 'Experiments'), form, body);

  let seq = 0;
  const load = async (text) => {
    const mine = ++seq;
    const filter = text ? `name ILIKE '%${text.replace(/'/g, "''")}%'` : undefined;
    try {
      const out = [];
      let token;
      do {
        const r = await api.post('mlflow/experiments/search', {max_results: 1000, filter, order_by: ['creation_time DESC'], page_token: token}, ctx.signal);
        out.push(...(r.experiments || []));
        token = r.next_page_token;
      } while (token && out.length < 5000);
      if (mine !== seq) return;
      replace(body, table(out));
    } catch (e) {
      if (e.name !== 'AbortError' && mine === seq) replace(body, errorBox(e));
    }
  };
  let timer;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { setParams({q: input.value}); load(input.value); }, 200);
  });
  await load(q);
}

function table(exps) {
  if (!exps.length) return h('p', {class: 'muted'}, 'No experiments match.');
  return h('table', {class: 'grid-table', id: 'experiments-table'},
    h('caption', {class: 'sr-only'}, `${exps.length} experiments`),
    h('thead', {}, h('tr', {}, ['Name', 'ID', 'Created', 'Last updated', 'Artifact location'].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, exps.map((e) => h('tr', {},
      h('td', {}, h('a', {href: `#/experiments/${encodeURIComponent(e.experiment_id)}`}, e.name)),
      h('td', {class: 'mono'}, e.experiment_id),
      h('td', {}, fmtTime(e.creation_time)),
      h('td', {}, fmtTime(e.last_update_time)),
      h('td', {class: 'mono truncate', title: e.artifact_location}, e.artifact_location)))));
}
