/* test_data_table.c - data/table.c and data/schema.c: the statistics are
 * numpy's doubles bit for bit (quantiles, min, max; the expected values
 * below are numpy 2.4's, as hex floats), the profile decodes as a baseline
 * profile and is the same bytes whole or by column groups, rows are named
 * by their file lines, and a malformed schema names the member at fault. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/table.h"
#include "fixture.h"
#include "monitor/monitor.h"
#include "monitor/profile.h"

/* pandas.read_csv(...).describe() of this file: see the hex floats below. */
static const char *const STATS_CSV =
    "v,n,t\n0.1,3,b\n0.7,-8,a\n,12,b\n2.3,5,c\n-1.9,5,a\n3.3333333333333335,7,\n1e-3,0,c\n"
    "7.25,1,d\n,2,a\n0.30000000000000004,9,b\n5.5,11,c\n2.2,4,e\n9.9,6,f\n";

struct dir {
    char path[256];
};

static int setup(void **state)
{
    struct dir *d = calloc(1, sizeof *d);
    if (!d || !fixture_tmpdir(d->path, sizeof d->path, "data-table"))
        return -1;
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    struct dir *d = *state;
    fixture_rm_rf(d->path);
    free(d);
    return 0;
}

/* Writes text to <dir>/name; out gets the path. */
static void put(const struct dir *d, const char *name, const char *text, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", d->path, name);
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static double num(const cJSON *col, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(col, key);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void assert_rel(double got, double want, double rel)
{
    if (!(fabs(got - want) <= rel * fabs(want)))
        fail_msg("%.17g is not %.17g within %g", got, want, rel);
}

static void test_describe_bit_for_bit(void **state)
{
    char p[300];
    put(*state, "s.csv", STATS_CSV, p, sizeof p);
    struct data_table t;
    struct cap_error err = {0};
    assert_int_equal(data_table_profile(p, NULL, 0, &t, &err), 0);
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(t.summary, "columns");
    const cJSON *v = cJSON_GetArrayItem(cols, 0), *n = cJSON_GetArrayItem(cols, 1),
                *tx = cJSON_GetArrayItem(cols, 2);
    assert_true(num(v, "min") == -0x1.e666666666666p+0 && num(v, "max") == 0x1.3cccccccccccdp+3);
    assert_true(num(v, "p25") == 0x1.999999999999ap-3);
    assert_true(num(v, "p50") == 0x1.199999999999ap+1);
    assert_true(num(v, "p75") == 0x1.1aaaaaaaaaaabp+2);
    assert_rel(num(v, "mean"), 2.6985757575757576, 1e-15);
    assert_rel(num(v, "std"), 3.5518754172687395, 1e-15);
    assert_true(num(v, "count") == 11 && num(v, "missing") == 2 && num(v, "distinct") == 11);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(v, "type")->valuestring, "float");
    assert_true(num(n, "p25") == 2 && num(n, "p50") == 5 && num(n, "p75") == 7);
    assert_rel(num(n, "std"), 5.204780839741823, 1e-15);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(n, "type")->valuestring, "integer");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(n, "nullable")));
    /* value_counts(): b, a, c tie at 3 and keep the order they first appear in */
    char *top = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(tx, "top"));
    assert_string_equal(top, "[[\"b\",3],[\"a\",3],[\"c\",3],[\"d\",1],[\"e\",1],[\"f\",1]]");
    free(top);
    assert_true(num(tx, "distinct") == 6 && num(tx, "missing") == 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(tx, "mean")));
    data_table_free(&t);
}

/* The profile is a baseline's: it decodes, counts what the summary counts,
 * and profiles free text as categories; by column groups it is the same
 * bytes, and so is the summary. */
static void test_profile_whole_and_grouped(void **state)
{
    struct cap_buf csv;
    cap_buf_init(&csv);
    cap_buf_puts(&csv, "id,x,label\n");
    for (int i = 0; i < 3000; i++)
        cap_buf_printf(&csv, "row-%d,%s,%s\n", i, i % 7 ? "" : "1.5", i % 3 ? "cat" : "dog");
    char p[300];
    put(*state, "p.csv", csv.data, p, sizeof p);
    cap_buf_free(&csv);
    struct data_table whole, grouped;
    struct cap_error err = {0};
    assert_int_equal(data_table_profile(p, NULL, 0, &whole, &err), 0);
    assert_int_equal(whole.groups, 0);
    if (data_table_profile(p, NULL, 250000, &grouped, &err) != 0)
        fail_msg("%s", err.msg);
    assert_true(grouped.groups > 1);
    assert_int_equal(whole.profile.len, grouped.profile.len);
    assert_memory_equal(whole.profile.data, grouped.profile.data, whole.profile.len);
    assert_true(cJSON_Compare(whole.summary, grouped.summary, true));
    struct mon_profile mp;
    assert_int_equal(mon_profile_decode(whole.profile.data, whole.profile.len, &mp, &err), 0);
    assert_int_equal(mp.rows, 3000);
    assert_int_equal(mp.ncols, 3);
    assert_string_equal(mp.cols[0].name, "id");
    assert_int_equal(mp.cols[0].kind, MON_PROF_CAT); /* free text, not refused */
    assert_int_equal(mp.cols[0].ncat, 3000);
    assert_int_equal(mp.cols[1].missing, 3000 - 429);
    assert_true(mp.cols[1].n_finite == 429 && mp.cols[1].mean == 1.5);
    assert_int_equal(mp.cols[2].ncat, 2);
    mon_profile_free(&mp);
    data_table_free(&whole);
    data_table_free(&grouped);
    /* a budget below one column's needs says so */
    assert_int_equal(data_table_profile(p, NULL, 1000, &whole, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "a memory budget of 1000 bytes is too small: column 'id'"));
    assert_null(whole.summary);
}

static void test_row_lines(void **state)
{
    char p[300], j[300];
    put(*state, "l.csv", "a,b\n1,x\n\n2,\"two\nlines\"\r\n3,y\n\n\n4,z\n", p, sizeof p);
    size_t rows[] = {0, 1, 2, 3, 9}, lines[5];
    struct cap_error err = {0};
    assert_int_equal(mon_frame_row_lines(p, rows, 5, lines, &err), 0);
    assert_true(lines[0] == 2 && lines[1] == 4 && lines[2] == 6 && lines[3] == 9);
    assert_int_equal(lines[4], 0); /* past the end */
    put(*state, "l.jsonl", "{\"a\":1}\n  \n{\"a\":2}\n{\"a\":3}", j, sizeof j);
    assert_int_equal(mon_frame_row_lines(j, rows + 1, 2, lines, &err), 0);
    assert_true(lines[0] == 3 && lines[1] == 4);
    put(*state, "q.csv", "a\n\"open\n", p, sizeof p);
    assert_int_equal(mon_frame_row_lines(p, rows, 1, lines, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "line 2: unterminated quote"));
}

static void parse_fails(const char *doc, const char *msg)
{
    struct data_schema *s = (void *)1;
    struct cap_error err = {0};
    assert_int_equal(data_schema_parse("s.json", doc, strlen(doc), &s, &err), -CAP_EINVAL);
    assert_null(s);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("'%s' gave '%s', expected '%s'", doc, err.msg, msg);
}

static void test_schema_errors(void **state)
{
    (void)state;
    parse_fails("{\"columns\": {\"a\": {\"type\": 3}}}",
                "s.json: column 'a': \"type\" is not a string (expected \"integer\", \"float\" "
                "or \"string\")");
    parse_fails("{\"columns\": {\"a\": {\"max\": 1, \"max\": 2}}}",
                "s.json: column 'a': \"max\" is given twice");
    parse_fails("{\"columns\": {\"a\": {}, \"a\": {}}}",
                "s.json: \"columns\": \"a\" is given twice");
    parse_fails("{\"rows\": 3}", "s.json: \"rows\": expected an object {\"min\": n, \"max\": n}");
    parse_fails("{\"rows\": {}, \"rows\": {}}", "s.json: \"rows\" is given twice");
    parse_fails("{\"columns\": {\"a\": 1}}", "s.json: column 'a': expected an object of rules "
                "(type, nullable, min, max, allowed, unique)");
    parse_fails("{\"unique\": [[\"a\"], \"b\"]}", "s.json: \"unique\" must be a non-empty list "
                "of column names, or a list of such lists");
    parse_fails("{\"rows\": {\"min\": 1.5}}",
                "s.json: \"rows\": \"min\" must be a whole number of rows, 0 or more");
    parse_fails("{\"rows\": {\"min\": 3, \"max\": 2}}", "s.json: \"rows\": min 3 is above max 2");
    parse_fails("\n\n{\"columns\": ", "s.json: line 3: not valid JSON");
    struct data_schema *s;
    struct cap_error err = {0};
    const char *ok = "{\"columns\": {\"a\": {\"type\": \"string\", \"nullable\": true, "
                     "\"allowed\": [\"x\", 1]}}, \"unique\": [\"a\", \"b\"], \"rows\": {}}";
    assert_int_equal(data_schema_parse("s.json", ok, strlen(ok), &s, &err), 0);
    data_schema_free(s);
}

/* Violations in their order (rows, missing columns, column rules, keys),
 * missing equal to missing in a key, numbers allowed by value. */
static void test_violations(void **state)
{
    char p[300];
    put(*state, "v.csv", "k,v,w\n1,1.0,\n2,2,a\n,3e0,\n,x,a\n", p, sizeof p);
    const char *doc = "{\"rows\": {\"max\": 3}, \"columns\": {\"v\": {\"allowed\": [\"1\", 2, 3]}, "
                      "\"gone\": {}}, \"unique\": [[\"k\"], [\"k\", \"w\"], [\"w\", \"zz\"]]}";
    struct data_schema *s;
    struct cap_error err = {0};
    assert_int_equal(data_schema_parse("s.json", doc, strlen(doc), &s, &err), 0);
    struct data_table t;
    assert_int_equal(data_table_profile(p, s, 0, &t, &err), 0);
    /* (k, w) is unique: (1, -), (2, a), (-, -), (-, a); the key on w and
     * zz is left to zz's own violation */
    const char *want[] = {"rows", "column", "column", "allowed", "unique"};
    assert_int_equal(cJSON_GetArraySize(t.violations), 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(
                                cJSON_GetArrayItem(t.violations, i), "rule")->valuestring,
                            want[i]);
    const cJSON *v = cJSON_GetArrayItem(t.violations, 3);
    char msg[512];
    snprintf(msg, sizeof msg, "%s: column 'v': 1 row not among the allowed values [1, 2, 3] (row 4 "
             "at line 5)", p);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(v, "message")->valuestring, msg);
    snprintf(msg, sizeof msg, "%s: column 'k': 1 row repeating an earlier row's value (row 4 at "
             "line 5)", p);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(t.violations, 4),
                                                         "message")->valuestring, msg);
    v = cJSON_GetArrayItem(t.violations, 2);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(v, "columns"), 0)
                            ->valuestring, "zz");
    data_table_free(&t);
    data_schema_free(s);
}

static void test_is_table_and_empty(void **state)
{
    assert_true(data_table_is_table("a/b.CSV") && data_table_is_table("x.ndjson"));
    assert_true(data_table_is_table("x.jsonl") && data_table_is_table("x.npy"));
    assert_false(data_table_is_table("x.parquet") || data_table_is_table("csv"));
    char p[300];
    put(*state, "e.csv", "a,b\n", p, sizeof p);
    struct data_table t;
    struct cap_error err = {0};
    assert_int_equal(data_table_profile(p, NULL, 0, &t, &err), 0);
    assert_int_equal(t.profile.len, 0);
    assert_true(num(t.summary, "rows") == 0);
    assert_int_equal(cJSON_GetArraySize(t.violations), 0);
    data_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_describe_bit_for_bit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_whole_and_grouped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_lines, setup, teardown),
        cmocka_unit_test(test_schema_errors),
        cmocka_unit_test_setup_teardown(test_violations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_is_table_and_empty, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
