// api.js - the UI's only way to the server: MLflow's REST API and Capstan's
// extensions, same origin. Errors come back as ApiError with MLflow's
// error_code so pages can show them inline.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.append(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function request(method, url, body, signal) {
  const opts = {method, signal, headers: {}};
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(url, opts);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', `Cannot reach the server (${e.message})`);
  }
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : {}; } catch { /* not JSON */ }
  if (!r.ok) {
    const code = json && json.error_code ? json.error_code : `HTTP ${r.status}`;
    const msg = json && (json.message || json.error) ? (json.message || json.error) : text.slice(0, 300);
    throw new ApiError(r.status, code, msg);
  }
  return json === null ? text : json;
}

// path is relative to /api/2.0/, e.g. "mlflow/runs/search".
export const api = {
  get: (path, params, signal) => request('GET', `/api/2.0/${path}${query(params)}`, undefined, signal),
  post: (path, body, signal) => request('POST', `/api/2.0/${path}`, body || {}, signal),
  raw: async (url, signal) => {
    const r = await fetch(url, {signal});
    if (!r.ok) {
      let msg = `HTTP ${r.status}`;
      try { const j = await r.json(); msg = j.message || msg; } catch { /* body not JSON */ }
      throw new ApiError(r.status, `HTTP ${r.status}`, msg);
    }
    return r;
  },
};

// Every page of a paged MLflow list, up to limit items.
export async function all(path, body, key, signal, limit = 5000) {
  const out = [];
  let token;
  do {
    const r = await api.post(path, {...body, page_token: token}, signal);
    out.push(...(r[key] || []));
    token = r.next_page_token;
  } while (token && out.length < limit);
  return out;
}

// MLflow entities carry params/metrics/tags as [{key, value}] lists.
export function kv(list) {
  const m = new Map();
  for (const e of list || []) m.set(e.key, e.value);
  return m;
}

// A backquoted identifier for the MLflow search grammar.
export function quoteKey(k) {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : '`' + k.replace(/`/g, '') + '`';
}
