// ui.mjs - drives Debian's Chromium through Capstan's UI with playwright-core.
//   node tests/e2e/ui.mjs <server url> <output dir> <scenario> '<json args>'
// Each scenario asserts what it sees (rows, order, chart points ...), saves
// screenshots under the output dir, prints one JSON line of findings and
// exits 0; any failed check exits 1 with the reason. Page errors and
// unexpected console errors fail the scenario too.
import {chromium} from 'playwright-core';
import {mkdirSync} from 'node:fs';
import {join} from 'node:path';

const [url, outdir, scenario, argsJson] = process.argv.slice(2);
const args = JSON.parse(argsJson || '{}');
mkdirSync(outdir, {recursive: true});

// Same switches as the brief's: no GPU, sandbox or background traffic.
// playwright's launch() gives each run a fresh temporary profile.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

const browser = await chromium.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true});
const context = await browser.newContext({viewport: {width: 1366, height: 820}});
const page = await context.newPage();
page.setDefaultTimeout(Number(process.env.E2E_TIMEOUT_MS || 30000));
const problems = [];
const allowedStatus = new Set(args.allowStatus || []);
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('console', (m) => {
  if (m.type() !== 'error') return;
  const t = m.text();
  const st = t.match(/status of (\d+)/);
  if (st && allowedStatus.has(Number(st[1]))) return;
  problems.push(`console error: ${t}`);
});
const shots = [];
async function shot(name) {
  const path = join(outdir, `${name}.png`);
  await page.screenshot({path, fullPage: true});
  shots.push(path);
}

const rowNames = () => page.$$eval('#runs-table tbody tr th.name a', (as) => as.map((a) => a.textContent));
const colIndex = (label) => page.$$eval('#runs-table thead tr:last-child th', (ths, l) => ths.findIndex((th) => th.title === l), label);
const columnValues = async (label) => {
  const i = await colIndex(label);
  check(i >= 0, `column ${label} shown`);
  return page.$$eval('#runs-table tbody tr', (trs, i) => trs.map((tr) => tr.children[i].textContent), i);
};
// Waits for the runs table to finish a load started by action; returns the
// runs/search request body the page sent.
async function tableLoad(action) {
  const req = page.waitForRequest((r) => r.url().endsWith('/api/2.0/mlflow/runs/search') && r.method() === 'POST');
  const resp = page.waitForResponse((r) => r.url().endsWith('/api/2.0/mlflow/runs/search'));
  await action();
  const body = JSON.parse((await req).postData());
  const r = await resp;
  await page.waitForFunction(() => !document.querySelector('#runs-table-wrap[aria-busy]'));
  return {body, status: r.status()};
}
const polyPoints = (sel) => page.$$eval(`${sel} polyline`, (ps) => ps.map((p) => p.getAttribute('points').trim().split(/\s+/).filter(Boolean).length));

const scenarios = {
  async runs_table() {
    await page.goto(`${url}/`);
    await page.waitForURL(/#\/experiments$/);
    await page.getByRole('link', {name: 'e2e-demo', exact: true}).click();
    await page.waitForSelector('#runs-table tbody tr');
    const names = await rowNames();
    const want = args.runs.map((r) => r.name);
    check(names.length === want.length && want.every((n) => names.includes(n)), `all ${want.length} runs listed, got ${names}`);
    // newest first by default: start_time descending = creation order reversed
    check(JSON.stringify(names) === JSON.stringify([...want].reverse()), `default order is newest first: ${names}`);
    const heads = await page.$$eval('#runs-table thead tr:last-child th', (t) => t.map((x) => x.title));
    for (const k of ['acc', 'loss', 'lr', 'optimizer']) check(heads.includes(k), `column ${k} in ${heads}`);
    await shot('runs-table');
    // Column chooser: add the tag "team", drop the metric "loss".
    await page.click('#columns-button');
    await page.check('#columns-panel input[data-group=t][data-k=team]');
    await page.uncheck('#columns-panel input[data-group=m][data-k=loss]');
    await page.click('#columns-panel >> text=Done');
    const teams = await columnValues('team');
    check(teams.every((t) => t === 'fraud' || t === 'risk') && teams.length === want.length, `team tag column: ${teams}`);
    check((await colIndex('loss')) < 0, 'loss column hidden');
    check(/cols=/.test(page.url()), 'chosen columns are in the URL');
    await shot('runs-table-columns');
    // The deep link restores the same columns.
    await page.reload();
    await page.waitForSelector('#runs-table tbody tr');
    check((await colIndex('team')) >= 0 && (await colIndex('loss')) < 0, 'columns restored from the URL');
    return {rows: names.length};
  },

  async filter() {
    await page.goto(`${url}/#/experiments/${args.experiment_id}`);
    await page.waitForSelector('#runs-table tbody tr');
    const expr = "metrics.acc > 0.7 and params.optimizer = 'adam'";
    const {body} = await tableLoad(async () => {
      await page.keyboard.press('/');
      check(await page.evaluate(() => document.activeElement.id === 'run-filter'), '"/" focuses the filter');
      await page.keyboard.type(expr);
      await page.keyboard.press('Enter');
    });
    check(body.filter === expr, `filter sent to the server: ${body.filter}`);
    const want = args.runs.filter((r) => r.acc > 0.7 && r.optimizer === 'adam').map((r) => r.name).sort();
    const got = (await rowNames()).sort();
    check(want.length > 0 && JSON.stringify(got) === JSON.stringify(want), `filtered rows ${got} = ${want}`);
    check(decodeURIComponent(page.url()).includes('filter=metrics.acc'), 'filter in the URL');
    await shot('runs-filtered');
    // A bad expression: an inline error, the input marked invalid, rows kept.
    const bad = await tableLoad(async () => {
      await page.fill('#run-filter', 'metrics.acc >> 1');
      await page.press('#run-filter', 'Enter');
    });
    check(bad.status === 400, `server refused the bad filter (${bad.status})`);
    const err = await page.textContent('#filter-error');
    check(/Filter error/.test(err) && err.length > 20, `inline error shown: ${err}`);
    check((await page.getAttribute('#run-filter', 'aria-invalid')) === 'true', 'input marked aria-invalid');
    check((await rowNames()).length === want.length, 'rows from the last good filter stay');
    await shot('runs-filter-error');
    // Deep link with the filter opens filtered.
    await page.goto(`${url}/#/experiments/${args.experiment_id}?filter=${encodeURIComponent("params.optimizer = 'sgd'")}`);
    await page.reload();
    await page.waitForSelector('#runs-table tbody tr');
    const sgd = args.runs.filter((r) => r.optimizer === 'sgd').map((r) => r.name).sort();
    check(JSON.stringify((await rowNames()).sort()) === JSON.stringify(sgd), 'deep-linked filter applied');
    return {filtered: got.length, error: err};
  },

  async sort() {
    await page.goto(`${url}/#/experiments/${args.experiment_id}`);
    await page.waitForSelector('#runs-table tbody tr');
    const byAcc = [...args.runs].sort((a, b) => a.acc - b.acc).map((r) => r.name);
    let {body} = await tableLoad(() => page.click('#runs-table th[title=acc] button'));
    check(body.order_by[0] === 'metrics.acc ASC', `server asked for ${body.order_by}`);
    check(JSON.stringify(await rowNames()) === JSON.stringify(byAcc), `ascending by acc: ${await rowNames()}`);
    check((await page.getAttribute('#runs-table th[title=acc]', 'aria-sort')) === 'ascending', 'aria-sort ascending');
    ({body} = await tableLoad(() => page.click('#runs-table th[title=acc] button')));
    check(body.order_by[0] === 'metrics.acc DESC', `server asked for ${body.order_by}`);
    check(JSON.stringify(await rowNames()) === JSON.stringify([...byAcc].reverse()), 'descending by acc');
    await shot('runs-sorted');
    // The sorted view is a deep link.
    await page.reload();
    await page.waitForSelector('#runs-table tbody tr');
    check(JSON.stringify(await rowNames()) === JSON.stringify([...byAcc].reverse()), 'sort restored from the URL');
    // Keyboard: Tab to the "lr" header and press Enter.
    await page.focus('#runs-table th[title=optimizer] button');
    await page.keyboard.press('Shift+Tab');
    check(await page.evaluate(() => document.activeElement.closest('th')?.title === 'lr'), 'Shift+Tab reaches the lr header');
    ({body} = await tableLoad(() => page.keyboard.press('Enter')));
    check(body.order_by[0] === 'params.lr ASC', `keyboard sort sent ${body.order_by}`);
    const lrs = await columnValues('lr');
    check(lrs.every((v, i) => i === 0 || lrs[i - 1] <= v), `lr ascending (as strings, MLflow's param order): ${lrs}`);
    // Paging: 5 per page, next, previous.
    await page.selectOption('#page-size', '25');
    return {order: byAcc};
  },

  async run_page() {
    const run = args.runs[0];
    await page.goto(`${url}/#/runs/${run.id}`);
    await page.waitForSelector('#params-table');
    const params = await page.$$eval('#params-table tr', (trs) => Object.fromEntries(trs.map((tr) => [tr.children[0].textContent, tr.children[1].textContent])));
    check(params.lr === run.lr && params.optimizer === run.optimizer && params.depth === run.depth, `params ${JSON.stringify(params)}`);
    const metrics = await page.$$eval('#metrics-table tr th', (t) => t.map((x) => x.textContent));
    check(['acc', 'long_loss', 'loss'].every((k) => metrics.includes(k)), `metrics ${metrics}`);
    check((await page.textContent('#inputs-table')).includes(args.dataset), 'dataset input listed');
    check((await page.textContent('#tags-table')).includes('team'), 'tag listed');
    await shot('run-overview');
    // Charts: every metric gets one; the 5,000-step history arrives downsampled.
    await page.click('#tab-charts');
    check(/tab=charts/.test(page.url()), 'tab in the URL');
    await page.waitForSelector('.chart-slot[data-metric=long_loss] svg polyline');
    await page.waitForSelector('.chart-slot[data-metric=loss] svg polyline');
    const [longN] = await polyPoints('.chart-slot[data-metric=long_loss]');
    const [lossN] = await polyPoints('.chart-slot[data-metric=loss]');
    // MLflow's sampling: max_results (1,000) evenly spread steps, plus each
    // run's first and last step where the spread missed them (1,001 here).
    check(longN > 500 && longN <= 1002, `long history drawn with ${longN} points (server-downsampled from 5000)`);
    check(lossN === 60, `loss chart has all 60 points (${lossN})`);
    await page.locator('.chart-slot[data-metric=loss] svg').scrollIntoViewIfNeeded();
    const box = await page.locator('.chart-slot[data-metric=loss] svg').boundingBox();
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, {steps: 3});
    check(await page.isVisible('.chart-slot[data-metric=loss] .readout'), 'hover readout visible');
    await shot('run-charts');
    await page.selectOption('#run-x-axis', 'relative');
    await page.waitForSelector('.chart-slot[data-metric=loss] svg polyline');
    check((await polyPoints('.chart-slot[data-metric=loss]'))[0] === 60, 'relative-time chart redrawn');
    // Artifacts: JSON, CSV, image, MLmodel.
    await page.click('#tab-artifacts');
    await page.click('.tree-file:has-text("config.json")');
    await page.waitForSelector('#artifact-preview pre.json');
    const json = await page.textContent('#artifact-preview pre.json');
    check(json.includes('"layers": [\n    64,'), `JSON pretty-printed: ${json.slice(0, 80)}`);
    await page.click('.tree-file:has-text("preds.csv")');
    await page.waitForSelector('#artifact-preview table.csv');
    const cells = await page.$$eval('#artifact-preview table.csv tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    check(cells.length === 3 && cells[1][1] === 'ok, really', `CSV parsed: ${JSON.stringify(cells)}`);
    await page.click('.tree-dir:has-text("plots/")');
    await page.click('.tree-file:has-text("roc.png")');
    await page.waitForSelector('#artifact-preview img');
    await page.waitForFunction(() => document.querySelector('#artifact-preview img').naturalWidth > 0);
    check((await page.$eval('#artifact-preview img', (i) => i.naturalWidth)) === 64, 'PNG preview decoded');
    await page.click('.tree-dir:has-text("model/")');
    await page.click('.tree-file:has-text("MLmodel")');
    await page.waitForSelector('#artifact-preview .mlmodel');
    const facts = await page.textContent('#artifact-preview .mlmodel dl');
    check(/onnx/.test(facts), `MLmodel flavors: ${facts}`);
    await shot('run-artifacts-mlmodel');
    // Deep link straight to an artifact.
    await page.goto(`${url}/#/runs/${run.id}?tab=artifacts&artifact=plots/roc.png`);
    await page.reload();
    await page.waitForFunction(() => document.querySelector('#artifact-preview img')?.naturalWidth > 0);
    await shot('run-artifacts-image');
    return {longPoints: longN, lossPoints: lossN};
  },

  async compare() {
    const [a, b] = args.runs;
    await page.goto(`${url}/#/experiments/${args.experiment_id}`);
    await page.waitForSelector('#runs-table tbody tr');
    await page.check(`#runs-table tr[data-run-id="${a.id}"] input[type=checkbox]`);
    await page.check(`#runs-table tr[data-run-id="${b.id}"] input[type=checkbox]`);
    await page.click('#compare-button');
    await page.waitForURL(/#\/compare\?/);
    await page.waitForSelector('#compare-chart svg polyline', {state: 'attached'});
    await page.selectOption('#compare-metric', 'loss');
    await page.waitForFunction(() => document.querySelector('#compare-chart figcaption')?.textContent === 'loss');
    check(/metric=loss/.test(page.url()), 'chosen metric in the URL');
    const pts = await polyPoints('#compare-chart');
    check(pts.length === 2 && pts.every((n) => n > 1), `two overlaid curves: ${pts}`);
    const rows = await page.$$eval('#diff-table tbody tr[data-key]', (trs) => trs.map((tr) => [tr.dataset.key, tr.classList.contains('differs')]));
    const d = Object.fromEntries(rows);
    check(d.lr === true && d.optimizer === true && d.acc === true, `differing rows marked: ${JSON.stringify(d)}`);
    check(d.Status === false, 'equal rows not marked');
    const lines = await page.$$eval('#parallel-coordinates .lines polyline', (p) => p.length);
    check(lines === 2, `parallel coordinates: ${lines} lines`);
    await shot('compare');
    await page.check('#only-diff');
    const after = await page.$$eval('#diff-table tbody tr[data-key]', (trs) => trs.every((tr) => tr.classList.contains('differs')));
    check(after, 'only differing rows remain');
    await page.selectOption('#compare-metric', 'acc');
    await page.waitForFunction(() => document.querySelector('#compare-chart figcaption')?.textContent === 'acc');
    return {curves: pts, rows: rows.length};
  },

  async model() {
    await page.goto(`${url}/#/models`);
    await page.click(`#models-table >> text=${args.model}`);
    await page.waitForSelector('#versions-table tbody tr');
    const n = await page.$$eval('#versions-table tbody tr', (t) => t.length);
    check(n === args.versions.length, `${n} versions listed`);
    check((await page.textContent('#versions-table')).includes('@champion'), 'alias shown');
    await shot('model-versions');
    await page.click(`#versions-table >> text=Version ${args.versions[1]}`);
    await page.waitForSelector('#lineage-graph');
    const sig = await page.$$eval('#signature-inputs tbody tr', (t) => t.map((r) => r.textContent));
    check(sig.length === 1 && sig[0].startsWith('X'), `signature inputs: ${sig}`);
    const types = await page.$$eval('#lineage-graph [data-node-type]', (g) => g.map((x) => x.dataset.nodeType));
    for (const t of ['dataset', 'code', 'run', 'model_version', 'registered_model']) check(types.includes(t), `lineage has a ${t} node (${types})`);
    const edges = await page.$$eval('#lineage-graph path.edge', (p) => p.length);
    check(edges >= 4, `lineage edges drawn: ${edges}`);
    // Left to right: data before run before version.
    const x = async (t) => page.$eval(`#lineage-graph [data-node-type=${t}]`, (g) => g.getBoundingClientRect().x);
    check((await x('dataset')) < (await x('run')) && (await x('run')) < (await x('model_version')), 'data → run → version left to right');
    await shot('model-version-lineage');
    await page.click('#lineage-graph a[href^="#/runs/"]');
    await page.waitForSelector('#params-table');
    return {versions: n, nodes: types.length, edges};
  },

  async deployments() {
    const name = args.name;
    await page.goto(`${url}/#/deployments`);
    await page.waitForSelector('#deployments-table');
    check((await page.textContent('#deployments-table')).includes(name), 'deployment listed');
    await page.click(`#deployments-table >> text=${name}`);
    await page.waitForSelector('#traffic-split');
    const label = await page.getAttribute('#traffic-split', 'aria-label');
    check(label.includes('primary') && label.includes('75%') && label.includes('canary') && label.includes('25%'), `split: ${label}`);
    const vers = await page.$$eval('#deployment-versions tbody tr', (t) => t.map((r) => r.textContent));
    check(vers.some((v) => v.startsWith('primary')) && vers.some((v) => v.startsWith('canary')), `versions: ${vers}`);
    // Live rate: two scrapes of /metrics 5 s apart while the test sends requests.
    await page.waitForSelector('#live-table tbody tr', {timeout: 20000});
    const rates = await page.$$eval('#live-table tbody tr', (t) => t.map((r) => [r.children[1].textContent, Number(r.children[2].textContent)]));
    check(rates.some(([, rps]) => rps > 0), `request rate measured: ${JSON.stringify(rates)}`);
    await page.waitForSelector('#rate-chart svg');
    await shot('deployment');
    // Promote: a confirmation dialog; Cancel does nothing, Confirm posts.
    await page.click('#promote-button');
    await page.waitForSelector('dialog.confirm[open]');
    await shot('deployment-confirm');
    await page.keyboard.press('Escape');
    check(!(await page.$('dialog.confirm')), 'Escape cancels');
    await page.click('#promote-button');
    const posted = page.waitForRequest((r) => r.url().endsWith(`/deployments/${name}/promote`) && r.method() === 'POST');
    await page.click('#confirm-ok');
    await posted;
    await page.waitForFunction(() => document.body.dataset.deploymentAction === 'promote');
    await page.waitForFunction(() => !document.querySelector('#traffic-split')?.getAttribute('aria-label').includes('canary'));
    check(await page.isEnabled('#rollback-button'), 'rollback possible after a promote');
    await page.click('#rollback-button');
    const rb = page.waitForRequest((r) => r.url().endsWith(`/deployments/${name}/rollback`) && r.method() === 'POST');
    await page.click('#confirm-ok');
    await rb;
    await page.waitForSelector('#pinned-note');
    await shot('deployment-rolled-back');
    return {rates};
  },

  // Live monitoring of a deployment: the page is reached from the
  // deployment's; what it shows is compared with what the API answered.
  async monitoring() {
    const {name, bare, windows, events} = args;
    const latest = windows.at(-1);
    const fact = (k) => page.textContent(`#window-summary dd[data-fact=${k}]`);
    // the view asks for the newest windows first, so the latest are always shown
    const asked = [];
    page.on('request', (r) => { if (r.url().includes('/monitor/windows?') && r.url().includes('width=')) asked.push(r.url()); });
    await page.goto(`${url}/#/deployments/${name}`);
    await page.click('#monitoring-link');
    await page.waitForURL(new RegExp(`#/deployments/${name}/monitoring$`));
    await page.waitForSelector('#window-summary dl');
    const widths = await page.$$eval('#monitor-width option', (os) => os.map((o) => Number(o.value)));
    check(JSON.stringify(widths) === JSON.stringify(args.widths), `width choices ${widths}`);
    check((await fact('rows')).startsWith(String(latest.rows)), `rows of the latest window: ${await fact('rows')} vs ${latest.rows}`);
    check((await fact('window')).includes('(1 s)'), `window width shown: ${await fact('window')}`);
    const since = await page.textContent('#range-note');
    check(since.startsWith('Windows since') && !since.includes('latest 1000'), `fewer than 1000 windows: ${since}`);
    check(asked.length > 0 && asked.every((u) => /[?&]order=desc(&|$)/.test(u) && /[?&]max_results=1000(&|$)/.test(u)), `windows asked newest first: ${asked}`);
    const drift = await fact('dataset-drift');
    check(drift.includes(`${latest.drift.number_of_drifted_columns} of 3 columns drifted`) && drift.includes(latest.drift.dataset_drift ? 'drift' : 'no drift'), `dataset drift: ${drift}`);
    check((await fact('prediction-drift')).includes('1 of 1 columns drifted'), `prediction drift: ${await fact('prediction-drift')}`);
    const dq = await fact('data-quality');
    check(dq.includes(latest.data_quality.passed ? 'passed' : 'failed') && dq.includes('f0: out_of_range'), `data quality: ${dq}`);
    check((await fact('method')).includes(latest.method === 'exact' ? 'exact' : 'profiles'), `method: ${await fact('method')}`);
    const baseline = await page.textContent('#baseline dl');
    check(baseline.includes(`deployment:${name}`) && baseline.includes('300'), `baseline: ${baseline}`);
    // The drift table of the latest window.
    const rows = await page.$$eval('#drift-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    const want = latest.drift.columns.map((c) => [c.column, c.column_type, c.stattest, c.drift_detected ? 'drifted' : 'no']);
    check(JSON.stringify(rows.map((r) => [r[0], r[1], r[2], r[5]])) === JSON.stringify(want), `drift table ${JSON.stringify(rows)} vs ${JSON.stringify(want)}`);
    check(rows.every((r) => r[3] === '0.05'), `thresholds ${rows.map((r) => r[3])}`);
    const predRows = await page.$$eval('#prediction-drift-table tbody tr', (trs) => trs.map((tr) => [tr.children[0].textContent, tr.children[5].textContent]));
    check(JSON.stringify(predRows) === JSON.stringify([['y', 'drifted']]), `prediction drift table ${JSON.stringify(predRows)}`);
    check(!(await page.textContent('#latest')).includes('[object'), 'no element printed as text');
    // One chart per feature, a point per window, the threshold drawn, the drifted windows marked.
    const charts = await page.$$eval('#drift-charts .chart-slot', (ss) => ss.map((sl) => ({
      column: sl.dataset.column, points: sl.querySelector('polyline').getAttribute('points').trim().split(/\s+/).length,
      marked: sl.querySelectorAll('circle.marked').length, refs: sl.querySelectorAll('.ref line').length})));
    const drifted = (c) => windows.filter((w) => w.drift.columns.find((x) => x.column === c).drift_detected).length;
    check(charts.length === 3 && charts.map((c) => c.column).join() === 'f0,f1,f2', `charts: ${JSON.stringify(charts)}`);
    for (const c of charts) {
      check(c.points === windows.length && c.refs === 1 && c.marked === drifted(c.column), `chart ${JSON.stringify(c)} vs ${windows.length} windows, ${drifted(c.column)} drifted`);
    }
    check(charts[0].marked === windows.length, 'f0 drifted in every window');
    const pred = await page.$$eval('#prediction-drift-charts .chart-slot', (ss) => ss.map((sl) => sl.dataset.column));
    check(pred.length === 1, `one prediction drift chart: ${pred}`);
    // Alerts: the rule fires on f0's drift; the history matches the API's.
    const rule = await page.textContent('#alert-rules tbody tr[data-rule="f0-drift"]');
    check(rule.includes('drift_score[f0] < 0.05') && rule.includes('firing'), `rule row: ${rule}`);
    const hist = await page.$$eval('#alert-events tbody tr', (trs) => trs.map((tr) => tr.children[2].textContent));
    check(JSON.stringify(hist) === JSON.stringify(events.map((e) => e.state)), `history ${hist} vs ${events.map((e) => e.state)}`);
    // Model quality from labels: the latest labelled window and a chart per headline metric.
    const quality = args.quality;
    await page.waitForSelector('#quality-latest');
    const qfact = (k) => page.textContent(`#quality-latest dd[data-fact=${k}]`);
    check((await qfact('labelled')) === String(quality.at(-1).labelled), `labels of the latest labelled window: ${await qfact('labelled')}`);
    check((await qfact('mae')) === '0.5', `MAE of the latest labelled window: ${await qfact('mae')}`);
    check((await qfact('coverage')) === '100 %', `coverage: ${await qfact('coverage')}`);
    const qcharts = await page.$$eval('#quality-charts .chart-slot', (ss) => ss.map((sl) => ({
      metric: sl.dataset.metric, points: sl.querySelector('polyline').getAttribute('points').trim().split(/\s+/).length})));
    check(qcharts.map((c) => c.metric).join() === 'MAE,RMSE,R²' && qcharts.every((c) => c.points === quality.length),
      `quality charts ${JSON.stringify(qcharts)} vs ${quality.length} labelled windows`);
    await shot('monitoring');
    // Another width: the choice goes into the URL and survives a reload.
    await page.selectOption('#monitor-width', '2');
    await page.waitForFunction(() => document.querySelector('#window-summary dd[data-fact=window]')?.textContent.includes('(2 s)'));
    check(/width=2/.test(page.url()), 'width in the URL');
    const before = await page.textContent('#range-note');
    await page.selectOption('#monitor-range', '15m');
    await page.waitForFunction((b) => document.querySelector('#range-note').textContent !== b, before);
    check(/range=15m/.test(page.url()), 'range in the URL');
    await page.waitForSelector('#window-summary dl');
    await page.reload();
    await page.waitForSelector('#window-summary dl');
    check((await fact('window')).includes('(2 s)'), 'width restored from the URL');
    check((await page.$eval('#monitor-width', (s) => s.value)) === '2', 'width selector restored');
    // A deployment with no baseline and no traffic: empty states that say what to do.
    await page.goto(`${url}/#/deployments/${bare}/monitoring`);
    await page.waitForSelector('#no-baseline');
    const nb = await page.textContent('#no-baseline');
    check(nb.includes(`capstan monitor baseline ${bare} --data FILE`), `no-baseline note: ${nb}`);
    await page.waitForSelector('#no-windows');
    check((await page.textContent('#no-windows')).includes(`/v2/models/${bare}/infer`), 'no-windows note');
    await page.waitForSelector('#no-alert-rules');
    check((await page.textContent('#no-alert-rules')).includes('POST /api/2.0/capstan/monitor/alerts/rules'), 'no-rules note');
    check(await page.isVisible('#drift-charts-empty'), 'no charts without windows');
    await page.waitForSelector('#no-quality');
    check((await page.textContent('#no-quality')).includes(`capstan feedback send ${bare} --file labels.csv`), 'no-quality note');
    await shot('monitoring-empty');
    return {windows: windows.length, charts: charts.length, events: hist.length};
  },

  // The review queue: reached from the deployment's page; the low-confidence
  // rows in log order; a label given with the keyboard.
  async review() {
    const {name, low} = args;
    await page.goto(`${url}/#/deployments/${name}`);
    await page.click('#review-link');
    await page.waitForURL(new RegExp(`#/deployments/${name}/review$`));
    await page.waitForSelector('#review-queue');
    const ids = await page.$$eval('#review-queue tbody tr', (trs) => trs.map((tr) => tr.dataset.id));
    check(JSON.stringify(ids) === JSON.stringify(low), `queue ${ids.length} rows vs ${low.length} low-confidence`);
    check((await page.textContent('#review-current')) === low[0], 'the first row is the current one');
    const classes = await page.$$eval('#review-picker button[data-class]', (bs) => bs.map((b) => b.dataset.class));
    check(classes.join() === '0,1', `classes to pick: ${classes}`);
    check((await page.$$('#review-inputs tbody tr')).length === 4, 'the row\'s four inputs');
    await page.fill('#reviewer', 'e2e-ann');
    await page.dispatchEvent('#reviewer', 'change');
    await page.click('h1'); // the keys go to the page, not the name field
    await page.keyboard.press('j');
    check((await page.textContent('#review-current')) === low[1], 'j moves to the next row');
    await page.keyboard.press('k');
    check((await page.textContent('#review-current')) === low[0], 'k moves back');
    await page.keyboard.press('1');
    check((await page.getAttribute('#review-picker button[data-class="1"]', 'aria-pressed')) === 'true', '1 picks class 1');
    await shot('review');
    const answered = page.waitForResponse((r) => r.url().endsWith('/api/2.0/capstan/review/label'));
    await page.keyboard.press('Enter');
    check((await answered).ok(), 'the label was accepted');
    await page.waitForFunction((id) => document.querySelector('#review-current')?.textContent !== id, low[0]);
    check((await page.textContent('#review-count')).startsWith(`${low.length - 1} pending`), 'one fewer pending');
    await page.selectOption('#review-status', 'labelled');
    await page.waitForSelector(`#review-queue tbody tr[data-id="${low[0]}"]`);
    check((await page.textContent('#review-done')).includes('by e2e-ann'), 'who labelled it');
    await shot('review-labelled');
    return {shown: ids.length};
  },

  // The Datasets page, reached from the navigation: every dataset, one
  // dataset's versions, a diff of two picked versions, a version's files a
  // page at a time, its schema and profile, who used it, the link from a
  // model version's lineage, and a missing version's message.
  async datasets() {
    const {name, datasets, versions, files, diff, usage, model, gone_model: gone, missing} = args;
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    const hash12 = (h) => h.split(':')[1].slice(0, 12);
    const cells = (sel) => page.$$eval(`${sel} tbody tr`, (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent.trim())));
    const titles = (sel) => page.$$eval(`${sel} tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll('span[title]')].map((x) => x.title)));
    // A version the server gives without tables (until `data add` profiles
    // them) gets this one, so the schema and profile view is checked either way.
    let served = null;
    await page.route('**/api/2.0/capstan/datasets/get?*', async (route) => {
      const resp = await route.fetch();
      const body = await resp.json();
      if (body.version && !body.version.tables) {
        body.version.tables = [{path: 'table.csv', rows: 3, columns: [
          {name: 'x', type: 'integer', nullable: false, count: 3, missing: 0, min: 1, max: 3, mean: 2, std: 1, p25: 1.5, p50: 2, p75: 2.5, distinct: 3, top: null},
          {name: 'label', type: 'string', nullable: true, count: 2, missing: 1, min: null, max: null, mean: null, std: null, p25: null, p50: null, p75: null,
            distinct: 2, top: [['a', 1], ['b', 1]]}]}];
        body.version.validation = {warnings: ['label: 1 missing cell (rows 4)']};
      }
      if (body.version) served = body.version;
      await route.fulfill({response: resp, json: body});
    });

    await page.goto(`${url}/#/experiments`);
    await page.click('header nav a[data-section=datasets]');
    await page.waitForSelector('#datasets-table tbody tr');
    check((await page.getAttribute('header nav a[data-section=datasets]', 'aria-current')) === 'page', 'the navigation marks Datasets');
    const list = await cells('#datasets-table');
    const wantList = datasets.map((d) => [d.name, String(d.versions), `v${d.latest.version}`, hash12(d.latest.hash), String(d.latest.files),
      d.latest.author, d.latest.message]);
    check(same(list.map((r) => [...r.slice(0, 5), r[6], r[8]]), wantList), `datasets ${JSON.stringify(list)} vs ${JSON.stringify(wantList)}`);
    check(same((await titles('#datasets-table')).map((t) => t[1]), datasets.map((d) => `${d.latest.size} bytes`)), 'sizes of the latest versions');
    check(list.every((r) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(r[7])), `times: ${list.map((r) => r[7])}`);
    await shot('datasets');

    // Versions, newest first; pick 1 and 3 to diff.
    await page.click(`#datasets-table a[href="#/datasets/${name}"]`);
    await page.waitForSelector('#dataset-versions tbody tr');
    const vrows = await cells('#dataset-versions');
    const wantV = versions.map((v) => [`Version ${v.version}`, hash12(v.hash), String(v.files), v.author, v.message,
      Object.entries(v.tags).map(([k, x]) => `${k}=${x}`).join('')]);
    check(same(vrows.map((r) => [r[0], r[1], r[2], r[4], r[6], r[7]]), wantV), `versions ${JSON.stringify(vrows)} vs ${JSON.stringify(wantV)}`);
    check((await page.textContent('#diff-link')) === `Diff v${versions[1].version} → v${versions[0].version}`, 'the newest against the one before, to start with');
    await page.check('input[name=diff-a][value="1"]');
    await page.check('input[name=diff-b][value="3"]');
    check((await page.textContent('#diff-link')) === 'Diff v1 → v3', `diff link: ${await page.textContent('#diff-link')}`);
    await shot('dataset-versions');
    await page.click('#diff-link');
    await page.waitForSelector('#diff-summary');
    check(page.url().endsWith(`#/datasets/${name}/diff/1/3`), `diff URL ${page.url()}`);
    const paths = (id) => page.$$eval(`#${id}-table tbody tr`, (trs) => trs.map((tr) => tr.dataset.path));
    for (const k of ['added', 'removed', 'changed']) {
      check(same(await paths(k), diff[k].map((f) => f.path)), `${k}: ${await paths(k)} vs ${diff[k].map((f) => f.path)}`);
    }
    check(same(await titles('#changed-table'), diff.changed.map((f) => [`${f.size_a} bytes`, `${f.size_b} bytes`])), 'sizes before and after');
    check(same(await titles('#added-table'), diff.added.map((f) => [`${f.size} bytes`])), 'sizes of the added files');
    const summary = await page.textContent('#diff-summary');
    const wantSummary = `${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed, ${diff.unchanged} unchanged`;
    check(summary.startsWith(wantSummary), `summary "${summary}" vs "${wantSummary}"`);
    await shot('dataset-diff');

    // Version 1: its facts, then its 251 files a page (100) at a time.
    await page.click(`h1 a[href="#/datasets/${name}/1"]`);
    await page.waitForSelector('#files-table tbody tr');
    const v1 = versions.find((v) => v.version === 1);
    const fact = (k) => page.textContent(`#version-facts dd[data-fact=${k}]`);
    check((await fact('hash')) === v1.hash && (await fact('files')) === String(v1.files) && (await fact('message')) === v1.message, 'facts of version 1');
    check((await fact('tags')) === 'stage=raw', `tags: ${await fact('tags')}`);
    const filePage = () => page.$$eval('#files-table tbody tr', (trs) => trs.map((tr) => [tr.children[0].textContent,
      tr.children[1].querySelector('span').title, tr.children[2].querySelector('span').title]));
    const wantFiles = (at) => files.slice(at, at + 100).map((f) => [f.path, `${f.size} bytes`, f.hash]);
    const turn = async (button, at) => {
      await page.click(button);
      await page.waitForFunction((first) => document.querySelector('#files-table tbody td')?.textContent === first &&
        !document.querySelector('#files-wrap[aria-busy]'), files[at].path);
    };
    const pages = [];
    for (let at = 0; at < files.length; at += 100) {
      if (at) await turn('#files-next', at);
      const got = await filePage();
      check(same(got, wantFiles(at)), `files ${at + 1}–: ${JSON.stringify(got.slice(0, 2))}… vs ${JSON.stringify(wantFiles(at).slice(0, 2))}…`);
      check((await page.textContent('#files-status')) === `Files ${at + 1}–${at + got.length} of ${files.length}`, `status: ${await page.textContent('#files-status')}`);
      pages.push(got.length);
    }
    check(await page.isDisabled('#files-next'), 'no page after the last');
    await turn('#files-prev', 100);
    check(/[?&]files=/.test(page.url()), `the page is in the URL: ${page.url()}`);
    await page.reload();
    await page.waitForSelector('#files-table tbody tr');
    check(same(await filePage(), wantFiles(100)), 'the page restored from the URL');
    await turn('#files-prev', 0);
    check(await page.isDisabled('#files-prev'), 'no page before the first');

    // Schema and profile, as served.
    check(served && served.version === 1, 'version 1 served');
    const t0 = served.tables[0];
    const prof = await cells('#profile-0');
    check(same(prof.map((r) => r[0]), t0.columns.map((c) => c.name)), `profile columns ${prof.map((r) => r[0])}`);
    const stats = ['count', 'missing', 'distinct', 'min', 'p25', 'p50', 'p75', 'max', 'mean', 'std'];
    t0.columns.forEach((c, i) => {
      const r = prof[i];
      check(r[1] === c.type && r[2] === (c.nullable ? 'yes' : 'no'), `schema of ${c.name}: ${r.slice(1, 3)}`);
      stats.forEach((k, j) => {
        const text = r[3 + j], v = c[k];
        check(v === null || v === undefined ? text === '' : Math.abs(Number(text) - v) <= 1e-5 * Math.max(1, Math.abs(v)), `${c.name} ${k}: "${text}" vs ${v}`);
      });
      for (const [val, n] of c.top || []) check(r[13].includes(`${val} (${n})`), `${c.name} top ${val}: ${r[13]}`);
    });
    const warnings = (served.validation && served.validation.warnings) || [];
    check((await page.$$('#validation-warnings li')).length === warnings.length, 'validation warnings listed');
    await shot('dataset-version-files');

    // Version 2: the runs and the model version that used it.
    await page.goto(`${url}/#/datasets/${name}/2`);
    await page.waitForSelector('#used-by h3');
    const runs = await page.$$eval('#used-runs tbody tr', (trs) => trs.map((tr) => [tr.dataset.run, tr.children[0].textContent]));
    check(same(runs.sort(), usage.runs.map((r) => [r.run_id, r.run_name]).sort()), `runs ${JSON.stringify(runs)}`);
    const mv = usage.model_versions[0];
    check(same(await cells('#used-models'), [[`${mv.name} v${mv.version}`, mv.run_id.slice(0, 12)]]), `model versions: ${JSON.stringify(await cells('#used-models'))}`);
    check((await fact('parent')).startsWith('Version 1'), `parent: ${await fact('parent')}`);
    await shot('dataset-used-by');
    const r0 = usage.runs[0];
    await page.click(`#used-runs a[href="#/runs/${r0.run_id}"]`);
    await page.waitForSelector('#inputs-table');
    check((await page.textContent('#inputs-table')).includes(`capstan-dataset:${name}@2`), 'the run page lists the dataset input');
    await page.goBack();
    await page.click(`#used-models a[href="#/models/${model.name}/versions/${model.version}"]`);
    const dsNode = `#lineage-graph a[href="#/datasets/${name}/2"]`;
    await page.waitForSelector(dsNode);
    check((await page.textContent(dsNode)).includes('v2'), `the lineage node names the version: ${await page.textContent(dsNode)}`);
    await shot('dataset-lineage');
    await page.click(dsNode);
    await page.waitForSelector('#version-facts');
    check((await page.textContent('h1')).includes('version 2'), 'the lineage link opens the version');

    // A model version whose dataset version was removed.
    await page.goto(`${url}/#/models/${gone.name}/versions/${gone.version}`);
    await page.waitForSelector('#lineage-graph [data-node-type=dataset]');
    const goneText = await page.textContent('#lineage-graph [data-node-type=dataset]');
    check(goneText.includes('removed'), `removed dataset node: ${goneText}`);
    check(!(await page.$('#lineage-graph a [data-node-type=dataset]')), 'a removed version is no link');

    // A version that does not exist: the server's message in place of the page.
    await page.goto(`${url}/#/datasets/${name}/99`);
    await page.waitForSelector('#main .error');
    const err = await page.textContent('#main .error');
    check(err.includes(missing), `error "${err}" shows "${missing}"`);
    check((await page.textContent('#main .crumbs')).includes(name), 'the breadcrumbs stay');
    await shot('dataset-missing');
    return {file_pages: pages, profile_columns: prof.map((r) => r[0])};
  },

  // The Pipelines pages, reached from the navigation: pipeline runs newest
  // first with their states and stage counts; one run's DAG with each stage
  // by state (text and colour) and duration, every edge, stages by levels,
  // each linking to its run, whose page links back.
  async pipelines() {
    const {runs, status, counts, states, edges, stage_runs: stageRuns, seconds, exit_code: exitCode} = args;
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    const sorted = (o) => Object.entries(o).sort();
    await page.goto(`${url}/#/experiments`);
    await page.click('header nav a[data-section=pipelines]');
    await page.waitForSelector('#pipelines-table tbody tr');
    check((await page.getAttribute('header nav a[data-section=pipelines]', 'aria-current')) === 'page', 'the navigation marks Pipelines');
    const rows = await page.$$eval('#pipelines-table tbody tr', (trs) => trs.map((tr) => ({id: tr.dataset.runId, state: tr.children[1].textContent,
      duration: tr.children[3].textContent, counts: [...tr.querySelectorAll('.stage-counts .badge')].map((b) => b.textContent).sort()})));
    check(same(rows.map((r) => r.id), runs), `rows newest first: ${rows.map((r) => r.id)} vs ${runs}`);
    check(same(rows.map((r) => r.state), status), `states ${rows.map((r) => r.state)}`);
    check(same(rows.map((r) => r.counts), counts), `stage counts ${JSON.stringify(rows.map((r) => r.counts))}`);
    check(rows.every((r) => /^\d+(\.\d)?m?s$/.test(r.duration)), `durations ${rows.map((r) => r.duration)}`);
    await shot('pipelines');

    await page.click(`#pipelines-table a[href="#/pipelines/${runs[0]}"]`);
    await page.waitForSelector('#pipeline-dag g.node');
    const nodes = await page.$$eval('#pipeline-dag g.node', (gs) => gs.map((g) => ({stage: g.dataset.stage, state: g.dataset.state,
      x: Math.round(g.getBoundingClientRect().x), fill: getComputedStyle(g.querySelector('rect')).fill,
      text: [...g.querySelectorAll('text')].map((x) => x.textContent), href: g.parentElement.getAttribute('href')})));
    check(same(sorted(Object.fromEntries(nodes.map((n) => [n.stage, n.state]))), sorted(states)), `stage states ${JSON.stringify(nodes.map((n) => [n.stage, n.state]))}`);
    const dur = (s) => (s < 1 ? `${Math.round(s * 1000)}ms` : `${s.toFixed(1)}s`);
    for (const n of nodes) {
      check(n.text[0] === n.state.toUpperCase() && n.text[1] === n.stage, `${n.stage}'s box names it and its state: ${n.text}`);
      check(n.href === `#/runs/${stageRuns[n.stage]}`, `${n.stage} links to its run: ${n.href}`);
      const want = n.state === 'cancelled' ? 'not started' : n.state === 'failed' ? `${dur(seconds[n.stage])} · exit ${exitCode}` : dur(seconds[n.stage]);
      check(n.text[2] === want, `${n.stage}'s detail "${n.text[2]}" vs "${want}"`);
    }
    check(new Set(nodes.map((n) => n.fill)).size === nodes.length, `one colour a state: ${nodes.map((n) => n.fill)}`);
    const drawn = (await page.$$eval('#pipeline-dag path.edge', (ps) => ps.map((p) => `${p.dataset.source}>${p.dataset.target}`))).sort();
    check(same(drawn, edges), `edges ${drawn} vs ${edges}`);
    const xs = [...new Set(nodes.map((n) => n.x))].sort((a, b) => a - b);
    const levels = xs.map((x) => nodes.filter((n) => n.x === x).map((n) => n.stage).sort());
    const table = await page.$$eval('#stages-table tbody tr', (trs) => trs.map((tr) => [tr.dataset.stage, tr.children[1].textContent]));
    check(same(table, Object.keys(args.states).map((k) => [k, states[k]])), `stages table in dvc.yaml order: ${JSON.stringify(table)}`);
    await shot('pipeline-dag');

    // The failed stage's box opens its run, whose page links back; so does
    // the pipeline run's own page.
    await page.click(`#pipeline-dag a[href="#/runs/${stageRuns.right}"]`);
    await page.waitForSelector('#pipeline-link');
    check((await page.textContent('h1')) === 'right', `the stage's run page: ${await page.textContent('h1')}`);
    await page.click('#pipeline-link');
    await page.waitForSelector('#pipeline-dag');
    check(page.url().endsWith(`#/pipelines/${runs[0]}`), `back to the DAG: ${page.url()}`);
    await page.click('#pipeline-run-link');
    await page.waitForSelector('#pipeline-link');
    check((await page.getAttribute('#pipeline-link', 'href')) === `#/pipelines/${runs[0]}`, 'the pipeline run page links to its DAG');
    // A run that is no pipeline run: a message saying so, not an empty DAG.
    await page.goto(`${url}/#/pipelines/${stageRuns.left}`);
    await page.waitForSelector('#main .error');
    const err = await page.textContent('#main .error');
    check(err.includes('not a pipeline run') && !(await page.$('#pipeline-dag')), `error: ${err}`);
    return {levels};
  },

  // 100,000 runs: the first page renders, and a sort round-trips through the server.
  async big() {
    const t0 = Date.now();
    await page.goto(`${url}/#/experiments/${args.experiment_id}`);
    await page.waitForSelector('#runs-table tbody tr');
    const first = Date.now() - t0;
    const names = await rowNames();
    check(names.length === 100, `first page has 100 rows (${names.length})`);
    check(names[0] === args.newest, `newest run first: ${names[0]} vs ${args.newest}`);
    await shot('big-first-page');
    const t1 = Date.now();
    const {body} = await tableLoad(() => page.click('#runs-table th[title=m2] button'));
    const sorted = Date.now() - t1;
    check(body.order_by[0] === 'metrics.m2 ASC', `sort sent to the server: ${body.order_by}`);
    const got = await rowNames();
    check(JSON.stringify(got.slice(0, args.lowest.length)) === JSON.stringify(args.lowest), `lowest m2 first: ${got.slice(0, 5)} vs ${args.lowest.slice(0, 5)}`);
    const m2 = (await columnValues('m2')).map(Number);
    check(m2.every((v, i) => i === 0 || m2[i - 1] <= v), 'm2 ascending on the page');
    // Next page continues the order.
    await tableLoad(() => page.click('#next-page'));
    const m2b = (await columnValues('m2')).map(Number);
    check(m2b[0] >= m2[m2.length - 1], 'page 2 continues the sort');
    check((await page.textContent('#table-status')).startsWith('Rows 101–200'), 'row numbers on page 2');
    await shot('big-sorted');
    return {firstRenderMs: first, sortedMs: sorted};
  },
};

let code = 0;
try {
  check(scenarios[scenario], `unknown scenario ${scenario}`);
  const result = await scenarios[scenario]();
  if (problems.length) throw new Error(problems.join('\n'));
  console.log(JSON.stringify({scenario, ok: true, screenshots: shots, ...result}));
} catch (e) {
  code = 1;
  try { await shot(`${scenario}-FAILED`); } catch { /* page gone */ }
  console.log(`FAILED ${scenario}: ${e.message}\nURL: ${page.url()}\n${problems.join('\n')}`);
}
await browser.close();
process.exit(code);
