// pipelines.js - pipeline runs recorded by `capstan pipeline run
// --tracking-uri` (cli/cmd_pipeline_track.c): a run tagged capstan.pipeline,
// each stage a nested run (mlflow.parentRunId) tagged capstan.stage and, once
// it ends, capstan.stage.state and .seconds. The list: every pipeline run,
// newest first, with its state, duration and its stages' states counted.
// One run: its DAG (capstan.pipeline.dag, recorded at the start, else the
// stage runs' capstan.stage.after) drawn by levels, each stage coloured and
// named by its state, with its duration, linking to its run; then the same
// stages as a table.
import {h, append, replace, crumbs, card, gridTable, fmtTime, fmtDuration, badge, errorBox, loading} from '../dom.js';
import {api, all, kv, quoteKey} from '../api.js';
import {layout, dagSvg} from '../dag.js';

const PAGE = 50;
const PIPELINE_FILTER = `tags.${quoteKey('capstan.pipeline')} LIKE '%'`;
const pipelineHref = (id) => `#/pipelines/${id}`;
const top = (...parts) => crumbs(['Pipelines', '#/pipelines'], ...parts);
const duration = (i) => (i.end_time ? fmtDuration(i.end_time - i.start_time) : '—');

const runTags = (r) => kv(r && r.data && r.data.tags);

function jsonTag(tags, key) {
  try { return JSON.parse(tags.get(key) || 'null'); } catch { return null; }
}

// A pipeline run's stage runs, oldest first.
function stageRuns(info, signal) {
  return all('mlflow/runs/search', {experiment_ids: [info.experiment_id], max_results: 1000, order_by: ['attributes.start_time ASC'],
    filter: `tags.mlflow.parentRunId = '${info.run_id}'`}, 'runs', signal);
}

// The stage runs' states: capstan.stage.state once a stage ended, "running"
// before, the run's own status where the tag is missing.
function stageState(run, pipelineStatus) {
  if (!run) return pipelineStatus === 'RUNNING' ? 'waiting' : 'not run';
  return runTags(run).get('capstan.stage.state') || (run.info.status === 'RUNNING' ? 'running' : run.info.status.toLowerCase());
}

// [{name, after, run, tags, state}] in the order of dvc.yaml (or of the stage
// runs' starts when the DAG was not recorded); a stage run whose stage the
// DAG lacks is shown too, with no edges.
function stages(tags, status, runs) {
  const byName = new Map();
  for (const r of runs) {
    const name = runTags(r).get('capstan.stage');
    if (name !== undefined) byName.set(name, r);
  }
  const dag = jsonTag(tags, 'capstan.pipeline.dag');
  const names = (a) => (Array.isArray(a) ? a.map(String) : []);
  const list = dag && Array.isArray(dag.stages) ? dag.stages.map((st) => ({name: String(st.name), after: names(st.after)})) : [];
  const known = new Set(list.map((st) => st.name));
  for (const [name, r] of byName) {
    if (!known.has(name)) list.push({name, after: dag ? [] : names(jsonTag(runTags(r), 'capstan.stage.after'))});
  }
  return list.map((st) => {
    const run = byName.get(st.name);
    return {...st, run, tags: runTags(run), state: stageState(run, status)};
  });
}

// "2 done · 1 cached" in badges, in the order the states come.
function stateCounts(list) {
  const n = new Map();
  for (const st of list) n.set(st.state, (n.get(st.state) || 0) + 1);
  return [...n].map(([state, k]) => badge(`${k} ${state}`, state.replace(/ /g, '-')));
}

function stageSeconds(st) {
  const v = st.tags.get('capstan.stage.seconds');
  return v === undefined ? '' : fmtDuration(Number(v) * 1000);
}
const exitCode = (st) => st.tags.get('capstan.stage.exit_code');

// A box's last line: how long it took and how it exited; -1 is the code of
// a stage that never started (its upstream failed).
function stageDetail(st) {
  const code = exitCode(st);
  if (code === '-1') return 'not started';
  return [stageSeconds(st), code !== undefined ? `exit ${code}` : ''].filter(Boolean).join(' · ');
}

// ---- the list --------------------------------------------------------------

async function listRow(run, signal) {
  const i = run.info, tags = runTags(run);
  const cell = h('td', {class: 'stage-counts'});
  const file = tags.get('capstan.pipeline') || '';
  const row = h('tr', {'data-run-id': i.run_id},
    h('th', {scope: 'row'}, h('a', {href: pipelineHref(i.run_id)}, i.run_name || i.run_id)),
    h('td', {}, badge(i.status)), h('td', {class: 'nowrap'}, fmtTime(i.start_time)), h('td', {class: 'num'}, duration(i)), cell,
    h('td', {}, tags.get('capstan.schedule') || ''), h('td', {class: 'mono truncate', title: file}, file));
  try {
    const list = stages(tags, i.status, await stageRuns(i, signal));
    append(cell, [h('span', {class: 'muted'}, `${list.length}: `), stateCounts(list)]);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    cell.append(errorBox(e));
  }
  return row;
}

export async function renderList(main, _args, ctx) {
  ctx.setTitle('Pipelines');
  const head = h('h1', {}, 'Pipelines');
  replace(main, head, loading('pipeline runs'));
  const exps = await all('mlflow/experiments/search', {max_results: 1000}, 'experiments', ctx.signal);
  const ids = exps.map((e) => e.experiment_id);
  const table = gridTable({id: 'pipelines-table', caption: 'Pipeline runs, newest first'},
    ['Pipeline', 'State', 'Started', 'Duration', 'Stages', 'Schedule', 'File'], []);
  const tbody = table.tBodies[0];
  const more = h('button', {type: 'button', class: 'secondary', id: 'pipelines-more'}, 'More');
  const moreBar = h('div', {class: 'toolbar'});
  const status = h('p', {class: 'muted', id: 'pipelines-status', 'aria-live': 'polite'});
  let token;
  const load = async () => {
    more.disabled = true;
    const r = ids.length ? await api.post('mlflow/runs/search', {experiment_ids: ids, filter: PIPELINE_FILTER,
      order_by: ['attributes.start_time DESC'], max_results: PAGE, page_token: token}, ctx.signal) : {};
    token = r.next_page_token;
    tbody.append(...await Promise.all((r.runs || []).map((run) => listRow(run, ctx.signal))));
    moreBar.replaceChildren(...(token ? [more] : []));
    more.disabled = false;
    status.textContent = `${tbody.rows.length} pipeline runs${token ? ', newest first; more below' : ''}`;
  };
  more.addEventListener('click', () => load().catch((e) => { if (e.name !== 'AbortError') main.append(errorBox(e)); }));
  await load();
  if (!tbody.rows.length) {
    replace(main, head, h('p', {class: 'muted', id: 'no-pipelines'}, 'No pipeline runs yet: ',
      h('code', {}, 'capstan pipeline run --tracking-uri URL'), ' records one.'));
    return;
  }
  replace(main, head, status, h('div', {class: 'table-wrap'}, table), moreBar);
}

// ---- one run ---------------------------------------------------------------

function dagFigure(list) {
  const nodes = list.map((st, i) => ({...st, id: st.name, i}));
  const known = new Set(nodes.map((n) => n.id));
  const edges = nodes.flatMap((n) => n.after.filter((a) => known.has(a)).map((a) => ({source: a, target: n.id})));
  const L = layout({nodes, edges}, (a, b) => a.i - b.i);
  const svg = dagSvg(L, {id: 'pipeline-dag', cls: 'lineage pipeline-dag', label: `Pipeline DAG with ${nodes.length} stages and ${L.edges.length} edges`,
    box: (n) => ({kind: n.state, title: n.name, href: n.run ? `#/runs/${n.run.info.run_id}` : null,
      detail: stageDetail(n),
      attrs: {class: `stage-${n.state.replace(/ /g, '-')}`, 'data-stage': n.name, 'data-state': n.state}})});
  return h('div', {class: 'lineage-scroll'}, svg);
}

function stagesTable(list) {
  return h('div', {class: 'table-wrap'}, gridTable({id: 'stages-table', caption: 'Stages in dvc.yaml order'},
    ['Stage', 'State', 'Duration', 'After', 'Exit code', 'Reason', 'Command'],
    list.map((st) => {
      const t = st.tags;
      return h('tr', {'data-stage': st.name},
        h('th', {scope: 'row'}, st.run ? h('a', {href: `#/runs/${st.run.info.run_id}`}, st.name) : st.name),
        h('td', {}, badge(st.state, st.state.replace(/ /g, '-'))), h('td', {class: 'num'}, exitCode(st) === '-1' ? '' : stageSeconds(st)),
        h('td', {}, st.after.join(', ')), h('td', {class: 'num'}, exitCode(st) === '-1' ? '' : exitCode(st) || ''),
        h('td', {class: 'wrap'}, t.get('capstan.stage.reason') || ''), h('td', {class: 'mono wrap'}, t.get('capstan.stage.cmd') || ''));
    })));
}

export async function renderRun(main, [runId], ctx) {
  ctx.setTitle(`Pipeline ${runId.slice(0, 8)}`);
  replace(main, top(runId), loading('pipeline run'));
  const {run} = await api.get('mlflow/runs/get', {run_id: runId}, ctx.signal);
  const i = run.info, tags = runTags(run);
  const name = i.run_name || runId;
  ctx.setTitle(name);
  const head = [top(name), h('div', {class: 'title-row'}, h('h1', {}, name),
    h('a', {class: 'button secondary', id: 'pipeline-run-link', href: `#/runs/${runId}`}, 'Run page'))];
  if (!tags.has('capstan.pipeline')) {
    replace(main, head, errorBox(new Error(`Run ${runId} is not a pipeline run: it has no capstan.pipeline tag (set by capstan pipeline run --tracking-uri).`)));
    return;
  }
  const list = stages(tags, i.status, await stageRuns(i, ctx.signal));
  const expLink = h('a', {href: `#/experiments/${encodeURIComponent(i.experiment_id)}`}, i.experiment_id);
  api.get('mlflow/experiments/get', {experiment_id: i.experiment_id}, ctx.signal)
    .then((r) => { expLink.textContent = r.experiment.name; }).catch(() => {});
  const fact = (label, ...v) => [h('dt', {}, label), h('dd', {}, v)];
  replace(main, head, h('dl', {class: 'facts', id: 'pipeline-facts'},
    fact('State', badge(i.status)), fact('Pipeline', h('span', {class: 'mono'}, tags.get('capstan.pipeline'))),
    fact('Started', fmtTime(i.start_time)), fact('Duration', duration(i)),
    fact('Experiment', expLink),
    tags.has('capstan.schedule') ? fact('Schedule', tags.get('capstan.schedule'), tags.has('capstan.tick') ? ` (tick ${tags.get('capstan.tick')})` : '') : null,
    fact('Stages', stateCounts(list))),
  card('dag', 'DAG', list.length ? dagFigure(list) : h('p', {class: 'muted'}, 'No stages recorded.')),
  card('stages', `Stages (${list.length})`, stagesTable(list)));
}
