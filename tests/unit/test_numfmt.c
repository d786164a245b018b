/* test_numfmt.c - cap_fmt_float9 against printf's "%.9g": the same text for
 * every float it takes, and 0 (printf's turn) for the rest. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/numfmt.h"

static int mismatches;

/* Checks one value; returns whether the fast path took it. */
static bool same_as_printf(float f)
{
    char fast[32], ref[64];
    size_t n = cap_fmt_float9(f, fast);
    if (n == 0)
        return false;
    snprintf(ref, sizeof ref, "%.9g", (double)f);
    if (strcmp(fast, ref) != 0 || n != strlen(ref)) {
        if (mismatches++ < 10)
            print_error("%a: %s, printf %s\n", (double)f, fast, ref);
    }
    return true;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void test_left_to_printf(void **state)
{
    (void)state;
    char out[32];
    const float others[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-41f /* subnormal */,
                            1e-21f, -3e25f, 1e20f, FLT_MAX};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        assert_int_equal(cap_fmt_float9(others[i], out), 0);
    assert_true(cap_fmt_float9(9.99e19f, out) > 0);
    assert_true(cap_fmt_float9(1.01e-20f, out) > 0);
}

static void test_chosen_values(void **state)
{
    (void)state;
    mismatches = 0;
    const float v[] = {0.2789406f, 0.5f, -0.5f, 1.5f, 0.1f, 0.3f, 2.0f / 3.0f, 3.14159274f,
                       123456.789f, 1234567.88f, 123456792.0f, 999999.94f, 0.99999994f,
                       9.99999944e-05f, 1.00000005e-04f, 1e-4f, 1e-5f, 9.9999997e-06f,
                       999999999.0f, 1e9f, 1.5e9f, 4.2e-7f, -7.77e-13f, 6.02e19f, 1.17e-19f,
                       0.000123456789f, 16777217.0f, 33554434.0f};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        assert_true(same_as_printf(v[i]));
    assert_int_equal(mismatches, 0);
}

/* Around every power of ten in range, where the decimal exponent changes
 * and rounding can carry into a tenth digit. */
static void test_powers_of_ten(void **state)
{
    (void)state;
    mismatches = 0;
    for (int k = -20; k <= 19; k++) {
        float p = (float)pow(10.0, k);
        float lo = p, hi = p;
        for (int i = 0; i < 200; i++) {
            lo = nextafterf(lo, 0.0f);
            hi = nextafterf(hi, INFINITY);
            same_as_printf(lo);
            same_as_printf(hi);
            same_as_printf(-hi);
        }
        same_as_printf(p);
    }
    assert_int_equal(mismatches, 0);
}

/* A spread of bit patterns over the whole range, every 7919th by default;
 * CAPSTAN_NUMFMT_STRIDE=1 CAPSTAN_NUMFMT_START=0 checks all 2^32 (half an
 * hour under the sanitizers). */
static void test_bit_pattern_sweep(void **state)
{
    (void)state;
    mismatches = 0;
    const char *st = getenv("CAPSTAN_NUMFMT_STRIDE"), *s0 = getenv("CAPSTAN_NUMFMT_START");
    uint64_t stride = st ? strtoull(st, NULL, 10) : 7919, start = s0 ? strtoull(s0, NULL, 10) : 12345;
    if (stride == 0)
        stride = 1;
    long taken = 0;
    for (uint64_t u = start; u < 0x100000000ULL; u += stride)
        taken += same_as_printf(from_bits((uint32_t)u));
    assert_true(taken > (long)(0x100000000ULL / stride / 3));
    assert_int_equal(mismatches, 0);
}

/* cap_decimal_to_double gives strtod's double, bit for bit, on the fast
 * path and off it; it refuses what is not a plain decimal. */
static void check_decimal(const char *t)
{
    double got = 0;
    assert_true(cap_decimal_to_double(t, strlen(t), &got));
    double want = strtod(t, NULL);
    if (memcmp(&got, &want, sizeof got) != 0)
        fail_msg("%s: %.17g, strtod %.17g", t, got, want);
}

static void test_decimal_text(void **state)
{
    (void)state;
    static const char *const fixed[] = {
        "0", "-0", "+0", "0e400", "007", "5.", ".5", "-1.25e-3", "1E22", "1e23", "9007199254740993",
        "12345678901234567890123", "0.000000000000000000000000001", "1e-400", "1e400",
        "2.2250738585072011e-308", "4.9e-324", "123456789012345678e-22", "0.1", "3.14159"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        check_decimal(fixed[i]);
    /* random digits, points and exponents: both paths */
    uint64_t x = 88172645463325252ULL;
    char t[64];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int len = 1 + (int)(x % 22), n = 0;
        if (x & 0x100000)
            t[n++] = '-';
        int dot = (int)((x >> 8) % (uint64_t)(len + 1));
        for (int k = 0; k < len; k++) {
            if (k == dot)
                t[n++] = '.';
            t[n++] = (char)('0' + (x >> (k % 50)) % 10);
        }
        if (x & 0x200000)
            n += snprintf(t + n, sizeof t - (size_t)n, "e%d", (int)((x >> 30) % 60) - 30);
        t[n] = '\0';
        check_decimal(t);
    }
    static const char *const refused[] = {"", "-", ".", "e5", "1e", "1e+", "0x10", "1,5",
                                          "1.2.3", "inf", "nan", "1 ", " 1", "1d", "--1"};
    double d;
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        if (cap_decimal_to_double(refused[i], strlen(refused[i]), &d))
            fail_msg("'%s' read as a decimal", refused[i]);
    /* JSON mode: JSON's grammar only; the length read, 0 for none */
    static const struct {
        const char *t;
        size_t n;
    } json[] = {{"-0.5e3,", 6}, {"0]", 1}, {"12 ", 2}, {"01", 0}, {"+1", 0}, {".5", 0},
                {"5.", 0},      {"-", 0},  {"1e+", 0}};
    for (size_t i = 0; i < sizeof json / sizeof *json; i++) {
        const char *j = json[i].t;
        size_t got = cap_scan_decimal(j, j + strlen(j), true, &d);
        if (got != json[i].n)
            fail_msg("json '%s': read %zu, want %zu", j, got, json[i].n);
    }
    assert_true(cap_scan_decimal("-0.5e3", "-0.5e3" + 6, true, &d) == 6 && d == -500);
    /* cap_text_to_double: blanks, NA tokens, infinities, refusals */
    assert_true(cap_text_to_double(" 2.5\r", 5, &d) && d == 2.5);
    assert_true(cap_text_to_double("NA", 2, &d) && isnan(d));
    static const char *const pandas_na[] = {"#N/A N/A", "#NA", "-1.#IND", "1.#QNAN", "<NA>"};
    for (size_t i = 0; i < sizeof pandas_na / sizeof *pandas_na; i++)
        assert_true(cap_text_to_double(pandas_na[i], strlen(pandas_na[i]), &d) && isnan(d));
    assert_true(cap_text_to_double("", 0, &d) && isnan(d));
    assert_true(cap_text_to_double(NULL, 0, &d) && isnan(d)); /* an empty quoted field */
    assert_true(cap_text_to_double("-Infinity", 9, &d) && isinf(d) && d < 0);
    assert_false(cap_text_to_double("0x10", 4, &d));
    assert_false(cap_text_to_double("n/a and more text", 17, &d));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_left_to_printf),
        cmocka_unit_test(test_chosen_values),
        cmocka_unit_test(test_powers_of_ten),
        cmocka_unit_test(test_bit_pattern_sweep),
        cmocka_unit_test(test_decimal_text),
    };
    return cmocka_run_group_tests_name("numfmt", tests, NULL, NULL);
}
