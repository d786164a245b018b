/* store.c - the public face of the metadata store: turns the URI into a
 * backend (the one place that knows which backends exist), checks every
 * argument once so that backends never see a NULL string they did not
 * expect, and dispatches through the backend's operation table. The
 * wrappers are generated from store_ops.def, which names the checks of each
 * operation; the check helpers they call are defined here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store_backend.h"
#include "store/store_db.h"

struct store {
    const struct store_backend *be;
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

/* *p = NULL first, so that a failing call leaves no stale pointer behind. */
#define OUT(p)                                                                              \
    do {                                                                                    \
        NEED(p, "out");                                                                     \
        *(p) = NULL;                                                                        \
    } while (0)

#define OPT_OUT(p)                                                                          \
    do {                                                                                    \
        if (p)                                                                              \
            *(p) = NULL;                                                                    \
    } while (0)

#define PAGE_OUT(out, next_token)                                                           \
    do {                                                                                    \
        NEED(out, "out");                                                                   \
        NEED(next_token, "next_token");                                                     \
        *(out) = NULL;                                                                      \
        *(next_token) = NULL;                                                               \
    } while (0)

#define CHECK(call)                                                                         \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        if (rc_ < 0)                                                                        \
            return rc_;                                                                     \
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

/* A PostgreSQL URI as libpq takes it: MLflow's SQLAlchemy spelling
 * postgresql+psycopg2://... loses its "+driver", postgres:// is kept. */
static int pg_target(const char *uri, char **target, struct cap_error *err)
{
    const char *rest = strstr(uri, "://");
    if (!rest || rest - uri > 32)
        return cap_err(err, CAP_EINVAL,
                       "Invalid store URI '%s': expected postgresql://user:password@host:port/"
                       "database",
                       uri);
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_printf(&b, "postgresql%s", rest);
    *target = cap_buf_steal(&b);
    return 0;
}

/* MLflow's SQLAlchemy-style URIs: sqlite:///rel/path.db is relative to the
 * working directory, sqlite:////abs/path.db is absolute. Anything without a
 * scheme is a plain file path. A query string (?mode=...) is ignored.
 * postgresql:// (and postgres://, postgresql+<driver>://) picks PostgreSQL. */
static int parse_uri(const char *uri, char **path, const struct sq_driver **drv,
                     struct cap_error *err)
{
    *path = NULL;
    *drv = &store_db_sqlite;
    if (cap_str_has_prefix(uri, "postgresql:") || cap_str_has_prefix(uri, "postgres:") ||
        cap_str_has_prefix(uri, "postgresql+")) {
        *drv = &store_db_pg;
        return pg_target(uri, path, err);
    }
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
    const struct sq_driver *drv = NULL;
    int rc = parse_uri(cfg->uri, &path, &drv, err);
    if (rc < 0)
        return rc;
    if (drv == &store_db_sqlite && (rc = make_parent_dirs(path, err)) < 0) {
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
    st->be = &store_sql_backend;
    rc = store_sql_open(drv, path, prefix, cfg->read_connections, &st->impl, err);
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

/* ---------------- argument checks (named in store_ops.def) ---------------- */

static int check_experiment_name(const char *name, const char *what, struct cap_error *err)
{
    NEED(name, what);
    if (!*name)
        return cap_err(err, CAP_EINVAL, "Invalid experiment name: ''");
    return 0;
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

int store_auth_kind_check(const char *kind, struct cap_error *err)
{
    static const char *const kinds[] = {"experiment", "registered_model", "deployment",
                                        "dataset", "pipeline"};
    for (size_t i = 0; kind && i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(kind, kinds[i]) == 0)
            return 0;
    return cap_err(err, CAP_EINVAL,
                   "Invalid resource type '%.64s': expected 'experiment', 'registered_model', "
                   "'deployment', 'dataset' or 'pipeline'",
                   kind ? kind : "(null)");
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

static int check_metrics(const struct store_metric *metrics, size_t n, struct cap_error *err)
{
    if (n && !metrics)
        return cap_err(err, CAP_EINVAL, "Missing value for required parameter 'metrics'");
    for (size_t i = 0; i < n; i++)
        if (!metrics[i].key)
            return cap_err(err, CAP_EINVAL, "Each metric needs a key");
    return 0;
}

static int check_inputs(const struct store_dataset_input *datasets, size_t ndatasets,
                        const char *const *model_ids, size_t nmodels, struct cap_error *err)
{
    if ((ndatasets && !datasets) || (nmodels && !model_ids))
        return cap_err(err, CAP_EINVAL, "Missing value for required parameter 'datasets'");
    for (size_t i = 0; i < ndatasets; i++) {
        const struct store_dataset_input *d = &datasets[i];
        if (!d->name || !d->digest || !d->source_type || !d->source)
            return cap_err(err, CAP_EINVAL,
                           "A dataset needs a name, digest, source_type and source");
        CHECK(check_kvs(d->tags, d->ntags, "dataset tags", err));
    }
    for (size_t i = 0; i < nmodels; i++)
        if (!model_ids[i])
            return cap_err(err, CAP_EINVAL, "A model input needs a model_id");
    return 0;
}

static int check_outputs(const struct store_model_output *models, size_t n,
                         struct cap_error *err)
{
    if (n && !models)
        return cap_err(err, CAP_EINVAL, "Missing value for required parameter 'models'");
    for (size_t i = 0; i < n; i++)
        if (!models[i].model_id)
            return cap_err(err, CAP_EINVAL, "A model output needs a model_id");
    return 0;
}

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

static int check_stages(const char *const *stages, size_t n, struct cap_error *err)
{
    if (n && !stages)
        return cap_err(err, CAP_EINVAL, "Missing value for parameter 'stages'");
    const char *canon;
    for (size_t i = 0; i < n; i++)
        if (store_stage_check(stages[i], &canon, err) < 0)
            return -CAP_EINVAL;
    return 0;
}

/* Replaces *stage by its canonical spelling: backends see only those. */
static int check_stage(const char **stage, struct cap_error *err)
{
    NEED(*stage, "stage");
    const char *canon;
    CHECK(store_stage_check(*stage, &canon, err));
    *stage = canon;
    return 0;
}

static int check_version_status(const char *status, struct cap_error *err)
{
    if (status && strcmp(status, "READY") != 0 && strcmp(status, "PENDING_REGISTRATION") != 0 &&
        strcmp(status, "FAILED_REGISTRATION") != 0)
        return cap_err(err, CAP_EINVAL,
                       "Invalid model version status '%s': expected READY, "
                       "PENDING_REGISTRATION or FAILED_REGISTRATION",
                       status);
    return 0;
}

/* Letters, digits, '-', '_', '.' (not first), 1 to 128: deployment names,
 * and the names that live under one (detectors), safe in URLs and labels.
 * what: "Deployment", "Detector". */
static int check_plain_name(const char *name, const char *what, struct cap_error *err)
{
    NEED(name, "name");
    size_t n = strlen(name);
    if (n == 0 || n > 128)
        return cap_err(err, CAP_EINVAL, "%s name must be 1 to 128 characters, got %zu", what,
                       n);
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok || (p == name && c == '.'))
            return cap_err(err, CAP_EINVAL,
                           "Invalid %c%s name '%.128s': use letters, digits, '-', '_' and "
                           "'.' (not first)",
                           what[0] | 0x20, what + 1, name);
    }
    return 0;
}

int store_deployment_name_check(const char *name, struct cap_error *err)
{
    return check_plain_name(name, "Deployment", err);
}

static int check_prediction_rows(const struct store_prediction *rows, size_t n,
                                 struct cap_error *err)
{
    NEED(rows, "rows");
    for (size_t i = 0; i < n; i++) {
        NEED(rows[i].deployment, "deployment");
        NEED(rows[i].model_name, "model_name");
        NEED(rows[i].model_version, "model_version");
        NEED(rows[i].role, "role");
    }
    return 0;
}

static int check_labels(const struct store_label *l, size_t n, struct cap_error *err)
{
    NEED(l, "labels");
    for (size_t i = 0; i < n; i++) {
        CHECK(store_deployment_name_check(l[i].deployment, err));
        NEED(l[i].request_id, "request_id");
        NEED(l[i].source, "source");
        NEED(l[i].model_version, "model_version");
        if (l[i].row < 0)
            return cap_err(err, CAP_EINVAL, "A label's row must not be negative");
    }
    return 0;
}

static int check_max_results(int max_results, struct cap_error *err)
{
    if (max_results <= 0 || max_results > 10000)
        return cap_err(err, CAP_EINVAL, "max_results must be between 1 and 10000, got %d",
                       max_results);
    return 0;
}

static int check_windows(const struct store_window *w, size_t n, struct cap_error *err)
{
    for (size_t i = 0; i < n; i++) {
        CHECK(store_deployment_name_check(w[i].deployment, err));
        NEED(w[i].result_json, "result_json");
        if (w[i].width_s <= 0 || w[i].end_ms <= w[i].start_ms || w[i].nrows < 0)
            return cap_err(err, CAP_EINVAL,
                           "Invalid window: width_s must be positive, end_ms after start_ms and "
                           "rows not negative");
    }
    return 0;
}

static int check_alert_changes(const struct store_alert_change *ch, size_t n,
                               struct cap_error *err)
{
    NEED(ch, "changes");
    for (size_t i = 0; i < n; i++) {
        CHECK(store_deployment_name_check(ch[i].deployment, err));
        NEED(ch[i].rule, "rule");
        NEED(ch[i].rule_json, "rule_json");
        if (ch[i].window_id < 0 || ch[i].streak < 0)
            return cap_err(err, CAP_EINVAL, "window_id and streak must not be negative");
        if (ch[i].state && strcmp(ch[i].state, "firing") != 0 &&
            strcmp(ch[i].state, "resolved") != 0)
            return cap_err(err, CAP_EINVAL,
                           "Invalid alert state '%.40s': expected firing or resolved",
                           ch[i].state);
    }
    return 0;
}

/* ---------------- the operations ----------------
 * One wrapper per entry of store_ops.def: the store must be open, the
 * entry's checks must pass, then the backend's operation of the same name
 * gets the same arguments. */
#define STORE_ARGS(...) __VA_ARGS__
#define STORE_SELF struct store *st
#define STORE_OP(name, params, args, ...)                                                   \
    int store_##name params                                                                 \
    {                                                                                       \
        NEED_STORE();                                                                       \
        __VA_ARGS__                                                                         \
        return st->be->name(st->impl, STORE_ARGS args);                                     \
    }
#include "store/store_ops.def"
#undef STORE_OP
#undef STORE_SELF
