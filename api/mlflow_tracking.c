/* mlflow_tracking.c - MLflow REST API 2.0, tracking part: experiments, runs,
 * metrics, params, tags, inputs/outputs, logged models (3.x), search, and
 * /health and /version. Handlers read the message, validate its form (track/),
 * call the store, and wrap the answer the way MLflow's protos do. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/common.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"
#include "store/store.h"
#include "track/filter.h"
#include "track/validate.h"

#define HANDLER(name)                                                                       \
    static int name(const struct api_env *env, const struct api_request *req,               \
                    struct api_response *resp, struct cap_error *err)

/* ---------------- experiments ---------------- */

HANDLER(experiment_create)
{
    const char *name, *loc = NULL;
    int rc;
    if ((rc = cap_json_get_str(req->msg, "name", true, &name, err)) < 0 ||
        (rc = validate_experiment_name(name, err)) < 0)
        return rc;
    if ((rc = cap_json_get_str(req->msg, "artifact_location", false, &loc, err)) < 0)
        return rc;
    if (rc == 0 && *loc && (rc = validate_artifact_location(loc, err)) < 0)
        return rc;
    if (loc && !*loc)
        loc = NULL;
    struct cap_kv *tags;
    size_t ntags;
    if ((rc = api_kv_list(req->msg, "tags", "tag", &tags, &ntags, err)) < 0)
        return rc;
    char *id = NULL, *where = resolve_artifact_location(loc);
    rc = store_experiment_create(env->store, name, where, tags, ntags, &id, err);
    free(where);
    free(tags);
    if (rc < 0)
        return rc;
    resp->json = api_wrap("experiment_id", cJSON_CreateString(id));
    free(id);
    return 0;
}

HANDLER(experiment_get)
{
    const char *id;
    int rc = api_experiment_id(req->msg, "experiment_id", true, &id, err);
    cJSON *exp = NULL;
    if (rc < 0 || (rc = store_experiment_get(env->store, id, &exp, err)) < 0)
        return rc;
    resp->json = api_wrap("experiment", exp);
    return 0;
}

HANDLER(experiment_get_by_name)
{
    const char *name;
    int rc = cap_json_get_str(req->msg, "experiment_name", true, &name, err);
    cJSON *exp = NULL;
    if (rc < 0 || (rc = store_experiment_get_by_name(env->store, name, &exp, err)) < 0)
        return rc;
    resp->json = api_wrap("experiment", exp);
    return 0;
}

HANDLER(experiment_update)
{
    const char *id, *name;
    int rc;
    if ((rc = api_experiment_id(req->msg, "experiment_id", true, &id, err)) < 0)
        return rc;
    if ((rc = cap_json_get_str(req->msg, "new_name", false, &name, err)) < 0)
        return rc;
    if (rc == 1)
        return 0; /* MLflow: nothing to change */
    if ((rc = validate_experiment_name(name, err)) < 0)
        return rc;
    return store_experiment_rename(env->store, id, name, err);
}

HANDLER(experiment_delete)
{
    const char *id;
    int rc = api_experiment_id(req->msg, "experiment_id", true, &id, err);
    return rc < 0 ? rc : store_experiment_delete(env->store, id, err);
}

HANDLER(experiment_restore)
{
    const char *id;
    int rc = api_experiment_id(req->msg, "experiment_id", true, &id, err);
    return rc < 0 ? rc : store_experiment_restore(env->store, id, err);
}

HANDLER(experiment_set_tag)
{
    const char *id;
    struct cap_kv kv;
    int rc = api_experiment_id(req->msg, "experiment_id", true, &id, err);
    if (rc < 0 || (rc = api_kv_one(req->msg, "tag", "tag", &kv, err)) < 0)
        return rc;
    return store_experiment_set_tag(env->store, id, kv.key, kv.value, err);
}

HANDLER(experiment_delete_tag)
{
    const char *id, *key;
    int rc = api_experiment_id(req->msg, "experiment_id", true, &id, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "key", true, &key, err)) < 0)
        return rc;
    return store_experiment_delete_tag(env->store, id, key, err);
}

/* Reads filter, order_by, max_results, page_token and the view into q. */
static int read_query(const cJSON *msg, enum filter_target target, const char *view_field,
                      int max_default, int max_limit, struct store_query *q,
                      struct filter **filter, struct order_key **order, struct cap_error *err)
{
    const char *text = NULL, *token = NULL;
    int rc;
    memset(q, 0, sizeof *q);
    *filter = NULL;
    *order = NULL;
    if ((rc = api_view_type(msg, view_field, &q->view, err)) < 0 ||
        (rc = api_max_results(msg, max_default, max_limit, &q->max_results, err)) < 0)
        return rc;
    if ((rc = cap_json_get_str(msg, "filter", false, &text, err)) < 0)
        return rc;
    if (rc == 0 && (rc = filter_parse(text, target, filter, err)) < 0)
        return rc;
    q->filter = *filter;
    if ((rc = cap_json_get_str(msg, "page_token", false, &token, err)) < 0)
        return rc;
    q->page_token = token && *token ? token : NULL;
    if ((rc = api_order_by(msg, target, order, &q->norder, err)) < 0)
        return rc;
    q->order = *order;
    return 0;
}

static void add_page(cJSON *out, char *token)
{
    if (token) {
        cJSON_AddStringToObject(out, "next_page_token", token);
        free(token);
    }
}

HANDLER(experiment_search)
{
    struct store_query q;
    struct filter *filter;
    struct order_key *order;
    cJSON *list = NULL;
    char *token = NULL;
    int rc = read_query(req->msg, FILTER_TARGET_EXPERIMENTS, "view_type", 1000,
                        VALIDATE_MAX_RESULTS_EXPERIMENTS, &q, &filter, &order, err);
    if (rc == 0)
        rc = store_experiment_search(env->store, &q, &list, &token, err);
    filter_free(filter);
    api_order_free(order, q.norder);
    if (rc < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    if (cJSON_GetArraySize(list) > 0)
        cJSON_AddItemToObject(resp->json, "experiments", list);
    else
        cJSON_Delete(list);
    add_page(resp->json, token);
    return 0;
}

/* ---------------- runs ---------------- */

HANDLER(run_create)
{
    struct store_run_create in = {0};
    int64_t start = 0;
    int rc = api_experiment_id(req->msg, "experiment_id", false, &in.experiment_id, err);
    if (rc < 0)
        return rc;
    if (rc == 1)
        in.experiment_id = "0";
    if ((rc = cap_json_get_str(req->msg, "user_id", false, &in.user_id, err)) < 0)
        return rc;
    if ((rc = cap_json_get_i64(req->msg, "start_time", false, &start, err)) < 0)
        return rc;
    in.start_time = rc == 1 ? cap_now_ms() : start;
    if ((rc = cap_json_get_str(req->msg, "run_name", false, &in.run_name, err)) < 0)
        return rc;
    if (in.run_name && !*in.run_name)
        in.run_name = NULL;
    if (in.run_name && (rc = validate_run_name(in.run_name, err)) < 0)
        return rc;
    struct cap_kv *tags;
    if ((rc = api_kv_list(req->msg, "tags", "tag", &tags, &in.ntags, err)) < 0)
        return rc;
    in.tags = tags;
    cJSON *run = NULL;
    rc = store_run_create(env->store, &in, &run, err);
    free(tags);
    if (rc < 0)
        return rc;
    resp->json = api_wrap("run", run);
    return 0;
}

HANDLER(run_get)
{
    const char *id;
    cJSON *run = NULL;
    int rc = api_run_id(req->msg, &id, err);
    if (rc < 0 || (rc = store_run_get(env->store, id, &run, err)) < 0)
        return rc;
    resp->json = api_wrap("run", run);
    return 0;
}

HANDLER(run_update)
{
    const char *id, *status = NULL, *name = NULL;
    int64_t end = -1;
    int rc = api_run_id(req->msg, &id, err);
    if (rc < 0)
        return rc;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(req->msg, "status");
    if (cJSON_IsNumber(st)) {
        char num[8];
        snprintf(num, sizeof num, "%d", (int)st->valuedouble);
        if ((rc = validate_run_status(num, &status, err)) < 0)
            return rc;
    } else {
        const char *s;
        if ((rc = cap_json_get_str(req->msg, "status", false, &s, err)) < 0)
            return rc;
        if (rc == 0 && (rc = validate_run_status(s, &status, err)) < 0)
            return rc;
    }
    if ((rc = cap_json_get_i64(req->msg, "end_time", false, &end, err)) < 0)
        return rc;
    if (rc == 1)
        end = -1;
    if ((rc = cap_json_get_str(req->msg, "run_name", false, &name, err)) < 0)
        return rc;
    if (name && !*name)
        name = NULL;
    if (name && (rc = validate_run_name(name, err)) < 0)
        return rc;
    cJSON *info = NULL;
    if ((rc = store_run_update(env->store, id, status, end, name, &info, err)) < 0)
        return rc;
    resp->json = api_wrap("run_info", info);
    return 0;
}

HANDLER(run_delete)
{
    const char *id;
    int rc = api_run_id(req->msg, &id, err);
    return rc < 0 ? rc : store_run_delete(env->store, id, err);
}

HANDLER(run_restore)
{
    const char *id;
    int rc = api_run_id(req->msg, &id, err);
    return rc < 0 ? rc : store_run_restore(env->store, id, err);
}

/* A Metric message: key, value, timestamp required; step defaults to 0.
 * at names a list element in messages ("metrics[0]"); NULL for the request. */
static int read_metric(const cJSON *m, const char *at, struct store_metric *out,
                       struct cap_error *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(m))
        return cap_json_invalid(err, at ? at : "metrics", m, "expected a list of metric objects");
    if ((rc = cap_json_get_str_at(m, at, "key", true, &out->key, err)) < 0 ||
        (rc = validate_key("metric", out->key, err)) < 0)
        return rc;
    if ((rc = cap_json_get_double_at(m, at, "value", true, &out->value, err)) < 0)
        return rc;
    if ((rc = cap_json_get_i64_at(m, at, "timestamp", true, &out->timestamp, err)) < 0)
        return rc;
    if ((rc = cap_json_get_i64_at(m, at, "step", false, &out->step, err)) < 0)
        return rc;
    if ((rc = cap_json_get_str_at(m, at, "model_id", false, &out->model_id, err)) < 0 ||
        (rc = cap_json_get_str_at(m, at, "dataset_name", false, &out->dataset_name, err)) < 0 ||
        (rc = cap_json_get_str_at(m, at, "dataset_digest", false, &out->dataset_digest, err)) < 0)
        return rc;
    return 0;
}

HANDLER(run_log_metric)
{
    const char *id;
    struct store_metric m;
    int rc = api_run_id(req->msg, &id, err);
    if (rc < 0 || (rc = read_metric(req->msg, NULL, &m, err)) < 0)
        return rc;
    return store_run_log_batch(env->store, id, &m, 1, NULL, 0, NULL, 0, err);
}

HANDLER(run_log_param)
{
    const char *id;
    struct cap_kv kv;
    int rc = api_run_id(req->msg, &id, err);
    if (rc < 0 || (rc = api_kv_one(req->msg, "param", "param", &kv, err)) < 0)
        return rc;
    return store_run_log_batch(env->store, id, NULL, 0, &kv, 1, NULL, 0, err);
}

HANDLER(run_set_tag)
{
    const char *id;
    struct cap_kv kv;
    int rc = api_run_id(req->msg, &id, err);
    if (rc < 0 || (rc = api_kv_one(req->msg, "tag", "tag", &kv, err)) < 0)
        return rc;
    return store_run_log_batch(env->store, id, NULL, 0, NULL, 0, &kv, 1, err);
}

HANDLER(run_delete_tag)
{
    const char *id, *key;
    int rc = api_run_id(req->msg, &id, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "key", true, &key, err)) < 0)
        return rc;
    return store_run_delete_tag(env->store, id, key, err);
}

HANDLER(run_log_batch)
{
    const char *id;
    const cJSON *marr = NULL;
    struct cap_kv *params = NULL, *tags = NULL;
    size_t nparams = 0, ntags = 0;
    struct store_metric *metrics = NULL;
    int rc = api_run_id(req->msg, &id, err);
    if (rc < 0 || (rc = cap_json_get_array(req->msg, "metrics", false, &marr, err)) < 0)
        return rc;
    size_t nmetrics = (size_t)cap_json_array_size(marr);
    const cJSON *parr = cJSON_GetObjectItemCaseSensitive(req->msg, "params");
    const cJSON *tarr = cJSON_GetObjectItemCaseSensitive(req->msg, "tags");
    /* Sizes first: an over-limit batch is refused before anything is read. */
    if ((rc = validate_batch_sizes(nmetrics, (size_t)cap_json_array_size(parr),
                                   (size_t)cap_json_array_size(tarr), err)) < 0)
        return rc;
    metrics = cap_xcalloc(nmetrics + 1, sizeof *metrics);
    size_t mi = 0;
    char at[48];
    for (const cJSON *m = cap_json_array_first(marr); m; m = cap_json_array_next(marr, m), mi++) {
        api_item_name(at, sizeof at, "metrics", marr, (int)mi);
        if ((rc = read_metric(m, at, &metrics[mi], err)) < 0)
            goto done;
    }
    if ((rc = api_kv_list(req->msg, "params", "param", &params, &nparams, err)) < 0 ||
        (rc = api_kv_list(req->msg, "tags", "tag", &tags, &ntags, err)) < 0)
        goto done;
    rc = store_run_log_batch(env->store, id, metrics, nmetrics, params, nparams, tags, ntags, err);
done:
    free(metrics);
    free(params);
    free(tags);
    return rc;
}

static int read_dataset_input(const cJSON *item, struct store_dataset_input *out,
                              struct cap_kv **tags, struct cap_error *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    *tags = NULL;
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(item, "dataset");
    if (!cJSON_IsObject(ds))
        return cap_err(err, CAP_EINVAL,
                       "Missing value for required parameter 'datasets[].dataset': expected "
                       "an object with name, digest, source_type and source");
    if ((rc = cap_json_get_str(ds, "name", true, &out->name, err)) < 0 ||
        (rc = cap_json_get_str(ds, "digest", true, &out->digest, err)) < 0 ||
        (rc = cap_json_get_str(ds, "source_type", true, &out->source_type, err)) < 0 ||
        (rc = cap_json_get_str(ds, "source", true, &out->source, err)) < 0 ||
        (rc = cap_json_get_str(ds, "schema", false, &out->schema, err)) < 0 ||
        (rc = cap_json_get_str(ds, "profile", false, &out->profile, err)) < 0)
        return rc;
    if (strlen(out->name) > 500 || strlen(out->digest) > 36)
        return cap_err(err, CAP_EINVAL,
                       "Dataset name must be at most 500 characters and digest at most 36");
    if ((rc = api_kv_list(item, "tags", "tag", tags, &out->ntags, err)) < 0)
        return rc;
    out->tags = *tags;
    return 0;
}

HANDLER(run_log_inputs)
{
    const char *id;
    const cJSON *darr = NULL, *marr = NULL;
    int rc = api_run_id(req->msg, &id, err);
    if (rc < 0 || (rc = cap_json_get_array(req->msg, "datasets", false, &darr, err)) < 0 ||
        (rc = cap_json_get_array(req->msg, "models", false, &marr, err)) < 0)
        return rc;
    size_t nd = (size_t)cap_json_array_size(darr), nm = (size_t)cap_json_array_size(marr);
    struct store_dataset_input *ds = cap_xcalloc(nd + 1, sizeof *ds);
    struct cap_kv **tagsets = cap_xcalloc(nd + 1, sizeof *tagsets);
    const char **models = cap_xcalloc(nm + 1, sizeof *models);
    size_t i = 0;
    for (const cJSON *d = cap_json_array_first(darr); d && rc >= 0;
         d = cap_json_array_next(darr, d), i++)
        rc = read_dataset_input(d, &ds[i], &tagsets[i], err);
    i = 0;
    for (const cJSON *m = cap_json_array_first(marr); m && rc >= 0;
         m = cap_json_array_next(marr, m), i++)
        rc = cap_json_get_str(m, "model_id", true, &models[i], err);
    if (rc >= 0)
        rc = store_run_log_inputs(env->store, id, ds, nd, models, nm, err);
    for (i = 0; i < nd; i++)
        free(tagsets[i]);
    free(tagsets);
    free(ds);
    free(models);
    return rc < 0 ? rc : 0;
}

HANDLER(run_log_outputs)
{
    const char *id;
    const cJSON *marr = NULL;
    int rc = api_run_id(req->msg, &id, err);
    if (rc < 0 || (rc = cap_json_get_array(req->msg, "models", false, &marr, err)) < 0)
        return rc;
    size_t n = (size_t)cap_json_array_size(marr);
    struct store_model_output *outs = cap_xcalloc(n + 1, sizeof *outs);
    size_t i = 0;
    for (const cJSON *m = cap_json_array_first(marr); m && rc >= 0;
         m = cap_json_array_next(marr, m), i++) {
        rc = cap_json_get_str(m, "model_id", true, &outs[i].model_id, err);
        if (rc >= 0)
            rc = cap_json_get_i64(m, "step", false, &outs[i].step, err);
    }
    if (rc >= 0)
        rc = store_run_log_outputs(env->store, id, outs, n, err);
    free(outs);
    return rc < 0 ? rc : 0;
}

/* 2.x clients record each logged model as JSON in the run tag
 * mlflow.log-model.history; the list grows by one entry per call. */
HANDLER(run_log_model)
{
    const char *id, *model_json;
    int rc = api_run_id(req->msg, &id, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "model_json", true, &model_json, err)) < 0)
        return rc;
    cJSON *model = cJSON_Parse(model_json);
    if (!model || !cJSON_IsObject(model)) {
        cJSON_Delete(model);
        return cap_json_invalid_str(err, "model_json", model_json, "expected a JSON object");
    }
    cJSON *run = NULL;
    if ((rc = store_run_get(env->store, id, &run, err)) < 0) {
        cJSON_Delete(model);
        return rc;
    }
    cJSON *history = NULL;
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(run, "data"), "tags");
    const cJSON *t;
    cJSON_ArrayForEach(t, tags)
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(t, "key");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, "value");
        if (cJSON_IsString(k) && strcmp(k->valuestring, "mlflow.log-model.history") == 0 &&
            cJSON_IsString(v))
            history = cJSON_Parse(v->valuestring);
    }
    cJSON_Delete(run);
    if (!cJSON_IsArray(history)) {
        cJSON_Delete(history);
        history = cJSON_CreateArray();
    }
    cJSON_AddItemToArray(history, model);
    char *value = cap_json_print(history);
    cJSON_Delete(history);
    struct cap_kv kv = {"mlflow.log-model.history", value};
    rc = store_run_log_batch(env->store, id, NULL, 0, NULL, 0, &kv, 1, err);
    free(value);
    return rc;
}

HANDLER(run_search)
{
    struct store_run_query rq = {0};
    struct filter *filter;
    struct order_key *order;
    const cJSON *ids = NULL;
    cJSON *list = NULL;
    char *token = NULL;
    const char **idv = NULL;
    int rc = read_query(req->msg, FILTER_TARGET_RUNS, "run_view_type", 1000,
                        VALIDATE_MAX_RESULTS_RUNS, &rq.q, &filter, &order, err);
    if (rc < 0)
        goto done;
    if ((rc = cap_json_get_array(req->msg, "experiment_ids", false, &ids, err)) < 0)
        goto done;
    rq.nexperiments = (size_t)cap_json_array_size(ids);
    idv = cap_xcalloc(rq.nexperiments + 1, sizeof *idv);
    size_t i = 0;
    for (const cJSON *v = cap_json_array_first(ids); v; v = cap_json_array_next(ids, v), i++) {
        if (!cJSON_IsString(v)) {
            rc = cap_json_invalid(err, "experiment_ids", v,
                                  "expected a list of experiment ID strings");
            goto done;
        }
        if ((rc = validate_experiment_id(v->valuestring, err)) < 0)
            goto done;
        idv[i] = v->valuestring;
    }
    rq.experiment_ids = idv;
    rc = store_run_search(env->store, &rq, &list, &token, err);
done:
    free(idv);
    filter_free(filter);
    api_order_free(order, rq.q.norder);
    if (rc < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    if (cJSON_GetArraySize(list) > 0)
        cJSON_AddItemToObject(resp->json, "runs", list);
    else
        cJSON_Delete(list);
    add_page(resp->json, token);
    return 0;
}

HANDLER(metric_history)
{
    const char *id, *key, *token = NULL;
    int64_t max = 0;
    cJSON *list = NULL;
    char *next = NULL;
    int rc = api_run_id(req->msg, &id, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "metric_key", true, &key, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "max_results", false, &max, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "page_token", false, &token, err)) < 0)
        return rc;
    if (max < 0 || max > INT32_MAX)
        return cap_json_invalid(err, "max_results",
                                cJSON_GetObjectItemCaseSensitive(req->msg, "max_results"),
                                "expected a positive integer");
    if ((rc = store_metric_history_page(env->store, id, key, (int)max,
                                        token && *token ? token : NULL, &list, &next, err)) < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    cJSON_AddItemToObject(resp->json, "metrics", list);
    add_page(resp->json, next);
    return 0;
}

#define HISTORY_MAX_RUNS 100       /* run ids in one bulk request, as MLflow */
#define HISTORY_BULK_MAX 25000     /* points in one answer, as MLflow */
#define HISTORY_PER_RUN_MAX 2500   /* sampled steps per run, as MLflow */

/* Appends run_id's points of key (MLflow's order) to out, at most *left of
 * them. A run that does not exist has none. */
static int bulk_append(const struct api_env *env, const char *run_id, const char *key,
                       cJSON *out, int *left, struct cap_error *err)
{
    cJSON *hist = NULL;
    char *next = NULL;
    int rc = validate_run_id(run_id, err);
    if (rc == 0)
        rc = store_metric_history_page(env->store, run_id, key, *left, NULL, &hist, &next, err);
    free(next);
    if (rc == -CAP_ENOTFOUND || rc == -CAP_EINVAL)
        return 0;
    if (rc < 0)
        return rc;
    for (cJSON *m = hist->child; m; m = m->next, --*left)
        cJSON_AddStringToObject(m, "run_id", run_id);
    cJSON *m;
    while ((m = cJSON_DetachItemFromArray(hist, 0)))
        cJSON_AddItemToArray(out, m);
    cJSON_Delete(hist);
    return 0;
}

/* GET metrics/get-history-bulk?run_id=..&run_id=..&metric_key=..: every
 * point of the key in the runs, by run id, then time, step and value. */
HANDLER(metric_history_bulk)
{
    const cJSON *ids = NULL;
    const char *key = NULL;
    int64_t max = HISTORY_BULK_MAX;
    int rc = cap_json_get_array(req->msg, "run_id", false, &ids, err);
    if (rc < 0)
        return rc;
    int n = cap_json_array_size(ids);
    if (n == 0)
        return cap_err(err, CAP_EINVAL,
                       "GetMetricHistoryBulk request must specify at least one run_id.");
    if (n > HISTORY_MAX_RUNS)
        return cap_err(err, CAP_EINVAL,
                       "GetMetricHistoryBulk request cannot specify more than %d run_ids. "
                       "Received %d run_ids.",
                       HISTORY_MAX_RUNS, n);
    if ((rc = cap_json_get_str(req->msg, "metric_key", false, &key, err)) < 0)
        return rc;
    if (rc == 1)
        return cap_err(err, CAP_EINVAL, "GetMetricHistoryBulk request must specify a metric_key.");
    if ((rc = cap_json_get_i64(req->msg, "max_results", false, &max, err)) < 0)
        return rc;
    int left = max < HISTORY_BULK_MAX ? (int)(max > 0 ? max : 0) : HISTORY_BULK_MAX;
    const char **sorted;
    if ((rc = cap_json_strings(ids, "run_id", "expected a list of run ID strings", &sorted, err)) < 0)
        return rc;
    qsort(sorted, (size_t)n, sizeof *sorted, cap_strp_cmp);
    cJSON *out = cJSON_CreateArray();
    for (int i = 0; i < n && left > 0 && rc >= 0; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
            rc = bulk_append(env, sorted[i], key, out, &left, err);
    free(sorted);
    if (rc < 0) {
        cJSON_Delete(out);
        return rc;
    }
    resp->json = api_wrap("metrics", out);
    return 0;
}

/* ---- get-history-bulk-interval: MLflow's sampled steps ---- */

struct interval_query {
    const char **run_ids;
    int nruns;
    const char *key;
    int max;                /* sampled steps: 1 .. HISTORY_PER_RUN_MAX */
    bool ranged;            /* start and end given */
    int64_t start, end;
};

static int interval_read(const cJSON *msg, struct interval_query *q, struct cap_error *err)
{
    const cJSON *ids = NULL;
    int64_t max = HISTORY_PER_RUN_MAX;
    int rc_start, rc_end, rc;
    memset(q, 0, sizeof *q);
    if ((rc = cap_json_get_array(msg, "run_ids", true, &ids, err)) < 0)
        return rc;
    q->nruns = cap_json_array_size(ids);
    if (q->nruns > HISTORY_MAX_RUNS)
        return cap_err(err, CAP_EINVAL,
                       "GetMetricHistoryBulkInterval request must specify at most %d run_ids. "
                       "Received %d run_ids.",
                       HISTORY_MAX_RUNS, q->nruns);
    if ((rc = cap_json_get_str(msg, "metric_key", true, &q->key, err)) < 0)
        return rc;
    if (!*q->key) /* MLflow's required-parameter check takes "" for absent */
        return cap_json_missing("metric_key", err);
    if ((rc_start = cap_json_get_i64(msg, "start_step", false, &q->start, err)) < 0)
        return rc_start;
    if ((rc_end = cap_json_get_i64(msg, "end_step", false, &q->end, err)) < 0)
        return rc_end;
    if ((rc = cap_json_get_i64(msg, "max_results", false, &max, err)) < 0)
        return rc;
    if (max < 1 || max > HISTORY_PER_RUN_MAX)
        return cap_err(err, CAP_EINVAL, "max_results must be between 1 and %d.",
                       HISTORY_PER_RUN_MAX);
    q->max = (int)max;
    if (rc_start != rc_end)
        return cap_err(err, CAP_EINVAL, "If either start step or end step are specified, both "
                                        "must be specified.");
    q->ranged = rc_start == 0;
    if (q->ranged && q->start > q->end)
        return cap_err(err, CAP_EINVAL,
                       "end_step must be greater than start_step. Found start_step=%lld and "
                       "end_step=%lld.",
                       (long long)q->start, (long long)q->end);
    rc = cap_json_strings(ids, "run_ids", "expected a list of run ID strings", &q->run_ids, err);
    return rc < 0 ? rc : 0;
}

static int64_t step_of(const cJSON *m)
{
    return (int64_t)cJSON_GetObjectItemCaseSensitive(m, "step")->valuedouble;
}

static int i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Index of the first step >= v (upper: > v) in the sorted steps. */
static size_t step_bound(const int64_t *steps, size_t n, int64_t v, bool upper)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (steps[mid] < v || (upper && steps[mid] == v))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* MLflow's choice of steps: of the distinct steps of all runs within the
 * range (default 0 .. the last step), every (count / max)-th one up to max
 * of them and the last; plus each run's first and last step in the range.
 * Returns them sorted and unique in *out (free it). */
static size_t sample_steps(cJSON *const *hists, int nruns, const struct interval_query *q,
                           int64_t **out)
{
    size_t n = 0, cap = 16;
    int64_t *all = cap_xcalloc(cap, sizeof *all);
    for (int r = 0; r < nruns; r++)
        for (const cJSON *m = hists[r]->child; m; m = m->next) {
            if (n == cap)
                all = cap_xrealloc(all, (cap *= 2) * sizeof *all);
            all[n++] = step_of(m);
        }
    qsort(all, n, sizeof *all, i64_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || all[i] != all[u - 1])
            all[u++] = all[i];
    int64_t start = q->ranged ? q->start : 0, end = q->ranged ? q->end : (u ? all[u - 1] : 0);
    size_t lo = step_bound(all, u, start, false), hi = step_bound(all, u, end, true);
    int64_t *pick = cap_xcalloc((size_t)q->max + 2 * (size_t)nruns + (hi - lo) + 2, sizeof *pick);
    size_t np = 0;
    if (hi - lo <= (size_t)q->max) {
        for (size_t i = lo; i < hi; i++)
            pick[np++] = all[i];
    } else {
        double interval = (double)(hi - lo) / q->max;
        for (int i = 0; i < q->max; i++)
            pick[np++] = all[lo + (size_t)(i * interval)];
        pick[np++] = all[hi - 1];
    }
    for (int r = 0; r < nruns; r++) {
        const cJSON *first = hists[r]->child;
        if (!first)
            continue;
        /* a history is ordered by step: its first and last points bound it */
        const cJSON *last = first;
        while (last->next)
            last = last->next;
        int64_t mn = step_of(first), mx = step_of(last);
        if (mn >= start && mn <= end)
            pick[np++] = mn;
        if (mx >= start && mx <= end)
            pick[np++] = mx;
    }
    free(all);
    qsort(pick, np, sizeof *pick, i64_cmp);
    u = 0;
    for (size_t i = 0; i < np; i++)
        if (u == 0 || pick[i] != pick[u - 1])
            pick[u++] = pick[i];
    *out = pick;
    return u;
}

static int point_cmp(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    static const char *const keys[] = {"step", "timestamp", "value"};
    for (int i = 0; i < 3; i++) {
        double dx = 0, dy = 0;
        cap_json_value_double(cJSON_GetObjectItemCaseSensitive(x, keys[i]), &dx);
        cap_json_value_double(cJSON_GetObjectItemCaseSensitive(y, keys[i]), &dy);
        if (dx != dy)
            return dx < dy ? -1 : 1;
    }
    return 0;
}

/* Moves hist's points at the sampled steps to out, in MLflow's order
 * (step, timestamp, value), at most HISTORY_BULK_MAX of them. */
static void take_sampled(cJSON *hist, const char *run_id, const int64_t *steps, size_t nsteps,
                         cJSON *out)
{
    int n = cJSON_GetArraySize(hist), k = 0;
    cJSON **pts = cap_xcalloc((size_t)n + 1, sizeof *pts);
    for (cJSON *m = hist->child; m; m = m->next) {
        int64_t st = step_of(m);
        size_t at = step_bound(steps, nsteps, st, false);
        if (at < nsteps && steps[at] == st)
            pts[k++] = m;
    }
    qsort(pts, (size_t)k, sizeof *pts, point_cmp);
    for (int i = 0; i < k && i < HISTORY_BULK_MAX; i++) {
        cJSON *m = cJSON_DetachItemViaPointer(hist, pts[i]);
        cJSON_AddStringToObject(m, "run_id", run_id);
        cJSON_AddItemToArray(out, m);
    }
    free(pts);
}

HANDLER(metric_history_bulk_interval)
{
    struct interval_query q;
    int rc = interval_read(req->msg, &q, err);
    cJSON **hists = cap_xcalloc((size_t)q.nruns + 1, sizeof *hists);
    for (int i = 0; i < q.nruns && rc >= 0; i++)
        if ((rc = validate_run_id(q.run_ids[i], err)) == 0)
            rc = store_metric_history(env->store, q.run_ids[i], q.key, &hists[i], err);
    if (rc >= 0) {
        int64_t *steps = NULL;
        size_t nsteps = sample_steps(hists, q.nruns, &q, &steps);
        cJSON *out = cJSON_CreateArray();
        for (int i = 0; i < q.nruns; i++)
            take_sampled(hists[i], q.run_ids[i], steps, nsteps, out);
        free(steps);
        resp->json = api_wrap("metrics", out);
    }
    for (int i = 0; i < q.nruns; i++)
        cJSON_Delete(hists[i]);
    free(hists);
    free(q.run_ids);
    return rc < 0 ? rc : 0;
}

/* MLflow's limit on one SearchDatasets request */
#define DATASET_SEARCH_MAX_EXPERIMENTS 20

/* POST experiments/search-datasets: the datasets runs of the experiments used. */
HANDLER(dataset_search)
{
    const cJSON *ids = NULL;
    int rc = cap_json_get_array(req->msg, "experiment_ids", false, &ids, err);
    if (rc < 0)
        return rc;
    int n = cap_json_array_size(ids);
    if (n == 0)
        return cap_err(err, CAP_EINVAL,
                       "SearchDatasets request must specify at least one experiment_id.");
    if (n > DATASET_SEARCH_MAX_EXPERIMENTS)
        return cap_err(err, CAP_EINVAL,
                       "SearchDatasets request cannot specify more than %d experiment_ids. "
                       "Received %d experiment_ids.",
                       DATASET_SEARCH_MAX_EXPERIMENTS, n);
    const char **idv;
    if ((rc = cap_json_strings(ids, "experiment_ids", "expected a list of strings", &idv, err)) < 0)
        return rc;
    for (int i = 0; i < n && rc >= 0; i++)
        rc = validate_experiment_id(idv[i], err);
    cJSON *list = NULL;
    if (rc >= 0)
        rc = store_dataset_summaries(env->store, idv, (size_t)n, &list, err);
    free(idv);
    if (rc < 0)
        return rc;
    resp->json = api_wrap("dataset_summaries", list);
    return 0;
}

/* ---------------- logged models (3.x) ---------------- */

HANDLER(logged_model_create)
{
    struct store_logged_model_create in = {0};
    struct cap_kv *params = NULL, *tags = NULL;
    int rc = api_experiment_id(req->msg, "experiment_id", true, &in.experiment_id, err);
    if (rc < 0 || (rc = cap_json_get_str(req->msg, "name", false, &in.name, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "model_type", false, &in.model_type, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "source_run_id", false, &in.source_run_id, err)) < 0)
        return rc;
    if (in.source_run_id && *in.source_run_id &&
        (rc = validate_run_id(in.source_run_id, err)) < 0)
        return rc;
    if (in.source_run_id && !*in.source_run_id)
        in.source_run_id = NULL;
    if (in.name && strlen(in.name) > 500)
        return cap_err(err, CAP_EINVAL, "Logged model name must be at most 500 characters");
    if ((rc = api_kv_list(req->msg, "params", "param", &params, &in.nparams, err)) < 0 ||
        (rc = api_kv_list(req->msg, "tags", "tag", &tags, &in.ntags, err)) < 0)
        goto done;
    in.params = params;
    in.tags = tags;
    cJSON *model = NULL;
    if ((rc = store_logged_model_create(env->store, &in, &model, err)) < 0)
        goto done;
    resp->json = api_wrap("model", model);
done:
    free(params);
    free(tags);
    return rc < 0 ? rc : 0;
}

HANDLER(logged_model_get)
{
    cJSON *model = NULL;
    bool allow_deleted = false;
    int rc = cap_json_get_bool(req->msg, "allow_deleted", false, &allow_deleted, err);
    if (rc < 0 || (rc = store_logged_model_get(env->store, req->params[0], &model, err)) < 0)
        return rc;
    /* Like MLflow, a deleted model is gone unless the caller asks for it. */
    const cJSON *stage = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(model, "info"), "lifecycle_stage");
    if (!allow_deleted && cJSON_IsString(stage) && strcmp(stage->valuestring, "deleted") == 0) {
        cJSON_Delete(model);
        return cap_err(err, CAP_ENOTFOUND, "Logged model with ID '%s' not found",
                       req->params[0]);
    }
    resp->json = api_wrap("model", model);
    return 0;
}

HANDLER(logged_model_finalize)
{
    const char *status;
    cJSON *model = NULL;
    int rc = cap_json_get_str(req->msg, "status", true, &status, err);
    if (rc < 0)
        return rc;
    if (strcmp(status, "LOGGED_MODEL_READY") != 0 &&
        strcmp(status, "LOGGED_MODEL_UPLOAD_FAILED") != 0 &&
        strcmp(status, "LOGGED_MODEL_PENDING") != 0)
        return cap_json_invalid_str(err, "status", status,
                                    "expected LOGGED_MODEL_READY, LOGGED_MODEL_UPLOAD_FAILED or "
                                    "LOGGED_MODEL_PENDING");
    if ((rc = store_logged_model_finalize(env->store, req->params[0], status, &model, err)) < 0)
        return rc;
    resp->json = api_wrap("model", model);
    return 0;
}

HANDLER(logged_model_delete)
{
    return store_logged_model_delete(env->store, req->params[0], err);
}

HANDLER(logged_model_set_tags)
{
    struct cap_kv *tags;
    size_t n;
    int rc = api_kv_list(req->msg, "tags", "tag", &tags, &n, err);
    if (rc < 0)
        return rc;
    rc = store_logged_model_set_tags(env->store, req->params[0], tags, n, err);
    free(tags);
    return rc;
}

HANDLER(logged_model_delete_tag)
{
    return store_logged_model_delete_tag(env->store, req->params[0], req->params[1], err);
}

HANDLER(logged_model_log_params)
{
    struct cap_kv *params;
    size_t n;
    int rc = api_kv_list(req->msg, "params", "param", &params, &n, err);
    if (rc < 0)
        return rc;
    rc = store_logged_model_log_params(env->store, req->params[0], params, n, err);
    free(params);
    return rc;
}

/* order_by here is a list of {field_name, ascending} objects, not strings. */
static int logged_model_order(const cJSON *msg, struct order_key **out, size_t *n,
                              struct cap_error *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(msg, "order_by");
    int count = cap_json_array_size(cJSON_IsNull(arr) ? NULL : arr);
    *out = cap_xcalloc((size_t)count + 1, sizeof **out);
    *n = 0;
    int i = 0;
    for (const cJSON *o = cap_json_array_first(arr); o; o = cap_json_array_next(arr, o), i++) {
        const char *field;
        bool asc = true;
        int rc = cap_json_get_str(o, "field_name", true, &field, err);
        if (rc == 0)
            rc = cap_json_get_bool(o, "ascending", false, &asc, err);
        if (rc >= 0) {
            struct cap_buf b;
            cap_buf_init(&b);
            cap_buf_printf(&b, "%s %s", field, asc ? "ASC" : "DESC");
            rc = order_key_parse(b.data, FILTER_TARGET_LOGGED_MODELS, &(*out)[i], err);
            cap_buf_free(&b);
        }
        if (rc < 0) {
            api_order_free(*out, (size_t)i);
            *out = NULL;
            return rc;
        }
        *n = (size_t)i + 1;
    }
    return 0;
}

/* datasets: [{dataset_name, dataset_digest?}]; *out is malloc'd (free it). */
static int logged_model_datasets(const cJSON *msg, struct store_dataset_filter **out, size_t *n,
                                 struct cap_error *err)
{
    const cJSON *arr = NULL;
    int rc = cap_json_get_array(msg, "datasets", false, &arr, err);
    *n = (size_t)cap_json_array_size(arr);
    *out = cap_xcalloc(*n + 1, sizeof **out);
    if (rc < 0)
        return rc;
    size_t i = 0;
    char at[48];
    for (const cJSON *d = cap_json_array_first(arr); d; d = cap_json_array_next(arr, d), i++) {
        api_item_name(at, sizeof at, "datasets", arr, (int)i);
        if (!cJSON_IsObject(d))
            return cap_json_invalid(err, at, d, "expected a list of dataset objects");
        if ((rc = cap_json_get_str_at(d, at, "dataset_name", false, &(*out)[i].name, err)) < 0 ||
            (rc = cap_json_get_str_at(d, at, "dataset_digest", false, &(*out)[i].digest, err)) < 0)
            return rc;
        if (!(*out)[i].name || !*(*out)[i].name)
            return cap_err(err, CAP_EINVAL,
                           "`dataset_name` in the `datasets` clause must be specified.");
        if ((*out)[i].digest && !*(*out)[i].digest)
            (*out)[i].digest = NULL;
    }
    return 0;
}

HANDLER(logged_model_search)
{
    struct store_dataset_filter *datasets = NULL;
    struct store_logged_model_query lq = {0};
    const cJSON *ids = NULL;
    const char *text = NULL, *token = NULL;
    struct filter *filter = NULL;
    struct order_key *order = NULL;
    const char **idv = NULL;
    cJSON *list = NULL;
    char *next = NULL;
    int rc;
    lq.q.view = STORE_VIEW_ACTIVE;
    if ((rc = api_max_results(req->msg, 100, 1000, &lq.q.max_results, err)) < 0 ||
        (rc = cap_json_get_array(req->msg, "experiment_ids", false, &ids, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "filter", false, &text, err)) < 0)
        goto done;
    if (rc == 0 && (rc = filter_parse(text, FILTER_TARGET_LOGGED_MODELS, &filter, err)) < 0)
        goto done;
    if ((rc = cap_json_get_str(req->msg, "page_token", false, &token, err)) < 0 ||
        (rc = logged_model_order(req->msg, &order, &lq.q.norder, err)) < 0 ||
        (rc = logged_model_datasets(req->msg, &datasets, &lq.ndatasets, err)) < 0)
        goto done;
    lq.datasets = datasets;
    lq.q.filter = filter;
    lq.q.order = order;
    lq.q.page_token = token && *token ? token : NULL;
    lq.nexperiments = (size_t)cap_json_array_size(ids);
    idv = cap_xcalloc(lq.nexperiments + 1, sizeof *idv);
    size_t i = 0;
    for (const cJSON *v = cap_json_array_first(ids); v; v = cap_json_array_next(ids, v), i++) {
        if (!cJSON_IsString(v) || (rc = validate_experiment_id(v->valuestring, err)) < 0) {
            rc = rc < 0 ? rc
                        : cap_err(err, CAP_EINVAL, "experiment_ids must be a list of strings");
            goto done;
        }
        idv[i] = v->valuestring;
    }
    lq.experiment_ids = idv;
    rc = store_logged_model_search(env->store, &lq, &list, &next, err);
done:
    free(idv);
    free(datasets);
    filter_free(filter);
    api_order_free(order, lq.q.norder);
    if (rc < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    cJSON_AddItemToObject(resp->json, "models", list ? list : cJSON_CreateArray());
    add_page(resp->json, next);
    return 0;
}

/* ---------------- health ---------------- */

HANDLER(health)
{
    resp->text = cap_xstrdup("OK");
    return 0;
}

HANDLER(version)
{
    resp->text = cap_xstrdup(env->version);
    return 0;
}

#define P "/api/2.0/mlflow/"
#define J API_BODY_JSON
const struct api_route api_tracking_routes[] = {
    {"GET", "/health", API_BODY_NONE, health, NULL, API_ERRORS_MLFLOW, true, API_ACCESS(PUBLIC, NONE)},
    {"GET", "/version", API_BODY_NONE, version, NULL, API_ERRORS_MLFLOW, true, API_ACCESS(PUBLIC, NONE)},
    {"POST", P "experiments/create", J, experiment_create, NULL, API_ACCESS_AFTER(USER, NONE, GRANT_EXPERIMENT)},
    {"GET", P "experiments/get", J, experiment_get, NULL, API_ACCESS(EXPERIMENT, READ)},
    {"GET", P "experiments/get-by-name", J, experiment_get_by_name, NULL, API_ACCESS(EXPERIMENT_NAME, READ)},
    {"POST", P "experiments/search", J, experiment_search, NULL, API_ACCESS_AFTER(USER, NONE, FILTER_EXPERIMENTS)},
    {"GET", P "experiments/search", J, experiment_search, NULL, API_ACCESS_AFTER(USER, NONE, FILTER_EXPERIMENTS)},
    {"POST", P "experiments/update", J, experiment_update, NULL, API_ACCESS(EXPERIMENT, UPDATE)},
    {"POST", P "experiments/delete", J, experiment_delete, NULL, API_ACCESS(EXPERIMENT, DELETE)},
    {"POST", P "experiments/restore", J, experiment_restore, NULL, API_ACCESS(EXPERIMENT, DELETE)},
    {"POST", P "experiments/set-experiment-tag", J, experiment_set_tag, NULL, API_ACCESS(EXPERIMENT, UPDATE)},
    {"POST", P "experiments/delete-experiment-tag", J, experiment_delete_tag, NULL, API_ACCESS(EXPERIMENT, DELETE)},
    {"POST", P "runs/create", J, run_create, NULL, API_ACCESS(EXPERIMENT, UPDATE)},
    {"GET", P "runs/get", J, run_get, NULL, API_ACCESS(RUN, READ)},
    {"POST", P "runs/update", J, run_update, NULL, API_ACCESS(RUN, UPDATE)},
    {"POST", P "runs/delete", J, run_delete, NULL, API_ACCESS(RUN, DELETE)},
    {"POST", P "runs/restore", J, run_restore, NULL, API_ACCESS(RUN, DELETE)},
    {"POST", P "runs/log-metric", J, run_log_metric, NULL, API_ACCESS(RUN, UPDATE)},
    {"POST", P "runs/log-parameter", J, run_log_param, NULL, API_ACCESS(RUN, UPDATE)},
    {"POST", P "runs/set-tag", J, run_set_tag, NULL, API_ACCESS(RUN, UPDATE)},
    {"POST", P "runs/delete-tag", J, run_delete_tag, NULL, API_ACCESS(RUN, DELETE)},
    {"POST", P "runs/log-batch", J, run_log_batch, NULL, API_ACCESS(RUN, UPDATE)},
    {"POST", P "runs/log-inputs", J, run_log_inputs, NULL, API_ACCESS(RUN, UPDATE)},
    {"POST", P "runs/outputs", J, run_log_outputs, NULL, API_ACCESS(RUN, UPDATE)},
    {"POST", P "runs/log-model", J, run_log_model, NULL, API_ACCESS(RUN, UPDATE)},
    {"POST", P "runs/search", J, run_search, NULL, API_ACCESS(EXPERIMENTS, READ)},
    {"GET", P "metrics/get-history", J, metric_history, NULL, API_ACCESS(RUN, READ)},
    {"GET", P "metrics/get-history-bulk", J, metric_history_bulk, NULL, API_ACCESS(RUNS, READ)},
    {"GET", P "metrics/get-history-bulk-interval", J, metric_history_bulk_interval, NULL, API_ACCESS(RUNS, READ)},
    {"POST", P "experiments/search-datasets", J, dataset_search, NULL, API_ACCESS(EXPERIMENTS, READ)},
    {"POST", P "logged-models", J, logged_model_create, NULL, API_ACCESS(EXPERIMENT, UPDATE)},
    {"POST", P "logged-models/search", J, logged_model_search, NULL, API_ACCESS(EXPERIMENTS, READ)},
    {"GET", P "logged-models/{model_id}", J, logged_model_get, NULL, API_ACCESS(LOGGED_MODEL, READ)},
    {"PATCH", P "logged-models/{model_id}", J, logged_model_finalize, NULL, API_ACCESS(LOGGED_MODEL, UPDATE)},
    {"DELETE", P "logged-models/{model_id}", J, logged_model_delete, NULL, API_ACCESS(LOGGED_MODEL, DELETE)},
    {"PATCH", P "logged-models/{model_id}/tags", J, logged_model_set_tags, NULL, API_ACCESS(LOGGED_MODEL, UPDATE)},
    {"DELETE", P "logged-models/{model_id}/tags/{tag_key}", J, logged_model_delete_tag, NULL, API_ACCESS(LOGGED_MODEL, DELETE)},
    {"POST", P "logged-models/{model_id}/params", J, logged_model_log_params, NULL, API_ACCESS(LOGGED_MODEL, UPDATE)},
    {NULL, NULL, J, NULL, NULL},
};
