/* predict.c - the inference flow both protocols share (oip.c, invocations.c):
 * send the request to its deployment's model, parse its body against the model's
 * signature, run it, write the answer, and count the outcome. Only the
 * body's form differs between the two. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/buf.h"
#include "feedback/feedback.h"
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

/* One inference request from parse to answer; it outlives the handler
 * when the request waits in a batch. */
struct predict_call {
    struct serve_handle *h;
    const infer_model *m;
    int n_out;
    bool oip;
    const char *deployment;      /* the request's, alive until it is answered */
    size_t body_len;
    bool note_hold;              /* the thread that parsed it answers it: time the hold */
    struct payload_request pr;
    infer_tensor *outs;
    api_answer_fn answer;
    void *answer_cls;
};

/* The request's id, the one its feedback names it by: OIP's "id", else the
 * client's X-Request-Id header, else a new one. It travels in pr.id to the
 * prediction log and the OIP answer's "id"; the answer's X-Request-Id
 * header carries it for both protocols. */
static int request_identity(struct predict_call *c, const struct api_request *req,
                            struct cap_error *err)
{
    if (c->pr.id)
        return fb_id_check(c->pr.id, "The request's \"id\"", err);
    const char *h = api_request_header((void *)req, "X-Request-Id");
    if (h) {
        int rc = fb_id_check(h, "The X-Request-Id header", err);
        if (rc < 0)
            return rc;
        c->pr.id = cap_xstrdup(h);
        return 0;
    }
    char id[FB_ID_NEW_LEN + 1];
    fb_id_new(id);
    c->pr.id = cap_xstrdup(id);
    return 0;
}

/* Writes the answer (when rc is 0) and frees the call. */
static int predict_finish(struct predict_call *c, int rc, struct api_response *resp,
                        struct cap_error *err)
{
    if (c->pr.id) /* on refusals too, so a client can quote it */
        api_response_header(resp, "X-Request-Id", c->pr.id);
    struct cap_buf body;
    cap_buf_init(&body);
    size_t header_len = 0;
    if (rc == 0)
        rc = c->oip ? payload_write_oip(c->m, &c->pr, c->deployment, serve_handle_version(c->h),
                                        c->outs, c->n_out, &body, &header_len, err)
                    : payload_write_scoring(c->m, &c->pr, c->outs, c->n_out, &body, err);
    for (int i = 0; i < c->n_out; i++)
        infer_tensor_release(&c->outs[i]);
    if (c->note_hold && rc == 0) /* (a refused body says nothing of the model's cost) */
        serve_handle_note_hold(c->h, c->body_len);
    serve_release(c->h, rc == 0);
    payload_request_free(&c->pr);
    free(c->outs);
    free(c);
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

/* serve_predict's callback for a request that waited in a batch. */
static void predict_batched(void *cls, int rc, const struct cap_error *err)
{
    struct predict_call *c = cls;
    c->note_hold = false; /* the batcher's thread, not the one that parsed it */
    api_answer_fn answer = c->answer;
    void *answer_cls = c->answer_cls;
    struct cap_error e = {0};
    if (rc < 0)
        e = *err;
    struct api_response resp = {.fd = -1};
    rc = predict_finish(c, rc, &resp, &e);
    answer(answer_cls, rc, &resp, &e);
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
    if (req->queued_at > 0) {
        serve_handle_since(h, req->queued_at);
    } else if (serve_handle_heavy(h, req->body_len)) {
        serve_offload(h);
        return API_OFFLOAD;
    }
    struct predict_call *c = cap_xcalloc(1, sizeof *c);
    c->h = h;
    c->m = serve_handle_model(h);
    c->n_out = infer_output_count(c->m);
    c->oip = oip;
    c->deployment = deployment;
    c->body_len = req->body_len;
    c->note_hold = true;
    c->outs = cap_xcalloc((size_t)(c->n_out > 0 ? c->n_out : 1), sizeof *c->outs);
    c->answer = req->answer;
    c->answer_cls = req->answer_cls;
    size_t json_len = 0;
    if (oip)
        rc = json_part_length(req, &json_len, err);
    if (rc == 0)
        rc = oip ? payload_parse_oip(c->m, req->body, req->body_len, json_len, &c->pr, err)
                 : payload_parse_scoring(c->m, req->content_type, req->body, req->body_len, &c->pr,
                                         err);
    if (rc == 0)
        rc = request_identity(c, req, err);
    if (rc == 0) {
        rc = serve_predict(h, &c->pr, c->outs, predict_batched, c, err);
        if (rc == SERVE_PENDING)
            return API_PENDING; /* predict_batched answers */
    }
    return predict_finish(c, rc, resp, err);
}
