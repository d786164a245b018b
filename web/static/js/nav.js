// nav.js - hash URLs: read the current one, build links, rewrite the query.

// A dataset's page, or one version's (lineage graphs link to it too).
export function datasetHref(name, version) {
  return `#/datasets/${encodeURIComponent(name)}${version === undefined ? '' : `/${encodeURIComponent(version)}`}`;
}

export function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  return {path, params};
}

// Builds "#/path?k=v" from a params object (empty values dropped).
export function link(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const qs = q.toString();
  return `#${path}${qs ? `?${qs}` : ''}`;
}

// Changes the query of the current page without a new history entry.
export function setParams(update, {push = false} = {}) {
  const {path, params} = parseHash();
  for (const [k, v] of Object.entries(update)) {
    if (v === undefined || v === null || v === '') params.delete(k);
    else params.set(k, v);
  }
  const qs = params.toString();
  const url = `#${path}${qs ? `?${qs}` : ''}`;
  if (push) location.hash = url;
  else history.replaceState(null, '', url);
}
