/* store_sqlite_baselines.c - the monitor's reference baselines in SQLite
 * (migration 6's monitor_baselines): one row per target, its meta kept as
 * the monitor's JSON text. A few rows, read when a monitor starts. */
#include <stdlib.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store_sqlite.h"

struct bl_job {
    const char *target, *path, *meta;
    char *old_path;
    cJSON *out;
};

static int not_found(const char *target, struct cap_error *err)
{
    return cap_err(err, CAP_ENOTFOUND, "No baseline for '%s'", target);
}

/* The target's folder into a->old_path; 0 when found, 1 when not. */
static int read_path(struct sq_conn *c, struct bl_job *a, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT artifact_path FROM monitor_baselines WHERE target = ?",
        SQ_ARGS(SQ_TEXT(a->target)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc == SQ_ROW) {
        free(a->old_path); /* (a job may run again after its group failed) */
        a->old_path = cap_xstrdup(store_sq_col_text(st, 0));
        rc = 0;
    } else {
        rc = rc == SQ_DONE ? 1 : store_sq_dberr(c, err, "reading a baseline");
    }
    sq_reset(st);
    return rc;
}

static int job_put(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct bl_job *a = arg;
    int rc = read_path(c, a, err);
    if (rc < 0)
        return rc;
    return store_sq_run(c,
                        "INSERT INTO monitor_baselines(target, artifact_path, meta, created_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT(target) DO UPDATE SET "
                        "artifact_path = excluded.artifact_path, meta = excluded.meta, "
                        "created_at = excluded.created_at",
                        SQ_ARGS(SQ_TEXT(a->target), SQ_TEXT(a->path), SQ_TEXT(a->meta),
                                SQ_INT(cap_now_ms())),
                        err, "writing a baseline");
}

int store_sq_baseline_put(void *impl, const char *target, const char *artifact_path,
                          const char *meta_json, char **replaced, struct cap_error *err)
{
    struct bl_job a = {.target = target, .path = artifact_path, .meta = meta_json};
    int rc = store_sq_write(impl, job_put, &a, err);
    if (rc < 0 || !replaced)
        free(a.old_path);
    else
        *replaced = a.old_path;
    return rc < 0 ? rc : 0;
}

static cJSON *meta_json(struct sq_stmt *st, int col)
{
    const char *text = store_sq_col_text(st, col);
    cJSON *m = text ? cJSON_Parse(text) : NULL;
    return m ? m : cJSON_CreateObject();
}

/* Runs fn in one read transaction on a pooled connection. */
static int bl_read(struct sq *s, sq_job_fn fn,
                   struct bl_job *a, struct cap_error *err)
{
    int rc = store_sq_read(s, fn, a, err);
    if (rc < 0) {
        cJSON_Delete(a->out);
        a->out = NULL;
    }
    return rc;
}

static int read_one(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct bl_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(c, "SELECT meta FROM monitor_baselines WHERE target = ?",
                                          SQ_ARGS(SQ_TEXT(a->target)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc == SQ_ROW) {
        a->out = meta_json(st, 0);
        rc = 0;
    } else {
        rc = rc == SQ_DONE ? not_found(a->target, err)
                               : store_sq_dberr(c, err, "reading a baseline");
    }
    sq_reset(st);
    return rc;
}

int store_sq_baseline_get(void *impl, const char *target, cJSON **meta, struct cap_error *err)
{
    struct bl_job a = {.target = target};
    int rc = bl_read(impl, read_one, &a, err);
    *meta = a.out;
    return rc;
}

static int read_all(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct bl_job *a = arg;
    struct sq_stmt *st =
        store_sq_stmt(c, "SELECT meta FROM monitor_baselines ORDER BY target", err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int rc;
    while ((rc = sq_step(st)) == SQ_ROW)
        cJSON_AddItemToArray(a->out, meta_json(st, 0));
    sq_reset(st);
    return rc == SQ_DONE ? 0 : store_sq_dberr(c, err, "listing baselines");
}

int store_sq_baseline_list(void *impl, cJSON **out, struct cap_error *err)
{
    struct bl_job a = {0};
    int rc = bl_read(impl, read_all, &a, err);
    *out = a.out;
    return rc;
}

static int job_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct bl_job *a = arg;
    int rc = read_path(c, a, err);
    if (rc != 0)
        return rc < 0 ? rc : not_found(a->target, err);
    return store_sq_run(c, "DELETE FROM monitor_baselines WHERE target = ?",
                        SQ_ARGS(SQ_TEXT(a->target)), err, "deleting a baseline");
}

int store_sq_baseline_delete(void *impl, const char *target, char **artifact_path,
                             struct cap_error *err)
{
    struct bl_job a = {.target = target};
    int rc = store_sq_write(impl, job_delete, &a, err);
    if (rc < 0 || !artifact_path)
        free(a.old_path);
    else
        *artifact_path = a.old_path;
    return rc < 0 ? rc : 0;
}
