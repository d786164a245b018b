/* datasets.c - datasets under /api/2.0/capstan/datasets, MLflow's error
 * shape (data/ holds the rules; adding a tree happens where the files are,
 * with `capstan data add`):
 *   GET    /datasets/list                         {"datasets": [{name, versions, latest}]}
 *   GET    /datasets/get?ref=NAME[@N|@K=V]        {"version": {...}}
 *   GET    /datasets/versions?name=               {"versions": [...]} newest first
 *   GET    /datasets/files?ref=&max_results=&page_token=
 *                                                 {"files": [{path, size, hash}], next_page_token?}
 *   GET    /datasets/diff?a=REF&b=REF             {a, b, added, removed, changed, unchanged}
 *   DELETE /datasets/delete?ref=NAME[@N]          {"name", "removed"}
 *   POST   /datasets/gc {"dry_run"?}              {objects_kept, objects_deleted, bytes_deleted}
 *   GET    /datasets/usage?ref=                   {version, runs, model_versions}: who used it
 *   POST   /datasets/log-input {"ref", "run_id", "context"?}
 *                                                 the run used it: an MLflow dataset input */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/common.h"
#include "base/json.h"
#include "data/data.h"

#define PREFIX "/api/2.0/capstan/datasets"

static int ctx_of(const struct api_env *env, struct data_ctx *c, struct cap_error *err)
{
    if (!env->store || !env->datasets)
        return cap_err(err, CAP_ENOTIMPL, "Datasets are not served by this process");
    *c = (struct data_ctx){.st = env->store, .objects = env->datasets};
    return 0;
}

static int arg(const cJSON *msg, const char *field, const char **out, struct cap_error *err)
{
    return cap_json_get_str(msg, field, true, out, err);
}

static int list(const struct api_env *env, const struct api_request *req,
                struct api_response *resp, struct cap_error *err)
{
    struct data_ctx c;
    cJSON *out = NULL;
    int rc;
    if ((rc = ctx_of(env, &c, err)) < 0 || (rc = data_list(&c, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("datasets", out);
    return 0;
}

static int get(const struct api_env *env, const struct api_request *req,
               struct api_response *resp, struct cap_error *err)
{
    struct data_ctx c;
    const char *ref;
    cJSON *out = NULL;
    int rc;
    if ((rc = ctx_of(env, &c, err)) < 0 || (rc = arg(req->msg, "ref", &ref, err)) < 0 ||
        (rc = data_show(&c, ref, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("version", out);
    return 0;
}

static int versions(const struct api_env *env, const struct api_request *req,
                    struct api_response *resp, struct cap_error *err)
{
    struct data_ctx c;
    const char *name;
    cJSON *out = NULL;
    int rc;
    if ((rc = ctx_of(env, &c, err)) < 0 || (rc = arg(req->msg, "name", &name, err)) < 0 ||
        (rc = data_log(&c, name, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("versions", out);
    return 0;
}

/* The page token is the offset, as a decimal string. */
static int page_of(const cJSON *msg, size_t *offset, struct cap_error *err)
{
    const char *tok = NULL;
    int rc = cap_json_get_str(msg, "page_token", false, &tok, err);
    if (rc < 0 || !tok)
        return rc;
    char *end;
    unsigned long long v = strtoull(tok, &end, 10);
    if (!*tok || *end)
        return cap_err(err, CAP_EINVAL, "Invalid page_token '%.80s': expected the token of the "
                                        "previous page",
                       tok);
    *offset = (size_t)v;
    return 0;
}

static int files(const struct api_env *env, const struct api_request *req,
                 struct api_response *resp, struct cap_error *err)
{
    struct data_ctx c;
    const char *ref;
    int max, rc;
    size_t offset = 0;
    struct data_manifest m;
    if ((rc = ctx_of(env, &c, err)) < 0 || (rc = arg(req->msg, "ref", &ref, err)) < 0 ||
        (rc = api_max_results(req->msg, 1000, 100000, &max, err)) < 0 ||
        (rc = page_of(req->msg, &offset, err)) < 0 ||
        (rc = data_manifest_of(&c, ref, &m, NULL, err)) < 0)
        return rc;
    cJSON *arr = cJSON_CreateArray();
    size_t i = offset;
    for (; i < m.n && i < offset + (size_t)max; i++) {
        char h[DATA_HASH_STR];
        data_hash_format(&m.e[i].hash, h);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", m.e[i].path);
        cap_json_add_i64(o, "size", (int64_t)m.e[i].size);
        cJSON_AddStringToObject(o, "hash", h);
        cJSON_AddItemToArray(arr, o);
    }
    resp->json = api_wrap("files", arr);
    if (i < m.n) {
        char tok[32];
        snprintf(tok, sizeof tok, "%zu", i);
        cJSON_AddStringToObject(resp->json, "next_page_token", tok);
    }
    data_manifest_free(&m);
    return 0;
}

static int diff(const struct api_env *env, const struct api_request *req,
                struct api_response *resp, struct cap_error *err)
{
    struct data_ctx c;
    const char *a, *b;
    int rc;
    if ((rc = ctx_of(env, &c, err)) < 0 || (rc = arg(req->msg, "a", &a, err)) < 0 ||
        (rc = arg(req->msg, "b", &b, err)) < 0)
        return rc;
    return data_diff(&c, a, b, &resp->json, err);
}

static int delete(const struct api_env *env, const struct api_request *req,
                  struct api_response *resp, struct cap_error *err)
{
    struct data_ctx c;
    const char *ref;
    int rc;
    if ((rc = ctx_of(env, &c, err)) < 0 || (rc = arg(req->msg, "ref", &ref, err)) < 0)
        return rc;
    return data_rm(&c, ref, &resp->json, err);
}

static int gc(const struct api_env *env, const struct api_request *req,
              struct api_response *resp, struct cap_error *err)
{
    struct data_ctx c;
    bool dry = false;
    int rc;
    if ((rc = ctx_of(env, &c, err)) < 0 ||
        (rc = cap_json_get_bool(req->msg, "dry_run", false, &dry, err)) < 0)
        return rc;
    return data_gc(&c, dry, &resp->json, err);
}

static int usage(const struct api_env *env, const struct api_request *req,
                 struct api_response *resp, struct cap_error *err)
{
    struct data_ctx c;
    const char *ref;
    int rc;
    if ((rc = ctx_of(env, &c, err)) < 0 || (rc = arg(req->msg, "ref", &ref, err)) < 0)
        return rc;
    return data_usage(&c, ref, &resp->json, err);
}

static int log_input(const struct api_env *env, const struct api_request *req,
                     struct api_response *resp, struct cap_error *err)
{
    struct data_ctx c;
    const char *ref, *run_id, *context = NULL;
    int rc;
    if ((rc = ctx_of(env, &c, err)) < 0 || (rc = arg(req->msg, "ref", &ref, err)) < 0 ||
        (rc = api_run_id(req->msg, &run_id, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "context", false, &context, err)) < 0)
        return rc;
    cJSON *out = NULL;
    if ((rc = data_log_input(&c, ref, run_id, context, &out, err)) < 0)
        return rc;
    resp->json = api_wrap("input", out);
    return 0;
}

const struct api_route api_dataset_routes[] = {
    {"GET", PREFIX "/list", API_BODY_JSON, list, NULL,
     API_ACCESS_AFTER(USER, NONE, FILTER_DATASETS)},
    {"GET", PREFIX "/get", API_BODY_JSON, get, NULL, API_ACCESS(DATASET, READ)},
    {"GET", PREFIX "/versions", API_BODY_JSON, versions, NULL, API_ACCESS(DATASET, READ)},
    {"GET", PREFIX "/files", API_BODY_JSON, files, NULL, API_ACCESS(DATASET, READ)},
    {"GET", PREFIX "/diff", API_BODY_JSON, diff, NULL, API_ACCESS(DATASET, READ)},
    {"DELETE", PREFIX "/delete", API_BODY_JSON, delete, NULL,
     API_ACCESS_AFTER(DATASET, DELETE, DELETE_DATASET)},
    {"POST", PREFIX "/gc", API_BODY_JSON, gc, NULL, API_ACCESS(ADMIN, NONE)},
    {"GET", PREFIX "/usage", API_BODY_JSON, usage, NULL, API_ACCESS(DATASET, READ)},
    {"POST", PREFIX "/log-input", API_BODY_JSON, log_input, NULL, API_ACCESS(RUN, UPDATE)},
    {NULL},
};
