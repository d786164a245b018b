/* store_schema.c - the SQLite schema and its versioned migrations.
 *
 * schema_version holds one row per applied migration. At open, every
 * migration newer than the database's version runs once, each in its own
 * IMMEDIATE transaction (so two processes opening the same file at once
 * cannot both apply it), and a database newer than this code is refused.
 * Migrations are append-only: never edit one that has shipped, add another.
 *
 * Design notes:
 * - Runs have an integer surrogate key (rid) besides the public run_uuid;
 *   every per-run table is keyed by rid, which keeps the big indexes
 *   (metrics, latest_metrics, params, tags) small and the joins cheap.
 * - Per-run tables are WITHOUT ROWID with the natural key as primary key, so
 *   the rows are stored in key order and a lookup is one b-tree descent.
 * - metrics keeps every point; its primary key is the point's identity, so
 *   an exact duplicate is a no-op. The key starts (rid, timestamp): a
 *   log_batch of 100 keys then appends to one or two pages at the end of the
 *   run's range, whereas (rid, key, ...) scatters it over 100 pages, one per
 *   key, and made writes 10x slower once runs had a few hundred steps. The
 *   price is on reading one key's history: a scan of the run's points and a
 *   sort of that key's (a few ms for 100k points). NaN cannot be stored as
 *   a REAL (SQLite turns it into NULL) and a primary-key column cannot be
 *   NULL, so NaN is value 0 with is_nan 1. +-Inf are stored as real IEEE
 *   values and come back as such.
 * - latest_metrics holds the latest point per (run, key) for search and for
 *   Run.data.metrics; NaN is value NULL there so that comparisons never
 *   match it and it sorts apart from real numbers. Its (key, value) index
 *   lets a search ordered by a metric walk runs in metric order. */
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "store/store_sqlite.h"

static const char *const migrations[STORE_SCHEMA_VERSION] = {
    /* 1: experiments and runs with their params, tags and metrics. */
    "CREATE TABLE experiments ("
    "  experiment_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  artifact_location TEXT NOT NULL,"
    "  lifecycle_stage TEXT NOT NULL DEFAULT 'active'"
    "    CHECK (lifecycle_stage IN ('active', 'deleted')),"
    "  creation_time INTEGER NOT NULL,"
    "  last_update_time INTEGER NOT NULL,"
    "  deleted_time INTEGER);"
    "CREATE INDEX experiments_by_creation ON experiments(creation_time DESC, experiment_id);"
    "CREATE TABLE experiment_tags ("
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (experiment_id, key)) WITHOUT ROWID;"
    "CREATE TABLE runs ("
    "  rid INTEGER PRIMARY KEY,"
    "  run_uuid TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),"
    "  user_id TEXT,"
    "  status TEXT NOT NULL,"
    "  start_time INTEGER NOT NULL,"
    "  end_time INTEGER,"
    "  lifecycle_stage TEXT NOT NULL DEFAULT 'active'"
    "    CHECK (lifecycle_stage IN ('active', 'deleted')),"
    "  artifact_uri TEXT NOT NULL,"
    "  deleted_time INTEGER);"
    "CREATE INDEX runs_by_experiment"
    "  ON runs(experiment_id, lifecycle_stage, start_time DESC, run_uuid);"
    "CREATE TABLE params ("
    "  rid INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (rid, key)) WITHOUT ROWID;"
    "CREATE INDEX params_by_key_value ON params(key, value);"
    "CREATE TABLE tags ("
    "  rid INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (rid, key)) WITHOUT ROWID;"
    "CREATE INDEX tags_by_key_value ON tags(key, value);"
    "CREATE TABLE metrics ("
    "  rid INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  step INTEGER NOT NULL,"
    "  timestamp INTEGER NOT NULL,"
    "  value REAL NOT NULL,"
    "  is_nan INTEGER NOT NULL DEFAULT 0,"
    "  model_id TEXT,"
    "  dataset_name TEXT,"
    "  dataset_digest TEXT,"
    "  PRIMARY KEY (rid, timestamp, step, key, value, is_nan)) WITHOUT ROWID;"
    "CREATE INDEX metrics_by_model ON metrics(model_id) WHERE model_id IS NOT NULL;"
    "CREATE TABLE latest_metrics ("
    "  rid INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value REAL,"
    "  step INTEGER NOT NULL,"
    "  timestamp INTEGER NOT NULL,"
    "  is_nan INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (rid, key)) WITHOUT ROWID;"
    "CREATE INDEX latest_metrics_by_key_value ON latest_metrics(key, value);",

    /* 2: dataset inputs, MLflow 3 logged models and run <-> model links. */
    "CREATE TABLE datasets ("
    "  dataset_id INTEGER PRIMARY KEY,"
    "  dataset_uuid TEXT NOT NULL UNIQUE,"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),"
    "  name TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  source_type TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  schema TEXT,"
    "  profile TEXT,"
    "  UNIQUE (experiment_id, name, digest));"
    "CREATE TABLE inputs ("
    "  rid INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,"
    "  dataset_id INTEGER NOT NULL REFERENCES datasets(dataset_id),"
    "  PRIMARY KEY (rid, dataset_id)) WITHOUT ROWID;"
    "CREATE INDEX inputs_by_dataset ON inputs(dataset_id);"
    "CREATE TABLE input_tags ("
    "  rid INTEGER NOT NULL,"
    "  dataset_id INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (rid, dataset_id, key),"
    "  FOREIGN KEY (rid, dataset_id) REFERENCES inputs(rid, dataset_id) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE TABLE logged_models ("
    "  model_id TEXT PRIMARY KEY,"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),"
    "  name TEXT NOT NULL,"
    "  artifact_uri TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  creation_time INTEGER NOT NULL,"
    "  last_updated_time INTEGER NOT NULL,"
    "  source_run_id TEXT,"
    "  model_type TEXT,"
    "  lifecycle_stage TEXT NOT NULL DEFAULT 'active'"
    "    CHECK (lifecycle_stage IN ('active', 'deleted')));"
    "CREATE INDEX logged_models_by_experiment"
    "  ON logged_models(experiment_id, lifecycle_stage, creation_time DESC);"
    "CREATE TABLE logged_model_params ("
    "  model_id TEXT NOT NULL REFERENCES logged_models(model_id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (model_id, key)) WITHOUT ROWID;"
    "CREATE TABLE logged_model_tags ("
    "  model_id TEXT NOT NULL REFERENCES logged_models(model_id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (model_id, key)) WITHOUT ROWID;"
    /* Model ids are not foreign keys here: MLflow accepts links to models
     * logged elsewhere and a replayed request must not fail on them. */
    "CREATE TABLE run_model_inputs ("
    "  rid INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,"
    "  model_id TEXT NOT NULL,"
    "  PRIMARY KEY (rid, model_id)) WITHOUT ROWID;"
    "CREATE TABLE run_outputs ("
    "  rid INTEGER NOT NULL REFERENCES runs(rid) ON DELETE CASCADE,"
    "  model_id TEXT NOT NULL,"
    "  step INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (rid, model_id)) WITHOUT ROWID;",

    /* 3: the model registry. Models have an integer surrogate key, so a
     * rename touches one row and versions, tags and aliases follow it. The
     * model row carries the last version number handed out: numbers are
     * never reused, even after the newest version is deleted. Versions are a
     * rowid table (metadata_json can be a few KB, too big for WITHOUT ROWID)
     * with (model_key, version) unique; aliases point at that pair, so
     * deleting a version drops its aliases and deleting a model drops
     * everything through the cascades. model_versions_by_stage makes "the
     * newest READY version in a stage" one index descent. */
    "CREATE TABLE registered_models ("
    "  model_key INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  description TEXT,"
    "  user_id TEXT,"
    "  creation_time INTEGER NOT NULL,"
    "  last_updated_time INTEGER NOT NULL,"
    "  last_version INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE registered_model_tags ("
    "  model_key INTEGER NOT NULL REFERENCES registered_models(model_key) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (model_key, key)) WITHOUT ROWID;"
    "CREATE INDEX registered_model_tags_by_key_value ON registered_model_tags(key, value);"
    "CREATE TABLE model_versions ("
    "  mv_id INTEGER PRIMARY KEY,"
    "  model_key INTEGER NOT NULL REFERENCES registered_models(model_key) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL,"
    "  creation_time INTEGER NOT NULL,"
    "  last_updated_time INTEGER NOT NULL,"
    "  user_id TEXT,"
    "  current_stage TEXT NOT NULL DEFAULT 'None'"
    "    CHECK (current_stage IN ('None', 'Staging', 'Production', 'Archived')),"
    "  description TEXT,"
    "  source TEXT NOT NULL,"
    "  run_id TEXT,"
    "  run_link TEXT,"
    "  model_id TEXT,"
    "  status TEXT NOT NULL"
    "    CHECK (status IN ('READY', 'PENDING_REGISTRATION', 'FAILED_REGISTRATION')),"
    "  status_message TEXT,"
    "  metadata_json TEXT,"
    "  UNIQUE (model_key, version));"
    "CREATE INDEX model_versions_by_stage"
    "  ON model_versions(model_key, current_stage, status, version);"
    "CREATE INDEX model_versions_by_run ON model_versions(run_id) WHERE run_id IS NOT NULL;"
    "CREATE TABLE model_version_tags ("
    "  mv_id INTEGER NOT NULL REFERENCES model_versions(mv_id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (mv_id, key)) WITHOUT ROWID;"
    "CREATE INDEX model_version_tags_by_key_value ON model_version_tags(key, value);"
    "CREATE TABLE registered_model_aliases ("
    "  model_key INTEGER NOT NULL,"
    "  alias TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  PRIMARY KEY (model_key, alias),"
    "  FOREIGN KEY (model_key, version) REFERENCES model_versions(model_key, version)"
    "    ON DELETE CASCADE) WITHOUT ROWID;"
    "CREATE INDEX registered_model_aliases_by_version"
    "  ON registered_model_aliases(model_key, version);",
    /* 4: serving. A deployment's spec is the serving module's JSON, kept
     * verbatim. The prediction log is append-only and read by deployment
     * and time, so its key is (deployment, ts, id). */
    "CREATE TABLE deployments ("
    "  name TEXT PRIMARY KEY,"
    "  spec TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE predictions ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts INTEGER NOT NULL,"
    "  deployment TEXT NOT NULL,"
    "  model_name TEXT NOT NULL,"
    "  model_version TEXT NOT NULL,"
    "  role TEXT NOT NULL,"
    "  request_id TEXT,"
    "  latency_us INTEGER NOT NULL,"
    "  inputs BLOB,"
    "  outputs BLOB,"
    "  agree INTEGER);"
    "CREATE INDEX predictions_by_deployment_ts ON predictions(deployment, ts, id);"
    "CREATE INDEX predictions_by_ts ON predictions(ts, id);",
    /* 5: the prediction log in segments: one row holds up to 1024 requests
     * of one deployment (store_sqlite_serving.c's format), so a busy server
     * writes a row per batch instead of a row and two index entries per
     * request. The rows of migration 4 are converted by a C step
     * (store_sq_predictions_upgrade) in the same transaction. */
    "DROP INDEX predictions_by_deployment_ts;"
    "DROP INDEX predictions_by_ts;"
    "ALTER TABLE predictions RENAME TO predictions_v4;"
    "CREATE TABLE prediction_segments ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  deployment TEXT NOT NULL,"
    "  ts_first INTEGER NOT NULL,"
    "  ts_last INTEGER NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  data BLOB NOT NULL);"
    "CREATE INDEX prediction_segments_by_deployment ON prediction_segments(deployment, id);",
    /* 6: monitoring. A baseline is the reference of a deployment or a model
     * version (its sample and profile live in the artifact store; meta is
     * the monitor's JSON). A window is one computed monitoring result; the
     * monitor's cursor into the prediction log is stored in the same
     * transaction as the windows it closed. Alert rules, each with its
     * streak (consecutive breaching windows) and the last window counted,
     * and their history of state changes, with the delivery state of each. */
    "CREATE TABLE monitor_baselines ("
    "  target TEXT PRIMARY KEY,"
    "  artifact_path TEXT NOT NULL,"
    "  meta TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE monitor_windows ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  deployment TEXT NOT NULL,"
    "  width_s INTEGER NOT NULL,"
    "  start_ms INTEGER NOT NULL,"
    "  end_ms INTEGER NOT NULL,"
    "  nrows INTEGER NOT NULL,"
    "  result TEXT NOT NULL,"
    "  profile BLOB,"
    "  UNIQUE(deployment, width_s, start_ms));"
    "CREATE TABLE monitor_state ("
    "  key TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE alert_rules ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  deployment TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  rule TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  streak INTEGER NOT NULL DEFAULT 0,"
    "  last_window_id INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(deployment, name));"
    "CREATE TABLE alert_events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  deployment TEXT NOT NULL,"
    "  rule TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  at_ms INTEGER NOT NULL,"
    "  value REAL,"
    "  window_id INTEGER,"
    "  detail TEXT,"
    "  delivered INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX alert_events_by_deployment ON alert_events(deployment, id);"
    "CREATE INDEX alert_events_by_rule ON alert_events(deployment, rule, id);"
    "CREATE INDEX alert_events_pending ON alert_events(id) WHERE delivered = 0;",
    /* 7: feedback. prediction_keys holds, per log segment, the keys of its
     * answering requests (shadows excluded): a 64-bit hash of (deployment,
     * request id) each, little-endian, the input of the id index that
     * store_sqlite_keys.c keeps in memory (a B-tree on random keys cost the
     * log writer 17x). A label is joined to its prediction when it arrives
     * and stored with what the prediction said, so quality needs no log
     * (and outlives its retention); a new label for the same row replaces
     * the current one and the old one stays as history. */
    "CREATE TABLE prediction_keys ("
    "  seg INTEGER PRIMARY KEY,"
    "  deployment TEXT NOT NULL,"
    "  keys BLOB NOT NULL);"
    "CREATE TABLE feedback_labels ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  deployment TEXT NOT NULL,"
    "  request_id TEXT NOT NULL,"
    "  row INTEGER NOT NULL,"
    "  label TEXT,"
    "  value REAL,"
    "  label_ms INTEGER,"
    "  received_ms INTEGER NOT NULL,"
    "  source TEXT NOT NULL,"
    "  pred_ms INTEGER NOT NULL,"
    "  model_version TEXT NOT NULL,"
    "  prediction TEXT,"
    "  pred_value REAL,"
    "  scores BLOB,"
    "  current INTEGER NOT NULL);"
    /* One index, in prediction time order: a window's labels are a range,
     * and the label a new one replaces is found by its prediction's time
     * and id. Keyed by the id alone, each label dirtied a random page. */
    "CREATE INDEX feedback_labels_by_time ON feedback_labels(deployment, pred_ms, request_id,"
    "  row);"
    /* A concept-drift detector of a deployment's error stream: its spec and
     * its state (feedback/detect.h's blob) after the labels seen, written in
     * the transaction of those labels; detections are its drifts and the
     * starts of its warnings (a warning lasts many labels). */
    "CREATE TABLE feedback_detectors ("
    "  deployment TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  spec TEXT NOT NULL,"
    "  state BLOB NOT NULL,"
    "  seen INTEGER NOT NULL,"
    "  warning INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (deployment, name)) WITHOUT ROWID;"
    "CREATE TABLE feedback_detections ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  deployment TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  request_id TEXT NOT NULL,"
    "  row INTEGER NOT NULL,"
    "  at_ms INTEGER NOT NULL);"
    "CREATE INDEX feedback_detections_by_deployment ON feedback_detections(deployment, id);"
    /* The human review queue: a deployment's rule (which predictions go to
     * review) with its cursor into the prediction log, and the queued rows
     * with what the reviewer saw (inputs, prediction, probabilities as JSON)
     * and what they said. */
    "CREATE TABLE review_rules ("
    "  deployment TEXT PRIMARY KEY,"
    "  rule TEXT NOT NULL,"
    "  cursor INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE review_items ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  deployment TEXT NOT NULL,"
    "  request_id TEXT NOT NULL,"
    "  row INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  pred_ms INTEGER NOT NULL,"
    "  model_version TEXT NOT NULL,"
    "  item TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  label TEXT,"
    "  reviewer TEXT,"
    "  labelled_at INTEGER,"
    "  UNIQUE(deployment, request_id, row));"
    "CREATE INDEX review_items_by_status ON review_items(deployment, status, id);",
    /* 8: datasets (data/). data_names keeps a dataset's next version number
     * after its versions are removed, so NAME@N never names two contents;
     * a version's hash is its manifest object's, meta holds the rest
     * (tags, tables' schemas and profiles, DVC md5s) as JSON. */
    "CREATE TABLE data_names ("
    "  name TEXT PRIMARY KEY,"
    "  next_version INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE data_versions ("
    "  name TEXT NOT NULL REFERENCES data_names(name),"
    "  version INTEGER NOT NULL,"
    "  hash TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  files INTEGER NOT NULL,"
    "  author TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  message TEXT NOT NULL,"
    "  parent INTEGER,"
    "  meta TEXT NOT NULL,"
    "  PRIMARY KEY (name, version)) WITHOUT ROWID;"
    "CREATE INDEX data_versions_by_hash ON data_versions(hash);",
    /* 9: pipeline schedules (pipeline/schedule.c). A run's identity is
     * (schedule, tick): the row is written before the run starts, so a
     * tick never runs twice, even across restarts. last_tick is the latest
     * cron tick recorded, written with that row; last_seen the latest
     * dataset version a dataset trigger has handled. Ticks are ms. */
    "CREATE TABLE pipeline_schedules ("
    "  sid INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  repo TEXT NOT NULL,"
    "  cron TEXT,"
    "  timezone TEXT NOT NULL,"
    "  catch_up TEXT NOT NULL CHECK (catch_up IN ('skip', 'latest', 'all')),"
    "  overlap TEXT NOT NULL CHECK (overlap IN ('forbid', 'allow', 'replace', 'queue')),"
    "  paused INTEGER NOT NULL DEFAULT 0,"
    "  trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('cron', 'alert', 'dataset')),"
    "  trigger_filter TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  last_tick INTEGER,"
    "  last_seen INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE pipeline_schedule_runs ("
    "  id INTEGER PRIMARY KEY,"
    "  sid INTEGER NOT NULL REFERENCES pipeline_schedules(sid) ON DELETE CASCADE,"
    "  tick INTEGER NOT NULL,"
    "  cause TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed',"
    "    'skipped', 'replaced')),"
    "  pid INTEGER,"
    "  exit_status INTEGER,"
    "  started_at INTEGER,"
    "  ended_at INTEGER,"
    "  reason TEXT,"
    "  event TEXT,"
    "  UNIQUE (sid, tick));"
    "CREATE INDEX pipeline_schedule_runs_active ON pipeline_schedule_runs(state)"
    "  WHERE state IN ('queued', 'running');",
    /* 10: OpenLineage RunEvents received at /api/v1/lineage (pipeline/):
     * the whole body as sent, and the fields the reads filter on. */
    "CREATE TABLE lineage_events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  run_id TEXT NOT NULL,"
    "  job_namespace TEXT NOT NULL,"
    "  job_name TEXT NOT NULL,"
    "  event_type TEXT NOT NULL,"
    "  event_time TEXT NOT NULL,"
    "  received_at INTEGER NOT NULL,"
    "  body TEXT NOT NULL);"
    "CREATE INDEX lineage_events_by_run ON lineage_events(run_id, id);"
    "CREATE INDEX lineage_events_by_job ON lineage_events(job_namespace, job_name, id);",
    /* 11: users and their permissions (auth/, MLflow's basic-auth app):
     * an Argon2id hash string per user, never the password; a permission
     * row per (resource, user) for experiments and registered models. */
    "CREATE TABLE auth_users ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  username TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  is_admin INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE auth_permissions ("
    "  kind TEXT NOT NULL,"
    "  resource TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL,"
    "  permission TEXT NOT NULL,"
    "  PRIMARY KEY (kind, resource, user_id));"
    "CREATE INDEX auth_permissions_by_user ON auth_permissions(user_id, kind);",
    /* 12: access tokens (auth/): a user's bearer tokens, kept as the hash of
     * the token (never the token), with an optional expiry. */
    "CREATE TABLE auth_tokens ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  user_id INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  token_hash TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX auth_tokens_by_user ON auth_tokens(user_id, id);",
    /* 13: leases for work that must run on one server at a time (several
     * servers on one PostgreSQL database); holder names a server process. */
    "CREATE TABLE leases ("
    "  name TEXT PRIMARY KEY,"
    "  holder TEXT NOT NULL,"
    "  expires_ms INTEGER NOT NULL);",
    /* 14: what a token may do (auth/'s token scopes): 'write' (all its
     * user may), 'read', or 'infer:<deployment>'. Older tokens keep
     * everything their user may, as they did. */
    "ALTER TABLE auth_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write';",
};

/* Steps of a migration that SQL cannot express, run after its SQL in the
 * same transaction. */
static int (*const migration_steps[STORE_SCHEMA_VERSION])(struct sq_conn *, struct cap_error *) = {
    [4] = store_sq_predictions_upgrade,
    [6] = store_sq_prediction_keys_backfill,
};

static int current_version(struct sq_conn *c, int64_t *out, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt(c, "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                                     err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc != SQ_ROW) {
        sq_reset(st);
        return store_sq_dberr(c, err, "reading the schema version");
    }
    *out = sq_col_int(st, 0);
    sq_reset(st);
    return 0;
}

/* Runs SQLite-dialect DDL; the PostgreSQL driver maps its type names. */
static int exec_ddl(struct sq_conn *c, const char *sql, struct cap_error *err)
{
    if (c->db->drv->exec_ddl(c->db, sql) < 0)
        return cap_err(err, CAP_EINTERNAL, "Database error: %s", sq_errmsg(c->db));
    return 0;
}

/* The write transaction's BEGIN also serialises processes migrating one
 * database at once (SQLite's IMMEDIATE lock, PostgreSQL's advisory lock). */
static int apply(struct sq_conn *c, int version, struct cap_error *err)
{
    int rc = store_sq_exec(c, c->db->drv->begin_write, err);
    if (rc < 0)
        return rc;
    int64_t cur = 0;
    if ((rc = current_version(c, &cur, err)) < 0)
        goto fail;
    if (cur >= version) /* another process got here first */
        return store_sq_exec(c, "COMMIT", err);
    if ((rc = exec_ddl(c, migrations[version - 1], err)) < 0)
        goto fail;
    if (migration_steps[version - 1] && (rc = migration_steps[version - 1](c, err)) < 0)
        goto fail;
    if ((rc = store_sq_run(c, "INSERT INTO schema_version(version, applied_time) VALUES (?, ?)",
                           SQ_ARGS(SQ_INT(version), SQ_INT(cap_now_ms())), err,
                           "recording the schema version")) < 0)
        goto fail;
    if ((rc = store_sq_exec(c, "COMMIT", err)) < 0)
        goto fail;
    cap_log(CAP_LOG_INFO, "store: applied schema migration %d", version);
    return 0;
fail:
    sq_exec(c->db, "ROLLBACK");
    if (err)
        cap_err(err, CAP_EINTERNAL, "Schema migration %d failed: %.400s", version, err->msg);
    return -CAP_EINTERNAL;
}

int store_sq_migrate(struct sq_conn *c, const char *artifact_prefix, struct cap_error *err)
{
    int rc = exec_ddl(c,
                           "CREATE TABLE IF NOT EXISTS schema_version ("
                           "  version INTEGER PRIMARY KEY,"
                           "  applied_time INTEGER NOT NULL)",
                           err);
    if (rc < 0)
        return rc;
    int64_t cur = 0;
    if ((rc = current_version(c, &cur, err)) < 0)
        return rc;
    if (cur > STORE_SCHEMA_VERSION)
        return cap_err(err, CAP_EINTERNAL,
                       "The database schema version is %lld but this Capstan knows only up to "
                       "%d: it was written by a newer Capstan; upgrade Capstan to open it",
                       (long long)cur, STORE_SCHEMA_VERSION);
    for (int v = (int)cur + 1; v <= STORE_SCHEMA_VERSION; v++)
        if ((rc = apply(c, v, err)) < 0)
            return rc;

    /* Experiment "0" always exists. Inserted at every open (a no-op once it
     * is there) rather than in a migration so that it does not depend on the
     * artifact prefix the database was first created with. */
    char loc[1024];
    snprintf(loc, sizeof loc, "%s/0", artifact_prefix);
    int64_t now = cap_now_ms();
    return store_sq_run(c,
                        "INSERT INTO experiments(experiment_id, name, "
                        "artifact_location, lifecycle_stage, creation_time, "
                        "last_update_time) VALUES (0, 'Default', ?, 'active', ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        SQ_ARGS(SQ_TEXT(loc), SQ_INT(now), SQ_INT(now)), err,
                        "creating the default experiment");
}
