/* test_store.c - unit tests for the metadata store (store/) on SQLite:
 * MLflow semantics of experiments, runs, params, metrics, tags, inputs and
 * logged models; search operators, ordering and paging; concurrency through
 * the group-commit writer; reopening and schema migrations. Each test gets
 * its own database in a fresh temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store.h"
#include "tests/unit/fixture.h"

/* ---------------- fixtures and helpers ---------------- */

static int setup(void **state)
{
    return fixture_store_setup(state, "store", "sub/dir/capstan.db", true);
}

static int teardown(void **state)
{
    return fixture_store_teardown(state);
}

/* obj["a"]["b"]... for a dotted path. */
static const cJSON *jpath(const cJSON *obj, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = obj;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    return cur;
}

static const char *jstr(const cJSON *obj, const char *path)
{
    const cJSON *v = jpath(obj, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *obj, const char *path)
{
    const cJSON *v = jpath(obj, path);
    return cJSON_IsNumber(v) ? v->valuedouble : -12345.0;
}

/* The value of the {key, value} entry with this key in an array, or NULL. */
static const cJSON *kv_find(const cJSON *arr, const char *key)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const char *k = jstr(e, "key");
        if (k && strcmp(k, key) == 0)
            return e;
    }
    return NULL;
}

static const char *kv_value(const cJSON *arr, const char *key)
{
    const cJSON *e = kv_find(arr, key);
    return e ? jstr(e, "value") : NULL;
}

static char *create_exp(struct store *st, const char *name)
{
    char *id = NULL;
    struct cap_error err = {0};
    int rc = store_experiment_create(st, name, NULL, NULL, 0, &id, &err);
    if (rc != 0)
        fail_msg("create experiment %s: %s", name, err.msg);
    return id;
}

/* Creates a run and returns its id (free it). */
static char *create_run(struct store *st, const char *exp, const char *name, int64_t start)
{
    struct store_run_create in = {.experiment_id = exp, .user_id = "alice", .start_time = start,
                                  .run_name = name};
    cJSON *run = NULL;
    struct cap_error err = {0};
    int rc = store_run_create(st, &in, &run, &err);
    if (rc != 0)
        fail_msg("create run: %s", err.msg);
    char *id = strdup(jstr(run, "info.run_id"));
    cJSON_Delete(run);
    return id;
}

static int log_metric(struct store *st, const char *run, const char *key, double v, int64_t ts,
                      int64_t step)
{
    struct store_metric m = {.key = key, .value = v, .timestamp = ts, .step = step};
    struct cap_error err = {0};
    return store_run_log_batch(st, run, &m, 1, NULL, 0, NULL, 0, &err);
}

static int log_param(struct store *st, const char *run, const char *key, const char *value,
                     struct cap_error *err)
{
    struct cap_kv kv = {key, value};
    return store_run_log_batch(st, run, NULL, 0, &kv, 1, NULL, 0, err);
}

static int set_tag(struct store *st, const char *run, const char *key, const char *value)
{
    struct cap_kv kv = {key, value};
    struct cap_error err = {0};
    return store_run_log_batch(st, run, NULL, 0, NULL, 0, &kv, 1, &err);
}

static cJSON *get_run(struct store *st, const char *id)
{
    cJSON *run = NULL;
    struct cap_error err = {0};
    int rc = store_run_get(st, id, &run, &err);
    if (rc != 0)
        fail_msg("get run %s: %s", id, err.msg);
    return run;
}

static struct filter_cond cnum(enum filter_entity e, const char *key, enum filter_op op, double v)
{
    struct filter_cond c = {.entity = e, .key = (char *)key, .op = op};
    c.value.kind = FILTER_VALUE_NUMBER;
    c.value.num = v;
    return c;
}

static struct filter_cond cstr(enum filter_entity e, const char *key, enum filter_op op,
                               const char *v)
{
    struct filter_cond c = {.entity = e, .key = (char *)key, .op = op};
    c.value.kind = FILTER_VALUE_STRING;
    c.value.str = (char *)v;
    return c;
}

static struct filter_cond clist(enum filter_entity e, const char *key, enum filter_op op,
                                char **list, size_t n)
{
    struct filter_cond c = {.entity = e, .key = (char *)key, .op = op};
    c.value.kind = FILTER_VALUE_LIST;
    c.value.list = list;
    c.value.nlist = n;
    return c;
}

struct sr {
    int rc;
    struct cap_error err;
    char *next;
    char names[4096]; /* run names joined by ',' */
    int count;
};

static struct sr search_runs(struct store *st, const char *exp, struct filter_cond *conds,
                             size_t n, const struct order_key *order, size_t norder, int max,
                             const char *token, enum store_view view)
{
    struct sr r = {0};
    struct filter f = {conds, n};
    const char *ids[] = {exp};
    struct store_run_query q = {.experiment_ids = ids, .nexperiments = 1};
    q.q.view = view ? view : STORE_VIEW_ACTIVE;
    q.q.filter = n ? &f : NULL;
    q.q.order = order;
    q.q.norder = norder;
    q.q.max_results = max;
    q.q.page_token = token;
    cJSON *list = NULL;
    r.rc = store_run_search(st, &q, &list, &r.next, &r.err);
    const cJSON *run;
    cJSON_ArrayForEach(run, list)
    {
        if (r.count++)
            strcat(r.names, ",");
        strcat(r.names, jstr(run, "info.run_name"));
    }
    cJSON_Delete(list);
    return r;
}

static void expect_search(struct store *st, const char *exp, struct filter_cond c,
                          const char *expected)
{
    struct sr r = search_runs(st, exp, &c, 1, NULL, 0, 100, NULL, 0);
    if (r.rc != 0)
        fail_msg("search on %s failed: %s", c.key, r.err.msg);
    if (strcmp(r.names, expected) != 0)
        fail_msg("search on %s (op %d): got '%s', want '%s'", c.key, (int)c.op, r.names,
                 expected);
    free(r.next);
}

static void expect_order(struct store *st, const char *exp, const struct order_key *k, size_t n,
                         const char *expected)
{
    struct sr r = search_runs(st, exp, NULL, 0, k, n, 100, NULL, 0);
    if (r.rc != 0)
        fail_msg("order by %s failed: %s", k[0].key, r.err.msg);
    if (strcmp(r.names, expected) != 0)
        fail_msg("order by %s%s: got '%s', want '%s'", k[0].key, k[0].ascending ? "" : " DESC",
                 r.names, expected);
    free(r.next);
}

/* ---------------- experiments ---------------- */

static void test_default_experiment(void **state)
{
    struct fixture_store *f = *state;
    cJSON *e = NULL;
    struct cap_error err = {0};
    assert_int_equal(store_experiment_get(f->st, "0", &e, &err), 0);
    assert_string_equal(jstr(e, "experiment_id"), "0");
    assert_string_equal(jstr(e, "name"), "Default");
    assert_string_equal(jstr(e, "artifact_location"), "mlflow-artifacts:/0");
    assert_string_equal(jstr(e, "lifecycle_stage"), "active");
    assert_true(jnum(e, "creation_time") > 1e12);
    cJSON_Delete(e);
    assert_int_equal(store_experiment_get_by_name(f->st, "Default", &e, &err), 0);
    assert_string_equal(jstr(e, "experiment_id"), "0");
    cJSON_Delete(e);
    /* the default experiment cannot be deleted */
    assert_int_equal(store_experiment_delete(f->st, "0", &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "default experiment"));
}

static void test_experiment_lifecycle(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    cJSON *e = NULL;
    char *a = create_exp(f->st, "alpha");
    char *b = create_exp(f->st, "beta");
    assert_string_equal(a, "1");
    assert_string_equal(b, "2");

    assert_int_equal(store_experiment_get(f->st, a, &e, &err), 0);
    assert_string_equal(jstr(e, "name"), "alpha");
    assert_string_equal(jstr(e, "artifact_location"), "mlflow-artifacts:/1");
    int64_t updated = (int64_t)jnum(e, "last_update_time");
    cJSON_Delete(e);

    assert_int_equal(store_experiment_get(f->st, "999", &e, &err), -CAP_ENOTFOUND);
    assert_string_equal(err.msg, "No Experiment with id=999 exists");
    assert_null(e);
    assert_int_equal(store_experiment_get_by_name(f->st, "nope", &e, &err), -CAP_ENOTFOUND);
    assert_string_equal(err.msg, "Could not find experiment with name 'nope'");

    char *id = NULL, *dummy = NULL;
    assert_int_equal(store_experiment_create(f->st, "alpha", NULL, NULL, 0, &dummy, &err),
                     -CAP_EEXISTS);
    assert_string_equal(err.msg, "Experiment 'alpha' already exists.");
    assert_null(dummy);

    /* custom location and tags */
    struct cap_kv tags[] = {{"team", "ml"}, {"k", "v"}};
    assert_int_equal(
        store_experiment_create(f->st, "gamma", "s3://bucket/x", tags, 2, &id, &err), 0);
    assert_int_equal(store_experiment_get(f->st, id, &e, &err), 0);
    assert_string_equal(jstr(e, "artifact_location"), "s3://bucket/x");
    assert_string_equal(kv_value(jpath(e, "tags"), "team"), "ml");
    cJSON_Delete(e);

    /* rename */
    usleep(2000);
    assert_int_equal(store_experiment_rename(f->st, a, "alpha2", &err), 0);
    assert_int_equal(store_experiment_get_by_name(f->st, "alpha2", &e, &err), 0);
    assert_string_equal(jstr(e, "experiment_id"), a);
    assert_true((int64_t)jnum(e, "last_update_time") > updated);
    cJSON_Delete(e);
    assert_int_equal(store_experiment_rename(f->st, a, "beta", &err), -CAP_EEXISTS);
    assert_int_equal(store_experiment_rename(f->st, "77", "zzz", &err), -CAP_ENOTFOUND);

    /* tags */
    assert_int_equal(store_experiment_set_tag(f->st, a, "owner", "bob", &err), 0);
    assert_int_equal(store_experiment_set_tag(f->st, a, "owner", "carol", &err), 0);
    assert_int_equal(store_experiment_get(f->st, a, &e, &err), 0);
    assert_string_equal(kv_value(jpath(e, "tags"), "owner"), "carol");
    cJSON_Delete(e);
    assert_int_equal(store_experiment_delete_tag(f->st, a, "owner", &err), 0);
    assert_int_equal(store_experiment_delete_tag(f->st, a, "owner", &err), -CAP_ENOTFOUND);
    assert_int_equal(store_experiment_set_tag(f->st, "555", "k", "v", &err), -CAP_ENOTFOUND);

    /* delete / restore */
    assert_int_equal(store_experiment_delete(f->st, b, &err), 0);
    assert_int_equal(store_experiment_delete(f->st, b, &err), 0); /* replay-safe */
    assert_int_equal(store_experiment_get(f->st, b, &e, &err), 0);
    assert_string_equal(jstr(e, "lifecycle_stage"), "deleted");
    cJSON_Delete(e);
    assert_int_equal(store_experiment_rename(f->st, b, "beta3", &err), -CAP_EINVAL);
    assert_int_equal(store_experiment_set_tag(f->st, b, "k", "v", &err), -CAP_EINVAL);
    /* a deleted experiment keeps its name */
    assert_int_equal(store_experiment_create(f->st, "beta", NULL, NULL, 0, &dummy, &err),
                     -CAP_EEXISTS);
    assert_int_equal(store_experiment_delete(f->st, "4242", &err), -CAP_ENOTFOUND);
    assert_int_equal(store_experiment_restore(f->st, "4242", &err), -CAP_ENOTFOUND);
    assert_int_equal(store_experiment_restore(f->st, b, &err), 0);
    assert_int_equal(store_experiment_get(f->st, b, &e, &err), 0);
    assert_string_equal(jstr(e, "lifecycle_stage"), "active");
    cJSON_Delete(e);

    char *d = create_exp(f->st, "delta");
    assert_int_equal(atoi(d), atoi(id) + 1); /* ids increase */
    free(a);
    free(b);
    free(d);
    free(id);
}

static void test_experiment_delete_carries_runs(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *e = create_exp(f->st, "withruns");
    char *r1 = create_run(f->st, e, "one", 1000);
    char *r2 = create_run(f->st, e, "two", 2000);
    usleep(2000);
    assert_int_equal(store_run_delete(f->st, r1, &err), 0); /* deleted on its own first */
    usleep(2000);
    assert_int_equal(store_experiment_delete(f->st, e, &err), 0);
    cJSON *run = get_run(f->st, r2);
    assert_string_equal(jstr(run, "info.lifecycle_stage"), "deleted");
    cJSON_Delete(run);
    /* runs cannot be created in a deleted experiment */
    struct store_run_create in = {.experiment_id = e, .start_time = 1};
    cJSON *out = NULL;
    assert_int_equal(store_run_create(f->st, &in, &out, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "must be in the 'active' state"));
    in.experiment_id = "31337";
    assert_int_equal(store_run_create(f->st, &in, &out, &err), -CAP_ENOTFOUND);

    assert_int_equal(store_experiment_restore(f->st, e, &err), 0);
    run = get_run(f->st, r2);
    assert_string_equal(jstr(run, "info.lifecycle_stage"), "active");
    cJSON_Delete(run);
    run = get_run(f->st, r1); /* deleted before the experiment: stays deleted */
    assert_string_equal(jstr(run, "info.lifecycle_stage"), "deleted");
    cJSON_Delete(run);
    free(e);
    free(r1);
    free(r2);
}

/* ---------------- runs ---------------- */

static void test_run_create_get_update(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *e = create_exp(f->st, "runs");
    struct cap_kv tags[] = {{"source", "nb"}};
    struct store_run_create in = {.experiment_id = e, .user_id = "u1", .start_time = 1234,
                                  .tags = tags, .ntags = 1};
    cJSON *run = NULL;
    assert_int_equal(store_run_create(f->st, &in, &run, &err), 0);
    const char *id = jstr(run, "info.run_id");
    assert_non_null(id);
    assert_int_equal(strlen(id), 32);
    assert_int_equal(strspn(id, "0123456789abcdef"), 32);
    assert_string_equal(jstr(run, "info.run_uuid"), id);
    assert_string_equal(jstr(run, "info.experiment_id"), e);
    assert_string_equal(jstr(run, "info.user_id"), "u1");
    assert_string_equal(jstr(run, "info.status"), "RUNNING");
    assert_string_equal(jstr(run, "info.lifecycle_stage"), "active");
    assert_int_equal((int64_t)jnum(run, "info.start_time"), 1234);
    assert_null(jpath(run, "info.end_time"));
    char uri[128];
    snprintf(uri, sizeof uri, "mlflow-artifacts:/%s/%s/artifacts", e, id);
    assert_string_equal(jstr(run, "info.artifact_uri"), uri);
    /* generated name: adjective-noun-number, also in the tag */
    const char *name = jstr(run, "info.run_name");
    assert_non_null(name);
    assert_non_null(strchr(name, '-'));
    assert_non_null(strchr(strchr(name, '-') + 1, '-'));
    assert_string_equal(kv_value(jpath(run, "data.tags"), "mlflow.runName"), name);
    assert_string_equal(kv_value(jpath(run, "data.tags"), "source"), "nb");
    assert_non_null(jpath(run, "data"));
    assert_non_null(jpath(run, "inputs"));
    assert_null(jpath(run, "data.metrics")); /* empty lists left out */
    char *rid = strdup(id);
    cJSON_Delete(run);

    /* name from the tag */
    struct cap_kv ntag[] = {{"mlflow.runName", "from-tag"}};
    in.tags = ntag;
    in.ntags = 1;
    assert_int_equal(store_run_create(f->st, &in, &run, &err), 0);
    assert_string_equal(jstr(run, "info.run_name"), "from-tag");
    cJSON_Delete(run);
    /* conflicting name and tag */
    in.run_name = "other";
    assert_int_equal(store_run_create(f->st, &in, &run, &err), -CAP_EINVAL);
    in.run_name = "from-tag";
    assert_int_equal(store_run_create(f->st, &in, &run, &err), 0);
    cJSON_Delete(run);
    /* no user: "" */
    struct store_run_create bare = {.experiment_id = e, .run_name = "bare"};
    assert_int_equal(store_run_create(f->st, &bare, &run, &err), 0);
    assert_string_equal(jstr(run, "info.user_id"), "");
    cJSON_Delete(run);

    /* update */
    cJSON *info = NULL;
    assert_int_equal(store_run_update(f->st, rid, "FINISHED", 5678, "renamed", &info, &err), 0);
    assert_string_equal(jstr(info, "status"), "FINISHED");
    assert_int_equal((int64_t)jnum(info, "end_time"), 5678);
    assert_string_equal(jstr(info, "run_name"), "renamed");
    cJSON_Delete(info);
    assert_int_equal(store_run_update(f->st, rid, NULL, -1, NULL, &info, &err), 0);
    assert_string_equal(jstr(info, "status"), "FINISHED"); /* unchanged */
    assert_string_equal(jstr(info, "run_name"), "renamed");
    cJSON_Delete(info);
    run = get_run(f->st, rid);
    assert_string_equal(kv_value(jpath(run, "data.tags"), "mlflow.runName"), "renamed");
    cJSON_Delete(run);
    assert_int_equal(store_run_update(f->st, "deadbeef", "FAILED", -1, NULL, &info, &err),
                     -CAP_ENOTFOUND);
    assert_string_equal(err.msg, "Run with id=deadbeef not found");
    assert_int_equal(store_run_get(f->st, "deadbeef", &run, &err), -CAP_ENOTFOUND);
    /* FINISHED runs still accept logging */
    assert_int_equal(log_metric(f->st, rid, "late", 1, 1, 0), 0);
    free(rid);
    free(e);
}

static void test_run_delete_restore(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *r = create_run(f->st, "0", "dr", 1);
    assert_int_equal(store_run_delete(f->st, r, &err), 0);
    cJSON *run = get_run(f->st, r);
    assert_string_equal(jstr(run, "info.lifecycle_stage"), "deleted");
    cJSON_Delete(run);
    assert_int_equal(log_param(f->st, r, "p", "1", &err), -CAP_EINVAL);
    char want[200];
    snprintf(want, sizeof want,
             "The run %s must be in the 'active' state. Current state is deleted.", r);
    assert_string_equal(err.msg, want);
    assert_int_equal(store_run_restore(f->st, r, &err), 0);
    assert_int_equal(log_param(f->st, r, "p", "1", &err), 0);
    assert_int_equal(store_run_delete(f->st, "0123", &err), -CAP_ENOTFOUND);
    assert_int_equal(store_run_restore(f->st, "0123", &err), -CAP_ENOTFOUND);
    free(r);
}

static void test_params_write_once_atomic(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *r = create_run(f->st, "0", "params", 1);
    assert_int_equal(log_param(f->st, r, "lr", "0.1", &err), 0);
    assert_int_equal(log_param(f->st, r, "lr", "0.1", &err), 0); /* same value: fine */
    assert_int_equal(log_param(f->st, r, "lr", "0.2", &err), -CAP_EINVAL);
    char want[300];
    snprintf(want, sizeof want,
             "Changing param values is not allowed. Param with key='lr' was already logged with "
             "value='0.1' for run ID='%s'. Attempted logging new value '0.2'.",
             r);
    assert_string_equal(err.msg, want);

    /* a batch with one bad param stores nothing at all */
    struct store_metric m[] = {{.key = "loss", .value = 1.5, .timestamp = 10, .step = 0}};
    struct cap_kv params[] = {{"new", "x"}, {"lr", "0.3"}};
    struct cap_kv tags[] = {{"t", "v"}};
    assert_int_equal(store_run_log_batch(f->st, r, m, 1, params, 2, tags, 1, &err),
                     -CAP_EINVAL);
    cJSON *run = get_run(f->st, r);
    assert_null(kv_find(jpath(run, "data.params"), "new"));
    assert_null(kv_find(jpath(run, "data.tags"), "t"));
    assert_null(jpath(run, "data.metrics"));
    assert_string_equal(kv_value(jpath(run, "data.params"), "lr"), "0.1");
    cJSON_Delete(run);
    cJSON *hist = NULL;
    assert_int_equal(store_metric_history(f->st, r, "loss", &hist, &err), 0);
    assert_int_equal(cJSON_GetArraySize(hist), 0);
    cJSON_Delete(hist);

    /* duplicate keys inside one batch */
    struct cap_kv dup_same[] = {{"a", "1"}, {"a", "1"}};
    struct cap_kv dup_diff[] = {{"b", "1"}, {"b", "2"}};
    assert_int_equal(store_run_log_batch(f->st, r, NULL, 0, dup_same, 2, NULL, 0, &err), 0);
    assert_int_equal(store_run_log_batch(f->st, r, NULL, 0, dup_diff, 2, NULL, 0, &err),
                     -CAP_EINVAL);
    run = get_run(f->st, r);
    assert_string_equal(kv_value(jpath(run, "data.params"), "a"), "1");
    assert_null(kv_find(jpath(run, "data.params"), "b"));
    cJSON_Delete(run);
    assert_int_equal(log_param(f->st, "ffffffff", "x", "1", &err), -CAP_ENOTFOUND);
    free(r);
}

static void test_metrics_dedup_latest_history(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *r = create_run(f->st, "0", "metrics", 1);
    assert_int_equal(log_metric(f->st, r, "acc", 5, 100, 1), 0);
    assert_int_equal(log_metric(f->st, r, "acc", 5, 100, 1), 0); /* exact duplicate */
    assert_int_equal(log_metric(f->st, r, "acc", 9, 200, 0), 0); /* lower step: not latest */
    cJSON *run = get_run(f->st, r);
    const cJSON *m = kv_find(jpath(run, "data.metrics"), "acc");
    assert_non_null(m);
    assert_true(jnum(m, "value") == 5);
    assert_int_equal((int64_t)jnum(m, "step"), 1);
    assert_int_equal((int64_t)jnum(m, "timestamp"), 100);
    cJSON_Delete(run);
    assert_int_equal(log_metric(f->st, r, "acc", 7, 100, 1), 0); /* same step+ts, bigger */
    assert_int_equal(log_metric(f->st, r, "acc", 100, 50, 1), 0); /* older timestamp */
    assert_int_equal(log_metric(f->st, r, "acc", 3, 100, 1), 0);   /* smaller value */
    run = get_run(f->st, r);
    assert_true(jnum(kv_find(jpath(run, "data.metrics"), "acc"), "value") == 7);
    cJSON_Delete(run);
    assert_int_equal(log_metric(f->st, r, "acc", -1, 300, 2), 0); /* later step wins */
    run = get_run(f->st, r);
    assert_true(jnum(kv_find(jpath(run, "data.metrics"), "acc"), "value") == -1);
    cJSON_Delete(run);

    cJSON *hist = NULL;
    assert_int_equal(store_metric_history(f->st, r, "acc", &hist, &err), 0);
    /* points: (0,200,9) (1,50,100) (1,100,3) (1,100,5) (1,100,7) (2,300,-1) */
    assert_int_equal(cJSON_GetArraySize(hist), 6);
    int64_t pstep = -1, pts = -1;
    const cJSON *p;
    cJSON_ArrayForEach(p, hist)
    {
        int64_t s = (int64_t)jnum(p, "step"), t = (int64_t)jnum(p, "timestamp");
        assert_true(s > pstep || (s == pstep && t >= pts));
        assert_string_equal(jstr(p, "key"), "acc");
        pstep = s;
        pts = t;
    }
    assert_true(jnum(cJSON_GetArrayItem(hist, 0), "value") == 9);
    cJSON_Delete(hist);
    assert_int_equal(store_metric_history(f->st, r, "nokey", &hist, &err), 0);
    assert_int_equal(cJSON_GetArraySize(hist), 0);
    cJSON_Delete(hist);
    assert_int_equal(store_metric_history(f->st, "abc", "acc", &hist, &err), -CAP_ENOTFOUND);
    free(r);
}

static void test_nan_inf_roundtrip(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *r = create_run(f->st, "0", "nan", 1);
    struct store_metric m[] = {
        {.key = "n", .value = NAN, .timestamp = 1, .step = 0},
        {.key = "n", .value = 0.0, .timestamp = 1, .step = 0}, /* not the same point as NaN */
        {.key = "pi", .value = INFINITY, .timestamp = 1, .step = 0},
        {.key = "ni", .value = -INFINITY, .timestamp = 1, .step = 0},
        {.key = "nl", .value = NAN, .timestamp = 5, .step = 3},
    };
    assert_int_equal(store_run_log_batch(f->st, r, m, 5, NULL, 0, NULL, 0, &err), 0);
    assert_int_equal(store_run_log_batch(f->st, r, m, 5, NULL, 0, NULL, 0, &err), 0);
    cJSON *run = get_run(f->st, r);
    const cJSON *ms = jpath(run, "data.metrics");
    assert_string_equal(jstr(kv_find(ms, "pi"), "value"), "Infinity");
    assert_string_equal(jstr(kv_find(ms, "ni"), "value"), "-Infinity");
    assert_string_equal(jstr(kv_find(ms, "nl"), "value"), "NaN");
    cJSON_Delete(run);
    cJSON *hist = NULL;
    assert_int_equal(store_metric_history(f->st, r, "n", &hist, &err), 0);
    assert_int_equal(cJSON_GetArraySize(hist), 2);
    int nan_seen = 0, zero_seen = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, hist)
    {
        const char *s = jstr(p, "value");
        if (s && strcmp(s, "NaN") == 0)
            nan_seen++;
        else if (jnum(p, "value") == 0)
            zero_seen++;
    }
    assert_int_equal(nan_seen, 1);
    assert_int_equal(zero_seen, 1);
    cJSON_Delete(hist);
    assert_int_equal(store_metric_history(f->st, r, "pi", &hist, &err), 0);
    assert_string_equal(jstr(cJSON_GetArrayItem(hist, 0), "value"), "Infinity");
    cJSON_Delete(hist);
    free(r);
}

static void test_tags(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *r = create_run(f->st, "0", "tags", 1);
    assert_int_equal(set_tag(f->st, r, "color", "red"), 0);
    assert_int_equal(set_tag(f->st, r, "color", "blue"), 0);
    assert_int_equal(set_tag(f->st, r, "mlflow.runName", "new-name"), 0);
    cJSON *run = get_run(f->st, r);
    assert_string_equal(kv_value(jpath(run, "data.tags"), "color"), "blue");
    assert_string_equal(jstr(run, "info.run_name"), "new-name");
    assert_string_equal(kv_value(jpath(run, "data.tags"), "mlflow.runName"), "new-name");
    cJSON_Delete(run);
    assert_int_equal(store_run_delete_tag(f->st, r, "color", &err), 0);
    run = get_run(f->st, r);
    assert_null(kv_find(jpath(run, "data.tags"), "color"));
    cJSON_Delete(run);
    assert_int_equal(store_run_delete_tag(f->st, r, "color", &err), -CAP_ENOTFOUND);
    char want[200];
    snprintf(want, sizeof want, "No tag with name: color in run with id %s", r);
    assert_string_equal(err.msg, want);
    free(r);
}

static void test_log_inputs_outputs(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *e = create_exp(f->st, "inputs");
    char *r1 = create_run(f->st, e, "in1", 1);
    char *r2 = create_run(f->st, e, "in2", 2);
    struct cap_kv ctx[] = {{"mlflow.data.context", "training"}};
    struct store_dataset_input ds = {.name = "iris", .digest = "abc", .source_type = "local",
                                     .source = "{\"uri\":\"x\"}", .schema = "{}", .tags = ctx,
                                     .ntags = 1};
    const char *models[] = {"m-123"};
    assert_int_equal(store_run_log_inputs(f->st, r1, &ds, 1, models, 1, &err), 0);
    assert_int_equal(store_run_log_inputs(f->st, r1, &ds, 1, models, 1, &err), 0); /* no-op */
    assert_int_equal(store_run_log_inputs(f->st, r2, &ds, 1, NULL, 0, &err), 0);
    struct store_model_output out = {"m-123", 4};
    assert_int_equal(store_run_log_outputs(f->st, r1, &out, 1, &err), 0);
    cJSON *run = get_run(f->st, r1);
    const cJSON *dsi = jpath(run, "inputs.dataset_inputs");
    assert_int_equal(cJSON_GetArraySize(dsi), 1);
    const cJSON *d0 = cJSON_GetArrayItem(dsi, 0);
    assert_string_equal(jstr(d0, "dataset.name"), "iris");
    assert_string_equal(jstr(d0, "dataset.digest"), "abc");
    assert_string_equal(jstr(d0, "dataset.source_type"), "local");
    assert_string_equal(jstr(d0, "dataset.schema"), "{}");
    assert_null(jpath(d0, "dataset.profile"));
    assert_string_equal(kv_value(jpath(d0, "tags"), "mlflow.data.context"), "training");
    assert_string_equal(jstr(cJSON_GetArrayItem(jpath(run, "inputs.model_inputs"), 0),
                             "model_id"),
                        "m-123");
    const cJSON *mo = cJSON_GetArrayItem(jpath(run, "outputs.model_outputs"), 0);
    assert_string_equal(jstr(mo, "model_id"), "m-123");
    assert_int_equal((int64_t)jnum(mo, "step"), 4);
    cJSON_Delete(run);

    /* one dataset row per (experiment, name, digest) */
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM datasets", -1, &st, NULL), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);

    assert_int_equal(store_run_log_inputs(f->st, "nope", &ds, 1, NULL, 0, &err),
                     -CAP_ENOTFOUND);
    free(e);
    free(r1);
    free(r2);
}

/* ---------------- search ---------------- */

struct search_data {
    char *exp;
    char *ids[7];
};

/* r1..r6 as described in each test below. */
static void make_search_data(struct store *st, struct search_data *d)
{
    struct cap_error err = {0};
    d->exp = create_exp(st, "search");
    for (int i = 1; i <= 6; i++) {
        char name[16];
        snprintf(name, sizeof name, "r%d", i);
        d->ids[i] = create_run(st, d->exp, name, 1000 * i);
    }
    /*        m      p       t      */
    /* r1    1.0    alpha   Red     */
    /* r2    2.0    beta    red     */
    /* r3    3.0    gamma   -       */
    /* r4    -      alpha   blue    */
    /* r5    NaN    -       Red     */
    /* r6    0.5    Alpha   -       FINISHED, end 7000 */
    const double m[] = {0, 1.0, 2.0, 3.0, 0, NAN, 0.5};
    const char *p[] = {NULL, "alpha", "beta", "gamma", "alpha", NULL, "Alpha"};
    const char *t[] = {NULL, "Red", "red", NULL, "blue", "Red", NULL};
    for (int i = 1; i <= 6; i++) {
        if (i != 4)
            assert_int_equal(log_metric(st, d->ids[i], "m", m[i], 10, 0), 0);
        if (p[i])
            assert_int_equal(log_param(st, d->ids[i], "p", p[i], &err), 0);
        if (t[i])
            assert_int_equal(set_tag(st, d->ids[i], "t", t[i]), 0);
    }
    cJSON *info = NULL;
    assert_int_equal(store_run_update(st, d->ids[6], "FINISHED", 7000, NULL, &info, &err), 0);
    cJSON_Delete(info);
    struct cap_kv ctx[] = {{"mlflow.data.context", "training"}};
    struct store_dataset_input ds = {.name = "ds", .digest = "d1", .source_type = "local",
                                     .source = "s", .tags = ctx, .ntags = 1};
    assert_int_equal(store_run_log_inputs(st, d->ids[2], &ds, 1, NULL, 0, &err), 0);
}

static void free_search_data(struct search_data *d)
{
    free(d->exp);
    for (int i = 1; i <= 6; i++)
        free(d->ids[i]);
}

static void check_operators(struct fixture_store *f, struct search_data *dd)
{
    struct search_data d = *dd;
    const char *x = d.exp;
    /* metrics: numeric; NaN never compares; runs without the key never match */
    expect_search(f->st, x, cnum(FILTER_METRIC, "m", FILTER_GT, 1.5), "r3,r2");
    expect_search(f->st, x, cnum(FILTER_METRIC, "m", FILTER_GE, 1), "r3,r2,r1");
    expect_search(f->st, x, cnum(FILTER_METRIC, "m", FILTER_LT, 1), "r6");
    expect_search(f->st, x, cnum(FILTER_METRIC, "m", FILTER_LE, 1), "r6,r1");
    expect_search(f->st, x, cnum(FILTER_METRIC, "m", FILTER_EQ, 2), "r2");
    expect_search(f->st, x, cnum(FILTER_METRIC, "m", FILTER_NE, 2), "r6,r3,r1");
    expect_search(f->st, x, cnum(FILTER_METRIC, "absent", FILTER_NE, 2), "");
    /* params and tags: strings; LIKE case-sensitive, ILIKE not */
    expect_search(f->st, x, cstr(FILTER_PARAM, "p", FILTER_EQ, "alpha"), "r4,r1");
    expect_search(f->st, x, cstr(FILTER_PARAM, "p", FILTER_NE, "alpha"), "r6,r3,r2");
    expect_search(f->st, x, cstr(FILTER_PARAM, "p", FILTER_LIKE, "al%"), "r4,r1");
    expect_search(f->st, x, cstr(FILTER_PARAM, "p", FILTER_LIKE, "_eta"), "r2");
    expect_search(f->st, x, cstr(FILTER_PARAM, "p", FILTER_ILIKE, "AL%"), "r6,r4,r1");
    expect_search(f->st, x, cstr(FILTER_TAG, "t", FILTER_EQ, "Red"), "r5,r1");
    expect_search(f->st, x, cstr(FILTER_TAG, "t", FILTER_NE, "Red"), "r4,r2");
    expect_search(f->st, x, cstr(FILTER_TAG, "t", FILTER_ILIKE, "red"), "r5,r2,r1");
    expect_search(f->st, x, cstr(FILTER_TAG, "t", FILTER_LIKE, "red"), "r2");
    /* attributes */
    expect_search(f->st, x, cstr(FILTER_ATTR, "run_name", FILTER_EQ, "r3"), "r3");
    expect_search(f->st, x, cstr(FILTER_ATTR, "run_name", FILTER_LIKE, "r%"),
                  "r6,r5,r4,r3,r2,r1");
    expect_search(f->st, x, cstr(FILTER_ATTR, "run_name", FILTER_ILIKE, "R1"), "r1");
    expect_search(f->st, x, cstr(FILTER_ATTR, "status", FILTER_EQ, "FINISHED"), "r6");
    expect_search(f->st, x, cstr(FILTER_ATTR, "status", FILTER_NE, "FINISHED"),
                  "r5,r4,r3,r2,r1");
    expect_search(f->st, x, cstr(FILTER_ATTR, "user_id", FILTER_EQ, "alice"),
                  "r6,r5,r4,r3,r2,r1");
    expect_search(f->st, x, cnum(FILTER_ATTR, "start_time", FILTER_GT, 3500), "r6,r5,r4");
    expect_search(f->st, x, cnum(FILTER_ATTR, "end_time", FILTER_GT, 0), "r6");
    char *in2[] = {d.ids[1], d.ids[2]};
    expect_search(f->st, x, clist(FILTER_ATTR, "run_id", FILTER_IN, in2, 2), "r2,r1");
    expect_search(f->st, x, clist(FILTER_ATTR, "run_id", FILTER_NOT_IN, in2, 1),
                  "r6,r5,r4,r3,r2");
    expect_search(f->st, x, cstr(FILTER_ATTR, "run_id", FILTER_EQ, d.ids[3]), "r3");
    /* datasets */
    expect_search(f->st, x, cstr(FILTER_DATASET, "name", FILTER_EQ, "ds"), "r2");
    expect_search(f->st, x, cstr(FILTER_DATASET, "digest", FILTER_EQ, "zz"), "");
    expect_search(f->st, x, cstr(FILTER_DATASET, "context", FILTER_EQ, "training"), "r2");
    /* several conditions */
    struct filter_cond both[] = {cnum(FILTER_METRIC, "m", FILTER_GT, 0.7),
                                 cstr(FILTER_PARAM, "p", FILTER_EQ, "alpha")};
    struct sr r = search_runs(f->st, x, both, 2, NULL, 0, 100, NULL, 0);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.names, "r1");
    /* the whole Run comes back */
    struct filter_cond one = cstr(FILTER_ATTR, "run_name", FILTER_EQ, "r2");
    struct filter fl = {&one, 1};
    const char *ids[] = {x};
    struct store_run_query q = {.experiment_ids = ids, .nexperiments = 1,
                                .q = {.view = STORE_VIEW_ACTIVE, .filter = &fl, .max_results = 5}};
    cJSON *list = NULL;
    char *next = NULL;
    struct cap_error err = {0};
    assert_int_equal(store_run_search(f->st, &q, &list, &next, &err), 0);
    const cJSON *run = cJSON_GetArrayItem(list, 0);
    assert_true(jnum(kv_find(jpath(run, "data.metrics"), "m"), "value") == 2.0);
    assert_string_equal(kv_value(jpath(run, "data.params"), "p"), "beta");
    assert_string_equal(kv_value(jpath(run, "data.tags"), "t"), "red");
    assert_int_equal(cJSON_GetArraySize(jpath(run, "inputs.dataset_inputs")), 1);
    assert_null(next);
    cJSON_Delete(list);
    /* an unknown attribute is an error, not an empty answer */
    struct filter_cond bad = cstr(FILTER_ATTR, "bogus", FILTER_EQ, "1");
    r = search_runs(f->st, x, &bad, 1, NULL, 0, 100, NULL, 0);
    assert_int_equal(r.rc, -CAP_EINVAL);
    /* user strings are bound, never spliced into SQL */
    expect_search(f->st, x, cstr(FILTER_PARAM, "p", FILTER_EQ, "x' OR '1'='1"), "");
    /* a filter on the order's own key, and paging under a filter */
    struct filter_cond pc = cstr(FILTER_PARAM, "p", FILTER_ILIKE, "%a%");
    struct order_key mk = {FILTER_METRIC, "m", false};
    r = search_runs(f->st, x, &pc, 1, &mk, 1, 2, NULL, 0);
    assert_string_equal(r.names, "r3,r2");
    struct sr r2 = search_runs(f->st, x, &pc, 1, &mk, 1, 2, r.next, 0);
    assert_string_equal(r2.names, "r1,r6");
    struct sr r3 = search_runs(f->st, x, &pc, 1, &mk, 1, 2, r2.next, 0);
    assert_string_equal(r3.names, "r4");
    assert_null(r3.next);
    free(r.next);
    free(r2.next);
    struct filter_cond mc = cnum(FILTER_METRIC, "m", FILTER_GE, 1);
    r = search_runs(f->st, x, &mc, 1, &mk, 1, 100, NULL, 0);
    assert_string_equal(r.names, "r3,r2,r1");
}

static void test_search_operators(void **state)
{
    struct fixture_store *f = *state;
    struct search_data d;
    make_search_data(f->st, &d);
    check_operators(f, &d);
    free_search_data(&d);
}

static void check_orders(struct fixture_store *f, struct search_data *d)
{
    const char *x = d->exp;
    struct order_key k[2] = {{FILTER_METRIC, "m", false}};
    expect_order(f->st, x, k, 1, "r3,r2,r1,r6,r5,r4");
    k[0].ascending = true;
    expect_order(f->st, x, k, 1, "r6,r1,r2,r3,r5,r4");
    k[0] = (struct order_key){FILTER_PARAM, "p", true};
    expect_order(f->st, x, k, 1, "r6,r4,r1,r2,r3,r5");
    k[0].ascending = false;
    expect_order(f->st, x, k, 1, "r3,r2,r4,r1,r6,r5");
    k[0] = (struct order_key){FILTER_TAG, "t", true};
    expect_order(f->st, x, k, 1, "r5,r1,r4,r2,r6,r3"); /* binary: 'R' < 'b' < 'r' */
    /* a second key breaks ties, with its missing values last too */
    k[0] = (struct order_key){FILTER_PARAM, "p", true};
    k[1] = (struct order_key){FILTER_METRIC, "m", false};
    expect_order(f->st, x, k, 2, "r6,r1,r4,r2,r3,r5");
    k[0] = (struct order_key){FILTER_ATTR, "start_time", true};
    expect_order(f->st, x, k, 1, "r1,r2,r3,r4,r5,r6");
    k[0] = (struct order_key){FILTER_ATTR, "end_time", true};
    expect_order(f->st, x, k, 1, "r6,r5,r4,r3,r2,r1");
    k[0].ascending = false;
    expect_order(f->st, x, k, 1, "r6,r5,r4,r3,r2,r1");
    k[0] = (struct order_key){FILTER_ATTR, "run_name", false};
    expect_order(f->st, x, k, 1, "r6,r5,r4,r3,r2,r1");
    /* default: start_time DESC */
    struct sr r = search_runs(f->st, x, NULL, 0, NULL, 0, 100, NULL, 0);
    assert_string_equal(r.names, "r6,r5,r4,r3,r2,r1");
    /* filter and metric order together */
    struct filter_cond c = cstr(FILTER_PARAM, "p", FILTER_ILIKE, "%a%");
    k[0] = (struct order_key){FILTER_METRIC, "m", false};
    r = search_runs(f->st, x, &c, 1, k, 1, 100, NULL, 0);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.names, "r3,r2,r1,r6,r4");
}

static void test_search_order_missing_last(void **state)
{
    struct fixture_store *f = *state;
    struct search_data d;
    make_search_data(f->st, &d);
    check_orders(f, &d);
    free_search_data(&d);
}

/* The run search picks a join order per query (driving condition, ordered
 * walk, or SQLite's own plan); all three must give the same answers. */
static void test_search_plans(void **state)
{
    struct fixture_store *f = *state;
    struct search_data d;
    make_search_data(f->st, &d);
    const char *plans[] = {"ordered", "driver", "free"};
    for (size_t i = 0; i < 3; i++) {
        store_close(f->st);
        setenv("CAPSTAN_STORE_SEARCH_PLAN", plans[i], 1);
        f->st = fixture_store_open(f->db);
        check_operators(f, &d);
        check_orders(f, &d);
    }
    unsetenv("CAPSTAN_STORE_SEARCH_PLAN");
    free_search_data(&d);
}

/* Pages through a search and checks the concatenation equals one big page. */
static void check_paging(struct store *st, const char *exp, const struct order_key *k, size_t nk,
                         int page)
{
    struct sr all = search_runs(st, exp, NULL, 0, k, nk, 1000, NULL, 0);
    assert_int_equal(all.rc, 0);
    assert_null(all.next);
    char joined[4096] = "";
    char *token = NULL;
    int pages = 0, total = 0;
    do {
        struct sr r = search_runs(st, exp, NULL, 0, k, nk, page, token, 0);
        assert_int_equal(r.rc, 0);
        free(token);
        token = r.next;
        assert_true(r.count <= page);
        if (token)
            assert_int_equal(r.count, page);
        if (r.count) {
            if (*joined)
                strcat(joined, ",");
            strcat(joined, r.names);
        }
        total += r.count;
        pages++;
        assert_true(pages < 100);
    } while (token);
    assert_int_equal(total, all.count);
    assert_string_equal(joined, all.names);
}

static void test_search_paging(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *e = create_exp(f->st, "paging");
    for (int i = 0; i < 25; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%02d", i);
        /* equal start times: ties broken by run id */
        char *r = create_run(f->st, e, name, 1000 + (i % 3));
        if (i % 5 != 0)
            assert_int_equal(log_metric(f->st, r, "k", (i * 7) % 11, 1, 0), 0);
        if (i % 4 == 0)
            assert_int_equal(log_metric(f->st, r, "k2", NAN, 1, 0), 0);
        if (i % 3)
            assert_int_equal(log_param(f->st, r, "pp", i % 2 ? "odd" : "even", &err), 0);
        free(r);
    }
    for (int page = 1; page <= 8; page += 3) {
        check_paging(f->st, e, NULL, 0, page);
        struct order_key k[] = {{FILTER_METRIC, "k", false}};
        check_paging(f->st, e, k, 1, page);
        k[0].ascending = true;
        check_paging(f->st, e, k, 1, page);
        struct order_key k2[] = {{FILTER_METRIC, "k2", true}};
        check_paging(f->st, e, k2, 1, page);
        struct order_key kp[] = {{FILTER_PARAM, "pp", false}, {FILTER_METRIC, "k", true}};
        check_paging(f->st, e, kp, 2, page);
    }
    /* exactly one full page: no token */
    struct sr r = search_runs(f->st, e, NULL, 0, NULL, 0, 25, NULL, 0);
    assert_int_equal(r.count, 25);
    assert_null(r.next);
    r = search_runs(f->st, e, NULL, 0, NULL, 0, 10, "not a token!", 0);
    assert_int_equal(r.rc, -CAP_EINVAL);
    assert_string_equal(r.err.msg, "Invalid page token");
    char *b64 = cap_base64_encode("{\"offset\":-3}", 13);
    r = search_runs(f->st, e, NULL, 0, NULL, 0, 10, b64, 0);
    assert_int_equal(r.rc, -CAP_EINVAL);
    free(b64);
    free(e);
}

static void test_search_views(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *e = create_exp(f->st, "views");
    char *a = create_run(f->st, e, "a", 1);
    char *b = create_run(f->st, e, "b", 2);
    assert_int_equal(store_run_delete(f->st, b, &err), 0);
    struct sr r = search_runs(f->st, e, NULL, 0, NULL, 0, 10, NULL, STORE_VIEW_ACTIVE);
    assert_string_equal(r.names, "a");
    r = search_runs(f->st, e, NULL, 0, NULL, 0, 10, NULL, STORE_VIEW_DELETED);
    assert_string_equal(r.names, "b");
    r = search_runs(f->st, e, NULL, 0, NULL, 0, 10, NULL, STORE_VIEW_ALL);
    assert_string_equal(r.names, "b,a");
    /* several experiments at once; an unknown one matches nothing */
    char *e2 = create_exp(f->st, "views2");
    char *c = create_run(f->st, e2, "c", 3);
    const char *ids[] = {e, e2, "9999"};
    struct store_run_query q = {.experiment_ids = ids, .nexperiments = 3,
                                .q = {.view = STORE_VIEW_ALL, .max_results = 10}};
    cJSON *list = NULL;
    char *next = NULL;
    assert_int_equal(store_run_search(f->st, &q, &list, &next, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 3);
    cJSON_Delete(list);
    q.nexperiments = 0;
    assert_int_equal(store_run_search(f->st, &q, &list, &next, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 0);
    cJSON_Delete(list);
    free(e);
    free(e2);
    free(a);
    free(b);
    free(c);
}

static void test_experiment_search(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    usleep(3000); /* the default experiment is strictly older */
    char *ids[3] = {create_exp(f->st, "alpha"), create_exp(f->st, "beta"),
                    create_exp(f->st, "gamma")};
    assert_int_equal(store_experiment_set_tag(f->st, ids[1], "team", "x", &err), 0);
    struct order_key byname = {FILTER_ATTR, "name", true};
    struct store_query q = {.view = STORE_VIEW_ACTIVE, .order = &byname, .norder = 1,
                            .max_results = 2};
    cJSON *list = NULL;
    char *next = NULL;
    assert_int_equal(store_experiment_search(f->st, &q, &list, &next, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 2);
    assert_string_equal(jstr(cJSON_GetArrayItem(list, 0), "name"), "Default");
    assert_string_equal(jstr(cJSON_GetArrayItem(list, 1), "name"), "alpha");
    assert_non_null(next);
    cJSON_Delete(list);
    q.page_token = next;
    char *next2 = NULL;
    assert_int_equal(store_experiment_search(f->st, &q, &list, &next2, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 2);
    assert_string_equal(jstr(cJSON_GetArrayItem(list, 0), "name"), "beta");
    assert_string_equal(kv_value(jpath(cJSON_GetArrayItem(list, 0), "tags"), "team"), "x");
    assert_string_equal(jstr(cJSON_GetArrayItem(list, 1), "name"), "gamma");
    assert_null(next2);
    cJSON_Delete(list);
    free(next);

    struct filter_cond c = cstr(FILTER_ATTR, "name", FILTER_LIKE, "%a");
    struct filter fl = {&c, 1};
    struct store_query q2 = {.view = STORE_VIEW_ACTIVE, .filter = &fl, .max_results = 10,
                             .order = &byname, .norder = 1};
    assert_int_equal(store_experiment_search(f->st, &q2, &list, &next, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 3); /* alpha, beta, gamma */
    cJSON_Delete(list);
    c = cstr(FILTER_TAG, "team", FILTER_EQ, "x");
    assert_int_equal(store_experiment_search(f->st, &q2, &list, &next, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    assert_string_equal(jstr(cJSON_GetArrayItem(list, 0), "name"), "beta");
    cJSON_Delete(list);

    assert_int_equal(store_experiment_delete(f->st, ids[1], &err), 0);
    q2.filter = NULL;
    assert_int_equal(store_experiment_search(f->st, &q2, &list, &next, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 3);
    cJSON_Delete(list);
    q2.view = STORE_VIEW_DELETED;
    assert_int_equal(store_experiment_search(f->st, &q2, &list, &next, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
    q2.view = STORE_VIEW_ALL;
    q2.norder = 0; /* default: newest first */
    assert_int_equal(store_experiment_search(f->st, &q2, &list, &next, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 4);
    assert_string_equal(jstr(cJSON_GetArrayItem(list, 3), "name"), "Default");
    cJSON_Delete(list);
    q2.page_token = "%%%";
    assert_int_equal(store_experiment_search(f->st, &q2, &list, &next, &err), -CAP_EINVAL);
    for (int i = 0; i < 3; i++)
        free(ids[i]);
}

/* ---------------- logged models ---------------- */

static void test_logged_models(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *e = create_exp(f->st, "models");
    char *r = create_run(f->st, e, "trainer", 1);
    struct cap_kv params[] = {{"alpha", "0.5"}};
    struct cap_kv tags[] = {{"stage", "dev"}};
    struct store_logged_model_create in = {.experiment_id = e, .name = "mdl",
                                           .source_run_id = r, .model_type = "sklearn",
                                           .params = params, .nparams = 1, .tags = tags,
                                           .ntags = 1};
    cJSON *m = NULL;
    assert_int_equal(store_logged_model_create(f->st, &in, &m, &err), 0);
    const char *id = jstr(m, "info.model_id");
    assert_non_null(id);
    assert_int_equal(strlen(id), 34);
    assert_memory_equal(id, "m-", 2);
    char *mid = strdup(id);
    char uri[200];
    snprintf(uri, sizeof uri, "mlflow-artifacts:/%s/models/%s/artifacts", e, mid);
    assert_string_equal(jstr(m, "info.artifact_uri"), uri);
    assert_string_equal(jstr(m, "info.status"), "LOGGED_MODEL_PENDING");
    assert_string_equal(jstr(m, "info.experiment_id"), e);
    assert_string_equal(jstr(m, "info.name"), "mdl");
    assert_string_equal(jstr(m, "info.source_run_id"), r);
    assert_string_equal(jstr(m, "info.model_type"), "sklearn");
    assert_string_equal(jstr(m, "info.lifecycle_stage"), "active");
    assert_true(jnum(m, "info.creation_timestamp_ms") > 1e12);
    assert_string_equal(kv_value(jpath(m, "info.tags"), "stage"), "dev");
    assert_string_equal(kv_value(jpath(m, "data.params"), "alpha"), "0.5");
    cJSON_Delete(m);

    assert_int_equal(store_logged_model_finalize(f->st, mid, "LOGGED_MODEL_READY", &m, &err), 0);
    assert_string_equal(jstr(m, "info.status"), "LOGGED_MODEL_READY");
    cJSON_Delete(m);
    struct cap_kv more[] = {{"stage", "prod"}, {"owner", "me"}};
    assert_int_equal(store_logged_model_set_tags(f->st, mid, more, 2, &err), 0);
    assert_int_equal(store_logged_model_delete_tag(f->st, mid, "owner", &err), 0);
    assert_int_equal(store_logged_model_delete_tag(f->st, mid, "owner", &err), -CAP_ENOTFOUND);
    struct cap_kv p2[] = {{"beta", "2"}};
    assert_int_equal(store_logged_model_log_params(f->st, mid, p2, 1, &err), 0);

    /* metrics: the client re-logs the run's metric with the model id */
    assert_int_equal(log_metric(f->st, r, "acc", 0.9, 10, 0), 0);
    struct store_metric mm = {.key = "acc", .value = 0.9, .timestamp = 10, .step = 0,
                              .model_id = mid};
    assert_int_equal(store_run_log_batch(f->st, r, &mm, 1, NULL, 0, NULL, 0, &err), 0);
    assert_int_equal(store_logged_model_get(f->st, mid, &m, &err), 0);
    assert_string_equal(kv_value(jpath(m, "info.tags"), "stage"), "prod");
    assert_null(kv_find(jpath(m, "info.tags"), "owner"));
    assert_string_equal(kv_value(jpath(m, "data.params"), "beta"), "2");
    const cJSON *met = kv_find(jpath(m, "data.metrics"), "acc");
    assert_non_null(met);
    assert_true(jnum(met, "value") == 0.9);
    assert_string_equal(jstr(met, "run_id"), r);
    cJSON_Delete(m);
    cJSON *hist = NULL;
    assert_int_equal(store_metric_history(f->st, r, "acc", &hist, &err), 0);
    assert_int_equal(cJSON_GetArraySize(hist), 1); /* still one point */
    cJSON_Delete(hist);

    /* a second model, then search */
    in.name = NULL; /* generated */
    in.nparams = 0;
    in.ntags = 0;
    assert_int_equal(store_logged_model_create(f->st, &in, &m, &err), 0);
    char *mid2 = strdup(jstr(m, "info.model_id"));
    assert_non_null(jstr(m, "info.name"));
    cJSON_Delete(m);
    const char *eids[] = {e};
    struct store_logged_model_query lq = {.experiment_ids = eids, .nexperiments = 1,
                                          .q = {.view = STORE_VIEW_ACTIVE, .max_results = 10}};
    cJSON *list = NULL;
    char *next = NULL;
    assert_int_equal(store_logged_model_search(f->st, &lq, &list, &next, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 2);
    cJSON_Delete(list);
    struct filter_cond conds[] = {cnum(FILTER_METRIC, "acc", FILTER_GT, 0.5),
                                  cstr(FILTER_PARAM, "alpha", FILTER_EQ, "0.5"),
                                  cstr(FILTER_ATTR, "name", FILTER_EQ, "mdl")};
    for (size_t i = 0; i < 3; i++) {
        struct filter fl = {&conds[i], 1};
        lq.q.filter = &fl;
        assert_int_equal(store_logged_model_search(f->st, &lq, &list, &next, &err), 0);
        assert_int_equal(cJSON_GetArraySize(list), 1);
        assert_string_equal(jstr(cJSON_GetArrayItem(list, 0), "info.model_id"), mid);
        cJSON_Delete(list);
    }
    lq.q.filter = NULL;
    struct order_key ord = {FILTER_METRIC, "acc", false};
    lq.q.order = &ord;
    lq.q.norder = 1;
    lq.q.max_results = 1;
    assert_int_equal(store_logged_model_search(f->st, &lq, &list, &next, &err), 0);
    assert_string_equal(jstr(cJSON_GetArrayItem(list, 0), "info.model_id"), mid);
    assert_non_null(next);
    cJSON_Delete(list);
    lq.q.page_token = next;
    char *next2 = NULL;
    assert_int_equal(store_logged_model_search(f->st, &lq, &list, &next2, &err), 0);
    assert_string_equal(jstr(cJSON_GetArrayItem(list, 0), "info.model_id"), mid2);
    assert_null(next2);
    cJSON_Delete(list);
    free(next);
    lq.q.page_token = NULL;
    lq.q.max_results = 10;
    lq.q.norder = 0;

    assert_int_equal(store_logged_model_delete(f->st, mid2, &err), 0);
    assert_int_equal(store_logged_model_search(f->st, &lq, &list, &next, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
    assert_int_equal(store_logged_model_get(f->st, mid2, &m, &err), 0);
    assert_string_equal(jstr(m, "info.lifecycle_stage"), "deleted");
    cJSON_Delete(m);
    assert_int_equal(store_logged_model_get(f->st, "m-nope", &m, &err), -CAP_ENOTFOUND);
    assert_int_equal(store_logged_model_finalize(f->st, "m-nope", "LOGGED_MODEL_READY", &m, &err),
                     -CAP_ENOTFOUND);
    in.experiment_id = "4040";
    assert_int_equal(store_logged_model_create(f->st, &in, &m, &err), -CAP_ENOTFOUND);
    free(mid);
    free(mid2);
    free(e);
    free(r);
}

/* ---------------- concurrency ---------------- */

#define NTHREADS 8
#define NCALLS 200

struct worker {
    struct store *st;
    char *run;
    const char *shared;
    int id;
    int failures;
    char lastmsg[512];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < NCALLS; i++) {
        struct store_metric m[10];
        char keys[10][16];
        for (int k = 0; k < 10; k++) {
            snprintf(keys[k], sizeof keys[k], "m%d", k);
            m[k] = (struct store_metric){.key = keys[k], .value = i * 0.5 + k, .timestamp = i,
                                         .step = i};
        }
        char pkey[32];
        snprintf(pkey, sizeof pkey, "w%d_%d", w->id, i);
        struct cap_kv p = {pkey, "v"};
        struct cap_kv t = {"progress", pkey};
        struct cap_error err = {0};
        if (store_run_log_batch(w->st, w->run, m, 10, NULL, 0, &t, 1, &err) != 0 ||
            store_run_log_batch(w->st, w->shared, NULL, 0, &p, 1, NULL, 0, &err) != 0) {
            w->failures++;
            snprintf(w->lastmsg, sizeof w->lastmsg, "%s", err.msg);
        }
        if (i % 50 == 0) { /* reads beside the writes */
            cJSON *run = NULL;
            if (store_run_get(w->st, w->run, &run, &err) != 0)
                w->failures++;
            cJSON_Delete(run);
        }
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *shared = create_run(f->st, "0", "shared", 1);
    struct worker w[NTHREADS];
    pthread_t th[NTHREADS];
    double t0 = cap_mono_s();
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){.st = f->st, .shared = shared, .id = i};
        w[i].run = create_run(f->st, "0", "worker", 1);
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].failures)
            fail_msg("worker %d: %d failures, last: %s", i, w[i].failures, w[i].lastmsg);
    }
    double dt = cap_mono_s() - t0;
    print_message("concurrency: %d log_batch calls in %.2f s (%.0f/s, ASan build)\n",
                  NTHREADS * NCALLS * 2, dt, NTHREADS * NCALLS * 2 / dt);
    for (int i = 0; i < NTHREADS; i++) {
        cJSON *hist = NULL;
        assert_int_equal(store_metric_history(f->st, w[i].run, "m3", &hist, &err), 0);
        assert_int_equal(cJSON_GetArraySize(hist), NCALLS);
        cJSON_Delete(hist);
        cJSON *run = get_run(f->st, w[i].run);
        assert_int_equal(cJSON_GetArraySize(jpath(run, "data.metrics")), 10);
        assert_true(jnum(kv_find(jpath(run, "data.metrics"), "m9"), "value") ==
                    (NCALLS - 1) * 0.5 + 9);
        cJSON_Delete(run);
        free(w[i].run);
    }
    cJSON *run = get_run(f->st, shared);
    assert_int_equal(cJSON_GetArraySize(jpath(run, "data.params")), NTHREADS * NCALLS);
    cJSON_Delete(run);
    free(shared);
}

/* ---------------- persistence and migrations ---------------- */

static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static const char *query_text(const char *path, const char *sql)
{
    static char out[64];
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static void test_reopen_and_migrations(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char *e = create_exp(f->st, "persist");
    char *r = create_run(f->st, e, "kept", 42);
    assert_int_equal(log_metric(f->st, r, "loss", 0.25, 5, 1), 0);
    assert_int_equal(log_param(f->st, r, "p", "v", &err), 0);
    store_close(f->st);
    f->st = NULL;

    /* closed cleanly: WAL checkpointed into the main file */
    char wal[400];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    struct stat sb;
    assert_true(stat(wal, &sb) != 0 || sb.st_size == 0);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM schema_version"), 14);
    assert_int_equal(query_int(f->db, "SELECT max(version) FROM schema_version"), 14);
    assert_string_equal(query_text(f->db, "PRAGMA journal_mode"), "wal");

    for (int round = 0; round < 2; round++) {
        f->st = fixture_store_open(f->db); /* a plain path works too */
        cJSON *run = get_run(f->st, r);
        assert_string_equal(jstr(run, "info.run_name"), "kept");
        assert_true(jnum(kv_find(jpath(run, "data.metrics"), "loss"), "value") == 0.25);
        assert_string_equal(kv_value(jpath(run, "data.params"), "p"), "v");
        cJSON_Delete(run);
        cJSON *exp = NULL;
        assert_int_equal(store_experiment_get(f->st, "0", &exp, &err), 0);
        cJSON_Delete(exp);
        store_close(f->st);
        f->st = NULL;
        /* migrations ran once: still every version once, one default experiment */
        assert_int_equal(query_int(f->db, "SELECT count(*) FROM schema_version"), 14);
        assert_int_equal(query_int(f->db, "SELECT count(*) FROM experiments WHERE name = "
                                          "'Default'"),
                         1);
    }

    /* a database from a newer Capstan is refused */
    query_int(f->db, "INSERT INTO schema_version(version, applied_time) VALUES (99, 0)");
    struct store_config cfg = {.uri = f->db};
    struct store *st = NULL;
    assert_int_equal(store_open(&cfg, &st, &err), -CAP_EINTERNAL);
    assert_null(st);
    assert_non_null(strstr(err.msg, "newer"));
    query_int(f->db, "DELETE FROM schema_version WHERE version = 99");
    f->st = fixture_store_open(f->db);
    free(e);
    free(r);
}

static void test_uri_forms(void **state)
{
    struct fixture_store *f = *state;
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0);
    struct store *st = fixture_store_open("sqlite:///rel/dir/x.db"); /* relative to cwd */
    store_close(st);
    struct stat sb;
    assert_int_equal(stat("rel/dir/x.db", &sb), 0);
    st = fixture_store_open("plain.db");
    store_close(st);
    assert_int_equal(stat("plain.db", &sb), 0);
    assert_int_equal(chdir(cwd), 0);

    struct cap_error err = {0};
    /* Port 1 refuses at once: a clear error, no store. */
    struct store_config cfg = {.uri = "postgresql://capstan@127.0.0.1:1/db"};
    assert_true(store_open(&cfg, &st, &err) < 0);
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    cfg.uri = "sqlite://host/x.db";
    assert_int_equal(store_open(&cfg, &st, &err), -CAP_EINVAL);
    cfg.uri = NULL;
    assert_int_equal(store_open(&cfg, &st, &err), -CAP_EINVAL);
    assert_int_equal(store_open(NULL, &st, &err), -CAP_EINVAL);
    assert_int_equal(store_open(&cfg, NULL, &err), -CAP_EINVAL);
}

/* Leases: times are given, so expiry is checked without waiting. */
static void test_leases(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    bool held = true;
    assert_int_equal(store_lease_take(f->st, "bg", "a", 1000, 500, &held, &err), 0);
    assert_true(held);
    assert_int_equal(store_lease_take(f->st, "bg", "b", 1200, 500, &held, &err), 0);
    assert_false(held);  /* a's runs until 1500 */
    assert_int_equal(store_lease_take(f->st, "bg", "a", 1400, 500, &held, &err), 0);
    assert_true(held);   /* renewed until 1900 */
    assert_int_equal(store_lease_take(f->st, "bg", "b", 1899, 500, &held, &err), 0);
    assert_false(held);
    assert_int_equal(store_lease_take(f->st, "other", "b", 1899, 500, &held, &err), 0);
    assert_true(held);   /* another lease is another name */
    assert_int_equal(store_lease_take(f->st, "bg", "b", 1900, 500, &held, &err), 0);
    assert_true(held);   /* a's expired */
    assert_int_equal(store_lease_take(f->st, "bg", "a", 2000, 500, &held, &err), 0);
    assert_false(held);
    /* only the holder gives it up */
    assert_int_equal(store_lease_release(f->st, "bg", "a", &err), 0);
    assert_int_equal(store_lease_take(f->st, "bg", "a", 2001, 500, &held, &err), 0);
    assert_false(held);
    assert_int_equal(store_lease_release(f->st, "bg", "b", &err), 0);
    assert_int_equal(store_lease_take(f->st, "bg", "a", 2002, 500, &held, &err), 0);
    assert_true(held);
    assert_int_equal(store_lease_take(f->st, NULL, "a", 0, 1, &held, &err), -CAP_EINVAL);
}

static void test_null_arguments(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    cJSON *out = NULL;
    char *id = NULL;
    assert_int_equal(store_experiment_create(f->st, NULL, NULL, NULL, 0, &id, &err), -CAP_EINVAL);
    assert_int_equal(store_experiment_create(NULL, "x", NULL, NULL, 0, &id, &err), -CAP_EINVAL);
    assert_int_equal(store_experiment_get(f->st, NULL, &out, &err), -CAP_EINVAL);
    assert_int_equal(store_experiment_get_by_name(f->st, NULL, &out, &err), -CAP_EINVAL);
    assert_int_equal(store_experiment_rename(f->st, "0", NULL, &err), -CAP_EINVAL);
    assert_int_equal(store_experiment_set_tag(f->st, "0", "k", NULL, &err), -CAP_EINVAL);
    assert_int_equal(store_run_get(f->st, NULL, &out, &err), -CAP_EINVAL);
    assert_int_equal(store_run_create(f->st, NULL, &out, &err), -CAP_EINVAL);
    struct store_run_create in = {0};
    assert_int_equal(store_run_create(f->st, &in, &out, &err), -CAP_EINVAL);
    struct cap_kv bad = {"k", NULL};
    assert_int_equal(store_run_log_batch(f->st, "x", NULL, 0, &bad, 1, NULL, 0, &err),
                     -CAP_EINVAL);
    assert_int_equal(store_run_log_batch(f->st, "x", NULL, 3, NULL, 0, NULL, 0, &err),
                     -CAP_EINVAL);
    assert_int_equal(store_run_log_batch(f->st, NULL, NULL, 0, NULL, 0, NULL, 0, &err),
                     -CAP_EINVAL);
    assert_int_equal(store_metric_history(f->st, "x", NULL, &out, &err), -CAP_EINVAL);
    assert_int_equal(store_run_search(f->st, NULL, &out, &id, &err), -CAP_EINVAL);
    assert_int_equal(store_logged_model_get(f->st, NULL, &out, &err), -CAP_EINVAL);
    struct filter_cond c = {.entity = FILTER_PARAM, .key = "p", .op = FILTER_EQ};
    c.value.kind = FILTER_VALUE_STRING; /* str NULL */
    struct sr r = search_runs(f->st, "0", &c, 1, NULL, 0, 10, NULL, 0);
    assert_int_equal(r.rc, -CAP_EINVAL);
    assert_int_equal(store_run_delete_tag(f->st, "x", NULL, NULL), -CAP_EINVAL); /* err NULL ok */
    store_close(NULL);
}

/* ---------------- search timing (printed, not asserted) ---------------- */

#define TIMING_RUNS 5000  /* a sanity print, not the benchmark: bench/tracking has 100k */
#define NLOADERS 32 /* many writers: bigger commit groups */

struct loader {
    struct store *st;
    const char *exp;
    int from, to;
    int failures;
};

static void *loader_main(void *arg)
{
    struct loader *l = arg;
    for (int i = l->from; i < l->to; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        struct store_run_create in = {.experiment_id = l->exp, .start_time = i, .run_name = name};
        cJSON *run = NULL;
        struct cap_error err = {0};
        if (store_run_create(l->st, &in, &run, &err) != 0) {
            l->failures++;
            print_message("loader: %s\n", err.msg);
            continue;
        }
        const char *id = jstr(run, "info.run_id");
        struct store_metric m[10];
        struct cap_kv p[10], t[5];
        char mk[10][16], pk[10][16], pv[10][16], tk[5][16];
        unsigned h = (unsigned)i * 2654435761u;
        for (int k = 0; k < 10; k++) {
            snprintf(mk[k], 16, "m%d", k);
            snprintf(pk[k], 16, "p%d", k);
            snprintf(pv[k], 16, "%c", 'a' + (int)((h >> k) % 10));
            m[k] = (struct store_metric){.key = mk[k], .value = (double)((h >> (k + 3)) % 1000) / 1000,
                                         .timestamp = 1, .step = 0};
            p[k] = (struct cap_kv){pk[k], pv[k]};
        }
        if (i % 10 == 0)
            p[1].value = "x";
        for (int k = 0; k < 5; k++) {
            snprintf(tk[k], 16, "t%d", k);
            t[k] = (struct cap_kv){tk[k], "tagvalue"};
        }
        if (store_run_log_batch(l->st, id, m, 10, p, 10, t, 5, &err) != 0) {
            l->failures++;
            print_message("loader: %s\n", err.msg);
        }
        cJSON_Delete(run);
    }
    return NULL;
}

static void test_search_timing(void **state)
{
    struct fixture_store *f = *state;
    char *e = create_exp(f->st, "timing");
    double t0 = cap_mono_s();
    struct loader l[NLOADERS];
    pthread_t th[NLOADERS];
    for (int i = 0; i < NLOADERS; i++) {
        l[i] = (struct loader){f->st, e, i * TIMING_RUNS / NLOADERS,
                               (i + 1) * TIMING_RUNS / NLOADERS, 0};
        assert_int_equal(pthread_create(&th[i], NULL, loader_main, &l[i]), 0);
    }
    for (int i = 0; i < NLOADERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(l[i].failures, 0);
    }
    double load = cap_mono_s() - t0;
    struct filter_cond conds[] = {cnum(FILTER_METRIC, "m1", FILTER_GT, 0.5),
                                  cstr(FILTER_PARAM, "p1", FILTER_EQ, "x")};
    struct order_key k = {FILTER_METRIC, "m2", false};
    double times[15];
    int count = 0;
    for (int i = 0; i < 15; i++) {
        double s = cap_mono_s();
        struct sr r = search_runs(f->st, e, conds, 2, &k, 1, 100, NULL, 0);
        times[i] = (cap_mono_s() - s) * 1000;
        assert_int_equal(r.rc, 0);
        count = r.count;
        free(r.next);
    }
    for (int i = 0; i < 15; i++) /* sort for the median */
        for (int j = i + 1; j < 15; j++)
            if (times[j] < times[i]) {
                double tmp = times[i];
                times[i] = times[j];
                times[j] = tmp;
            }
    assert_int_equal(count, 100);
    double s = cap_mono_s();
    struct sr r = search_runs(f->st, e, NULL, 0, NULL, 0, 100, NULL, 0);
    double plain = (cap_mono_s() - s) * 1000;
    assert_int_equal(r.count, 100);
    free(r.next);
    print_message("timing: loaded %d runs (10 params, 10 metrics, 5 tags) in %.1f s; "
                  "search 'metrics.m1 > 0.5 AND params.p1 = x' order by metrics.m2 DESC top 100: "
                  "p50 %.2f ms (ASan build); default-order top 100: %.2f ms\n",
                  TIMING_RUNS, load, times[7], plain);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_experiment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_experiment_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_experiment_delete_carries_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_create_get_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_delete_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_params_write_once_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_dedup_latest_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nan_inf_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_inputs_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_operators, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_order_missing_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_plans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_views, setup, teardown),
        cmocka_unit_test_setup_teardown(test_experiment_search, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logged_models, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_and_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uri_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_timing, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
