/* lineage.c - OpenLineage events in: POST /api/v1/lineage, Marquez's
 * endpoint (201 on success, as Marquez answers), each event checked by
 * pipeline/ (pipe_ol_check: 400 naming the field otherwise) and kept in the
 * store; and out: GET /api/2.0/capstan/lineage/events?run_id=|job=
 * [&namespace=][&max_results=]. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/json.h"
#include "base/util.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

static const char *field(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int post_event(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp, struct cap_error *err)
{
    int rc = pipe_ol_check(req->msg, err);
    if (rc < 0)
        return rc;
    char *body = cJSON_PrintUnformatted(req->msg);
    struct store_lineage_event e = {
        .run_id = field(req->msg, "run", "runId"),
        .job_namespace = field(req->msg, "job", "namespace"),
        .job_name = field(req->msg, "job", "name"),
        .event_type = cJSON_GetObjectItemCaseSensitive(req->msg, "eventType")->valuestring,
        .event_time = cJSON_GetObjectItemCaseSensitive(req->msg, "eventTime")->valuestring,
        .body_json = body,
    };
    int64_t id = 0;
    rc = store_lineage_event_add(env->store, &e, &id, err);
    free(body);
    if (rc < 0)
        return rc;
    resp->status = 201;
    resp->json = cJSON_CreateObject();
    cap_json_add_i64(resp->json, "id", id);
    return 0;
}

static int list_events(const struct api_env *env, const struct api_request *req,
                       struct api_response *resp, struct cap_error *err)
{
    const char *run_id = NULL, *job = NULL, *ns = NULL;
    int64_t max = 1000;
    int rc;
    if ((rc = cap_json_get_str(req->msg, "run_id", false, &run_id, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "job", false, &job, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "namespace", false, &ns, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "max_results", false, &max, err)) < 0)
        return rc;
    if (!run_id && !job)
        return cap_err(err, CAP_EINVAL, "Missing value for parameter 'run_id' or 'job': "
                       "expected a run's UUID or a job's name");
    if (run_id && !cap_uuid_valid(run_id))
        return cap_err(err, CAP_EINVAL, "Invalid value '%.60s' for parameter 'run_id': "
                       "expected a UUID", run_id);
    if (max < 1 || max > 10000)
        return cap_err(err, CAP_EINVAL, "Invalid value %lld for parameter 'max_results': "
                       "expected 1 to 10000", (long long)max);
    cJSON *events = NULL;
    if (job && !ns)
        ns = "capstan";
    if ((rc = store_lineage_events_list(env->store, run_id, job ? ns : NULL, job, (int)max,
                                        &events, err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    cJSON_AddItemToObject(resp->json, "events", events);
    return 0;
}

const struct api_route api_lineage_routes[] = {
    {"POST", "/api/v1/lineage", API_BODY_JSON, post_event, NULL},
    {"GET", "/api/2.0/capstan/lineage/events", API_BODY_JSON, list_events, NULL},
    {NULL, NULL, API_BODY_JSON, NULL, NULL},
};
