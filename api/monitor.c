/* monitor.c - /api/2.0/capstan/monitor/: data drift over data already in
 * Capstan (artifacts, by URI) or sent inline, with the same report as
 * `capstan monitor drift --json`, data quality included (monitor/monitor.h
 * does the work).
 *
 * POST /api/2.0/capstan/monitor/drift
 *   {"reference": DATA, "current": DATA, "numerical"?: [col], "categorical"?:
 *    [col], "columns"?: [col], "stattest"?: id, "stattest_per_column"?:
 *    {col: id}, "threshold"?: x, "threshold_per_column"?: {col: x},
 *    "drift_share"?: s}
 * DATA is {"uri": "mlflow-artifacts:/..." | "runs:/<run_id>/<path>" |
 * "models:/<id>/<path>"} (a .csv, .jsonl or .npy artifact; "names"?: [col]
 * names a .npy file's columns), {"csv": text}, {"jsonl": text}, or a frame
 * {"columns": [col], "data": [[v, ...], ...]} (pandas' split form). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/common.h"
#include "base/buf.h"
#include "base/json.h"
#include "blob/blob.h"
#include "monitor/monitor.h"

/* A list of strings in msg[field] (absent: none); *out malloc'd. */
static int str_list(const cJSON *msg, const char *field, const char ***out, size_t *n,
                    struct cap_error *err)
{
    const cJSON *a = NULL;
    int rc = cap_json_get_array(msg, field, false, &a, err);
    *out = NULL;
    *n = 0;
    if (rc != 0)
        return rc < 0 ? rc : 0;
    *out = cap_xcalloc((size_t)cap_json_array_size(a) + 1, sizeof **out);
    for (const cJSON *v = cap_json_array_first(a); v; v = cap_json_array_next(a, v)) {
        if (!cJSON_IsString(v)) {
            free(*out);
            *out = NULL;
            return cap_err(err, CAP_EINVAL, "Field '%s' must be a list of column names", field);
        }
        (*out)[(*n)++] = v->valuestring;
    }
    return 0;
}

/* The frame form as JSONL text, so that its values are typed by the same
 * rules as a .jsonl file's. */
static int frame_as_jsonl(const char *field, const cJSON *cols, const cJSON *data,
                          struct cap_buf *out, struct cap_error *err)
{
    int ncols = cJSON_GetArraySize(cols);
    const cJSON *c, *row;
    cJSON_ArrayForEach(c, cols) if (!cJSON_IsString(c)) return cap_err(
        err, CAP_EINVAL, "Field '%s.columns' must be a list of column names", field);
    if (ncols == 0)
        return cap_err(err, CAP_EINVAL, "Field '%s.columns' is empty (expected column names)",
                       field);
    int r = 0;
    cJSON_ArrayForEach(row, data)
    {
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != ncols)
            return cap_err(err, CAP_EINVAL,
                           "Field '%s.data' row %d must be a list of %d values, one per column",
                           field, r, ncols);
        cJSON *o = cJSON_CreateObject();
        const cJSON *v = row->child;
        cJSON_ArrayForEach(c, cols)
        {
            cJSON_AddItemToObject(o, c->valuestring, cJSON_Duplicate(v, true));
            v = v->next;
        }
        char *line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        cap_buf_puts(out, line);
        cap_buf_putc(out, '\n');
        free(line);
        r++;
    }
    return 0;
}

/* An artifact in the store, read through its descriptor. */
static int read_artifact(const struct api_env *env, const struct auth_user *user,
                         const char *field, const char *uri, const char *const *names,
                         size_t nnames, struct mon_frame *out, struct cap_error *err)
{
    if (!env->store || !env->blob)
        return cap_err(err, CAP_ENOTIMPL, "Artifacts are read by the registry server");
    char what[64];
    snprintf(what, sizeof what, "%s.uri", field);
    struct registry_source src;
    char *full = NULL, *relpath = NULL, *run = NULL;
    enum mon_format fmt;
    int fd = -1;
    uint64_t size;
    int rc = registry_parse_source(uri, what, &src, err);
    if (rc < 0)
        return rc;
    if ((rc = api_artifact_source(env, &src, what, uri, &full, &relpath, &run, err)) == 0 &&
        (rc = api_access_artifact(env, user, relpath, AUTH_NEED_READ, err)) == 0 &&
        (rc = mon_frame_format(relpath, &fmt, err)) == 0 &&
        (rc = blob_open_read(env->blob, relpath, &fd, &size, err)) == 0) {
        rc = mon_frame_read_fd(uri, fmt, fd, names, nnames, out, err);
        close(fd);
    }
    registry_source_clear(&src);
    free(full);
    free(relpath);
    free(run);
    return rc;
}

static int read_data(const struct api_env *env, const struct api_request *req, const char *field,
                     struct mon_frame *out, struct cap_error *err)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(req->msg, field);
    if (!cJSON_IsObject(d))
        return cap_err(err, CAP_EINVAL,
                       "Field '%s' must be an object: {\"uri\"} (an artifact), {\"csv\"} or "
                       "{\"jsonl\"} (text), or {\"columns\", \"data\"} (a frame)",
                       field);
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(d, "uri");
    const cJSON *csv = cJSON_GetObjectItemCaseSensitive(d, "csv");
    const cJSON *jl = cJSON_GetObjectItemCaseSensitive(d, "jsonl");
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(d, "columns");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(d, "data");
    if (cJSON_IsString(uri)) {
        const char **names;
        size_t nnames;
        int rc = str_list(d, "names", &names, &nnames, err);
        if (rc == 0)
            rc = read_artifact(env, req->user, field, uri->valuestring, names, nnames, out, err);
        free(names);
        return rc;
    }
    if (cJSON_IsString(csv) || cJSON_IsString(jl)) {
        const char *t = cJSON_IsString(csv) ? csv->valuestring : jl->valuestring;
        return mon_frame_parse(field, cJSON_IsString(csv) ? MON_FORMAT_CSV : MON_FORMAT_JSONL, t,
                               strlen(t), NULL, 0, out, err);
    }
    if (cJSON_IsArray(cols) && cJSON_IsArray(data)) {
        struct cap_buf b;
        cap_buf_init(&b);
        int rc = frame_as_jsonl(field, cols, data, &b, err);
        if (rc == 0)
            rc = mon_frame_parse(field, MON_FORMAT_JSONL, b.len ? b.data : "", b.len, NULL, 0,
                                 out, err);
        cap_buf_free(&b);
        return rc;
    }
    return cap_err(err, CAP_EINVAL,
                   "Field '%s' must hold \"uri\" (a string), \"csv\" or \"jsonl\" (text), or "
                   "\"columns\" and \"data\" (lists)",
                   field);
}

/* {col: value} into COL=VALUE overrides; numbers as text, as the CLI has them. */
static int overrides(const cJSON *msg, const char *field, bool numbers,
                     struct mon_override **out, size_t *n, char ***texts,
                     struct cap_error *err)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(msg, field);
    *out = NULL;
    *texts = NULL;
    *n = 0;
    if (!o || cJSON_IsNull(o))
        return 0;
    if (!cJSON_IsObject(o))
        return cap_err(err, CAP_EINVAL, "Field '%s' must be an object {column: %s}", field,
                       numbers ? "threshold" : "stattest");
    size_t cap = (size_t)cJSON_GetArraySize(o) + 1;
    *out = cap_xcalloc(cap, sizeof **out);
    *texts = cap_xcalloc(cap, sizeof **texts);
    for (const cJSON *v = o->child; v; v = v->next, (*n)++) {
        if (numbers ? !cJSON_IsNumber(v) : !cJSON_IsString(v))
            return cap_err(err, CAP_EINVAL, "Field '%s' value for '%s' must be a %s", field,
                           v->string, numbers ? "number" : "stattest id (a string)");
        if (numbers) {
            (*texts)[*n] = cap_xmalloc(32);
            snprintf((*texts)[*n], 32, "%.17g", v->valuedouble);
        }
        (*out)[*n] = (struct mon_override){v->string, numbers ? (*texts)[*n] : v->valuestring};
    }
    return 0;
}

struct drift_req {
    struct mon_drift_options opt;
    const char **num, **cat, **cols;
    struct mon_override *st_col, *th_col;
    char **st_txt, **th_txt;
    char threshold[32];
};

static void drift_req_free(struct drift_req *q)
{
    free(q->num);
    free(q->cat);
    free(q->cols);
    free(q->st_col);
    free(q->th_col);
    for (size_t i = 0; q->th_txt && i < q->opt.n_threshold_col; i++)
        free(q->th_txt[i]);
    free(q->st_txt);
    free(q->th_txt);
}

static int drift_options(const cJSON *msg, struct drift_req *q, struct cap_error *err)
{
    struct mon_drift_options *o = &q->opt;
    double th = 0;
    int rc, has_th;
    o->drift_share = 0.5; /* Evidently's */
    if ((rc = str_list(msg, "numerical", &q->num, &o->n_numerical, err)) < 0 ||
        (rc = str_list(msg, "categorical", &q->cat, &o->n_categorical, err)) < 0 ||
        (rc = str_list(msg, "columns", &q->cols, &o->n_columns, err)) < 0 ||
        (rc = cap_json_get_str(msg, "stattest", false, &o->stattest, err)) < 0 ||
        (rc = has_th = cap_json_get_double(msg, "threshold", false, &th, err)) < 0 ||
        (rc = cap_json_get_double(msg, "drift_share", false, &o->drift_share, err)) < 0 ||
        (rc = overrides(msg, "stattest_per_column", false, &q->st_col, &o->n_stattest_col,
                        &q->st_txt, err)) < 0 ||
        (rc = overrides(msg, "threshold_per_column", true, &q->th_col, &o->n_threshold_col,
                        &q->th_txt, err)) < 0)
        return rc;
    o->numerical = q->num;
    o->categorical = q->cat;
    o->columns = q->cols;
    o->stattest_col = q->st_col;
    o->threshold_col = q->th_col;
    if (has_th == 0) {
        snprintf(q->threshold, sizeof q->threshold, "%.17g", th);
        o->threshold = q->threshold;
    }
    return 0;
}

static int drift(const struct api_env *env, const struct api_request *req,
                 struct api_response *resp, struct cap_error *err)
{
    struct drift_req q = {0};
    struct mon_frame ref = {0}, cur = {0};
    int rc = drift_options(req->msg, &q, err);
    if (rc == 0 && (rc = read_data(env, req, "reference", &ref, err)) == 0 &&
        (rc = read_data(env, req, "current", &cur, err)) == 0)
        rc = mon_report(&ref, &cur, &q.opt, &resp->json, err);
    mon_frame_free(&ref);
    mon_frame_free(&cur);
    drift_req_free(&q);
    return rc;
}

/* GET windows?deployment=&from=&to=&width=&max_results=&order=: the stored
 * windows of a deployment, oldest first (order=asc, the default) or newest
 * first (order=desc: max_results then keeps the latest), each the live
 * monitor's window JSON (monitor.h). from/to are epoch milliseconds on the
 * window's start, [from, to); width picks one of the monitor's widths
 * (seconds). */
static int windows(const struct api_env *env, const struct api_request *req,
                   struct api_response *resp, struct cap_error *err)
{
    const char *dep = NULL, *order = "asc";
    int64_t from = 0, to = INT64_MAX, width = 0;
    int max = 0;
    int rc;
    if ((rc = cap_json_get_str(req->msg, "deployment", true, &dep, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "order", false, &order, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "from", false, &from, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "to", false, &to, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "width", false, &width, err)) < 0 ||
        (rc = api_max_results(req->msg, 1000, 10000, &max, err)) < 0)
        return rc;
    if (from < 0 || to <= from)
        return cap_err(err, CAP_EINVAL,
                       "'from' and 'to' must be epoch milliseconds with from < to, got %" PRId64
                       " and %" PRId64,
                       from, to);
    if (width < 0)
        return cap_err(err, CAP_EINVAL, "'width' must be a window width in seconds");
    if (strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0)
        return cap_err(err, CAP_EINVAL, "'order' must be asc (oldest first) or desc (newest "
                                        "first), got '%s'", order);
    cJSON *rows = NULL;
    if ((rc = store_monitor_windows_search(env->store, dep, width, from, to, max,
                                           order[0] == 'd', &rows, err)) < 0)
        return rc;
    if (cJSON_GetArraySize(rows) == 0) {
        cJSON *d = NULL;
        rc = store_deployment_get(env->store, dep, &d, err); /* 404 for an unknown one */
        cJSON_Delete(d);
        if (rc < 0) {
            cJSON_Delete(rows);
            return rc;
        }
    }
    cJSON *out = cJSON_CreateArray(), *r;
    cJSON_ArrayForEach(r, rows)
    {
        cJSON *w = cJSON_DetachItemFromObjectCaseSensitive(r, "result");
        if (!cJSON_IsObject(w)) {
            cJSON_Delete(w);
            continue;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(w, "id");
        cJSON_AddItemToObject(w, "id", cJSON_Duplicate(cJSON_GetObjectItem(r, "id"), 0));
        cJSON_AddItemToArray(out, w);
    }
    cJSON_Delete(rows);
    resp->json = cJSON_CreateObject();
    cJSON_AddItemToObject(resp->json, "windows", out);
    if (env->live) {
        const int64_t *w;
        size_t n = mon_live_widths(env->live, &w);
        cJSON *ws = cJSON_AddArrayToObject(resp->json, "widths_s");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(ws, cJSON_CreateNumber((double)w[i]));
    }
    return 0;
}

/* GET windows/histograms?deployment=&width=&start_ms=: one stored window's
 * histograms beside its baseline's, from the two profiles
 * (mon_window_histograms, monitor.h): what `monitor status --html` draws. */
static int histograms(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp, struct cap_error *err)
{
    const char *dep = NULL;
    int64_t width = 0, start = 0;
    int rc;
    if ((rc = cap_json_get_str(req->msg, "deployment", true, &dep, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "width", true, &width, err)) < 0 ||
        (rc = cap_json_get_i64(req->msg, "start_ms", true, &start, err)) < 0)
        return rc;
    if (width <= 0)
        return cap_err(err, CAP_EINVAL,
                       "'width' must be a window width in seconds (a positive integer), got "
                       "%" PRId64,
                       width);
    if (start < 0)
        return cap_err(err, CAP_EINVAL,
                       "'start_ms' must be a window's start in epoch milliseconds, got %" PRId64,
                       start);
    if (!env->store || !env->blob)
        return cap_err(err, CAP_ENOTIMPL, "Monitoring windows are kept by the registry server");
    cJSON *d = NULL;
    rc = store_deployment_get(env->store, dep, &d, err); /* 404 for an unknown one */
    cJSON_Delete(d);
    if (rc == 0)
        rc = mon_window_histograms(env->store, env->blob, dep, width, start, &resp->json, err);
    return rc;
}

const struct api_route api_monitor_routes[] = {
    {"GET", "/api/2.0/capstan/monitor/windows/histograms", API_BODY_JSON, histograms, NULL,
     API_ACCESS(DEPLOYMENT, READ)},
    {"POST", "/api/2.0/capstan/monitor/drift", API_BODY_JSON, drift, NULL},
    {"GET", "/api/2.0/capstan/monitor/windows", API_BODY_JSON, windows, NULL,
     API_ACCESS(DEPLOYMENT, READ)},
    {NULL, NULL, API_BODY_JSON, NULL, NULL},
};
