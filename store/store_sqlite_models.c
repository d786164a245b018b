/* store_sqlite_models.c - MLflow 3 logged models in the SQL store:
 * create, read, finalize, tags, params and (soft) delete, and the JSON shape
 * of a LoggedModel. A model's metrics are the run metrics logged with its
 * model_id (see log_metrics in store_sqlite_runs.c). Search lives in
 * store_sqlite_search.c. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/util.h"
#include "store/store_sqlite.h"

static int model_not_found(const char *id, struct cap_error *err)
{
    return cap_err(err, CAP_ENOTFOUND, "Logged model with ID '%s' not found.", id);
}

int store_sq_logged_model_json(struct sq_conn *c, struct sq_stmt *row, cJSON **out,
                               struct cap_error *err)
{
    const char *id = store_sq_col_text(row, 0);
    cJSON *model = cJSON_CreateObject();
    cJSON *info = cJSON_AddObjectToObject(model, "info");
    char eid[24];
    snprintf(eid, sizeof eid, "%lld", (long long)sq_col_int(row, 1));
    cJSON_AddStringToObject(info, "model_id", id);
    cJSON_AddStringToObject(info, "experiment_id", eid);
    cJSON_AddStringToObject(info, "name", store_sq_col_text(row, 2));
    cJSON_AddStringToObject(info, "artifact_uri", store_sq_col_text(row, 3));
    cJSON_AddStringToObject(info, "status", store_sq_col_text(row, 4));
    cap_json_add_i64(info, "creation_timestamp_ms", sq_col_int(row, 5));
    cap_json_add_i64(info, "last_updated_timestamp_ms", sq_col_int(row, 6));
    cap_json_add_str(info, "source_run_id", store_sq_col_text(row, 7));
    cap_json_add_str(info, "model_type", store_sq_col_text(row, 8));
    cJSON *data = cJSON_AddObjectToObject(model, "data");
    int rc = -CAP_EINTERNAL;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT key, value FROM logged_model_tags WHERE model_id = ? ORDER BY key",
        SQ_ARGS(SQ_TEXT(id)), err);
    if (!st)
        goto fail;
    if ((rc = store_sq_kv_array(c, st, info, "tags", err)) < 0)
        goto fail;
    cJSON_AddStringToObject(info, "lifecycle_stage", store_sq_col_text(row, 9));
    st = store_sq_stmt_bind(
        c, "SELECT key, value FROM logged_model_params WHERE model_id = ? ORDER BY key",
        SQ_ARGS(SQ_TEXT(id)), err);
    if (!st) {
        rc = -CAP_EINTERNAL;
        goto fail;
    }
    if ((rc = store_sq_kv_array(c, st, data, "params", err)) < 0)
        goto fail;
    st = store_sq_stmt_bind(c,
                            "SELECT m.key, m.value, m.is_nan, m.timestamp, m.step, r.run_uuid, "
                            "m.dataset_name, m.dataset_digest FROM metrics m "
                            "JOIN runs r ON r.rid = m.rid WHERE m.model_id = ? "
                            "ORDER BY m.key, m.step, m.timestamp",
                            SQ_ARGS(SQ_TEXT(id)), err);
    if (!st) {
        rc = -CAP_EINTERNAL;
        goto fail;
    }
    cJSON *metrics = NULL;
    int src;
    while ((src = sq_step(st)) == SQ_ROW) {
        if (!metrics)
            metrics = cJSON_AddArrayToObject(data, "metrics");
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "key", store_sq_col_text(st, 0));
        cap_json_add_double(m, "value",
                            sq_col_int(st, 2) ? NAN : sq_col_dbl(st, 1));
        cap_json_add_i64(m, "timestamp", sq_col_int(st, 3));
        cap_json_add_i64(m, "step", sq_col_int(st, 4));
        cJSON_AddStringToObject(m, "run_id", store_sq_col_text(st, 5));
        cJSON_AddStringToObject(m, "model_id", id);
        cap_json_add_str(m, "dataset_name", store_sq_col_text(st, 6));
        cap_json_add_str(m, "dataset_digest", store_sq_col_text(st, 7));
        cJSON_AddItemToArray(metrics, m);
    }
    sq_reset(st);
    if (src != SQ_DONE) {
        rc = store_sq_dberr(c, err, "reading a logged model's metrics");
        goto fail;
    }
    *out = model;
    return 0;
fail:
    cJSON_Delete(model);
    return rc;
}

static int read_model(struct sq *s, const char *model_id, cJSON **out, struct cap_error *err)
{
    struct sq_conn *c = store_sq_reader(s);
    int rc = store_sq_read_begin(c, err);
    if (rc < 0)
        goto done;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT " SQ_MODEL_COLUMNS " FROM logged_models lm WHERE lm.model_id = ?",
        SQ_ARGS(SQ_TEXT(model_id)), err);
    if (!st) {
        rc = -CAP_EINTERNAL;
        goto end;
    }
    rc = sq_step(st);
    if (rc == SQ_ROW)
        rc = store_sq_logged_model_json(c, st, out, err);
    else if (rc == SQ_DONE)
        rc = model_not_found(model_id, err);
    else
        rc = store_sq_dberr(c, err, "reading a logged model");
    sq_reset(st);
end:
    store_sq_read_end(c);
done:
    store_sq_reader_done(s, c);
    return rc;
}

int store_sq_logged_model_get(void *impl, const char *model_id, cJSON **out,
                              struct cap_error *err)
{
    return read_model(impl, model_id, out, err);
}

/* ---- writes ---- */

struct model_job {
    const struct store_logged_model_create *in;
    char model_id[40];
    const char *id;
    const char *status;
    const char *key;
    const struct cap_kv *kvs;
    size_t nkvs;
    bool params;   /* kvs are params (else tags) */
};

static int model_find(struct sq_conn *c, const char *id, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(c,
                                          "SELECT 1 FROM logged_models WHERE model_id = ?",
                                          SQ_ARGS(SQ_TEXT(id)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    sq_reset(st);
    if (rc == SQ_ROW)
        return 0;
    return rc == SQ_DONE ? model_not_found(id, err)
                             : store_sq_dberr(c, err, "looking up a logged model");
}

static int touch(struct sq_conn *c, const char *id, const char *status, struct cap_error *err)
{
    return store_sq_run(c,
                        "UPDATE logged_models SET last_updated_time = ?, "
                        "status = COALESCE(?, status) WHERE model_id = ?",
                        SQ_ARGS(SQ_INT(cap_now_ms()), SQ_TEXT(status), SQ_TEXT(id)), err,
                        "updating a logged model");
}

static int put_kvs(struct sq_conn *c, const char *id, const struct cap_kv *kv, size_t n,
                   bool params, struct cap_error *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = store_sq_run(c,
                              params ? "INSERT INTO logged_model_params(model_id, key, value) "
                                       "VALUES (?, ?, ?) ON CONFLICT(model_id, key) "
                                       "DO UPDATE SET value = excluded.value"
                                     : "INSERT INTO logged_model_tags(model_id, key, value) "
                                       "VALUES (?, ?, ?) ON CONFLICT(model_id, key) "
                                       "DO UPDATE SET value = excluded.value",
                              SQ_ARGS(SQ_TEXT(id), SQ_TEXT(kv[i].key), SQ_TEXT(kv[i].value)),
                              err, params ? "logging a model param" : "setting a model tag");
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int job_create(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct model_job *a = arg;
    const struct store_logged_model_create *in = a->in;
    int64_t eid = 0;
    char *loc = NULL, *generated = NULL;
    int rc = store_sq_experiment_active(c, in->experiment_id, &eid, &loc, err);
    if (rc < 0)
        return rc;
    memcpy(a->model_id, "m-", 2);
    cap_random_hex(a->model_id + 2, 16);
    struct cap_buf uri;
    cap_buf_init(&uri);
    cap_buf_printf(&uri, "%s/models/%s/artifacts", loc, a->model_id);
    const char *name = in->name && *in->name ? in->name : (generated = store_sq_random_name());
    int64_t now = cap_now_ms();
    const char *run_id = in->source_run_id && *in->source_run_id ? in->source_run_id : NULL;
    const char *type = in->model_type && *in->model_type ? in->model_type : NULL;
    rc = store_sq_run(c,
                      "INSERT INTO logged_models(model_id, experiment_id, name, "
                      "artifact_uri, status, creation_time, last_updated_time, "
                      "source_run_id, model_type, lifecycle_stage) VALUES "
                      "(?, ?, ?, ?, 'LOGGED_MODEL_PENDING', ?, ?, ?, ?, 'active')",
                      SQ_ARGS(SQ_TEXT(a->model_id), SQ_INT(eid), SQ_TEXT(name),
                              SQ_TEXT(uri.data), SQ_INT(now), SQ_INT(now), SQ_TEXT(run_id),
                              SQ_TEXT(type)),
                      err, "creating a logged model");
    if (rc == 0)
        rc = put_kvs(c, a->model_id, in->params, in->nparams, true, err);
    if (rc == 0)
        rc = put_kvs(c, a->model_id, in->tags, in->ntags, false, err);
    cap_buf_free(&uri);
    free(loc);
    free(generated);
    return rc;
}

int store_sq_logged_model_create(void *impl, const struct store_logged_model_create *in,
                                 cJSON **out, struct cap_error *err)
{
    struct model_job a = {.in = in};
    int rc = store_sq_write(impl, job_create, &a, err);
    return rc < 0 ? rc : read_model(impl, a.model_id, out, err);
}

static int job_finalize(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct model_job *a = arg;
    int rc = model_find(c, a->id, err);
    return rc < 0 ? rc : touch(c, a->id, a->status, err);
}

int store_sq_logged_model_finalize(void *impl, const char *model_id, const char *status,
                                   cJSON **out, struct cap_error *err)
{
    struct model_job a = {.id = model_id, .status = status};
    int rc = store_sq_write(impl, job_finalize, &a, err);
    if (rc < 0 || !out)
        return rc;
    return read_model(impl, model_id, out, err);
}

static int job_put(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct model_job *a = arg;
    int rc = model_find(c, a->id, err);
    if (rc == 0)
        rc = put_kvs(c, a->id, a->kvs, a->nkvs, a->params, err);
    return rc < 0 ? rc : touch(c, a->id, NULL, err);
}

int store_sq_logged_model_set_tags(void *impl, const char *model_id, const struct cap_kv *tags,
                                   size_t ntags, struct cap_error *err)
{
    struct model_job a = {.id = model_id, .kvs = tags, .nkvs = ntags, .params = false};
    return store_sq_write(impl, job_put, &a, err);
}

int store_sq_logged_model_log_params(void *impl, const char *model_id,
                                     const struct cap_kv *params, size_t nparams,
                                     struct cap_error *err)
{
    struct model_job a = {.id = model_id, .kvs = params, .nkvs = nparams, .params = true};
    return store_sq_write(impl, job_put, &a, err);
}

/* ---- the registry's mark: mlflow.modelVersions ---- */

static bool is_entry(const cJSON *e, const char *name, int64_t version)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "version");
    return cJSON_GetArraySize(e) == 2 && cJSON_IsString(n) && strcmp(n->valuestring, name) == 0 &&
           cJSON_IsNumber(v) && v->valuedouble == (double)version;
}

/* The tag's new text: the old list with the entry appended, kept as it was
 * written (MLflow re-dumps it with json.dumps, which writes the same text
 * for what it wrote); NULL when the entry is already there. A value that is
 * not a JSON list is replaced. */
static char *versions_with(const char *old, const char *name, int64_t version)
{
    cJSON *list = old ? cJSON_ParseWithOpts(old, NULL, true) : NULL;
    bool keep = cJSON_IsArray(list);
    if (!keep) {
        cJSON_Delete(list);
        list = NULL;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, list)
    {
        if (is_entry(e, name, version)) {
            cJSON_Delete(list);
            return NULL;
        }
    }
    /* json.dumps's separators: ", " and ": " (names are checked for control
     * characters; non-ASCII ones are written as UTF-8, json.dumps would
     * escape them) */
    cJSON *s = cJSON_CreateString(name);
    char *quoted = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    struct cap_buf b;
    cap_buf_init(&b);
    if (keep && cJSON_GetArraySize(list) > 0) {
        size_t n = strlen(old);
        while (n > 0 && old[n - 1] != ']')
            n--;
        cap_buf_append(&b, old, n - 1);
        while (b.len > 0 && (b.data[b.len - 1] == ' ' || b.data[b.len - 1] == '\n'))
            b.len--;
        cap_buf_puts(&b, ", ");
    } else {
        cap_buf_putc(&b, '[');
    }
    cap_buf_printf(&b, "{\"name\": %s, \"version\": %lld}]", quoted, (long long)version);
    cJSON_free(quoted);
    cJSON_Delete(list);
    return cap_buf_steal(&b);
}

int store_sq_logged_model_note_version(struct sq_conn *c, const char *model_id, const char *name,
                                       int64_t version, struct cap_error *err)
{
    static const char key[] = "mlflow.modelVersions";
    int rc = model_find(c, model_id, err);
    if (rc < 0)
        return rc;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT value FROM logged_model_tags WHERE model_id = ? AND key = ?",
        SQ_ARGS(SQ_TEXT(model_id), SQ_TEXT(key)), err);
    if (!st)
        return -CAP_EINTERNAL;
    rc = sq_step(st);
    const char *text = rc == SQ_ROW ? store_sq_col_text(st, 0) : NULL;
    char *old = text ? cap_xstrdup(text) : NULL;
    sq_reset(st);
    if (rc != SQ_ROW && rc != SQ_DONE)
        return store_sq_dberr(c, err, "reading a logged model's tags");
    char *value = versions_with(old, name, version);
    free(old);
    if (!value)
        return 0;
    struct cap_kv kv = {.key = key, .value = value};
    rc = put_kvs(c, model_id, &kv, 1, false, err);
    free(value);
    return rc;
}

static int job_delete_tag(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct model_job *a = arg;
    int rc = model_find(c, a->id, err);
    if (rc < 0)
        return rc;
    if ((rc = store_sq_run(c,
                           "DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?",
                           SQ_ARGS(SQ_TEXT(a->id), SQ_TEXT(a->key)), err,
                           "deleting a model tag")) < 0)
        return rc;
    if (sq_changes(c->db) == 0)
        return cap_err(err, CAP_ENOTFOUND, "No tag with key '%s' on logged model '%s'", a->key,
                       a->id);
    return touch(c, a->id, NULL, err);
}

int store_sq_logged_model_delete_tag(void *impl, const char *model_id, const char *key,
                                     struct cap_error *err)
{
    struct model_job a = {.id = model_id, .key = key};
    return store_sq_write(impl, job_delete_tag, &a, err);
}

static int job_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct model_job *a = arg;
    int rc = model_find(c, a->id, err);
    if (rc < 0)
        return rc;
    return store_sq_run(c,
                        "UPDATE logged_models SET lifecycle_stage = 'deleted', "
                        "last_updated_time = ? WHERE model_id = ? AND "
                        "lifecycle_stage = 'active'",
                        SQ_ARGS(SQ_INT(cap_now_ms()), SQ_TEXT(a->id)), err,
                        "deleting a logged model");
}

int store_sq_logged_model_delete(void *impl, const char *model_id, struct cap_error *err)
{
    struct model_job a = {.id = model_id};
    return store_sq_write(impl, job_delete, &a, err);
}
