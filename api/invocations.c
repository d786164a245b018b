/* invocations.c - MLflow's scoring protocol: POST /invocations (the one
 * deployment, or the default one) and /deployments/{name}/invocations,
 * GET /ping. /health and /version come from the tracking surface, which
 * answers them for serving-only processes too. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/buf.h"
#include "serve/serve.h"

static int invoke(const struct api_env *env, const struct api_request *req,
                  struct api_response *resp, struct cap_error *err)
{
    return api_infer(env, req, req->params[0], NULL, false, resp, err);
}

/* 200 when a model is ready to answer /invocations, as MLflow's server
 * answers once its model is loaded. */
static int ping(const struct api_env *env, const struct api_request *req,
                struct api_response *resp, struct cap_error *err)
{
    struct serve_handle *h = NULL;
    if (!env->serve)
        return cap_err(err, CAP_EUNAVAIL, "Serving is not enabled in this process");
    int rc = serve_acquire(env->serve, NULL, NULL, NULL, NULL, &h, err);
    if (rc < 0)
        return rc;
    serve_drop(h);
    resp->text = cap_xstrdup("\n");
    return 0;
}

const struct api_route api_invocations_routes[] = {
    {"POST", "/invocations", API_BODY_RAW, invoke, NULL, API_ERRORS_MLFLOW, true,
     API_ACCESS(DEPLOYMENT, USE)},
    {"POST", "/deployments/{name}/invocations", API_BODY_RAW, invoke, NULL, API_ERRORS_MLFLOW,
     true, API_ACCESS(DEPLOYMENT, USE)},
    {"GET", "/ping", API_BODY_NONE, ping, NULL, API_ERRORS_MLFLOW, true, API_ACCESS(PUBLIC, NONE)},
    {NULL, NULL, API_BODY_NONE, NULL, NULL},
};
