/* mlflow_registry.c - MLflow REST API 2.0, model registry part: registered
 * models, versions, stages, aliases, tags, download URIs. Version sources are
 * checked by registry/ (only Capstan's own artifact store) and ONNX models
 * are inspected at registration: an unreadable one is FAILED_REGISTRATION. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/common.h"
#include "base/buf.h"
#include "base/json.h"
#include "registry/registry.h"
#include "store/store.h"
#include "track/validate.h"

#define HANDLER(name)                                                                       \
    static int name(const struct api_env *env, const struct api_request *req,               \
                    struct api_response *resp, struct cap_error *err)

static int model_name(const cJSON *msg, const char *field, const char **out, struct cap_error *err)
{
    int rc = cap_json_get_str(msg, field, true, out, err);
    return rc < 0 ? rc : registry_check_model_name(*out, err);
}

static int name_version(const cJSON *msg, const char **name, const char **version,
                        struct cap_error *err)
{
    int rc = model_name(msg, "name", name, err);
    if (rc < 0)
        return rc;
    /* the client sends version as a string; accept a number too */
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, "version");
    static _Thread_local char num[32];
    if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%.0f", v->valuedouble);
        *version = num;
    } else if ((rc = cap_json_get_str(msg, "version", true, version, err)) < 0) {
        return rc;
    }
    return registry_check_version(*version, err);
}

/* ---------------- registered models ---------------- */

HANDLER(model_create)
{
    const char *name, *desc = NULL;
    struct cap_kv *tags;
    size_t ntags;
    cJSON *out = NULL;
    int rc = model_name(req->msg, "name", &name, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "description", false, &desc, err)) < 0 ||
        (rc = api_kv_list(req->msg, "tags", "tag", &tags, &ntags, err)) < 0)
        return rc;
    rc = store_registered_model_create(env->store, name, desc, tags, ntags, &out, err);
    free(tags);
    if (rc < 0)
        return rc;
    resp->json = api_wrap("registered_model", out);
    return 0;
}

HANDLER(model_get)
{
    const char *name;
    cJSON *out = NULL;
    int rc = model_name(req->msg, "name", &name, err);
    if (rc < 0 || (rc = store_registered_model_get(env->store, name, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("registered_model", out);
    return 0;
}

HANDLER(model_update)
{
    const char *name, *desc = NULL;
    cJSON *out = NULL;
    int rc = model_name(req->msg, "name", &name, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "description", false, &desc, err)) < 0 ||
        (rc = store_registered_model_update(env->store, name, desc, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("registered_model", out);
    return 0;
}

HANDLER(model_rename)
{
    const char *name, *new_name;
    cJSON *out = NULL;
    int rc = model_name(req->msg, "name", &name, err);
    if (rc < 0 || (rc = model_name(req->msg, "new_name", &new_name, err)) < 0 ||
        (rc = store_registered_model_rename(env->store, name, new_name, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("registered_model", out);
    return 0;
}

HANDLER(model_delete)
{
    const char *name;
    int rc = model_name(req->msg, "name", &name, err);
    return rc < 0 ? rc : store_registered_model_delete(env->store, name, err);
}

HANDLER(model_set_tag)
{
    const char *name;
    struct cap_kv kv;
    int rc = model_name(req->msg, "name", &name, err);
    if (rc < 0 || (rc = api_kv_one(req->msg, "tag", "tag", &kv, err)) < 0)
        return rc;
    return store_registered_model_set_tag(env->store, name, kv.key, kv.value, err);
}

HANDLER(model_delete_tag)
{
    const char *name, *key;
    int rc = model_name(req->msg, "name", &name, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "key", true, &key, err)) < 0)
        return rc;
    return store_registered_model_delete_tag(env->store, name, key, err);
}

static int search(const struct api_env *env, const struct api_request *req,
                  struct api_response *resp, struct cap_error *err, enum filter_target target,
                  int max_default, int max_limit, const char *list_name)
{
    struct store_query q = {.view = STORE_VIEW_ACTIVE};
    const char *text = NULL, *token = NULL;
    struct filter *filter = NULL;
    struct order_key *order = NULL;
    cJSON *list = NULL;
    char *next = NULL;
    int rc;
    if ((rc = api_max_results(req->msg, max_default, max_limit, &q.max_results, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "filter", false, &text, err)) < 0)
        goto done;
    if (rc == 0 && (rc = filter_parse(text, target, &filter, err)) < 0)
        goto done;
    if ((rc = cap_json_get_str(req->msg, "page_token", false, &token, err)) < 0 ||
        (rc = api_order_by(req->msg, target, &order, &q.norder, err)) < 0)
        goto done;
    q.filter = filter;
    q.order = order;
    q.page_token = token && *token ? token : NULL;
    rc = target == FILTER_TARGET_REGISTERED_MODELS
             ? store_registered_model_search(env->store, &q, &list, &next, err)
             : store_model_version_search(env->store, &q, &list, &next, err);
done:
    filter_free(filter);
    api_order_free(order, q.norder);
    if (rc < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    if (cJSON_GetArraySize(list) > 0)
        cJSON_AddItemToObject(resp->json, list_name, list);
    else
        cJSON_Delete(list);
    if (next) {
        cJSON_AddStringToObject(resp->json, "next_page_token", next);
        free(next);
    }
    return 0;
}

HANDLER(model_search)
{
    return search(env, req, resp, err, FILTER_TARGET_REGISTERED_MODELS, 100, 1000,
                  "registered_models");
}

HANDLER(model_latest_versions)
{
    const char *name;
    const cJSON *stages = NULL;
    int rc = model_name(req->msg, "name", &name, err);
    if (rc < 0 || (rc = cap_json_get_array(req->msg, "stages", false, &stages, err)) < 0)
        return rc;
    int n = cap_json_array_size(stages);
    const char **canon = cap_xcalloc((size_t)n + 1, sizeof *canon);
    int i = 0;
    for (const cJSON *s = cap_json_array_first(stages); s && rc >= 0;
         s = cap_json_array_next(stages, s), i++)
        rc = store_stage_check(cJSON_IsString(s) ? s->valuestring : NULL, &canon[i], err);
    cJSON *list = NULL;
    if (rc >= 0)
        rc = store_registered_model_latest_versions(env->store, name, canon, (size_t)n, &list, err);
    free(canon);
    if (rc < 0)
        return rc;
    resp->json = api_wrap("model_versions", list);
    return 0;
}

/* ---------------- aliases ---------------- */

HANDLER(alias_set)
{
    const char *name, *alias, *version;
    int rc = name_version(req->msg, &name, &version, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "alias", true, &alias, err)) < 0 ||
        (rc = registry_check_alias(alias, err)) < 0)
        return rc;
    return store_alias_set(env->store, name, alias, version, err);
}

HANDLER(alias_delete)
{
    const char *name, *alias;
    int rc = model_name(req->msg, "name", &name, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "alias", true, &alias, err)) < 0 ||
        (rc = registry_check_alias(alias, err)) < 0)
        return rc;
    return store_alias_delete(env->store, name, alias, err);
}

HANDLER(alias_get)
{
    const char *name, *alias;
    cJSON *out = NULL;
    int rc = model_name(req->msg, "name", &name, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "alias", true, &alias, err)) < 0 ||
        (rc = registry_check_alias(alias, err)) < 0 ||
        (rc = store_alias_get(env->store, name, alias, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("model_version", out);
    return 0;
}

/* ---------------- versions ---------------- */

HANDLER(version_create)
{
    struct store_model_version_create in = {0};
    struct registry_source src;
    struct cap_kv *tags = NULL;
    char *uri = NULL, *relpath = NULL, *failure = NULL, *meta_text = NULL, *source_run = NULL;
    cJSON *meta = NULL, *out = NULL;
    int rc = model_name(req->msg, "name", &in.name, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "source", true, &in.source, err)) < 0)
        return rc;
    if ((rc = registry_parse_source(in.source, "model version source", &src, err)) < 0)
        return rc;
    if ((rc = cap_json_get_str(req->msg, "run_id", false, &in.run_id, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "run_link", false, &in.run_link, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "description", false, &in.description, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "model_id", false, &in.model_id, err)) < 0 ||
        (rc = api_kv_list(req->msg, "tags", "tag", &tags, &in.ntags, err)) < 0)
        goto done;
    if (in.run_id && !*in.run_id)
        in.run_id = NULL;
    if (in.run_id && (rc = validate_run_id(in.run_id, err)) < 0)
        goto done;
    if (src.kind == REGISTRY_SOURCE_RUN && !in.run_id)
        in.run_id = src.id;
    if (src.kind == REGISTRY_SOURCE_LOGGED_MODEL && (!in.model_id || !*in.model_id))
        in.model_id = src.id;
    in.tags = tags;
    if ((rc = api_artifact_source(env, &src, "model version source", in.source, &uri, &relpath,
                                   &source_run, err)) < 0)
        goto done;
    if (!in.run_id && source_run)
        in.run_id = source_run;
    registry_inspect_model(env->blob, relpath, &meta, &failure);
    if (meta) {
        cJSON_AddStringToObject(meta, "storage_location", uri);
        meta_text = cap_json_print(meta);
    } else {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "storage_location", uri);
        meta_text = cap_json_print(m);
        cJSON_Delete(m);
    }
    in.metadata_json = meta_text;
    in.status = failure ? "FAILED_REGISTRATION" : "READY";
    in.status_message = failure;
    if ((rc = store_model_version_create(env->store, &in, &out, err)) < 0)
        goto done;
    resp->json = api_wrap("model_version", out);
done:
    registry_source_clear(&src);
    free(tags);
    free(uri);
    free(relpath);
    free(failure);
    free(meta_text);
    free(source_run);
    cJSON_Delete(meta);
    return rc < 0 ? rc : 0;
}

HANDLER(version_get)
{
    const char *name, *version;
    cJSON *out = NULL;
    int rc = name_version(req->msg, &name, &version, err);
    if (rc < 0 || (rc = store_model_version_get(env->store, name, version, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("model_version", out);
    return 0;
}

HANDLER(version_update)
{
    const char *name, *version, *desc = NULL;
    cJSON *out = NULL;
    int rc = name_version(req->msg, &name, &version, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "description", false, &desc, err)) < 0 ||
        (rc = store_model_version_update(env->store, name, version, desc, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("model_version", out);
    return 0;
}

HANDLER(version_delete)
{
    const char *name, *version;
    int rc = name_version(req->msg, &name, &version, err);
    return rc < 0 ? rc : store_model_version_delete(env->store, name, version, err);
}

HANDLER(version_transition)
{
    const char *name, *version, *stage, *canon;
    bool archive = false;
    cJSON *out = NULL;
    int rc = name_version(req->msg, &name, &version, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "stage", true, &stage, err)) < 0 ||
        (rc = store_stage_check(stage, &canon, err)) < 0 ||
        (rc = cap_json_get_bool(req->msg, "archive_existing_versions", false, &archive, err)) < 0)
        return rc;
    if ((rc = store_model_version_transition(env->store, name, version, canon, archive, &out,
                                             err)) < 0)
        return rc;
    resp->json = api_wrap("model_version", out);
    return 0;
}

HANDLER(version_set_tag)
{
    const char *name, *version;
    struct cap_kv kv;
    int rc = name_version(req->msg, &name, &version, err);
    if (rc < 0 || (rc = api_kv_one(req->msg, "tag", "tag", &kv, err)) < 0)
        return rc;
    return store_model_version_set_tag(env->store, name, version, kv.key, kv.value, err);
}

HANDLER(version_delete_tag)
{
    const char *name, *version, *key;
    int rc = name_version(req->msg, &name, &version, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "key", true, &key, err)) < 0)
        return rc;
    return store_model_version_delete_tag(env->store, name, version, key, err);
}

HANDLER(version_search)
{
    return search(env, req, resp, err, FILTER_TARGET_MODEL_VERSIONS, 10000, 200000,
                  "model_versions");
}

/* Where the version's files are: the artifact location resolved when it was
 * registered (a logged model's or run's artifacts), never a client path. */
HANDLER(version_download_uri)
{
    const char *name, *version;
    cJSON *mv = NULL, *meta = NULL;
    int rc = name_version(req->msg, &name, &version, err);
    if (rc < 0 || (rc = store_model_version_get(env->store, name, version, &mv, err)) < 0)
        return rc;
    if ((rc = store_model_version_metadata(env->store, name, version, &meta, err)) < 0) {
        cJSON_Delete(mv);
        return rc;
    }
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(meta, "storage_location");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(mv, "source");
    const char *uri = cJSON_IsString(loc)   ? loc->valuestring
                      : cJSON_IsString(src) ? src->valuestring
                                            : "";
    resp->json = api_wrap("artifact_uri", cJSON_CreateString(uri));
    cJSON_Delete(mv);
    cJSON_Delete(meta);
    return 0;
}

#define P "/api/2.0/mlflow/"
#define J API_BODY_JSON
const struct api_route api_registry_routes[] = {
    {"POST", P "registered-models/create", J, model_create, NULL},
    {"GET", P "registered-models/get", J, model_get, NULL},
    {"PATCH", P "registered-models/update", J, model_update, NULL},
    {"POST", P "registered-models/rename", J, model_rename, NULL},
    {"DELETE", P "registered-models/delete", J, model_delete, NULL},
    {"GET", P "registered-models/search", J, model_search, NULL},
    {"POST", P "registered-models/search", J, model_search, NULL},
    {"POST", P "registered-models/set-tag", J, model_set_tag, NULL},
    {"DELETE", P "registered-models/delete-tag", J, model_delete_tag, NULL},
    {"POST", P "registered-models/get-latest-versions", J, model_latest_versions, NULL},
    {"GET", P "registered-models/get-latest-versions", J, model_latest_versions, NULL},
    {"POST", P "registered-models/alias", J, alias_set, NULL},
    {"DELETE", P "registered-models/alias", J, alias_delete, NULL},
    {"GET", P "registered-models/alias", J, alias_get, NULL},
    {"POST", P "model-versions/create", J, version_create, NULL},
    {"GET", P "model-versions/get", J, version_get, NULL},
    {"PATCH", P "model-versions/update", J, version_update, NULL},
    {"DELETE", P "model-versions/delete", J, version_delete, NULL},
    {"GET", P "model-versions/search", J, version_search, NULL},
    {"POST", P "model-versions/search", J, version_search, NULL},
    {"POST", P "model-versions/transition-stage", J, version_transition, NULL},
    {"GET", P "model-versions/get-download-uri", J, version_download_uri, NULL},
    {"POST", P "model-versions/set-tag", J, version_set_tag, NULL},
    {"DELETE", P "model-versions/delete-tag", J, version_delete_tag, NULL},
    {NULL, NULL, J, NULL, NULL},
};
