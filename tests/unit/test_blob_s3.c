/* test_blob_s3.c - the S3 artifact store's parts that need no server: the
 * SigV4 signature against the examples in AWS's S3 API reference
 * ("Signature Calculations for the Authorization Header: Transferring
 * Payload in a Single Chunk"), the XML walk, and the configuration errors
 * blob_open_uri gives before any request. Requests against a real
 * signature-checking server are in tests/integration/test_artifacts_s3.py. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "blob/blob.h"
#include "blob/blob_s3.h"

static const char *EMPTY_SHA256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static struct blob_s3 example(void)
{
    struct blob_s3 s;
    memset(&s, 0, sizeof s);
    s.host = "examplebucket.s3.amazonaws.com";
    s.region = "us-east-1";
    s.access_key = "AKIAIOSFODNN7EXAMPLE";
    s.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    return s;
}

static void test_sigv4_aws_examples(void **state)
{
    (void)state;
    struct blob_s3 s = example();
    /* "GET Bucket Lifecycle" */
    char *a = s3_authorization(&s, "GET", "/", "lifecycle=", EMPTY_SHA256, "20130524T000000Z");
    assert_string_equal(a, "AWS4-HMAC-SHA256 "
                           "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                           "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                           "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    free(a);
    /* "Get Bucket (List Objects)" */
    a = s3_authorization(&s, "GET", "/", "max-keys=2&prefix=J", EMPTY_SHA256, "20130524T000000Z");
    assert_non_null(strstr(a, "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
    free(a);
    /* a session token is signed too */
    s.session_token = "token";
    a = s3_authorization(&s, "GET", "/", "lifecycle=", EMPTY_SHA256, "20130524T000000Z");
    assert_non_null(strstr(a, "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
    assert_null(strstr(a, "fea454ca"));
    free(a);
}

struct seen {
    char paths[512];
    char texts[512];
};

static void on_xml(void *cls, const char *path, const char *text)
{
    struct seen *s = cls;
    strncat(s->paths, path, sizeof s->paths - strlen(s->paths) - 2);
    strcat(s->paths, ";");
    strncat(s->texts, text, sizeof s->texts - strlen(s->texts) - 2);
    strcat(s->texts, ";");
}

static void test_xml_walk(void **state)
{
    (void)state;
    const char *xml = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
                      "<Message>a &amp; b</Message></Error>";
    struct seen s = {{0}, {0}};
    assert_int_equal(s3_xml_walk(xml, strlen(xml), on_xml, &s), 0);
    assert_string_equal(s.paths, "Error/Code;Error/Message;Error;");
    assert_string_equal(s.texts, "NoSuchKey;a & b;;");
    const char *bad = "<Error><Code>x</Error>";
    assert_int_equal(s3_xml_walk(bad, strlen(bad), on_xml, &s), -1);
}

/* blob_open_uri's refusals, each before any request */
static void expect_refused(const char *uri, const char *endpoint, const char *needle)
{
    struct blob_options opt = {.s3_endpoint_url = endpoint};
    struct blob *b = NULL;
    struct cap_error err = {0};
    assert_true(blob_open_uri(uri, &opt, &b, &err) < 0);
    assert_null(b);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' gave '%s', wanted '%s'", uri, err.msg, needle);
}

static void test_configuration_errors(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "k", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
    expect_refused("gs://bucket/x", NULL, "expected a directory, file:///dir or s3://");
    expect_refused("s3://", NULL, "bucket name of 3 to 63");
    expect_refused("s3://Upper/x", NULL, "bucket name of 3 to 63");
    expect_refused("s3://bucket/../x", NULL, "its prefix");
    expect_refused("s3://bucket/x", "ftp://host", "expected http(s)://host[:port]");
    expect_refused("s3://bucket/x", "http://host/path", "with no path");
    expect_refused("s3://bucket/x", "http://user@host", "expected http(s)://host[:port]");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    expect_refused("s3://bucket/x", "http://127.0.0.1:1", "set AWS_ACCESS_KEY_ID and AWS_SECRET");
    setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
}

static void test_unreachable_endpoint(void **state)
{
    (void)state;
    /* a port that was just free: nothing listens there */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", ntohs(a.sin_port));
    setenv("AWS_ACCESS_KEY_ID", "k", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
    expect_refused("s3://bucket/x", ep, "cannot be reached");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigv4_aws_examples),
        cmocka_unit_test(test_xml_walk),
        cmocka_unit_test(test_configuration_errors),
        cmocka_unit_test(test_unreachable_endpoint),
    };
    return cmocka_run_group_tests_name("blob_s3", tests, NULL, NULL);
}
