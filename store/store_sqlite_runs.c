/* store_sqlite_runs.c - runs in the SQL store: create, read, update,
 * delete/restore, log_batch (the hot path), tags, dataset inputs, model
 * outputs and metric history, plus the code that turns stored rows into
 * MLflow's Run JSON (shared with search).
 *
 * log_batch is what clients call thousands of times a second, so its job
 * uses cached statements, touches each row once and keeps latest_metrics
 * current with one UPSERT per point whose WHERE clause decides whether the
 * new point is later by (step, timestamp, value): no read-modify-write. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/util.h"
#include "store/store_sqlite.h"

#define RUN_NAME_TAG "mlflow.runName"

struct run_lookup {
    int64_t rid;
    int64_t eid;
    bool active;
};

static int run_not_found(const char *run_id, struct cap_error *err)
{
    return cap_err(err, CAP_ENOTFOUND, "Run with id=%s not found", run_id);
}

static int run_find(struct sq_conn *c, const char *run_id, struct run_lookup *out,
                    struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT rid, experiment_id, lifecycle_stage FROM runs WHERE run_uuid = ?",
        SQ_ARGS(SQ_TEXT(run_id)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc == SQ_ROW) {
        out->rid = sq_col_int(st, 0);
        out->eid = sq_col_int(st, 1);
        out->active = strcmp(store_sq_col_text(st, 2), "active") == 0;
        rc = 0;
    } else if (rc == SQ_DONE) {
        rc = run_not_found(run_id, err);
    } else {
        rc = store_sq_dberr(c, err, "looking up a run");
    }
    sq_reset(st);
    return rc;
}

/* Logging to a deleted run is refused; to a finished one it is allowed. */
static int run_find_active(struct sq_conn *c, const char *run_id, struct run_lookup *out,
                           struct cap_error *err)
{
    int rc = run_find(c, run_id, out, err);
    if (rc == 0 && !out->active)
        rc = cap_err(err, CAP_EINVAL,
                     "The run %s must be in the 'active' state. Current state is deleted.",
                     run_id);
    return rc;
}

/* ---------------- JSON ---------------- */

cJSON *store_sq_run_info_json(struct sq_stmt *row)
{
    cJSON *info = cJSON_CreateObject();
    const char *id = store_sq_col_text(row, 1);
    char eid[24];
    snprintf(eid, sizeof eid, "%lld", (long long)sq_col_int(row, 3));
    cJSON_AddStringToObject(info, "run_id", id);
    cJSON_AddStringToObject(info, "run_uuid", id);
    cJSON_AddStringToObject(info, "run_name", store_sq_col_text(row, 2));
    cJSON_AddStringToObject(info, "experiment_id", eid);
    const char *user = store_sq_col_text(row, 4);
    cJSON_AddStringToObject(info, "user_id", user ? user : "");
    cJSON_AddStringToObject(info, "status", store_sq_col_text(row, 5));
    cap_json_add_i64(info, "start_time", sq_col_int(row, 6));
    if (!sq_col_null(row, 7))
        cap_json_add_i64(info, "end_time", sq_col_int(row, 7));
    cJSON_AddStringToObject(info, "artifact_uri", store_sq_col_text(row, 8));
    cJSON_AddStringToObject(info, "lifecycle_stage", store_sq_col_text(row, 9));
    return info;
}

/* A metric value column: NaN is stored apart (is_nan), see store_schema.c. */
static double metric_value(struct sq_stmt *st, int value_col, int is_nan_col)
{
    if (sq_col_int(st, is_nan_col) || sq_col_null(st, value_col))
        return NAN;
    return sq_col_dbl(st, value_col);
}

struct fill_ent {
    int64_t rid;
    cJSON *run, *data, *inputs, *outputs;
    cJSON *metrics, *params, *tags, *datasets, *models, *outs;
};

static int fill_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct fill_ent *)a)->rid, y = ((const struct fill_ent *)b)->rid;
    return x < y ? -1 : x > y;
}

static struct fill_ent *fill_find(struct fill_ent *ents, size_t n, int64_t rid)
{
    struct fill_ent key = {.rid = rid};
    return bsearch(&key, ents, n, sizeof *ents, fill_cmp);
}

/* Lazily creates obj[name] as an array, so that empty lists stay absent. */
static cJSON *lazy_array(cJSON *obj, cJSON **slot, const char *name)
{
    if (!*slot)
        *slot = cJSON_AddArrayToObject(obj, name);
    return *slot;
}

/* Each query takes the page's rids as one JSON array parameter, so one cached
 * statement serves any number of runs; the driver spells the list (RIDS)
 * and the tags' JSON (KV), so the queries are built at open. */
static const char *const fill_queries[SQ_FILL_QUERIES] = {
    "SELECT rid, key, value, timestamp, step, is_nan FROM latest_metrics "
    "WHERE rid IN RIDS ORDER BY rid, key",
    "SELECT rid, key, value FROM params WHERE rid IN RIDS ORDER BY rid, key",
    "SELECT rid, key, value FROM tags WHERE rid IN RIDS ORDER BY rid, key",
    "SELECT i.rid, d.name, d.digest, d.source_type, d.source, d.schema, d.profile, "
    "  (SELECT KV FROM input_tags t WHERE t.rid = i.rid AND t.dataset_id = i.dataset_id) "
    "FROM inputs i JOIN datasets d ON d.dataset_id = i.dataset_id "
    "WHERE i.rid IN RIDS ORDER BY i.rid, i.dataset_id",
    "SELECT rid, model_id FROM run_model_inputs WHERE rid IN RIDS ORDER BY rid, model_id",
    "SELECT rid, model_id, step FROM run_outputs WHERE rid IN RIDS ORDER BY rid, model_id",
};

/* q with the words RIDS and KV replaced by the driver's SQL. */
static char *fill_sql(const char *q, const struct sq_driver *drv)
{
    struct cap_buf b;
    cap_buf_init(&b);
    while (*q) {
        if (strncmp(q, "RIDS", 4) == 0) {
            cap_buf_puts(&b, drv->sql_int_list);
            q += 4;
        } else if (strncmp(q, "KV ", 3) == 0) {
            cap_buf_puts(&b, drv->sql_kv_array);
            q += 2;
        } else {
            cap_buf_putc(&b, *q++);
        }
    }
    return cap_buf_steal(&b);
}

int store_sq_runs_fill(struct sq_conn *c, const int64_t *rids, cJSON **runs, size_t n,
                       struct cap_error *err)
{
    if (n == 0)
        return 0;
    struct fill_ent *ents = cap_xcalloc(n, sizeof *ents);
    struct cap_buf ids;
    cap_buf_init(&ids);
    cap_buf_putc(&ids, '[');
    for (size_t i = 0; i < n; i++) {
        ents[i].rid = rids[i];
        ents[i].run = runs[i];
        ents[i].data = cJSON_AddObjectToObject(runs[i], "data");
        ents[i].inputs = cJSON_AddObjectToObject(runs[i], "inputs");
        cap_buf_printf(&ids, "%s%lld", i ? "," : "", (long long)rids[i]);
    }
    cap_buf_putc(&ids, ']');
    qsort(ents, n, sizeof *ents, fill_cmp);

    char *const *queries = c->owner->fill_sql;
    int rc = 0;
    for (size_t q = 0; q < SQ_FILL_QUERIES && rc == 0; q++) {
        const struct sq_bind b[] = {SQ_TEXT(ids.data)};
        struct sq_stmt *st = store_sq_stmt_bind(c, queries[q], b, 1, err);
        if (!st) {
            rc = -CAP_EINTERNAL;
            break;
        }
        int src;
        while ((src = sq_step(st)) == SQ_ROW) {
            struct fill_ent *e = fill_find(ents, n, sq_col_int(st, 0));
            if (!e)
                continue;
            cJSON *o = cJSON_CreateObject();
            switch (q) {
            case 0:
                cJSON_AddStringToObject(o, "key", store_sq_col_text(st, 1));
                cap_json_add_double(o, "value", metric_value(st, 2, 5));
                cap_json_add_i64(o, "timestamp", sq_col_int(st, 3));
                cap_json_add_i64(o, "step", sq_col_int(st, 4));
                cJSON_AddItemToArray(lazy_array(e->data, &e->metrics, "metrics"), o);
                break;
            case 1:
            case 2:
                cJSON_AddStringToObject(o, "key", store_sq_col_text(st, 1));
                cJSON_AddStringToObject(o, "value", store_sq_col_text(st, 2));
                cJSON_AddItemToArray(q == 1 ? lazy_array(e->data, &e->params, "params")
                                            : lazy_array(e->data, &e->tags, "tags"),
                                     o);
                break;
            case 3: {
                cJSON *tags = cJSON_Parse(store_sq_col_text(st, 7));
                if (cJSON_GetArraySize(tags) > 0)
                    cJSON_AddItemToObject(o, "tags", tags);
                else
                    cJSON_Delete(tags);
                cJSON *d = cJSON_AddObjectToObject(o, "dataset");
                cJSON_AddStringToObject(d, "name", store_sq_col_text(st, 1));
                cJSON_AddStringToObject(d, "digest", store_sq_col_text(st, 2));
                cJSON_AddStringToObject(d, "source_type", store_sq_col_text(st, 3));
                cJSON_AddStringToObject(d, "source", store_sq_col_text(st, 4));
                cap_json_add_str(d, "schema", store_sq_col_text(st, 5));
                cap_json_add_str(d, "profile", store_sq_col_text(st, 6));
                cJSON_AddItemToArray(lazy_array(e->inputs, &e->datasets, "dataset_inputs"), o);
                break;
            }
            case 4:
                cJSON_AddStringToObject(o, "model_id", store_sq_col_text(st, 1));
                cJSON_AddItemToArray(lazy_array(e->inputs, &e->models, "model_inputs"), o);
                break;
            default:
                cJSON_AddStringToObject(o, "model_id", store_sq_col_text(st, 1));
                cap_json_add_i64(o, "step", sq_col_int(st, 2));
                if (!e->outputs)
                    e->outputs = cJSON_AddObjectToObject(e->run, "outputs");
                cJSON_AddItemToArray(lazy_array(e->outputs, &e->outs, "model_outputs"), o);
                break;
            }
        }
        if (src != SQ_DONE)
            rc = store_sq_dberr(c, err, "reading runs");
        sq_reset(st);
    }
    cap_buf_free(&ids);
    free(ents);
    return rc;
}

static int read_run(struct sq_conn *c, const char *run_id, bool info_only, cJSON **out,
                    struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT " SQ_RUN_COLUMNS " FROM runs r WHERE r.run_uuid = ?",
        SQ_ARGS(SQ_TEXT(run_id)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc != SQ_ROW) {
        rc = rc == SQ_DONE ? run_not_found(run_id, err)
                               : store_sq_dberr(c, err, "reading a run");
        sq_reset(st);
        return rc;
    }
    int64_t rid = sq_col_int(st, 0);
    cJSON *info = store_sq_run_info_json(st);
    sq_reset(st);
    if (info_only) {
        *out = info;
        return 0;
    }
    cJSON *run = cJSON_CreateObject();
    cJSON_AddItemToObject(run, "info", info);
    if ((rc = store_sq_runs_fill(c, &rid, &run, 1, err)) < 0) {
        cJSON_Delete(run);
        return rc;
    }
    *out = run;
    return 0;
}

static int read_run_pooled(struct sq *s, const char *run_id, bool info_only, cJSON **out,
                           struct cap_error *err)
{
    struct sq_conn *c = store_sq_reader(s);
    int rc = store_sq_read_begin(c, err);
    if (rc == 0) {
        rc = read_run(c, run_id, info_only, out, err);
        store_sq_read_end(c);
    }
    store_sq_reader_done(s, c);
    return rc;
}

int store_sq_run_get(void *impl, const char *run_id, cJSON **out, struct cap_error *err)
{
    return read_run_pooled(impl, run_id, false, out, err);
}

/* The two orders a history is read in. Each is its own literal: the
 * statement cache is keyed by the SQL's address (a buffer built here once
 * served both orders from one stack address, so a paged read could get the
 * other order's statement). LIMIT is always given: -1 (no limit) is
 * SQLite's only, INT64_MAX means the same to both engines. */
static const char *const history_sql[2] = {
    "SELECT value, timestamp, step, is_nan FROM metrics WHERE rid = ? AND key = ? "
    "ORDER BY step, timestamp LIMIT ? OFFSET ?",
    "SELECT value, timestamp, step, is_nan FROM metrics WHERE rid = ? AND key = ? "
    "ORDER BY timestamp, step, value LIMIT ? OFFSET ?",
};

/* Reads the run's points of key in history_sql[order]'s order, from offset,
 * at most limit (< 0: all); *more says whether points remain after them. */
static int history_read(struct sq *s, const char *run_id, const char *key, int order,
                        int64_t limit, int64_t offset, cJSON **out, bool *more,
                        struct cap_error *err)
{
    struct sq_conn *c = store_sq_reader(s);
    struct run_lookup r = {0};
    int rc = store_sq_read_begin(c, err);
    if (rc < 0)
        goto done;
    if ((rc = run_find(c, run_id, &r, err)) < 0)
        goto end;
    /* one more than asked for tells whether another page follows */
    struct sq_stmt *st = store_sq_stmt_bind(
        c, history_sql[order],
        SQ_ARGS(SQ_INT(r.rid), SQ_TEXT(key), SQ_INT(limit < 0 ? INT64_MAX : limit + 1),
                SQ_INT(offset)),
        err);
    if (!st) {
        rc = -CAP_EINTERNAL;
        goto end;
    }
    cJSON *list = cJSON_CreateArray();
    int src;
    int64_t n = 0;
    *more = false;
    while ((src = sq_step(st)) == SQ_ROW) {
        if (limit >= 0 && n == limit) {
            *more = true;
            src = SQ_DONE;
            break;
        }
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "key", key);
        cap_json_add_double(m, "value", metric_value(st, 0, 3));
        cap_json_add_i64(m, "timestamp", sq_col_int(st, 1));
        cap_json_add_i64(m, "step", sq_col_int(st, 2));
        cJSON_AddItemToArray(list, m);
        n++;
    }
    sq_reset(st);
    if (src != SQ_DONE) {
        cJSON_Delete(list);
        rc = store_sq_dberr(c, err, "reading a metric history");
        goto end;
    }
    *out = list;
end:
    store_sq_read_end(c);
done:
    store_sq_reader_done(s, c);
    return rc;
}

int store_sq_metric_history(void *impl, const char *run_id, const char *key, cJSON **out,
                            struct cap_error *err)
{
    bool more;
    /* see the metrics primary key in store_schema.c for the order's cost */
    return history_read(impl, run_id, key, 0, -1, 0, out, &more, err);
}

int store_sq_metric_history_page(void *impl, const char *run_id, const char *key,
                                 int max_results, const char *page_token, cJSON **out,
                                 char **next_token, struct cap_error *err)
{
    int64_t offset = 0;
    bool more = false;
    int rc;
    if (page_token && (rc = store_sq_page_offset(page_token, &offset, err)) < 0)
        return rc;
    rc = history_read(impl, run_id, key, 1, max_results > 0 ? max_results : -1,
                      offset, out, &more, err);
    if (rc == 0 && more)
        *next_token = store_sq_page_token(offset + max_results);
    return rc;
}

/* ---------------- writes ---------------- */

static int tag_upsert(struct sq_conn *c, int64_t rid, const char *key, const char *value,
                      struct cap_error *err)
{
    return store_sq_run(c,
                        "INSERT INTO tags(rid, key, value) VALUES (?, ?, ?) "
                        "ON CONFLICT(rid, key) DO UPDATE SET value = excluded.value",
                        SQ_ARGS(SQ_INT(rid), SQ_TEXT(key), SQ_TEXT(value)), err, "setting a tag");
}

static int set_run_name(struct sq_conn *c, int64_t rid, const char *name, struct cap_error *err)
{
    return store_sq_run(c,
                        "UPDATE runs SET name = ? WHERE rid = ?",
                        SQ_ARGS(SQ_TEXT(name), SQ_INT(rid)), err, "renaming a run");
}

struct run_create_job {
    const struct store_run_create *in;
    char run_id[33];
};

static int job_run_create(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct run_create_job *a = arg;
    const struct store_run_create *in = a->in;
    int64_t eid = 0;
    char *loc = NULL, *generated = NULL;
    int rc = store_sq_experiment_active(c, in->experiment_id, &eid, &loc, err);
    if (rc < 0)
        return rc;
    const char *tag_name = NULL;
    for (size_t i = 0; i < in->ntags; i++)
        if (strcmp(in->tags[i].key, RUN_NAME_TAG) == 0)
            tag_name = in->tags[i].value;
    const char *name;
    if (in->run_name && *in->run_name) {
        if (tag_name && strcmp(tag_name, in->run_name) != 0) {
            rc = cap_err(err, CAP_EINVAL,
                         "Both 'run_name' argument and 'mlflow.runName' tag are specified, but "
                         "with different values (run_name='%s', mlflow.runName='%s').",
                         in->run_name, tag_name);
            goto done;
        }
        name = in->run_name;
    } else if (tag_name && *tag_name) {
        name = tag_name;
    } else {
        name = generated = store_sq_random_name();
    }
    cap_random_hex(a->run_id, 16);
    struct cap_buf uri;
    cap_buf_init(&uri);
    cap_buf_printf(&uri, "%s/%s/artifacts", loc, a->run_id);
    int64_t rid = 0;
    rc = store_sq_insert_id(c,
                      "INSERT INTO runs(run_uuid, name, experiment_id, user_id, "
                      "status, start_time, end_time, lifecycle_stage, "
                      "artifact_uri) VALUES (?, ?, ?, ?, 'RUNNING', ?, NULL, 'active', ?) "
                      "RETURNING rid",
                      SQ_ARGS(SQ_TEXT(a->run_id), SQ_TEXT(name), SQ_INT(eid),
                              SQ_TEXT(in->user_id),
                              SQ_INT(in->start_time > 0 ? in->start_time : cap_now_ms()),
                              SQ_TEXT(uri.data)),
                      &rid, err, "creating a run");
    cap_buf_free(&uri);
    if (rc < 0)
        goto done;
    rc = 0;
    for (size_t i = 0; i < in->ntags && rc == 0; i++)
        if (strcmp(in->tags[i].key, RUN_NAME_TAG) != 0)
            rc = tag_upsert(c, rid, in->tags[i].key, in->tags[i].value, err);
    if (rc == 0)
        rc = tag_upsert(c, rid, RUN_NAME_TAG, name, err);
done:
    free(loc);
    free(generated);
    return rc;
}

int store_sq_run_create(void *impl, const struct store_run_create *in, cJSON **out,
                        struct cap_error *err)
{
    struct run_create_job a = {.in = in};
    int rc = store_sq_write(impl, job_run_create, &a, err);
    return rc < 0 ? rc : read_run_pooled(impl, a.run_id, false, out, err);
}

struct run_job {
    const char *run_id;
    const char *status;
    int64_t end_time;
    const char *name;
    const char *key;
    bool restore;
};

static int job_run_update(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct run_job *a = arg;
    struct run_lookup r = {0};
    int rc = run_find_active(c, a->run_id, &r, err);
    if (rc < 0)
        return rc;
    if ((rc = store_sq_run(c,
                           "UPDATE runs SET status = COALESCE(?1, status), "
                           "end_time = CASE WHEN ?2 >= 0 THEN ?2 ELSE end_time END, "
                           "name = COALESCE(?3, name) WHERE rid = ?4",
                           SQ_ARGS(SQ_TEXT(a->status && *a->status ? a->status : NULL),
                                   SQ_INT(a->end_time), SQ_TEXT(a->name), SQ_INT(r.rid)), err,
                           "updating a run")) < 0)
        return rc;
    return a->name ? tag_upsert(c, r.rid, RUN_NAME_TAG, a->name, err) : 0;
}

int store_sq_run_update(void *impl, const char *run_id, const char *status, int64_t end_time,
                        const char *run_name, cJSON **out, struct cap_error *err)
{
    struct run_job a = {.run_id = run_id,
                        .status = status,
                        .end_time = end_time,
                        .name = run_name && *run_name ? run_name : NULL};
    int rc = store_sq_write(impl, job_run_update, &a, err);
    if (rc < 0 || !out)
        return rc;
    return read_run_pooled(impl, run_id, true, out, err);
}

/* Delete and restore are idempotent so that a retried request succeeds. */
static int job_run_lifecycle(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct run_job *a = arg;
    struct run_lookup r = {0};
    int rc = run_find(c, a->run_id, &r, err);
    if (rc < 0 || r.active == a->restore)
        return rc;
    /* a restored run has no deletion time */
    struct sq_bind deleted_time =
        a->restore ? (struct sq_bind)SQ_NULL : (struct sq_bind)SQ_INT(cap_now_ms());
    return store_sq_run(c, "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE rid = ?",
                        SQ_ARGS(SQ_TEXT(a->restore ? "active" : "deleted"), deleted_time,
                                SQ_INT(r.rid)),
                        err, a->restore ? "restoring a run" : "deleting a run");
}

int store_sq_run_delete(void *impl, const char *run_id, struct cap_error *err)
{
    struct run_job a = {.run_id = run_id, .restore = false};
    return store_sq_write(impl, job_run_lifecycle, &a, err);
}

int store_sq_run_restore(void *impl, const char *run_id, struct cap_error *err)
{
    struct run_job a = {.run_id = run_id, .restore = true};
    return store_sq_write(impl, job_run_lifecycle, &a, err);
}

struct batch_job {
    const char *run_id;
    const struct store_metric *metrics;
    size_t nmetrics;
    const struct cap_kv *params;
    size_t nparams;
    const struct cap_kv *tags;
    size_t ntags;
};

static int log_params(struct sq_conn *c, int64_t rid, const char *run_id,
                      const struct cap_kv *params, size_t n, struct cap_error *err)
{
    /* Two values for one key inside the batch: refuse before writing. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(params[i].key, params[j].key) == 0 &&
                strcmp(params[i].value, params[j].value) != 0)
                return cap_err(err, CAP_EINVAL,
                               "Duplicate parameter keys have been submitted with different "
                               "values: '%s'. Please ensure the request contains only one "
                               "param value per param key.",
                               params[i].key);
    for (size_t i = 0; i < n; i++) {
        int rc = store_sq_run(c,
                              "INSERT INTO params(rid, key, value) VALUES (?, ?, ?) "
                              "ON CONFLICT(rid, key) DO NOTHING",
                              SQ_ARGS(SQ_INT(rid), SQ_TEXT(params[i].key),
                                      SQ_TEXT(params[i].value)),
                              err, "logging a param");
        if (rc < 0)
            return rc;
        if (sq_changes(c->db) > 0)
            continue;
        /* Already there: fine when the value is the same (write-once). */
        struct sq_stmt *sel = store_sq_stmt_bind(
            c, "SELECT value FROM params WHERE rid = ? AND key = ?",
            SQ_ARGS(SQ_INT(rid), SQ_TEXT(params[i].key)), err);
        if (!sel)
            return -CAP_EINTERNAL;
        rc = sq_step(sel);
        if (rc == SQ_ROW && strcmp(store_sq_col_text(sel, 0), params[i].value) != 0) {
            rc = cap_err(err, CAP_EINVAL,
                         "Changing param values is not allowed. Param with key='%s' was already "
                         "logged with value='%.200s' for run ID='%s'. Attempted logging new "
                         "value '%.200s'.",
                         params[i].key, store_sq_col_text(sel, 0), run_id, params[i].value);
        } else {
            rc = rc == SQ_ROW ? 0 : store_sq_dberr(c, err, "reading a param");
        }
        sq_reset(sel);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Metric points are written with multi-row statements (chunks of 64, 16,
 * 4 and 1 rows): per statement SQLite pays a fixed cost (reset, bind, VDBE
 * start), which at 100 points per call was a third of the writer's time.
 * The SQL text for each chunk size is built once per store (struct sq). */
#define METRIC_INSERT_HEAD                                                                  \
    "INSERT INTO metrics(rid, key, step, timestamp, value, is_nan, model_id, dataset_name, " \
    "dataset_digest) VALUES "
#define METRIC_INSERT_ROW "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
/* A point identical to a stored one is a no-op, except that a model_id
 * (MLflow 3 re-logs a run's metrics for its model) is recorded on it. */
#define METRIC_INSERT_TAIL                                                                  \
    " ON CONFLICT(rid, timestamp, step, key, value, is_nan) DO UPDATE SET "                 \
    "model_id = excluded.model_id, dataset_name = excluded.dataset_name, "                  \
    "dataset_digest = excluded.dataset_digest "                                             \
    "WHERE excluded.model_id IS NOT NULL AND metrics.model_id IS NULL"
#define LATEST_HEAD                                                                         \
    "INSERT INTO latest_metrics(rid, key, value, step, timestamp, is_nan) VALUES "
#define LATEST_ROW "(?, ?, ?, ?, ?, ?)"
/* The stored point is replaced only by a later one by (step, timestamp,
 * value); NaN is value NULL here, so it never wins a tie on value. */
#define LATEST_TAIL                                                                         \
    " ON CONFLICT(rid, key) DO UPDATE SET "                                                 \
    "value = excluded.value, step = excluded.step, timestamp = excluded.timestamp, "        \
    "is_nan = excluded.is_nan "                                                             \
    "WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step AND " \
    "(excluded.timestamp > latest_metrics.timestamp OR "                                    \
    "(excluded.timestamp = latest_metrics.timestamp AND "                                   \
    "excluded.value > latest_metrics.value)))"

static const int chunk_rows[SQ_METRIC_CHUNKS] = {64, 16, 4, 1};

static char *repeat_rows(const char *head, const char *row, const char *tail, int n)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, head);
    for (int i = 0; i < n; i++) {
        if (i)
            cap_buf_puts(&b, ", ");
        cap_buf_puts(&b, row);
    }
    cap_buf_puts(&b, tail);
    return cap_buf_steal(&b);
}

void store_sq_runs_sql_init(struct sq *s)
{
    for (int i = 0; i < SQ_METRIC_CHUNKS; i++) {
        s->metric_sql[i] =
            repeat_rows(METRIC_INSERT_HEAD, METRIC_INSERT_ROW, METRIC_INSERT_TAIL, chunk_rows[i]);
        s->latest_sql[i] = repeat_rows(LATEST_HEAD, LATEST_ROW, LATEST_TAIL, chunk_rows[i]);
    }
    for (int i = 0; i < SQ_FILL_QUERIES; i++)
        s->fill_sql[i] = fill_sql(fill_queries[i], s->drv);
}

void store_sq_runs_sql_free(struct sq *s)
{
    for (int i = 0; i < SQ_METRIC_CHUNKS; i++) {
        free(s->metric_sql[i]);
        free(s->latest_sql[i]);
        s->metric_sql[i] = s->latest_sql[i] = NULL;
    }
    for (int i = 0; i < SQ_FILL_QUERIES; i++) {
        free(s->fill_sql[i]);
        s->fill_sql[i] = NULL;
    }
}

/* ---- which statement carries which point ----
 * A multi-row INSERT ... ON CONFLICT DO UPDATE may not touch one row twice
 * in PostgreSQL ("cannot affect row a second time"); SQLite applies the
 * rows one after another. So a batch is planned: each row of the
 * multi-row statements is a different stored row, and the few points that
 * would touch a row again follow one by one, in batch order, which is
 * SQLite's sequential meaning on both engines.
 * - metrics: a point whose identity (the primary key) came earlier in the
 *   batch goes one by one.
 * - latest_metrics: of one key's points only those with the key's greatest
 *   (step, timestamp) can end up stored (any earlier one is replaced by
 *   them whatever was stored); the first of them rides in the multi-row
 *   statement, the rest (same step and timestamp) go one by one.
 * It also saves SQLite work: 100 steps of one key in a batch were 100
 * latest_metrics upserts and are now one. */
struct metric_plan {
    size_t *rows, nrows;      /* metrics: multi-row, then one by one */
    size_t *again, nagain;
    size_t *latest, nlatest;  /* latest_metrics: the same split */
    size_t *latest_again, nlatest_again;
};

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static bool same_point(const struct store_metric *a, const struct store_metric *b)
{
    bool na = isnan(a->value), nb = isnan(b->value);
    return a->step == b->step && a->timestamp == b->timestamp && na == nb &&
           (na || a->value == b->value) && strcmp(a->key, b->key) == 0;
}

/* An open-addressing table of batch indices, 2n slots, -1 when empty. */
static size_t slot_of(const ssize_t *tab, size_t cap, uint64_t h, const struct store_metric *m,
                      size_t i, bool by_point)
{
    size_t k = (size_t)(h % cap);
    while (tab[k] >= 0) {
        const struct store_metric *o = &m[tab[k]];
        if (by_point ? same_point(o, &m[i]) : strcmp(o->key, m[i].key) == 0)
            break;
        k = (k + 1) % cap;
    }
    return k;
}

static bool later(const struct store_metric *a, const struct store_metric *b)
{
    return a->step > b->step || (a->step == b->step && a->timestamp > b->timestamp);
}

static void plan_metrics(const struct store_metric *m, size_t n, struct metric_plan *p)
{
    size_t cap = 2 * n + 1;
    ssize_t *pts = cap_xcalloc(cap, sizeof *pts), *keys = cap_xcalloc(cap, sizeof *keys);
    size_t *kslot = cap_xcalloc(n, sizeof *kslot);  /* point i's key's slot in keys */
    for (size_t k = 0; k < cap; k++)
        pts[k] = keys[k] = -1;
    p->rows = cap_xcalloc(n, sizeof *p->rows);
    p->again = cap_xcalloc(n, sizeof *p->again);
    p->latest = cap_xcalloc(n, sizeof *p->latest);
    p->latest_again = cap_xcalloc(n, sizeof *p->latest_again);
    for (size_t i = 0; i < n; i++) {
        uint64_t hk = hash_str(1469598103934665603u, m[i].key);
        double v = isnan(m[i].value) ? 0 : m[i].value;
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        uint64_t hp = (hk ^ (uint64_t)m[i].step * 31 ^ (uint64_t)m[i].timestamp * 131 ^ bits) *
                      1099511628211u;
        size_t k = slot_of(pts, cap, hp, m, i, true);
        if (pts[k] >= 0) {
            p->again[p->nagain++] = i;
        } else {
            pts[k] = (ssize_t)i;
            p->rows[p->nrows++] = i;
        }
        k = kslot[i] = slot_of(keys, cap, hk, m, i, false);
        if (keys[k] < 0 || later(&m[i], &m[keys[k]]))
            keys[k] = (ssize_t)i;   /* the first point of the key's latest (step, timestamp) */
    }
    /* In batch order: each key's first latest point, then its equals (which
     * come after it: it is the first to reach that step and timestamp). */
    for (size_t i = 0; i < n; i++) {
        const struct store_metric *w = &m[keys[kslot[i]]];
        if ((size_t)keys[kslot[i]] == i)
            p->latest[p->nlatest++] = i;
        else if (w->step == m[i].step && w->timestamp == m[i].timestamp)
            p->latest_again[p->nlatest_again++] = i;
    }
    free(pts);
    free(keys);
    free(kslot);
}

static void plan_free(struct metric_plan *p)
{
    free(p->rows);
    free(p->again);
    free(p->latest);
    free(p->latest_again);
}

static void bind_point(struct sq_stmt *st, int r, int64_t rid, const struct store_metric *p)
{
    bool nan = isnan(p->value);
    /* row r's values start at parameter r * (values per row) + 1 */
    store_sq_bind_at(st, r * 9 + 1,
                     SQ_ARGS(SQ_INT(rid), SQ_TEXT(p->key), SQ_INT(p->step),
                             SQ_INT(p->timestamp), SQ_DBL(nan ? 0.0 : p->value), SQ_INT(nan),
                             SQ_TEXT(p->model_id), SQ_TEXT(p->dataset_name),
                             SQ_TEXT(p->dataset_digest)));
}

static void bind_latest(struct sq_stmt *st, int r, int64_t rid, const struct store_metric *p)
{
    bool nan = isnan(p->value);
    struct sq_bind value = nan ? (struct sq_bind)SQ_NULL : (struct sq_bind)SQ_DBL(p->value);
    store_sq_bind_at(st, r * 6 + 1,
                     SQ_ARGS(SQ_INT(rid), SQ_TEXT(p->key), value, SQ_INT(p->step),
                             SQ_INT(p->timestamp), SQ_INT(nan)));
}

typedef void (*bind_row_fn)(struct sq_stmt *st, int r, int64_t rid, const struct store_metric *p);

/* Writes m[idx[0..n)] with the statements of sql[] in chunks; one_by_one
 * uses only the one-row statement. */
static int write_rows(struct sq_conn *c, char *const sql[SQ_METRIC_CHUNKS], bind_row_fn bind,
                      int64_t rid, const struct store_metric *m, const size_t *idx, size_t n,
                      bool one_by_one, struct cap_error *err)
{
    size_t i = 0;
    while (i < n) {
        int ci = one_by_one ? SQ_METRIC_CHUNKS - 1 : 0;
        while ((size_t)chunk_rows[ci] > n - i)
            ci++;
        struct sq_stmt *st = store_sq_stmt(c, sql[ci], err);
        if (!st)
            return -CAP_EINTERNAL;
        for (int r = 0; r < chunk_rows[ci]; r++)
            bind(st, r, rid, &m[idx[i + (size_t)r]]);
        int rc = store_sq_step_done(c, st, err, "logging metrics");
        if (rc < 0)
            return rc;
        i += (size_t)chunk_rows[ci];
    }
    return 0;
}

static int log_metrics(struct sq *s, struct sq_conn *c, int64_t rid,
                       const struct store_metric *m, size_t n, struct cap_error *err)
{
    if (n == 0)
        return 0;
    struct metric_plan p = {0};
    plan_metrics(m, n, &p);
    int rc = write_rows(c, s->metric_sql, bind_point, rid, m, p.rows, p.nrows, false, err);
    if (rc == 0)
        rc = write_rows(c, s->metric_sql, bind_point, rid, m, p.again, p.nagain, true, err);
    if (rc == 0)
        rc = write_rows(c, s->latest_sql, bind_latest, rid, m, p.latest, p.nlatest, false, err);
    if (rc == 0)
        rc = write_rows(c, s->latest_sql, bind_latest, rid, m, p.latest_again,
                        p.nlatest_again, true, err);
    plan_free(&p);
    return rc;
}

static int job_log_batch(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct batch_job *a = arg;
    struct run_lookup r = {0};
    int rc = run_find_active(c, a->run_id, &r, err);
    if (rc < 0)
        return rc;
    /* Params first: a refused param must leave nothing behind, which the
     * job's savepoint guarantees even if metrics were written before. */
    if ((rc = log_params(c, r.rid, a->run_id, a->params, a->nparams, err)) < 0)
        return rc;
    for (size_t i = 0; i < a->ntags; i++) {
        if ((rc = tag_upsert(c, r.rid, a->tags[i].key, a->tags[i].value, err)) < 0)
            return rc;
        if (strcmp(a->tags[i].key, RUN_NAME_TAG) == 0 &&
            (rc = set_run_name(c, r.rid, a->tags[i].value, err)) < 0)
            return rc;
    }
    return log_metrics(s, c, r.rid, a->metrics, a->nmetrics, err);
}

int store_sq_run_log_batch(void *impl, const char *run_id, const struct store_metric *metrics,
                           size_t nmetrics, const struct cap_kv *params, size_t nparams,
                           const struct cap_kv *tags, size_t ntags, struct cap_error *err)
{
    struct batch_job a = {run_id, metrics, nmetrics, params, nparams, tags, ntags};
    return store_sq_write(impl, job_log_batch, &a, err);
}

static int job_delete_tag(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct run_job *a = arg;
    struct run_lookup r = {0};
    int rc = run_find_active(c, a->run_id, &r, err);
    if (rc < 0)
        return rc;
    if ((rc = store_sq_run(c,
                           "DELETE FROM tags WHERE rid = ? AND key = ?",
                           SQ_ARGS(SQ_INT(r.rid), SQ_TEXT(a->key)), err, "deleting a tag")) < 0)
        return rc;
    if (sq_changes(c->db) == 0)
        return cap_err(err, CAP_ENOTFOUND, "No tag with name: %s in run with id %s", a->key,
                       a->run_id);
    return 0;
}

int store_sq_run_delete_tag(void *impl, const char *run_id, const char *key,
                            struct cap_error *err)
{
    struct run_job a = {.run_id = run_id, .key = key};
    return store_sq_write(impl, job_delete_tag, &a, err);
}

struct inputs_job {
    const char *run_id;
    const struct store_dataset_input *datasets;
    size_t ndatasets;
    const char *const *model_ids;
    size_t nmodels;
    const struct store_model_output *outputs;
    size_t noutputs;
};

/* The dataset row for (experiment, name, digest), created on first use. */
static int dataset_id(struct sq_conn *c, int64_t eid, const struct store_dataset_input *d,
                      int64_t *out, struct cap_error *err)
{
    char uuid[33];
    cap_random_hex(uuid, 16);
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "INSERT INTO datasets(dataset_uuid, experiment_id, name, "
        "digest, source_type, source, schema, profile) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(experiment_id, name, digest) DO NOTHING",
        SQ_ARGS(SQ_TEXT(uuid), SQ_INT(eid), SQ_TEXT(d->name), SQ_TEXT(d->digest),
                SQ_TEXT(d->source_type), SQ_TEXT(d->source), SQ_TEXT(d->schema),
                SQ_TEXT(d->profile)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = store_sq_step_done(c, st, err, "logging a dataset");
    if (rc < 0)
        return rc;
    st = store_sq_stmt_bind(
        c, "SELECT dataset_id FROM datasets WHERE experiment_id = ? AND name = ? "
        "AND digest = ?",
        SQ_ARGS(SQ_INT(eid), SQ_TEXT(d->name), SQ_TEXT(d->digest)), err);
    if (!st)
        return -CAP_EINTERNAL;
    rc = sq_step(st);
    if (rc == SQ_ROW) {
        *out = sq_col_int(st, 0);
        rc = 0;
    } else {
        rc = store_sq_dberr(c, err, "logging a dataset");
    }
    sq_reset(st);
    return rc;
}

static int job_log_inputs(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct inputs_job *a = arg;
    struct run_lookup r = {0};
    int rc = run_find_active(c, a->run_id, &r, err);
    for (size_t i = 0; i < a->ndatasets && rc == 0; i++) {
        const struct store_dataset_input *d = &a->datasets[i];
        int64_t did = 0;
        if ((rc = dataset_id(c, r.eid, d, &did, err)) < 0)
            break;
        if ((rc = store_sq_run(c,
                               "INSERT INTO inputs(rid, dataset_id) VALUES (?, ?) "
                               "ON CONFLICT DO NOTHING",
                               SQ_ARGS(SQ_INT(r.rid), SQ_INT(did)), err, "logging an input")) < 0)
            break;
        if (sq_changes(c->db) == 0)
            continue; /* linked before: logging it again changes nothing */
        for (size_t t = 0; t < d->ntags && rc == 0; t++) {
            rc = store_sq_run(c,
                              "INSERT INTO input_tags(rid, dataset_id, key, value) "
                              "VALUES (?, ?, ?, ?) ON CONFLICT (rid, dataset_id, key) "
                              "DO UPDATE SET value = excluded.value",
                              SQ_ARGS(SQ_INT(r.rid), SQ_INT(did), SQ_TEXT(d->tags[t].key),
                                      SQ_TEXT(d->tags[t].value)), err, "logging an input tag");
        }
    }
    for (size_t i = 0; i < a->nmodels && rc == 0; i++) {
        rc = store_sq_run(c,
                          "INSERT INTO run_model_inputs(rid, model_id) VALUES (?, ?) "
                          "ON CONFLICT DO NOTHING",
                          SQ_ARGS(SQ_INT(r.rid), SQ_TEXT(a->model_ids[i])), err,
                          "logging a model input");
    }
    for (size_t i = 0; i < a->noutputs && rc == 0; i++) {
        rc = store_sq_run(c,
                          "INSERT INTO run_outputs(rid, model_id, step) "
                          "VALUES (?, ?, ?) ON CONFLICT(rid, model_id) "
                          "DO UPDATE SET step = excluded.step",
                          SQ_ARGS(SQ_INT(r.rid), SQ_TEXT(a->outputs[i].model_id),
                                  SQ_INT(a->outputs[i].step)), err, "logging a model output");
    }
    return rc;
}

int store_sq_run_log_inputs(void *impl, const char *run_id,
                            const struct store_dataset_input *datasets, size_t ndatasets,
                            const char *const *model_ids, size_t nmodels,
                            struct cap_error *err)
{
    struct inputs_job a = {.run_id = run_id,
                           .datasets = datasets,
                           .ndatasets = ndatasets,
                           .model_ids = model_ids,
                           .nmodels = nmodels};
    return store_sq_write(impl, job_log_inputs, &a, err);
}

int store_sq_run_log_outputs(void *impl, const char *run_id,
                             const struct store_model_output *models, size_t nmodels,
                             struct cap_error *err)
{
    struct inputs_job a = {.run_id = run_id, .outputs = models, .noutputs = nmodels};
    return store_sq_write(impl, job_log_inputs, &a, err);
}

/* ---------------- dataset summaries ---------------- */

static int summaries_of(struct sq_conn *c, const char *experiment_id, cJSON *list,
                        struct cap_error *err)
{
    /* the context tag is optional: an input without one still counts */
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT d.name, d.digest, t.value FROM datasets d "
        "JOIN inputs i ON i.dataset_id = d.dataset_id "
        "LEFT JOIN input_tags t ON t.rid = i.rid AND t.dataset_id = i.dataset_id "
        "AND t.key = 'mlflow.data.context' "
        "WHERE d.experiment_id = CAST(? AS BIGINT) "
        "GROUP BY d.dataset_id, d.name, d.digest, t.value ORDER BY d.dataset_id, t.value",
        SQ_ARGS(SQ_TEXT(experiment_id)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int src = SQ_DONE;
    while (cJSON_GetArraySize(list) < 1000 && (src = sq_step(st)) == SQ_ROW) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "experiment_id", experiment_id);
        cap_json_add_str(o, "name", store_sq_col_text(st, 0));
        cap_json_add_str(o, "digest", store_sq_col_text(st, 1));
        cap_json_add_str(o, "context", store_sq_col_text(st, 2));
        cJSON_AddItemToArray(list, o);
    }
    sq_reset(st);
    if (src != SQ_DONE && src != SQ_ROW)
        return store_sq_dberr(c, err, "reading dataset summaries");
    return 0;
}

int store_sq_dataset_summaries(void *impl, const char *const *experiment_ids, size_t n,
                               cJSON **out, struct cap_error *err)
{
    struct sq *s = impl;
    struct sq_conn *c = store_sq_reader(s);
    int rc = store_sq_read_begin(c, err);
    if (rc < 0)
        goto done;
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = summaries_of(c, experiment_ids[i], list, err);
    if (rc < 0)
        cJSON_Delete(list);
    else
        *out = list;
    store_sq_read_end(c);
done:
    store_sq_reader_done(s, c);
    return rc;
}
