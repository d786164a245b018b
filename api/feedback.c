/* feedback.c - ground truth under /api/2.0/capstan/feedback, with MLflow's
 * error shape:
 *   POST /feedback          {"deployment", "labels": [{"id", "label" | "value", "time"?}]}
 *                           -> {"accepted": n, "unknown": [ids]}
 *   GET  /feedback/history?deployment=&id=   every label given for one row
 *   GET  /feedback/quality?deployment=&from=&to=&width_s=&positive_class=
 *                           &reference_from=&reference_to=&segment=&bins=
 *                           realised quality per window of prediction time, label
 *                           coverage, and label shift against a reference period
 *   GET  /feedback/estimate?deployment=&reference_from=&reference_to=&from=&to=&width_s=
 *                           &chunk_size=&metrics=&positive_class=
 *                           quality estimated without labels (CBPE), realised beside
 *   POST   /feedback/detectors   {"deployment", "name", "detector": {"type", ...river's params}}
 *   GET    /feedback/detectors?deployment=          each with its counts
 *   DELETE /feedback/detectors?deployment=&name=
 *   GET    /feedback/detections?deployment=&name=&max_results=   newest first
 * The rules live in feedback/; this file reads the request and counts. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/common.h"
#include "base/json.h"
#include "base/metrics.h"
#include "base/util.h"
#include "feedback/feedback.h"
#include "store/store.h"

#define PREFIX "/api/2.0/capstan/feedback"


/* capstan_feedback_labels_total{deployment, outcome="accepted"|"unknown"} */
static void count(const struct api_env *env, const char *dep, const cJSON *answer)
{
    if (!env->metrics)
        return;
    metrics_declare(env->metrics, "capstan_feedback_labels_total", METRICS_COUNTER,
                    "Labels received, by outcome: joined to a logged prediction, or naming "
                    "an id the prediction log does not hold",
                    NULL, 0);
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(answer, "accepted");
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(answer, "unknown");
    static const char *const outcome[] = {"accepted", "unknown"};
    double n[2] = {cJSON_IsNumber(acc) ? acc->valuedouble : 0, (double)cJSON_GetArraySize(unk)};
    for (int k = 0; k < 2; k++) {
        struct cap_buf l;
        cap_buf_init(&l);
        metrics_label(&l, "deployment", dep);
        cap_buf_putc(&l, ',');
        metrics_label(&l, "outcome", outcome[k]);
        metrics_add(metrics_series(env->metrics, "capstan_feedback_labels_total", l.data), n[k]);
        cap_buf_free(&l);
    }
}

static int labels_put(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp, struct cap_error *err)
{
    const char *dep;
    int rc = api_deployment(env, req->msg, &dep, err);
    if (rc < 0)
        return rc;
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(req->msg, "labels");
    if (!labels)
        return cap_err(err, CAP_EINVAL, "Missing value for required parameter 'labels'");
    struct fb_sink sink = api_fb_sink(env, "api");
    cJSON *out = NULL;
    if ((rc = fb_labels_put(&sink, dep, labels, &out, err)) < 0)
        return rc;
    count(env, dep, out);
    resp->json = out;
    return 0;
}

static int history(const struct api_env *env, const struct api_request *req,
                   struct api_response *resp, struct cap_error *err)
{
    const char *dep, *id;
    char base[FB_ID_MAX + 1];
    int64_t row;
    cJSON *list = NULL;
    int rc;
    if ((rc = api_deployment(env, req->msg, &dep, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "id", true, &id, err)) < 0 ||
        (rc = fb_id_parse(id, base, &row, err)) < 0 ||
        (rc = store_labels_history(env->store, dep, base, row < 0 ? 0 : row, &list, err)) < 0)
        return rc;
    resp->json = api_wrap("labels", list);
    return 0;
}

/* from/to: epoch ms of prediction time, [from, to), default the last day;
 * width_s: window width (absent or 0: one window over the range). */
static int quality(const struct api_env *env, const struct api_request *req,
                   struct api_response *resp, struct cap_error *err)
{
    struct fb_realised_query q = {.to_ms = cap_now_ms() + 1, .coverage = true};
    int64_t width_s = 0, bins = 0;
    cJSON *list = NULL;
    int rc;
    if ((rc = api_deployment(env, req->msg, &q.deployment, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "to", false, &q.to_ms, err)) < 0)
        return rc;
    q.from_ms = q.to_ms - 86400000;
    if ((rc = cap_json_get_i64(req->msg, "from", false, &q.from_ms, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "width_s", false, &width_s, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "positive_class", false, &q.positive, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "reference_from", false, &q.ref_from_ms, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "reference_to", false, &q.ref_to_ms, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "segment", false, &q.segment, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "bins", false, &bins, err)) < 0)
        return rc;
    if (bins < 0 || bins > 50)
        return cap_err(err, CAP_EINVAL, "bins must be 1 to 50, got %lld", (long long)bins);
    q.bins = (int)bins;
    if (width_s < 0 || width_s > 366LL * 86400)
        return cap_err(err, CAP_EINVAL, "width_s must be 0 to 31622400 seconds, got %lld",
                       (long long)width_s);
    q.width_ms = width_s * 1000;
    if ((rc = fb_realised(env->store, &q, &list, err)) < 0)
        return rc;
    resp->json = api_wrap("windows", list);
    return 0;
}

/* reference_from/reference_to: the labelled reference period (required);
 * from/to/width_s as the quality's. */
static int estimate(const struct api_env *env, const struct api_request *req,
                    struct api_response *resp, struct cap_error *err)
{
    struct fb_estimate_query q = {.to_ms = cap_now_ms() + 1};
    int64_t width_s = 0, chunk = 0;
    int rc;
    if ((rc = api_deployment(env, req->msg, &q.deployment, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "reference_from", true, &q.ref_from_ms, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "reference_to", true, &q.ref_to_ms, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "to", false, &q.to_ms, err)) < 0)
        return rc;
    q.from_ms = q.to_ms - 86400000;
    if ((rc = cap_json_get_i64(req->msg, "from", false, &q.from_ms, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "width_s", false, &width_s, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "chunk_size", false, &chunk, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "metrics", false, &q.metrics, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "positive_class", false, &q.positive, err)) < 0)
        return rc;
    if (width_s < 0 || width_s > 366LL * 86400 || chunk < 0 || chunk > 100000000)
        return cap_err(err, CAP_EINVAL,
                       "width_s must be 0 to 31622400 seconds and chunk_size 0 to 100000000");
    q.width_ms = width_s * 1000;
    q.chunk_size = (size_t)chunk;
    cJSON *out = NULL;
    if ((rc = fb_estimate(env->store, &q, &out, err)) < 0)
        return rc;
    resp->json = out;
    return 0;
}

static int detector_put(const struct api_env *env, const struct api_request *req,
                        struct api_response *resp, struct cap_error *err)
{
    const char *dep, *name;
    cJSON *out = NULL;
    int rc;
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(req->msg, "detector");
    if ((rc = api_deployment(env, req->msg, &dep, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "name", true, &name, err)) < 0)
        return rc;
    if (!cJSON_IsObject(spec))
        return cap_err(err, CAP_EINVAL,
                       "'detector' must be an object {\"type\": \"ddm\"|\"eddm\"|\"hddm_a\"|"
                       "\"hddm_w\"|\"adwin\"|\"page_hinkley\", ...river's parameters}");
    if ((rc = fb_detector_put(env->store, dep, name, spec, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("detector", out);
    return 0;
}

static int detector_list(const struct api_env *env, const struct api_request *req,
                         struct api_response *resp, struct cap_error *err)
{
    const char *dep;
    cJSON *list = NULL;
    int rc;
    if ((rc = api_deployment(env, req->msg, &dep, err)) < 0 ||
        (rc = store_detector_list(env->store, dep, &list, err)) < 0)
        return rc;
    resp->json = api_wrap("detectors", list);
    return 0;
}

static int detector_delete(const struct api_env *env, const struct api_request *req,
                           struct api_response *resp, struct cap_error *err)
{
    const char *dep, *name;
    int rc;
    if ((rc = api_deployment(env, req->msg, &dep, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "name", true, &name, err)) < 0 ||
        (rc = store_detector_delete(env->store, dep, name, err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    return 0;
}

static int detections(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp, struct cap_error *err)
{
    const char *dep, *name = NULL;
    int max = 0, rc;
    cJSON *list = NULL;
    if ((rc = api_deployment(env, req->msg, &dep, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "name", false, &name, err)) < 0 ||
        (rc = api_max_results(req->msg, 1000, 10000, &max, err)) < 0 ||
        (rc = store_detection_list(env->store, dep, name, max, &list, err)) < 0)
        return rc;
    resp->json = api_wrap("detections", list);
    return 0;
}

const struct api_route api_feedback_routes[] = {
    {"POST", PREFIX, API_BODY_JSON, labels_put, NULL, API_ACCESS(DEPLOYMENT, USE)},
    {"GET", PREFIX "/history", API_BODY_JSON, history, NULL, API_ACCESS(DEPLOYMENT, READ)},
    {"GET", PREFIX "/quality", API_BODY_JSON, quality, NULL, API_ACCESS(DEPLOYMENT, READ)},
    {"GET", PREFIX "/estimate", API_BODY_JSON, estimate, NULL, API_ACCESS(DEPLOYMENT, READ)},
    {"POST", PREFIX "/detectors", API_BODY_JSON, detector_put, NULL,
     API_ACCESS(DEPLOYMENT, UPDATE)},
    {"GET", PREFIX "/detectors", API_BODY_JSON, detector_list, NULL,
     API_ACCESS_AFTER(DEPLOYMENT, READ, FILTER_DEPLOYMENT_ITEMS)},
    {"DELETE", PREFIX "/detectors", API_BODY_JSON, detector_delete, NULL,
     API_ACCESS(DEPLOYMENT, UPDATE)},
    {"GET", PREFIX "/detections", API_BODY_JSON, detections, NULL,
     API_ACCESS_AFTER(DEPLOYMENT, READ, FILTER_DEPLOYMENT_ITEMS)},
    {NULL, NULL, API_BODY_JSON, NULL, NULL},
};
