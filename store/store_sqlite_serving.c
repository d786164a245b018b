/* store_sqlite_serving.c - deployments in SQLite: a handful of rows read by
 * the serving watcher a few times a second. The prediction log is
 * store_sqlite_predictions.c. */
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
};

static cJSON *deployment_json(struct sq_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", store_sq_col_text(st, 0));
    const char *spec = store_sq_col_text(st, 1);
    cJSON *sp = spec ? cJSON_Parse(spec) : NULL;
    cJSON_AddItemToObject(o, "spec", sp ? sp : cJSON_CreateObject());
    cJSON_AddNumberToObject(o, "created_at", (double)sq_col_int(st, 2));
    cJSON_AddNumberToObject(o, "updated_at", (double)sq_col_int(st, 3));
    return o;
}

static int not_found(const char *name, struct cap_error *err)
{
    return cap_err(err, CAP_ENOTFOUND, "Deployment '%s' not found", name);
}

static int read_one(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct dep_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT name, spec, created_at, updated_at FROM deployments WHERE name = ?",
        SQ_ARGS(SQ_TEXT(a->name)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc == SQ_ROW) {
        a->out = deployment_json(st);
        rc = 0;
    } else {
        rc = rc == SQ_DONE ? not_found(a->name, err)
                               : store_sq_dberr(c, err, "reading a deployment");
    }
    sq_reset(st);
    return rc;
}

static int job_put(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct dep_job *a = arg;
    int64_t now = cap_now_ms();
    struct sq_stmt *st;
    if (a->create) {
        st = store_sq_stmt_bind(c,
                                "INSERT INTO deployments(name, spec, created_at, updated_at) "
                                "VALUES (?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
                                SQ_ARGS(SQ_TEXT(a->name), SQ_TEXT(a->spec), SQ_INT(now),
                                        SQ_INT(now)), err);
        if (!st)
            return -CAP_EINTERNAL;
    } else {
        st = store_sq_stmt_bind(c,
                                "UPDATE deployments SET spec = ?, updated_at = ? WHERE name = ?",
                                SQ_ARGS(SQ_TEXT(a->spec), SQ_INT(now), SQ_TEXT(a->name)), err);
        if (!st)
            return -CAP_EINTERNAL;
    }
    int rc = store_sq_step_done(c, st, err, "writing a deployment");
    if (rc < 0)
        return rc;
    if (sq_changes(c->db) == 0)
        return a->create ? cap_err(err, CAP_EEXISTS, "Deployment '%s' already exists", a->name)
                         : not_found(a->name, err);
    return a->want ? read_one(NULL, c, a, err) : 0;
}

static int deployment_put(void *impl, const char *name, const char *spec_json, bool create,
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

int store_sq_deployment_create(void *impl, const char *name, const char *spec_json, cJSON **out,
                               struct cap_error *err)
{
    return deployment_put(impl, name, spec_json, true, out, err);
}

int store_sq_deployment_update(void *impl, const char *name, const char *spec_json, cJSON **out,
                               struct cap_error *err)
{
    return deployment_put(impl, name, spec_json, false, out, err);
}

/* Runs fn in one read transaction on a pooled connection. */
static int sv_read(struct sq *s, sq_job_fn fn,
                   struct dep_job *a, struct cap_error *err)
{
    int rc = store_sq_read(s, fn, a, err);
    return rc;
}

int store_sq_deployment_get(void *impl, const char *name, cJSON **out, struct cap_error *err)
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

static int read_all(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct dep_job *a = arg;
    struct sq_stmt *st = store_sq_stmt(
        c, "SELECT name, spec, created_at, updated_at FROM deployments ORDER BY name", err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int rc;
    while ((rc = sq_step(st)) == SQ_ROW)
        cJSON_AddItemToArray(a->out, deployment_json(st));
    sq_reset(st);
    return rc == SQ_DONE ? 0 : store_sq_dberr(c, err, "listing deployments");
}

int store_sq_deployment_list(void *impl, cJSON **out, struct cap_error *err)
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
    struct sq_stmt *st = store_sq_stmt_bind(c,
                                          "DELETE FROM deployments WHERE name = ?",
                                          SQ_ARGS(SQ_TEXT(a->name)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = store_sq_step_done(c, st, err, "deleting a deployment");
    if (rc < 0)
        return rc;
    return sq_changes(c->db) == 0 ? not_found(a->name, err) : 0;
}

int store_sq_deployment_delete(void *impl, const char *name, struct cap_error *err)
{
    struct dep_job a = {.name = name};
    return store_sq_write(impl, job_delete, &a, err);
}
