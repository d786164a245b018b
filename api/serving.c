/* serving.c - deployments under /api/2.0/capstan/deployments (create, list,
 * get, update, delete, promote, rollback), the prediction log query, and
 * Prometheus' /metrics. Specs are checked by serve/ and stored by store/;
 * after every change the serving side is brought in step before the answer
 * goes out, so the answer's status is already the new one. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/common.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/metrics.h"
#include "base/util.h"
#include "blob/blob.h"
#include "monitor/predlog.h"
#include "payload/payload.h"
#include "serve/serve.h"
#include "store/store.h"

static int need_serving(const struct api_env *env, struct cap_error *err)
{
    if (!env->serve || !env->store)
        return cap_err(err, CAP_ENOTIMPL, "Serving is not enabled in this process");
    return 0;
}

/* D = the spec's fields, name, timestamps, and the live status. */
static cJSON *deployment_json(const struct api_env *env, const cJSON *stored)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(stored, "name");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(stored, "spec");
    cJSON_AddStringToObject(o, "name", cJSON_IsString(name) ? name->valuestring : "");
    const cJSON *f;
    cJSON_ArrayForEach(f, spec)
        cJSON_AddItemToObject(o, f->string, cJSON_Duplicate(f, 1));
    cJSON_AddItemToObject(o, "spec", cJSON_Duplicate(spec, 1));
    cJSON_AddItemToObject(o, "created_at",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(stored, "created_at"), 1));
    cJSON_AddItemToObject(o, "updated_at",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(stored, "updated_at"), 1));
    cJSON *st = env->serve && cJSON_IsString(name) ? serve_status(env->serve, name->valuestring)
                                                   : NULL;
    cJSON_AddItemToObject(o, "status", st ? st : cJSON_CreateObject());
    return o;
}

/* Checks that every model the spec names can be resolved now, so a typo is
 * a 404 at once instead of a deployment that never becomes ready; with
 * --auth, that the caller may read each (serving a model is reading it). */
static int check_refs(const struct api_env *env, const struct api_request *req,
                      const cJSON *spec, struct cap_error *err)
{
    static const char *const keys[] = {"model", "canary", "shadow"};
    struct serve_store_source src = {.store = env->store, .blob = env->blob};
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, keys[i]);
        if (!cJSON_IsString(v))
            continue;
        char *n, *a, *ver, *resolved = NULL;
        int rc = serve_parse_ref(v->valuestring, &n, &a, &ver, err);
        if (rc == 0 && req->user && env->auth)
            rc = auth_check(env->auth, req->user, AUTH_KIND_MODEL, n, AUTH_NEED_READ, err);
        if (rc == 0)
            rc = serve_store_ops.resolve(&src, n, a, ver, &resolved, err);
        free(n);
        free(a);
        free(ver);
        free(resolved);
        if (rc < 0) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            return cap_err(err, err->code, "Field '%s' (%s): %s", keys[i], v->valuestring, msg);
        }
    }
    return 0;
}

static int store_and_answer(const struct api_env *env, const struct api_request *req,
                            const char *name, const cJSON *spec, bool create,
                            struct api_response *resp, struct cap_error *err)
{
    cJSON *canon = NULL;
    int rc = serve_spec_check(spec, &canon, err);
    if (rc < 0)
        return rc;
    if ((rc = check_refs(env, req, canon, err)) < 0) {
        cJSON_Delete(canon);
        return rc;
    }
    char *text = cJSON_PrintUnformatted(canon);
    cJSON_Delete(canon);
    cJSON *stored = NULL;
    rc = create ? store_deployment_create(env->store, name, text, &stored, err)
                : store_deployment_update(env->store, name, text, &stored, err);
    free(text);
    if (rc < 0)
        return rc;
    serve_sync(env->serve);
    resp->json = api_wrap("deployment", deployment_json(env, stored));
    cJSON_Delete(stored);
    return 0;
}

static int dep_create(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp, struct cap_error *err)
{
    int rc;
    const char *name;
    if ((rc = need_serving(env, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "name", true, &name, err)) < 0)
        return rc;
    cJSON *spec = cJSON_Duplicate(req->msg, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "name");
    rc = store_and_answer(env, req, name, spec, true, resp, err);
    cJSON_Delete(spec);
    return rc;
}

static int dep_list(const struct api_env *env, const struct api_request *req,
                    struct api_response *resp, struct cap_error *err)
{
    int rc;
    cJSON *list = NULL;
    if ((rc = need_serving(env, err)) < 0 ||
        (rc = store_deployment_list(env->store, &list, err)) < 0)
        return rc;
    cJSON *out = cJSON_CreateArray();
    const cJSON *d;
    cJSON_ArrayForEach(d, list)
        cJSON_AddItemToArray(out, deployment_json(env, d));
    cJSON_Delete(list);
    resp->json = api_wrap("deployments", out);
    return 0;
}

static int dep_get(const struct api_env *env, const struct api_request *req,
                   struct api_response *resp, struct cap_error *err)
{
    int rc;
    cJSON *d = NULL;
    if ((rc = need_serving(env, err)) < 0 ||
        (rc = store_deployment_get(env->store, req->params[0], &d, err)) < 0)
        return rc;
    resp->json = api_wrap("deployment", deployment_json(env, d));
    cJSON_Delete(d);
    return 0;
}

/* PATCH: the fields given replace the stored ones; null removes one. */
static int dep_update(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp, struct cap_error *err)
{
    int rc;
    cJSON *d = NULL;
    if ((rc = need_serving(env, err)) < 0 ||
        (rc = store_deployment_get(env->store, req->params[0], &d, err)) < 0)
        return rc;
    cJSON *spec = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(d, "spec"), 1);
    cJSON_Delete(d);
    const cJSON *f;
    cJSON_ArrayForEach(f, req->msg)
    {
        if (strcmp(f->string, "name") == 0) {
            if (!cJSON_IsString(f) || strcmp(f->valuestring, req->params[0]) != 0) {
                cJSON_Delete(spec);
                return cap_err(err, CAP_EINVAL, "A deployment cannot be renamed");
            }
            continue;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(spec, f->string);
        if (!cJSON_IsNull(f))
            cJSON_AddItemToObject(spec, f->string, cJSON_Duplicate(f, 1));
    }
    /* Dropping the canary drops its weight too. */
    if (!cJSON_GetObjectItemCaseSensitive(spec, "canary"))
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "canary_weight");
    rc = store_and_answer(env, req, req->params[0], spec, false, resp, err);
    cJSON_Delete(spec);
    return rc;
}

static int dep_delete(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp, struct cap_error *err)
{
    int rc;
    if ((rc = need_serving(env, err)) < 0 ||
        (rc = store_deployment_delete(env->store, req->params[0], err)) < 0)
        return rc;
    serve_sync(env->serve);
    resp->json = cJSON_CreateObject();
    return 0;
}

/* promote: the canary becomes the model (100% of traffic); without a
 * canary, a deployment pinned by rollback follows its reference again.
 * rollback: the canary is dropped (0%); without one, the deployment is
 * pinned to the version it served before (still loaded, so instant). */
static int dep_move(const struct api_env *env, const struct api_request *req,
                    struct api_response *resp, struct cap_error *err, bool promote)
{
    int rc;
    cJSON *d = NULL;
    const char *name = req->params[0];
    if ((rc = need_serving(env, err)) < 0 ||
        (rc = store_deployment_get(env->store, name, &d, err)) < 0)
        return rc;
    cJSON *spec = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(d, "spec"), 1);
    cJSON_Delete(d);
    const cJSON *canary = cJSON_GetObjectItemCaseSensitive(spec, "canary");
    const cJSON *pinned = cJSON_GetObjectItemCaseSensitive(spec, "pinned_from");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(spec, "model");
    if (promote && cJSON_IsString(canary)) {
        cJSON_ReplaceItemInObjectCaseSensitive(spec, "model", cJSON_Duplicate(canary, 1));
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "canary");
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "canary_weight");
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "pinned_from");
    } else if (promote && cJSON_IsString(pinned)) {
        cJSON_ReplaceItemInObjectCaseSensitive(spec, "model", cJSON_Duplicate(pinned, 1));
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "pinned_from");
    } else if (promote) {
        cJSON_Delete(spec);
        return cap_err(err, CAP_EINVAL,
                       "Deployment '%s' has nothing to promote: it has no canary and is not "
                       "rolled back",
                       name);
    } else if (cJSON_IsString(canary)) {
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "canary");
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "canary_weight");
    } else {
        char *prev = serve_previous_version(env->serve, name);
        if (!prev) {
            cJSON_Delete(spec);
            return cap_err(err, CAP_EINVAL,
                           "Deployment '%s' has no previous version to roll back to", name);
        }
        if (!cJSON_IsString(pinned) && cJSON_IsString(model))
            cJSON_AddStringToObject(spec, "pinned_from", model->valuestring);
        cJSON_ReplaceItemInObjectCaseSensitive(spec, "model", cJSON_CreateString(prev));
        free(prev);
    }
    rc = store_and_answer(env, req, name, spec, false, resp, err);
    cJSON_Delete(spec);
    return rc;
}

static int dep_promote(const struct api_env *env, const struct api_request *req,
                       struct api_response *resp, struct cap_error *err)
{
    return dep_move(env, req, resp, err, true);
}

static int dep_rollback(const struct api_env *env, const struct api_request *req,
                        struct api_response *resp, struct cap_error *err)
{
    return dep_move(env, req, resp, err, false);
}

static int predictions(const struct api_env *env, const struct api_request *req,
                       struct api_response *resp, struct cap_error *err)
{
    int rc, has_id;
    const char *dep = NULL, *token = NULL;
    int64_t since = 0, since_id = -1;
    int max = 0;
    if (!env->store)
        return cap_err(err, CAP_ENOTIMPL, "The prediction log is kept by the registry server");
    if ((rc = cap_json_get_str(req->msg, "deployment", false, &dep, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "page_token", false, &token, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "since", false, &since, err)) < 0 ||
        (rc = has_id = cap_json_get_i64(req->msg, "since_id", false, &since_id, err)) < 0 ||
        (rc = api_max_results(req->msg, 1000, 10000, &max, err)) < 0)
        return rc;
    /* since_id: the last id the reader has seen; it gets the rows after it */
    if (has_id == 0 && since_id < 0)
        return cap_err(err, CAP_EINVAL,
                       "Field 'since_id' must be the id of a logged prediction (0 or more), "
                       "got %" PRId64, since_id);
    predlog_flush(env->log);
    cJSON *rows = NULL;
    char *next = NULL;
    if ((rc = store_predictions_search(env->store, dep, since, since_id, max, token,
                                       payload_log_unpack, &rows, &next, err)) < 0)
        return rc;
    resp->json = api_wrap("predictions", rows);
    if (next)
        cJSON_AddStringToObject(resp->json, "next_page_token", next);
    free(next);
    return 0;
}

/* Replicas (`capstan serve`) send their prediction log here in batches. */
static int predictions_log(const struct api_env *env, const struct api_request *req,
                           struct api_response *resp, struct cap_error *err)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(req->msg, "predictions");
    if (!env->store)
        return cap_err(err, CAP_ENOTIMPL, "The prediction log is kept by the registry server");
    if (!cJSON_IsArray(rows))
        return cap_err(err, CAP_EINVAL, "Field 'predictions' must be a list of predictions");
    int n = cJSON_GetArraySize(rows), i = 0, rc = 0;
    struct store_prediction *out = cap_xcalloc((size_t)(n ? n : 1), sizeof *out);
    unsigned char **packs = cap_xcalloc((size_t)(2 * n + 1), sizeof *packs);
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        struct store_prediction *p = &out[i];
        const char *role = NULL;
        int64_t ts = 0, lat = 0;
        bool agree = false;
        int has_agree;
        if ((rc = cap_json_get_str(r, "deployment", true, &p->deployment, err)) < 0 ||
            (rc = cap_json_get_str(r, "model_name", true, &p->model_name, err)) < 0 ||
            (rc = cap_json_get_str(r, "model_version", true, &p->model_version, err)) < 0 ||
            (rc = cap_json_get_str(r, "role", true, &role, err)) < 0 ||
            (rc = cap_json_get_str(r, "request_id", false, &p->request_id, err)) < 0 ||
            (rc = cap_json_get_i64(r, "timestamp", true, &ts, err)) < 0 ||
            (rc = cap_json_get_i64(r, "latency_us", false, &lat, err)) < 0 ||
            (rc = has_agree = cap_json_get_bool(r, "agree", false, &agree, err)) < 0)
            goto done;
        if (strcmp(role, "primary") != 0 && strcmp(role, "canary") != 0 &&
            strcmp(role, "shadow") != 0) {
            rc = cap_err(err, CAP_EINVAL, "Field 'role' must be primary, canary or shadow");
            goto done;
        }
        p->role = role;
        p->timestamp_ms = ts;
        p->latency_us = lat;
        p->agree = has_agree == 0 ? agree : -1;
        /* the replica sends serve/'s log packs, base64 */
        const char *in64 = NULL, *out64 = NULL;
        if ((rc = cap_json_get_str(r, "inputs_pack", true, &in64, err)) < 0 ||
            (rc = cap_json_get_str(r, "outputs_pack", true, &out64, err)) < 0)
            goto done;
        packs[2 * i] = cap_base64_decode(in64, &p->inputs_len);
        packs[2 * i + 1] = cap_base64_decode(out64, &p->outputs_len);
        if (!packs[2 * i] || !packs[2 * i + 1]) {
            rc = cap_err(err, CAP_EINVAL, "Fields 'inputs_pack' and 'outputs_pack' must be base64");
            goto done;
        }
        p->inputs = packs[2 * i];
        p->outputs = packs[2 * i + 1];
        i++;
    }
    rc = store_predictions_log(env->store, out, (size_t)n, err);
done:
    for (int k = 0; k < 2 * n; k++)
        free(packs[k]);
    free(packs);
    free(out);
    if (rc == 0)
        resp->json = cJSON_CreateObject();
    return rc;
}

static int metrics_text(const struct api_env *env, const struct api_request *req,
                        struct api_response *resp, struct cap_error *err)
{
    if (!env->metrics)
        return cap_err(err, CAP_ENOTIMPL, "Metrics are not enabled in this process");
    if (env->log) {
        metrics_set(metrics_series(env->metrics, "capstan_prediction_log_dropped_total", ""),
                    (double)predlog_dropped(env->log));
        metrics_set(metrics_series(env->metrics, "capstan_prediction_log_written_total", ""),
                    (double)predlog_written(env->log));
    }
    if (env->serve) {
        cJSON *all = serve_status(env->serve, NULL);
        const cJSON *d;
        cJSON_ArrayForEach(d, all)
        {
            const cJSON *primary = cJSON_GetObjectItemCaseSensitive(d, "primary");
            struct cap_buf l;
            cap_buf_init(&l);
            metrics_label(&l, "deployment", cJSON_GetObjectItemCaseSensitive(d, "name")->valuestring);
            metrics_set(metrics_series(env->metrics, "capstan_deployment_ready", l.data),
                        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(primary, "ready")) ? 1 : 0);
            cap_buf_free(&l);
        }
        cJSON_Delete(all);
    }
    struct cap_buf b;
    cap_buf_init(&b);
    metrics_render(env->metrics, &b);
    resp->raw_len = b.len;
    resp->raw = cap_buf_steal(&b);
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return 0;
}

/* The ONNX file of a model version, as the registry validated it at
 * registration: what `capstan serve --registry` loads. */
static int model_file(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp, struct cap_error *err)
{
    int rc;
    const char *name, *version;
    cJSON *meta = NULL;
    if ((rc = cap_json_get_str(req->msg, "name", true, &name, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "version", true, &version, err)) < 0 ||
        (rc = store_model_version_metadata(env->store, name, version, &meta, err)) < 0)
        return rc;
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(meta, "file");
    if (!cJSON_IsString(file)) {
        cJSON_Delete(meta);
        return cap_err(err, CAP_ENOTFOUND, "Model version %s/%s has no ONNX model file", name,
                       version);
    }
    int fd = -1;
    uint64_t size = 0;
    rc = blob_open_read(env->blob, file->valuestring, &fd, &size, err);
    cJSON_Delete(meta);
    if (rc < 0)
        return rc;
    resp->fd = fd;
    resp->fd_size = size;
    return 0;
}

#define D "/api/2.0/capstan/deployments"
const struct api_route api_serving_routes[] = {
    {"POST", D, API_BODY_JSON, dep_create, NULL, API_ACCESS_AFTER(USER, NONE, GRANT_DEPLOYMENT)},
    {"GET", D, API_BODY_JSON, dep_list, NULL, API_ACCESS_AFTER(USER, NONE, FILTER_DEPLOYMENTS)},
    {"GET", D "/{name}", API_BODY_JSON, dep_get, NULL, API_ACCESS(DEPLOYMENT, READ)},
    {"PATCH", D "/{name}", API_BODY_JSON, dep_update, NULL, API_ACCESS(DEPLOYMENT, UPDATE)},
    {"DELETE", D "/{name}", API_BODY_JSON, dep_delete, NULL,
     API_ACCESS_AFTER(DEPLOYMENT, DELETE, DELETE_DEPLOYMENT)},
    {"POST", D "/{name}/promote", API_BODY_JSON, dep_promote, NULL, API_ACCESS(DEPLOYMENT, UPDATE)},
    {"POST", D "/{name}/rollback", API_BODY_JSON, dep_rollback, NULL,
     API_ACCESS(DEPLOYMENT, UPDATE)},
    {"GET", "/api/2.0/capstan/predictions", API_BODY_JSON, predictions, NULL,
     API_ACCESS_AFTER(DEPLOYMENT, READ, FILTER_DEPLOYMENT_ITEMS)},
    {"POST", "/api/2.0/capstan/predictions/log-batch", API_BODY_JSON, predictions_log, NULL},
    {"GET", "/api/2.0/capstan/model-versions/model-file", API_BODY_JSON, model_file, NULL,
     API_ACCESS(MODEL, READ)},
    {"GET", "/metrics", API_BODY_NONE, metrics_text, NULL, API_ERRORS_MLFLOW, true},
    {NULL, NULL, API_BODY_JSON, NULL, NULL},
};
