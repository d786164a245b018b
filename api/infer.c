/* infer.c - the inference flow both protocols share (oip.c, invocations.c):
 * route the request to a model, parse its body against the model's
 * signature, run it, write the answer, and count the outcome. Only the
 * body's form differs between the two. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/buf.h"
#include "serve/serve.h"

const char *api_request_header(void *req, const char *name)
{
    const struct api_request *r = req;
    return r->header ? r->header(r->header_cls, name) : NULL;
}

/* The OIP binary extension's Inference-Header-Content-Length (0: absent). */
static int json_part_length(const struct api_request *req, size_t *out, struct cap_error *err)
{
    const char *hl = api_request_header((void *)req, "Inference-Header-Content-Length");
    *out = 0;
    if (!hl)
        return 0;
    char *end = NULL;
    unsigned long long v = strtoull(hl, &end, 10);
    if (!*hl || *end || v > req->body_len || hl[0] == '-')
        return cap_err(err, CAP_EINVAL,
                       "Inference-Header-Content-Length '%.40s' must be a byte count no larger "
                       "than the body (%zu bytes)",
                       hl, req->body_len);
    *out = (size_t)v;
    return 0;
}

int api_infer(const struct api_env *env, const struct api_request *req, const char *deployment,
              const char *version, bool oip, struct api_response *resp, struct cap_error *err)
{
    if (!env->serve)
        return cap_err(err, CAP_EUNAVAIL, "Serving is not enabled in this process");
    struct serve_handle *h = NULL;
    int rc = serve_acquire(env->serve, deployment, version, api_request_header, (void *)req, &h,
                           err);
    if (rc < 0)
        return rc;
    if (req->http_thread && serve_handle_batches(h)) {
        serve_drop(h);
        return API_DEFER; /* waiting for a batch would stall the HTTP thread */
    }
    const infer_model *m = serve_handle_model(h);
    int n_out = infer_output_count(m);
    struct payload_request pr = {0};
    infer_tensor *outs = cap_xcalloc((size_t)(n_out > 0 ? n_out : 1), sizeof *outs);
    struct cap_buf body;
    cap_buf_init(&body);
    size_t json_len = 0, header_len = 0;
    if (oip)
        rc = json_part_length(req, &json_len, err);
    if (rc < 0)
        goto done;
    rc = oip ? payload_parse_oip(m, req->body, req->body_len, json_len, &pr, err)
             : payload_parse_scoring(m, req->content_type, req->body, req->body_len, &pr, err);
    if (rc < 0 || (rc = serve_run(h, &pr, outs, err)) < 0)
        goto done;
    rc = oip ? payload_write_oip(m, &pr, deployment, serve_handle_version(h), outs, n_out, &body,
                                 &header_len, err)
             : payload_write_scoring(m, &pr, outs, n_out, &body, err);
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
    if (header_len) {
        char n[32];
        snprintf(n, sizeof n, "%zu", header_len);
        api_response_header(resp, "Inference-Header-Content-Length", n);
        resp->content_type = "application/octet-stream";
    }
    return 0;
}
