/* store_sqlite_registry.c - the model registry in the SQL store:
 * registered models, their versions, stages, tags and aliases, with MLflow's
 * rules and error wording, and the JSON shapes of RegisteredModel and
 * ModelVersion. Searching lives in store_sqlite_registry_search.c.
 *
 * Version numbers come from a counter on the model row that the writer job
 * bumps and reads in the same statement as part of the insert's savepoint,
 * so concurrent creates get distinct numbers and a deleted number is never
 * handed out again.
 *
 * Writes are jobs for the writer thread; each looks up what it depends on
 * inside its own savepoint and also builds the JSON it returns there, so the
 * answer shows exactly the state it wrote (a read afterwards could already
 * see someone else's later write). The price is that JSON building runs on
 * the writer thread; it is a handful of indexed lookups per object.
 *
 * Choices where MLflow leaves room (store.h repeats them for callers):
 * - "Latest" versions (RegisteredModel.latest_versions, get-latest-versions)
 *   count READY versions only: the highest READY version per stage, in the
 *   order None, Staging, Production, Archived, or in the order the stages
 *   were asked for (repeats dropped).
 * - Deleting a model or version tag that is not there is a no-op, as in
 *   MLflow's SQL store; deleting an alias that is not there is an error.
 * - A model's last_updated_timestamp moves on every change to the model, its
 *   tags and aliases and its versions (create, delete, stage, tags), but not
 *   on a version's description (MLflow's SQL store leaves it there too); a
 *   version's own moves on description and stage changes only.
 * - Empty optional strings at creation (description, run_id, run_link,
 *   model_id, user_id, status_message) are stored as unset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/util.h"
#include "store/store_sqlite.h"

static int model_not_found(const char *name, struct cap_error *err)
{
    return cap_err(err, CAP_ENOTFOUND, "Registered Model with name=%s not found", name);
}

static int version_not_found(const char *name, const char *version, struct cap_error *err)
{
    return cap_err(err, CAP_ENOTFOUND, "Model Version (name=%s, version=%s) not found", name,
                   version);
}

static const char *opt(const char *s)
{
    return s && *s ? s : NULL;
}

/* ---------------- JSON ---------------- */

#define SQ_MV_FROM " FROM model_versions mv JOIN registered_models rm ON rm.model_key = mv.model_key"

int store_sq_model_version_json(struct sq_conn *c, struct sq_stmt *row, cJSON **out,
                                struct cap_error *err)
{
    int64_t mv_id = sq_col_int(row, 0);
    int64_t key = sq_col_int(row, 1);
    int64_t num = sq_col_int(row, 3);
    char version[24];
    snprintf(version, sizeof version, "%lld", (long long)num);
    cJSON *mv = cJSON_CreateObject();
    cJSON_AddStringToObject(mv, "name", store_sq_col_text(row, 2));
    cJSON_AddStringToObject(mv, "version", version);
    cap_json_add_i64(mv, "creation_timestamp", sq_col_int(row, 4));
    cap_json_add_i64(mv, "last_updated_timestamp", sq_col_int(row, 5));
    cap_json_add_str(mv, "user_id", store_sq_col_text(row, 6));
    cJSON_AddStringToObject(mv, "current_stage", store_sq_col_text(row, 7));
    /* MLflow's server always has one: the request's, or proto's default "" */
    const char *desc = store_sq_col_text(row, 8);
    cJSON_AddStringToObject(mv, "description", desc ? desc : "");
    cJSON_AddStringToObject(mv, "source", store_sq_col_text(row, 9));
    cap_json_add_str(mv, "run_id", store_sq_col_text(row, 10));
    cJSON_AddStringToObject(mv, "status", store_sq_col_text(row, 11));
    cap_json_add_str(mv, "status_message", store_sq_col_text(row, 12));
    int rc = -CAP_EINTERNAL;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT key, value FROM model_version_tags WHERE mv_id = ? ORDER BY key",
        SQ_ARGS(SQ_INT(mv_id)), err);
    if (!st)
        goto fail;
    if ((rc = store_sq_kv_array(c, st, mv, "tags", err)) < 0)
        goto fail;
    cap_json_add_str(mv, "run_link", store_sq_col_text(row, 13));
    st = store_sq_stmt_bind(c,
                            "SELECT alias FROM registered_model_aliases WHERE model_key = ? AND "
                            "version = ? ORDER BY alias",
                            SQ_ARGS(SQ_INT(key), SQ_INT(num)), err);
    if (!st) {
        rc = -CAP_EINTERNAL;
        goto fail;
    }
    cJSON *aliases = NULL;
    while ((rc = sq_step(st)) == SQ_ROW) {
        if (!aliases)
            aliases = cJSON_AddArrayToObject(mv, "aliases");
        cJSON_AddItemToArray(aliases, cJSON_CreateString(store_sq_col_text(st, 0)));
    }
    sq_reset(st);
    if (rc != SQ_DONE) {
        rc = store_sq_dberr(c, err, "reading a model version's aliases");
        goto fail;
    }
    cap_json_add_str(mv, "model_id", store_sq_col_text(row, 14));
    *out = mv;
    return 0;
fail:
    cJSON_Delete(mv);
    return rc;
}

/* The highest READY version of model key in stage; *out stays NULL when
 * there is none. */
static int latest_in_stage(struct sq_conn *c, int64_t key, const char *stage, cJSON **out,
                           struct cap_error *err)
{
    *out = NULL;
    struct sq_stmt *st = store_sq_stmt_bind(c,
                                          "SELECT " SQ_MV_COLUMNS SQ_MV_FROM
                                          " WHERE mv.model_key = ? AND mv.current_stage = ? AND "
                                          "mv.status = 'READY' ORDER BY mv.version DESC LIMIT 1",
                                          SQ_ARGS(SQ_INT(key), SQ_TEXT(stage)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc == SQ_ROW)
        rc = store_sq_model_version_json(c, st, out, err);
    else if (rc == SQ_DONE)
        rc = 0;
    else
        rc = store_sq_dberr(c, err, "finding the latest model versions");
    sq_reset(st);
    return rc;
}

int store_sq_registered_model_json(struct sq_conn *c, struct sq_stmt *row, cJSON **out,
                                   struct cap_error *err)
{
    int64_t key = sq_col_int(row, 0);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", store_sq_col_text(row, 1));
    cap_json_add_i64(m, "creation_timestamp", sq_col_int(row, 2));
    cap_json_add_i64(m, "last_updated_timestamp", sq_col_int(row, 3));
    cap_json_add_str(m, "user_id", store_sq_col_text(row, 4));
    cap_json_add_str(m, "description", store_sq_col_text(row, 5));
    cJSON *latest = NULL;
    int rc;
    for (size_t i = 0; i < STORE_NSTAGES; i++) {
        cJSON *mv = NULL;
        if ((rc = latest_in_stage(c, key, store_stages[i], &mv, err)) < 0)
            goto fail;
        if (!mv)
            continue;
        if (!latest)
            latest = cJSON_AddArrayToObject(m, "latest_versions");
        cJSON_AddItemToArray(latest, mv);
    }
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT key, value FROM registered_model_tags WHERE model_key = ? ORDER BY key",
        SQ_ARGS(SQ_INT(key)), err);
    if (!st) {
        rc = -CAP_EINTERNAL;
        goto fail;
    }
    if ((rc = store_sq_kv_array(c, st, m, "tags", err)) < 0)
        goto fail;
    st = store_sq_stmt_bind(c,
                            "SELECT alias, version FROM registered_model_aliases WHERE "
                            "model_key = ? ORDER BY alias",
                            SQ_ARGS(SQ_INT(key)), err);
    if (!st) {
        rc = -CAP_EINTERNAL;
        goto fail;
    }
    cJSON *aliases = NULL;
    while ((rc = sq_step(st)) == SQ_ROW) {
        if (!aliases)
            aliases = cJSON_AddArrayToObject(m, "aliases");
        char version[24];
        snprintf(version, sizeof version, "%lld", (long long)sq_col_int(st, 1));
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "alias", store_sq_col_text(st, 0));
        cJSON_AddStringToObject(a, "version", version);
        cJSON_AddItemToArray(aliases, a);
    }
    sq_reset(st);
    if (rc != SQ_DONE) {
        rc = store_sq_dberr(c, err, "reading a registered model's aliases");
        goto fail;
    }
    *out = m;
    return 0;
fail:
    cJSON_Delete(m);
    return rc;
}

/* ---------------- lookups ---------------- */

/* What one call works on; the lookups fill the second half. */
struct reg_job {
    const char *name;
    const char *version;       /* decimal string */
    const char *new_name;
    const char *description;
    const char *key;           /* tag key */
    const char *value;
    const char *alias;
    const char *stage;
    bool archive;
    const struct cap_kv *tags;
    size_t ntags;
    const struct store_model_version_create *in;
    const char *const *stages;
    size_t nstages;
    bool want;                 /* build out */

    int64_t model_key;
    int64_t mv_id;
    int64_t num;               /* the version's number */
    cJSON *out;
};

/* 0 and *key when model name exists, 1 when it does not, or an error. */
static int lookup_model(struct sq_conn *c, const char *name, int64_t *key, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(c,
                                          "SELECT model_key FROM registered_models WHERE name = ?",
                                          SQ_ARGS(SQ_TEXT(name)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc == SQ_ROW) {
        *key = sq_col_int(st, 0);
        rc = 0;
    } else {
        rc = rc == SQ_DONE ? 1 : store_sq_dberr(c, err, "looking up a registered model");
    }
    sq_reset(st);
    return rc;
}

/* Fills a->model_key from a->name (-CAP_ENOTFOUND when there is none). */
static int find_model(struct sq_conn *c, struct reg_job *a, struct cap_error *err)
{
    int rc = lookup_model(c, a->name, &a->model_key, err);
    return rc == 1 ? model_not_found(a->name, err) : rc;
}

/* Fills a->model_key and a->mv_id from a->name and a->version. */
static int find_version(struct sq_conn *c, struct reg_job *a, struct cap_error *err)
{
    int rc = find_model(c, a, err);
    if (rc < 0)
        return rc;
    if (!store_sq_parse_id(a->version, &a->num))
        return version_not_found(a->name, a->version, err);
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT mv_id FROM model_versions WHERE model_key = ? AND version = ?",
        SQ_ARGS(SQ_INT(a->model_key), SQ_INT(a->num)), err);
    if (!st)
        return -CAP_EINTERNAL;
    rc = sq_step(st);
    if (rc == SQ_ROW) {
        a->mv_id = sq_col_int(st, 0);
        rc = 0;
    } else {
        rc = rc == SQ_DONE ? version_not_found(a->name, a->version, err)
                               : store_sq_dberr(c, err, "looking up a model version");
    }
    sq_reset(st);
    return rc;
}

static int model_json_by_key(struct sq_conn *c, int64_t key, cJSON **out, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT " SQ_RM_COLUMNS " FROM registered_models rm WHERE rm.model_key = ?",
        SQ_ARGS(SQ_INT(key)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc == SQ_ROW)
        rc = store_sq_registered_model_json(c, st, out, err);
    else
        rc = store_sq_dberr(c, err, "reading a registered model");
    sq_reset(st);
    return rc;
}

static int version_json_by_id(struct sq_conn *c, int64_t mv_id, cJSON **out,
                              struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(c,
                                          "SELECT " SQ_MV_COLUMNS SQ_MV_FROM " WHERE mv.mv_id = ?",
                                          SQ_ARGS(SQ_INT(mv_id)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc == SQ_ROW)
        rc = store_sq_model_version_json(c, st, out, err);
    else
        rc = store_sq_dberr(c, err, "reading a model version");
    sq_reset(st);
    return rc;
}

/* The end of most jobs: the JSON of what was written, when asked for. */
static int model_out(struct sq_conn *c, struct reg_job *a, struct cap_error *err)
{
    return a->want ? model_json_by_key(c, a->model_key, &a->out, err) : 0;
}

static int version_out(struct sq_conn *c, struct reg_job *a, struct cap_error *err)
{
    return a->want ? version_json_by_id(c, a->mv_id, &a->out, err) : 0;
}

static int touch_model(struct sq_conn *c, int64_t key, int64_t now, struct cap_error *err)
{
    return store_sq_run(c,
                        "UPDATE registered_models SET last_updated_time = ? WHERE model_key = ?",
                        SQ_ARGS(SQ_INT(now), SQ_INT(key)), err, "updating a registered model");
}

/* ---------------- running jobs ---------------- */

/* Runs fn as a write job; *out (may be NULL) gets the job's JSON. */
static int reg_write(struct sq *s, sq_job_fn fn, struct reg_job *a, cJSON **out,
                 struct cap_error *err)
{
    a->want = out != NULL;
    int rc = store_sq_write(s, fn, a, err);
    if (rc < 0 || !out) {
        /* built, but the group did not commit (or nobody wants it) */
        cJSON_Delete(a->out);
        return rc;
    }
    *out = a->out;
    return 0;
}

/* Runs fn in one read transaction on a pooled connection. */
static int reg_read(struct sq *s, sq_job_fn fn, struct reg_job *a, cJSON **out,
                struct cap_error *err)
{
    a->want = true;
    int rc = store_sq_read(s, fn, a, err);
    if (rc < 0) {
        cJSON_Delete(a->out);
        return rc;
    }
    *out = a->out;
    return 0;
}

/* ---------------- registered models ---------------- */

static int put_model_tag(struct sq_conn *c, int64_t key, const char *k, const char *v,
                         struct cap_error *err)
{
    return store_sq_run(c,
                        "INSERT INTO registered_model_tags(model_key, key, value) "
                        "VALUES (?, ?, ?) ON CONFLICT(model_key, key) "
                        "DO UPDATE SET value = excluded.value",
                        SQ_ARGS(SQ_INT(key), SQ_TEXT(k), SQ_TEXT(v)), err,
                        "setting a registered model tag");
}

static int job_model_create(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = lookup_model(c, a->name, &a->model_key, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return cap_err(err, CAP_EEXISTS, "Registered Model (name=%s) already exists.", a->name);
    int64_t now = cap_now_ms();
    if ((rc = store_sq_insert_id(c,
                           "INSERT INTO registered_models(name, description, "
                           "creation_time, last_updated_time) VALUES (?, ?, ?, ?) "
                           "RETURNING model_key",
                           SQ_ARGS(SQ_TEXT(a->name), SQ_TEXT(opt(a->description)), SQ_INT(now),
                                   SQ_INT(now)), &a->model_key, err, "creating a registered model")) < 0)
        return rc;
    for (size_t i = 0; i < a->ntags; i++)
        if ((rc = put_model_tag(c, a->model_key, a->tags[i].key, a->tags[i].value, err)) < 0)
            return rc;
    return model_out(c, a, err);
}

int store_sq_registered_model_create(void *impl, const char *name, const char *description,
                                     const struct cap_kv *tags, size_t ntags, cJSON **out,
                                     struct cap_error *err)
{
    struct reg_job a = {.name = name, .description = description, .tags = tags, .ntags = ntags};
    return reg_write(impl, job_model_create, &a, out, err);
}

static int job_model_get(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_model(c, a, err);
    return rc < 0 ? rc : model_out(c, a, err);
}

int store_sq_registered_model_get(void *impl, const char *name, cJSON **out,
                                  struct cap_error *err)
{
    struct reg_job a = {.name = name};
    return reg_read(impl, job_model_get, &a, out, err);
}

static int job_model_update(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_model(c, a, err);
    if (rc < 0)
        return rc;
    if (a->description) {
        if ((rc = store_sq_run(c,
                               "UPDATE registered_models SET description = ?, "
                               "last_updated_time = ? WHERE model_key = ?",
                               SQ_ARGS(SQ_TEXT(a->description), SQ_INT(cap_now_ms()),
                                       SQ_INT(a->model_key)), err,
                               "updating a registered model")) < 0)
            return rc;
    }
    return model_out(c, a, err);
}

int store_sq_registered_model_update(void *impl, const char *name, const char *description,
                                     cJSON **out, struct cap_error *err)
{
    struct reg_job a = {.name = name, .description = description};
    return reg_write(impl, job_model_update, &a, out, err);
}

static int job_model_rename(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_model(c, a, err);
    if (rc < 0)
        return rc;
    if (strcmp(a->name, a->new_name) != 0) {
        int64_t other;
        if ((rc = lookup_model(c, a->new_name, &other, err)) < 0)
            return rc;
        if (rc == 0)
            return cap_err(err, CAP_EEXISTS, "Registered Model (name=%s) already exists.",
                           a->new_name);
    }
    if ((rc = store_sq_run(c,
                           "UPDATE registered_models SET name = ?, "
                           "last_updated_time = ? WHERE model_key = ?",
                           SQ_ARGS(SQ_TEXT(a->new_name), SQ_INT(cap_now_ms()),
                                   SQ_INT(a->model_key)), err, "renaming a registered model")) < 0)
        return rc;
    return model_out(c, a, err);
}

int store_sq_registered_model_rename(void *impl, const char *name, const char *new_name,
                                     cJSON **out, struct cap_error *err)
{
    struct reg_job a = {.name = name, .new_name = new_name};
    return reg_write(impl, job_model_rename, &a, out, err);
}

static int job_model_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_model(c, a, err);
    if (rc < 0)
        return rc;
    /* versions, tags and aliases go with it (ON DELETE CASCADE) */
    return store_sq_run(c,
                        "DELETE FROM registered_models WHERE model_key = ?",
                        SQ_ARGS(SQ_INT(a->model_key)), err, "deleting a registered model");
}

int store_sq_registered_model_delete(void *impl, const char *name, struct cap_error *err)
{
    struct reg_job a = {.name = name};
    return reg_write(impl, job_model_delete, &a, NULL, err);
}

static int job_model_set_tag(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_model(c, a, err);
    if (rc == 0)
        rc = put_model_tag(c, a->model_key, a->key, a->value, err);
    return rc < 0 ? rc : touch_model(c, a->model_key, cap_now_ms(), err);
}

int store_sq_registered_model_set_tag(void *impl, const char *name, const char *key,
                                      const char *value, struct cap_error *err)
{
    struct reg_job a = {.name = name, .key = key, .value = value};
    return reg_write(impl, job_model_set_tag, &a, NULL, err);
}

static int job_model_delete_tag(struct sq *s, struct sq_conn *c, void *arg,
                                struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_model(c, a, err);
    if (rc < 0)
        return rc;
    if ((rc = store_sq_run(c,
                           "DELETE FROM registered_model_tags WHERE model_key = ? AND key = ?",
                           SQ_ARGS(SQ_INT(a->model_key), SQ_TEXT(a->key)), err,
                           "deleting a registered model tag")) < 0)
        return rc;
    /* a tag that was not there: nothing changed, nothing to say */
    return sq_changes(c->db) ? touch_model(c, a->model_key, cap_now_ms(), err) : 0;
}

int store_sq_registered_model_delete_tag(void *impl, const char *name, const char *key,
                                         struct cap_error *err)
{
    struct reg_job a = {.name = name, .key = key};
    return reg_write(impl, job_model_delete_tag, &a, NULL, err);
}

static int job_latest(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_model(c, a, err);
    if (rc < 0)
        return rc;
    /* Each stage once, in the order asked (all four in stage order when
     * none are named). */
    const char *order[STORE_NSTAGES];
    size_t n = 0;
    for (size_t i = 0; i < (a->nstages ? a->nstages : STORE_NSTAGES); i++) {
        const char *stage = a->nstages ? store_stage_canonical(a->stages[i]) : store_stages[i];
        if (!stage)
            return cap_err(err, CAP_EINVAL,
                           "Invalid Model Version stage: %s. Value must be one of None, "
                           "Staging, Production, Archived.",
                           a->stages[i]);
        bool seen = false;
        for (size_t j = 0; j < n; j++)
            seen = seen || order[j] == stage;
        if (!seen)
            order[n++] = stage;
    }
    a->out = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *mv = NULL;
        if ((rc = latest_in_stage(c, a->model_key, order[i], &mv, err)) < 0)
            return rc;
        if (mv)
            cJSON_AddItemToArray(a->out, mv);
    }
    return 0;
}

int store_sq_registered_model_latest_versions(void *impl, const char *name,
                                              const char *const *stages, size_t nstages,
                                              cJSON **out, struct cap_error *err)
{
    struct reg_job a = {.name = name, .stages = stages, .nstages = nstages};
    return reg_read(impl, job_latest, &a, out, err);
}

/* ---------------- model versions ---------------- */

static int put_version_tag(struct sq_conn *c, int64_t mv_id, const char *k, const char *v,
                           struct cap_error *err)
{
    return store_sq_run(c,
                        "INSERT INTO model_version_tags(mv_id, key, value) "
                        "VALUES (?, ?, ?) ON CONFLICT(mv_id, key) "
                        "DO UPDATE SET value = excluded.value",
                        SQ_ARGS(SQ_INT(mv_id), SQ_TEXT(k), SQ_TEXT(v)), err,
                        "setting a model version tag");
}

static int job_version_create(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    const struct store_model_version_create *in = a->in;
    int64_t now = cap_now_ms();
    /* The next number and the model's timestamp in one statement. */
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "UPDATE registered_models SET last_version = "
        "last_version + 1, last_updated_time = ? WHERE name = ? "
        "RETURNING model_key, last_version",
        SQ_ARGS(SQ_INT(now), SQ_TEXT(in->name)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    int64_t num = 0;
    if (rc == SQ_ROW) {
        a->model_key = sq_col_int(st, 0);
        num = sq_col_int(st, 1);
        rc = sq_step(st);
    }
    if (rc == SQ_DONE && num > 0)
        rc = 0;
    else if (rc == SQ_DONE)
        rc = model_not_found(in->name, err);
    else
        rc = store_sq_dberr(c, err, "numbering a model version");
    sq_reset(st);
    if (rc < 0)
        return rc;
    if ((rc = store_sq_insert_id(
        c, "INSERT INTO model_versions(model_key, version, creation_time, "
        "last_updated_time, user_id, current_stage, description, source, run_id, "
        "run_link, model_id, status, status_message, metadata_json) VALUES "
        "(?, ?, ?, ?, ?, 'None', ?, ?, ?, ?, ?, ?, ?, ?) RETURNING mv_id",
        SQ_ARGS(SQ_INT(a->model_key), SQ_INT(num), SQ_INT(now), SQ_INT(now),
                SQ_TEXT(opt(in->user_id)), SQ_TEXT(opt(in->description)), SQ_TEXT(in->source),
                SQ_TEXT(opt(in->run_id)), SQ_TEXT(opt(in->run_link)), SQ_TEXT(opt(in->model_id)),
                SQ_TEXT(in->status ? in->status : "READY"), SQ_TEXT(opt(in->status_message)),
                SQ_TEXT(opt(in->metadata_json))), &a->mv_id, err,
        "creating a model version")) < 0)
        return rc;
    for (size_t i = 0; i < in->ntags; i++)
        if ((rc = put_version_tag(c, a->mv_id, in->tags[i].key, in->tags[i].value, err)) < 0)
            return rc;
    /* the logged model learns its versions in the same transaction (MLflow
     * does it in a second step, which can leave the version unmarked) */
    if (in->model_id && *in->model_id &&
        (rc = store_sq_logged_model_note_version(c, in->model_id, in->name, num, err)) < 0)
        return rc;
    return version_out(c, a, err);
}

int store_sq_model_version_create(void *impl, const struct store_model_version_create *in,
                                  cJSON **out, struct cap_error *err)
{
    struct reg_job a = {.in = in};
    return reg_write(impl, job_version_create, &a, out, err);
}

static int job_version_get(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_version(c, a, err);
    return rc < 0 ? rc : version_out(c, a, err);
}

int store_sq_model_version_get(void *impl, const char *name, const char *version, cJSON **out,
                               struct cap_error *err)
{
    struct reg_job a = {.name = name, .version = version};
    return reg_read(impl, job_version_get, &a, out, err);
}

static int job_version_update(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_version(c, a, err);
    if (rc < 0)
        return rc;
    if (a->description) {
        int64_t now = cap_now_ms();
        struct sq_stmt *st = store_sq_stmt_bind(c,
                                              "UPDATE model_versions SET description = ?, "
                                              "last_updated_time = ? WHERE mv_id = ?",
                                              SQ_ARGS(SQ_TEXT(a->description), SQ_INT(now),
                                                      SQ_INT(a->mv_id)), err);
        if (!st)
            return -CAP_EINTERNAL;
        /* the model's own timestamp stays, as in MLflow (its tests pin that) */
        if ((rc = store_sq_step_done(c, st, err, "updating a model version")) < 0)
            return rc;
    }
    return version_out(c, a, err);
}

int store_sq_model_version_update(void *impl, const char *name, const char *version,
                                  const char *description, cJSON **out, struct cap_error *err)
{
    struct reg_job a = {.name = name, .version = version, .description = description};
    return reg_write(impl, job_version_update, &a, out, err);
}

static int job_version_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_version(c, a, err);
    if (rc < 0)
        return rc;
    /* its tags and the aliases pointing at it go with it (ON DELETE CASCADE) */
    if ((rc = store_sq_run(c,
                           "DELETE FROM model_versions WHERE mv_id = ?",
                           SQ_ARGS(SQ_INT(a->mv_id)), err, "deleting a model version")) < 0)
        return rc;
    return touch_model(c, a->model_key, cap_now_ms(), err);
}

int store_sq_model_version_delete(void *impl, const char *name, const char *version,
                                  struct cap_error *err)
{
    struct reg_job a = {.name = name, .version = version};
    return reg_write(impl, job_version_delete, &a, NULL, err);
}

static int job_version_transition(struct sq *s, struct sq_conn *c, void *arg,
                                  struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_version(c, a, err);
    if (rc < 0)
        return rc;
    int64_t now = cap_now_ms();
    struct sq_stmt *st;
    if (a->archive && (strcmp(a->stage, "Staging") == 0 || strcmp(a->stage, "Production") == 0)) {
        if ((rc = store_sq_run(
            c, "UPDATE model_versions SET current_stage = 'Archived', "
            "last_updated_time = ? WHERE model_key = ? AND current_stage = ? AND "
            "mv_id != ?",
            SQ_ARGS(SQ_INT(now), SQ_INT(a->model_key), SQ_TEXT(a->stage), SQ_INT(a->mv_id)), err,
            "archiving model versions")) < 0)
            return rc;
    }
    st = store_sq_stmt_bind(c,
                            "UPDATE model_versions SET current_stage = ?, last_updated_time = ? "
                            "WHERE mv_id = ?",
                            SQ_ARGS(SQ_TEXT(a->stage), SQ_INT(now), SQ_INT(a->mv_id)), err);
    if (!st)
        return -CAP_EINTERNAL;
    if ((rc = store_sq_step_done(c, st, err, "changing a model version's stage")) < 0 ||
        (rc = touch_model(c, a->model_key, now, err)) < 0)
        return rc;
    return version_out(c, a, err);
}

int store_sq_model_version_transition(void *impl, const char *name, const char *version,
                                      const char *stage, bool archive_existing, cJSON **out,
                                      struct cap_error *err)
{
    struct reg_job a = {
        .name = name, .version = version, .stage = stage, .archive = archive_existing};
    return reg_write(impl, job_version_transition, &a, out, err);
}

static int job_version_set_tag(struct sq *s, struct sq_conn *c, void *arg,
                               struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_version(c, a, err);
    if (rc == 0)
        rc = put_version_tag(c, a->mv_id, a->key, a->value, err);
    return rc < 0 ? rc : touch_model(c, a->model_key, cap_now_ms(), err);
}

int store_sq_model_version_set_tag(void *impl, const char *name, const char *version,
                                   const char *key, const char *value, struct cap_error *err)
{
    struct reg_job a = {.name = name, .version = version, .key = key, .value = value};
    return reg_write(impl, job_version_set_tag, &a, NULL, err);
}

static int job_version_delete_tag(struct sq *s, struct sq_conn *c, void *arg,
                                  struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_version(c, a, err);
    if (rc < 0)
        return rc;
    if ((rc = store_sq_run(c,
                           "DELETE FROM model_version_tags WHERE mv_id = ? AND key = ?",
                           SQ_ARGS(SQ_INT(a->mv_id), SQ_TEXT(a->key)), err,
                           "deleting a model version tag")) < 0)
        return rc;
    return sq_changes(c->db) ? touch_model(c, a->model_key, cap_now_ms(), err) : 0;
}

int store_sq_model_version_delete_tag(void *impl, const char *name, const char *version,
                                      const char *key, struct cap_error *err)
{
    struct reg_job a = {.name = name, .version = version, .key = key};
    return reg_write(impl, job_version_delete_tag, &a, NULL, err);
}

static int job_metadata(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_version(c, a, err);
    if (rc < 0)
        return rc;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT metadata_json FROM model_versions WHERE mv_id = ?",
        SQ_ARGS(SQ_INT(a->mv_id)), err);
    if (!st)
        return -CAP_EINTERNAL;
    rc = sq_step(st);
    if (rc == SQ_ROW) {
        /* text that does not parse counts as none */
        const char *text = store_sq_col_text(st, 0);
        a->out = text ? cJSON_Parse(text) : NULL;
        rc = 0;
    } else {
        rc = store_sq_dberr(c, err, "reading a model version's metadata");
    }
    sq_reset(st);
    return rc;
}

int store_sq_model_version_metadata(void *impl, const char *name, const char *version,
                                    cJSON **out, struct cap_error *err)
{
    struct reg_job a = {.name = name, .version = version};
    return reg_read(impl, job_metadata, &a, out, err);
}

/* ---------------- aliases ---------------- */

static int alias_not_found(const char *alias, struct cap_error *err)
{
    return cap_err(err, CAP_ENOTFOUND, "Registered model alias %s not found.", alias);
}

static int job_alias_set(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_version(c, a, err);
    if (rc < 0)
        return rc;
    if ((rc = store_sq_run(c,
                           "INSERT INTO registered_model_aliases(model_key, alias, "
                           "version) VALUES (?, ?, ?) ON CONFLICT(model_key, alias) "
                           "DO UPDATE SET version = excluded.version",
                           SQ_ARGS(SQ_INT(a->model_key), SQ_TEXT(a->alias), SQ_INT(a->num)), err,
                           "setting a registered model alias")) < 0)
        return rc;
    return touch_model(c, a->model_key, cap_now_ms(), err);
}

int store_sq_alias_set(void *impl, const char *name, const char *alias, const char *version,
                       struct cap_error *err)
{
    struct reg_job a = {.name = name, .alias = alias, .version = version};
    return reg_write(impl, job_alias_set, &a, NULL, err);
}

static int job_alias_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_model(c, a, err);
    if (rc < 0)
        return rc;
    if ((rc = store_sq_run(
        c, "DELETE FROM registered_model_aliases WHERE model_key = ? AND alias = ?",
        SQ_ARGS(SQ_INT(a->model_key), SQ_TEXT(a->alias)), err,
        "deleting a registered model alias")) < 0)
        return rc;
    if (sq_changes(c->db) == 0)
        return alias_not_found(a->alias, err);
    return touch_model(c, a->model_key, cap_now_ms(), err);
}

int store_sq_alias_delete(void *impl, const char *name, const char *alias,
                          struct cap_error *err)
{
    struct reg_job a = {.name = name, .alias = alias};
    return reg_write(impl, job_alias_delete, &a, NULL, err);
}

static int job_alias_get(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct reg_job *a = arg;
    int rc = find_model(c, a, err);
    if (rc < 0)
        return rc;
    struct sq_stmt *st = store_sq_stmt_bind(c,
                                          "SELECT mv.mv_id FROM registered_model_aliases al "
                                          "JOIN model_versions mv ON mv.model_key = al.model_key "
                                          "AND mv.version = al.version "
                                          "WHERE al.model_key = ? AND al.alias = ?",
                                          SQ_ARGS(SQ_INT(a->model_key), SQ_TEXT(a->alias)), err);
    if (!st)
        return -CAP_EINTERNAL;
    rc = sq_step(st);
    if (rc == SQ_ROW) {
        a->mv_id = sq_col_int(st, 0);
        rc = 0;
    } else {
        rc = rc == SQ_DONE ? alias_not_found(a->alias, err)
                               : store_sq_dberr(c, err, "looking up a registered model alias");
    }
    sq_reset(st);
    return rc < 0 ? rc : version_out(c, a, err);
}

int store_sq_alias_get(void *impl, const char *name, const char *alias, cJSON **out,
                       struct cap_error *err)
{
    struct reg_job a = {.name = name, .alias = alias};
    return reg_read(impl, job_alias_get, &a, out, err);
}
