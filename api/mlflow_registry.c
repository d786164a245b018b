/* mlflow_registry.c - MLflow REST API 2.0, model registry part: registered
 * models, versions, stages, aliases, tags, download URIs. Version sources are
 * accepted by MLflow's rules (registry/source.c); only those in Capstan's own
 * artifact store are read, and ONNX models there are inspected at
 * registration (an unreadable one is FAILED_REGISTRATION). Any other source
 * is recorded as not servable, with the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/common.h"
#include "base/buf.h"
#include "base/json.h"
#include "blob/blob.h"
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

static bool is_prompt(const struct cap_kv *tags, size_t ntags)
{
    for (size_t i = 0; i < ntags; i++)
        if (strcmp(tags[i].key, "mlflow.prompt.is_prompt") == 0)
            return true;
    return false;
}

/* MLflow's rules on the request as sent: a local source must lie in the
 * local artifact location of the run, or of the logged model, it names. */
static int check_source(const struct api_env *env, const struct store_model_version_create *in,
                        bool prompt, char **local_path, struct cap_error *err)
{
    bool local;
    int rc = registry_check_source_rules(in->source, prompt, &local, err);
    if (rc < 0 || !local)
        return rc;
    bool by_model = in->model_id != NULL;
    const char *id = by_model ? in->model_id : in->run_id;
    cJSON *owner = NULL;
    if (id && (rc = by_model ? store_logged_model_get(env->store, id, &owner, err)
                             : store_run_get(env->store, id, &owner, err)) < 0)
        return rc;
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(owner, "info"), "artifact_uri");
    rc = registry_check_local_source(in->source, cJSON_IsString(loc) ? loc->valuestring : NULL,
                                     by_model, local_path, err);
    cJSON_Delete(owner);
    return rc;
}

/* What is recorded for a source Capstan does not read: it is kept as MLflow
 * keeps it (the download URI is the source itself), and not servable. */
static cJSON *unread(const char *source, const char *why)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "storage_location", source);
    cJSON_AddBoolToObject(m, "servable", false);
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_printf(&b, "Capstan reads models only from its own artifact store: %s", why);
    cJSON_AddStringToObject(m, "reason", b.data);
    cap_buf_free(&b);
    return m;
}

/* models:/<name>/<version>, as MLflow's copy_model_version sends: the new
 * version lies where that one does, and so keeps what was found there.
 * Returns 1 when source is not of that form. */
static int copy_location(const struct api_env *env, const char *source, cJSON **meta,
                         struct cap_error *err)
{
    static const char pre[] = "models:/";
    if (strncmp(source, pre, sizeof pre - 1) != 0)
        return 1;
    const char *name = source + sizeof pre - 1, *slash = strchr(name, '/');
    if (slash == name || !slash || !slash[1] || strspn(slash + 1, "0123456789") != strlen(slash + 1))
        return 1;
    char *n = cap_xstrndup(name, (size_t)(slash - name));
    cJSON *mv = NULL;
    int rc = store_model_version_get(env->store, n, slash + 1, &mv, err);
    if (rc == 0 && (rc = store_model_version_metadata(env->store, n, slash + 1, meta, err)) == 0 &&
        !*meta) {
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(mv, "source");
        *meta = cJSON_CreateObject();
        cJSON_AddStringToObject(*meta, "storage_location", cJSON_IsString(src) ? src->valuestring : "");
    }
    free(n);
    cJSON_Delete(mv);
    if (rc < 0) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return cap_err(err, err->code, "Unable to fetch model from model URI source artifact "
                       "location '%.200s': %s", source, why);
    }
    return 0;
}

struct located {
    cJSON *meta;      /* the version's metadata_json */
    char *failure;    /* an ONNX file that is not a model: FAILED_REGISTRATION */
    char *run_id;     /* the run whose artifacts hold it, when the source says */
    char *model_id;   /* the logged model the source names */
};

/* Where the version's files lie, when that is in Capstan's artifact store
 * (a local path inside it counts): then they are inspected, once the caller
 * (--auth) is found to may read them: registering a version would otherwise
 * hand its files to whoever may read the model. Anything else is recorded,
 * never read. */
static int locate(const struct api_env *env, const struct auth_user *user, const char *source,
                  const char *local_path, struct located *out, struct cap_error *err)
{
    int rc = copy_location(env, source, &out->meta, err);
    if (rc <= 0)
        return rc;
    char *mapped = NULL, *uri = NULL, *relpath = NULL;
    if (local_path) {
        char *rel = registry_path_under(blob_root(env->blob), local_path);
        if (!rel) {
            out->meta = unread(source, "a local path outside Capstan's artifact store");
            return 0;
        }
        struct cap_buf b;
        cap_buf_init(&b);
        cap_buf_printf(&b, "mlflow-artifacts:/%s", rel);
        free(rel);
        mapped = cap_buf_steal(&b);
    }
    const char *where = mapped ? mapped : source;
    struct registry_source src = {0};
    struct cap_error why;
    if (registry_parse_source(where, "model version source", &src, &why) < 0) {
        free(mapped);
        if (strncmp(source, "models:/", 8) == 0) /* MLflow cannot find those either */
            return cap_err(err, CAP_EINVAL, "Unable to fetch model from model URI source "
                           "artifact location '%.200s': %s", source, why.msg);
        out->meta = unread(source, why.msg);
        return 0;
    }
    rc = api_artifact_source(env, &src, "model version source", where, &uri, &relpath,
                             &out->run_id, &why);
    if (rc == -CAP_EINVAL && src.kind == REGISTRY_SOURCE_RUN) {
        out->meta = unread(source, why.msg); /* no such run here, or its artifacts are elsewhere */
        rc = 0;
    } else if (rc < 0) {
        *err = why;
    } else if ((rc = api_access_artifact(env, user, relpath, AUTH_NEED_READ, err)) == 0) {
        if (src.kind == REGISTRY_SOURCE_RUN)
            out->run_id = cap_xstrdup(src.id);
        else if (src.kind == REGISTRY_SOURCE_LOGGED_MODEL)
            out->model_id = cap_xstrdup(src.id);
        registry_inspect_model(env->blob, relpath, &out->meta, &out->failure);
        if (!out->meta)
            out->meta = cJSON_CreateObject();
        cJSON_AddStringToObject(out->meta, "storage_location", uri);
    }
    registry_source_clear(&src);
    free(mapped);
    free(uri);
    free(relpath);
    return rc;
}

/* MLflow: a version registered from a logged model without a run_id takes
 * the run that produced the model (404 when there is no such model). */
static int model_run(const struct api_env *env, const char *model_id, char **run_id,
                     struct cap_error *err)
{
    cJSON *m = NULL;
    int rc = store_logged_model_get(env->store, model_id, &m, err);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "info"),
                                                      "source_run_id");
    if (rc == 0 && cJSON_IsString(r) && *r->valuestring)
        *run_id = cap_xstrdup(r->valuestring);
    cJSON_Delete(m);
    return rc;
}

HANDLER(version_create)
{
    struct store_model_version_create in = {0};
    struct located at = {0};
    struct cap_kv *tags = NULL;
    char *local_path = NULL, *meta_text = NULL, *model_run_id = NULL;
    cJSON *out = NULL;
    int rc = model_name(req->msg, "name", &in.name, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "source", true, &in.source, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "run_id", false, &in.run_id, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "run_link", false, &in.run_link, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "description", false, &in.description, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "model_id", false, &in.model_id, err)) < 0 ||
        (rc = api_kv_list(req->msg, "tags", "tag", &tags, &in.ntags, err)) < 0)
        goto done;
    in.tags = tags;
    if (in.run_id && !*in.run_id)
        in.run_id = NULL;
    if (in.model_id && !*in.model_id)
        in.model_id = NULL;
    if ((in.run_id && (rc = validate_run_id(in.run_id, err)) < 0) ||
        (rc = check_source(env, &in, is_prompt(tags, in.ntags), &local_path, err)) < 0 ||
        (rc = locate(env, req->user, in.source, local_path, &at, err)) < 0)
        goto done;
    if (!in.model_id)
        in.model_id = at.model_id;
    if (!in.run_id)
        in.run_id = at.run_id;
    if (!in.run_id && in.model_id && (rc = model_run(env, in.model_id, &model_run_id, err)) < 0)
        goto done;
    if (!in.run_id)
        in.run_id = model_run_id;
    in.metadata_json = meta_text = cap_json_print(at.meta);
    in.status = at.failure ? "FAILED_REGISTRATION" : "READY";
    in.status_message = at.failure;
    if ((rc = store_model_version_create(env->store, &in, &out, err)) < 0)
        goto done;
    resp->json = api_wrap("model_version", out);
done:
    free(tags);
    free(local_path);
    free(meta_text);
    free(model_run_id);
    cJSON_Delete(at.meta);
    free(at.failure);
    free(at.run_id);
    free(at.model_id);
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
    char *uri = NULL;
    int rc = name_version(req->msg, &name, &version, err);
    if (rc < 0 || (rc = api_version_location(env, name, version, &uri, err)) < 0)
        return rc;
    resp->json = api_wrap("artifact_uri", cJSON_CreateString(uri));
    free(uri);
    return 0;
}

#define P "/api/2.0/mlflow/"
#define J API_BODY_JSON
const struct api_route api_registry_routes[] = {
    {"POST", P "registered-models/create", J, model_create, NULL, API_ACCESS_AFTER(USER, NONE, GRANT_MODEL)},
    {"GET", P "registered-models/get", J, model_get, NULL, API_ACCESS(MODEL, READ)},
    {"PATCH", P "registered-models/update", J, model_update, NULL, API_ACCESS(MODEL, UPDATE)},
    {"POST", P "registered-models/rename", J, model_rename, NULL, API_ACCESS_AFTER(MODEL, UPDATE, RENAME_MODEL)},
    {"DELETE", P "registered-models/delete", J, model_delete, NULL, API_ACCESS_AFTER(MODEL, DELETE, DELETE_MODEL)},
    {"GET", P "registered-models/search", J, model_search, NULL, API_ACCESS_AFTER(USER, NONE, FILTER_MODELS)},
    {"POST", P "registered-models/search", J, model_search, NULL, API_ACCESS_AFTER(USER, NONE, FILTER_MODELS)},
    {"POST", P "registered-models/set-tag", J, model_set_tag, NULL, API_ACCESS(MODEL, UPDATE)},
    {"DELETE", P "registered-models/delete-tag", J, model_delete_tag, NULL, API_ACCESS(MODEL, DELETE)},
    {"POST", P "registered-models/get-latest-versions", J, model_latest_versions, NULL, API_ACCESS(MODEL, READ)},
    {"GET", P "registered-models/get-latest-versions", J, model_latest_versions, NULL, API_ACCESS(MODEL, READ)},
    {"POST", P "registered-models/alias", J, alias_set, NULL, API_ACCESS(MODEL, UPDATE)},
    {"DELETE", P "registered-models/alias", J, alias_delete, NULL, API_ACCESS(MODEL, DELETE)},
    {"GET", P "registered-models/alias", J, alias_get, NULL, API_ACCESS(MODEL, READ)},
    {"POST", P "model-versions/create", J, version_create, NULL, API_ACCESS(MODEL, UPDATE)},
    {"GET", P "model-versions/get", J, version_get, NULL, API_ACCESS(MODEL, READ)},
    {"PATCH", P "model-versions/update", J, version_update, NULL, API_ACCESS(MODEL, UPDATE)},
    {"DELETE", P "model-versions/delete", J, version_delete, NULL, API_ACCESS(MODEL, DELETE)},
    {"GET", P "model-versions/search", J, version_search, NULL, API_ACCESS_AFTER(USER, NONE, FILTER_VERSIONS)},
    {"POST", P "model-versions/search", J, version_search, NULL, API_ACCESS_AFTER(USER, NONE, FILTER_VERSIONS)},
    {"POST", P "model-versions/transition-stage", J, version_transition, NULL, API_ACCESS(MODEL, UPDATE)},
    {"GET", P "model-versions/get-download-uri", J, version_download_uri, NULL, API_ACCESS(MODEL, READ)},
    {"POST", P "model-versions/set-tag", J, version_set_tag, NULL, API_ACCESS(MODEL, UPDATE)},
    {"DELETE", P "model-versions/delete-tag", J, version_delete_tag, NULL, API_ACCESS(MODEL, DELETE)},
    {NULL, NULL, J, NULL, NULL},
};
