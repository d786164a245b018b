/* test_quality.c - monitor/quality.c on small frames read from CSV text,
 * every number checked against the count worked out by hand in the comment
 * beside it: missing shares, unseen categories, values out of range,
 * constant columns, type mismatches, duplicated rows, the thresholds'
 * effect on the verdicts, and the bad-input errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "monitor/monitor.h"

static void parse(const char *csv, struct mon_frame *f)
{
    struct cap_error err = {0};
    int rc = mon_frame_parse("t.csv", MON_FORMAT_CSV, csv, strlen(csv), NULL, 0, f, &err);
    if (rc < 0)
        fail_msg("parse: %s", err.msg);
}

static cJSON *quality(const char *ref_csv, const char *cur_csv,
                      const struct mon_quality_options *o)
{
    struct mon_frame r, c;
    parse(ref_csv, &r);
    parse(cur_csv, &c);
    cJSON *q = NULL;
    struct cap_error err = {0};
    int rc = mon_quality(&r, &c, o, &q, &err);
    mon_frame_free(&r);
    mon_frame_free(&c);
    if (rc < 0)
        fail_msg("mon_quality: %s", err.msg);
    return q;
}

static const cJSON *column(const cJSON *q, const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(q, "columns"))
        if (strcmp(cJSON_GetObjectItem(c, "column")->valuestring, name) == 0)
            return c;
    fail_msg("no column %s", name);
    return NULL;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("%s is not a number", key);
    return v->valuedouble;
}

static bool flag(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (!cJSON_IsBool(v))
        fail_msg("%s is not a bool", key);
    return cJSON_IsTrue(v);
}

static void close_to(double got, double want)
{
    if (!(fabs(got - want) <= 1e-15))
        fail_msg("got %.17g, want %.17g", got, want);
}

/* The failed checks, joined by commas. */
static void expect_failed(const cJSON *col, const char *want)
{
    char got[256] = "";
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(col, "failed"))
    {
        if (got[0])
            strcat(got, ",");
        strcat(got, f->valuestring);
    }
    assert_string_equal(got, want);
}

/* x: float; color: text with one empty cell in the reference; flag: int
 * codes, checked as categories when named so; k: constant in both; c:
 * constant in the current only. The current's 5th row repeats its 2nd. */
static const char REF[] = "x,color,flag,k,c\n"
                          "1.0,red,1,7,1\n"
                          "2.0,blue,0,7,2\n"
                          "3.0,red,1,7,1\n"
                          "4.0,,0,7,2\n"
                          "5.0,green,1,7,1\n";
static const char CUR[] = "x,color,flag,k,c\n"
                          "0.5,red,1,7,1\n"
                          "2.5,purple,2,7,1\n"
                          ",red,1,7,1\n"
                          "9.0,purple,3,7,1\n"
                          "2.5,purple,2,7,1\n"
                          "2.5,pink,2,7,1\n";

static void test_defaults(void **state)
{
    struct mon_quality_options o;
    mon_quality_defaults(&o);
    const char *cat[] = {"flag"};
    o.categorical = cat;
    o.n_categorical = 1;
    cJSON *q = quality(REF, CUR, &o);

    const cJSON *x = column(q, "x");
    assert_string_equal(cJSON_GetObjectItem(x, "type_reference")->valuestring, "float");
    assert_string_equal(cJSON_GetObjectItem(x, "type_current")->valuestring, "float");
    assert_false(flag(x, "type_mismatch"));
    close_to(num(x, "missing_share_reference"), 0);
    close_to(num(x, "missing_share_current"), 1.0 / 6); /* one empty x of 6 rows */
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(x, "new_categories")));
    /* range [1, 5]; current non-missing 0.5 2.5 9 2.5 2.5: 0.5 and 9 out */
    const cJSON *oor = cJSON_GetObjectItem(x, "out_of_range");
    close_to(num(oor, "count"), 2);
    close_to(num(oor, "share"), 2.0 / 5);
    close_to(num(oor, "min"), 1);
    close_to(num(oor, "max"), 5);
    expect_failed(x, "missing,out_of_range");

    const cJSON *color = column(q, "color");
    close_to(num(color, "missing_share_reference"), 1.0 / 5);
    close_to(num(color, "missing_share_current"), 0);
    /* purple x3 and pink x1 are new, of 6 non-missing cells */
    const cJSON *nc = cJSON_GetObjectItem(color, "new_categories");
    close_to(num(nc, "count"), 4);
    close_to(num(nc, "distinct"), 2);
    close_to(num(nc, "share"), 4.0 / 6);
    const cJSON *ex = cJSON_GetObjectItem(nc, "examples");
    assert_int_equal(cJSON_GetArraySize(ex), 2);
    assert_string_equal(cJSON_GetArrayItem(ex, 0)->valuestring, "purple");
    assert_string_equal(cJSON_GetArrayItem(ex, 1)->valuestring, "pink");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(color, "out_of_range")));
    expect_failed(color, "new_categories");

    /* flag as categories: reference {0, 1}; current 1 2 1 3 2 2: 2 x3, 3 x1 new */
    const cJSON *fl = column(q, "flag");
    assert_string_equal(cJSON_GetObjectItem(fl, "type_reference")->valuestring, "int");
    nc = cJSON_GetObjectItem(fl, "new_categories");
    close_to(num(nc, "count"), 4);
    close_to(num(nc, "distinct"), 2);
    close_to(num(nc, "share"), 4.0 / 6);
    ex = cJSON_GetObjectItem(nc, "examples");
    close_to(cJSON_GetArrayItem(ex, 0)->valuedouble, 2);
    close_to(cJSON_GetArrayItem(ex, 1)->valuedouble, 3);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(fl, "out_of_range")));
    assert_false(flag(fl, "constant_reference"));
    expect_failed(fl, "new_categories");

    const cJSON *k = column(q, "k");
    assert_true(flag(k, "constant_reference"));
    assert_true(flag(k, "constant_current"));
    close_to(num(cJSON_GetObjectItem(k, "out_of_range"), "count"), 0);
    expect_failed(k, "");

    const cJSON *c = column(q, "c");
    assert_false(flag(c, "constant_reference"));
    assert_true(flag(c, "constant_current"));
    expect_failed(c, "constant");

    /* row 5 repeats row 2 in the current; the reference has no repeat */
    const cJSON *d = cJSON_GetObjectItem(q, "duplicated_rows");
    close_to(num(d, "count"), 1);
    close_to(num(d, "share"), 1.0 / 6);
    close_to(num(d, "count_reference"), 0);
    close_to(num(d, "share_reference"), 0);
    assert_true(flag(d, "failed"));

    assert_false(flag(q, "passed"));
    close_to(num(q, "number_of_columns"), 5);
    close_to(num(q, "number_of_failed_columns"), 4);
    const cJSON *t = cJSON_GetObjectItem(q, "thresholds");
    close_to(num(t, "missing_share"), 0.1);
    close_to(num(t, "new_category_share"), 0);
    close_to(num(t, "out_of_range_share"), 0);
    close_to(num(t, "duplicated_rows_share"), 0);
    assert_true(flag(t, "constant"));
    cJSON_Delete(q);
}

/* The same data with looser thresholds: every check passes. */
static void test_thresholds(void **state)
{
    struct mon_quality_options o;
    mon_quality_defaults(&o);
    o.missing_share = 0.2;       /* 1/6 missing is within */
    o.new_category_share = 0.7;  /* 4/6 new is within */
    o.out_of_range_share = 0.4;  /* 2/5 is not above 0.4 */
    o.duplicated_rows_share = 0.2;
    o.constant = false;
    const char *cols[] = {"x", "color", "c"};
    o.columns = cols;
    o.n_columns = 3;
    cJSON *q = quality(REF, CUR, &o);
    assert_true(flag(q, "passed"));
    close_to(num(q, "number_of_columns"), 3);
    close_to(num(q, "number_of_failed_columns"), 0);
    expect_failed(column(q, "x"), "");
    expect_failed(column(q, "color"), "");
    expect_failed(column(q, "c"), "");
    assert_false(flag(cJSON_GetObjectItem(q, "duplicated_rows"), "failed"));
    cJSON_Delete(q);

    /* missing fails only when the current is worse than the reference too:
     * 1/4 missing now against 2/4 before passes at the default 0.1 */
    q = quality("a,b\n1,1\n,2\n,3\n4,4\n", "a,b\n1,1\n2,2\n,3\n4,4\n", NULL);
    const cJSON *a = column(q, "a");
    close_to(num(a, "missing_share_reference"), 0.5);
    close_to(num(a, "missing_share_current"), 0.25);
    expect_failed(a, "");
    cJSON_Delete(q);
}

/* Numbers in the reference, text in the current, and the other way. */
static void test_type_mismatch(void **state)
{
    cJSON *q = quality("v,w\n1,a\n2,b\n3,c\n", "v,w\n1,1\nabc,2\n,3\n7,4\n", NULL);
    const cJSON *v = column(q, "v");
    assert_string_equal(cJSON_GetObjectItem(v, "type_reference")->valuestring, "int");
    assert_string_equal(cJSON_GetObjectItem(v, "type_current")->valuestring, "text");
    assert_true(flag(v, "type_mismatch"));
    close_to(num(v, "unreadable_cells"), 1);          /* "abc" */
    close_to(num(v, "missing_share_current"), 0.25);  /* the empty cell */
    /* range [1, 3]; the readable cells 1 and 7: 7 is out */
    const cJSON *oor = cJSON_GetObjectItem(v, "out_of_range");
    close_to(num(oor, "count"), 1);
    close_to(num(oor, "share"), 0.5);
    expect_failed(v, "type_mismatch,missing,out_of_range");

    const cJSON *w = column(q, "w");
    assert_true(flag(w, "type_mismatch"));
    close_to(num(w, "unreadable_cells"), 0); /* a number reads as text */
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(w, "new_categories")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(w, "out_of_range")));
    expect_failed(w, "type_mismatch");
    assert_false(flag(q, "passed"));
    cJSON_Delete(q);
}

/* Infinities in the current are out of range; NaN rows are duplicates of
 * each other; a reference with no finite value has no range. */
static void test_edges(void **state)
{
    cJSON *q = quality("a,b,z\n1,x,\n2,y,\n", "a,b,z\ninf,x,\n,y,\n,y,\n-inf,x,\n", NULL);
    const cJSON *a = column(q, "a");
    const cJSON *oor = cJSON_GetObjectItem(a, "out_of_range");
    close_to(num(oor, "count"), 2);
    close_to(num(oor, "share"), 1);
    assert_false(flag(a, "constant_current")); /* inf and -inf differ */
    const cJSON *z = column(q, "z");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(z, "out_of_range")));
    close_to(num(z, "missing_share_current"), 1);
    assert_false(flag(z, "constant_reference")); /* no value at all */
    expect_failed(z, ""); /* all missing, but no worse than the reference */
    const cJSON *d = cJSON_GetObjectItem(q, "duplicated_rows");
    close_to(num(d, "count"), 1); /* (NaN, y, NaN) twice */
    close_to(num(d, "share"), 0.25);
    cJSON_Delete(q);
}

/* More than 10 new values keep 10 examples, in the order first seen; many
 * rows exercise the hash tables' growth. */
static void test_many(void **state)
{
    struct cap_buf r, c;
    cap_buf_init(&r);
    cap_buf_init(&c);
    cap_buf_puts(&r, "id,cat\n");
    cap_buf_puts(&c, "id,cat\n");
    for (int i = 0; i < 1000; i++)
        cap_buf_printf(&r, "%d,k%d\n", i, i % 50);
    /* ids 0..299 repeat, so 700 of 1000 rows are duplicates; categories
     * n0..n11 are new (12 distinct, rows where i % 60 >= 48: 12 in each
     * of the 16 whole cycles of 60, none in the last 40 rows: 192) */
    for (int i = 0; i < 1000; i++)
        cap_buf_printf(&c, "%d,%c%d\n", i % 300, i % 60 < 48 ? 'k' : 'n',
                       i % 60 < 48 ? i % 48 : i % 60 - 48);
    cJSON *q = quality(r.data, c.data, NULL);
    const cJSON *nc = cJSON_GetObjectItem(column(q, "cat"), "new_categories");
    close_to(num(nc, "count"), 192);
    close_to(num(nc, "distinct"), 12);
    close_to(num(nc, "share"), 0.192);
    const cJSON *ex = cJSON_GetObjectItem(nc, "examples");
    assert_int_equal(cJSON_GetArraySize(ex), 10);
    assert_string_equal(cJSON_GetArrayItem(ex, 0)->valuestring, "n0");
    assert_string_equal(cJSON_GetArrayItem(ex, 9)->valuestring, "n9");
    const cJSON *d = cJSON_GetObjectItem(q, "duplicated_rows");
    /* (i % 300, cat(i)) repeats when cat(i) does: count by brute force */
    size_t dup = 0;
    for (int i = 0; i < 1000; i++)
        for (int j = 0; j < i; j++) {
            int ci = i % 60 < 48 ? i % 48 : 100 + i % 60 - 48;
            int cj = j % 60 < 48 ? j % 48 : 100 + j % 60 - 48;
            if (i % 300 == j % 300 && ci == cj) {
                dup++;
                break;
            }
        }
    close_to(num(d, "count"), (double)dup);
    close_to(num(d, "count_reference"), 0);
    cJSON_Delete(q);
    cap_buf_free(&r);
    cap_buf_free(&c);
}

/* With the drift report: its columns are the ones checked, and an integer
 * column it typed categorical (3 values) is checked for new values. */
static void test_from_drift(void **state)
{
    const char *ref = "v,f\n1.5,0\n2.5,1\n3.5,0\n4.5,1\n";
    const char *cur = "v,f\n2.0,2\n3.0,1\n5.0,0\n2.5,1\n";
    struct mon_frame r, c;
    parse(ref, &r);
    parse(cur, &c);
    struct cap_error err = {0};
    cJSON *d = NULL, *q = NULL;
    struct mon_drift_options dopt = {.drift_share = 0.5};
    assert_int_equal(mon_drift(&r, &c, &dopt, &d, &err), 0);
    struct mon_quality_options o;
    mon_quality_defaults(&o);
    o.drift = d;
    assert_int_equal(mon_quality(&r, &c, &o, &q, &err), 0);
    const cJSON *f = column(q, "f");
    const cJSON *nc = cJSON_GetObjectItem(f, "new_categories");
    close_to(num(nc, "count"), 1); /* the 2 */
    close_to(num(nc, "share"), 0.25);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(f, "out_of_range")));
    const cJSON *oor = cJSON_GetObjectItem(column(q, "v"), "out_of_range");
    close_to(num(oor, "count"), 1); /* 5.0 above 4.5 */
    close_to(num(oor, "share"), 0.25);
    cJSON_Delete(q);
    cJSON_Delete(d);

    const char *only[] = {"v"};
    dopt.columns = only;
    dopt.n_columns = 1;
    assert_int_equal(mon_drift(&r, &c, &dopt, &d, &err), 0);
    o.drift = d;
    assert_int_equal(mon_quality(&r, &c, &o, &q, &err), 0);
    close_to(num(q, "number_of_columns"), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(q, "columns"), 0),
                                            "column")->valuestring, "v");
    cJSON_Delete(q);
    cJSON_Delete(d);
    mon_frame_free(&r);
    mon_frame_free(&c);
}

static void expect_error(const char *ref_csv, const char *cur_csv,
                         const struct mon_quality_options *o, const char *needle)
{
    struct mon_frame r, c;
    parse(ref_csv, &r);
    parse(cur_csv, &c);
    cJSON *q = NULL;
    struct cap_error err = {0};
    assert_int_equal(mon_quality(&r, &c, o, &q, &err), -CAP_EINVAL);
    assert_null(q);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    mon_frame_free(&r);
    mon_frame_free(&c);
}

static void test_errors(void **state)
{
    expect_error("a\n", "a\n1\n", NULL, "the reference data (t.csv) has no rows");
    expect_error("a\n1\n", "a\n", NULL, "the current data (t.csv) has no rows");
    expect_error("a,b\n1,2\n", "a\n1\n", NULL, "column 'b' is in the reference");
    expect_error("a\n1\n", "a,b\n1,2\n", NULL, "column 'b' is in the current");
    struct mon_quality_options o;
    mon_quality_defaults(&o);
    o.missing_share = 1.5;
    expect_error("a\n1\n", "a\n1\n", &o, "missing-share threshold 1.5");
    mon_quality_defaults(&o);
    o.out_of_range_share = NAN;
    expect_error("a\n1\n", "a\n1\n", &o, "out-of-range-share");
    mon_quality_defaults(&o);
    const char *cols[] = {"nope"};
    o.columns = cols;
    o.n_columns = 1;
    expect_error("a\n1\n", "a\n1\n", &o, "column 'nope'");
    mon_quality_defaults(&o);
    o.categorical = cols;
    o.n_categorical = 1;
    expect_error("a\n1\n", "a\n1\n", &o, "categorical list names column 'nope'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_type_mismatch), cmocka_unit_test(test_edges),
        cmocka_unit_test(test_many),          cmocka_unit_test(test_from_drift),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
