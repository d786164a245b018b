/* test_report.c - monitor/report.c: the page is self-contained (no URL, no
 * script), every text from the data comes out HTML-escaped, the charts'
 * shares match hand-counted bins and categories, the charts stay within
 * 30 bins and 20 categories, and bad reports are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "monitor/monitor.h"

static void parse(const char *csv, struct mon_frame *f)
{
    struct cap_error err = {0};
    int rc = mon_frame_parse("t.csv", MON_FORMAT_CSV, csv, strlen(csv), NULL, 0, f, &err);
    if (rc < 0)
        fail_msg("parse: %s", err.msg);
}

/* The page for two CSV texts, with the drift and quality reports when
 * asked; free() the result. */
static char *page(const char *ref_csv, const char *cur_csv, bool with_drift, bool with_quality,
                  const char *const *cat, size_t ncat)
{
    struct mon_frame r, c;
    parse(ref_csv, &r);
    parse(cur_csv, &c);
    struct cap_error err = {0};
    cJSON *d = NULL, *q = NULL;
    struct mon_drift_options o = {.drift_share = 0.5, .categorical = cat, .n_categorical = ncat};
    if (with_drift && mon_drift(&r, &c, &o, &d, &err) < 0)
        fail_msg("drift: %s", err.msg);
    if (with_quality && mon_quality(&r, &c, NULL, &q, &err) < 0)
        fail_msg("quality: %s", err.msg);
    struct cap_buf b;
    cap_buf_init(&b);
    if (mon_report_html(&r, &c, d, q, &b, &err) < 0)
        fail_msg("report: %s", err.msg);
    cJSON_Delete(d);
    cJSON_Delete(q);
    mon_frame_free(&r);
    mon_frame_free(&c);
    return cap_buf_steal(&b);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void has(const char *html, const char *needle)
{
    if (!strstr(html, needle))
        fail_msg("the page lacks '%s'", needle);
}

/* Nothing that would fetch or run anything. */
static void self_contained(const char *html)
{
    static const char *const banned[] = {"http://", "https://", "<script", "src=\"", "url(",
                                         "@import", "<link", "<img", "<iframe", "javascript:"};
    for (size_t i = 0; i < sizeof banned / sizeof *banned; i++)
        for (const char *p = html; *p; p++)
            if (strncasecmp(p, banned[i], strlen(banned[i])) == 0)
                fail_msg("the page holds '%s' at offset %zu", banned[i], (size_t)(p - html));
}

static void test_escaping(void **state)
{
    const char *ref = "<script>alert(1)</script>,v\n"
                      "<img src=x onerror=alert(2)>,1.5\n"
                      "a&b,2.5\n"
                      "<img src=x onerror=alert(2)>,3.5\n";
    const char *cur = "<script>alert(1)</script>,v\n"
                      "a&b,1.0\n"
                      "'quoted',2.0\n"
                      "a&b,3.0\n";
    const char *cat[] = {"<script>alert(1)</script>"};
    char *html = page(ref, cur, true, true, cat, 1);
    self_contained(html);
    /* the column name in the drift table, the quality table and its chart */
    assert_true(count(html, "&lt;script&gt;alert(1)&lt;/script&gt;") >= 3);
    /* a category value in full in its bar's tooltip, shortened under it */
    has(html, "&lt;img src=x onerror=alert(2)&gt;");
    has(html, "&lt;img src=x one&#8230;");
    has(html, "a&amp;b");
    /* the new category among the quality table's examples */
    has(html, "&#39;quoted&#39;");
    has(html, "<!DOCTYPE html>");
    has(html, "default-src 'none'");
    assert_int_equal(strcmp(html + strlen(html) - 8, "</html>\n"), 0);
    free(html);
}

/* ref = cur = 0..7: 16 values, so ceil(log2 16) + 1 = 5 bins of width 1.4
 * over [0, 7]: {0, 1}, {2}, {3, 4}, {5}, {6, 7} of 8 values each. */
static void test_numeric_bins(void **state)
{
    const char *csv = "x\n0\n1\n2\n3\n4\n5\n6\n7\n";
    const char *num[] = {NULL};
    char *html = page(csv, csv, false, false, num, 0);
    has(html, "reference, [0, 1.4): 25%");
    has(html, "current, [1.4, 2.8): 12.5%");
    has(html, "reference, [2.8, 4.2): 25%");
    has(html, "current, [4.2, 5.6): 12.5%");
    has(html, "reference, [5.6, 7): 25%");
    assert_int_equal(count(html, "<rect"), 5 * 2 + 2); /* two bars a bin, two in the legend */
    has(html, "5 equal-width bins");
    assert_null(strstr(html, "Drift by column"));
    assert_null(strstr(html, "Data quality"));
    self_contained(html);
    free(html);
}

/* A column whose values are all one number still gets one bin. */
static void test_constant_column(void **state)
{
    char *html = page("x\n3\n3\n3\n", "x\n3\n3\n", false, false, NULL, 0);
    has(html, "reference, [2.5, 3.5): 100%");
    has(html, "current, [2.5, 3.5): 100%");
    has(html, "in 1 equal-width bin over");
    free(html);
}

/* Values near +-DBL_MAX: the bins are computed in halves, so neither the
 * span nor an edge overflows; two values a subnormal apart get one bin. */
static void test_extreme_values(void **state)
{
    char *html = page("x\n-1e308\n1e308\n", "x\n0\n", false, false, NULL, 0);
    /* 3 values: ceil(log2 3) + 1 = 3 bins of width 2e308/3 */
    has(html, "reference, [-1e+308, -3.333e+307): 50%");
    has(html, "current, [-3.333e+307, 3.333e+307): 100%");
    has(html, "reference, [3.333e+307, 1e+308): 50%");
    assert_null(strstr(html, "&#8734;")); /* no infinite edge */
    free(html);
    html = page("x\n0\n5e-324\n", "x\n0\n", false, false, NULL, 0);
    has(html, "in 1 equal-width bin over");
    has(html, "current, [-0.5, 0.5): 100%");
    free(html);
}

/* Categories ranked by reference share + current share: red (3/5 + 1/4),
 * blue (1/5 + 2/4), green (1/5 + 0), and the new one, pink (0 + 1/4). */
static void test_categories(void **state)
{
    const char *ref = "c,k\nred,1\nred,2\nblue,3\nred,4\ngreen,5\n";
    const char *cur = "c,k\nblue,1\npink,2\nblue,3\nred,4\n";
    char *html = page(ref, cur, false, true, NULL, 0);
    const char *red = strstr(html, "reference, red: 60%"), *blue = strstr(html, "current, blue: 50%");
    const char *pink = strstr(html, "current, pink: 25%"), *green = strstr(html, "reference, green: 20%");
    assert_non_null(red);
    assert_non_null(blue);
    assert_non_null(pink);
    assert_non_null(green);
    assert_true(red < blue && blue < pink && pink < green);
    has(html, "4 of 4 categories shown");
    has(html, "reference, pink: 0%");
    /* quality: pink is new (1 of 4 cells) */
    has(html, "1 (25%): pink");
    self_contained(html);
    free(html);
}

/* 50 categories and 5000 numbers: at most 20 groups and 30 bins drawn. */
static void test_bounded(void **state)
{
    struct cap_buf r, c;
    cap_buf_init(&r);
    cap_buf_init(&c);
    cap_buf_puts(&r, "cat,num\n");
    cap_buf_puts(&c, "cat,num\n");
    for (int i = 0; i < 5000; i++) {
        cap_buf_printf(&r, "k%d,%d.5\n", i % 50, i);
        cap_buf_printf(&c, "k%d,%d.25\n", (i * 7) % 50, i / 2);
    }
    char *html = page(r.data, c.data, true, true, NULL, 0);
    has(html, "20 of 50 categories shown");
    /* Sturges would give ceil(log2 10000) + 1 = 15 bins; both charts'
     * bars plus their legends */
    has(html, "15 equal-width bins");
    assert_int_equal(count(html, "<rect"), 20 * 2 + 2 + 15 * 2 + 2);
    assert_true(strlen(html) < 64 * 1024);
    self_contained(html);
    free(html);
    cap_buf_free(&r);
    cap_buf_free(&c);
}

static void test_errors(void **state)
{
    struct mon_frame r, c;
    parse("a\n1\n2\n", &r);
    parse("a\n1\n3\n", &c);
    struct cap_error err = {0};
    struct cap_buf b;
    cap_buf_init(&b);
    cJSON *d = cJSON_Parse("{\"columns\":[{\"column\":\"zz\",\"column_type\":\"num\"}]}");
    assert_int_equal(mon_report_html(&r, &c, d, NULL, &b, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "column 'zz'"));
    cJSON_Delete(d);
    d = cJSON_Parse("{\"dataset_drift\":true}");
    assert_int_equal(mon_report_html(&r, &c, d, NULL, &b, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "\"columns\""));
    assert_int_equal(mon_report_html(&r, &c, NULL, d, &b, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "data-quality"));
    assert_int_equal(b.len, 0); /* nothing written on a refusal */
    cJSON_Delete(d);
    cap_buf_free(&b);
    mon_frame_free(&r);
    mon_frame_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),        cmocka_unit_test(test_numeric_bins),
        cmocka_unit_test(test_constant_column), cmocka_unit_test(test_categories),
        cmocka_unit_test(test_bounded),         cmocka_unit_test(test_extreme_values),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
