/* store.c - the public face of the metadata store: turns the URI into a
 * backend (the one place that knows which backends exist), checks every
 * pointer argument once so that backends never see a NULL string they did
 * not expect, and dispatches through the backend's operation table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store_backend.h"

struct store {
    const struct store_backend *be;
    const struct store_registry_backend *reg;
    const struct store_serving_backend *srv;
    void *impl;
};

#define NEED(ptr, what)                                                                     \
    do {                                                                                    \
        if (!(ptr))                                                                         \
            return cap_err(err, CAP_EINVAL, "Missing value for required parameter '%s'",   \
                           what);                                                           \
    } while (0)

#define NEED_STORE()                                                                        \
    do {                                                                                    \
        if (!st)                                                                            \
            return cap_err(err, CAP_EINVAL, "The metadata store is not open");              \
    } while (0)

static int check_kvs(const struct cap_kv *kv, size_t n, const char *what,
                     struct cap_error *err)
{
    if (n && !kv)
        return cap_err(err, CAP_EINVAL, "Missing value for required parameter '%s'", what);
    for (size_t i = 0; i < n; i++)
        if (!kv[i].key || !kv[i].value)
            return cap_err(err, CAP_EINVAL, "Each of '%s' needs a key and a value", what);
    return 0;
}

/* mkdir -p for the directory part of path. Existing directories are fine. */
static int make_parent_dirs(const char *path, struct cap_error *err)
{
    char *dir = cap_xstrdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (!slash || slash == dir) {
        free(dir);
        return 0;
    }
    *slash = '\0';
    for (char *p = dir + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
                rc = cap_err(err, CAP_EINTERNAL, "Cannot create directory '%s': %s", dir,
                             strerror(errno));
                break;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    free(dir);
    return rc;
}

/* MLflow's SQLAlchemy-style URIs: sqlite:///rel/path.db is relative to the
 * working directory, sqlite:////abs/path.db is absolute. Anything without a
 * scheme is a plain file path. A query string (?mode=...) is ignored. */
static int parse_uri(const char *uri, char **path, struct cap_error *err)
{
    *path = NULL;
    if (cap_str_has_prefix(uri, "postgresql:") || cap_str_has_prefix(uri, "postgres:"))
        return cap_err(err, CAP_ENOTIMPL,
                       "The PostgreSQL metadata backend is not available in this build");
    const char *p = uri;
    if (strncmp(uri, "sqlite:", 7) == 0) {
        if (strncmp(uri, "sqlite:///", 10) != 0)
            return cap_err(err, CAP_EINVAL,
                           "Invalid store URI '%s': expected sqlite:///relative/path.db or "
                           "sqlite:////absolute/path.db",
                           uri);
        p = uri + 10;
    } else if (strstr(uri, "://")) {
        return cap_err(err, CAP_EINVAL, "Unsupported store URI '%s'", uri);
    }
    size_t n = strcspn(p, "?");
    if (n == 0)
        return cap_err(err, CAP_EINVAL, "Invalid store URI '%s': no database path", uri);
    *path = cap_xstrndup(p, n);
    if (strcmp(*path, ":memory:") == 0) {
        free(*path);
        *path = NULL;
        return cap_err(err, CAP_EINVAL,
                       "An in-memory SQLite database cannot be shared between connections; "
                       "give a file path");
    }
    return 0;
}

int store_open(const struct store_config *cfg, struct store **out, struct cap_error *err)
{
    if (!out)
        return cap_err(err, CAP_EINVAL, "store_open: no output pointer");
    *out = NULL;
    if (!cfg || !cfg->uri || !*cfg->uri)
        return cap_err(err, CAP_EINVAL, "store_open: no store URI given");
    char *path = NULL;
    int rc = parse_uri(cfg->uri, &path, err);
    if (rc < 0)
        return rc;
    if ((rc = make_parent_dirs(path, err)) < 0) {
        free(path);
        return rc;
    }
    /* The prefix is joined with "/<id>", so drop trailing slashes (but keep
     * "mlflow-artifacts:" as it is). */
    char *prefix = cap_xstrdup(cfg->artifact_prefix ? cfg->artifact_prefix : "mlflow-artifacts:");
    size_t plen = strlen(prefix);
    while (plen > 1 && prefix[plen - 1] == '/')
        prefix[--plen] = '\0';
    struct store *st = cap_xcalloc(1, sizeof *st);
    st->be = &store_sqlite_backend;
    st->reg = &store_sqlite_registry;
    st->srv = &store_sqlite_serving;
    rc = store_sqlite_open(path, prefix, cfg->read_connections, &st->impl, err);
    free(path);
    free(prefix);
    if (rc < 0) {
        free(st);
        return rc;
    }
    *out = st;
    return 0;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    st->be->close(st->impl);
    free(st);
}

/* ---- experiments ---- */

int store_experiment_create(struct store *st, const char *name, const char *artifact_location,
                            const struct cap_kv *tags, size_t ntags, char **out_id,
                            struct cap_error *err)
{
    NEED_STORE();
    NEED(out_id, "out_id");
    *out_id = NULL;
    NEED(name, "name");
    if (!*name)
        return cap_err(err, CAP_EINVAL, "Invalid experiment name: ''");
    int rc = check_kvs(tags, ntags, "tags", err);
    return rc < 0 ? rc
                  : st->be->experiment_create(st->impl, name, artifact_location, tags, ntags,
                                              out_id, err);
}

int store_experiment_get(struct store *st, const char *id, cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    NEED(id, "experiment_id");
    return st->be->experiment_get(st->impl, id, out, err);
}

int store_experiment_get_by_name(struct store *st, const char *name, cJSON **out,
                                 struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    NEED(name, "experiment_name");
    return st->be->experiment_get_by_name(st->impl, name, out, err);
}

int store_experiment_rename(struct store *st, const char *id, const char *new_name,
                            struct cap_error *err)
{
    NEED_STORE();
    NEED(id, "experiment_id");
    NEED(new_name, "new_name");
    if (!*new_name)
        return cap_err(err, CAP_EINVAL, "Invalid experiment name: ''");
    return st->be->experiment_rename(st->impl, id, new_name, err);
}

int store_experiment_delete(struct store *st, const char *id, struct cap_error *err)
{
    NEED_STORE();
    NEED(id, "experiment_id");
    return st->be->experiment_delete(st->impl, id, err);
}

int store_experiment_restore(struct store *st, const char *id, struct cap_error *err)
{
    NEED_STORE();
    NEED(id, "experiment_id");
    return st->be->experiment_restore(st->impl, id, err);
}

int store_experiment_set_tag(struct store *st, const char *id, const char *key,
                             const char *value, struct cap_error *err)
{
    NEED_STORE();
    NEED(id, "experiment_id");
    NEED(key, "key");
    NEED(value, "value");
    return st->be->experiment_set_tag(st->impl, id, key, value, err);
}

int store_experiment_delete_tag(struct store *st, const char *id, const char *key,
                                struct cap_error *err)
{
    NEED_STORE();
    NEED(id, "experiment_id");
    NEED(key, "key");
    return st->be->experiment_delete_tag(st->impl, id, key, err);
}

static int check_query(const struct store_query *q, struct cap_error *err)
{
    if (!q)
        return cap_err(err, CAP_EINVAL, "Missing search query");
    if (q->norder && !q->order)
        return cap_err(err, CAP_EINVAL, "Missing value for parameter 'order_by'");
    for (size_t i = 0; i < q->norder; i++)
        if (!q->order[i].key)
            return cap_err(err, CAP_EINVAL, "Invalid order_by clause: no key");
    if (q->filter) {
        if (q->filter->n && !q->filter->conds)
            return cap_err(err, CAP_EINVAL, "Invalid filter");
        for (size_t i = 0; i < q->filter->n; i++) {
            const struct filter_cond *c = &q->filter->conds[i];
            if (!c->key)
                return cap_err(err, CAP_EINVAL, "Invalid filter: a comparison has no key");
            if (c->value.kind == FILTER_VALUE_STRING && !c->value.str)
                return cap_err(err, CAP_EINVAL, "Invalid filter: missing value for '%s'",
                               c->key);
            if (c->value.kind == FILTER_VALUE_LIST) {
                if (c->value.nlist && !c->value.list)
                    return cap_err(err, CAP_EINVAL, "Invalid filter: missing list for '%s'",
                                   c->key);
                for (size_t j = 0; j < c->value.nlist; j++)
                    if (!c->value.list[j])
                        return cap_err(err, CAP_EINVAL,
                                       "Invalid filter: missing list item for '%s'", c->key);
            }
        }
    }
    if (q->max_results <= 0)
        return cap_err(err, CAP_EINVAL, "Invalid value for parameter 'max_results': %d",
                       q->max_results);
    return 0;
}

static int check_ids(const char *const *ids, size_t n, struct cap_error *err)
{
    if (n && !ids)
        return cap_err(err, CAP_EINVAL, "Missing value for parameter 'experiment_ids'");
    for (size_t i = 0; i < n; i++)
        if (!ids[i])
            return cap_err(err, CAP_EINVAL, "Invalid value for parameter 'experiment_ids'");
    return 0;
}

int store_experiment_search(struct store *st, const struct store_query *q, cJSON **out,
                            char **next_token, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    NEED(next_token, "next_token");
    *out = NULL;
    *next_token = NULL;
    int rc = check_query(q, err);
    return rc < 0 ? rc : st->be->experiment_search(st->impl, q, out, next_token, err);
}

/* ---- runs ---- */

int store_run_create(struct store *st, const struct store_run_create *in, cJSON **out,
                     struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    NEED(in, "run");
    NEED(in->experiment_id, "experiment_id");
    int rc = check_kvs(in->tags, in->ntags, "tags", err);
    return rc < 0 ? rc : st->be->run_create(st->impl, in, out, err);
}

int store_run_get(struct store *st, const char *run_id, cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    NEED(run_id, "run_id");
    return st->be->run_get(st->impl, run_id, out, err);
}

int store_run_update(struct store *st, const char *run_id, const char *status, int64_t end_time,
                     const char *run_name, cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    if (out)
        *out = NULL;
    NEED(run_id, "run_id");
    return st->be->run_update(st->impl, run_id, status, end_time, run_name, out, err);
}

int store_run_delete(struct store *st, const char *run_id, struct cap_error *err)
{
    NEED_STORE();
    NEED(run_id, "run_id");
    return st->be->run_delete(st->impl, run_id, err);
}

int store_run_restore(struct store *st, const char *run_id, struct cap_error *err)
{
    NEED_STORE();
    NEED(run_id, "run_id");
    return st->be->run_restore(st->impl, run_id, err);
}

int store_run_log_batch(struct store *st, const char *run_id, const struct store_metric *metrics,
                        size_t nmetrics, const struct cap_kv *params, size_t nparams,
                        const struct cap_kv *tags, size_t ntags, struct cap_error *err)
{
    NEED_STORE();
    NEED(run_id, "run_id");
    if (nmetrics && !metrics)
        return cap_err(err, CAP_EINVAL, "Missing value for required parameter 'metrics'");
    for (size_t i = 0; i < nmetrics; i++)
        if (!metrics[i].key)
            return cap_err(err, CAP_EINVAL, "Each metric needs a key");
    int rc = check_kvs(params, nparams, "params", err);
    if (rc == 0)
        rc = check_kvs(tags, ntags, "tags", err);
    return rc < 0 ? rc
                  : st->be->run_log_batch(st->impl, run_id, metrics, nmetrics, params, nparams,
                                          tags, ntags, err);
}

int store_run_delete_tag(struct store *st, const char *run_id, const char *key,
                         struct cap_error *err)
{
    NEED_STORE();
    NEED(run_id, "run_id");
    NEED(key, "key");
    return st->be->run_delete_tag(st->impl, run_id, key, err);
}

int store_run_log_inputs(struct store *st, const char *run_id,
                         const struct store_dataset_input *datasets, size_t ndatasets,
                         const char *const *model_ids, size_t nmodels, struct cap_error *err)
{
    NEED_STORE();
    NEED(run_id, "run_id");
    if ((ndatasets && !datasets) || (nmodels && !model_ids))
        return cap_err(err, CAP_EINVAL, "Missing value for required parameter 'datasets'");
    for (size_t i = 0; i < ndatasets; i++) {
        const struct store_dataset_input *d = &datasets[i];
        if (!d->name || !d->digest || !d->source_type || !d->source)
            return cap_err(err, CAP_EINVAL,
                           "A dataset needs a name, digest, source_type and source");
        int rc = check_kvs(d->tags, d->ntags, "dataset tags", err);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < nmodels; i++)
        if (!model_ids[i])
            return cap_err(err, CAP_EINVAL, "A model input needs a model_id");
    return st->be->run_log_inputs(st->impl, run_id, datasets, ndatasets, model_ids, nmodels,
                                  err);
}

int store_run_log_outputs(struct store *st, const char *run_id,
                          const struct store_model_output *models, size_t nmodels,
                          struct cap_error *err)
{
    NEED_STORE();
    NEED(run_id, "run_id");
    if (nmodels && !models)
        return cap_err(err, CAP_EINVAL, "Missing value for required parameter 'models'");
    for (size_t i = 0; i < nmodels; i++)
        if (!models[i].model_id)
            return cap_err(err, CAP_EINVAL, "A model output needs a model_id");
    return st->be->run_log_outputs(st->impl, run_id, models, nmodels, err);
}

int store_run_search(struct store *st, const struct store_run_query *q, cJSON **out,
                     char **next_token, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    NEED(next_token, "next_token");
    *out = NULL;
    *next_token = NULL;
    NEED(q, "query");
    int rc = check_ids(q->experiment_ids, q->nexperiments, err);
    if (rc == 0)
        rc = check_query(&q->q, err);
    return rc < 0 ? rc : st->be->run_search(st->impl, q, out, next_token, err);
}

int store_metric_history(struct store *st, const char *run_id, const char *key, cJSON **out,
                         struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    NEED(run_id, "run_id");
    NEED(key, "metric_key");
    return st->be->metric_history(st->impl, run_id, key, out, err);
}

/* ---- logged models ---- */

int store_logged_model_create(struct store *st, const struct store_logged_model_create *in,
                              cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    NEED(in, "model");
    NEED(in->experiment_id, "experiment_id");
    int rc = check_kvs(in->params, in->nparams, "params", err);
    if (rc == 0)
        rc = check_kvs(in->tags, in->ntags, "tags", err);
    return rc < 0 ? rc : st->be->logged_model_create(st->impl, in, out, err);
}

int store_logged_model_get(struct store *st, const char *model_id, cJSON **out,
                           struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    NEED(model_id, "model_id");
    return st->be->logged_model_get(st->impl, model_id, out, err);
}

int store_logged_model_finalize(struct store *st, const char *model_id, const char *status,
                                cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    if (out)
        *out = NULL;
    NEED(model_id, "model_id");
    NEED(status, "status");
    return st->be->logged_model_finalize(st->impl, model_id, status, out, err);
}

int store_logged_model_set_tags(struct store *st, const char *model_id, const struct cap_kv *tags,
                                size_t ntags, struct cap_error *err)
{
    NEED_STORE();
    NEED(model_id, "model_id");
    int rc = check_kvs(tags, ntags, "tags", err);
    return rc < 0 ? rc : st->be->logged_model_set_tags(st->impl, model_id, tags, ntags, err);
}

int store_logged_model_delete_tag(struct store *st, const char *model_id, const char *key,
                                  struct cap_error *err)
{
    NEED_STORE();
    NEED(model_id, "model_id");
    NEED(key, "key");
    return st->be->logged_model_delete_tag(st->impl, model_id, key, err);
}

int store_logged_model_log_params(struct store *st, const char *model_id,
                                  const struct cap_kv *params, size_t nparams,
                                  struct cap_error *err)
{
    NEED_STORE();
    NEED(model_id, "model_id");
    int rc = check_kvs(params, nparams, "params", err);
    return rc < 0 ? rc
                  : st->be->logged_model_log_params(st->impl, model_id, params, nparams, err);
}

int store_logged_model_delete(struct store *st, const char *model_id, struct cap_error *err)
{
    NEED_STORE();
    NEED(model_id, "model_id");
    return st->be->logged_model_delete(st->impl, model_id, err);
}

int store_logged_model_search(struct store *st, const struct store_logged_model_query *q,
                              cJSON **out, char **next_token, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    NEED(next_token, "next_token");
    *out = NULL;
    *next_token = NULL;
    NEED(q, "query");
    int rc = check_ids(q->experiment_ids, q->nexperiments, err);
    if (rc == 0)
        rc = check_query(&q->q, err);
    return rc < 0 ? rc : st->be->logged_model_search(st->impl, q, out, next_token, err);
}

/* ---- model registry ---- */

const char *const store_stages[STORE_NSTAGES] = {"None", "Staging", "Production", "Archived"};

const char *store_stage_canonical(const char *stage)
{
    for (size_t i = 0; stage && i < STORE_NSTAGES; i++)
        if (strcasecmp(stage, store_stages[i]) == 0)
            return store_stages[i];
    return NULL;
}

int store_stage_check(const char *stage, const char **canonical, struct cap_error *err)
{
    *canonical = store_stage_canonical(stage);
    if (*canonical)
        return 0;
    return cap_err(err, CAP_EINVAL,
                   "Invalid Model Version stage: %.100s. Value must be one of None, Staging, "
                   "Production, Archived.",
                   stage ? stage : "");
}

static int check_model_name(const char *name, const char *what, struct cap_error *err)
{
    NEED(name, what);
    if (!*name)
        return cap_err(err, CAP_EINVAL, "Registered model name cannot be empty.");
    return 0;
}

/* Versions are decimal strings of a positive integer (MLflow's wording). */
static int check_version(const char *version, struct cap_error *err)
{
    NEED(version, "version");
    size_t n = strlen(version);
    bool ok = n > 0 && n <= 18 && strspn(version, "0123456789") == n;
    if (!ok)
        return cap_err(err, CAP_EINVAL, "Model version must be an integer, got '%s'", version);
    return 0;
}

#define CHECK(call)                                                                         \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        if (rc_ < 0)                                                                        \
            return rc_;                                                                     \
    } while (0)

int store_registered_model_create(struct store *st, const char *name, const char *description,
                                  const struct cap_kv *tags, size_t ntags, cJSON **out,
                                  struct cap_error *err)
{
    NEED_STORE();
    if (out)
        *out = NULL;
    CHECK(check_model_name(name, "name", err));
    CHECK(check_kvs(tags, ntags, "tags", err));
    return st->reg->registered_model_create(st->impl, name, description, tags, ntags, out, err);
}

int store_registered_model_get(struct store *st, const char *name, cJSON **out,
                               struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    CHECK(check_model_name(name, "name", err));
    return st->reg->registered_model_get(st->impl, name, out, err);
}

int store_registered_model_update(struct store *st, const char *name, const char *description,
                                  cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    if (out)
        *out = NULL;
    CHECK(check_model_name(name, "name", err));
    return st->reg->registered_model_update(st->impl, name, description, out, err);
}

int store_registered_model_rename(struct store *st, const char *name, const char *new_name,
                                  cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    if (out)
        *out = NULL;
    CHECK(check_model_name(name, "name", err));
    CHECK(check_model_name(new_name, "new_name", err));
    return st->reg->registered_model_rename(st->impl, name, new_name, out, err);
}

int store_registered_model_delete(struct store *st, const char *name, struct cap_error *err)
{
    NEED_STORE();
    CHECK(check_model_name(name, "name", err));
    return st->reg->registered_model_delete(st->impl, name, err);
}

int store_registered_model_set_tag(struct store *st, const char *name, const char *key,
                                   const char *value, struct cap_error *err)
{
    NEED_STORE();
    CHECK(check_model_name(name, "name", err));
    NEED(key, "key");
    NEED(value, "value");
    return st->reg->registered_model_set_tag(st->impl, name, key, value, err);
}

int store_registered_model_delete_tag(struct store *st, const char *name, const char *key,
                                      struct cap_error *err)
{
    NEED_STORE();
    CHECK(check_model_name(name, "name", err));
    NEED(key, "key");
    return st->reg->registered_model_delete_tag(st->impl, name, key, err);
}

int store_registered_model_search(struct store *st, const struct store_query *q, cJSON **out,
                                  char **next_token, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    NEED(next_token, "next_token");
    *out = NULL;
    *next_token = NULL;
    CHECK(check_query(q, err));
    return st->reg->registered_model_search(st->impl, q, out, next_token, err);
}

int store_registered_model_latest_versions(struct store *st, const char *name,
                                           const char *const *stages, size_t nstages,
                                           cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    CHECK(check_model_name(name, "name", err));
    if (nstages && !stages)
        return cap_err(err, CAP_EINVAL, "Missing value for parameter 'stages'");
    const char *canon;
    for (size_t i = 0; i < nstages; i++)
        if (store_stage_check(stages[i], &canon, err) < 0)
            return -CAP_EINVAL;
    return st->reg->registered_model_latest_versions(st->impl, name, stages, nstages, out, err);
}

int store_model_version_create(struct store *st, const struct store_model_version_create *in,
                               cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    if (out)
        *out = NULL;
    NEED(in, "model_version");
    CHECK(check_model_name(in->name, "name", err));
    NEED(in->source, "source");
    CHECK(check_kvs(in->tags, in->ntags, "tags", err));
    if (in->status && strcmp(in->status, "READY") != 0 &&
        strcmp(in->status, "PENDING_REGISTRATION") != 0 &&
        strcmp(in->status, "FAILED_REGISTRATION") != 0)
        return cap_err(err, CAP_EINVAL,
                       "Invalid model version status '%s': expected READY, "
                       "PENDING_REGISTRATION or FAILED_REGISTRATION",
                       in->status);
    return st->reg->model_version_create(st->impl, in, out, err);
}

int store_model_version_get(struct store *st, const char *name, const char *version, cJSON **out,
                            struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    CHECK(check_model_name(name, "name", err));
    CHECK(check_version(version, err));
    return st->reg->model_version_get(st->impl, name, version, out, err);
}

int store_model_version_update(struct store *st, const char *name, const char *version,
                               const char *description, cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    if (out)
        *out = NULL;
    CHECK(check_model_name(name, "name", err));
    CHECK(check_version(version, err));
    return st->reg->model_version_update(st->impl, name, version, description, out, err);
}

int store_model_version_delete(struct store *st, const char *name, const char *version,
                               struct cap_error *err)
{
    NEED_STORE();
    CHECK(check_model_name(name, "name", err));
    CHECK(check_version(version, err));
    return st->reg->model_version_delete(st->impl, name, version, err);
}

int store_model_version_transition(struct store *st, const char *name, const char *version,
                                   const char *stage, bool archive_existing, cJSON **out,
                                   struct cap_error *err)
{
    NEED_STORE();
    if (out)
        *out = NULL;
    CHECK(check_model_name(name, "name", err));
    CHECK(check_version(version, err));
    NEED(stage, "stage");
    const char *canon;
    CHECK(store_stage_check(stage, &canon, err));
    return st->reg->model_version_transition(st->impl, name, version, canon, archive_existing,
                                             out, err);
}

int store_model_version_set_tag(struct store *st, const char *name, const char *version,
                                const char *key, const char *value, struct cap_error *err)
{
    NEED_STORE();
    CHECK(check_model_name(name, "name", err));
    CHECK(check_version(version, err));
    NEED(key, "key");
    NEED(value, "value");
    return st->reg->model_version_set_tag(st->impl, name, version, key, value, err);
}

int store_model_version_delete_tag(struct store *st, const char *name, const char *version,
                                   const char *key, struct cap_error *err)
{
    NEED_STORE();
    CHECK(check_model_name(name, "name", err));
    CHECK(check_version(version, err));
    NEED(key, "key");
    return st->reg->model_version_delete_tag(st->impl, name, version, key, err);
}

int store_model_version_search(struct store *st, const struct store_query *q, cJSON **out,
                               char **next_token, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    NEED(next_token, "next_token");
    *out = NULL;
    *next_token = NULL;
    CHECK(check_query(q, err));
    return st->reg->model_version_search(st->impl, q, out, next_token, err);
}

int store_model_version_metadata(struct store *st, const char *name, const char *version,
                                 cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    CHECK(check_model_name(name, "name", err));
    CHECK(check_version(version, err));
    return st->reg->model_version_metadata(st->impl, name, version, out, err);
}

int store_alias_set(struct store *st, const char *name, const char *alias, const char *version,
                    struct cap_error *err)
{
    NEED_STORE();
    CHECK(check_model_name(name, "name", err));
    NEED(alias, "alias");
    CHECK(check_version(version, err));
    return st->reg->alias_set(st->impl, name, alias, version, err);
}

int store_alias_delete(struct store *st, const char *name, const char *alias,
                       struct cap_error *err)
{
    NEED_STORE();
    CHECK(check_model_name(name, "name", err));
    NEED(alias, "alias");
    return st->reg->alias_delete(st->impl, name, alias, err);
}

int store_alias_get(struct store *st, const char *name, const char *alias, cJSON **out,
                    struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    CHECK(check_model_name(name, "name", err));
    NEED(alias, "alias");
    return st->reg->alias_get(st->impl, name, alias, out, err);
}

/* ---------------- serving ---------------- */

static int check_deployment_name(const char *name, struct cap_error *err)
{
    NEED(name, "name");
    size_t n = strlen(name);
    if (n == 0 || n > 128)
        return cap_err(err, CAP_EINVAL,
                       "Deployment name must be 1 to 128 characters, got %zu", n);
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok || (p == name && c == '.'))
            return cap_err(err, CAP_EINVAL,
                           "Invalid deployment name '%.128s': use letters, digits, '-', '_' and "
                           "'.' (not first)",
                           name);
    }
    return 0;
}

int store_deployment_create(struct store *st, const char *name, const char *spec_json,
                            cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    CHECK(check_deployment_name(name, err));
    NEED(spec_json, "spec");
    return st->srv->deployment_put(st->impl, name, spec_json, true, out, err);
}

int store_deployment_update(struct store *st, const char *name, const char *spec_json,
                            cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    CHECK(check_deployment_name(name, err));
    NEED(spec_json, "spec");
    return st->srv->deployment_put(st->impl, name, spec_json, false, out, err);
}

int store_deployment_get(struct store *st, const char *name, cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    CHECK(check_deployment_name(name, err));
    return st->srv->deployment_get(st->impl, name, out, err);
}

int store_deployment_list(struct store *st, cJSON **out, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    return st->srv->deployment_list(st->impl, out, err);
}

int store_deployment_delete(struct store *st, const char *name, struct cap_error *err)
{
    NEED_STORE();
    CHECK(check_deployment_name(name, err));
    return st->srv->deployment_delete(st->impl, name, err);
}

int store_predictions_log(struct store *st, const struct store_prediction *rows, size_t n,
                          struct cap_error *err)
{
    NEED_STORE();
    if (n == 0)
        return 0;
    NEED(rows, "rows");
    for (size_t i = 0; i < n; i++) {
        NEED(rows[i].deployment, "deployment");
        NEED(rows[i].model_name, "model_name");
        NEED(rows[i].model_version, "model_version");
        NEED(rows[i].role, "role");
    }
    return st->srv->predictions_log(st->impl, rows, n, err);
}

int store_predictions_search(struct store *st, const char *deployment, int64_t since_ms,
                             int64_t after_id, int max_results, const char *page_token, store_pack_decoder decode,
                             cJSON **out, char **next_token, struct cap_error *err)
{
    NEED_STORE();
    NEED(out, "out");
    *out = NULL;
    if (next_token)
        *next_token = NULL;
    if (max_results <= 0 || max_results > 10000)
        return cap_err(err, CAP_EINVAL, "max_results must be between 1 and 10000, got %d",
                       max_results);
    char *tok = NULL;
    int rc = st->srv->predictions_search(st->impl, deployment, since_ms, after_id, max_results,
                                         page_token,
                                         decode, out, &tok, err);
    if (next_token)
        *next_token = tok;
    else
        free(tok);
    return rc;
}

int store_predictions_trim(struct store *st, int64_t keep_rows, struct cap_error *err)
{
    NEED_STORE();
    if (keep_rows < 0)
        return cap_err(err, CAP_EINVAL, "keep_rows must not be negative");
    return st->srv->predictions_trim(st->impl, keep_rows, err);
}
