/* oip.c - the Open Inference Protocol v2 REST surface (KServe, Triton):
 * health, server and model metadata, readiness and infer. A model here is
 * a deployment; /versions/{v} pins one of the versions it has loaded.
 * Errors are {"error": "..."} with 400/404/503 as the protocol says. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/buf.h"
#include "serve/serve.h"

static int need_serve(const struct api_env *env, struct cap_error *err)
{
    if (!env->serve)
        return cap_err(err, CAP_EUNAVAIL, "Serving is not enabled in this process");
    return 0;
}

static void raw_json(struct api_response *resp, cJSON *o)
{
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    resp->raw_len = strlen(t);
    resp->raw = t;
}

static int live(const struct api_env *env, const struct api_request *req,
                struct api_response *resp, struct cap_error *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "live", true);
    raw_json(resp, o);
    return 0;
}

static int ready(const struct api_env *env, const struct api_request *req,
                 struct api_response *resp, struct cap_error *err)
{
    bool ok = env->serve && serve_ready(env->serve);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ready", ok);
    raw_json(resp, o);
    if (!ok)
        resp->status = 503;
    return 0;
}

static int server_meta(const struct api_env *env, const struct api_request *req,
                       struct api_response *resp, struct cap_error *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", "capstan");
    cJSON_AddStringToObject(o, "version", env->version ? env->version : "");
    cJSON *ext = cJSON_AddArrayToObject(o, "extensions");
    cJSON_AddItemToArray(ext, cJSON_CreateString("binary_tensor_data"));
    raw_json(resp, o);
    return 0;
}

static int model_meta(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp, struct cap_error *err)
{
    int rc;
    struct serve_handle *h = NULL;
    if ((rc = need_serve(env, err)) < 0 ||
        (rc = serve_acquire(env->serve, req->params[0], req->params[1], NULL, NULL, &h, err)) < 0)
        return rc;
    /* Every version the deployment has loaded, the one answering first. */
    cJSON *st = serve_status(env->serve, req->params[0]);
    const char *versions[4];
    int nv = 0;
    versions[nv++] = serve_handle_version(h);
    static const char *const roles[] = {"primary", "canary", "shadow", "previous"};
    for (int i = 0; i < 4 && st; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(st, roles[i]);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "version");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "ready")) || !cJSON_IsString(v))
            continue;
        bool dup = false;
        for (int k = 0; k < nv; k++)
            dup = dup || strcmp(versions[k], v->valuestring) == 0;
        if (!dup && nv < 4)
            versions[nv++] = v->valuestring;
    }
    cJSON *meta = payload_oip_metadata(serve_handle_model(h), req->params[0], versions, nv);
    cJSON_Delete(st);
    serve_drop(h);
    raw_json(resp, meta);
    return 0;
}

static int model_ready(const struct api_env *env, const struct api_request *req,
                       struct api_response *resp, struct cap_error *err)
{
    int rc;
    struct serve_handle *h = NULL;
    if ((rc = need_serve(env, err)) < 0 ||
        (rc = serve_acquire(env->serve, req->params[0], req->params[1], NULL, NULL, &h, err)) < 0)
        return rc;
    serve_drop(h);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", req->params[0]);
    cJSON_AddBoolToObject(o, "ready", true);
    raw_json(resp, o);
    return 0;
}

static int infer(const struct api_env *env, const struct api_request *req,
                 struct api_response *resp, struct cap_error *err)
{
    return api_infer(env, req, req->params[0], req->params[1], true, resp, err);
}

#define R API_BODY_RAW
#define N API_BODY_NONE
#define O API_ERRORS_OIP
const struct api_route api_oip_routes[] = {
    {"GET", "/v2/health/live", N, live, NULL, O, true, API_ACCESS(PUBLIC, NONE)},
    {"GET", "/v2/health/ready", N, ready, NULL, O, true, API_ACCESS(PUBLIC, NONE)},
    {"GET", "/v2", N, server_meta, NULL, O, true},
    {"GET", "/v2/models/{model}", N, model_meta, NULL, O, true, API_ACCESS(DEPLOYMENT, READ)},
    {"GET", "/v2/models/{model}/versions/{version}", N, model_meta, NULL, O, true,
     API_ACCESS(DEPLOYMENT, READ)},
    {"GET", "/v2/models/{model}/ready", N, model_ready, NULL, O, true,
     API_ACCESS(DEPLOYMENT, READ)},
    {"GET", "/v2/models/{model}/versions/{version}/ready", N, model_ready, NULL, O, true,
     API_ACCESS(DEPLOYMENT, READ)},
    {"POST", "/v2/models/{model}/infer", R, infer, NULL, O, true, API_ACCESS(DEPLOYMENT, USE)},
    {"POST", "/v2/models/{model}/versions/{version}/infer", R, infer, NULL, O, true,
     API_ACCESS(DEPLOYMENT, USE)},
    {NULL, NULL, N, NULL, NULL},
};
