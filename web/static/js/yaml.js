// yaml.js - just enough YAML for MLmodel files (what mlflow writes with
// yaml.safe_dump): nested mappings by indentation, "- " lists of scalars,
// plain, single- and double-quoted scalars, quoted scalars folded over
// several lines. Anything else is left as text; the raw file is always shown
// beside the summary, so a construct this does not know loses nothing.

function scalar(v) {
  v = v.trim();
  if (v.startsWith("'") && v.endsWith("'") && v.length >= 2) return v.slice(1, -1).replace(/''/g, "'");
  if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) {
    try { return JSON.parse(v); } catch { return v.slice(1, -1); }
  }
  if (v === 'null' || v === '~' || v === '') return null;
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v)) return Number(v);
  return v;
}

function unclosed(v) {
  const t = v.trim();
  // '' is an escaped quote, so a closed single-quoted scalar has an even count.
  if (t.startsWith("'")) return t.match(/'/g).length % 2 === 1;
  if (t.startsWith('"')) return !(t.length > 1 && t.endsWith('"') && !t.endsWith('\\"'));
  return false;
}

export function parseYaml(text) {
  const lines = text.split(/\r?\n/);
  const root = {};
  const stack = [{indent: -1, obj: root}];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const indent = line.length - line.trimStart().length;
    let body = line.trim();
    const isItem = body.startsWith('- ');
    while (stack.length > 1) {
      const top = stack[stack.length - 1];
      // mlflow writes a list's items at its key's indentation
      if (indent > top.indent || (isItem && indent === top.indent && Array.isArray(top.obj))) break;
      stack.pop();
    }
    const parent = stack[stack.length - 1];
    if (isItem) {
      let v = body.slice(2);
      while (unclosed(v) && i + 1 < lines.length) v += ' ' + lines[++i].trim();
      if (Array.isArray(parent.obj)) parent.obj.push(scalar(v));
      continue;
    }
    const m = body.match(/^("[^"]*"|'[^']*'|[^:]+):(?:\s+(.*))?$/);
    if (!m || Array.isArray(parent.obj)) continue;
    const key = scalar(m[1]);
    let v = m[2];
    if (v === undefined || v === '') {
      // A nested mapping, or a list when the next line starts with "- ".
      const next = lines.slice(i + 1).find((l) => l.trim());
      const child = next && next.trim().startsWith('- ') ? [] : {};
      parent.obj[key] = child;
      stack.push({indent, obj: child});
      continue;
    }
    while (unclosed(v) && i + 1 < lines.length) v += ' ' + lines[++i].trim();
    parent.obj[key] = v.trim() === '{}' ? {} : v.trim() === '[]' ? [] : scalar(v);
  }
  return root;
}
