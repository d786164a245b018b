/* test_registry.c - unit tests for the model registry in the metadata store
 * (store/) on SQLite: registered models, version numbering (never reused),
 * stages and latest versions, transitions with archiving, aliases, tags,
 * rename and delete, search with filters, ordering and paging, concurrent
 * version creation through the group-commit writer, and reopening. Each test
 * gets its own database in a fresh temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store.h"
#include "track/filter.h"
#include "tests/unit/fixture.h"

/* ---------------- fixtures and helpers ---------------- */

static int setup(void **state)
{
    return fixture_store_setup(state, "registry", "capstan.db", false);
}

static int teardown(void **state)
{
    return fixture_store_teardown(state);
}

static const cJSON *jget(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static const char *jstr(const cJSON *obj, const char *key)
{
    const cJSON *v = jget(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t jnum(const cJSON *obj, const char *key)
{
    const cJSON *v = jget(obj, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -12345;
}

static const char *kv_value(const cJSON *arr, const char *key)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const char *k = jstr(e, "key");
        if (k && strcmp(k, key) == 0)
            return jstr(e, "value");
    }
    return NULL;
}

/* The strings of an array of strings joined by ','. */
static const char *joined(const cJSON *arr)
{
    static char out[1024];
    out[0] = '\0';
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (out[0])
            strcat(out, ",");
        strcat(out, cJSON_IsString(e) ? e->valuestring : "?");
    }
    return out;
}

/* A field of each object of an array, joined by ','. */
static const char *joined_field(const cJSON *arr, const char *field)
{
    static char out[4096];
    out[0] = '\0';
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (out[0])
            strcat(out, ",");
        const char *s = jstr(e, field);
        strcat(out, s ? s : "?");
    }
    return out;
}

static void create_model(struct store *st, const char *name)
{
    struct cap_error err = {0};
    if (store_registered_model_create(st, name, NULL, NULL, 0, NULL, &err) != 0)
        fail_msg("create model %s: %s", name, err.msg);
}

/* Creates a version and returns its number. */
static int create_version_full(struct store *st, const char *name, const char *source,
                               const char *run_id, const char *status,
                               const struct cap_kv *tags, size_t ntags)
{
    struct store_model_version_create in = {.name = name, .source = source, .run_id = run_id,
                                            .status = status, .tags = tags, .ntags = ntags};
    cJSON *mv = NULL;
    struct cap_error err = {0};
    if (store_model_version_create(st, &in, &mv, &err) != 0)
        fail_msg("create version of %s: %s", name, err.msg);
    const char *v = jstr(mv, "version");
    assert_non_null(v);
    int n = atoi(v);
    cJSON_Delete(mv);
    return n;
}

static int create_version(struct store *st, const char *name)
{
    return create_version_full(st, name, "mlflow-artifacts:/0/r/artifacts/model", NULL, "READY",
                               NULL, 0);
}

static cJSON *get_model(struct store *st, const char *name)
{
    cJSON *m = NULL;
    struct cap_error err = {0};
    if (store_registered_model_get(st, name, &m, &err) != 0)
        fail_msg("get model %s: %s", name, err.msg);
    return m;
}

static cJSON *get_version(struct store *st, const char *name, const char *version)
{
    cJSON *mv = NULL;
    struct cap_error err = {0};
    if (store_model_version_get(st, name, version, &mv, &err) != 0)
        fail_msg("get version %s/%s: %s", name, version, err.msg);
    return mv;
}

static void transition(struct store *st, const char *name, const char *version, const char *stage,
                       bool archive)
{
    struct cap_error err = {0};
    if (store_model_version_transition(st, name, version, stage, archive, NULL, &err) != 0)
        fail_msg("transition %s/%s to %s: %s", name, version, stage, err.msg);
}

static const char *stage_of(struct store *st, const char *name, const char *version)
{
    static char out[32];
    cJSON *mv = get_version(st, name, version);
    snprintf(out, sizeof out, "%s", jstr(mv, "current_stage"));
    cJSON_Delete(mv);
    return out;
}

/* "stage:version,..." of an array of ModelVersion. */
static const char *stages_versions(const cJSON *arr)
{
    static char out[256];
    out[0] = '\0';
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (out[0])
            strcat(out, ",");
        strcat(out, jstr(e, "current_stage"));
        strcat(out, ":");
        strcat(out, jstr(e, "version"));
    }
    return out;
}

static void expect_err(int rc, const struct cap_error *err, int code, const char *msg)
{
    if (rc != -code)
        fail_msg("expected -%d, got %d (%s)", code, rc, err->msg);
    if (msg && strcmp(err->msg, msg) != 0)
        fail_msg("message: got '%s', want '%s'", err->msg, msg);
}

static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* A search through the real parser: filter text and one order_by clause. */
struct found {
    int rc;
    struct cap_error err;
    cJSON *list;
    char *next;
};

static struct found search(struct store *st, bool versions, const char *filter,
                           const char *order, int max, const char *token)
{
    struct found r = {0};
    enum filter_target t =
        versions ? FILTER_TARGET_MODEL_VERSIONS : FILTER_TARGET_REGISTERED_MODELS;
    struct filter *f = NULL;
    struct order_key k = {0};
    if (filter && filter_parse(filter, t, &f, &r.err) != 0)
        fail_msg("filter '%s': %s", filter, r.err.msg);
    if (order && order_key_parse(order, t, &k, &r.err) != 0)
        fail_msg("order_by '%s': %s", order, r.err.msg);
    struct store_query q = {.filter = f, .order = order ? &k : NULL, .norder = order ? 1 : 0,
                            .max_results = max, .page_token = token};
    r.rc = versions ? store_model_version_search(st, &q, &r.list, &r.next, &r.err)
                    : store_registered_model_search(st, &q, &r.list, &r.next, &r.err);
    filter_free(f);
    if (order)
        order_key_clear(&k);
    return r;
}

static void found_free(struct found *r)
{
    cJSON_Delete(r->list);
    free(r->next);
}

/* "name/version,..." of every page of a model-version search. */
static const char *all_versions(struct store *st, const char *filter, const char *order,
                                int max, int *pages)
{
    static char out[8192];
    out[0] = '\0';
    char *token = NULL;
    *pages = 0;
    do {
        struct found r = search(st, true, filter, order, max, token);
        if (r.rc != 0)
            fail_msg("search versions '%s': %s", filter ? filter : "", r.err.msg);
        assert_true(cJSON_GetArraySize(r.list) <= max);
        const cJSON *e;
        cJSON_ArrayForEach(e, r.list)
        {
            if (out[0])
                strcat(out, ",");
            strcat(out, jstr(e, "name"));
            strcat(out, "/");
            strcat(out, jstr(e, "version"));
        }
        free(token);
        token = r.next;
        r.next = NULL;
        found_free(&r);
        (*pages)++;
    } while (token);
    return out;
}

/* ---------------- registered models ---------------- */

static void test_model_create_get(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    struct cap_kv tags[] = {{"team", "fraud"}, {"tier", "1"}};
    cJSON *m = NULL;
    int64_t before = cap_now_ms();
    assert_int_equal(store_registered_model_create(f->st, "Fraud", "detects fraud", tags, 2, &m,
                                                   &err),
                     0);
    assert_string_equal(jstr(m, "name"), "Fraud");
    assert_string_equal(jstr(m, "description"), "detects fraud");
    assert_true(jnum(m, "creation_timestamp") >= before);
    assert_int_equal(jnum(m, "creation_timestamp"), jnum(m, "last_updated_timestamp"));
    assert_string_equal(kv_value(jget(m, "tags"), "team"), "fraud");
    assert_string_equal(kv_value(jget(m, "tags"), "tier"), "1");
    /* empty lists are left out */
    assert_null(jget(m, "latest_versions"));
    assert_null(jget(m, "aliases"));
    cJSON_Delete(m);

    m = get_model(f->st, "Fraud");
    assert_string_equal(jstr(m, "name"), "Fraud");
    assert_string_equal(kv_value(jget(m, "tags"), "team"), "fraud");
    cJSON_Delete(m);

    /* duplicate names: exact MLflow wording; names are case-sensitive */
    int rc = store_registered_model_create(f->st, "Fraud", NULL, NULL, 0, NULL, &err);
    expect_err(rc, &err, CAP_EEXISTS, "Registered Model (name=Fraud) already exists.");
    create_model(f->st, "fraud");

    rc = store_registered_model_get(f->st, "nope", &m, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=nope not found");
    assert_null(m);
    rc = store_registered_model_create(f->st, "", NULL, NULL, 0, NULL, &err);
    expect_err(rc, &err, CAP_EINVAL, NULL);

    /* update: NULL leaves the description, a value replaces it and bumps */
    usleep(2000);
    assert_int_equal(store_registered_model_update(f->st, "Fraud", NULL, &m, &err), 0);
    assert_string_equal(jstr(m, "description"), "detects fraud");
    assert_int_equal(jnum(m, "creation_timestamp"), jnum(m, "last_updated_timestamp"));
    cJSON_Delete(m);
    assert_int_equal(store_registered_model_update(f->st, "Fraud", "v2", &m, &err), 0);
    assert_string_equal(jstr(m, "description"), "v2");
    assert_true(jnum(m, "last_updated_timestamp") > jnum(m, "creation_timestamp"));
    cJSON_Delete(m);
    rc = store_registered_model_update(f->st, "ghost", "x", &m, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=ghost not found");
    assert_null(m);
}

static void test_version_numbering(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    create_model(f->st, "m");
    cJSON *m0 = get_model(f->st, "m");
    usleep(2000);

    char *exp_id = NULL;
    cJSON *lm = NULL;
    assert_int_equal(store_experiment_create(f->st, "e", NULL, NULL, 0, &exp_id, &err), 0);
    struct store_logged_model_create lin = {.experiment_id = exp_id};
    assert_int_equal(store_logged_model_create(f->st, &lin, &lm, &err), 0);
    char *model_id = cap_xstrdup(jstr(jget(lm, "info"), "model_id"));
    cJSON_Delete(lm);
    free(exp_id);

    struct cap_kv tags[] = {{"k", "v"}};
    struct store_model_version_create in = {
        .name = "m", .source = "mlflow-artifacts:/0/abc/artifacts/model", .run_id = "abc",
        .run_link = "http://x/run", .description = "first", .model_id = model_id,
        .user_id = "alice", .tags = tags, .ntags = 1, .status = "READY",
        .metadata_json = "{\"inputs\":[1]}"};
    cJSON *mv = NULL;
    assert_int_equal(store_model_version_create(f->st, &in, &mv, &err), 0);
    assert_string_equal(jstr(mv, "name"), "m");
    assert_true(cJSON_IsString(jget(mv, "version")));
    assert_string_equal(jstr(mv, "version"), "1");
    assert_string_equal(jstr(mv, "current_stage"), "None");
    assert_string_equal(jstr(mv, "status"), "READY");
    assert_string_equal(jstr(mv, "source"), "mlflow-artifacts:/0/abc/artifacts/model");
    assert_string_equal(jstr(mv, "run_id"), "abc");
    assert_string_equal(jstr(mv, "run_link"), "http://x/run");
    assert_string_equal(jstr(mv, "description"), "first");
    assert_string_equal(jstr(mv, "model_id"), model_id);
    assert_string_equal(jstr(mv, "user_id"), "alice");
    assert_string_equal(kv_value(jget(mv, "tags"), "k"), "v");
    assert_null(jget(mv, "status_message"));
    assert_null(jget(mv, "aliases"));
    assert_int_equal(jnum(mv, "creation_timestamp"), jnum(mv, "last_updated_timestamp"));
    cJSON_Delete(mv);

    /* the logged model lists its versions as MLflow writes them (json.dumps) */
    assert_int_equal(store_logged_model_get(f->st, model_id, &lm, &err), 0);
    assert_string_equal(kv_value(jget(jget(lm, "info"), "tags"), "mlflow.modelVersions"),
                        "[{\"name\": \"m\", \"version\": 1}]");
    cJSON_Delete(lm);
    /* a version of a logged model that is not there is refused whole: its
     * number is not used up (version 2 comes next, below) */
    in.model_id = "m-0123456789abcdef";
    assert_int_equal(store_model_version_create(f->st, &in, NULL, &err), -CAP_ENOTFOUND);
    free(model_id);

    /* a new version bumps the model's last_updated_timestamp */
    cJSON *m1 = get_model(f->st, "m");
    assert_true(jnum(m1, "last_updated_timestamp") > jnum(m0, "last_updated_timestamp"));
    assert_int_equal(jnum(m1, "creation_timestamp"), jnum(m0, "creation_timestamp"));
    cJSON_Delete(m0);
    cJSON_Delete(m1);

    assert_int_equal(create_version(f->st, "m"), 2);
    assert_int_equal(create_version(f->st, "m"), 3);
    /* numbers are per model */
    create_model(f->st, "other");
    assert_int_equal(create_version(f->st, "other"), 1);

    /* deleting the newest does not free its number */
    assert_int_equal(store_model_version_delete(f->st, "m", "3", &err), 0);
    int rc = store_model_version_get(f->st, "m", "3", &mv, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Model Version (name=m, version=3) not found");
    assert_int_equal(create_version(f->st, "m"), 4);
    rc = store_model_version_delete(f->st, "m", "3", &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Model Version (name=m, version=3) not found");

    /* a failed registration keeps its status and message */
    in = (struct store_model_version_create){.name = "m", .source = "s",
                                             .status = "FAILED_REGISTRATION",
                                             .status_message = "not an ONNX model"};
    assert_int_equal(store_model_version_create(f->st, &in, &mv, &err), 0);
    assert_string_equal(jstr(mv, "version"), "5");
    assert_string_equal(jstr(mv, "status"), "FAILED_REGISTRATION");
    assert_string_equal(jstr(mv, "status_message"), "not an ONNX model");
    cJSON_Delete(mv);

    /* unknown model, bad status, bad version strings */
    in = (struct store_model_version_create){.name = "ghost", .source = "s"};
    rc = store_model_version_create(f->st, &in, &mv, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=ghost not found");
    in = (struct store_model_version_create){.name = "m", .source = "s", .status = "DONE"};
    rc = store_model_version_create(f->st, &in, &mv, &err);
    expect_err(rc, &err, CAP_EINVAL, NULL);
    rc = store_model_version_get(f->st, "m", "abc", &mv, &err);
    expect_err(rc, &err, CAP_EINVAL, "Model version must be an integer, got 'abc'");
    rc = store_model_version_get(f->st, "m", "-1", &mv, &err);
    expect_err(rc, &err, CAP_EINVAL, NULL);
    rc = store_model_version_get(f->st, "ghost", "1", &mv, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=ghost not found");

    /* update a version's description */
    usleep(2000);
    assert_int_equal(store_model_version_update(f->st, "m", "1", "better", &mv, &err), 0);
    assert_string_equal(jstr(mv, "description"), "better");
    assert_true(jnum(mv, "last_updated_timestamp") > jnum(mv, "creation_timestamp"));
    cJSON_Delete(mv);
    rc = store_model_version_update(f->st, "m", "99", "x", &mv, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Model Version (name=m, version=99) not found");

    /* metadata: parsed JSON, NULL when none or unreadable */
    cJSON *meta = NULL;
    assert_int_equal(store_model_version_metadata(f->st, "m", "1", &meta, &err), 0);
    assert_non_null(meta);
    assert_int_equal(cJSON_GetArraySize(jget(meta, "inputs")), 1);
    cJSON_Delete(meta);
    assert_int_equal(store_model_version_metadata(f->st, "m", "2", &meta, &err), 0);
    assert_null(meta);
    in = (struct store_model_version_create){.name = "m", .source = "s",
                                             .metadata_json = "{broken"};
    assert_int_equal(store_model_version_create(f->st, &in, NULL, &err), 0); /* version 6 */
    meta = (cJSON *)1;
    assert_int_equal(store_model_version_metadata(f->st, "m", "6", &meta, &err), 0);
    assert_null(meta);
    rc = store_model_version_metadata(f->st, "m", "3", &meta, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Model Version (name=m, version=3) not found");
}

static void test_latest_versions(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    create_model(f->st, "m");
    for (int i = 1; i <= 4; i++)
        assert_int_equal(create_version(f->st, "m"), i);
    transition(f->st, "m", "1", "Production", false);
    transition(f->st, "m", "2", "Staging", false);
    transition(f->st, "m", "3", "Production", false);
    /* a failed registration never counts as latest */
    assert_int_equal(create_version_full(f->st, "m", "s", NULL, "FAILED_REGISTRATION", NULL, 0),
                     5);

    cJSON *m = get_model(f->st, "m");
    assert_string_equal(stages_versions(jget(m, "latest_versions")),
                        "None:4,Staging:2,Production:3");
    cJSON_Delete(m);

    cJSON *out = NULL;
    assert_int_equal(store_registered_model_latest_versions(f->st, "m", NULL, 0, &out, &err), 0);
    assert_string_equal(stages_versions(out), "None:4,Staging:2,Production:3");
    cJSON_Delete(out);

    const char *prod[] = {"production"}; /* case-insensitive */
    assert_int_equal(store_registered_model_latest_versions(f->st, "m", prod, 1, &out, &err), 0);
    assert_string_equal(stages_versions(out), "Production:3");
    cJSON_Delete(out);

    /* the order asked for, repeats dropped, empty stages left out */
    const char *some[] = {"Staging", "None", "ARCHIVED", "staging"};
    assert_int_equal(store_registered_model_latest_versions(f->st, "m", some, 4, &out, &err), 0);
    assert_string_equal(stages_versions(out), "Staging:2,None:4");
    cJSON_Delete(out);

    const char *bad[] = {"None", "Prod"};
    int rc = store_registered_model_latest_versions(f->st, "m", bad, 2, &out, &err);
    expect_err(rc, &err, CAP_EINVAL,
               "Invalid Model Version stage: Prod. Value must be one of None, Staging, "
               "Production, Archived.");
    assert_null(out);
    rc = store_registered_model_latest_versions(f->st, "ghost", NULL, 0, &out, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=ghost not found");

    /* a model with no versions has an empty list */
    create_model(f->st, "empty");
    assert_int_equal(store_registered_model_latest_versions(f->st, "empty", NULL, 0, &out, &err),
                     0);
    assert_true(cJSON_IsArray(out));
    assert_int_equal(cJSON_GetArraySize(out), 0);
    cJSON_Delete(out);
}

static void test_transition(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    create_model(f->st, "m");
    for (int i = 1; i <= 4; i++)
        create_version(f->st, "m");
    transition(f->st, "m", "1", "Production", false);
    transition(f->st, "m", "2", "Production", false);
    assert_string_equal(stage_of(f->st, "m", "1"), "Production");
    assert_string_equal(stage_of(f->st, "m", "2"), "Production");

    cJSON *v1 = get_version(f->st, "m", "1");
    usleep(2000);
    cJSON *mv = NULL;
    assert_int_equal(store_model_version_transition(f->st, "m", "3", "production", true, &mv,
                                                    &err),
                     0);
    assert_string_equal(jstr(mv, "current_stage"), "Production"); /* canonical spelling */
    cJSON_Delete(mv);
    assert_string_equal(stage_of(f->st, "m", "1"), "Archived");
    assert_string_equal(stage_of(f->st, "m", "2"), "Archived");
    assert_string_equal(stage_of(f->st, "m", "3"), "Production");
    assert_string_equal(stage_of(f->st, "m", "4"), "None");
    cJSON *v1b = get_version(f->st, "m", "1");
    assert_true(jnum(v1b, "last_updated_timestamp") > jnum(v1, "last_updated_timestamp"));
    cJSON_Delete(v1);
    cJSON_Delete(v1b);

    /* archive_existing only acts for Staging and Production */
    transition(f->st, "m", "4", "Staging", true);
    transition(f->st, "m", "1", "Archived", true);
    assert_string_equal(stage_of(f->st, "m", "2"), "Archived");
    transition(f->st, "m", "2", "None", true);
    transition(f->st, "m", "1", "None", true);
    assert_string_equal(stage_of(f->st, "m", "2"), "None");
    assert_string_equal(stage_of(f->st, "m", "4"), "Staging");
    /* archiving stays within the target stage */
    transition(f->st, "m", "2", "Staging", true);
    assert_string_equal(stage_of(f->st, "m", "4"), "Archived");
    assert_string_equal(stage_of(f->st, "m", "3"), "Production");

    int rc = store_model_version_transition(f->st, "m", "1", "Live", false, &mv, &err);
    expect_err(rc, &err, CAP_EINVAL,
               "Invalid Model Version stage: Live. Value must be one of None, Staging, "
               "Production, Archived.");
    rc = store_model_version_transition(f->st, "m", "9", "Staging", false, &mv, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Model Version (name=m, version=9) not found");
    rc = store_model_version_transition(f->st, "x", "1", "Staging", false, &mv, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=x not found");
}

static void test_aliases(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    create_model(f->st, "m");
    for (int i = 1; i <= 3; i++)
        create_version(f->st, "m");

    assert_int_equal(store_alias_set(f->st, "m", "champion", "1", &err), 0);
    cJSON *mv = NULL;
    assert_int_equal(store_alias_get(f->st, "m", "champion", &mv, &err), 0);
    assert_string_equal(jstr(mv, "version"), "1");
    assert_string_equal(joined(jget(mv, "aliases")), "champion");
    cJSON_Delete(mv);

    /* overwrite: the alias moves */
    assert_int_equal(store_alias_set(f->st, "m", "champion", "2", &err), 0);
    assert_int_equal(store_alias_set(f->st, "m", "challenger", "2", &err), 0);
    assert_int_equal(store_alias_set(f->st, "m", "old", "3", &err), 0);
    assert_int_equal(store_alias_get(f->st, "m", "champion", &mv, &err), 0);
    assert_string_equal(jstr(mv, "version"), "2");
    assert_string_equal(joined(jget(mv, "aliases")), "challenger,champion");
    cJSON_Delete(mv);
    mv = get_version(f->st, "m", "1");
    assert_null(jget(mv, "aliases"));
    cJSON_Delete(mv);

    cJSON *m = get_model(f->st, "m");
    assert_string_equal(joined_field(jget(m, "aliases"), "alias"), "challenger,champion,old");
    assert_string_equal(joined_field(jget(m, "aliases"), "version"), "2,2,3");
    /* latest_versions carry their aliases too */
    const cJSON *latest = cJSON_GetArrayItem(jget(m, "latest_versions"), 0);
    assert_string_equal(jstr(latest, "version"), "3");
    assert_string_equal(joined(jget(latest, "aliases")), "old");
    cJSON_Delete(m);

    /* errors */
    int rc = store_alias_set(f->st, "m", "x", "9", &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Model Version (name=m, version=9) not found");
    rc = store_alias_set(f->st, "ghost", "x", "1", &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=ghost not found");
    rc = store_alias_delete(f->st, "m", "nope", &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered model alias nope not found.");
    rc = store_alias_get(f->st, "m", "nope", &mv, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered model alias nope not found.");
    assert_null(mv);

    /* delete an alias; deleting a version drops the aliases pointing at it */
    assert_int_equal(store_alias_delete(f->st, "m", "old", &err), 0);
    rc = store_alias_get(f->st, "m", "old", &mv, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered model alias old not found.");
    assert_int_equal(store_model_version_delete(f->st, "m", "2", &err), 0);
    rc = store_alias_get(f->st, "m", "champion", &mv, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered model alias champion not found.");
    m = get_model(f->st, "m");
    assert_null(jget(m, "aliases"));
    cJSON_Delete(m);
    /* the name can be used again */
    assert_int_equal(store_alias_set(f->st, "m", "champion", "1", &err), 0);
    assert_int_equal(store_alias_get(f->st, "m", "champion", &mv, &err), 0);
    assert_string_equal(jstr(mv, "version"), "1");
    cJSON_Delete(mv);
}

static void test_rename(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    struct cap_kv tags[] = {{"team", "a"}};
    assert_int_equal(store_registered_model_create(f->st, "old", "d", tags, 1, NULL, &err), 0);
    create_version(f->st, "old");
    create_version(f->st, "old");
    assert_int_equal(store_model_version_set_tag(f->st, "old", "2", "k", "v", &err), 0);
    assert_int_equal(store_alias_set(f->st, "old", "prod", "2", &err), 0);
    create_model(f->st, "taken");

    cJSON *m = NULL;
    int rc = store_registered_model_rename(f->st, "old", "taken", &m, &err);
    expect_err(rc, &err, CAP_EEXISTS, "Registered Model (name=taken) already exists.");
    rc = store_registered_model_rename(f->st, "ghost", "new", &m, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=ghost not found");

    assert_int_equal(store_registered_model_rename(f->st, "old", "new", &m, &err), 0);
    assert_string_equal(jstr(m, "name"), "new");
    assert_string_equal(kv_value(jget(m, "tags"), "team"), "a");
    assert_string_equal(joined_field(jget(m, "aliases"), "alias"), "prod");
    assert_string_equal(joined_field(jget(m, "latest_versions"), "name"), "new");
    cJSON_Delete(m);

    rc = store_registered_model_get(f->st, "old", &m, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=old not found");
    rc = store_model_version_get(f->st, "old", "1", &m, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=old not found");

    cJSON *mv = get_version(f->st, "new", "2");
    assert_string_equal(jstr(mv, "name"), "new");
    assert_string_equal(kv_value(jget(mv, "tags"), "k"), "v");
    assert_string_equal(joined(jget(mv, "aliases")), "prod");
    cJSON_Delete(mv);
    assert_int_equal(store_alias_get(f->st, "new", "prod", &mv, &err), 0);
    assert_string_equal(jstr(mv, "version"), "2");
    cJSON_Delete(mv);
    /* the counter travels too */
    assert_int_equal(create_version(f->st, "new"), 3);
    /* renaming to itself is fine; the old name is free again */
    assert_int_equal(store_registered_model_rename(f->st, "new", "new", NULL, &err), 0);
    create_model(f->st, "old");
    assert_int_equal(create_version(f->st, "old"), 1);
    rc = store_registered_model_rename(f->st, "new", "", NULL, &err);
    expect_err(rc, &err, CAP_EINVAL, NULL);
}

static void test_delete_model(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    struct cap_kv tags[] = {{"k", "v"}};
    assert_int_equal(store_registered_model_create(f->st, "gone", NULL, tags, 1, NULL, &err), 0);
    create_version_full(f->st, "gone", "s1", "r1", "READY", tags, 1);
    create_version_full(f->st, "gone", "s2", "r1", "READY", tags, 1);
    assert_int_equal(store_alias_set(f->st, "gone", "a", "1", &err), 0);
    create_model(f->st, "kept");
    create_version_full(f->st, "kept", "s3", "r1", "READY", tags, 1);

    assert_int_equal(store_registered_model_delete(f->st, "gone", &err), 0);
    cJSON *m = NULL;
    int rc = store_registered_model_get(f->st, "gone", &m, &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=gone not found");
    rc = store_registered_model_delete(f->st, "gone", &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=gone not found");
    int pages = 0;
    assert_string_equal(all_versions(f->st, "run_id = 'r1'", NULL, 10, &pages), "kept/1");

    /* nothing is left behind in any table */
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM registered_models"), 1);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM registered_model_tags"), 0);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM model_versions"), 1);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM model_version_tags"), 1);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM registered_model_aliases"), 0);
    f->st = fixture_store_open(f->db);

    /* a new model of that name starts over */
    create_model(f->st, "gone");
    assert_int_equal(create_version(f->st, "gone"), 1);
}

static void test_tags(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    create_model(f->st, "m");
    create_version(f->st, "m");
    cJSON *m0 = get_model(f->st, "m");
    usleep(2000);

    assert_int_equal(store_registered_model_set_tag(f->st, "m", "k", "1", &err), 0);
    assert_int_equal(store_registered_model_set_tag(f->st, "m", "k", "2", &err), 0);
    assert_int_equal(store_registered_model_set_tag(f->st, "m", "j", "x", &err), 0);
    cJSON *m = get_model(f->st, "m");
    assert_string_equal(joined_field(jget(m, "tags"), "key"), "j,k");
    assert_string_equal(kv_value(jget(m, "tags"), "k"), "2");
    assert_true(jnum(m, "last_updated_timestamp") > jnum(m0, "last_updated_timestamp"));
    cJSON_Delete(m);
    cJSON_Delete(m0);
    assert_int_equal(store_registered_model_delete_tag(f->st, "m", "k", &err), 0);
    /* a missing tag: no-op, like MLflow's SQL store */
    assert_int_equal(store_registered_model_delete_tag(f->st, "m", "k", &err), 0);
    m = get_model(f->st, "m");
    assert_string_equal(joined_field(jget(m, "tags"), "key"), "j");
    cJSON_Delete(m);

    assert_int_equal(store_model_version_set_tag(f->st, "m", "1", "a", "1", &err), 0);
    assert_int_equal(store_model_version_set_tag(f->st, "m", "1", "a", "2", &err), 0);
    assert_int_equal(store_model_version_set_tag(f->st, "m", "1", "b", "3", &err), 0);
    cJSON *mv = get_version(f->st, "m", "1");
    assert_string_equal(kv_value(jget(mv, "tags"), "a"), "2");
    assert_string_equal(joined_field(jget(mv, "tags"), "key"), "a,b");
    cJSON_Delete(mv);
    assert_int_equal(store_model_version_delete_tag(f->st, "m", "1", "a", &err), 0);
    assert_int_equal(store_model_version_delete_tag(f->st, "m", "1", "a", &err), 0);
    mv = get_version(f->st, "m", "1");
    assert_string_equal(joined_field(jget(mv, "tags"), "key"), "b");
    cJSON_Delete(mv);

    int rc = store_registered_model_set_tag(f->st, "ghost", "k", "v", &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=ghost not found");
    rc = store_registered_model_delete_tag(f->st, "ghost", "k", &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Registered Model with name=ghost not found");
    rc = store_model_version_set_tag(f->st, "m", "7", "k", "v", &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Model Version (name=m, version=7) not found");
    rc = store_model_version_delete_tag(f->st, "m", "7", "k", &err);
    expect_err(rc, &err, CAP_ENOTFOUND, "Model Version (name=m, version=7) not found");
    rc = store_model_version_set_tag(f->st, "m", "1", "k", NULL, &err);
    expect_err(rc, &err, CAP_EINVAL, NULL);
}

/* ---------------- search ---------------- */

static void test_search_models(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    char name[32];
    for (int i = 0; i < 23; i++) {
        snprintf(name, sizeof name, "alpha-%02d", (i * 7) % 23); /* created out of order */
        struct cap_kv tag = {"team", i % 2 ? "odd" : "even"};
        assert_int_equal(store_registered_model_create(f->st, name, NULL, &tag, 1, NULL, &err),
                         0);
    }
    create_model(f->st, "Alpha-upper");
    create_model(f->st, "beta");
    create_version(f->st, "beta");
    assert_int_equal(store_alias_set(f->st, "beta", "live", "1", &err), 0);
    assert_int_equal(store_registered_model_set_tag(f->st, "beta", "team", "odd", &err), 0);

    /* every page: name LIKE, sorted by name, no duplicates, no gaps */
    char *token = NULL;
    int pages = 0, total = 0;
    do {
        struct found r = search(f->st, false, "name LIKE 'alpha-%'", NULL, 5, token);
        assert_int_equal(r.rc, 0);
        const cJSON *e;
        cJSON_ArrayForEach(e, r.list)
        {
            snprintf(name, sizeof name, "alpha-%02d", total++);
            assert_string_equal(jstr(e, "name"), name);
        }
        free(token);
        token = r.next;
        r.next = NULL;
        found_free(&r);
        pages++;
    } while (token);
    assert_int_equal(total, 23);
    assert_int_equal(pages, 5);

    /* ILIKE, tags, != ; the default order is name ASC (binary: upper case first) */
    struct found r = search(f->st, false, "name ILIKE 'ALPHA-u%'", NULL, 100, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(joined_field(r.list, "name"), "Alpha-upper");
    found_free(&r);
    r = search(f->st, false, "tags.team = 'odd' AND name LIKE '%-1%'", NULL, 100, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(joined_field(r.list, "name"), "alpha-12,alpha-13,alpha-17,alpha-18");
    found_free(&r);
    r = search(f->st, false, "tags.team != 'even' AND name != 'beta' AND name LIKE 'alpha-0%'",
               NULL, 100, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(joined_field(r.list, "name"),
                        "alpha-03,alpha-04,alpha-07,alpha-08,alpha-09");
    found_free(&r);
    /* != also matches models without the tag: the mlflow client hides prompts
     * with tags.`mlflow.prompt.is_prompt` != 'true' and expects the rest */
    r = search(f->st, false, "tags.team != 'nobody'", NULL, 100, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(cJSON_GetArraySize(r.list), 25);
    found_free(&r);
    r = search(f->st, false, "tags.team = 'nobody'", NULL, 100, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(cJSON_GetArraySize(r.list), 0);
    found_free(&r);

    /* results are full RegisteredModels */
    r = search(f->st, false, "name = 'beta'", NULL, 10, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(cJSON_GetArraySize(r.list), 1);
    const cJSON *beta = cJSON_GetArrayItem(r.list, 0);
    assert_string_equal(stages_versions(jget(beta, "latest_versions")), "None:1");
    assert_string_equal(joined_field(jget(beta, "aliases"), "alias"), "live");
    assert_string_equal(kv_value(jget(beta, "tags"), "team"), "odd");
    assert_null(r.next);
    found_free(&r);

    /* ordering by timestamps: beta changed last */
    r = search(f->st, false, NULL, "last_updated_timestamp DESC", 1, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(joined_field(r.list, "name"), "beta");
    assert_non_null(r.next);
    found_free(&r);
    r = search(f->st, false, NULL, "timestamp ASC", 3, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(jstr(cJSON_GetArrayItem(r.list, 0), "name"), "alpha-00");
    found_free(&r);
    r = search(f->st, false, NULL, "name DESC", 2, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(joined_field(r.list, "name"), "beta,alpha-22");
    found_free(&r);

    /* bad page token */
    r = search(f->st, false, NULL, NULL, 2, "garbage!");
    assert_int_equal(r.rc, -CAP_EINVAL);
    found_free(&r);
}

static void test_search_versions(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    create_model(f->st, "m1");
    create_model(f->st, "m2");
    create_model(f->st, "m0");
    const char *runs[] = {"r1", "r2", "r3"};
    for (int i = 0; i < 5; i++) {
        char src[64];
        snprintf(src, sizeof src, "mlflow-artifacts:/0/%s/artifacts/m1", runs[i % 3]);
        struct cap_kv tag = {"flavor", i % 2 ? "onnx" : "sklearn"};
        create_version_full(f->st, "m1", src, runs[i % 3], "READY", &tag, 1);
    }
    for (int i = 0; i < 3; i++)
        create_version_full(f->st, "m2", "mlflow-artifacts:/0/x/artifacts/m2", "r2", "READY",
                            NULL, 0);
    create_version_full(f->st, "m0", "mlflow-artifacts:/0/y/artifacts/m0", NULL, "READY", NULL,
                        0);

    int pages = 0;
    /* MLflow's default order is the latest change first, then name ASC, version
     * DESC: the same as asking for last_updated_timestamp DESC */
    char by_update[256];
    snprintf(by_update, sizeof by_update, "%s",
             all_versions(f->st, NULL, "last_updated_timestamp DESC", 100, &pages));
    assert_string_equal(all_versions(f->st, NULL, NULL, 2, &pages), by_update);
    /* name ASC, then version DESC; pages join without gaps */
    assert_string_equal(all_versions(f->st, NULL, "name ASC", 3, &pages),
                        "m0/1,m1/5,m1/4,m1/3,m1/2,m1/1,m2/3,m2/2,m2/1");
    assert_int_equal(pages, 3);
    assert_string_equal(all_versions(f->st, "name = 'm1'", "name ASC", 100, &pages),
                        "m1/5,m1/4,m1/3,m1/2,m1/1");
    assert_string_equal(all_versions(f->st, "run_id IN ('r1', 'r3')", "name ASC", 2, &pages),
                        "m1/4,m1/3,m1/1");
    assert_string_equal(all_versions(f->st, "run_id NOT IN ('r1', 'r3')", "name ASC", 100, &pages),
                        "m1/5,m1/2,m2/3,m2/2,m2/1"); /* m0 has no run_id: never matches */
    assert_string_equal(all_versions(f->st, "run_id = 'r2'", "name ASC", 100, &pages),
                        "m1/5,m1/2,m2/3,m2/2,m2/1");
    assert_string_equal(all_versions(f->st, "version_number > 2", "name ASC", 100, &pages),
                        "m1/5,m1/4,m1/3,m2/3");
    assert_string_equal(all_versions(f->st, "name = 'm1' AND version_number <= 2", "name ASC", 100,
                                     &pages),
                        "m1/2,m1/1");
    assert_string_equal(all_versions(f->st, "source LIKE '%/r2/%'", "name ASC", 100, &pages),
                        "m1/5,m1/2");
    assert_string_equal(all_versions(f->st, "source_path ILIKE '%ARTIFACTS/M2'", "name ASC", 100,
                                     &pages),
                        "m2/3,m2/2,m2/1");
    assert_string_equal(all_versions(f->st, "tags.flavor = 'onnx'", "name ASC", 100, &pages),
                        "m1/4,m1/2");
    assert_string_equal(all_versions(f->st, "tags.flavor LIKE 'sk%' AND run_id = 'r1'", NULL,
                                     100, &pages),
                        "m1/1");
    assert_string_equal(all_versions(f->st, "tags.missing = 'x'", "name ASC", 100, &pages), "");
    assert_string_equal(all_versions(f->st, "name LIKE 'M%'", "name ASC", 100, &pages), "");
    /* order keys, then the default order as tie-break */
    assert_string_equal(all_versions(f->st, "name != 'm1'", "version_number ASC", 2, &pages),
                        "m0/1,m2/1,m2/2,m2/3");
    char one_page[256];
    snprintf(one_page, sizeof one_page, "%s",
             all_versions(f->st, NULL, "creation_timestamp DESC", 100, &pages));
    assert_int_equal(pages, 1);
    assert_string_equal(all_versions(f->st, NULL, "creation_timestamp DESC", 4, &pages),
                        one_page);
    assert_int_equal(pages, 3);

    /* results are full ModelVersions */
    assert_int_equal(store_alias_set(f->st, "m1", "best", "4", &err), 0);
    struct found r = search(f->st, true, "name = 'm1' AND version_number = 4", NULL, 10, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(cJSON_GetArraySize(r.list), 1);
    const cJSON *mv = cJSON_GetArrayItem(r.list, 0);
    assert_string_equal(jstr(mv, "version"), "4");
    assert_string_equal(jstr(mv, "run_id"), "r1");
    assert_string_equal(jstr(mv, "current_stage"), "None");
    assert_string_equal(kv_value(jget(mv, "tags"), "flavor"), "onnx");
    assert_string_equal(joined(jget(mv, "aliases")), "best");
    found_free(&r);

    /* a filter built by hand with a bad key or operator is refused */
    struct filter_cond c = {.entity = FILTER_ATTR, .key = "status", .op = FILTER_EQ};
    c.value.kind = FILTER_VALUE_STRING;
    c.value.str = "READY";
    struct filter fl = {&c, 1};
    struct store_query q = {.filter = &fl, .max_results = 10};
    cJSON *list = NULL;
    char *next = NULL;
    assert_int_equal(store_model_version_search(f->st, &q, &list, &next, &err), -CAP_EINVAL);
    assert_null(list);
    c.key = "version_number";
    c.op = FILTER_LIKE;
    assert_int_equal(store_model_version_search(f->st, &q, &list, &next, &err), -CAP_EINVAL);
    c.op = FILTER_EQ;
    c.value.str = "abc";
    assert_int_equal(store_model_version_search(f->st, &q, &list, &next, &err), -CAP_EINVAL);
    c.value.str = "3";   /* a number given as text is fine */
    assert_int_equal(store_model_version_search(f->st, &q, &list, &next, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 2); /* m1/3 and m2/3 */
    cJSON_Delete(list);
    free(next);
}

/* ---------------- concurrency and persistence ---------------- */

#define NTHREADS 8
#define NVERSIONS 25

struct worker {
    struct store *st;
    int got[NVERSIONS];
    int failures;
    char lastmsg[512];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < NVERSIONS; i++) {
        struct store_model_version_create in = {.name = "shared", .source = "s"};
        cJSON *mv = NULL;
        struct cap_error err = {0};
        if (store_model_version_create(w->st, &in, &mv, &err) != 0) {
            w->failures++;
            snprintf(w->lastmsg, sizeof w->lastmsg, "%s", err.msg);
            continue;
        }
        w->got[i] = atoi(jstr(mv, "version"));
        cJSON_Delete(mv);
        if (i % 5 == 0) { /* reads beside the writes */
            cJSON *m = NULL;
            if (store_registered_model_get(w->st, "shared", &m, &err) != 0)
                w->failures++;
            cJSON_Delete(m);
        }
    }
    return NULL;
}

static void test_concurrent_versions(void **state)
{
    struct fixture_store *f = *state;
    create_model(f->st, "shared");
    struct worker w[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){.st = f->st};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    bool seen[NTHREADS * NVERSIONS + 1] = {false};
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].failures)
            fail_msg("worker %d: %d failures, last: %s", i, w[i].failures, w[i].lastmsg);
        for (int j = 0; j < NVERSIONS; j++) {
            int v = w[i].got[j];
            assert_true(v >= 1 && v <= NTHREADS * NVERSIONS);
            assert_false(seen[v]);
            seen[v] = true;
            /* each thread sees its own numbers increase */
            if (j)
                assert_true(v > w[i].got[j - 1]);
        }
    }
    int pages = 0;
    const char *all = all_versions(f->st, "name = 'shared' AND version_number <= 3", NULL, 100,
                                   &pages);
    assert_string_equal(all, "shared/3,shared/2,shared/1");
    assert_int_equal(create_version(f->st, "shared"), NTHREADS * NVERSIONS + 1);
}

static void test_reopen(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    struct cap_kv tags[] = {{"k", "v"}};
    assert_int_equal(store_registered_model_create(f->st, "p", "desc", tags, 1, NULL, &err), 0);
    struct store_model_version_create in = {.name = "p", .source = "src", .run_id = "r",
                                            .tags = tags, .ntags = 1,
                                            .metadata_json = "{\"a\":1}"};
    assert_int_equal(store_model_version_create(f->st, &in, NULL, &err), 0);
    assert_int_equal(store_model_version_create(f->st, &in, NULL, &err), 0);
    assert_int_equal(store_model_version_create(f->st, &in, NULL, &err), 0);
    assert_int_equal(store_model_version_delete(f->st, "p", "3", &err), 0);
    transition(f->st, "p", "2", "Production", false);
    assert_int_equal(store_alias_set(f->st, "p", "live", "2", &err), 0);
    cJSON *before = get_model(f->st, "p");
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(query_int(f->db, "SELECT max(version) FROM schema_version"), 14);

    for (int round = 0; round < 2; round++) {
        f->st = fixture_store_open(f->db);
        cJSON *after = get_model(f->st, "p");
        assert_true(cJSON_Compare(before, after, true));
        cJSON_Delete(after);
        cJSON *mv = get_version(f->st, "p", "2");
        assert_string_equal(jstr(mv, "current_stage"), "Production");
        assert_string_equal(joined(jget(mv, "aliases")), "live");
        assert_string_equal(kv_value(jget(mv, "tags"), "k"), "v");
        cJSON_Delete(mv);
        cJSON *meta = NULL;
        assert_int_equal(store_model_version_metadata(f->st, "p", "1", &meta, &err), 0);
        assert_int_equal(jnum(meta, "a"), 1);
        cJSON_Delete(meta);
        store_close(f->st);
        f->st = NULL;
    }
    cJSON_Delete(before);
    f->st = fixture_store_open(f->db);
    /* the counter survived: 3 stays used */
    assert_int_equal(create_version(f->st, "p"), 4);
}

static void test_null_arguments(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    cJSON *out = NULL;
    char *next = NULL;
    assert_int_equal(store_registered_model_create(NULL, "x", NULL, NULL, 0, &out, &err),
                     -CAP_EINVAL);
    assert_int_equal(store_registered_model_create(f->st, NULL, NULL, NULL, 0, &out, &err),
                     -CAP_EINVAL);
    assert_int_equal(store_registered_model_create(f->st, "x", NULL, NULL, 2, &out, &err),
                     -CAP_EINVAL);
    assert_int_equal(store_registered_model_get(f->st, "x", NULL, &err), -CAP_EINVAL);
    assert_int_equal(store_registered_model_rename(f->st, "x", NULL, &out, &err), -CAP_EINVAL);
    assert_int_equal(store_registered_model_set_tag(f->st, "x", NULL, "v", &err), -CAP_EINVAL);
    assert_int_equal(store_registered_model_search(f->st, NULL, &out, &next, &err),
                     -CAP_EINVAL);
    assert_int_equal(store_registered_model_latest_versions(f->st, "x", NULL, 2, &out, &err),
                     -CAP_EINVAL);
    assert_int_equal(store_model_version_create(f->st, NULL, &out, &err), -CAP_EINVAL);
    struct store_model_version_create in = {.name = "x"}; /* no source */
    assert_int_equal(store_model_version_create(f->st, &in, &out, &err), -CAP_EINVAL);
    assert_int_equal(store_model_version_get(f->st, "x", NULL, &out, &err), -CAP_EINVAL);
    assert_int_equal(store_model_version_get(f->st, "x", "", &out, &err), -CAP_EINVAL);
    assert_int_equal(store_model_version_transition(f->st, "x", "1", NULL, false, &out, &err),
                     -CAP_EINVAL);
    assert_int_equal(store_model_version_search(f->st, NULL, &out, &next, &err), -CAP_EINVAL);
    assert_int_equal(store_alias_set(f->st, "x", NULL, "1", &err), -CAP_EINVAL);
    assert_int_equal(store_alias_get(f->st, "x", "a", NULL, &err), -CAP_EINVAL);
    assert_int_equal(store_alias_delete(f->st, "x", NULL, NULL), -CAP_EINVAL); /* err NULL ok */
    struct store_query q = {.max_results = 0};
    assert_int_equal(store_model_version_search(f->st, &q, &out, &next, &err), -CAP_EINVAL);
    assert_null(out);
    assert_null(next);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_model_create_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_numbering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latest_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_models, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
