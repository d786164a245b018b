/* users.c - MLflow's basic-auth REST API, so that
 * mlflow.server.get_app_client("basic-auth") works against Capstan: users
 * (/api/2.0/mlflow/users/...), experiment and registered-model permissions
 * (/api/2.0/mlflow/{experiments,registered-models}/permissions/...) and
 * MLflow 3's per-user grant/revoke/get (/api/3.0/mlflow/users/permissions/).
 * Who may call each is in the route table (api/access.c checks it before
 * the handler runs); the handlers only do the work. Without --auth these
 * routes answer ENDPOINT_NOT_FOUND, as they did before they existed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/common.h"
#include "base/json.h"

#define HANDLER(name)                                                                       \
    static int name(const struct api_env *env, const struct api_request *req,               \
                    struct api_response *resp, struct cap_error *err)

static int auth_off(const struct api_request *req, struct cap_error *err)
{
    return cap_err(err, CAP_ENOENDPOINT,
                   "No API endpoint at %s %s: users and permissions exist only when the server "
                   "runs with --auth",
                   req->method, req->path);
}

#define NEED_AUTH()                                                                         \
    do {                                                                                    \
        if (!env->auth)                                                                     \
            return auth_off(req, err);                                                      \
    } while (0)

static int get_strs(const cJSON *msg, const char *const *fields, const char **out, int n,
                    struct cap_error *err)
{
    for (int i = 0; i < n; i++) {
        int rc = cap_json_get_str(msg, fields[i], true, &out[i], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

HANDLER(user_create)
{
    NEED_AUTH();
    const char *f[2];
    static const char *const names[] = {"username", "password"};
    int rc = get_strs(req->msg, names, f, 2, err);
    cJSON *u = NULL;
    if (rc < 0 || (rc = auth_user_create(env->auth, f[0], f[1], false, &u, err)) < 0)
        return rc;
    resp->json = api_wrap("user", u);
    return 0;
}

HANDLER(user_get)
{
    NEED_AUTH();
    const char *name;
    cJSON *u = NULL;
    int rc = cap_json_get_str(req->msg, "username", true, &name, err);
    if (rc < 0 || (rc = auth_user_get(env->auth, name, &u, err)) < 0)
        return rc;
    resp->json = api_wrap("user", u);
    return 0;
}

HANDLER(user_current)
{
    NEED_AUTH();
    cJSON *u = NULL;
    int rc = auth_user_get(env->auth, req->user->username, &u, err);
    if (rc < 0)
        return rc;
    resp->json = api_wrap("user", u);
    return 0;
}

/* Changing one's own password asks for the current one, as MLflow does,
 * so that a borrowed session cannot take the account over. */
HANDLER(user_update_password)
{
    NEED_AUTH();
    const char *f[2];
    static const char *const names[] = {"username", "password"};
    int rc = get_strs(req->msg, names, f, 2, err);
    if (rc < 0)
        return rc;
    if (strcmp(f[0], req->user->username) == 0) {
        const char *cur = NULL;
        bool ok = false;
        if ((rc = cap_json_get_str(req->msg, "current_password", false, &cur, err)) < 0)
            return rc;
        if (!cur)
            return cap_err(err, CAP_EINVAL,
                           "Current password is required when changing your own password.");
        if ((rc = auth_password_ok(env->auth, f[0], cur, &ok, err)) < 0)
            return rc;
        if (!ok)
            return cap_err(err, CAP_EINVAL, "Current password does not match.");
        if (strcmp(cur, f[1]) == 0)
            return cap_err(err, CAP_EINVAL, "New password must differ from the current password.");
    }
    if ((rc = auth_user_set_password(env->auth, f[0], f[1], err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    return 0;
}

HANDLER(user_update_admin)
{
    NEED_AUTH();
    const char *name;
    bool is_admin = false;
    int rc = cap_json_get_str(req->msg, "username", true, &name, err);
    if (rc < 0 || (rc = cap_json_get_bool(req->msg, "is_admin", true, &is_admin, err)) < 0 ||
        (rc = auth_user_set_admin(env->auth, name, is_admin, err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    return 0;
}

HANDLER(user_delete)
{
    NEED_AUTH();
    const char *name;
    int rc = cap_json_get_str(req->msg, "username", true, &name, err);
    if (rc < 0)
        return rc;
    if (strcmp(name, req->user->username) == 0)
        return cap_err(err, CAP_EBADREQ,
                       "Users cannot delete their own account. Ask another admin to delete this "
                       "user instead.");
    if ((rc = auth_user_delete(env->auth, name, err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    return 0;
}

/* ---- per-resource permissions (MLflow 2's API) ---- */

/* kind's resource field in messages: experiment_id or name. */
static const char *resource_field(const char *kind)
{
    return strcmp(kind, AUTH_KIND_EXPERIMENT) == 0   ? "experiment_id"
           : strcmp(kind, AUTH_KIND_DEPLOYMENT) == 0 ? "deployment"
                                                     : "name";
}

/* {"experiment_permission" | "registered_model_permission": {field, "user_id", "permission"}} */
static int perm_answer(const struct api_env *env, const char *kind, const char *resource,
                       const char *username, const char *permission, struct api_response *resp,
                       struct cap_error *err)
{
    cJSON *u = NULL;
    int rc = auth_user_get(env->auth, username, &u, err);
    if (rc < 0)
        return rc;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, resource_field(kind), resource);
    cJSON_AddItemToObject(p, "user_id", cJSON_Duplicate(cJSON_GetObjectItem(u, "id"), true));
    cJSON_AddStringToObject(p, "permission", permission);
    cJSON_Delete(u);
    resp->json = api_wrap(strcmp(kind, AUTH_KIND_EXPERIMENT) == 0   ? "experiment_permission"
                          : strcmp(kind, AUTH_KIND_DEPLOYMENT) == 0 ? "deployment_permission"
                                                                    : "registered_model_permission",
                          p);
    return 0;
}

static int perm_set(const struct api_env *env, const struct api_request *req, const char *kind,
                    int mode, struct api_response *resp, struct cap_error *err)
{
    const char *f[3];
    const char *names[] = {resource_field(kind), "username", "permission"};
    int rc = get_strs(req->msg, names, f, 3, err);
    if (rc < 0 || (rc = auth_grant(env->auth, kind, f[0], f[1], f[2], mode, err)) < 0)
        return rc;
    if (mode == STORE_AUTH_CREATE)
        return perm_answer(env, kind, f[0], f[1], f[2], resp, err);
    resp->json = cJSON_CreateObject();
    return 0;
}

static int perm_get(const struct api_env *env, const struct api_request *req, const char *kind,
                    struct api_response *resp, struct cap_error *err)
{
    const char *f[2];
    const char *names[] = {resource_field(kind), "username"};
    char *perm = NULL;
    int rc = get_strs(req->msg, names, f, 2, err);
    if (rc < 0 || (rc = auth_grant_get(env->auth, kind, f[0], f[1], &perm, err)) < 0)
        return rc;
    rc = perm_answer(env, kind, f[0], f[1], perm, resp, err);
    free(perm);
    return rc;
}

static int perm_delete(const struct api_env *env, const struct api_request *req, const char *kind,
                       struct api_response *resp, struct cap_error *err)
{
    const char *f[2];
    const char *names[] = {resource_field(kind), "username"};
    int rc = get_strs(req->msg, names, f, 2, err);
    if (rc < 0 || (rc = auth_revoke(env->auth, kind, f[0], f[1], err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    return 0;
}

#define PERM_HANDLERS(prefix, kind)                                                         \
    HANDLER(prefix##_create)                                                                \
    {                                                                                       \
        NEED_AUTH();                                                                        \
        return perm_set(env, req, kind, STORE_AUTH_CREATE, resp, err);                      \
    }                                                                                       \
    HANDLER(prefix##_get)                                                                   \
    {                                                                                       \
        NEED_AUTH();                                                                        \
        return perm_get(env, req, kind, resp, err);                                         \
    }                                                                                       \
    HANDLER(prefix##_update)                                                                \
    {                                                                                       \
        NEED_AUTH();                                                                        \
        return perm_set(env, req, kind, STORE_AUTH_UPDATE, resp, err);                      \
    }                                                                                       \
    HANDLER(prefix##_delete)                                                                \
    {                                                                                       \
        NEED_AUTH();                                                                        \
        return perm_delete(env, req, kind, resp, err);                                      \
    }

PERM_HANDLERS(exp_perm, AUTH_KIND_EXPERIMENT)
PERM_HANDLERS(model_perm, AUTH_KIND_MODEL)
PERM_HANDLERS(dep_perm, AUTH_KIND_DEPLOYMENT)

/* ---- MLflow 3's per-user grant, revoke and check ---- */

HANDLER(grant)
{
    NEED_AUTH();
    const char *f[4];
    static const char *const names[] = {"username", "resource_type", "resource_id",
                                        "permission"};
    int rc = get_strs(req->msg, names, f, 4, err);
    if (rc < 0 || (rc = auth_grant(env->auth, f[1], f[2], f[0], f[3], STORE_AUTH_PUT, err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    return 0;
}

HANDLER(revoke)
{
    NEED_AUTH();
    const char *f[3];
    static const char *const names[] = {"username", "resource_type", "resource_id"};
    int rc = get_strs(req->msg, names, f, 3, err);
    if (rc < 0 || (rc = auth_revoke(env->auth, f[1], f[2], f[0], err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    return 0;
}

/* The user's effective permission: {"allowed": can_use, "permission"}. */
HANDLER(check)
{
    NEED_AUTH();
    const char *f[3];
    static const char *const names[] = {"username", "resource_type", "resource_id"};
    int rc = get_strs(req->msg, names, f, 3, err);
    cJSON *u = NULL;
    if (rc < 0 || (rc = auth_user_get(env->auth, f[0], &u, err)) < 0)
        return rc;
    struct auth_user who = {.is_admin = cJSON_IsTrue(cJSON_GetObjectItem(u, "is_admin"))};
    snprintf(who.username, sizeof who.username, "%s", f[0]);
    cJSON_Delete(u);
    const struct auth_perm *p = NULL;
    if ((rc = auth_permission(env->auth, &who, f[1], f[2], &p, err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    cJSON_AddBoolToObject(resp->json, "allowed", p->can_use);
    cJSON_AddStringToObject(resp->json, "permission", p->name);
    return 0;
}

/* ---- access tokens (Capstan's: MLflow's auth app has none) ---- */

/* The message's "username" when the caller may act for it (oneself, or
 * anyone for an admin); the caller when it names none. */
static int token_owner(const struct api_request *req, const char **out, struct cap_error *err)
{
    const char *name = NULL;
    int rc = cap_json_get_str(req->msg, "username", false, &name, err);
    if (rc < 0)
        return rc;
    *out = name ? name : req->user->username;
    if (!req->user->is_admin && strcmp(*out, req->user->username) != 0)
        return cap_err(err, CAP_EPERM,
                       "Permission denied: only admins may manage another user's tokens");
    return 0;
}

/* {"username"?, "name", "scope"?, "expires_in_days"?} ->
 * {"token": {"id", "name", "scope", "created_at", "expires_at"}, "secret": "capstan_..."}:
 * the secret is shown this once. */
HANDLER(token_create)
{
    NEED_AUTH();
    const char *owner, *name, *scope = NULL;
    int64_t days = 0;
    int rc = token_owner(req, &owner, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "name", true, &name, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "scope", false, &scope, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "expires_in_days", false, &days, err)) < 0)
        return rc;
    char *secret = NULL;
    cJSON *t = NULL;
    if ((rc = auth_token_create(env->auth, owner, name, scope, days, &secret, &t, err)) < 0)
        return rc;
    resp->json = api_wrap("token", t);
    cJSON_AddStringToObject(resp->json, "secret", secret);
    free(secret);
    return 0;
}

HANDLER(token_list)
{
    NEED_AUTH();
    const char *owner;
    cJSON *list = NULL;
    int rc = token_owner(req, &owner, err);
    if (rc < 0 || (rc = auth_token_list(env->auth, owner, &list, err)) < 0)
        return rc;
    resp->json = api_wrap("tokens", list);
    return 0;
}

HANDLER(token_delete)
{
    NEED_AUTH();
    const char *owner;
    int64_t id = 0;
    int rc = token_owner(req, &owner, err);
    if (rc < 0 || (rc = cap_json_get_i64(req->msg, "id", true, &id, err)) < 0 ||
        (rc = auth_token_delete(env->auth, owner, id, err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    return 0;
}

#define U "/api/2.0/mlflow/users/"
#define E "/api/2.0/mlflow/experiments/permissions/"
#define M "/api/2.0/mlflow/registered-models/permissions/"
#define V3 "/api/3.0/mlflow/users/permissions/"
#define T "/api/2.0/capstan/tokens/"
#define DP "/api/2.0/capstan/deployments/permissions/"
#define J API_BODY_JSON
#define ACCESS API_ACCESS
const struct api_route api_auth_routes[] = {
    {"POST", U "create", J, user_create, NULL, ACCESS(ADMIN, NONE)},
    {"GET", U "get", J, user_get, NULL, ACCESS(SELF, NONE)},
    {"GET", U "current", J, user_current, NULL, ACCESS(USER, NONE)},
    {"PATCH", U "update-password", J, user_update_password, NULL, ACCESS(SELF, NONE)},
    {"PATCH", U "update-admin", J, user_update_admin, NULL, ACCESS(ADMIN, NONE)},
    {"DELETE", U "delete", J, user_delete, NULL, ACCESS(ADMIN, NONE)},
    {"POST", E "create", J, exp_perm_create, NULL, ACCESS(EXPERIMENT, MANAGE)},
    {"GET", E "get", J, exp_perm_get, NULL, ACCESS(EXPERIMENT, MANAGE)},
    {"PATCH", E "update", J, exp_perm_update, NULL, ACCESS(EXPERIMENT, MANAGE)},
    {"DELETE", E "delete", J, exp_perm_delete, NULL, ACCESS(EXPERIMENT, MANAGE)},
    {"POST", M "create", J, model_perm_create, NULL, ACCESS(MODEL, MANAGE)},
    {"GET", M "get", J, model_perm_get, NULL, ACCESS(MODEL, MANAGE)},
    {"PATCH", M "update", J, model_perm_update, NULL, ACCESS(MODEL, MANAGE)},
    {"DELETE", M "delete", J, model_perm_delete, NULL, ACCESS(MODEL, MANAGE)},
    {"POST", DP "create", J, dep_perm_create, NULL, ACCESS(DEPLOYMENT, MANAGE)},
    {"GET", DP "get", J, dep_perm_get, NULL, ACCESS(DEPLOYMENT, MANAGE)},
    {"PATCH", DP "update", J, dep_perm_update, NULL, ACCESS(DEPLOYMENT, MANAGE)},
    {"DELETE", DP "delete", J, dep_perm_delete, NULL, ACCESS(DEPLOYMENT, MANAGE)},
    {"POST", V3 "grant", J, grant, NULL, ACCESS(RESOURCE, MANAGE)},
    {"POST", V3 "revoke", J, revoke, NULL, ACCESS(RESOURCE, MANAGE)},
    {"GET", V3 "get", J, check, NULL, ACCESS(SELF, NONE)},
    {"POST", T "create", J, token_create, NULL, ACCESS(USER, NONE)},
    {"GET", T "list", J, token_list, NULL, ACCESS(USER, NONE)},
    {"DELETE", T "delete", J, token_delete, NULL, ACCESS(USER, NONE)},
    {NULL, NULL, J, NULL, NULL},
};
