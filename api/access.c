/* access.c - with --auth, what a route's caller must be allowed, by MLflow's
 * basic-auth rules (mlflow/server/auth): reads need can_read on the
 * resource, writes can_update, deletes can_delete, permission changes
 * can_manage; runs and logged models count as their experiment, model
 * versions as their registered model; admins may do everything. Each
 * route's table entry says which (struct api_access); this file reads the
 * resource out of the request and asks auth/. Searches are filtered after
 * the handler instead, as MLflow's after-request hooks do: a page may then
 * hold fewer than max_results items (MLflow's filters have the same cost). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/util.h"
#include "serve/serve.h"
#include "store/store.h"

static const char *msg_str(const cJSON *msg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, key);
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1)
        v = cJSON_GetArrayItem(v, 0);
    return cJSON_GetStringValue(v);
}

static int check_experiment(const struct api_env *env, const struct auth_user *u, const char *id,
                            enum auth_need need, struct cap_error *err)
{
    return auth_check(env->auth, u, AUTH_KIND_EXPERIMENT, id, need, err);
}

/* The experiment of a run; its absence is the handler's 404 to give. */
static int check_run(const struct api_env *env, const struct auth_user *u, const char *run_id,
                     enum auth_need need, struct cap_error *err)
{
    if (!run_id || u->is_admin)
        return 0;
    cJSON *run = NULL;
    struct cap_error e = {0};
    if (store_run_get(env->store, run_id, &run, &e) < 0)
        return e.code == CAP_ENOTFOUND || e.code == CAP_EINVAL ? 0 : (*err = e, -e.code);
    const char *eid =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(run, "info"), "experiment_id"));
    int rc = eid ? check_experiment(env, u, eid, need, err) : 0;
    cJSON_Delete(run);
    return rc;
}

static int check_logged_model(const struct api_env *env, const struct auth_user *u,
                              const char *model_id, enum auth_need need, struct cap_error *err)
{
    if (!model_id || u->is_admin)
        return 0;
    cJSON *m = NULL;
    struct cap_error e = {0};
    if (store_logged_model_get(env->store, model_id, &m, &e) < 0)
        return e.code == CAP_ENOTFOUND || e.code == CAP_EINVAL ? 0 : (*err = e, -e.code);
    const char *eid =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "info"), "experiment_id"));
    int rc = eid ? check_experiment(env, u, eid, need, err) : 0;
    cJSON_Delete(m);
    return rc;
}

/* Every string of msg[key] (a lone value or a list) passes check. */
static int check_each(const struct api_env *env, const struct auth_user *u, const cJSON *msg,
                      const char *key, enum auth_need need,
                      int (*check)(const struct api_env *, const struct auth_user *,
                                   const char *, enum auth_need, struct cap_error *),
                      struct cap_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, key);
    if (cJSON_IsString(v))
        return check(env, u, v->valuestring, need, err);
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        int rc = cJSON_IsString(it) ? check(env, u, it->valuestring, need, err) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int check_experiment_name(const struct api_env *env, const struct auth_user *u,
                                 const char *name, enum auth_need need, struct cap_error *err)
{
    if (!name || u->is_admin)
        return 0;
    cJSON *exp = NULL;
    struct cap_error e = {0};
    if (store_experiment_get_by_name(env->store, name, &exp, &e) < 0)
        return e.code == CAP_ENOTFOUND ? 0 : (*err = e, -e.code);
    const char *eid = cJSON_GetStringValue(cJSON_GetObjectItem(exp, "experiment_id"));
    int rc = eid ? check_experiment(env, u, eid, need, err) : 0;
    cJSON_Delete(exp);
    return rc;
}

int api_access_artifact(const struct api_env *env, const struct auth_user *u, const char *path,
                        enum auth_need need, struct cap_error *err)
{
    if (!u || u->is_admin)
        return 0;
    char id[24];
    size_t n = 0;
    while (path && path[n] >= '0' && path[n] <= '9' && n < sizeof id - 1)
        n++;
    if (!path || n == 0 || (path[n] != '/' && path[n] != '\0'))
        return cap_err(err, CAP_EPERM,
                       "Permission denied: only admins may reach artifacts outside an "
                       "experiment's directory ('<experiment_id>/...')");
    memcpy(id, path, n);
    id[n] = '\0';
    return check_experiment(env, u, id, need, err);
}

/* "<experiment_id>/..." as the mlflow-artifacts routes carry it (the tail,
 * or msg "path" for the listing). */
static int check_artifact_path(const struct api_env *env, const struct api_request *req,
                               enum auth_need need, struct cap_error *err)
{
    return api_access_artifact(env, req->user, req->tail ? req->tail : msg_str(req->msg, "path"),
                               need, err);
}

static int check_resource(const struct api_env *env, const struct api_request *req,
                          enum auth_need need, struct cap_error *err)
{
    const char *type = msg_str(req->msg, "resource_type");
    const char *id = msg_str(req->msg, "resource_id");
    struct cap_error kind_err = {0};
    if (!type || store_auth_kind_check(type, &kind_err) < 0)
        return cap_err(err, CAP_EINVAL, "Invalid value for parameter 'resource_type': %s",
                       kind_err.msg[0] ? kind_err.msg : "missing");
    if (!id || !*id)
        return cap_err(err, CAP_EINVAL, "Missing value for required parameter 'resource_id'");
    if (strcmp(id, "*") == 0) /* MLflow's wildcard grants belong to its roles (RBAC) */
        return cap_err(err, CAP_EINVAL,
                       "Invalid value for parameter 'resource_id': wildcard grants ('*') are not "
                       "supported; grant on one experiment or registered model");
    return auth_check(env->auth, req->user, type, id, need, err);
}

/* The deployment a DEPLOYMENT-scoped request names (*owned: a copy to
 * free), or NULL when it names none. /invocations names the default one:
 * a deployment created between this check and the handler's pick could
 * only make the pick fail ("name one"), never answer from another
 * deployment, unless the checked one is deleted and another created in
 * between; the handler then answers from a deployment the caller may also
 * have been refused. That window is one request long; closing it would
 * mean passing the name to the handler. */
static const char *deployment_of(const struct api_env *env, const struct api_request *req,
                                 char **owned)
{
    *owned = NULL;
    if (req->params[0])
        return req->params[0];
    const char *dep = msg_str(req->msg, "deployment");
    if (dep || !req->path || strcmp(req->path, "/invocations") != 0 || !env->serve)
        return dep;
    return *owned = serve_default_name(env->serve);
}

/* A route that only reads: what a "read" token may call. MLflow's
 * searches and a few other reads are POSTs; they need READ on what they
 * name, or are filtered after. */
static bool filtered_search(const struct api_route *route);

static bool route_reads(const struct api_route *route)
{
    return strcmp(route->method, "GET") == 0 || route->access.need == AUTH_NEED_READ ||
           filtered_search(route);
}

/* What the sign-in's token scope allows, before the user's permissions. */
static int check_token_scope(const struct api_env *env, const struct api_route *route,
                             const struct api_request *req, struct cap_error *err)
{
    const struct auth_user *u = req->user;
    if (u->scope == AUTH_TOKEN_WRITE)
        return 0;
    if (u->scope == AUTH_TOKEN_READ)
        return route_reads(route)
                   ? 0
                   : cap_err(err, CAP_EPERM,
                             "Permission denied: this token's scope is 'read', and %s %s "
                             "writes; use a token with scope 'write'",
                             route->method, route->pattern);
    char *owned;
    const char *dep = route->serving && route->access.scope == API_SCOPE_DEPLOYMENT
                          ? deployment_of(env, req, &owned)
                          : (owned = NULL);
    bool ok = dep && strcmp(dep, u->deployment) == 0;
    free(owned);
    return ok ? 0
              : cap_err(err, CAP_EPERM,
                        "Permission denied: this token's scope is 'infer:%s': it may only call "
                        "deployment '%s''s inference routes",
                        u->deployment, u->deployment);
}

static int check_deployment(const struct api_env *env, const struct api_request *req,
                            enum auth_need need, struct cap_error *err)
{
    if (req->user->is_admin)
        return 0;
    char *owned;
    const char *dep = deployment_of(env, req, &owned);
    int rc = dep ? auth_check(env->auth, req->user, AUTH_KIND_DEPLOYMENT, dep, need, err) : 0;
    free(owned);
    return rc;
}

/* A dataset reference's name: "NAME" of "NAME[@version]" (*buf when cut). */
static const char *dataset_name(const char *ref, char *buf, size_t n)
{
    const char *at = ref ? strchr(ref, '@') : NULL;
    if (!at)
        return ref;
    snprintf(buf, n, "%.*s", (int)(at - ref), ref);
    return buf;
}

/* Every dataset the message names (ref, name, and diff's a and b). */
static int check_datasets(const struct api_env *env, const struct api_request *req,
                          enum auth_need need, struct cap_error *err)
{
    static const char *const keys[] = {"ref", "name", "a", "b"};
    if (req->user->is_admin)
        return 0;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char buf[512];
        const char *name = dataset_name(msg_str(req->msg, keys[i]), buf, sizeof buf);
        int rc = name ? auth_check(env->auth, req->user, AUTH_KIND_DATASET, name, need, err) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A baseline's target, deployment:NAME or model:NAME/VERSION; a target of
 * another form is the handler's 400 to give. */
static int check_target(const struct api_env *env, const struct auth_user *u, const char *t,
                        enum auth_need need, struct cap_error *err)
{
    const char *slash = t ? strrchr(t, '/') : NULL;
    if (t && strncmp(t, "deployment:", 11) == 0)
        return auth_check(env->auth, u, AUTH_KIND_DEPLOYMENT, t + 11, need, err);
    if (!t || strncmp(t, "model:", 6) != 0 || !slash || slash - t - 6 >= 512)
        return 0;
    char name[512];
    snprintf(name, sizeof name, "%.*s", (int)(slash - t - 6), t + 6);
    return auth_check(env->auth, u, AUTH_KIND_MODEL, name, need, err);
}

static int check_baseline(const struct api_env *env, const struct api_request *req,
                          enum auth_need need, struct cap_error *err)
{
    if (req->user->is_admin)
        return 0;
    char buf[512];
    const char *ds = dataset_name(msg_str(req->msg, "dataset"), buf, sizeof buf);
    int rc = check_target(env, req->user, msg_str(req->msg, "target"), need, err);
    if (rc == 0 && ds)
        rc = auth_check(env->auth, req->user, AUTH_KIND_DATASET, ds, AUTH_NEED_READ, err);
    return rc;
}

static void filter_baselines(const struct api_env *env, const struct auth_user *u, cJSON *resp)
{
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(resp, "baselines");
    for (int i = cJSON_GetArraySize(arr) - 1; i >= 0 && !u->is_admin; i--) {
        const cJSON *it = cJSON_GetArrayItem(arr, i);
        struct cap_error e = {0};
        if (check_target(env, u, cJSON_GetStringValue(cJSON_GetObjectItem(it, "target")),
                         AUTH_NEED_READ, &e) < 0)
            cJSON_DeleteItemFromArray(arr, i);
    }
}

int api_access_check(const struct api_env *env, const struct api_route *route,
                     const struct api_request *req, struct cap_error *err)
{
    const struct auth_user *u = req->user;
    enum auth_need need = route->access.need;
    const cJSON *msg = req->msg;
    if (!u)
        return 0; /* a public route */
    int rc = check_token_scope(env, route, req, err);
    if (rc < 0)
        return rc;
    switch ((enum api_scope)route->access.scope) {
    case API_SCOPE_USER:
    case API_SCOPE_PUBLIC:
        return 0;
    case API_SCOPE_ADMIN:
        return u->is_admin ? 0
                           : cap_err(err, CAP_EPERM, "Permission denied: only admins may do this");
    case API_SCOPE_SELF: {
        const char *name = msg_str(msg, "username");
        if (u->is_admin || (name && strcmp(name, u->username) == 0))
            return 0;
        return cap_err(err, CAP_EPERM,
                       "Permission denied: only admins may do this for another user");
    }
    case API_SCOPE_EXPERIMENT: {
        const char *id = msg_str(msg, "experiment_id");
        return check_experiment(env, u, id && *id ? id : "0", need, err);
    }
    case API_SCOPE_EXPERIMENT_NAME:
        return check_experiment_name(env, u, msg_str(msg, "experiment_name"), need, err);
    case API_SCOPE_EXPERIMENTS:
        return check_each(env, u, msg, "experiment_ids", need, check_experiment, err);
    case API_SCOPE_RUN: {
        const char *id = msg_str(msg, "run_id");
        return check_run(env, u, id && *id ? id : msg_str(msg, "run_uuid"), need, err);
    }
    case API_SCOPE_RUNS: {
        rc = check_each(env, u, msg, "run_ids", need, check_run, err);
        return rc < 0 ? rc : check_each(env, u, msg, "run_id", need, check_run, err);
    }
    case API_SCOPE_LOGGED_MODEL:
        return check_logged_model(env, u, req->params[0] ? req->params[0] : msg_str(msg, "model_id"),
                                  need, err);
    case API_SCOPE_MODEL: {
        const char *name = msg_str(msg, "name");
        return name ? auth_check(env->auth, u, AUTH_KIND_MODEL, name, need, err) : 0;
    }
    case API_SCOPE_ARTIFACT_PATH:
        return check_artifact_path(env, req, need, err);
    case API_SCOPE_RESOURCE:
        return check_resource(env, req, need, err);
    case API_SCOPE_DEPLOYMENT:
        return check_deployment(env, req, need, err);
    case API_SCOPE_DATASET:
        return check_datasets(env, req, need, err);
    case API_SCOPE_BASELINE:
        return check_baseline(env, req, need, err);
    case API_SCOPE_PIPELINE: {
        const char *name = msg_str(msg, "name");
        return name ? auth_check(env->auth, u, AUTH_KIND_PIPELINE, name, need, err) : 0;
    }
    }
    return cap_err(err, CAP_EPERM, "Permission denied");
}

/* Keeps the items of resp[key] whose field the caller may read. */
static void filter(const struct api_env *env, const struct auth_user *u, cJSON *resp,
                   const char *key, const char *kind, const char *field)
{
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(resp, key);
    if (!cJSON_IsArray(arr) || u->is_admin)
        return;
    struct auth_view v;
    struct cap_error err = {0};
    if (auth_view_open(env->auth, u, kind, &v, &err) < 0) {
        /* (answering everything would leak: answer nothing) */
        cap_log(CAP_LOG_WARN, "auth: filtering a search: %s", err.msg);
        cJSON_DeleteItemFromObjectCaseSensitive(resp, key);
        return;
    }
    for (int i = cJSON_GetArraySize(arr) - 1; i >= 0; i--) {
        const cJSON *it = cJSON_GetArrayItem(arr, i);
        const char *res = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, field));
        if (!auth_view_can_read(&v, res))
            cJSON_DeleteItemFromArray(arr, i);
    }
    auth_view_close(&v);
}

static void grant_creator(const struct api_env *env, const struct auth_user *u, const char *kind,
                          const char *resource)
{
    struct cap_error err = {0};
    if (u->id == 0)
        return; /* the server's own token (auth_internal_token): no stored user to grant */
    if (resource &&
        auth_grant(env->auth, kind, resource, u->username, "MANAGE", STORE_AUTH_PUT, &err) < 0)
        cap_log(CAP_LOG_WARN, "auth: granting MANAGE on %s '%s' to its creator: %s", kind,
                resource, err.msg);
}

/* The searches filtered after the handler: their answer's array, the kind
 * of its items and the field that names each. */
static const struct {
    enum api_after after;
    const char *key, *kind, *field;
} filtered[] = {
    {API_AFTER_FILTER_EXPERIMENTS, "experiments", AUTH_KIND_EXPERIMENT, "experiment_id"},
    {API_AFTER_FILTER_MODELS, "registered_models", AUTH_KIND_MODEL, "name"},
    {API_AFTER_FILTER_VERSIONS, "model_versions", AUTH_KIND_MODEL, "name"},
    {API_AFTER_FILTER_DEPLOYMENTS, "deployments", AUTH_KIND_DEPLOYMENT, "name"},
    {API_AFTER_FILTER_DATASETS, "datasets", AUTH_KIND_DATASET, "name"},
    {API_AFTER_FILTER_PIPELINES, "schedules", AUTH_KIND_PIPELINE, "name"},
};

static bool filtered_search(const struct api_route *route)
{
    for (size_t i = 0; i < sizeof filtered / sizeof *filtered; i++)
        if (route->access.after == filtered[i].after)
            return true;
    return false;
}

void api_access_after(const struct api_env *env, const struct api_route *route,
                      const struct api_request *req, struct api_response *resp)
{
    const struct auth_user *u = req->user;
    cJSON *j = resp->json; /* (cJSON's getters take NULL) */
    if (!u)
        return;
    for (size_t i = 0; i < sizeof filtered / sizeof *filtered; i++)
        if (route->access.after == filtered[i].after) {
            filter(env, u, j, filtered[i].key, filtered[i].kind, filtered[i].field);
            return;
        }
    switch ((enum api_after)route->access.after) {
    case API_AFTER_NONE:
    case API_AFTER_FILTER_EXPERIMENTS:
    case API_AFTER_FILTER_MODELS:
    case API_AFTER_FILTER_VERSIONS:
    case API_AFTER_FILTER_DEPLOYMENTS:
    case API_AFTER_FILTER_DATASETS:
    case API_AFTER_FILTER_PIPELINES:
        return; /* (filtered above) */
    case API_AFTER_GRANT_EXPERIMENT:
        grant_creator(env, u, AUTH_KIND_EXPERIMENT,
                      cJSON_GetStringValue(cJSON_GetObjectItem(j, "experiment_id")));
        return;
    case API_AFTER_GRANT_MODEL:
        grant_creator(env, u, AUTH_KIND_MODEL,
                      cJSON_GetStringValue(
                          cJSON_GetObjectItem(cJSON_GetObjectItem(j, "registered_model"), "name")));
        return;
    case API_AFTER_GRANT_DEPLOYMENT:
        grant_creator(env, u, AUTH_KIND_DEPLOYMENT,
                      cJSON_GetStringValue(
                          cJSON_GetObjectItem(cJSON_GetObjectItem(j, "deployment"), "name")));
        return;
    case API_AFTER_FILTER_DEPLOYMENT_ITEMS: {
        char *owned;
        bool named = deployment_of(env, req, &owned) != NULL;
        free(owned);
        for (cJSON *it = j ? j->child : NULL; !named && it; it = it->next)
            if (cJSON_IsArray(it))
                filter(env, u, j, it->string, AUTH_KIND_DEPLOYMENT, "deployment");
        return;
    }
    case API_AFTER_DELETE_DEPLOYMENT: {
        struct cap_error err = {0};
        if (req->params[0] &&
            auth_move(env->auth, AUTH_KIND_DEPLOYMENT, req->params[0], NULL, &err) < 0)
            cap_log(CAP_LOG_WARN, "auth: removing the permissions of deployment '%s': %s",
                    req->params[0], err.msg);
        return;
    }
    case API_AFTER_FILTER_BASELINES:
        filter_baselines(env, u, j);
        return;
    case API_AFTER_DELETE_DATASET:
    case API_AFTER_DELETE_PIPELINE: {
        bool dataset = route->access.after == API_AFTER_DELETE_DATASET;
        const char *name = msg_str(req->msg, dataset ? "ref" : "name");
        struct cap_error err = {0};
        if (name && !(dataset && strchr(name, '@')) &&
            auth_move(env->auth, dataset ? AUTH_KIND_DATASET : AUTH_KIND_PIPELINE, name, NULL,
                      &err) < 0)
            cap_log(CAP_LOG_WARN, "auth: removing the permissions of %s '%s': %s",
                    dataset ? "dataset" : "pipeline schedule", name, err.msg);
        return;
    }
    case API_AFTER_RENAME_MODEL:
    case API_AFTER_DELETE_MODEL: {
        const char *name = msg_str(req->msg, "name");
        const char *to = route->access.after == API_AFTER_RENAME_MODEL
                             ? msg_str(req->msg, "new_name")
                             : NULL;
        struct cap_error err = {0};
        if (name && (to || route->access.after == API_AFTER_DELETE_MODEL) &&
            auth_move(env->auth, AUTH_KIND_MODEL, name, to, &err) < 0)
            cap_log(CAP_LOG_WARN, "auth: moving the permissions of registered model '%s': %s",
                    name, err.msg);
        return;
    }
    }
}
