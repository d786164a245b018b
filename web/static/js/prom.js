// prom.js - reads the Prometheus text exposition the server publishes at
// /metrics, and turns two scrapes into rates and latency quantiles, the way
// PromQL's rate() and histogram_quantile() would over that interval.

// -> [{name, labels: {..}, value}]
export function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    let i = 0;
    while (i < line.length && /[A-Za-z0-9_:]/.test(line[i])) i++;
    const name = line.slice(0, i);
    const labels = {};
    if (line[i] === '{') {
      i++;
      while (i < line.length && line[i] !== '}') {
        const eq = line.indexOf('=', i);
        if (eq < 0) break;
        const key = line.slice(i, eq).trim().replace(/^,/, '').trim();
        i = eq + 1;
        if (line[i] !== '"') break;
        i++;
        let v = '';
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < line.length) { const c = line[i + 1]; v += c === 'n' ? '\n' : c; i += 2; } else v += line[i++];
        }
        i++;
        labels[key] = v;
        while (line[i] === ',' || line[i] === ' ') i++;
      }
      i++;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = rest[0] === '+Inf' ? Infinity : rest[0] === '-Inf' ? -Infinity : Number(rest[0]);
    if (name && rest[0] !== undefined && !Number.isNaN(value)) out.push({name, labels, value});
  }
  return out;
}

// Linear interpolation inside the bucket holding quantile q (as
// histogram_quantile does); buckets: [[le, cumulative count]] sorted by le.
export function quantile(q, buckets) {
  if (!buckets.length) return NaN;
  const total = buckets[buckets.length - 1][1];
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let prevLe = 0, prevC = 0;
  for (const [le, c] of buckets) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      const inBucket = c - prevC;
      return inBucket > 0 ? prevLe + (le - prevLe) * ((rank - prevC) / inBucket) : le;
    }
    prevLe = le; prevC = c;
  }
  return prevLe;
}

const key = (l) => `${l.model || ''}\u0000${l.version || ''}`;

// Per (model, version) of one deployment between two scrapes a and b (parsed
// samples, with their times in ms): requests/s by outcome, and mean, p50 and
// p95 latency in seconds over the interval.
export function deploymentStats(a, b, dtMs, deployment) {
  const pick = (samples) => samples.filter((s) => s.labels.deployment === deployment &&
    (s.name === 'capstan_inference_requests_total' || s.name.startsWith('capstan_inference_request_duration_seconds_')));
  const A = pick(a), B = pick(b);
  const groups = new Map();
  const g = (l) => {
    const k = key(l);
    if (!groups.has(k)) groups.set(k, {model: l.model || '', version: l.version || '', success: 0, failure: 0, sum: 0, count: 0, buckets: new Map()});
    return groups.get(k);
  };
  const sign = [[A, -1], [B, 1]];
  for (const [list, sg] of sign) {
    for (const s of list) {
      const gr = g(s.labels);
      if (s.name === 'capstan_inference_requests_total') {
        if (s.labels.outcome === 'failure') gr.failure += sg * s.value; else gr.success += sg * s.value;
      } else if (s.name === 'capstan_inference_request_duration_seconds_sum') gr.sum += sg * s.value;
      else if (s.name === 'capstan_inference_request_duration_seconds_count') gr.count += sg * s.value;
      else if (s.name === 'capstan_inference_request_duration_seconds_bucket') {
        const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
        gr.buckets.set(le, (gr.buckets.get(le) || 0) + sg * s.value);
      }
    }
  }
  const dt = dtMs / 1000;
  return [...groups.values()].map((gr) => {
    // A counter that went down means the server restarted: no rate for this interval.
    const reset = gr.success < 0 || gr.failure < 0 || gr.count < 0;
    const buckets = [...gr.buckets].sort((x, y) => x[0] - y[0]);
    return {model: gr.model, version: gr.version, reset,
      rps: reset ? NaN : (gr.success + gr.failure) / dt, errorRps: reset ? NaN : gr.failure / dt,
      mean: !reset && gr.count > 0 ? gr.sum / gr.count : NaN,
      p50: reset ? NaN : quantile(0.5, buckets), p95: reset ? NaN : quantile(0.95, buckets)};
  });
}
