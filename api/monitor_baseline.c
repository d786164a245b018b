/* monitor_baseline.c - reference baselines under
 * /api/2.0/capstan/monitor/baselines (monitor.h does the work):
 *
 * POST   ?target=deployment:NAME|model:NAME/VERSION&format=csv|jsonl|npy
 *        [&max_rows=N][&categorical=a,b][&numerical=c,d], the data file as
 *        the body -> the baseline's meta; categorical/numerical type those
 *        columns (comma-separated, or the key repeated) instead of
 *        Evidently's inference, which refuses free text
 * POST   ?target=T&dataset=NAME@N[&path=P] with an empty body: the reference
 *        is a file of a dataset version (path: which one, when it holds
 *        several); its format from its name unless format= says
 * GET    /get?target=T -> the meta;  GET /list -> {"baselines": [meta]}
 * DELETE ?target=T -> {}
 *
 * The body is streamed to an unlinked temporary file (a reference can be
 * hundreds of MB; buffering it would cost that much memory per upload)
 * and read from there. A deployment's baseline is of the version its
 * primary serves now (else the one its spec resolves to); the model's
 * column names come from its MLflow signature when it has named columns. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/common.h"
#include "base/buf.h"
#include "base/json.h"
#include "blob/blob.h"
#include "data/data.h"
#include "monitor/monitor.h"
#include "registry/registry.h"
#include "serve/serve.h"
#include "store/store.h"

#define BASELINES "/api/2.0/capstan/monitor/baselines"
/* max_rows above this is refused: the sample is kept whole in memory by
 * its readers (10M rows x 20 columns x 8 bytes = 1.6 GB) */
#define MAX_ROWS_LIMIT 10000000ull

static int need_store(const struct api_env *env, struct cap_error *err)
{
    if (!env->store || !env->blob)
        return cap_err(err, CAP_ENOTIMPL, "Baselines are kept by the registry server");
    return 0;
}

/* target=deployment:NAME | model:NAME/VERSION, checked for form only. */
static int get_target(const cJSON *msg, const char **out, struct cap_error *err)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(msg, "target");
    if (!cJSON_IsString(t))
        return cap_err(err, CAP_EINVAL,
                       "Missing value for required parameter 'target' (deployment:NAME or "
                       "model:NAME/VERSION)");
    const char *s = t->valuestring;
    const char *slash = strrchr(s, '/');
    bool dep = strncmp(s, "deployment:", 11) == 0 && s[11];
    bool model = strncmp(s, "model:", 6) == 0 && slash && slash > s + 6 && slash[1];
    if (!dep && !model)
        return cap_err(err, CAP_EINVAL,
                       "Invalid target '%.200s': expected deployment:NAME or model:NAME/VERSION",
                       s);
    *out = s;
    return 0;
}

static int get_format(const cJSON *msg, enum mon_format *out, struct cap_error *err)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(msg, "format");
    const char *s = cJSON_IsString(f) ? f->valuestring : "csv";
    static const char *const names[] = {"csv", "jsonl", "npy"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum mon_format)i;
            return 0;
        }
    return cap_err(err, CAP_EINVAL, "Invalid format '%.60s': expected csv, jsonl or npy", s);
}

static int get_max_rows(const cJSON *msg, size_t *out, struct cap_error *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "max_rows");
    *out = 0;
    if (!m)
        return 0;
    const char *s = cJSON_IsString(m) ? m->valuestring : "";
    char *end = NULL;
    errno = 0;
    unsigned long long v = *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    if (!end || *end || errno || v == 0 || v > MAX_ROWS_LIMIT)
        return cap_err(err, CAP_EINVAL,
                       "Invalid max_rows '%.40s': expected a whole number from 1 to %llu", s,
                       MAX_ROWS_LIMIT);
    *out = (size_t)v;
    return 0;
}

/* A list of column names: "a,b" or the key repeated (an array of such),
 * split into names (empty items refused). */
struct names {
    char *buf;
    const char **name;
    size_t n;
};

static int get_names(const cJSON *msg, const char *key, struct names *out,
                     struct cap_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, key), *e;
    const cJSON *arr = cJSON_IsArray(v) ? v : NULL;
    bool bad = v && !cJSON_IsString(v) && !arr;
    struct cap_buf all;
    cap_buf_init(&all);
    if (cJSON_IsString(v))
        cap_buf_puts(&all, v->valuestring);
    cJSON_ArrayForEach(e, arr)
    {
        bad |= !cJSON_IsString(e) || !*e->valuestring;
        if (cJSON_IsString(e))
            cap_buf_printf(&all, "%s%s", all.len ? "," : "", e->valuestring);
    }
    if (v && (bad || !all.len ||
              strstr(all.data, ",,") || all.data[0] == ',' || all.data[all.len - 1] == ',')) {
        cap_buf_free(&all);
        return cap_err(err, CAP_EINVAL, "Invalid %s: expected column names, comma-separated "
                                        "(e.g. %s=a,b)", key, key);
    }
    out->n = 0;
    out->buf = all.len ? cap_buf_steal(&all) : NULL;
    cap_buf_free(&all);
    out->name = cap_xcalloc(out->buf ? strlen(out->buf) / 2 + 2 : 1, sizeof *out->name);
    char *save = NULL;
    for (char *t = out->buf ? strtok_r(out->buf, ",", &save) : NULL; t;
         t = strtok_r(NULL, ",", &save))
        out->name[out->n++] = t;
    return 0;
}

static void names_free(struct names *n)
{
    free(n->buf);
    free(n->name);
}

/* ---- the upload ---- */

struct upload {
    const struct api_env *env;
    char *target;
    enum mon_format fmt;
    size_t max_rows;
    struct names cat, num;
    int fd;
    bool from_dataset;   /* fd is a dataset version's file: the body must be empty */
};

static void upload_free(struct upload *u)
{
    if (u->fd >= 0)
        close(u->fd);
    free(u->target);
    names_free(&u->cat);
    names_free(&u->num);
    free(u);
}

static int temp_file(struct cap_error *err)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/capstan-baseline-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return cap_err(err, CAP_EINTERNAL, "Cannot make a temporary file: %s", strerror(errno));
    unlink(path); /* gone with the descriptor, whatever happens */
    return fd;
}

/* dataset=NAME@N[&path=P]: the reference is that file of a dataset
 * version; *fd is open on it and *fmt its format (format= wins). */
static int dataset_file(const struct api_env *env, const cJSON *msg, const char *ref, int *fd,
                        enum mon_format *fmt, struct cap_error *err)
{
    const char *path = NULL;
    int rc = cap_json_get_str(msg, "path", false, &path, err);
    if (rc < 0)
        return rc;
    if (!env->datasets)
        return cap_err(err, CAP_ENOTIMPL, "Datasets are not served by this process");
    const struct data_ctx dc = {.st = env->store, .objects = env->datasets};
    uint64_t size;
    char *name = NULL;
    if ((rc = data_open_file(&dc, ref, rc == 1 ? NULL : path, fd, &size, &name, err)) < 0)
        return rc;
    if (!cJSON_GetObjectItem(msg, "format"))
        rc = mon_frame_format(name, fmt, err);
    free(name);
    return rc;
}

static int upload_begin(const struct api_env *env, const struct api_request *req, void **state,
                        struct cap_error *err)
{
    const char *target, *dataset = NULL;
    struct upload u = {.env = env, .fd = -1};
    int rc;
    if ((rc = need_store(env, err)) < 0 || (rc = get_target(req->msg, &target, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "dataset", false, &dataset, err)) < 0)
        return rc;
    if (rc == 1)
        dataset = NULL;
    if ((!dataset || cJSON_GetObjectItem(req->msg, "format")) &&
        (rc = get_format(req->msg, &u.fmt, err)) < 0)
        return rc;
    if ((rc = get_max_rows(req->msg, &u.max_rows, err)) < 0)
        return rc;
    u.from_dataset = dataset != NULL;
    if ((rc = get_names(req->msg, "categorical", &u.cat, err)) < 0 ||
        (rc = get_names(req->msg, "numerical", &u.num, err)) < 0 ||
        (rc = dataset ? dataset_file(env, req->msg, dataset, &u.fd, &u.fmt, err)
                      : (u.fd = temp_file(err))) < 0) {
        if (u.fd >= 0)
            close(u.fd);
        names_free(&u.cat);
        names_free(&u.num);
        return rc;
    }
    struct upload *p = cap_xmalloc(sizeof *p);
    *p = u;
    p->target = cap_xstrdup(target);
    *state = p;
    return 0;
}

static int upload_data(void *state, const void *buf, size_t n, struct cap_error *err)
{
    struct upload *u = state;
    const char *p = buf;
    if (u->from_dataset && n > 0)
        return cap_err(err, CAP_EINVAL, "The request has a body and dataset=: expected one "
                                        "reference, either the body or a dataset version's file");
    while (n > 0) {
        ssize_t w = write(u->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return cap_err(err, CAP_EINTERNAL, "Cannot keep the uploaded data: %s",
                           strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- resolving the target to a model ---- */

struct resolved {
    char *name, *version;
    infer_model *model;
    char **cols;
    size_t ncols;
};

static void resolved_free(struct resolved *r)
{
    free(r->name);
    free(r->version);
    if (r->model)
        infer_model_free(r->model);
    for (size_t i = 0; i < r->ncols; i++)
        free(r->cols[i]);
    free(r->cols);
}

/* The version a deployment's primary serves, else the one its spec names. */
static int deployment_version(const struct api_env *env, const char *dep, struct resolved *r,
                              struct cap_error *err)
{
    cJSON *d = NULL;
    int rc = store_deployment_get(env->store, dep, &d, err);
    if (rc < 0)
        return rc;
    cJSON *st = env->serve ? serve_status(env->serve, dep) : NULL;
    const cJSON *prim = cJSON_GetObjectItemCaseSensitive(st, "primary");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(prim, "name");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(prim, "version");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(prim, "ready")) && cJSON_IsString(n) &&
        cJSON_IsString(v)) {
        r->name = cap_xstrdup(n->valuestring);
        r->version = cap_xstrdup(v->valuestring);
    } else {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(d, "spec"), "model");
        struct serve_store_source src = {.store = env->store, .blob = env->blob};
        char *alias = NULL, *ver = NULL;
        rc = serve_parse_ref(cJSON_IsString(ref) ? ref->valuestring : "", &r->name, &alias, &ver,
                             err);
        if (rc == 0)
            rc = serve_store_ops.resolve(&src, r->name, alias, ver, &r->version, err);
        free(alias);
        free(ver);
    }
    cJSON_Delete(st);
    cJSON_Delete(d);
    return rc;
}

static int resolve(const struct api_env *env, const char *target, struct resolved *r,
                   struct cap_error *err)
{
    int rc;
    if (strncmp(target, "deployment:", 11) == 0) {
        rc = deployment_version(env, target + 11, r, err);
    } else {
        const char *slash = strrchr(target, '/');
        r->name = cap_xstrndup(target + 6, (size_t)(slash - target - 6));
        r->version = cap_xstrdup(slash + 1);
        cJSON *mv = NULL;
        if ((rc = registry_check_version(r->version, err)) == 0)
            rc = store_model_version_get(env->store, r->name, r->version, &mv, err);
        cJSON_Delete(mv);
    }
    if (rc < 0)
        return rc;
    struct serve_store_source src = {.store = env->store, .blob = env->blob};
    if ((rc = serve_store_ops.load(&src, r->name, r->version, &r->model, err)) < 0)
        return rc;
    cJSON *meta = NULL;
    if (store_model_version_metadata(env->store, r->name, r->version, &meta, err) == 0) {
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(meta, "file");
        if (cJSON_IsString(file))
            registry_signature_columns(env->blob, file->valuestring, &r->cols, &r->ncols);
    }
    cJSON_Delete(meta);
    return 0;
}

static int upload_end(void *state, struct api_response *resp, struct cap_error *err)
{
    struct upload *u = state;
    struct resolved r = {0};
    struct mon_frame data = {0};
    int rc = resolve(u->env, u->target, &r, err);
    if (rc == 0) {
        if (lseek(u->fd, 0, SEEK_END) == 0)
            rc = cap_err(err, CAP_EINVAL, "The request body is empty: expected the reference "
                                          "data as a CSV, JSONL or .npy file");
        else
            rc = mon_frame_read_fd(u->from_dataset ? "the dataset file" : "the request body",
                                   u->fmt, u->fd,
                                   (const char *const *)r.cols, r.ncols, &data, err);
    }
    if (rc == 0) {
        struct mon_baseline_in in = {
            .target = u->target, .model_name = r.name, .model_version = r.version,
            .model = r.model, .signature_cols = (const char *const *)r.cols,
            .n_signature_cols = r.ncols, .data = &data, .max_rows = u->max_rows,
            .categorical = u->cat.name, .n_categorical = u->cat.n,
            .numerical = u->num.name, .n_numerical = u->num.n};
        rc = mon_baseline_create(u->env->store, u->env->blob, &in, &resp->json, err);
    }
    mon_frame_free(&data);
    resolved_free(&r);
    upload_free(u);
    return rc;
}

static void upload_abort(void *state)
{
    upload_free(state);
}

static const struct api_upload_ops upload_ops = {upload_begin, upload_data, upload_end,
                                                 upload_abort};

/* ---- reading and deleting ---- */

static int get(const struct api_env *env, const struct api_request *req,
               struct api_response *resp, struct cap_error *err)
{
    const char *target;
    int rc;
    if ((rc = need_store(env, err)) < 0 || (rc = get_target(req->msg, &target, err)) < 0)
        return rc;
    return store_baseline_get(env->store, target, &resp->json, err);
}

static int list(const struct api_env *env, const struct api_request *req,
                struct api_response *resp, struct cap_error *err)
{
    cJSON *all = NULL;
    int rc = need_store(env, err);
    if (rc == 0 && (rc = store_baseline_list(env->store, &all, err)) == 0)
        resp->json = api_wrap("baselines", all);
    return rc;
}

static int delete(const struct api_env *env, const struct api_request *req,
                  struct api_response *resp, struct cap_error *err)
{
    const char *target;
    char *path = NULL;
    int rc;
    if ((rc = need_store(env, err)) < 0 || (rc = get_target(req->msg, &target, err)) < 0 ||
        (rc = store_baseline_delete(env->store, target, &path, err)) < 0)
        return rc;
    struct cap_error ignored;
    blob_delete(env->blob, path, &ignored); /* the row is gone: files are only space now */
    free(path);
    resp->json = cJSON_CreateObject();
    return 0;
}

const struct api_route api_monitor_baseline_routes[] = {
    {"POST", BASELINES, API_BODY_STREAM, NULL, &upload_ops, API_ACCESS(BASELINE, UPDATE)},
    {"GET", BASELINES "/get", API_BODY_JSON, get, NULL, API_ACCESS(BASELINE, READ)},
    {"GET", BASELINES "/list", API_BODY_JSON, list, NULL,
     API_ACCESS_AFTER(USER, NONE, FILTER_BASELINES)},
    {"DELETE", BASELINES, API_BODY_JSON, delete, NULL, API_ACCESS(BASELINE, UPDATE)},
    {NULL, NULL, API_BODY_JSON, NULL, NULL},
};
