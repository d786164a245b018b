// measure.mjs - times a runs table in Chromium, measured in the browser:
// performance.now() (ms since the navigation started) when a run's name is
// first on screen, polled every animation frame.
//   node bench/ui/measure.mjs '<json spec>'
// spec: {reps, timeout_ms, targets: [{label, first_url, first_name, sorted_url, sorted_name}]}
// Each rep opens a fresh browser context (empty cache) and loads first_url
// (cold), then opens sorted_url in a new tab of the same context (assets
// cached, a full page load). Prints one JSON line with every sample.
import {fileURLToPath, pathToFileURL} from 'node:url';
import {dirname, join} from 'node:path';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const {chromium} = await import(pathToFileURL(join(repo, 'tests/e2e/node_modules/playwright-core/index.mjs')).href);
const spec = JSON.parse(process.argv[2]);
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const browser = await chromium.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ARGS, headless: true});

async function timeTo(page, url, name) {
  await page.goto(url, {waitUntil: 'commit', timeout: spec.timeout_ms});
  const h = await page.waitForFunction((n) => {
    for (const a of document.querySelectorAll('a')) {
      if (a.textContent.trim() === n && a.offsetParent !== null) return performance.now();
    }
    return false;
  }, name, {polling: 'raf', timeout: spec.timeout_ms});
  return Math.round(await h.jsonValue());
}

const out = {};
for (const t of spec.targets) {
  out[t.label] = {first: [], sorted: [], errors: []};
  for (let r = 0; r < spec.reps; r++) {
    const ctx = await browser.newContext({viewport: {width: 1366, height: 820}});
    try {
      const p1 = await ctx.newPage();
      out[t.label].first.push(await timeTo(p1, t.first_url, t.first_name));
      if (r === 0 && spec.shots) await p1.screenshot({path: join(spec.shots, `${t.label}-first.png`)});
      const p2 = await ctx.newPage();
      out[t.label].sorted.push(await timeTo(p2, t.sorted_url, t.sorted_name));
      if (r === 0 && spec.shots) await p2.screenshot({path: join(spec.shots, `${t.label}-sorted.png`)});
    } catch (e) {
      out[t.label].errors.push(String(e.message).split('\n')[0]);
    }
    await ctx.close();
    process.stderr.write(`  ${t.label} rep ${r + 1}: first ${out[t.label].first.at(-1)} ms, sorted ${out[t.label].sorted.at(-1)} ms\n`);
  }
}
await browser.close();
console.log(JSON.stringify(out));
