/* store_sqlite_data.c - datasets (migration 8: data_names, data_versions):
 * a dataset's versions, each naming its manifest by hash, and the roots
 * that data/'s gc must keep. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store_sqlite.h"

#define VERSION_COLS \
    "name, version, hash, size, files, author, created_at, message, parent, meta"

struct dv_job {
    const struct store_data_version *v;
    const char *name, *tag;
    int64_t version, count;
    cJSON *out;
};

/* The version object of a row selected with VERSION_COLS. */
static cJSON *version_json(struct sq_stmt *st)
{
    cJSON *meta = cJSON_Parse(store_sq_col_text(st, 9));
    cJSON *o = cJSON_IsObject(meta) ? meta : cJSON_CreateObject();
    if (o != meta)
        cJSON_Delete(meta);
    cJSON_AddStringToObject(o, "name", store_sq_col_text(st, 0));
    cJSON_AddNumberToObject(o, "version", (double)sq_col_int(st, 1));
    cJSON_AddStringToObject(o, "hash", store_sq_col_text(st, 2));
    cJSON_AddNumberToObject(o, "size", (double)sq_col_int(st, 3));
    cJSON_AddNumberToObject(o, "files", (double)sq_col_int(st, 4));
    cJSON_AddStringToObject(o, "author", store_sq_col_text(st, 5));
    cJSON_AddNumberToObject(o, "created_at", (double)sq_col_int(st, 6));
    cJSON_AddStringToObject(o, "message", store_sq_col_text(st, 7));
    if (!sq_col_null(st, 8))
        cJSON_AddNumberToObject(o, "parent", (double)sq_col_int(st, 8));
    return o;
}

static int job_add(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct dv_job *a = arg;
    const struct store_data_version *v = a->v;
    int64_t now = cap_now_ms();
    int rc = store_sq_run(c,
                          "INSERT INTO data_names(name, next_version, created_at) VALUES "
                          "(?1, 1, ?2) ON CONFLICT(name) DO NOTHING",
                          SQ_ARGS(SQ_TEXT(v->name), SQ_INT(now)), err, "creating a dataset");
    if (rc < 0)
        return rc;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "UPDATE data_names SET next_version = next_version + 1 WHERE name = ?1 "
           "RETURNING next_version - 1",
        SQ_ARGS(SQ_TEXT(v->name)), err);
    if (!st)
        return -CAP_EINTERNAL;
    if (sq_step(st) != SQ_ROW) {
        rc = store_sq_dberr(c, err, "numbering a dataset version");
        sq_reset(st);
        return rc;
    }
    a->version = sq_col_int(st, 0);
    sq_step(st);
    sq_reset(st);
    return store_sq_run(c,
                        "INSERT INTO data_versions(" VERSION_COLS ") VALUES "
                        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULLIF(?9, 0), ?10)",
                        SQ_ARGS(SQ_TEXT(v->name), SQ_INT(a->version), SQ_TEXT(v->hash),
                                SQ_INT(v->size), SQ_INT(v->files), SQ_TEXT(v->author),
                                SQ_INT(now), SQ_TEXT(v->message), SQ_INT(v->parent),
                                SQ_TEXT(v->meta_json)),
                        err, "storing a dataset version");
}

int store_sq_data_version_add(void *impl, const struct store_data_version *v, int64_t *version,
                              struct cap_error *err)
{
    struct dv_job a = {.v = v};
    int rc = store_sq_write(impl, job_add, &a, err);
    *version = rc < 0 ? 0 : a.version;
    return rc;
}

/* Collects the rows of st (VERSION_COLS) into a->out, an array; with a tag
 * "K=V", only those whose meta's tags hold it. */
static int collect(struct sq_conn *c, struct sq_stmt *st, struct dv_job *a, int max,
                   struct cap_error *err)
{
    const char *eq = a->tag ? strchr(a->tag, '=') : NULL;
    a->out = cJSON_CreateArray();
    int step = SQ_DONE;
    while (max != 0 && (step = sq_step(st)) == SQ_ROW) {
        cJSON *o = version_json(st);
        if (eq) {
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(eq - a->tag), a->tag);
            const cJSON *tv = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(o, "tags"), key);
            if (!cJSON_IsString(tv) || strcmp(tv->valuestring, eq + 1) != 0) {
                cJSON_Delete(o);
                continue;
            }
        }
        cJSON_AddItemToArray(a->out, o);
        max--;
    }
    int rc = max != 0 && step != SQ_DONE ? store_sq_dberr(c, err, "reading datasets") : 0;
    sq_reset(st);
    return rc;
}

static int has_versions(struct sq_conn *c, const char *name, bool *known, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT 1 FROM data_versions WHERE name = ?1 LIMIT 1", SQ_ARGS(SQ_TEXT(name)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int step = sq_step(st);
    *known = step == SQ_ROW;
    sq_reset(st);
    return step == SQ_ROW || step == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading datasets");
}

static int run_get(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct dv_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT " VERSION_COLS " FROM data_versions WHERE name = ?1 AND (?2 = 0 OR version = ?2) "
        "ORDER BY version DESC",
        SQ_ARGS(SQ_TEXT(a->name), SQ_INT(a->version)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = collect(c, st, a, 1, err);
    if (rc == 0 && cJSON_GetArraySize(a->out) == 0) {
        bool known = false;
        if ((a->version || a->tag) && (rc = has_versions(c, a->name, &known, err)) < 0)
            return rc;
        if (!known)
            rc = cap_err(err, CAP_ENOTFOUND, "No dataset named '%s'", a->name);
        else if (a->version)
            rc = cap_err(err, CAP_ENOTFOUND, "Dataset '%s' has no version %" PRId64, a->name,
                         a->version);
        else
            rc = cap_err(err, CAP_ENOTFOUND, "Dataset '%s' has no version tagged '%.200s'",
                         a->name, a->tag);
    }
    return rc;
}

int store_sq_data_version_get(void *impl, const char *name, int64_t version, const char *tag,
                              cJSON **out, struct cap_error *err)
{
    struct dv_job a = {.name = name, .version = version, .tag = tag};
    int rc = store_sq_read(impl, run_get, &a, err);
    if (rc == 0)
        *out = cJSON_DetachItemFromArray(a.out, 0);
    cJSON_Delete(a.out);
    return rc;
}

static int run_log(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct dv_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT " VERSION_COLS " FROM data_versions WHERE name = ?1 ORDER BY version DESC",
        SQ_ARGS(SQ_TEXT(a->name)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = collect(c, st, a, -1, err);
    if (rc == 0 && cJSON_GetArraySize(a->out) == 0)
        rc = cap_err(err, CAP_ENOTFOUND, "No dataset named '%s'", a->name);
    return rc;
}

int store_sq_data_log(void *impl, const char *name, cJSON **out, struct cap_error *err)
{
    struct dv_job a = {.name = name};
    int rc = store_sq_read(impl, run_log, &a, err);
    if (rc == 0)
        *out = a.out;
    else
        cJSON_Delete(a.out);
    return rc;
}

static int run_list(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct dv_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT v.name, v.version, v.hash, v.size, v.files, v.author, v.created_at, v.message, "
        "v.parent, v.meta, n.cnt FROM data_versions v JOIN (SELECT name, max(version) AS top, "
        "count(*) AS cnt FROM data_versions GROUP BY name) n ON v.name = n.name AND "
        "v.version = n.top ORDER BY v.name",
        NULL, 0, err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int step;
    while ((step = sq_step(st)) == SQ_ROW) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "name", store_sq_col_text(st, 0));
        cJSON_AddNumberToObject(d, "versions", (double)sq_col_int(st, 10));
        cJSON_AddItemToObject(d, "latest", version_json(st));
        cJSON_AddItemToArray(a->out, d);
    }
    int rc = step == SQ_DONE ? 0 : store_sq_dberr(c, err, "listing datasets");
    sq_reset(st);
    return rc;
}

int store_sq_data_list(void *impl, cJSON **out, struct cap_error *err)
{
    struct dv_job a = {0};
    int rc = store_sq_read(impl, run_list, &a, err);
    if (rc == 0)
        *out = a.out;
    else
        cJSON_Delete(a.out);
    return rc;
}

static int job_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct dv_job *a = arg;
    int rc = store_sq_run(c,
                          "DELETE FROM data_versions WHERE name = ?1 AND (?2 = 0 OR version = ?2)",
                          SQ_ARGS(SQ_TEXT(a->name), SQ_INT(a->version)), err,
                          "removing dataset versions");
    if (rc < 0)
        return rc;
    a->count = sq_changes(c->db);
    if (a->count == 0 && a->version)
        return cap_err(err, CAP_ENOTFOUND, "Dataset '%s' has no version %" PRId64, a->name,
                       a->version);
    if (a->count == 0)
        return cap_err(err, CAP_ENOTFOUND, "No dataset named '%s'", a->name);
    return 0;
}

int store_sq_data_version_delete(void *impl, const char *name, int64_t version, int64_t *removed,
                                 struct cap_error *err)
{
    struct dv_job a = {.name = name, .version = version};
    int rc = store_sq_write(impl, job_delete, &a, err);
    *removed = rc < 0 ? 0 : a.count;
    return rc;
}

/* Appends the first column of every row of st to an array named name. */
static int strings_of(struct sq_conn *c, struct sq_stmt *st, cJSON *obj, const char *name,
                      struct cap_error *err)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, name);
    int step;
    while ((step = sq_step(st)) == SQ_ROW)
        cJSON_AddItemToArray(arr, cJSON_CreateString(store_sq_col_text(st, 0)));
    int rc = step == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading dataset roots");
    sq_reset(st);
    return rc;
}

/* The distinct strings of every version's meta "objects" list, sorted.
 * Parsed here rather than with SQL's JSON functions, which each engine
 * spells its own way. */
static int meta_objects(struct sq_conn *c, struct sq_stmt *st, cJSON *obj,
                        struct cap_error *err)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    int step;
    while ((step = sq_step(st)) == SQ_ROW) {
        cJSON *meta = cJSON_Parse(store_sq_col_text(st, 0));
        const cJSON *o, *list = cJSON_GetObjectItemCaseSensitive(meta, "objects");
        if (!cJSON_IsArray(list))
            list = NULL;
        cJSON_ArrayForEach(o, list)
        {
            if (!cJSON_IsString(o))
                continue;
            if (n == cap)
                v = cap_xrealloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v);
            v[n++] = cap_xstrdup(o->valuestring);
        }
        cJSON_Delete(meta);
    }
    int rc = step == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading dataset roots");
    sq_reset(st);
    if (n > 1)
        qsort(v, n, sizeof *v, cap_strp_cmp);
    cJSON *arr = cJSON_AddArrayToObject(obj, "objects");
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && (i == 0 || strcmp(v[i], v[i - 1]) != 0))
            cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
        free(v[i]);
    }
    free(v);
    return rc;
}

static int run_roots(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct dv_job *a = arg;
    a->out = cJSON_CreateObject();
    struct sq_stmt *st = store_sq_stmt(
        c,
        "SELECT hash FROM data_versions UNION SELECT digest FROM datasets WHERE "
        "replace(source, 'capstan-dataset:', '') <> source",
        err);
    int rc = st ? strings_of(c, st, a->out, "manifests", err) : -CAP_EINTERNAL;
    if (rc < 0)
        return rc;
    st = store_sq_stmt(c, "SELECT meta FROM data_versions", err);
    return st ? meta_objects(c, st, a->out, err) : -CAP_EINTERNAL;
}

int store_sq_data_roots(void *impl, cJSON **out, struct cap_error *err)
{
    struct dv_job a = {0};
    int rc = store_sq_read(impl, run_roots, &a, err);
    if (rc == 0)
        *out = a.out;
    else
        cJSON_Delete(a.out);
    return rc;
}

struct usage_job {
    const char *ref, *digest;
    cJSON *out;
};

static int run_usage(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct usage_job *a = arg;
    a->out = cJSON_CreateObject();
    cJSON *runs = cJSON_AddArrayToObject(a->out, "runs");
    cJSON *models = cJSON_AddArrayToObject(a->out, "model_versions");
    /* replace() as a substring test (instr is SQLite's, strpos PostgreSQL's), not
     * LIKE: '_' in a name is a LIKE wildcard. */
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT DISTINCT r.run_uuid, r.name, r.experiment_id FROM datasets d JOIN inputs i ON "
        "i.dataset_id = d.dataset_id JOIN runs r ON r.rid = i.rid WHERE d.source = "
        "'capstan-dataset:' || ?1 OR replace(d.source, '\"capstan-dataset:' || ?1 || '\"', '') "
        "<> d.source "
        "OR d.digest = ?2 ORDER BY r.start_time, r.run_uuid",
        SQ_ARGS(SQ_TEXT(a->ref), SQ_TEXT(a->digest)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int step;
    while ((step = sq_step(st)) == SQ_ROW) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "run_id", store_sq_col_text(st, 0));
        cJSON_AddStringToObject(r, "run_name", store_sq_col_text(st, 1));
        char eid[24];
        snprintf(eid, sizeof eid, "%lld", (long long)sq_col_int(st, 2));
        cJSON_AddStringToObject(r, "experiment_id", eid);
        cJSON_AddItemToArray(runs, r);
    }
    sq_reset(st);
    if (step != SQ_DONE)
        return store_sq_dberr(c, err, "reading a dataset's runs");
    const cJSON *r;
    cJSON_ArrayForEach(r, runs)
    {
        const char *rid = cJSON_GetStringValue(cJSON_GetObjectItem(r, "run_id"));
        st = store_sq_stmt_bind(c,
                                "SELECT m.name, v.version FROM model_versions v JOIN "
                                "registered_models m ON m.model_key = v.model_key WHERE "
                                "v.run_id = ?1 ORDER BY m.name, v.version",
                                SQ_ARGS(SQ_TEXT(rid)), err);
        if (!st)
            return -CAP_EINTERNAL;
        while ((step = sq_step(st)) == SQ_ROW) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "name", store_sq_col_text(st, 0));
            char v[24];
            snprintf(v, sizeof v, "%lld", (long long)sq_col_int(st, 1));
            cJSON_AddStringToObject(m, "version", v);
            cJSON_AddStringToObject(m, "run_id", rid);
            cJSON_AddItemToArray(models, m);
        }
        sq_reset(st);
        if (step != SQ_DONE)
            return store_sq_dberr(c, err, "reading a dataset's model versions");
    }
    return 0;
}

int store_sq_data_usage(void *impl, const char *ref, const char *digest, cJSON **out,
                        struct cap_error *err)
{
    struct usage_job a = {.ref = ref, .digest = digest};
    int rc = store_sq_read(impl, run_usage, &a, err);
    if (rc == 0)
        *out = a.out;
    else
        cJSON_Delete(a.out);
    return rc;
}
