// deployments.js - what the serving layer is running: each deployment's
// traffic split (primary / canary weight / shadow), the versions behind its
// model references, live request rate and latency computed from two scrapes
// of the server's own /metrics a few seconds apart, and promote / rollback
// with a confirmation dialog.
import {h, s, replace, fmtTime, fmtNum, badge, errorBox, loading, toast} from '../dom.js';
import {api} from '../api.js';
import {parseProm, deploymentStats} from '../prom.js';
import {lineChart} from '../chart.js';

const enc = encodeURIComponent;
const SCRAPE_MS = 5000;

function noServing(e) {
  if (e && (e.status === 404 || e.code === 'ENDPOINT_NOT_FOUND')) {
    return h('p', {class: 'muted', id: 'no-serving'}, 'This server does not run the serving API (no /api/2.0/capstan/deployments).');
  }
  return errorBox(e);
}

function stateBadge(d) {
  const st = (d.status && d.status.state) || 'UNKNOWN';
  return badge(st, {READY: 'ready', LOADING: 'pending', FAILED: 'failed', DEGRADED: 'degraded'}[st] || 'unknown');
}

export async function renderList(main, _args, ctx) {
  ctx.setTitle('Deployments');
  const body = h('div', {}, loading('deployments'));
  replace(main, h('h1', {}, 'Deployments'), body);
  let list;
  try { list = (await api.get('capstan/deployments', {}, ctx.signal)).deployments || []; } catch (e) {
    if (e.name !== 'AbortError') body.replaceChildren(noServing(e));
    return;
  }
  body.replaceChildren(list.length ? h('table', {class: 'grid-table', id: 'deployments-table'},
    h('caption', {class: 'sr-only'}, `${list.length} deployments`),
    h('thead', {}, h('tr', {}, ['Name', 'State', 'Model', 'Canary', 'Shadow', 'Updated'].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, list.map((d) => h('tr', {},
      h('th', {scope: 'row'}, h('a', {href: `#/deployments/${enc(d.name)}`}, d.name)),
      h('td', {}, stateBadge(d)),
      h('td', {class: 'mono'}, d.model || ''),
      h('td', {class: 'mono'}, d.canary ? `${d.canary} (${d.canary_weight || 0}%)` : '—'),
      h('td', {class: 'mono'}, d.shadow || '—'),
      h('td', {}, fmtTime(d.updated_at)))))) : h('p', {class: 'muted'}, 'No deployments.'));
}

function splitBar(d) {
  const w = d.canary ? Math.max(0, Math.min(100, Number(d.canary_weight) || 0)) : 0;
  const parts = [[d.model, 100 - w, 'primary'], ...(d.canary ? [[d.canary, w, 'canary']] : [])];
  let x = 0;
  const svg = s('svg', {viewBox: '0 0 400 34', class: 'split', role: 'img', id: 'traffic-split',
    'aria-label': `Traffic: ${parts.map(([m, p, r]) => `${r} ${m} ${p}%`).join(', ')}${d.shadow ? `; shadow copy to ${d.shadow}` : ''}`});
  for (const [m, p, role] of parts) {
    if (p <= 0) continue;
    svg.append(s('rect', {x: x * 4, y: 0, width: p * 4, height: 34, class: `split-${role}`}),
      s('text', {x: x * 4 + 8, y: 21, class: 'split-label'}, `${role} ${p}%`), s('title', {}, `${m}: ${p}%`));
    x += p;
  }
  return h('figure', {class: 'split-fig'}, svg,
    h('figcaption', {}, parts.map(([m, p, role]) => `${role}: ${m} (${p}%)`).join(' · '), d.shadow ? ` · shadow: ${d.shadow} (copies, answers discarded)` : ''));
}

function confirmDialog(title, text) {
  return new Promise((resolve) => {
    const dlg = h('dialog', {class: 'confirm', 'aria-labelledby': 'dlg-title'},
      h('h2', {id: 'dlg-title'}, title), h('p', {}, text));
    const ok = h('button', {type: 'button', id: 'confirm-ok', class: 'danger'}, 'Confirm');
    const cancel = h('button', {type: 'button', class: 'secondary'}, 'Cancel');
    dlg.append(h('div', {class: 'row-end'}, cancel, ok));
    document.body.append(dlg);
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    dlg.showModal();
    cancel.focus();
  });
}

export async function renderOne(main, [name], ctx) {
  ctx.setTitle(name);
  replace(main, loading('deployment'));
  let d;
  try { d = (await api.get(`capstan/deployments/${enc(name)}`, {}, ctx.signal)).deployment; } catch (e) {
    if (e.name === 'AbortError') return;
    replace(main, h('nav', {class: 'crumbs'}, h('a', {href: '#/deployments'}, 'Deployments'), ' / ', name), noServing(e));
    return;
  }
  const st = d.status || {};
  const versionCell = (m) => (m && m.name ? h('a', {href: `#/models/${enc(m.name)}/versions/${enc(m.version)}`}, `${m.name} v${m.version}`) : '—');
  const roles = [['primary', d.model], ['canary', d.canary], ['shadow', d.shadow], ['previous', null]].filter(([r, ref]) => ref || st[r]);
  // Promote: the canary takes all traffic, or a rolled-back deployment goes
  // forward again to the model it was pinned from. Roll back: drop the canary,
  // or return to the previous version (what the serving API does).
  const canPromote = !!(d.canary || d.pinned_from);
  const canRollback = !!(d.canary || st.previous);
  const action = async (verb) => {
    const text = verb === 'promote'
      ? (d.canary
        ? `Send all of ${name}'s traffic to ${d.canary} (now the canary at ${d.canary_weight || 0}%)? ${d.model} becomes the version to roll back to.`
        : `Send ${name}'s traffic back to ${d.pinned_from}? It was rolled back from it.`)
      : (d.canary
        ? `Stop the canary ${d.canary} and send all of ${name}'s traffic to ${d.model}?`
        : `Return ${name} to its previous version${st.previous ? ` (${st.previous.name} v${st.previous.version})` : ''}?`);
    if (!(await confirmDialog(verb === 'promote' ? 'Promote canary' : 'Roll back', text))) return;
    try {
      await api.post(`capstan/deployments/${enc(name)}/${verb}`, {}, ctx.signal);
      toast(verb === 'promote' ? 'Promoted.' : 'Rolled back.');
      document.body.dataset.deploymentAction = verb;
      // Re-route: the router stops this page's polling and draws it afresh.
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    } catch (e) { if (e.name !== 'AbortError') toast(`${verb} failed: ${e.message}`); }
  };
  const live = h('div', {id: 'live-stats', 'aria-live': 'polite'}, h('p', {class: 'muted'}, `Measuring: two scrapes of /metrics ${SCRAPE_MS / 1000} s apart…`));
  const rateChart = h('div', {id: 'rate-chart'});
  replace(main,
    h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('a', {href: '#/deployments'}, 'Deployments'), ' / ', name),
    h('div', {class: 'title-row'}, h('h1', {}, name), stateBadge(d),
      h('span', {class: 'spacer'}),
      h('button', {type: 'button', id: 'promote-button', disabled: !canPromote, onclick: () => action('promote')}, d.canary || !d.pinned_from ? 'Promote canary…' : 'Promote again…'),
      h('button', {type: 'button', id: 'rollback-button', class: 'secondary', disabled: !canRollback, onclick: () => action('rollback')}, d.canary ? 'Stop canary…' : 'Roll back…')),
    st.message ? h('p', {class: st.state === 'FAILED' ? 'error' : 'muted'}, st.message) : null,
    d.pinned_from ? h('p', {class: 'muted', id: 'pinned-note'}, `Rolled back from ${d.pinned_from}: the model reference is pinned until promoted again.`) : null,
    h('dl', {class: 'facts'}, h('dt', {}, 'Created'), h('dd', {}, fmtTime(d.created_at)), h('dt', {}, 'Updated'), h('dd', {}, fmtTime(d.updated_at)),
      h('dt', {}, 'Monitoring'), h('dd', {}, h('a', {href: `#/deployments/${enc(name)}/monitoring`, id: 'monitoring-link'}, 'Drift, data quality and alerts')),
      h('dt', {}, 'Review'), h('dd', {}, h('a', {href: `#/deployments/${enc(name)}/review`, id: 'review-link'}, 'Predictions queued for human review'))),
    h('section', {class: 'card', 'aria-labelledby': 'split-h'}, h('h2', {id: 'split-h'}, 'Traffic split'), splitBar(d)),
    h('section', {class: 'card', 'aria-labelledby': 'ver-h'}, h('h2', {id: 'ver-h'}, 'Versions'),
      h('table', {class: 'grid-table', id: 'deployment-versions'},
        h('thead', {}, h('tr', {}, ['Role', 'Reference', 'Version', 'Ready', 'Error'].map((c) => h('th', {scope: 'col'}, c)))),
        h('tbody', {}, roles.map(([role, ref]) => {
          const m = st[role];
          return h('tr', {}, h('th', {scope: 'row'}, role), h('td', {class: 'mono'}, ref || '—'), h('td', {}, versionCell(m)),
            h('td', {}, m ? (m.ready ? badge('ready') : badge('not ready', 'pending')) : '—'), h('td', {class: 'wrap'}, (m && m.error) || ''));
        })))),
    h('section', {class: 'card', 'aria-labelledby': 'live-h'}, h('h2', {id: 'live-h'}, 'Live traffic'), live, rateChart));

  // Rates need two scrapes; keep sampling while the page is open.
  let prev = null;
  const history = new Map(); // "model vN" -> [[t, rps]]
  const scrape = async () => {
    try {
      const r = await api.raw('/metrics', ctx.signal);
      const now = Date.now();
      const samples = parseProm(await r.text());
      if (prev) {
        const stats = deploymentStats(prev.samples, samples, now - prev.t, name);
        drawStats(stats, now);
      }
      prev = {t: now, samples};
    } catch (e) {
      if (e.name !== 'AbortError') live.replaceChildren(h('p', {class: 'muted'}, `No metrics: ${e.message}`));
    }
  };
  const drawStats = (stats, now) => {
    if (!stats.length) { live.replaceChildren(h('p', {class: 'muted', id: 'no-traffic'}, 'No requests recorded for this deployment yet.')); return; }
    const ms = (v) => (isFinite(v) ? `${fmtNum(Math.round(v * 1e5) / 100)} ms` : '—');
    live.replaceChildren(h('table', {class: 'grid-table', id: 'live-table'},
      h('caption', {class: 'sr-only'}, 'Requests per second and latency over the last interval'),
      h('thead', {}, h('tr', {}, ['Model', 'Version', 'Requests/s', 'Errors/s', 'Mean', 'p50', 'p95'].map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', {}, stats.map((x) => h('tr', {}, h('td', {}, x.model), h('td', {}, x.version),
        h('td', {class: 'num'}, isFinite(x.rps) ? x.rps.toFixed(2) : '—'), h('td', {class: 'num'}, isFinite(x.errorRps) ? x.errorRps.toFixed(2) : '—'),
        h('td', {class: 'num'}, ms(x.mean)), h('td', {class: 'num'}, ms(x.p50)), h('td', {class: 'num'}, ms(x.p95)))))));
    for (const x of stats) {
      const k = `${x.model} v${x.version}`;
      if (!history.has(k)) history.set(k, []);
      if (isFinite(x.rps)) history.get(k).push([now, x.rps]);
      if (history.get(k).length > 120) history.get(k).shift();
    }
    rateChart.replaceChildren(lineChart({title: 'Requests per second', xKind: 'time', xLabel: 'time',
      series: [...history].map(([n, pts]) => ({name: n, points: pts})), width: 760, height: 220}));
  };
  await scrape();
  const timer = setInterval(scrape, SCRAPE_MS);
  ctx.onCleanup(() => clearInterval(timer));
}
