/* test_error.c - error messages are valid UTF-8: cap_utf8_repair (and
 * cap_utf8_check) against
 * a reference written the other way round (decode the bits, then refuse
 * overlong forms, surrogates and code points past U+10FFFF), over every
 * sequence of up to three bytes; and cap_err's messages. Also
 * cap_uri_redact, what the logs show of a store URI. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "base/error.h"
#include "base/util.h"

/* The reference: the length of the well-formed sequence at s, or 0. */
static size_t ref_seq_len(const unsigned char *s, size_t avail)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (n == 0 || s[0] >= 0xF8 || n > avail)
        return 0;
    uint32_t cp = s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* What the repair must give: each byte outside a well-formed sequence
 * becomes '?'. */
static void ref_repair(const unsigned char *in, size_t n, char *out)
{
    size_t i = 0;
    while (i < n) {
        size_t k = ref_seq_len(in + i, n - i);
        if (k) {
            memcpy(out + i, in + i, k);
            i += k;
        } else {
            out[i++] = '?';
        }
    }
    out[n] = '\0';
}

static int mismatches;

static void check(const unsigned char *in, size_t n)
{
    char got[16], want[16];
    memcpy(got, in, n);
    got[n] = '\0';
    cap_utf8_repair(got);
    ref_repair(in, n, want);
    if (strcmp(got, want) != 0 && mismatches++ < 10) {
        print_error("input");
        for (size_t i = 0; i < n; i++)
            print_error(" %02x", in[i]);
        print_error(": got %s, want %s\n", got, want);
    }
}

static void test_every_short_sequence(void **state)
{
    unsigned char b[4];
    for (unsigned a = 1; a < 256; a++) {
        b[0] = (unsigned char)a;
        check(b, 1);
        for (unsigned c = 1; c < 256; c++) {
            b[1] = (unsigned char)c;
            check(b, 2);
            if (a < 0xC0)
                continue; /* a lead byte's three-byte forms; the rest are covered above */
            for (unsigned d = 1; d < 256; d++) {
                b[2] = (unsigned char)d;
                check(b, 3);
            }
        }
    }
    assert_int_equal(mismatches, 0);
}

static void test_chosen_strings(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain ASCII", "plain ASCII"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"\xf4\x8f\xbf\xbf \xed\x9f\xbf \xee\x80\x80", "\xf4\x8f\xbf\xbf \xed\x9f\xbf \xee\x80\x80"},
        {"\xc0\xaf", "??"},                    /* overlong '/' */
        {"\xe0\x80\xaf", "???"},               /* overlong, three bytes */
        {"\xed\xa0\x80", "???"},               /* a surrogate */
        {"\xf4\x90\x80\x80", "????"},          /* past U+10FFFF */
        {"\xf5\x80\x80\x80", "????"},
        {"a\xffz\xfe", "a?z?"},
        {"\x80\xbf", "??"},                    /* lone continuation bytes */
        {"\xe2\x82", "??"},                    /* cut short at the end */
        {"\xe2\x82x\xe2\x82\xac", "??x\xe2\x82\xac"},
        {"\xf0\x9f\x98", "???"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", cases[i].in);
        assert_string_equal(cap_utf8_repair(buf), cases[i].out);
        /* cap_utf8_check agrees: the first '?' that repair wrote */
        const char *q = strchr(cases[i].out, '?');
        size_t n = strlen(cases[i].in);
        assert_int_equal(cap_utf8_check(cases[i].in, n), q ? (size_t)(q - cases[i].out) : n);
    }
    /* a NUL inside is a character (a body may hold one); a sequence cut by n
     * is not */
    assert_int_equal(cap_utf8_check("a\0b", 3), 3);
    assert_int_equal(cap_utf8_check("\xc3\xa9", 1), 0);
}

static void test_uri_redact(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"postgresql://capstan:s3cr3t@127.0.0.1:5432/db", "postgresql://capstan:***@127.0.0.1:5432/db"},
        {"postgresql://u@h/db?password=ab&sslmode=x", "postgresql://u@h/db?password=***&sslmode=x"},
        {"postgresql://u:p@h/db?mypassword=zz", "postgresql://u:***@h/db?mypassword=zz"},
        {"postgresql://h/db?password=abcdef", "postgresql://h/db?password=***"},
        {"postgresql://u:p@x@h/db", "postgresql://u:***@h/db"},   /* '@' in the password */
        {"sqlite:////tmp/x.db", "sqlite:////tmp/x.db"},
        {"/data/mlflow.db", "/data/mlflow.db"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = cap_uri_redact(cases[i].in);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

static void test_cap_err_messages_are_utf8(void **state)
{
    struct cap_error err;
    cap_err(&err, CAP_ENOTFOUND, "Run '%s' not found", "\xc0\xaf\xff");
    assert_string_equal(err.msg, "Run '?\?\?' not found");
    /* a message cut by the buffer's end inside a sequence */
    char big[600];
    memset(big, 'a', sizeof big);
    for (size_t i = 0; i + 3 <= sizeof big - 1; i += 3)
        memcpy(big + i, "\xe2\x82\xac", 3);
    big[sizeof big - 1] = '\0';
    for (int shift = 0; shift < 3; shift++) {
        cap_err(&err, CAP_EINVAL, "%.*s%s", shift, "xx", big);
        size_t n = strlen(err.msg);
        assert_int_equal(n, sizeof err.msg - 1);
        char copy[sizeof err.msg];
        memcpy(copy, err.msg, n + 1);
        ref_repair((const unsigned char *)err.msg, n, copy);
        assert_string_equal(err.msg, copy); /* valid: the reference changes nothing */
    }
}

static void test_status_codes(void **state)
{
    assert_int_equal(cap_err_http_status(CAP_EURILONG), 414);
    assert_int_equal(cap_err_http_status(CAP_EHEADERS), 431);
    assert_string_equal(cap_err_name(CAP_EHEADERS), "BAD_REQUEST");
    assert_int_equal(cap_err_http_status(CAP_EPERM), 403);
    assert_string_equal(cap_err_name(CAP_EPERM), "PERMISSION_DENIED");
    assert_int_equal(cap_err_http_status(CAP_ETOOMANY), 429);
    assert_string_equal(cap_err_name(CAP_ETOOMANY), "REQUEST_LIMIT_EXCEEDED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_short_sequence),
        cmocka_unit_test(test_chosen_strings),
        cmocka_unit_test(test_cap_err_messages_are_utf8),
        cmocka_unit_test(test_status_codes),
        cmocka_unit_test(test_uri_redact),
    };
    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
