/* invocations.c - MLflow's scoring protocol: POST /invocations (the one
 * deployment, or the default one) and /deployments/{name}/invocations,
 * GET /ping. /health and /version come from the tracking surface, which
 * answers them for serving-only processes too. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/buf.h"
#include "serve/serve.h"

static const char *header(void *cls, const char *name)
{
    const struct api_request *req = cls;
    return req->header ? req->header(req->header_cls, name) : NULL;
}

static int invoke(const struct api_env *env, const struct api_request *req,
                  struct api_response *resp, struct cap_error *err)
{
    if (!env->serve)
        return cap_err(err, CAP_EUNAVAIL, "Serving is not enabled in this process");
    struct serve_handle *h = NULL;
    int rc = serve_acquire(env->serve, req->params[0], NULL, header, (void *)req, &h, err);
    if (rc < 0)
        return rc;
    const infer_model *m = serve_handle_model(h);
    int n_out = infer_output_count(m);
    struct payload_request pr = {0};
    infer_tensor *outs = cap_xcalloc((size_t)(n_out > 0 ? n_out : 1), sizeof *outs);
    struct cap_buf body;
    cap_buf_init(&body);
    if ((rc = payload_parse_scoring(m, req->content_type, req->body, req->body_len, &pr, err)) <
            0 ||
        (rc = serve_run(h, &pr, outs, err)) < 0)
        goto done;
    rc = payload_write_scoring(m, &pr, outs, n_out, &body, err);
    for (int i = 0; i < n_out; i++)
        infer_tensor_release(&outs[i]);
done:
    serve_release(h, rc == 0);
    payload_request_free(&pr);
    free(outs);
    if (rc < 0) {
        cap_buf_free(&body);
        return rc;
    }
    resp->raw_len = body.len;
    resp->raw = cap_buf_steal(&body);
    return 0;
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
    {"POST", "/invocations", API_BODY_RAW, invoke, NULL, API_ERRORS_MLFLOW, true},
    {"POST", "/deployments/{name}/invocations", API_BODY_RAW, invoke, NULL, API_ERRORS_MLFLOW,
     true},
    {"GET", "/ping", API_BODY_NONE, ping, NULL, API_ERRORS_MLFLOW, true},
    {NULL, NULL, API_BODY_NONE, NULL, NULL},
};
