/* store_sqlite_exp.c - experiments in the SQL store: create, read,
 * rename, delete/restore (which carries the experiment's runs along) and
 * experiment tags, with MLflow's rules and error wording. Searching lives in
 * store_sqlite_search.c. Writes are jobs for the writer thread; each job
 * checks the stored state it depends on inside the same transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/util.h"
#include "store/store_sqlite.h"

struct exp_lookup {
    int64_t id;
    bool active;
    int64_t deleted_time;   /* when the experiment was deleted, or -1 */
    char *location;         /* artifact_location, only when asked for */
};

static int not_found(const char *id, struct cap_error *err)
{
    return cap_err(err, CAP_ENOTFOUND, "No Experiment with id=%s exists", id);
}

/* Finds experiment id: -CAP_ENOTFOUND when it is not there. */
static int exp_find(struct sq_conn *c, const char *id, bool want_location, struct exp_lookup *out,
                    struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    out->deleted_time = -1;
    if (!store_sq_parse_id(id, &out->id))
        return not_found(id, err);
    struct sq_stmt *st = store_sq_stmt_bind(c,
                                          "SELECT lifecycle_stage, deleted_time, "
                                          "artifact_location "
                                          "FROM experiments WHERE experiment_id = ?",
                                          SQ_ARGS(SQ_INT(out->id)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc == SQ_ROW) {
        out->active = strcmp(store_sq_col_text(st, 0), "active") == 0;
        if (!sq_col_null(st, 1))
            out->deleted_time = sq_col_int(st, 1);
        if (want_location)
            out->location = cap_xstrdup(store_sq_col_text(st, 2));
        rc = 0;
    } else if (rc == SQ_DONE) {
        rc = not_found(id, err);
    } else {
        rc = store_sq_dberr(c, err, "looking up an experiment");
    }
    sq_reset(st);
    return rc;
}

int store_sq_experiment_active(struct sq_conn *c, const char *id, int64_t *eid, char **location,
                               struct cap_error *err)
{
    struct exp_lookup e;
    int rc = exp_find(c, id, location != NULL, &e, err);
    if (rc < 0)
        return rc;
    if (!e.active) {
        free(e.location);
        return cap_err(err, CAP_EINVAL,
                       "The experiment %s must be in the 'active' state. Current state is "
                       "deleted.",
                       id);
    }
    *eid = e.id;
    if (location)
        *location = e.location;
    return 0;
}

int store_sq_experiment_json(struct sq_conn *c, struct sq_stmt *row, cJSON **out,
                             struct cap_error *err)
{
    cJSON *e = cJSON_CreateObject();
    int64_t id = sq_col_int(row, 0);
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
    cJSON_AddStringToObject(e, "experiment_id", idbuf);
    cJSON_AddStringToObject(e, "name", store_sq_col_text(row, 1));
    cJSON_AddStringToObject(e, "artifact_location", store_sq_col_text(row, 2));
    cJSON_AddStringToObject(e, "lifecycle_stage", store_sq_col_text(row, 3));
    cap_json_add_i64(e, "creation_time", sq_col_int(row, 4));
    cap_json_add_i64(e, "last_update_time", sq_col_int(row, 5));
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY key",
        SQ_ARGS(SQ_INT(id)), err);
    int rc = st ? store_sq_kv_array(c, st, e, "tags", err) : -CAP_EINTERNAL;
    if (rc < 0) {
        cJSON_Delete(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* Reads one experiment on a read connection; by id or by name. */
static int exp_read(struct sq *s, const char *sql, const char *id, const char *name, cJSON **out,
                    struct cap_error *err)
{
    int64_t eid = 0;
    if (id && !store_sq_parse_id(id, &eid))
        return not_found(id, err);
    struct sq_conn *c = store_sq_reader(s);
    int rc = store_sq_read_begin(c, err);
    if (rc < 0)
        goto done;
    struct sq_bind key = id ? (struct sq_bind)SQ_INT(eid) : (struct sq_bind)SQ_TEXT(name);
    struct sq_stmt *st = store_sq_stmt_bind(c, sql, &key, 1, err);
    if (!st) {
        rc = -CAP_EINTERNAL;
        goto end;
    }
    rc = sq_step(st);
    if (rc == SQ_ROW)
        rc = store_sq_experiment_json(c, st, out, err);
    else if (rc == SQ_DONE)
        rc = id ? not_found(id, err)
                : cap_err(err, CAP_ENOTFOUND, "Could not find experiment with name '%s'", name);
    else
        rc = store_sq_dberr(c, err, "reading an experiment");
    sq_reset(st);
end:
    store_sq_read_end(c);
done:
    store_sq_reader_done(s, c);
    return rc;
}

int store_sq_experiment_get(void *impl, const char *id, cJSON **out, struct cap_error *err)
{
    return exp_read(impl, "SELECT " SQ_EXP_COLUMNS " FROM experiments WHERE experiment_id = ?",
                    id, NULL, out, err);
}

int store_sq_experiment_get_by_name(void *impl, const char *name, cJSON **out,
                                    struct cap_error *err)
{
    return exp_read(impl, "SELECT " SQ_EXP_COLUMNS " FROM experiments WHERE name = ?", NULL,
                    name, out, err);
}

/* ---- writes ---- */

struct exp_job {
    const char *id;
    const char *name;
    const char *location;
    const char *key;
    const char *value;
    const struct cap_kv *tags;
    size_t ntags;
    int64_t new_id;
};

static int set_tag(struct sq_conn *c, int64_t eid, const char *key, const char *value,
                   struct cap_error *err)
{
    return store_sq_run(c,
                        "INSERT INTO experiment_tags(experiment_id, key, value) "
                        "VALUES (?, ?, ?) ON CONFLICT(experiment_id, key) "
                        "DO UPDATE SET value = excluded.value",
                        SQ_ARGS(SQ_INT(eid), SQ_TEXT(key), SQ_TEXT(value)), err,
                        "setting an experiment tag");
}

static int touch(struct sq_conn *c, int64_t eid, struct cap_error *err)
{
    return store_sq_run(c,
                        "UPDATE experiments SET last_update_time = ? WHERE experiment_id = ?",
                        SQ_ARGS(SQ_INT(cap_now_ms()), SQ_INT(eid)), err, "updating an experiment");
}

/* The id of the experiment called name, 0 (and *found false) if none. */
static int id_by_name(struct sq_conn *c, const char *name, bool *found, int64_t *id,
                      struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(c,
                                          "SELECT experiment_id FROM experiments WHERE name = ?",
                                          SQ_ARGS(SQ_TEXT(name)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    *found = rc == SQ_ROW;
    *id = *found ? sq_col_int(st, 0) : 0;
    sq_reset(st);
    if (rc != SQ_ROW && rc != SQ_DONE)
        return store_sq_dberr(c, err, "looking up an experiment name");
    return 0;
}

static int job_create(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct exp_job *a = arg;
    bool found = false;
    int64_t other = 0;
    int rc = id_by_name(c, a->name, &found, &other, err);
    if (rc < 0)
        return rc;
    if (found) /* deleted experiments keep their names, as in MLflow */
        return cap_err(err, CAP_EEXISTS, "Experiment '%s' already exists.", a->name);
    int64_t now = cap_now_ms();
    if ((rc = store_sq_insert_id(c,
                           "INSERT INTO experiments(name, artifact_location, "
                           "lifecycle_stage, creation_time, last_update_time) "
                           "VALUES (?, ?, 'active', ?, ?) RETURNING experiment_id",
                           SQ_ARGS(SQ_TEXT(a->name), SQ_TEXT(a->location ? a->location : ""),
                                   SQ_INT(now), SQ_INT(now)), &a->new_id, err,
                           "creating an experiment")) < 0)
        return rc;
    if (!a->location) {
        /* The default location needs the id, which exists only now. */
        if ((rc = store_sq_run(c,
                               "UPDATE experiments SET artifact_location = ? || '/' || "
                               "experiment_id "
                               "WHERE experiment_id = ?",
                               SQ_ARGS(SQ_TEXT(s->artifact_prefix), SQ_INT(a->new_id)), err,
                               "creating an experiment")) < 0)
            return rc;
    }
    for (size_t i = 0; i < a->ntags; i++)
        if ((rc = set_tag(c, a->new_id, a->tags[i].key, a->tags[i].value, err)) < 0)
            return rc;
    return 0;
}

int store_sq_experiment_create(void *impl, const char *name, const char *artifact_location,
                               const struct cap_kv *tags, size_t ntags, char **out_id,
                               struct cap_error *err)
{
    struct exp_job a = {.name = name,
                        .location = artifact_location && *artifact_location ? artifact_location
                                                                            : NULL,
                        .tags = tags,
                        .ntags = ntags};
    int rc = store_sq_write(impl, job_create, &a, err);
    if (rc < 0)
        return rc;
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)a.new_id);
    *out_id = cap_xstrdup(buf);
    return 0;
}

static int job_rename(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct exp_job *a = arg;
    struct exp_lookup e;
    int rc = exp_find(c, a->id, false, &e, err);
    if (rc < 0)
        return rc;
    if (!e.active)
        return cap_err(err, CAP_EINVAL, "Cannot rename a non-active experiment.");
    bool found = false;
    int64_t other = 0;
    if ((rc = id_by_name(c, a->name, &found, &other, err)) < 0)
        return rc;
    if (found && other == e.id)
        return 0;
    if (found)
        return cap_err(err, CAP_EEXISTS, "Experiment '%s' already exists.", a->name);
    return store_sq_run(c,
                        "UPDATE experiments SET name = ?, last_update_time = ? WHERE "
                        "experiment_id = ?",
                        SQ_ARGS(SQ_TEXT(a->name), SQ_INT(cap_now_ms()), SQ_INT(e.id)), err,
                        "renaming an experiment");
}

int store_sq_experiment_rename(void *impl, const char *id, const char *new_name,
                               struct cap_error *err)
{
    struct exp_job a = {.id = id, .name = new_name};
    return store_sq_write(impl, job_rename, &a, err);
}

/* Deleting stamps the experiment and each of its active runs with the same
 * deleted_time, so that restoring brings back exactly those runs and not
 * the ones deleted on their own before. Both are idempotent: a client
 * retrying the request gets success again. */
static int job_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct exp_job *a = arg;
    struct exp_lookup e;
    int rc = exp_find(c, a->id, false, &e, err);
    if (rc < 0)
        return rc;
    if (e.id == 0)
        return cap_err(err, CAP_EINVAL,
                       "Cannot delete the default experiment '0'. This is an internally "
                       "reserved experiment.");
    if (!e.active)
        return 0;
    int64_t now = cap_now_ms();
    if ((rc = store_sq_run(c,
                           "UPDATE experiments SET lifecycle_stage = 'deleted', "
                           "deleted_time = ?, last_update_time = ? "
                           "WHERE experiment_id = ?",
                           SQ_ARGS(SQ_INT(now), SQ_INT(now), SQ_INT(e.id)), err,
                           "deleting an experiment")) < 0)
        return rc;
    return store_sq_run(c,
                        "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? "
                        "WHERE experiment_id = ? AND lifecycle_stage = 'active'",
                        SQ_ARGS(SQ_INT(now), SQ_INT(e.id)), err, "deleting an experiment's runs");
}

int store_sq_experiment_delete(void *impl, const char *id, struct cap_error *err)
{
    struct exp_job a = {.id = id};
    return store_sq_write(impl, job_delete, &a, err);
}

static int job_restore(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct exp_job *a = arg;
    struct exp_lookup e;
    int rc = exp_find(c, a->id, false, &e, err);
    if (rc < 0 || e.active)
        return rc;
    if ((rc = store_sq_run(c,
                           "UPDATE runs SET lifecycle_stage = 'active', "
                           "deleted_time = NULL WHERE experiment_id = ? AND "
                           "lifecycle_stage = 'deleted' AND deleted_time = ?",
                           SQ_ARGS(SQ_INT(e.id), SQ_INT(e.deleted_time)), err,
                           "restoring an experiment's runs")) < 0)
        return rc;
    return store_sq_run(c,
                        "UPDATE experiments SET lifecycle_stage = 'active', deleted_time = NULL, "
                        "last_update_time = ? WHERE experiment_id = ?",
                        SQ_ARGS(SQ_INT(cap_now_ms()), SQ_INT(e.id)), err,
                        "restoring an experiment");
}

int store_sq_experiment_restore(void *impl, const char *id, struct cap_error *err)
{
    struct exp_job a = {.id = id};
    return store_sq_write(impl, job_restore, &a, err);
}

static int job_set_tag(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct exp_job *a = arg;
    int64_t eid = 0;
    int rc = store_sq_experiment_active(c, a->id, &eid, NULL, err);
    if (rc < 0 || (rc = set_tag(c, eid, a->key, a->value, err)) < 0)
        return rc;
    return touch(c, eid, err);
}

int store_sq_experiment_set_tag(void *impl, const char *id, const char *key, const char *value,
                                struct cap_error *err)
{
    struct exp_job a = {.id = id, .key = key, .value = value};
    return store_sq_write(impl, job_set_tag, &a, err);
}

static int job_delete_tag(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct exp_job *a = arg;
    int64_t eid = 0;
    int rc = store_sq_experiment_active(c, a->id, &eid, NULL, err);
    if (rc < 0)
        return rc;
    if ((rc = store_sq_run(c,
                           "DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?",
                           SQ_ARGS(SQ_INT(eid), SQ_TEXT(a->key)), err,
                           "deleting an experiment tag")) < 0)
        return rc;
    if (sq_changes(c->db) == 0)
        return cap_err(err, CAP_ENOTFOUND, "No tag with name: %s in experiment with id %s",
                       a->key, a->id);
    return touch(c, eid, err);
}

int store_sq_experiment_delete_tag(void *impl, const char *id, const char *key,
                                   struct cap_error *err)
{
    struct exp_job a = {.id = id, .key = key};
    return store_sq_write(impl, job_delete_tag, &a, err);
}
