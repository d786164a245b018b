// main.js - the router. Every page lives at a hash URL (#/experiments/1/runs?
// filter=...), so any view can be bookmarked or shared while the server only
// serves "/" and the asset files. A navigation aborts the previous page's
// requests, so a slow answer never paints over a newer page.
import {h, replace, errorBox} from './dom.js';
import {parseHash} from './nav.js';
import * as experiments from './pages/experiments.js';
import * as runs from './pages/runs.js';
import * as run from './pages/run.js';
import * as compare from './pages/compare.js';
import * as models from './pages/models.js';
import * as datasets from './pages/datasets.js';
import * as pipelines from './pages/pipelines.js';
import * as deployments from './pages/deployments.js';
import * as monitoring from './pages/monitoring.js';
import * as review from './pages/review.js';

const routes = [
  [/^\/?$/, () => { location.replace('#/experiments'); return null; }],
  [/^\/experiments$/, experiments.render, 'experiments'],
  [/^\/experiments\/([^/]+)(?:\/runs)?$/, runs.render, 'experiments'],
  [/^\/runs\/([0-9a-fA-F]{1,64})$/, run.render, 'experiments'],
  // MLflow's own run links (the mlflow client prints them): #/experiments/1/runs/<id>
  [/^\/experiments\/[^/]+\/runs\/([0-9a-fA-F]{1,64})$/, run.render, 'experiments'],
  [/^\/compare$/, compare.render, 'experiments'],
  [/^\/pipelines$/, pipelines.renderList, 'pipelines'],
  [/^\/pipelines\/([0-9a-fA-F]{1,64})$/, pipelines.renderRun, 'pipelines'],
  [/^\/datasets$/, datasets.renderList, 'datasets'],
  [/^\/datasets\/([^/]+)$/, datasets.renderDataset, 'datasets'],
  [/^\/datasets\/([^/]+)\/diff\/([^/]+)\/([^/]+)$/, datasets.renderDiff, 'datasets'],
  [/^\/datasets\/([^/]+)\/([^/]+)$/, datasets.renderVersion, 'datasets'],
  [/^\/models$/, models.renderList, 'models'],
  [/^\/models\/([^/]+)$/, models.renderModel, 'models'],
  [/^\/models\/([^/]+)\/versions\/([^/]+)$/, models.renderVersion, 'models'],
  [/^\/deployments$/, deployments.renderList, 'deployments'],
  [/^\/deployments\/([^/]+)$/, deployments.renderOne, 'deployments'],
  [/^\/deployments\/([^/]+)\/monitoring$/, monitoring.render, 'deployments'],
  [/^\/deployments\/([^/]+)\/review$/, review.render, 'deployments'],
];

let current = null; // {controller, cleanup}
let first = true;

async function route() {
  if (current) {
    current.controller.abort();
    if (current.cleanup) try { current.cleanup(); } catch { /* page already gone */ }
  }
  const controller = new AbortController();
  current = {controller, cleanup: null};
  const {path, params} = parseHash();
  const main = document.getElementById('main');
  let match = null, section = '';
  for (const [re, fn, sec] of routes) {
    const m = path.match(re);
    if (m) { match = [fn, m.slice(1).map(decodeURIComponent)]; section = sec; break; }
  }
  for (const a of document.querySelectorAll('header nav a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!match) {
    replace(main, h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, path), '. ', h('a', {href: '#/experiments'}, 'Go to experiments')));
    return;
  }
  const [fn, args] = match;
  const ctx = {
    signal: controller.signal,
    params,
    onCleanup: (f) => { current.cleanup = f; },
    setTitle: (t) => { document.title = t ? `${t} · Capstan` : 'Capstan'; },
  };
  // After a link is followed, start at the top and move focus to the new
  // page's content so keyboard and screen-reader users land on it.
  if (!first) {
    window.scrollTo(0, 0);
    main.focus({preventScroll: true});
  }
  first = false;
  try {
    await fn(main, args, ctx);
  } catch (e) {
    if (e.name === 'AbortError' || controller.signal.aborted) return;
    console.error(e);
    main.append(errorBox(e));
  }
}

// A hash change that only rewrites the query of the same page can be handled
// by the page itself (pages set ctx.onParams), avoiding a full re-render.
window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', () => {
  route();
  fetch('/version').then((r) => (r.ok ? r.text() : '')).then((v) => {
    if (v) document.getElementById('server-version').textContent = `v${v.trim()}`;
  }).catch(() => {});
});
