/* store_sqlite_serving.c - deployments and the prediction log in SQLite.
 * Deployments are a handful of rows read by the serving watcher a few times
 * a second; the prediction log is written in batches by monitor/'s writer
 * and read by deployment and time with a keyset token (ts, id), so a deep
 * page costs the same as the first. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store_backend.h"
#include "store/store_sqlite.h"

struct dep_job {
    const char *name;
    const char *spec;
    bool create;
    bool want;
    cJSON *out;
    const struct store_prediction *rows;
    size_t n;
};

static cJSON *deployment_json(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", store_sq_col_text(st, 0));
    const char *spec = store_sq_col_text(st, 1);
    cJSON *sp = spec ? cJSON_Parse(spec) : NULL;
    cJSON_AddItemToObject(o, "spec", sp ? sp : cJSON_CreateObject());
    cJSON_AddNumberToObject(o, "created_at", (double)sqlite3_column_int64(st, 2));
    cJSON_AddNumberToObject(o, "updated_at", (double)sqlite3_column_int64(st, 3));
    return o;
}

static int not_found(const char *name, struct cap_error *err)
{
    return cap_err(err, CAP_ENOTFOUND, "Deployment '%s' not found", name);
}

static int read_one(struct sq_conn *c, struct dep_job *a, struct cap_error *err)
{
    sqlite3_stmt *st = store_sq_stmt(
        c, "SELECT name, spec, created_at, updated_at FROM deployments WHERE name = ?", err);
    if (!st)
        return -CAP_EINTERNAL;
    store_sq_bind_text(st, 1, a->name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        a->out = deployment_json(st);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? not_found(a->name, err)
                               : store_sq_dberr(c, err, "reading a deployment");
    }
    sqlite3_reset(st);
    return rc;
}

static int job_put(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct dep_job *a = arg;
    int64_t now = cap_now_ms();
    sqlite3_stmt *st;
    if (a->create) {
        st = store_sq_stmt(c,
                           "INSERT INTO deployments(name, spec, created_at, updated_at) "
                           "VALUES (?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
                           err);
        if (!st)
            return -CAP_EINTERNAL;
        store_sq_bind_text(st, 1, a->name);
        store_sq_bind_text(st, 2, a->spec);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_int64(st, 4, now);
    } else {
        st = store_sq_stmt(c, "UPDATE deployments SET spec = ?, updated_at = ? WHERE name = ?",
                           err);
        if (!st)
            return -CAP_EINTERNAL;
        store_sq_bind_text(st, 1, a->spec);
        sqlite3_bind_int64(st, 2, now);
        store_sq_bind_text(st, 3, a->name);
    }
    int rc = store_sq_step_done(c, st, err, "writing a deployment");
    if (rc < 0)
        return rc;
    if (sqlite3_changes(c->db) == 0)
        return a->create ? cap_err(err, CAP_EEXISTS, "Deployment '%s' already exists", a->name)
                         : not_found(a->name, err);
    return a->want ? read_one(c, a, err) : 0;
}

static int sv_deployment_put(void *impl, const char *name, const char *spec_json, bool create,
                             cJSON **out, struct cap_error *err)
{
    struct dep_job a = {.name = name, .spec = spec_json, .create = create, .want = out != NULL};
    int rc = store_sq_write(impl, job_put, &a, err);
    if (rc < 0 || !out) {
        cJSON_Delete(a.out);
        return rc;
    }
    *out = a.out;
    return 0;
}

/* Runs fn in one read transaction on a pooled connection. */
static int sv_read(struct sq *s, int (*fn)(struct sq_conn *, struct dep_job *, struct cap_error *),
                   struct dep_job *a, struct cap_error *err)
{
    struct sq_conn *c = store_sq_reader(s);
    int rc = store_sq_read_begin(c, err);
    if (rc == 0) {
        rc = fn(c, a, err);
        store_sq_read_end(c);
    }
    store_sq_reader_done(s, c);
    return rc;
}

static int sv_deployment_get(void *impl, const char *name, cJSON **out, struct cap_error *err)
{
    struct dep_job a = {.name = name};
    int rc = sv_read(impl, read_one, &a, err);
    if (rc < 0) {
        cJSON_Delete(a.out);
        return rc;
    }
    *out = a.out;
    return 0;
}

static int read_all(struct sq_conn *c, struct dep_job *a, struct cap_error *err)
{
    sqlite3_stmt *st = store_sq_stmt(
        c, "SELECT name, spec, created_at, updated_at FROM deployments ORDER BY name", err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cJSON_AddItemToArray(a->out, deployment_json(st));
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sq_dberr(c, err, "listing deployments");
}

static int sv_deployment_list(void *impl, cJSON **out, struct cap_error *err)
{
    struct dep_job a = {0};
    int rc = sv_read(impl, read_all, &a, err);
    if (rc < 0) {
        cJSON_Delete(a.out);
        return rc;
    }
    *out = a.out;
    return 0;
}

static int job_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct dep_job *a = arg;
    sqlite3_stmt *st = store_sq_stmt(c, "DELETE FROM deployments WHERE name = ?", err);
    if (!st)
        return -CAP_EINTERNAL;
    store_sq_bind_text(st, 1, a->name);
    int rc = store_sq_step_done(c, st, err, "deleting a deployment");
    if (rc < 0)
        return rc;
    return sqlite3_changes(c->db) == 0 ? not_found(a->name, err) : 0;
}

static int sv_deployment_delete(void *impl, const char *name, struct cap_error *err)
{
    struct dep_job a = {.name = name};
    return store_sq_write(impl, job_delete, &a, err);
}

static int job_log(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct dep_job *a = arg;
    sqlite3_stmt *st = store_sq_stmt(
        c,
        "INSERT INTO predictions(ts, deployment, model_name, model_version, role, request_id, "
        "latency_us, inputs, outputs, agree) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        err);
    if (!st)
        return -CAP_EINTERNAL;
    for (size_t i = 0; i < a->n; i++) {
        const struct store_prediction *r = &a->rows[i];
        sqlite3_bind_int64(st, 1, r->timestamp_ms);
        store_sq_bind_text(st, 2, r->deployment);
        store_sq_bind_text(st, 3, r->model_name);
        store_sq_bind_text(st, 4, r->model_version);
        store_sq_bind_text(st, 5, r->role);
        store_sq_bind_text(st, 6, r->request_id);
        sqlite3_bind_int64(st, 7, r->latency_us);
        if (r->inputs)
            sqlite3_bind_blob(st, 8, r->inputs, (int)r->inputs_len, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 8);
        if (r->outputs)
            sqlite3_bind_blob(st, 9, r->outputs, (int)r->outputs_len, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 9);
        if (r->agree < 0)
            sqlite3_bind_null(st, 10);
        else
            sqlite3_bind_int(st, 10, r->agree);
        int rc = store_sq_step_done(c, st, err, "logging a prediction");
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int sv_predictions_log(void *impl, const struct store_prediction *rows, size_t n,
                              struct cap_error *err)
{
    struct dep_job a = {.rows = rows, .n = n};
    return store_sq_write(impl, job_log, &a, err);
}

/* Page tokens are "<ts>.<id>" of the last row sent: opaque to clients. */
static int parse_token(const char *tok, int64_t *ts, int64_t *id, struct cap_error *err)
{
    char *end = NULL;
    long long a = strtoll(tok, &end, 10);
    if (end == tok || *end != '.')
        goto bad;
    const char *p = end + 1;
    long long b = strtoll(p, &end, 10);
    if (end == p || *end || a < 0 || b < 0)
        goto bad;
    *ts = a;
    *id = b;
    return 0;
bad:
    return cap_err(err, CAP_EINVAL, "Invalid page_token '%.64s'", tok);
}

struct search_job {
    store_pack_decoder decode;
    const char *deployment;
    int64_t since, after_ts, after_id;
    int max;
    cJSON *out;
    char *next;
};

static void add_pack(cJSON *o, const char *key, store_pack_decoder decode, sqlite3_stmt *st,
                     int col)
{
    const void *blob = sqlite3_column_blob(st, col);
    cJSON *v = blob && decode ? decode(blob, (size_t)sqlite3_column_bytes(st, col)) : NULL;
    cJSON_AddItemToObject(o, key, v ? v : cJSON_CreateNull());
}

static int run_search(struct sq_conn *c, struct search_job *a, struct cap_error *err)
{
    static const char by_dep[] =
        "SELECT id, ts, deployment, model_name, model_version, role, request_id, latency_us, "
        "inputs, outputs, agree FROM predictions WHERE deployment = ?1 AND ts >= ?2 "
        "AND (ts > ?3 OR (ts = ?3 AND id > ?4)) ORDER BY ts, id LIMIT ?5";
    static const char all[] =
        "SELECT id, ts, deployment, model_name, model_version, role, request_id, latency_us, "
        "inputs, outputs, agree FROM predictions WHERE ts >= ?2 "
        "AND (ts > ?3 OR (ts = ?3 AND id > ?4)) ORDER BY ts, id LIMIT ?5";
    sqlite3_stmt *st = store_sq_stmt(c, a->deployment ? by_dep : all, err);
    if (!st)
        return -CAP_EINTERNAL;
    if (a->deployment)
        store_sq_bind_text(st, 1, a->deployment);
    sqlite3_bind_int64(st, 2, a->since);
    sqlite3_bind_int64(st, 3, a->after_ts);
    sqlite3_bind_int64(st, 4, a->after_id);
    sqlite3_bind_int(st, 5, a->max + 1);
    a->out = cJSON_CreateArray();
    int rc, n = 0;
    int64_t last_ts = 0, last_id = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == a->max) {
            a->next = cap_xmalloc(48);
            snprintf(a->next, 48, "%" PRId64 ".%" PRId64, last_ts, last_id);
            break;
        }
        n++;
        last_id = sqlite3_column_int64(st, 0);
        last_ts = sqlite3_column_int64(st, 1);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)last_id);
        cJSON_AddNumberToObject(o, "timestamp", (double)last_ts);
        cJSON_AddStringToObject(o, "deployment", store_sq_col_text(st, 2));
        cJSON_AddStringToObject(o, "model_name", store_sq_col_text(st, 3));
        cJSON_AddStringToObject(o, "model_version", store_sq_col_text(st, 4));
        cJSON_AddStringToObject(o, "role", store_sq_col_text(st, 5));
        if (store_sq_col_text(st, 6))
            cJSON_AddStringToObject(o, "request_id", store_sq_col_text(st, 6));
        cJSON_AddNumberToObject(o, "latency_us", (double)sqlite3_column_int64(st, 7));
        add_pack(o, "inputs", a->decode, st, 8);
        add_pack(o, "outputs", a->decode, st, 9);
        if (sqlite3_column_type(st, 10) != SQLITE_NULL)
            cJSON_AddBoolToObject(o, "agree", sqlite3_column_int(st, 10) != 0);
        cJSON_AddItemToArray(a->out, o);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_sq_dberr(c, err, "searching the prediction log");
    return 0;
}

static int sv_predictions_search(void *impl, const char *deployment, int64_t since_ms,
                                 int max_results, const char *page_token,
                                 store_pack_decoder decode, cJSON **out, char **next_token,
                                 struct cap_error *err)
{
    struct search_job a = {.decode = decode, .deployment = deployment, .since = since_ms, .after_ts = -1,
                           .after_id = -1, .max = max_results};
    if (page_token && *page_token && parse_token(page_token, &a.after_ts, &a.after_id, err) < 0)
        return -CAP_EINVAL;
    struct sq *s = impl;
    struct sq_conn *c = store_sq_reader(s);
    int rc = store_sq_read_begin(c, err);
    if (rc == 0) {
        rc = run_search(c, &a, err);
        store_sq_read_end(c);
    }
    store_sq_reader_done(s, c);
    if (rc < 0) {
        cJSON_Delete(a.out);
        free(a.next);
        return rc;
    }
    *out = a.out;
    *next_token = a.next;
    return 0;
}

static int job_trim(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    const int64_t *keep = arg;
    sqlite3_stmt *st = store_sq_stmt(
        c, "DELETE FROM predictions WHERE id <= (SELECT MAX(id) FROM predictions) - ?", err);
    if (!st)
        return -CAP_EINTERNAL;
    sqlite3_bind_int64(st, 1, *keep);
    return store_sq_step_done(c, st, err, "trimming the prediction log");
}

static int sv_predictions_trim(void *impl, int64_t keep_rows, struct cap_error *err)
{
    return store_sq_write(impl, job_trim, &keep_rows, err);
}

const struct store_serving_backend store_sqlite_serving = {
    .deployment_put = sv_deployment_put,
    .deployment_get = sv_deployment_get,
    .deployment_list = sv_deployment_list,
    .deployment_delete = sv_deployment_delete,
    .predictions_log = sv_predictions_log,
    .predictions_search = sv_predictions_search,
    .predictions_trim = sv_predictions_trim,
};
