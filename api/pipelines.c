/* pipelines.c - pipeline schedules under /api/2.0/capstan/pipelines/schedules,
 * MLflow's error shape (pipeline/schedule.c holds the rules):
 *   POST   /create {"name", "repo", "cron" | "on_alert" | "on_dataset", "timezone"?,
 *                   "catch_up"?, "overlap"?, "start"?}     {"schedule": {...}}
 *   GET    /list                                       {"schedules": [...]}
 *   GET    /get?name=                                  {"schedule": {...}}
 *   POST   /pause {"name"} | /resume {"name"}          {"schedule": {...}}
 *   DELETE /delete?name=                               {}
 *   POST   /trigger {"name"}                           {"run": {"schedule", "id", "tick"}}
 *   GET    /runs?name=&max_results=                    {"runs": [...]} newest tick first */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/common.h"
#include "base/json.h"
#include "pipeline/pipeline.h"

#define PREFIX "/api/2.0/capstan/pipelines/schedules"

static int need_store(const struct api_env *env, struct cap_error *err)
{
    return env->store ? 0
                      : cap_err(err, CAP_ENOTIMPL, "Pipeline schedules are not served by this "
                                                   "process");
}

static int name_of(const struct api_env *env, const cJSON *msg, const char **name,
                   struct cap_error *err)
{
    int rc = need_store(env, err);
    return rc < 0 ? rc : cap_json_get_str(msg, "name", true, name, err);
}

static int create(const struct api_env *env, const struct api_request *req,
                  struct api_response *resp, struct cap_error *err)
{
    cJSON *out = NULL;
    int rc;
    if ((rc = need_store(env, err)) < 0 ||
        (rc = pipe_sched_create(env->sched, env->store, req->msg, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("schedule", out);
    return 0;
}

static int list(const struct api_env *env, const struct api_request *req,
                struct api_response *resp, struct cap_error *err)
{
    cJSON *out = NULL;
    int rc;
    if ((rc = need_store(env, err)) < 0 || (rc = store_pipe_schedule_list(env->store, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("schedules", out);
    return 0;
}

static int get(const struct api_env *env, const struct api_request *req,
               struct api_response *resp, struct cap_error *err)
{
    const char *name;
    cJSON *out = NULL;
    int rc;
    if ((rc = name_of(env, req->msg, &name, err)) < 0 ||
        (rc = store_pipe_schedule_get(env->store, name, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("schedule", out);
    return 0;
}

static int set_paused(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp, bool paused, struct cap_error *err)
{
    const char *name;
    int rc;
    if ((rc = name_of(env, req->msg, &name, err)) < 0 ||
        (rc = store_pipe_schedule_set_paused(env->store, name, paused, err)) < 0)
        return rc;
    pipe_sched_kick(env->sched);
    return get(env, req, resp, err);
}

static int pause(const struct api_env *env, const struct api_request *req,
                 struct api_response *resp, struct cap_error *err)
{
    return set_paused(env, req, resp, true, err);
}

static int resume(const struct api_env *env, const struct api_request *req,
                  struct api_response *resp, struct cap_error *err)
{
    return set_paused(env, req, resp, false, err);
}

static int delete(const struct api_env *env, const struct api_request *req,
                  struct api_response *resp, struct cap_error *err)
{
    const char *name;
    int rc;
    if ((rc = name_of(env, req->msg, &name, err)) < 0 ||
        (rc = store_pipe_schedule_delete(env->store, name, err)) < 0)
        return rc;
    pipe_sched_kick(env->sched);
    resp->json = cJSON_CreateObject();
    return 0;
}

static int trigger(const struct api_env *env, const struct api_request *req,
                   struct api_response *resp, struct cap_error *err)
{
    const char *name;
    cJSON *out = NULL;
    int rc;
    if ((rc = name_of(env, req->msg, &name, err)) < 0 ||
        (rc = pipe_sched_trigger(env->sched, env->store, name, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("run", out);
    return 0;
}

static int runs(const struct api_env *env, const struct api_request *req,
                struct api_response *resp, struct cap_error *err)
{
    const char *name;
    int max, rc;
    cJSON *out = NULL;
    if ((rc = name_of(env, req->msg, &name, err)) < 0 ||
        (rc = api_max_results(req->msg, 100, 10000, &max, err)) < 0 ||
        (rc = store_pipe_run_list(env->store, name, false, max, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("runs", out);
    return 0;
}

const struct api_route api_pipeline_routes[] = {
    {"POST", PREFIX "/create", API_BODY_JSON, create, NULL, API_ACCESS(ADMIN, NONE)},
    {"GET", PREFIX "/list", API_BODY_JSON, list, NULL,
     API_ACCESS_AFTER(USER, NONE, FILTER_PIPELINES)},
    {"GET", PREFIX "/get", API_BODY_JSON, get, NULL, API_ACCESS(PIPELINE, READ)},
    {"POST", PREFIX "/pause", API_BODY_JSON, pause, NULL, API_ACCESS(PIPELINE, UPDATE)},
    {"POST", PREFIX "/resume", API_BODY_JSON, resume, NULL, API_ACCESS(PIPELINE, UPDATE)},
    {"DELETE", PREFIX "/delete", API_BODY_JSON, delete, NULL,
     API_ACCESS_AFTER(PIPELINE, DELETE, DELETE_PIPELINE)},
    {"POST", PREFIX "/trigger", API_BODY_JSON, trigger, NULL, API_ACCESS(PIPELINE, UPDATE)},
    {"GET", PREFIX "/runs", API_BODY_JSON, runs, NULL, API_ACCESS(PIPELINE, READ)},
    {NULL},
};
