/* alerts.c - the alert rules and their history under
 * /api/2.0/capstan/monitor/alerts, with MLflow's error shape:
 *   POST   alerts/rules                      create or replace (body: the rule JSON)
 *   GET    alerts/rules?deployment=          the rules (all when no deployment)
 *   DELETE alerts/rules?deployment=&name=   delete (a firing rule is resolved first)
 *   GET    alerts/events?deployment=&max_results=&page_token=   newest first
 *   GET    alerts?deployment=                the current state of each rule
 * The checks and the meaning live in alert/; this file reads the request. */
#include <stdlib.h>

#include "alert/alert.h"
#include "api/api.h"
#include "api/common.h"
#include "base/json.h"
#include "store/store.h"

#define PREFIX "/api/2.0/capstan/monitor/alerts"

static int need_alerts(const struct api_env *env, struct cap_error *err)
{
    return env->alert ? 0
                      : cap_err(err, CAP_ENOTIMPL, "Alerts are kept by the registry server");
}

static int rule_put(const struct api_env *env, const struct api_request *req,
                    struct api_response *resp, struct cap_error *err)
{
    cJSON *rule = NULL;
    int rc;
    if ((rc = need_alerts(env, err)) < 0 ||
        (rc = alert_rule_put(env->alert, req->msg, &rule, err)) < 0)
        return rc;
    resp->json = api_wrap("rule", rule);
    return 0;
}

static int rule_list(const struct api_env *env, const struct api_request *req,
                     struct api_response *resp, struct cap_error *err)
{
    const char *dep = NULL;
    cJSON *rules = NULL;
    int rc;
    if ((rc = need_alerts(env, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "deployment", false, &dep, err)) < 0 ||
        (rc = store_alert_rule_list(env->store, dep, &rules, err)) < 0)
        return rc;
    resp->json = api_wrap("rules", rules);
    return 0;
}

static int rule_delete(const struct api_env *env, const struct api_request *req,
                       struct api_response *resp, struct cap_error *err)
{
    const char *dep, *name;
    int rc;
    if ((rc = need_alerts(env, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "deployment", true, &dep, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "name", true, &name, err)) < 0 ||
        (rc = alert_rule_delete(env->alert, dep, name, err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    return 0;
}

static int events(const struct api_env *env, const struct api_request *req,
                  struct api_response *resp, struct cap_error *err)
{
    const char *dep = NULL, *token = NULL;
    int max = 0, rc;
    cJSON *list = NULL;
    char *next = NULL;
    if ((rc = need_alerts(env, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "deployment", false, &dep, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "page_token", false, &token, err)) < 0 ||
        (rc = api_max_results(req->msg, 100, 10000, &max, err)) < 0 ||
        (rc = store_alert_event_list(env->store, dep, max, token, &list, &next, err)) < 0)
        return rc;
    resp->json = api_wrap("events", list);
    if (next)
        cJSON_AddStringToObject(resp->json, "next_page_token", next);
    free(next);
    return 0;
}

static int states(const struct api_env *env, const struct api_request *req,
                  struct api_response *resp, struct cap_error *err)
{
    const char *dep = NULL;
    cJSON *list = NULL;
    int rc;
    if ((rc = need_alerts(env, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "deployment", false, &dep, err)) < 0 ||
        (rc = alert_states(env->alert, dep, &list, err)) < 0)
        return rc;
    resp->json = api_wrap("alerts", list);
    return 0;
}

const struct api_route api_alert_routes[] = {
    {"POST", PREFIX "/rules", API_BODY_JSON, rule_put, NULL, API_ACCESS(DEPLOYMENT, UPDATE)},
    {"GET", PREFIX "/rules", API_BODY_JSON, rule_list, NULL,
     API_ACCESS_AFTER(DEPLOYMENT, READ, FILTER_DEPLOYMENT_ITEMS)},
    {"DELETE", PREFIX "/rules", API_BODY_JSON, rule_delete, NULL, API_ACCESS(DEPLOYMENT, UPDATE)},
    {"GET", PREFIX "/events", API_BODY_JSON, events, NULL,
     API_ACCESS_AFTER(DEPLOYMENT, READ, FILTER_DEPLOYMENT_ITEMS)},
    {"GET", PREFIX, API_BODY_JSON, states, NULL,
     API_ACCESS_AFTER(DEPLOYMENT, READ, FILTER_DEPLOYMENT_ITEMS)},
    {NULL, NULL, API_BODY_JSON, NULL, NULL},
};
