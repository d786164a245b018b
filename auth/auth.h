/* auth.h - users, password hashes and permissions, with the meaning of
 * MLflow's basic-auth app (mlflow/server/auth): a user has a password
 * (kept only as an Argon2id hash string from libsodium) and may be an
 * admin; a user's permission on an experiment or a registered model is one
 * of READ, USE, EDIT, MANAGE, NO_PERMISSIONS, stored per (resource, user),
 * or else the server's default permission (MLflow's default_permission,
 * READ). Admins may do everything. Below api/, above store/: api/ decides
 * which permission a route needs and on what; this module answers whether
 * a user has it. */
#ifndef CAP_AUTH_H
#define CAP_AUTH_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

struct store;

/* What a request needs on its resource: MLflow's can_* capabilities. */
enum auth_need {
    AUTH_NEED_NONE = 0,          /* an authenticated user */
    AUTH_NEED_READ,
    AUTH_NEED_USE,
    AUTH_NEED_UPDATE,
    AUTH_NEED_DELETE,
    AUTH_NEED_MANAGE,
};

/* A permission: its MLflow name and what it allows. */
struct auth_perm {
    const char *name;
    bool can_read, can_use, can_update, can_delete, can_manage;
};

/* The permission named (READ, USE, EDIT, MANAGE, NO_PERMISSIONS), or NULL. */
const struct auth_perm *auth_perm_find(const char *name);
bool auth_perm_allows(const struct auth_perm *p, enum auth_need need);

/* Resource kinds, as the store and MLflow's unified API name them. */
#define AUTH_KIND_EXPERIMENT "experiment"
#define AUTH_KIND_MODEL "registered_model"
#define AUTH_KIND_DEPLOYMENT "deployment"  /* Capstan's: a deployment, by name */
#define AUTH_KIND_DATASET "dataset"        /* a dataset, by name (all its versions) */
#define AUTH_KIND_PIPELINE "pipeline"      /* a pipeline schedule, by name */
/* A kind in words, for messages: "registered model", "pipeline schedule". */
const char *auth_kind_words(const char *kind);

struct auth_config {
    const char *admin_username;      /* created at start when missing; may be NULL */
    const char *admin_password;
    const char *default_permission;  /* NULL: READ */
};

struct auth;

/* Starts auth over the store: creates the admin when configured and
 * missing, and refuses (CAP_EINVAL) when no admin is configured and there
 * is no user at all (nobody could ever sign in). */
int auth_open(struct store *st, const struct auth_config *cfg, struct auth **out,
              struct cap_error *err);
void auth_close(struct auth *a);

/* What a sign-in may do of what its user may (`capstan token create
 * --scope`): a password, and a token made without a scope, may do all of
 * it ("write"); a "read" token only reads; an "infer:<deployment>" token
 * only calls that deployment's inference routes. api/access.c says which
 * routes each allows. */
enum auth_token_scope {
    AUTH_TOKEN_WRITE = 0,
    AUTH_TOKEN_READ,
    AUTH_TOKEN_INFER,
};
#define AUTH_DEPLOYMENT_MAX 128    /* store_deployment_name_check's limit */

/* The signed-in user of a request. */
struct auth_user {
    int64_t id;
    char username[256];
    bool is_admin;
    enum auth_token_scope scope;
    char deployment[AUTH_DEPLOYMENT_MAX + 1]; /* AUTH_TOKEN_INFER's deployment */
};

/* A scope's text, "write", "read" or "infer:<deployment>" (a deployment
 * name by the store's rule), into u->scope and u->deployment; else
 * CAP_EINVAL naming what was expected. */
int auth_scope_parse(const char *text, struct auth_user *u, struct cap_error *err);

/* Failed sign-ins: after AUTH_LOCK_AFTER in a row for one username, its
 * next attempts within AUTH_LOCK_SECONDS of the last failure are refused
 * (CAP_ETOOMANY, 429) before any password is hashed. */
#define AUTH_LOCK_AFTER 5
#define AUTH_LOCK_SECONDS 30
#define AUTH_LOCK_SECONDS_TEXT "30"
/* Checks an Authorization header value ("Basic base64(user:password)");
 * NULL, malformed, unknown user or wrong password: CAP_EUNAUTH. A
 * successful check of the same user, password and stored hash is
 * remembered (a keyed digest, never the password), so Argon2id's ~50 ms
 * and 64 MiB are paid once per password, not per request. */
int auth_basic(struct auth *a, const char *header, struct auth_user *out, struct cap_error *err);

/* Access tokens: a user's bearer tokens ("Authorization: Bearer <token>",
 * what the mlflow client sends for MLFLOW_TRACKING_TOKEN), acting as that
 * user. The token is 256 random bits, shown once at creation; the store
 * keeps its BLAKE2b hash (a fast hash is enough for a random secret of
 * that size: there is nothing to guess). */
#define AUTH_TOKEN_PREFIX "capstan_"
/* *secret (malloc'd): the token; out: {"id", "name", "scope", "created_at",
 * "expires_at"}. scope: auth_scope_parse's text (NULL: "write");
 * expires_in_days 0: never. */
int auth_token_create(struct auth *a, const char *username, const char *name, const char *scope,
                      int64_t expires_in_days, char **secret, cJSON **out, struct cap_error *err);
int auth_token_list(struct auth *a, const char *username, cJSON **out, struct cap_error *err);
int auth_token_delete(struct auth *a, const char *username, int64_t id, struct cap_error *err);
/* The server's own token, for the programs it starts (the pipeline
 * scheduler's children, which call back into it): valid only in this
 * process (its hash is kept in memory, never stored), acting as the admin
 * AUTH_INTERNAL_USER. A second call replaces the first. Caller frees. */
#define AUTH_INTERNAL_USER "capstan-scheduler"
char *auth_internal_token(struct auth *a);
/* An Authorization header value: "Basic ..." (auth_basic) or "Bearer
 * <token>"; anything else, an unknown or expired token: CAP_EUNAUTH. */
int auth_header(struct auth *a, const char *header, struct auth_user *out, struct cap_error *err);

/* Users. out (may be NULL): MLflow's User JSON {"id", "username", "is_admin"}. */
int auth_user_create(struct auth *a, const char *username, const char *password, bool is_admin,
                     cJSON **out, struct cap_error *err);
int auth_user_get(struct auth *a, const char *username, cJSON **out, struct cap_error *err);
int auth_user_set_password(struct auth *a, const char *username, const char *password,
                           struct cap_error *err);
int auth_user_set_admin(struct auth *a, const char *username, bool is_admin,
                        struct cap_error *err);
int auth_user_delete(struct auth *a, const char *username, struct cap_error *err);
/* *ok: whether password is the user's (CAP_ENOTFOUND when no such user). */
int auth_password_ok(struct auth *a, const char *username, const char *password, bool *ok,
                     struct cap_error *err);

/* The user's permission on (kind, resource): MANAGE for admins, else the
 * stored one, else the default. Tokens and stored permissions are read
 * through a cache (auth_cache.h): a change made through this process
 * counts at once, one made by another server sharing the database within
 * AUTH_CACHE_MS (1 s). */
int auth_permission(struct auth *a, const struct auth_user *u, const char *kind,
                    const char *resource, const struct auth_perm **out, struct cap_error *err);
/* 0 when u may do need on (kind, resource), else CAP_EPERM naming what. */
int auth_check(struct auth *a, const struct auth_user *u, const char *kind, const char *resource,
               enum auth_need need, struct cap_error *err);

/* Stored permissions, by name (checked against MLflow's names). mode is
 * store.h's enum store_auth_mode. */
int auth_grant(struct auth *a, const char *kind, const char *resource, const char *username,
               const char *permission, int mode, struct cap_error *err);
/* *out: the stored permission's name (malloc'd); CAP_ENOTFOUND when none. */
int auth_grant_get(struct auth *a, const char *kind, const char *resource, const char *username,
                   char **out, struct cap_error *err);
int auth_revoke(struct auth *a, const char *kind, const char *resource, const char *username,
                struct cap_error *err);
/* A resource's stored permissions follow it to a new name (to), or go with
 * it (to NULL): a registered model renamed or deleted, a deployment deleted. */
int auth_move(struct auth *a, const char *kind, const char *resource, const char *to,
              struct cap_error *err);

/* What one user may read of one kind, for filtering a search's answer. */
struct auth_view {
    bool all;                    /* an admin */
    cJSON *perms;                /* {resource: permission} */
    const struct auth_perm *def;
};
int auth_view_open(struct auth *a, const struct auth_user *u, const char *kind,
                   struct auth_view *v, struct cap_error *err);
bool auth_view_can_read(const struct auth_view *v, const char *resource);
void auth_view_close(struct auth_view *v);

#endif
