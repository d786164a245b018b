/* test_registry_source.c - MLflow's rules for model version sources
 * (registry/source.c): what is accepted, what is refused and with which
 * words, and where a local path lies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"

static const char relative[] = "an absolute path must be provided without relative path";
static const char local_msg[] = "To use a local path as a model version source, the run_id";

/* 1: accepted and not local, 2: accepted and local, 0: refused with want in the message. */
static int rules(const char *source, bool prompt, const char *want)
{
    struct cap_error err = {0};
    bool local = false;
    int rc = registry_check_source_rules(source, prompt, &local, &err);
    if (rc == 0)
        return local ? 2 : 1;
    assert_int_equal(rc, -CAP_EINVAL);
    if (!strstr(err.msg, want))
        fail_msg("'%s': '%s' does not say '%s'", source, err.msg, want);
    return 0;
}

static void test_non_local_sources(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "mlflow-artifacts:/models", "mlflow-artifacts:/models/", "mlflow-artifacts:/models///",
        "mlflow-artifacts:/models/foo///bar", "mlflow-artifacts://host:9000/models",
        "mlflow-artifacts://host:9000/models/artifact/..../", "runs:/run_id/model",
        "models:/m-0123abcd", "s3://bucket/path/model", "https://host/a/b?x=1",
        "mlflow-artifacts:/0\\..\\..\\etc", "dbfs:/a/b"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (rules(ok[i], false, "") != 1)
            fail_msg("'%s' should be accepted, not local", ok[i]);
    static const char *const bad[] = {
        "mlflow-artifacts://host:9000/models/../../../", "http://host:9000/models/../../../",
        "s3a://b/api/2.0/mlflow-artifacts/artifacts/../../../",
        "mlflow-artifacts://host:9000/models/..%2f..%2fartifacts",
        "mlflow-artifacts://host:9000/models/artifact%00", "mlflow-artifacts:/0/%252e%252e/etc",
        "dbfs:/r/artifacts/a%3f/../../../", "s3://b/x?a=/../", "s3://bucket", "s3://b/./x",
        "mlflow-artifacts:/", "runs:/r/..", "models:/../etc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(rules(bad[i], false, relative), 0);
    assert_int_equal(rules("s3://[::1/x", false, "Invalid IPv6 URL"), 0);
}

static void test_local_sources(void **state)
{
    (void)state;
    static const char *const local[] = {"/etc/passwd", "../../etc", "dummy-source", "file:/etc",
                                        "file:///etc", "file://localhost/etc", "FILE:///x"};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        if (rules(local[i], false, "") != 2)
            fail_msg("'%s' should be local", local[i]);
    assert_int_equal(rules("file://123.456.789.123/path", false, "is not a valid remote uri"), 0);
    /* prompts: names without a scheme are fine, paths are not */
    assert_int_equal(rules("dummy-source", true, ""), 1);
    assert_int_equal(rules("/etc/passwd", true, "Invalid prompt source"), 0);
    assert_int_equal(rules("file:///etc/passwd", true, "Invalid prompt source"), 0);
    assert_int_equal(rules("s3://b/../x", true, relative), 0);
}

static int within(const char *source, const char *owner, char **path)
{
    struct cap_error err = {0};
    int rc = registry_check_local_source(source, owner, false, path, &err);
    if (rc < 0) {
        assert_int_equal(rc, -CAP_EINVAL);
        assert_non_null(strstr(err.msg, local_msg));
    }
    return rc;
}

static void test_local_inside_owner(void **state)
{
    (void)state;
    char *p = NULL;
    const char *owner = "file:///data/1/abc/artifacts";
    assert_int_equal(within("/data/1/abc/artifacts", owner, &p), 0);
    assert_string_equal(p, "/data/1/abc/artifacts");
    free(p);
    assert_int_equal(within("file:///data/1/abc/artifacts/model/..", owner, &p), 0);
    assert_string_equal(p, "/data/1/abc/artifacts");
    free(p);
    assert_int_equal(within("/data/1/abc/artifacts//model/./x", owner, &p), 0);
    assert_string_equal(p, "/data/1/abc/artifacts/model/x");
    free(p);
    assert_int_equal(within("/data/1/abc/artifacts%2fmodel", "/data/1/abc/artifacts", &p), 0);
    free(p);
    assert_int_equal(within("/data/1/abc/artifacts/../../../etc", owner, &p), -CAP_EINVAL);
    assert_int_equal(within("/data/1/abc/artifacts-other", owner, &p), -CAP_EINVAL);
    assert_int_equal(within("/data/1/abc/artifacts/%00", owner, &p), -CAP_EINVAL);
    assert_int_equal(within("/tmp", owner, &p), -CAP_EINVAL);
    assert_int_equal(within("/data/1/abc/artifacts", NULL, &p), -CAP_EINVAL);
    /* a run whose artifacts are not local contains no local path */
    assert_int_equal(within("/1/abc/artifacts", "mlflow-artifacts:/1/abc/artifacts", &p),
                     -CAP_EINVAL);
    assert_null(p);
    struct cap_error err = {0};
    assert_int_equal(registry_check_local_source("/x", NULL, true, &p, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "the model_id request parameter"));
}

static void test_path_under(void **state)
{
    (void)state;
    char *r = registry_path_under("/srv/art/", "/srv/art/1/x");
    assert_string_equal(r, "1/x");
    free(r);
    r = registry_path_under("/srv/art", "/srv/art");
    assert_string_equal(r, "");
    free(r);
    assert_null(registry_path_under("/srv/art", "/srv/artifacts/x"));
    assert_null(registry_path_under("/srv/art/../other", "/srv/art/x"));
    r = registry_path_under("/", "/a");
    assert_string_equal(r, "a");
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_non_local_sources),
        cmocka_unit_test(test_local_sources),
        cmocka_unit_test(test_local_inside_owner),
        cmocka_unit_test(test_path_under),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
