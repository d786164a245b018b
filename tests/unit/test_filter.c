/* test_filter.c - MLflow filter and order_by parsing: tables of valid inputs
 * with their expected AST, tables of invalid inputs with a fragment of the
 * expected message, the per-target rules, and a crude fuzz loop. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "track/filter.h"

#define RUNS FILTER_TARGET_RUNS
#define EXPS FILTER_TARGET_EXPERIMENTS
#define LMS FILTER_TARGET_LOGGED_MODELS
#define RMS FILTER_TARGET_REGISTERED_MODELS
#define MVS FILTER_TARGET_MODEL_VERSIONS

struct want_cond {
    enum filter_entity entity;
    const char *key;
    enum filter_op op;
    enum filter_value_kind kind;
    double num;
    const char *str;
    const char *list[4]; /* NULL-terminated */
};

struct valid_case {
    enum filter_target target;
    const char *text;
    size_t n;
    struct want_cond c[3];
};

#define NUM(e, k, o, v) {e, k, o, FILTER_VALUE_NUMBER, v, NULL, {NULL}}
#define STR(e, k, o, v) {e, k, o, FILTER_VALUE_STRING, 0, v, {NULL}}
#define LIST(e, k, o, ...) {e, k, o, FILTER_VALUE_LIST, 0, NULL, {__VA_ARGS__, NULL}}

static const struct valid_case valid[] = {
    {RUNS, "", 0, {{0}}},
    {RUNS, "   \t\n ", 0, {{0}}},
    {RUNS, "metrics.acc > 0.9", 1, {NUM(FILTER_METRIC, "acc", FILTER_GT, 0.9)}},
    {RUNS, "metric.acc>=1", 1, {NUM(FILTER_METRIC, "acc", FILTER_GE, 1)}},
    {RUNS, "metrics.loss < -1.5e-3", 1, {NUM(FILTER_METRIC, "loss", FILTER_LT, -1.5e-3)}},
    {RUNS, "metrics.loss <= +2E2", 1, {NUM(FILTER_METRIC, "loss", FILTER_LE, 200)}},
    {RUNS, "metrics.x = .5", 1, {NUM(FILTER_METRIC, "x", FILTER_EQ, 0.5)}},
    {RUNS, "metrics.x != -7", 1, {NUM(FILTER_METRIC, "x", FILTER_NE, -7)}},
    {RUNS, "metrics.x <> 3", 1, {NUM(FILTER_METRIC, "x", FILTER_NE, 3)}},
    {RUNS, "metrics.\"my metric\" > 1", 1, {NUM(FILTER_METRIC, "my metric", FILTER_GT, 1)}},
    {RUNS, "metrics.`my metric` > 1", 1, {NUM(FILTER_METRIC, "my metric", FILTER_GT, 1)}},
    {RUNS, "params.`a.b` = 'x'", 1, {STR(FILTER_PARAM, "a.b", FILTER_EQ, "x")}},
    {RUNS, "param.lr = \"0.1\"", 1, {STR(FILTER_PARAM, "lr", FILTER_EQ, "0.1")}},
    {RUNS, "parameter.lr = '0.1'", 1, {STR(FILTER_PARAM, "lr", FILTER_EQ, "0.1")}},
    {RUNS, "parameters.lr != '0.1'", 1, {STR(FILTER_PARAM, "lr", FILTER_NE, "0.1")}},
    {RUNS, "params.model LIKE '%net%'", 1, {STR(FILTER_PARAM, "model", FILTER_LIKE, "%net%")}},
    {RUNS, "params.model like 'a_c'", 1, {STR(FILTER_PARAM, "model", FILTER_LIKE, "a_c")}},
    {RUNS, "params.model iLiKe 'A%'", 1, {STR(FILTER_PARAM, "model", FILTER_ILIKE, "A%")}},
    {RUNS, "tags.mlflow.source.name = 'train.py'", 1,
     {STR(FILTER_TAG, "mlflow.source.name", FILTER_EQ, "train.py")}},
    {RUNS, "tag.\"odd key\" = ''", 1, {STR(FILTER_TAG, "odd key", FILTER_EQ, "")}},
    {RUNS, "tags.note = 'it''s'", 1, {STR(FILTER_TAG, "note", FILTER_EQ, "it's")}},
    {RUNS, "tags.k = \"say \"\"hi\"\"\"", 1, {STR(FILTER_TAG, "k", FILTER_EQ, "say \"hi\"")}},
    {RUNS, "tags.k = 'back\\slash'", 1, {STR(FILTER_TAG, "k", FILTER_EQ, "back\\slash")}},
    {RUNS, "tags.a-b/c = 'v'", 1, {STR(FILTER_TAG, "a-b/c", FILTER_EQ, "v")}},
    {RUNS, "tags.mlflow.runName = 'r1'", 1, {STR(FILTER_TAG, "mlflow.runName", FILTER_EQ, "r1")}},
    {RUNS, "attributes.status = 'FINISHED'", 1,
     {STR(FILTER_ATTR, "status", FILTER_EQ, "FINISHED")}},
    {RUNS, "attribute.run_name = 'r'", 1, {STR(FILTER_ATTR, "run_name", FILTER_EQ, "r")}},
    {RUNS, "attr.user_id != 'bob'", 1, {STR(FILTER_ATTR, "user_id", FILTER_NE, "bob")}},
    {RUNS, "run.artifact_uri LIKE 's3://%'", 1,
     {STR(FILTER_ATTR, "artifact_uri", FILTER_LIKE, "s3://%")}},
    {RUNS, "run_name ILIKE '%Best%'", 1, {STR(FILTER_ATTR, "run_name", FILTER_ILIKE, "%Best%")}},
    {RUNS, "status = \"RUNNING\"", 1, {STR(FILTER_ATTR, "status", FILTER_EQ, "RUNNING")}},
    {RUNS, "attributes.created > 1000", 1, {NUM(FILTER_ATTR, "start_time", FILTER_GT, 1000)}},
    {RUNS, "created >= 5", 1, {NUM(FILTER_ATTR, "start_time", FILTER_GE, 5)}},
    {RUNS, "start_time < 1700000000000", 1,
     {NUM(FILTER_ATTR, "start_time", FILTER_LT, 1700000000000.0)}},
    {RUNS, "attributes.end_time <= 9", 1, {NUM(FILTER_ATTR, "end_time", FILTER_LE, 9)}},
    {RUNS, "`run_name` = 'x'", 1, {STR(FILTER_ATTR, "run_name", FILTER_EQ, "x")}},
    {RUNS, "attributes.`run_id` IN ('a', 'b')", 1,
     {LIST(FILTER_ATTR, "run_id", FILTER_IN, "a", "b")}},
    {RUNS, "run_id in ('a')", 1, {LIST(FILTER_ATTR, "run_id", FILTER_IN, "a")}},
    {RUNS, "run_id NOT IN ('a',\"b\" , 'c')", 1,
     {LIST(FILTER_ATTR, "run_id", FILTER_NOT_IN, "a", "b", "c")}},
    {RUNS, "run_id not   in('x')", 1, {LIST(FILTER_ATTR, "run_id", FILTER_NOT_IN, "x")}},
    {RUNS, "datasets.name = 'iris'", 1, {STR(FILTER_DATASET, "name", FILTER_EQ, "iris")}},
    {RUNS, "dataset.digest IN ('d1', 'd2')", 1,
     {LIST(FILTER_DATASET, "digest", FILTER_IN, "d1", "d2")}},
    {RUNS, "datasets.context LIKE 'train%'", 1,
     {STR(FILTER_DATASET, "context", FILTER_LIKE, "train%")}},
    {RUNS, "metrics.acc > 0.9 AND params.lr = '0.1'", 2,
     {NUM(FILTER_METRIC, "acc", FILTER_GT, 0.9), STR(FILTER_PARAM, "lr", FILTER_EQ, "0.1")}},
    {RUNS, "metrics.acc > 0.9 and params.lr = '0.1' AnD tags.t != 'x'", 3,
     {NUM(FILTER_METRIC, "acc", FILTER_GT, 0.9), STR(FILTER_PARAM, "lr", FILTER_EQ, "0.1"),
      STR(FILTER_TAG, "t", FILTER_NE, "x")}},
    {RUNS, "  metrics.a=1   AND\n\tmetrics.b=2  ", 2,
     {NUM(FILTER_METRIC, "a", FILTER_EQ, 1), NUM(FILTER_METRIC, "b", FILTER_EQ, 2)}},
    {RUNS, "tags.x = 'a AND b'", 1, {STR(FILTER_TAG, "x", FILTER_EQ, "a AND b")}},
    {RUNS, "tags.x = 'a OR b'", 1, {STR(FILTER_TAG, "x", FILTER_EQ, "a OR b")}},
    {RUNS, "tags.x='v'AND tags.y='w'", 2,
     {STR(FILTER_TAG, "x", FILTER_EQ, "v"), STR(FILTER_TAG, "y", FILTER_EQ, "w")}},
    {RUNS, "METRICS.acc > 1", 1, {NUM(FILTER_METRIC, "acc", FILTER_GT, 1)}},
    {RUNS, "metrics.précision > 1", 1, {NUM(FILTER_METRIC, "précision", FILTER_GT, 1)}},

    {EXPS, "name = 'Default'", 1, {STR(FILTER_ATTR, "name", FILTER_EQ, "Default")}},
    {EXPS, "attributes.name LIKE 'exp%'", 1, {STR(FILTER_ATTR, "name", FILTER_LIKE, "exp%")}},
    {EXPS, "creation_time > 0", 1, {NUM(FILTER_ATTR, "creation_time", FILTER_GT, 0)}},
    {EXPS, "last_update_time <= 10", 1, {NUM(FILTER_ATTR, "last_update_time", FILTER_LE, 10)}},
    {EXPS, "tags.team ILIKE 'ml%'", 1, {STR(FILTER_TAG, "team", FILTER_ILIKE, "ml%")}},
    {EXPS, "experiment_id = '3'", 1, {STR(FILTER_ATTR, "experiment_id", FILTER_EQ, "3")}},
    {EXPS, "experiment_id != 42", 1, {STR(FILTER_ATTR, "experiment_id", FILTER_NE, "42")}},

    {LMS, "metrics.auc >= 0.5", 1, {NUM(FILTER_METRIC, "auc", FILTER_GE, 0.5)}},
    {LMS, "params.alpha = '1'", 1, {STR(FILTER_PARAM, "alpha", FILTER_EQ, "1")}},
    {LMS, "tags.k = 'v'", 1, {STR(FILTER_TAG, "k", FILTER_EQ, "v")}},
    {LMS, "name = 'm'", 1, {STR(FILTER_ATTR, "name", FILTER_EQ, "m")}},
    {LMS, "model_id IN ('m-1', 'm-2')", 1,
     {LIST(FILTER_ATTR, "model_id", FILTER_IN, "m-1", "m-2")}},
    {LMS, "source_run_id = 'abc'", 1, {STR(FILTER_ATTR, "source_run_id", FILTER_EQ, "abc")}},
    {LMS, "status = 'LOGGED_MODEL_READY'", 1,
     {STR(FILTER_ATTR, "status", FILTER_EQ, "LOGGED_MODEL_READY")}},
    {LMS, "creation_time > 5", 1, {NUM(FILTER_ATTR, "creation_timestamp", FILTER_GT, 5)}},
    {LMS, "last_updated_timestamp < 5", 1,
     {NUM(FILTER_ATTR, "last_updated_timestamp", FILTER_LT, 5)}},

    {RMS, "name LIKE 'model%'", 1, {STR(FILTER_ATTR, "name", FILTER_LIKE, "model%")}},
    {RMS, "tags.owner = 'me'", 1, {STR(FILTER_TAG, "owner", FILTER_EQ, "me")}},

    {MVS, "name = 'm'", 1, {STR(FILTER_ATTR, "name", FILTER_EQ, "m")}},
    {MVS, "version_number > 2", 1, {NUM(FILTER_ATTR, "version_number", FILTER_GT, 2)}},
    {MVS, "run_id IN ('r1', 'r2')", 1, {LIST(FILTER_ATTR, "run_id", FILTER_IN, "r1", "r2")}},
    {MVS, "run_id = 'r1'", 1, {STR(FILTER_ATTR, "run_id", FILTER_EQ, "r1")}},
    {MVS, "source_path LIKE 'mlflow-artifacts:/%'", 1,
     {STR(FILTER_ATTR, "source", FILTER_LIKE, "mlflow-artifacts:/%")}},
    {MVS, "name = 'm' AND tags.t = 'x'", 2,
     {STR(FILTER_ATTR, "name", FILTER_EQ, "m"), STR(FILTER_TAG, "t", FILTER_EQ, "x")}},
};

static void test_valid_filters(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        const struct valid_case *vc = &valid[i];
        struct filter *f = NULL;
        struct cap_error err = {0};
        int rc = filter_parse(vc->text, vc->target, &f, &err);
        if (rc != 0)
            print_error("case %zu '%s': %s\n", i, vc->text, err.msg);
        assert_int_equal(rc, 0);
        assert_non_null(f);
        if (f->n != vc->n)
            print_error("case %zu '%s': %zu conditions\n", i, vc->text, f->n);
        assert_int_equal(f->n, vc->n);
        for (size_t k = 0; k < vc->n; k++) {
            const struct want_cond *w = &vc->c[k];
            const struct filter_cond *c = &f->conds[k];
            assert_int_equal(c->entity, w->entity);
            assert_string_equal(c->key, w->key);
            assert_int_equal(c->op, w->op);
            assert_int_equal(c->value.kind, w->kind);
            switch (w->kind) {
            case FILTER_VALUE_NUMBER:
                assert_true(fabs(c->value.num - w->num) <= 1e-12 * fmax(1, fabs(w->num)));
                break;
            case FILTER_VALUE_STRING:
                assert_string_equal(c->value.str, w->str);
                break;
            case FILTER_VALUE_LIST: {
                size_t m = 0;
                while (w->list[m])
                    m++;
                assert_int_equal(c->value.nlist, m);
                for (size_t j = 0; j < m; j++)
                    assert_string_equal(c->value.list[j], w->list[j]);
                break;
            }
            }
        }
        filter_free(f);
    }
}

struct invalid_case {
    enum filter_target target;
    const char *text;
    const char *fragment;
};

static const struct invalid_case invalid[] = {
    {RUNS, "metrics.acc >> 1",
     "Invalid filter 'metrics.acc >> 1': expected a comparison operator (=, !=, <, <=, >, >=, "
     "LIKE, ILIKE, IN, NOT IN) after 'metrics.acc'"},
    {RUNS, "metrics.acc", "expected a comparison operator"},
    {RUNS, "metrics.acc 1", "got '1'"},
    {RUNS, "metrics.acc == 1", "got '=='"},
    {RUNS, "metrics.acc =", "expected a value"},
    {RUNS, "metrics.acc = ", "end of the input"},
    {RUNS, "metrics.a > 1 OR metrics.b > 2", "OR is not supported"},
    {RUNS, "metrics.a > 1 or metrics.b > 2", "OR is not supported"},
    {RUNS, "metrics.a > 1 AND", "expected a comparison after 'AND'"},
    {RUNS, "metrics.a > 1 AND   ", "expected a comparison after 'AND'"},
    {RUNS, "AND metrics.a > 1", "expected an identifier before 'AND'"},
    {RUNS, "metrics.a > 1 AND AND metrics.b > 1", "expected an identifier before 'AND'"},
    {RUNS, "metrics.a > 1 metrics.b > 2", "expected AND or the end of the filter"},
    {RUNS, "metrics.a > 1 garbage", "unexpected 'garbage'"},
    {RUNS, "metrics.a > 1)", "parentheses"},
    {RUNS, "(metrics.a > 1)", "parentheses"},
    {RUNS, "params.x = 'abc", "unterminated string"},
    {RUNS, "params.x = \"abc", "unterminated string"},
    {RUNS, "params.`x = 'abc'", "unterminated quoted identifier"},
    {RUNS, "params.\"\" = 'a'", "empty key"},
    {RUNS, "metrics. > 1", "expected a key after 'metrics.'"},
    {RUNS, "metrics.acc > 'high'", "expected a numeric value"},
    {RUNS, "metrics.acc LIKE '1'", "operator 'LIKE' is not supported for 'metrics.acc'"},
    {RUNS, "metrics.acc IN ('1')", "operator 'IN' is not supported"},
    {RUNS, "metrics.acc > 1.2.3", "invalid number '1.2.3'"},
    {RUNS, "metrics.acc > 1e", "invalid number '1e'"},
    {RUNS, "metrics.acc > -", "invalid number"},
    {RUNS, "metrics.acc > 1abc", "invalid number '1abc'"},
    {RUNS, "metrics.acc > nan", "expected a value (a number or a quoted string)"},
    {RUNS, "metrics.acc > inf", "got 'inf'"},
    {RUNS, "metrics.acc > 1e999", "out of range"},
    {RUNS, "params.lr = 0.1", "expected a quoted string value for 'params.lr'"},
    {RUNS, "params.lr > '0.1'", "operator '>' is not supported for 'params.lr'"},
    {RUNS, "params.lr IN ('a')", "operator 'IN' is not supported"},
    {RUNS, "tags.t = x", "got 'x'"},
    {RUNS, "status = FINISHED", "got 'FINISHED'"},
    {RUNS, "status IN ('FINISHED')", "operator 'IN' is not supported for 'status'"},
    {RUNS, "run_name IN ('a')", "operator 'IN' is not supported"},
    {RUNS, "run_id IN ()", "the list after 'IN' is empty"},
    {RUNS, "run_id IN ('a',)", "expected a quoted string in the list"},
    {RUNS, "run_id IN ('a' 'b')", "expected ',' or ')'"},
    {RUNS, "run_id IN ('a'", "unterminated list"},
    {RUNS, "run_id IN ('a',", "unterminated list"},
    {RUNS, "run_id IN 'a'", "expected a parenthesised list"},
    {RUNS, "run_id IN", "expected a parenthesised list"},
    {RUNS, "run_id IN (1, 2)", "expected a quoted string in the list"},
    {RUNS, "run_id = ('a')", "only allowed after IN or NOT IN"},
    {RUNS, "run_id NOT LIKE 'a'", "NOT must be followed by IN"},
    {RUNS, "run_id NOT", "NOT must be followed by IN"},
    {RUNS, "start_time = 'yesterday'", "expected a numeric value"},
    {RUNS, "start_time LIKE '1'", "operator 'LIKE' is not supported"},
    {RUNS, "created IN ('1')", "operator 'IN' is not supported"},
    {RUNS, "foo = 'x'", "invalid attribute key 'foo'; valid attribute keys are: run_id, run_name"},
    {RUNS, "attributes.experiment_id = '1'", "invalid attribute key 'experiment_id'"},
    {RUNS, "datasets.size = 'x'", "invalid dataset key 'size'; valid dataset keys are: name"},
    {RUNS, "foo.bar = 'x'", "invalid entity type 'foo'"},
    {RUNS, "1 = 1", "expected an identifier"},
    {RUNS, "= 1", "expected an identifier"},
    {RUNS, "'metrics.a' = 1", "expected an identifier"},
    {RUNS, "metrics.a > 1 AND metrics.b", "after 'metrics.b', got the end of the input"},
    {RUNS, "metrics.a>1;", "invalid number '1;'"},
    {RUNS, "tags.a='1';", "unexpected ';'"},
    {EXPS, "metrics.a > 1", "metrics cannot be used to filter experiments"},
    {EXPS, "params.a = 'x'", "params cannot be used to filter experiments"},
    {EXPS, "status = 'x'", "invalid attribute key 'status'"},
    {EXPS, "experiment_id LIKE '1%'", "operator 'LIKE' is not supported"},
    {EXPS, "experiment_id = 1.5", "expected an id"},
    {EXPS, "creation_time = 'x'", "expected a numeric value"},
    {EXPS, "name > 'a'", "operator '>' is not supported"},
    {LMS, "datasets.name = 'x'", "datasets cannot be used to filter logged models"},
    {LMS, "creation_timestamp = 'x'", "expected a numeric value"},
    {LMS, "run_id = 'x'", "invalid attribute key 'run_id'"},
    {RMS, "metrics.a > 1", "metrics cannot be used"},
    {RMS, "creation_timestamp > 1", "invalid attribute key 'creation_timestamp'"},
    {RMS, "run_id = 'x'", "invalid attribute key"},
    {MVS, "version_number = 'x'", "expected a numeric value"},
    {MVS, "run_id LIKE 'x'", "operator 'LIKE' is not supported"},
    {MVS, "source IN ('x')", "operator 'IN' is not supported"},
    {MVS, "params.x = 'y'", "params cannot be used"},
};

static void test_invalid_filters(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        const struct invalid_case *ic = &invalid[i];
        struct filter *f = (struct filter *)0x1;
        struct cap_error err = {0};
        int rc = filter_parse(ic->text, ic->target, &f, &err);
        if (rc != -CAP_EINVAL || !strstr(err.msg, ic->fragment))
            print_error("case %zu '%s': rc %d msg '%s', wanted fragment '%s'\n", i, ic->text, rc,
                        err.msg, ic->fragment);
        assert_int_equal(rc, -CAP_EINVAL);
        assert_int_equal(err.code, CAP_EINVAL);
        assert_null(f);
        assert_non_null(strstr(err.msg, ic->fragment));
    }
}

static void test_message_quotes_filter(void **state)
{
    (void)state;
    struct filter *f;
    struct cap_error err = {0};
    assert_int_equal(filter_parse("params.x = 1", RUNS, &f, &err), -CAP_EINVAL);
    assert_true(strncmp(err.msg, "Invalid filter 'params.x = 1': ", 31) == 0);

    /* A very long filter is shortened in the message; the message still ends
     * with what was expected. */
    char big[2048];
    memset(big, 'a', sizeof big);
    memcpy(big, "metrics.", 8);
    big[sizeof big - 1] = '\0';
    assert_int_equal(filter_parse(big, RUNS, &f, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "...'"));
    assert_non_null(strstr(err.msg, "expected a comparison operator"));
    assert_true(strlen(err.msg) < sizeof err.msg - 1);

    assert_int_equal(filter_parse(NULL, RUNS, &f, &err), 0);
    assert_int_equal(f->n, 0);
    filter_free(f);
    filter_free(NULL);
}

static void test_many_conditions(void **state)
{
    (void)state;
    char text[8192] = "";
    size_t o = 0;
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "%smetrics.m%d > %d", i ? " AND " : "",
                              i, i);
    struct filter *f;
    struct cap_error err = {0};
    assert_int_equal(filter_parse(text, RUNS, &f, &err), 0);
    assert_int_equal(f->n, 100);
    assert_string_equal(f->conds[99].key, "m99");
    assert_true(f->conds[99].value.num == 99);
    filter_free(f);
    /* the same with a bad last condition: everything parsed so far is freed */
    strcat(text, " AND params.p > 1");
    assert_int_equal(filter_parse(text, RUNS, &f, &err), -CAP_EINVAL);
}

struct order_case {
    enum filter_target target;
    const char *text;
    enum filter_entity entity;
    const char *key;
    bool asc;
};

static const struct order_case orders[] = {
    {RUNS, "metrics.rmse DESC", FILTER_METRIC, "rmse", false},
    {RUNS, "metrics.rmse", FILTER_METRIC, "rmse", true},
    {RUNS, "  metrics.rmse   asc  ", FILTER_METRIC, "rmse", true},
    {RUNS, "params.x", FILTER_PARAM, "x", true},
    {RUNS, "params.`a b` desc", FILTER_PARAM, "a b", false},
    {RUNS, "tags.\"k.1\" Desc", FILTER_TAG, "k.1", false},
    {RUNS, "tags.mlflow.runName", FILTER_TAG, "mlflow.runName", true},
    {RUNS, "start_time", FILTER_ATTR, "start_time", true},
    {RUNS, "attributes.start_time DESC", FILTER_ATTR, "start_time", false},
    {RUNS, "created", FILTER_ATTR, "start_time", true},
    {RUNS, "end_time", FILTER_ATTR, "end_time", true},
    {RUNS, "run_name", FILTER_ATTR, "run_name", true},
    {RUNS, "attr.run_id", FILTER_ATTR, "run_id", true},
    {RUNS, "status", FILTER_ATTR, "status", true},
    {RUNS, "user_id", FILTER_ATTR, "user_id", true},
    {RUNS, "artifact_uri", FILTER_ATTR, "artifact_uri", true},
    {EXPS, "name", FILTER_ATTR, "name", true},
    {EXPS, "creation_time DESC", FILTER_ATTR, "creation_time", false},
    {EXPS, "last_update_time", FILTER_ATTR, "last_update_time", true},
    {EXPS, "experiment_id", FILTER_ATTR, "experiment_id", true},
    {LMS, "creation_timestamp DESC", FILTER_ATTR, "creation_timestamp", false},
    {LMS, "last_updated_timestamp", FILTER_ATTR, "last_updated_timestamp", true},
    {LMS, "name", FILTER_ATTR, "name", true},
    {LMS, "model_id", FILTER_ATTR, "model_id", true},
    {LMS, "metrics.acc DESC", FILTER_METRIC, "acc", false},
    {RMS, "name", FILTER_ATTR, "name", true},
    {RMS, "timestamp DESC", FILTER_ATTR, "creation_timestamp", false},
    {RMS, "creation_timestamp", FILTER_ATTR, "creation_timestamp", true},
    {RMS, "last_updated_timestamp", FILTER_ATTR, "last_updated_timestamp", true},
    {MVS, "name", FILTER_ATTR, "name", true},
    {MVS, "version_number DESC", FILTER_ATTR, "version_number", false},
    {MVS, "creation_timestamp", FILTER_ATTR, "creation_timestamp", true},
    {MVS, "last_updated_timestamp", FILTER_ATTR, "last_updated_timestamp", true},
};

static void test_order_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
        const struct order_case *oc = &orders[i];
        struct order_key k;
        struct cap_error err = {0};
        int rc = order_key_parse(oc->text, oc->target, &k, &err);
        if (rc != 0)
            print_error("case %zu '%s': %s\n", i, oc->text, err.msg);
        assert_int_equal(rc, 0);
        assert_int_equal(k.entity, oc->entity);
        assert_string_equal(k.key, oc->key);
        assert_int_equal(k.ascending, oc->asc);
        order_key_clear(&k);
        assert_null(k.key);
    }
}

static const struct invalid_case bad_orders[] = {
    {RUNS, "", "expected an identifier"},
    {RUNS, "   ", "expected an identifier"},
    {RUNS, "metrics.rmse DOWN", "unexpected 'DOWN' after 'metrics.rmse'; expected ASC or DESC"},
    {RUNS, "metrics.rmse DESC ASC", "unexpected 'ASC' after the sort direction"},
    {RUNS, "metrics.rmse DESCX", "expected ASC or DESC"},
    {RUNS, "foo", "invalid attribute key 'foo' for ordering"},
    {RUNS, "lifecycle_stage", "invalid attribute key 'lifecycle_stage'"},
    {RUNS, "datasets.name", "datasets cannot be used to order runs"},
    {RUNS, "metrics.`unterminated", "unterminated quoted identifier"},
    {RUNS, "metrics.", "expected a key"},
    {RUNS, "metrics.a, metrics.b", "unexpected ','"},
    {EXPS, "tags.x", "tags cannot be used to order experiments"},
    {EXPS, "start_time", "invalid attribute key 'start_time'"},
    {LMS, "params.x", "params cannot be used to order logged models"},
    {RMS, "version_number", "invalid attribute key"},
    {MVS, "run_id", "invalid attribute key 'run_id' for ordering"},
    {MVS, "tags.x", "tags cannot be used"},
};

static void test_order_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_orders / sizeof bad_orders[0]; i++) {
        const struct invalid_case *ic = &bad_orders[i];
        struct order_key k;
        struct cap_error err = {0};
        int rc = order_key_parse(ic->text, ic->target, &k, &err);
        if (rc != -CAP_EINVAL || !strstr(err.msg, ic->fragment))
            print_error("case %zu '%s': rc %d msg '%s', wanted '%s'\n", i, ic->text, rc, err.msg,
                        ic->fragment);
        assert_int_equal(rc, -CAP_EINVAL);
        assert_null(k.key);
        assert_non_null(strstr(err.msg, ic->fragment));
        assert_true(strncmp(err.msg, "Invalid order_by clause '", 25) == 0);
    }
}

static void test_op_names(void **state)
{
    (void)state;
    assert_string_equal(filter_op_name(FILTER_EQ), "=");
    assert_string_equal(filter_op_name(FILTER_NE), "!=");
    assert_string_equal(filter_op_name(FILTER_LE), "<=");
    assert_string_equal(filter_op_name(FILTER_ILIKE), "ILIKE");
    assert_string_equal(filter_op_name(FILTER_NOT_IN), "NOT IN");
    assert_string_equal(filter_op_name((enum filter_op)99), "?");
}

/* Random and mutated inputs: must never crash or leak (ASan watches), and
 * every result is either a filter or an EINVAL with a message. */
static void test_fuzz_smoke(void **state)
{
    (void)state;
    static const char *const seeds[] = {
        "metrics.acc > 0.9 AND params.lr = '0.1'",
        "run_id NOT IN ('a', \"b\")",
        "tags.`a b` LIKE '%x%' and attributes.created >= -1e3",
        "datasets.name IN ('x') AND status != 'FAILED'",
    };
    static const char alphabet[] = "metrics.params'\"`()<>=! ,ANDORNOTIN-+.e0123456789\t%_";
    unsigned seed = 12345;
    char buf[128];
    for (int iter = 0; iter < 20000; iter++) {
        seed = seed * 1103515245u + 12345u;
        const char *s = seeds[(seed >> 8) % 4];
        size_t n = strlen(s);
        memcpy(buf, s, n + 1);
        int muts = 1 + (int)((seed >> 16) % 4);
        for (int m = 0; m < muts; m++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 4) % (n + 1);
            char c = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
            switch ((seed >> 28) % 3) {
            case 0: /* replace */
                if (pos < n)
                    buf[pos] = c;
                break;
            case 1: /* truncate */
                buf[pos] = '\0';
                n = pos;
                break;
            default: /* insert */
                if (n + 1 < sizeof buf) {
                    memmove(buf + pos + 1, buf + pos, n - pos + 1);
                    buf[pos] = c;
                    n++;
                }
            }
        }
        for (int t = RUNS; t <= MVS; t++) {
            struct filter *f = NULL;
            struct cap_error err = {0};
            int rc = filter_parse(buf, (enum filter_target)t, &f, &err);
            if (rc == 0) {
                assert_non_null(f);
                filter_free(f);
            } else {
                assert_int_equal(rc, -CAP_EINVAL);
                assert_null(f);
                assert_true(err.msg[0] != '\0');
            }
            struct order_key k;
            rc = order_key_parse(buf, (enum filter_target)t, &k, &err);
            if (rc == 0)
                order_key_clear(&k);
            else
                assert_int_equal(rc, -CAP_EINVAL);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_filters),   cmocka_unit_test(test_invalid_filters),
        cmocka_unit_test(test_message_quotes_filter), cmocka_unit_test(test_many_conditions),
        cmocka_unit_test(test_order_valid),     cmocka_unit_test(test_order_invalid),
        cmocka_unit_test(test_op_names),        cmocka_unit_test(test_fuzz_smoke),
    };
    return cmocka_run_group_tests_name("filter", tests, NULL, NULL);
}
