/* review.c - the human review queue under /api/2.0/capstan/review, with
 * MLflow's error shape:
 *   POST   /review/rules   {"deployment", "rule": {"confidence_below"?, "sample"?,
 *                          "max_pending"?}}                    create or replace
 *   GET    /review/rules?deployment=            the rule and its cursor
 *   DELETE /review/rules?deployment=            (the queued rows stay)
 *   GET    /review/queue?deployment=&status=pending|labelled|skipped|all&max_results=
 *                          fills the queue from the log, then lists it
 *   POST   /review/label   {"deployment", "id", "label", "reviewer"}
 *   POST   /review/skip    {"deployment", "id", "reviewer"}
 * The rules live in feedback/review.c; this file reads the request. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/common.h"
#include "base/json.h"
#include "feedback/feedback.h"
#include "store/store.h"

#define PREFIX "/api/2.0/capstan/review"


static int rule_put(const struct api_env *env, const struct api_request *req,
                    struct api_response *resp, struct cap_error *err)
{
    const char *dep;
    cJSON *out = NULL;
    int rc;
    if ((rc = api_deployment(env, req->msg, &dep, err)) < 0 ||
        (rc = fb_review_rule_put(env->store, dep, cJSON_GetObjectItem(req->msg, "rule"), &out,
                                 err)) < 0)
        return rc;
    resp->json = api_wrap("rule", out);
    return 0;
}

static int rule_get(const struct api_env *env, const struct api_request *req,
                    struct api_response *resp, struct cap_error *err)
{
    const char *dep;
    cJSON *out = NULL;
    int rc;
    if ((rc = api_deployment(env, req->msg, &dep, err)) < 0 ||
        (rc = store_review_rule_get(env->store, dep, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("rule", out);
    return 0;
}

static int rule_delete(const struct api_env *env, const struct api_request *req,
                       struct api_response *resp, struct cap_error *err)
{
    const char *dep;
    int rc;
    if ((rc = api_deployment(env, req->msg, &dep, err)) < 0 ||
        (rc = store_review_rule_delete(env->store, dep, err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    return 0;
}

static int queue(const struct api_env *env, const struct api_request *req,
                 struct api_response *resp, struct cap_error *err)
{
    const char *dep, *status = "pending";
    int max = 0, rc;
    cJSON *items = NULL;
    struct fb_sink sink = api_fb_sink(env, "review");
    if ((rc = api_deployment(env, req->msg, &dep, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "status", false, &status, err)) < 0 ||
        (rc = api_max_results(req->msg, 100, 10000, &max, err)) < 0)
        return rc;
    if (!status)
        status = "pending";
    if (strcmp(status, "pending") && strcmp(status, "labelled") && strcmp(status, "skipped") &&
        strcmp(status, "all"))
        return cap_err(err, CAP_EINVAL,
                       "status must be pending, labelled, skipped or all, got '%.32s'", status);
    int64_t pending = 0;
    if ((rc = fb_review_fill(&sink, dep, err)) < 0 ||
        (rc = store_review_list(env->store, dep, strcmp(status, "all") ? status : NULL, max,
                                &items, err)) < 0 ||
        (rc = store_review_count(env->store, dep, "pending", &pending, err)) < 0) {
        cJSON_Delete(items);
        return rc;
    }
    resp->json = api_wrap("items", items);
    cJSON_AddNumberToObject(resp->json, "pending", (double)pending);
    return 0;
}

static int label(const struct api_env *env, const struct api_request *req,
                 struct api_response *resp, struct cap_error *err)
{
    const char *dep, *id, *reviewer;
    cJSON *out = NULL;
    struct fb_sink sink = api_fb_sink(env, "review");
    int rc;
    if ((rc = api_deployment(env, req->msg, &dep, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "id", true, &id, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "reviewer", true, &reviewer, err)) < 0)
        return rc;
    const cJSON *l = cJSON_GetObjectItem(req->msg, "label");
    if (!l)
        return cap_err(err, CAP_EINVAL, "Missing value for required parameter 'label'");
    if ((rc = fb_review_label(&sink, dep, id, l, reviewer, &out, err)) < 0)
        return rc;
    resp->json = out;
    return 0;
}

static int skip(const struct api_env *env, const struct api_request *req,
                struct api_response *resp, struct cap_error *err)
{
    const char *dep, *id, *reviewer;
    int rc;
    if ((rc = api_deployment(env, req->msg, &dep, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "id", true, &id, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "reviewer", true, &reviewer, err)) < 0 ||
        (rc = fb_review_skip(env->store, dep, id, reviewer, err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    return 0;
}

const struct api_route api_review_routes[] = {
    {"POST", PREFIX "/rules", API_BODY_JSON, rule_put, NULL, API_ACCESS(DEPLOYMENT, UPDATE)},
    {"GET", PREFIX "/rules", API_BODY_JSON, rule_get, NULL,
     API_ACCESS_AFTER(DEPLOYMENT, READ, FILTER_DEPLOYMENT_ITEMS)},
    {"DELETE", PREFIX "/rules", API_BODY_JSON, rule_delete, NULL, API_ACCESS(DEPLOYMENT, UPDATE)},
    {"GET", PREFIX "/queue", API_BODY_JSON, queue, NULL,
     API_ACCESS_AFTER(DEPLOYMENT, READ, FILTER_DEPLOYMENT_ITEMS)},
    {"POST", PREFIX "/label", API_BODY_JSON, label, NULL, API_ACCESS(DEPLOYMENT, UPDATE)},
    {"POST", PREFIX "/skip", API_BODY_JSON, skip, NULL, API_ACCESS(DEPLOYMENT, UPDATE)},
    {NULL, NULL, API_BODY_JSON, NULL, NULL},
};
