/* store_sqlite_auth.c - users and their permissions (migration 11:
 * auth_users, auth_permissions) for auth/. Only hash strings reach this
 * file: auth/ hashes a password before it calls the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "store/store_sqlite.h"

struct au_job {
    const char *username, *hash, *kind, *resource, *permission;
    int is_admin, mode;
    int64_t count;
    char *perm;
    cJSON *out;
};

/* The user's id, or 0 (err set: RESOURCE_DOES_NOT_EXIST) when absent. */
static int64_t user_id(struct sq_conn *c, const char *username, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(c, "SELECT id FROM auth_users WHERE username = ?1",
                                          SQ_ARGS(SQ_TEXT(username)), err);
    if (!st)
        return 0;
    int64_t id = 0;
    int step = sq_step(st);
    if (step == SQ_ROW)
        id = sq_col_int(st, 0);
    else if (step == SQ_DONE)
        cap_err(err, CAP_ENOTFOUND, "User with username=%.200s not found", username);
    else
        store_sq_dberr(c, err, "reading a user");
    sq_reset(st);
    return id;
}

static int job_user_create(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct au_job *a = arg;
    struct cap_error probe = {0};
    if (user_id(c, a->username, &probe) > 0)
        return cap_err(err, CAP_EEXISTS, "User '%.200s' already exists", a->username);
    if (probe.code != CAP_ENOTFOUND)
        return cap_err(err, probe.code, "%s", probe.msg);
    return store_sq_run(c, "INSERT INTO auth_users(username, password_hash, is_admin) "
                           "VALUES (?1, ?2, ?3)",
                        SQ_ARGS(SQ_TEXT(a->username), SQ_TEXT(a->hash), SQ_INT(a->is_admin)),
                        err, "creating a user");
}

int store_sq_auth_user_create(void *impl, const char *username, const char *password_hash,
                              bool is_admin, struct cap_error *err)
{
    struct au_job a = {.username = username, .hash = password_hash, .is_admin = is_admin};
    return store_sq_write(impl, job_user_create, &a, err);
}

static int job_user_get(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct au_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT id, username, password_hash, is_admin FROM auth_users WHERE username = ?1",
        SQ_ARGS(SQ_TEXT(a->username)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0, step = sq_step(st);
    if (step == SQ_ROW) {
        a->out = cJSON_CreateObject();
        cJSON_AddNumberToObject(a->out, "id", (double)sq_col_int(st, 0));
        cJSON_AddStringToObject(a->out, "username", store_sq_col_text(st, 1));
        cJSON_AddStringToObject(a->out, "password_hash", store_sq_col_text(st, 2));
        cJSON_AddBoolToObject(a->out, "is_admin", sq_col_int(st, 3) != 0);
    } else if (step == SQ_DONE) {
        rc = cap_err(err, CAP_ENOTFOUND, "User with username=%.200s not found", a->username);
    } else {
        rc = store_sq_dberr(c, err, "reading a user");
    }
    sq_reset(st);
    return rc;
}

int store_sq_auth_user_get(void *impl, const char *username, cJSON **out, struct cap_error *err)
{
    struct au_job a = {.username = username};
    int rc = store_sq_read(impl, job_user_get, &a, err);
    if (rc == 0)
        *out = a.out;
    return rc;
}

static int job_user_update(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct au_job *a = arg;
    int64_t id = user_id(c, a->username, err);
    if (!id)
        return -err->code;
    return store_sq_run(c, "UPDATE auth_users SET password_hash = COALESCE(?1, password_hash), "
                           "is_admin = CASE WHEN ?2 < 0 THEN is_admin ELSE ?2 END WHERE id = ?3",
                        SQ_ARGS(SQ_TEXT(a->hash), SQ_INT(a->is_admin), SQ_INT(id)), err,
                        "updating a user");
}

int store_sq_auth_user_update(void *impl, const char *username, const char *password_hash,
                              int is_admin, struct cap_error *err)
{
    struct au_job a = {.username = username, .hash = password_hash, .is_admin = is_admin};
    return store_sq_write(impl, job_user_update, &a, err);
}

static int job_user_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct au_job *a = arg;
    int64_t id = user_id(c, a->username, err);
    if (!id)
        return -err->code;
    int rc = store_sq_run(c, "DELETE FROM auth_permissions WHERE user_id = ?1",
                          SQ_ARGS(SQ_INT(id)), err, "deleting a user's permissions");
    if (rc == 0)
        rc = store_sq_run(c, "DELETE FROM auth_tokens WHERE user_id = ?1", SQ_ARGS(SQ_INT(id)),
                          err, "deleting a user's tokens");
    if (rc < 0)
        return rc;
    return store_sq_run(c, "DELETE FROM auth_users WHERE id = ?1", SQ_ARGS(SQ_INT(id)), err,
                        "deleting a user");
}

int store_sq_auth_user_delete(void *impl, const char *username, struct cap_error *err)
{
    struct au_job a = {.username = username};
    return store_sq_write(impl, job_user_delete, &a, err);
}

static int job_user_count(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct au_job *a = arg;
    struct sq_stmt *st = store_sq_stmt(c, "SELECT COUNT(*) FROM auth_users", err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0;
    if (sq_step(st) == SQ_ROW)
        a->count = sq_col_int(st, 0);
    else
        rc = store_sq_dberr(c, err, "counting users");
    sq_reset(st);
    return rc;
}

int store_sq_auth_user_count(void *impl, int64_t *out, struct cap_error *err)
{
    struct au_job a = {0};
    int rc = store_sq_read(impl, job_user_count, &a, err);
    *out = a.count;
    return rc;
}

/* The permission row of (kind, resource, user id): 1 with a->perm set, 0
 * when there is none, < 0 on error. */
static int perm_row(struct sq_conn *c, struct au_job *a, int64_t id, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT permission FROM auth_permissions WHERE kind = ?1 AND resource = ?2 "
        "AND user_id = ?3",
        SQ_ARGS(SQ_TEXT(a->kind), SQ_TEXT(a->resource), SQ_INT(id)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0, step = sq_step(st);
    if (step == SQ_ROW) {
        a->perm = cap_xstrdup(store_sq_col_text(st, 0));
        rc = 1;
    } else if (step != SQ_DONE) {
        rc = store_sq_dberr(c, err, "reading a permission");
    }
    sq_reset(st);
    return rc;
}

static int no_perm(struct au_job *a, struct cap_error *err)
{
    return cap_err(err, CAP_ENOTFOUND,
                   "%s permission with %s=%.200s and username=%.200s not found",
                   strcmp(a->kind, "experiment") == 0 ? "Experiment" : "Registered model",
                   strcmp(a->kind, "experiment") == 0 ? "experiment_id" : "name", a->resource,
                   a->username);
}

static int job_perm_set(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct au_job *a = arg;
    int64_t id = user_id(c, a->username, err);
    if (!id)
        return -err->code;
    int have = perm_row(c, a, id, err);
    free(a->perm);
    a->perm = NULL;
    if (have < 0)
        return have;
    if (have && a->mode == STORE_AUTH_CREATE)
        return cap_err(err, CAP_EEXISTS,
                       "%s permission (resource=%.200s, username=%.200s) already exists",
                       strcmp(a->kind, "experiment") == 0 ? "Experiment" : "Registered model",
                       a->resource, a->username);
    if (!have && a->mode == STORE_AUTH_UPDATE)
        return no_perm(a, err);
    return store_sq_run(c, "INSERT INTO auth_permissions(kind, resource, user_id, permission) "
                           "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (kind, resource, user_id) "
                           "DO UPDATE SET permission = excluded.permission",
                        SQ_ARGS(SQ_TEXT(a->kind), SQ_TEXT(a->resource), SQ_INT(id),
                                SQ_TEXT(a->permission)),
                        err, "storing a permission");
}

int store_sq_auth_perm_set(void *impl, const char *kind, const char *resource,
                           const char *username, const char *permission, int mode,
                           struct cap_error *err)
{
    struct au_job a = {.kind = kind, .resource = resource, .username = username,
                       .permission = permission, .mode = mode};
    return store_sq_write(impl, job_perm_set, &a, err);
}

static int job_perm_get(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct au_job *a = arg;
    int64_t id = user_id(c, a->username, err);
    if (!id)
        return -err->code;
    int have = perm_row(c, a, id, err);
    if (have < 0)
        return have;
    return have ? 0 : no_perm(a, err);
}

int store_sq_auth_perm_get(void *impl, const char *kind, const char *resource,
                           const char *username, char **out, struct cap_error *err)
{
    struct au_job a = {.kind = kind, .resource = resource, .username = username};
    int rc = store_sq_read(impl, job_perm_get, &a, err);
    if (rc == 0)
        *out = a.perm;
    else
        free(a.perm);
    return rc;
}

static int job_perm_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct au_job *a = arg;
    int64_t id = user_id(c, a->username, err);
    if (!id)
        return -err->code;
    int have = perm_row(c, a, id, err);
    free(a->perm);
    a->perm = NULL;
    if (have <= 0)
        return have < 0 ? have : no_perm(a, err);
    return store_sq_run(c, "DELETE FROM auth_permissions WHERE kind = ?1 AND resource = ?2 "
                           "AND user_id = ?3",
                        SQ_ARGS(SQ_TEXT(a->kind), SQ_TEXT(a->resource), SQ_INT(id)), err,
                        "deleting a permission");
}

int store_sq_auth_perm_delete(void *impl, const char *kind, const char *resource,
                              const char *username, struct cap_error *err)
{
    struct au_job a = {.kind = kind, .resource = resource, .username = username};
    return store_sq_write(impl, job_perm_delete, &a, err);
}

static int job_perm_list(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct au_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT p.resource, p.permission FROM auth_permissions p JOIN auth_users u "
        "ON u.id = p.user_id WHERE u.username = ?1 AND p.kind = ?2",
        SQ_ARGS(SQ_TEXT(a->username), SQ_TEXT(a->kind)), err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateObject();
    int step;
    while ((step = sq_step(st)) == SQ_ROW)
        cJSON_AddStringToObject(a->out, store_sq_col_text(st, 0), store_sq_col_text(st, 1));
    int rc = step == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading permissions");
    sq_reset(st);
    return rc;
}

int store_sq_auth_perm_list(void *impl, const char *kind, const char *username, cJSON **out,
                            struct cap_error *err)
{
    struct au_job a = {.kind = kind, .username = username};
    int rc = store_sq_read(impl, job_perm_list, &a, err);
    if (rc == 0)
        *out = a.out;
    else
        cJSON_Delete(a.out);
    return rc;
}

static int job_perm_move(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct au_job *a = arg;
    if (!a->permission) /* (the new resource) */
        return store_sq_run(c, "DELETE FROM auth_permissions WHERE kind = ?1 AND resource = ?2",
                            SQ_ARGS(SQ_TEXT(a->kind), SQ_TEXT(a->resource)), err,
                            "deleting a resource's permissions");
    /* rows already there for the new name (left by an old model of that
     * name) give way to the moved ones */
    int rc = store_sq_run(c, "DELETE FROM auth_permissions WHERE kind = ?1 AND resource = ?2",
                          SQ_ARGS(SQ_TEXT(a->kind), SQ_TEXT(a->permission)), err,
                          "moving a resource's permissions");
    if (rc < 0)
        return rc;
    return store_sq_run(c, "UPDATE auth_permissions SET resource = ?3 WHERE kind = ?1 AND "
                           "resource = ?2",
                        SQ_ARGS(SQ_TEXT(a->kind), SQ_TEXT(a->resource), SQ_TEXT(a->permission)),
                        err, "moving a resource's permissions");
}

int store_sq_auth_perm_move(void *impl, const char *kind, const char *resource,
                            const char *new_resource, struct cap_error *err)
{
    struct au_job a = {.kind = kind, .resource = resource, .permission = new_resource};
    return store_sq_write(impl, job_perm_move, &a, err);
}

/* ---- access tokens (migration 12) ---- */

struct tok_job {
    const char *username, *name, *hash, *scope;
    int64_t created_at, expires_at, id;
    cJSON *out;
};

static int job_token_create(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct tok_job *a = arg;
    int64_t uid = user_id(c, a->username, err);
    if (!uid)
        return -err->code;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "INSERT INTO auth_tokens(user_id, name, token_hash, created_at, expires_at, scope) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        SQ_ARGS(SQ_INT(uid), SQ_TEXT(a->name), SQ_TEXT(a->hash), SQ_INT(a->created_at),
                SQ_INT(a->expires_at), SQ_TEXT(a->scope)),
        err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0;
    if (sq_step(st) != SQ_ROW)
        rc = store_sq_dberr(c, err, "storing a token");
    else
        a->id = sq_col_int(st, 0);
    sq_step(st);
    sq_reset(st);
    return rc;
}

int store_sq_auth_token_create(void *impl, const char *username, const char *name,
                               const char *token_hash, const char *scope, int64_t created_at,
                               int64_t expires_at, int64_t *id, struct cap_error *err)
{
    struct tok_job a = {.username = username, .name = name, .hash = token_hash, .scope = scope,
                        .created_at = created_at, .expires_at = expires_at};
    int rc = store_sq_write(impl, job_token_create, &a, err);
    *id = a.id;
    return rc;
}

static int job_token_find(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct tok_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT u.id, u.username, u.is_admin, t.expires_at, t.scope FROM auth_tokens t "
        "JOIN auth_users u "
        "ON u.id = t.user_id WHERE t.token_hash = ?1",
        SQ_ARGS(SQ_TEXT(a->hash)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0, step = sq_step(st);
    if (step == SQ_ROW) {
        a->out = cJSON_CreateObject();
        cJSON_AddNumberToObject(a->out, "id", (double)sq_col_int(st, 0));
        cJSON_AddStringToObject(a->out, "username", store_sq_col_text(st, 1));
        cJSON_AddBoolToObject(a->out, "is_admin", sq_col_int(st, 2) != 0);
        cJSON_AddNumberToObject(a->out, "expires_at", (double)sq_col_int(st, 3));
        cJSON_AddStringToObject(a->out, "scope", store_sq_col_text(st, 4));
    } else if (step == SQ_DONE) {
        rc = cap_err(err, CAP_ENOTFOUND, "No such token");
    } else {
        rc = store_sq_dberr(c, err, "reading a token");
    }
    sq_reset(st);
    return rc;
}

int store_sq_auth_token_find(void *impl, const char *token_hash, cJSON **out,
                             struct cap_error *err)
{
    struct tok_job a = {.hash = token_hash};
    int rc = store_sq_read(impl, job_token_find, &a, err);
    if (rc == 0)
        *out = a.out;
    return rc;
}

static int job_token_list(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct tok_job *a = arg;
    int64_t uid = user_id(c, a->username, err);
    if (!uid)
        return -err->code;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT id, name, created_at, expires_at, scope FROM auth_tokens WHERE user_id = ?1 "
           "ORDER BY id",
        SQ_ARGS(SQ_INT(uid)), err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int step;
    while ((step = sq_step(st)) == SQ_ROW) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", (double)sq_col_int(st, 0));
        cJSON_AddStringToObject(t, "name", store_sq_col_text(st, 1));
        cJSON_AddStringToObject(t, "scope", store_sq_col_text(st, 4));
        cJSON_AddNumberToObject(t, "created_at", (double)sq_col_int(st, 2));
        cJSON_AddNumberToObject(t, "expires_at", (double)sq_col_int(st, 3));
        cJSON_AddItemToArray(a->out, t);
    }
    int rc = step == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading tokens");
    sq_reset(st);
    return rc;
}

int store_sq_auth_token_list(void *impl, const char *username, cJSON **out, struct cap_error *err)
{
    struct tok_job a = {.username = username};
    int rc = store_sq_read(impl, job_token_list, &a, err);
    if (rc == 0)
        *out = a.out;
    else
        cJSON_Delete(a.out);
    return rc;
}

static int job_token_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    (void)s;
    struct tok_job *a = arg;
    int64_t uid = user_id(c, a->username, err);
    if (!uid)
        return -err->code;
    int rc = store_sq_run(c, "DELETE FROM auth_tokens WHERE id = ?1 AND user_id = ?2",
                          SQ_ARGS(SQ_INT(a->id), SQ_INT(uid)), err, "deleting a token");
    if (rc == 0 && sq_changes(c->db) == 0)
        rc = cap_err(err, CAP_ENOTFOUND, "User '%.200s' has no token with id %lld", a->username,
                     (long long)a->id);
    return rc;
}

int store_sq_auth_token_delete(void *impl, const char *username, int64_t id,
                               struct cap_error *err)
{
    struct tok_job a = {.username = username, .id = id};
    return store_sq_write(impl, job_token_delete, &a, err);
}
