/* test_validate.c - MLflow's input rules: each rule, its boundaries and its
 * message. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "track/validate.h"

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

#define OK(call)                                                                                  \
    do {                                                                                          \
        struct cap_error e_ = {0};                                                                \
        int rc_ = (call);                                                                         \
        if (rc_ != 0)                                                                             \
            print_error("%s: %s\n", #call, e_.msg);                                               \
        assert_int_equal(rc_, 0);                                                                 \
    } while (0)

/* Expects -CAP_EINVAL and a message containing frag; err must be named e_. */
#define BAD(call, frag)                                                                           \
    do {                                                                                          \
        struct cap_error e_ = {0};                                                                \
        int rc_ = (call);                                                                         \
        if (rc_ != -CAP_EINVAL || !strstr(e_.msg, frag))                                          \
            print_error("%s: rc %d msg '%s', wanted '%s'\n", #call, rc_, e_.msg, frag);           \
        assert_int_equal(rc_, -CAP_EINVAL);                                                       \
        assert_int_equal(e_.code, CAP_EINVAL);                                                    \
        assert_non_null(strstr(e_.msg, frag));                                                    \
    } while (0)

static void test_key_pattern(void **state)
{
    (void)state;
    OK(validate_key("metric", "acc", &e_));
    OK(validate_key("metric", "val/acc_top-1.5 x", &e_));
    OK(validate_key("param", "a.b.c", &e_));
    OK(validate_key("tag", "mlflow.source.name", &e_));
    OK(validate_key("tag", "précision", &e_));     /* UTF-8: \w is Unicode in MLflow */
    OK(validate_key("metric", "a..b", &e_));        /* '..' inside a segment is a name */
    OK(validate_key("metric", "..a/b.", &e_));
    OK(validate_key("metric", "a/b/c", &e_));

    BAD(validate_key("metric", "a:b", &e_),
        "Invalid metric name: 'a:b'. Names may only contain alphanumerics, underscores (_), "
        "dashes (-), periods (.), spaces ( ), and slashes (/).");
    BAD(validate_key("param", "x;y", &e_), "Invalid param name: 'x;y'");
    BAD(validate_key("tag", "t\n", &e_), "Invalid tag name");
    BAD(validate_key("tag", "a\\b", &e_), "Invalid tag name");
    BAD(validate_key("metric", "a%b", &e_), "Invalid metric name");
    BAD(validate_key("metric", "", &e_), "Invalid metric name: ''");
    BAD(validate_key("metric", NULL, &e_), "Metric name cannot be None");
}

static void test_key_path_tricks(void **state)
{
    (void)state;
    static const struct {
        const char *key, *resolves;
    } cases[] = {
        {"a/../b", "'b'"}, {"/abs", "'/abs'"}, {"a//b", "'a/b'"}, {"a/", "'a'"},
        {"./a", "'a'"},    {"a/./b", "'a/b'"}, {".", "'.'"},      {"..", "'..'"},
        {"../x", "'../x'"}, {"a/..", "'.'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        BAD(validate_key("metric", cases[i].key, &e_),
            "Names may be treated as files in certain cases, and must not resolve to other "
            "names when treated as such. This name would resolve to ");
        BAD(validate_key("metric", cases[i].key, &e_), cases[i].resolves);
    }
    BAD(validate_key("param", "a/../b", &e_), "Invalid value \"a/../b\" for parameter 'key'");
}

static void test_key_length(void **state)
{
    (void)state;
    char *k250 = repeat('k', 250), *k251 = repeat('k', 251);
    OK(validate_key("param", k250, &e_));
    BAD(validate_key("param", k251, &e_), "had length 251, which exceeded length limit of 250");
    BAD(validate_key("metric", k251, &e_), "Metric key 'kkk");
    /* 250 two-byte characters are 250 characters, not 500 */
    char *u = malloc(501);
    for (int i = 0; i < 250; i++)
        memcpy(u + 2 * i, "\xc3\xa9", 2);
    u[500] = '\0';
    OK(validate_key("tag", u, &e_));
    free(u);
    free(k250);
    free(k251);
}

static void test_values(void **state)
{
    (void)state;
    char *p6000 = repeat('v', 6000), *p6001 = repeat('v', 6001);
    char *t8000 = repeat('t', 8000), *t8001 = repeat('t', 8001);
    OK(validate_param_value("k", "", &e_));
    OK(validate_param_value("k", p6000, &e_));
    BAD(validate_param_value("k", p6001, &e_),
        "had length 6001, which exceeded length limit of 6000");
    BAD(validate_param_value("k", p6001, &e_), "Param value 'vvv");
    {
        struct cap_error e = {0};
        validate_param_value("k", p6001, &e);
        assert_true(strlen(e.msg) < 300); /* the value is shortened in the message */
    }
    OK(validate_tag_value("k", t8000, &e_));
    OK(validate_tag_value("k", p6001, &e_));
    BAD(validate_tag_value("k", t8001, &e_), "Tag value 'ttt");
    BAD(validate_tag_value("k", t8001, &e_),
        "had length 8001, which exceeded length limit of 8000");
    OK(validate_tag_value("k", NULL, &e_));
    free(p6000);
    free(p6001);
    free(t8000);
    free(t8001);
}

static void test_names(void **state)
{
    (void)state;
    char *n500 = repeat('n', 500), *n501 = repeat('n', 501);
    OK(validate_experiment_name("Default", &e_));
    OK(validate_experiment_name(" ", &e_));
    OK(validate_experiment_name(n500, &e_));
    BAD(validate_experiment_name("", &e_), "Invalid experiment name: ''");
    BAD(validate_experiment_name(NULL, &e_), "Invalid experiment name: ''");
    BAD(validate_experiment_name(n501, &e_), "had length 501, which exceeded length limit of 500");
    char *r250 = repeat('r', 250), *r251 = repeat('r', 251);
    OK(validate_run_name(r250, &e_));
    OK(validate_run_name("", &e_));
    OK(validate_run_name(NULL, &e_));
    BAD(validate_run_name(r251, &e_), "Run name 'rrr");
    BAD(validate_run_name(r251, &e_), "had length 251, which exceeded length limit of 250");
    free(n500);
    free(n501);
    free(r250);
    free(r251);
}

static void test_run_id(void **state)
{
    (void)state;
    OK(validate_run_id("0123456789abcdef0123456789abcdef", &e_));
    OK(validate_run_id("a", &e_));
    OK(validate_run_id("A_b-c", &e_));
    char *id = repeat('a', 256);
    OK(validate_run_id(id, &e_));
    free(id);
    id = repeat('a', 257);
    BAD(validate_run_id(id, &e_), "for parameter 'run_id' supplied");
    free(id);
    BAD(validate_run_id("", &e_), "Invalid value \"\" for parameter 'run_id' supplied");
    BAD(validate_run_id(NULL, &e_), "parameter 'run_id'");
    BAD(validate_run_id("_abc", &e_), "Invalid value \"_abc\"");
    BAD(validate_run_id("-abc", &e_), "parameter 'run_id'");
    BAD(validate_run_id("abc/def", &e_), "parameter 'run_id'");
    BAD(validate_run_id("../etc", &e_), "parameter 'run_id'");
    BAD(validate_run_id("abc def", &e_), "parameter 'run_id'");
    BAD(validate_run_id("abc\n", &e_), "parameter 'run_id'");
    BAD(validate_run_id("abc.def", &e_), "parameter 'run_id'");
}

static void test_experiment_id(void **state)
{
    (void)state;
    OK(validate_experiment_id("0", &e_));
    OK(validate_experiment_id("123", &e_));
    OK(validate_experiment_id("9223372036854775807", &e_)); /* 19 digits, INT64_MAX */
    BAD(validate_experiment_id("9223372036854775808", &e_), "Invalid experiment ID");
    BAD(validate_experiment_id("12345678901234567890", &e_), "Invalid experiment ID");
    BAD(validate_experiment_id("", &e_), "Invalid experiment ID: ''");
    BAD(validate_experiment_id(NULL, &e_), "Invalid experiment ID");
    BAD(validate_experiment_id("-1", &e_), "Invalid experiment ID: '-1'");
    BAD(validate_experiment_id("1a", &e_), "Invalid experiment ID");
    BAD(validate_experiment_id(" 1", &e_), "Invalid experiment ID");
    BAD(validate_experiment_id("1.0", &e_), "Invalid experiment ID");
}

static void test_artifact_location(void **state)
{
    (void)state;
    OK(validate_artifact_location(NULL, &e_));
    OK(validate_artifact_location("", &e_));
    OK(validate_artifact_location("mlflow-artifacts:/3", &e_));
    OK(validate_artifact_location("s3://bucket/path/to/exp", &e_));
    OK(validate_artifact_location("s3://bucket/a..b/c", &e_));
    OK(validate_artifact_location("file:///data/mlruns/1", &e_));
    OK(validate_artifact_location("s3://b/p?versionId=3", &e_));
    OK(validate_artifact_location("s3://b/a%20b", &e_));

    BAD(validate_artifact_location("s3://b/p#frag", &e_), "fragments ('#')");
    BAD(validate_artifact_location("s3://b/p%23frag", &e_), "fragments ('#')");
    BAD(validate_artifact_location("s3://b/p;type=a", &e_), "parameters (';')");
    BAD(validate_artifact_location("s3://b/p%3Bx", &e_), "parameters (';')");
    BAD(validate_artifact_location("s3://b/../etc", &e_), "'..' path segments are not allowed");
    BAD(validate_artifact_location("/data/..", &e_), "'..' path segments");
    BAD(validate_artifact_location("..", &e_), "'..' path segments");
    BAD(validate_artifact_location("s3://b/%2e%2e/etc", &e_), "'..' path segments");
    BAD(validate_artifact_location("s3://b/%2E%2e/etc", &e_), "'..' path segments");
    BAD(validate_artifact_location("s3://b/.%2E/etc", &e_), "'..' path segments");
    BAD(validate_artifact_location("s3://b/%252e%252e/etc", &e_), "'..' path segments");
    BAD(validate_artifact_location("s3://b/a%2f..%2fb", &e_), "'..' path segments");
    BAD(validate_artifact_location("s3://b\\..\\c", &e_), "'..' path segments");
    BAD(validate_artifact_location("s3://b/p?x=..", &e_),
        "'..' is not allowed in the query string");
    BAD(validate_artifact_location("s3://b/p?x=../y", &e_), "query string");
    BAD(validate_artifact_location("s3://b/p?a=1&..", &e_), "query string");
    BAD(validate_artifact_location("s3://b/p?x=%2e%2e", &e_), "query string");
    BAD(validate_artifact_location("s3://b/p%00x", &e_), "NUL characters are not allowed");
    BAD(validate_artifact_location("s3://b/p\x01x", &e_), "control characters");
    BAD(validate_artifact_location("s3://b/p#x", &e_), "Invalid artifact_location 's3://b/p#x'");
}

static void test_batch_sizes(void **state)
{
    (void)state;
    OK(validate_batch_sizes(0, 0, 0, &e_));
    OK(validate_batch_sizes(1000, 0, 0, &e_));
    OK(validate_batch_sizes(900, 50, 50, &e_));
    OK(validate_batch_sizes(0, 100, 100, &e_));
    BAD(validate_batch_sizes(1001, 0, 0, &e_),
        "A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please "
        "split up metrics across multiple requests and try again.");
    BAD(validate_batch_sizes(0, 101, 0, &e_),
        "at most 100 params. Got 101 params. Please split up params");
    BAD(validate_batch_sizes(0, 0, 101, &e_), "at most 100 tags. Got 101 tags.");
    BAD(validate_batch_sizes(1000, 1, 0, &e_),
        "at most 1000 metrics, params, and tags in total. Got 1001.");
    BAD(validate_batch_sizes(901, 50, 50, &e_), "in total");
}

static void test_run_status(void **state)
{
    (void)state;
    static const char *const names[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"};
    for (int i = 0; i < 5; i++) {
        const char *out = NULL;
        char num[2] = {(char)('1' + i), 0};
        OK(validate_run_status(names[i], &out, &e_));
        assert_string_equal(out, names[i]);
        out = NULL;
        OK(validate_run_status(num, &out, &e_));
        assert_string_equal(out, names[i]);
    }
    const char *out = NULL;
    OK(validate_run_status("finished", &out, &e_));
    assert_string_equal(out, "FINISHED");
    BAD(validate_run_status("DONE", &out, &e_),
        "Invalid run status 'DONE'. Expected one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED");
    BAD(validate_run_status("0", &out, &e_), "Invalid run status '0'");
    BAD(validate_run_status("6", &out, &e_), "Invalid run status");
    BAD(validate_run_status("", &out, &e_), "Invalid run status ''");
    BAD(validate_run_status(NULL, &out, &e_), "Invalid run status");
    BAD(validate_run_status("11", &out, &e_), "Invalid run status");
}

/* A rejected value is quoted as MLflow quotes what Python parsed: with the
 * request's text known, 9.0 stays a float; without it, a whole number reads
 * as an integer. Members, arrays, escapes and a byte-order mark are walked. */
static void test_invalid_value_quotes_the_source(void **state)
{
    (void)state;
    const char *text = "\xEF\xBB\xBF{ \"a\\\"]\": [1, {\"x\": \"}\"}], \"n\": 123,\n"
                       "  \"f\" : 9.0, \"e\": 1E2, \"neg\": -0.5, \"s\": \"\\u00e9\"}";
    cJSON *root = cJSON_ParseWithLength(text, strlen(text));
    assert_non_null(root);
    const char *s;
    BAD(cap_json_get_str(root, "n", true, &s, &e_), "Invalid value 123 for parameter 'n'");
    BAD(cap_json_get_str(root, "f", true, &s, &e_), "Invalid value 9 for parameter 'f'");
    cap_json_set_source(root, text, strlen(text));
    BAD(cap_json_get_str(root, "n", true, &s, &e_), "Invalid value 123 for parameter 'n'");
    BAD(cap_json_get_str(root, "f", true, &s, &e_), "Invalid value 9.0 for parameter 'f'");
    BAD(cap_json_get_str(root, "e", true, &s, &e_), "Invalid value 100.0 for parameter 'e'");
    BAD(cap_json_get_str(root, "neg", true, &s, &e_), "Invalid value -0.5 for parameter 'neg'");
    BAD(cap_json_get_str(root, "a\"]", true, &s, &e_), "Invalid value [1,{\"x\":\"}\"}]");
    int64_t i;
    BAD(cap_json_get_i64(root, "s", true, &i, &e_), "Invalid value \"\\u00e9\" for parameter 's'");
    cap_json_set_source(NULL, NULL, 0);
    BAD(cap_json_get_str(root, "f", true, &s, &e_), "Invalid value 9 for parameter 'f'");
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_pattern),       cmocka_unit_test(test_key_path_tricks),
        cmocka_unit_test(test_key_length),        cmocka_unit_test(test_values),
        cmocka_unit_test(test_names),             cmocka_unit_test(test_run_id),
        cmocka_unit_test(test_experiment_id),     cmocka_unit_test(test_artifact_location),
        cmocka_unit_test(test_batch_sizes),       cmocka_unit_test(test_run_status),
        cmocka_unit_test(test_invalid_value_quotes_the_source),
    };
    return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
