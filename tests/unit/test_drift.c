/* test_drift.c - monitor/'s drift tests against Evidently 0.7.23 and scipy:
 * the binning, each test of stattest.c on small samples (every expected
 * value was printed by the Python line in the comment above it, run with
 * evidently 0.7.23, scipy 1.17, numpy 2.4), the frame readers, the column
 * typing and the report, and the bad-input errors. In the Python lines,
 * `ev(name, a, b, t)` is
 *   R._registered_stat_tests[name][t](pd.Series(a, dtype=float),
 *                                     pd.Series(b, dtype=float), t, None)
 * with R = evidently.legacy.calculations.stattests.registry and
 * t = evidently.legacy.core.ColumnType.Numerical or .Categorical. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor/monitor.h"
#include "monitor/stattest.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* r, c: small numerical samples; rcat, ccat: category codes (ccat has code 3,
 * which rcat lacks); ccat2: no new category. In the Python lines they are
 * rc, cc and cc2. */
static const double r[] = {1.2, 3.4, 2.2, 5.1, 0.3, 4.4, 2.9, 3.3, 1.7, 2.5, 4.0, 0.9};
static const double c[] = {2.1, 4.4, 5.5, 3.9, 6.1, 2.8, 4.9, 3.6, 5.2};
static const double rcat[] = {0, 1, 1, 2, 0, 1, 2, 2, 1, 0, 1, 1};
static const double ccat[] = {1, 2, 2, 3, 2, 1, 2, 0, 2, 2};
static const double ccat2[] = {1, 2, 2, 0, 2, 1, 2, 0, 2, 2};
/* > 20 values, so numerical binning uses Sturges' bins:
 * br = [(k*7%31)*0.5 for k in range(40)]; bc = [(k*5%37)*0.45+1 for k in range(30)] */
static double br[40], bc[30];

static void fill_binned(void)
{
    for (int k = 0; k < 40; k++)
        br[k] = (double)(k * 7 % 31) * 0.5;
    for (int k = 0; k < 30; k++)
        bc[k] = (double)(k * 5 % 37) * 0.45 + 1;
}

static void close_to(double got, double want)
{
    double tol = fmax(1e-12, 1e-9 * fabs(want));
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, want %.17g", got, want);
}

static struct mon_stat_result run(const char *id, const double *a, size_t na, const double *b,
                                  size_t nb, enum mon_coltype t)
{
    const struct mon_stattest *st = mon_stattest_find(id);
    assert_non_null(st);
    struct mon_sample sa = {a, na}, sb = {b, nb};
    struct mon_stat_result out;
    struct cap_error err = {0};
    assert_int_equal(st->fn(&sa, &sb, t, st->default_threshold, &out, &err), 0);
    return out;
}

static void expect(const char *id, const double *a, size_t na, const double *b, size_t nb,
                   enum mon_coltype t, double score, bool drift)
{
    struct mon_stat_result o = run(id, a, na, b, nb, t);
    close_to(o.score, score);
    assert_int_equal(o.drift, drift);
}

static void test_bins(void **state)
{
    fill_binned();
    struct mon_sample a = {br, N(br)}, b = {bc, N(bc)};
    struct mon_bins bins;
    struct cap_error err = {0};
    /* get_binned_data(pd.Series(br), pd.Series(bc), CT.Numerical, 30, True) */
    const double wr[] = {0.175, 0.125, 0.125, 0.15, 0.15, 0.125, 0.15, 0.0001};
    const double wc[] = {0.06666666666666667, 0.13333333333333333, 0.13333333333333333,
                         0.13333333333333333, 0.13333333333333333, 0.13333333333333333,
                         0.13333333333333333, 0.13333333333333333};
    assert_int_equal(mon_bins_make(&a, &b, MON_NUM, 30, true, &bins, &err), 0);
    assert_int_equal(bins.n, 8);
    for (size_t i = 0; i < bins.n; i++) {
        close_to(bins.ref[i], wr[i]);
        close_to(bins.cur[i], wc[i]);
    }
    mon_bins_free(&bins);
    /* the same, categorical, in sorted-key order:
     * get_binned_data(pd.Series(rc, dtype=float), pd.Series(cc, dtype=float),
     *                 CT.Categorical, 30, True) */
    struct mon_sample x = {rcat, N(rcat)}, y = {ccat, N(ccat)};
    const double xr[] = {0.25, 0.5, 0.25, 0.0001}, yc[] = {0.1, 0.2, 0.6, 0.1};
    assert_int_equal(mon_bins_make(&x, &y, MON_CAT, 30, true, &bins, &err), 0);
    assert_int_equal(bins.n, 4);
    for (size_t i = 0; i < 4; i++) {
        close_to(bins.ref[i], xr[i]);
        close_to(bins.cur[i], yc[i]);
    }
    mon_bins_free(&bins);
    /* without the fill, the empty bin stays 0 */
    assert_int_equal(mon_bins_make(&x, &y, MON_CAT, 30, false, &bins, &err), 0);
    assert_true(bins.ref[3] == 0);
    mon_bins_free(&bins);
    struct mon_sample empty = {NULL, 0};
    assert_int_equal(mon_bins_make(&empty, &y, MON_CAT, 30, true, &bins, &err), -CAP_EINVAL);
}

static void test_numerical(void **state)
{
    fill_binned();
    /* ev("ks", r, c, CT.Numerical) -> exact two-sample distribution */
    expect("ks", r, N(r), c, N(c), MON_NUM, 0.07849487973326982, false);
    expect("ks", br, N(br), bc, N(bc), MON_NUM, 0.5594424218214804, false);
    /* ev("wasserstein", ...) */
    expect("wasserstein", r, N(r), c, N(c), MON_NUM, 1.1511515149296065, true);
    expect("wasserstein", br, N(br), bc, N(bc), MON_NUM, 0.3995824392270009, true);
    /* ev("jensenshannon", ...) */
    expect("jensenshannon", r, N(r), c, N(c), MON_NUM, 0.7916775461306197, true);
    expect("jensenshannon", br, N(br), bc, N(bc), MON_NUM, 0.24439990771150394, true);
    /* ev("psi", ...) */
    expect("psi", r, N(r), c, N(c), MON_NUM, 12.393844317301566, true);
    expect("psi", br, N(br), bc, N(bc), MON_NUM, 1.0707251483386926, true);
    /* ev("kl_div", ...) */
    expect("kl_div", r, N(r), c, N(c), MON_NUM, 6.130792234589758, true);
    expect("kl_div", br, N(br), bc, N(bc), MON_NUM, 0.19685034365706866, true);
    /* ev("hellinger", ...) */
    expect("hellinger", r, N(r), c, N(c), MON_NUM, 0.547432299831404, true);
    expect("hellinger", br, N(br), bc, N(bc), MON_NUM, 0.19664963919558637, true);
    /* numpy never makes bins narrower than 1 for int64 data: hellinger over
     * the two values {0, 1} gets one bin for an int column, two for float:
     * R._registered_stat_tests["hellinger"][CT.Numerical](pd.Series([0,1,1,0,1], dtype=int),
     *     pd.Series([1,1,1,0], dtype=int), CT.Numerical, None) -> 0.0, and with
     * dtype=float -> 0.11380615419750022 */
    const double h1[] = {0, 1, 1, 0, 1}, h2[] = {1, 1, 1, 0};
    struct mon_sample a = {h1, 5, true}, b = {h2, 4, true};
    struct mon_stat_result o;
    struct cap_error err = {0};
    assert_int_equal(mon_st_hellinger(&a, &b, MON_NUM, 0.1, &o, &err), 0);
    close_to(o.score, 0.0);
    a.integer = b.integer = false;
    assert_int_equal(mon_st_hellinger(&a, &b, MON_NUM, 0.1, &o, &err), 0);
    close_to(o.score, 0.11380615419750022);
    assert_true(o.drift);
}

static void test_categorical(void **state)
{
    /* ev(name, rc, cc, CT.Categorical) */
    expect("jensenshannon", rcat, N(rcat), ccat, N(ccat), MON_CAT, 0.34870002770211544, true);
    expect("psi", rcat, N(rcat), ccat, N(ccat), MON_CAT, 1.4088296397875504, true);
    expect("kl_div", rcat, N(rcat), ccat, N(ccat), MON_CAT, 0.4675133327061391, true);
    expect("hellinger", rcat, N(rcat), ccat, N(ccat), MON_CAT, 0.3719677625198203, true);
    expect("z", rcat, N(rcat), ccat, N(ccat), MON_CAT, 0.3637223273807113, false);
    /* TVD: Evidently's 1000 permutations from np.random.seed(0) */
    expect("TVD", rcat, N(rcat), ccat, N(ccat), MON_CAT, 0.109, false);
    /* ev("chisquare", rc, cc2, CT.Categorical) */
    expect("chisquare", rcat, N(rcat), ccat2, N(ccat2), MON_CAT, 0.033373269960326066, true);
    /* a category the reference lacks: expected count 0, statistic inf, p 0:
     * scipy.stats.chisquare([1,5,3,1], [3*10/12, 5*10/12, 3*10/12, 0]) ->
     * (inf, 0.0) (with a divide warning) */
    expect("chisquare", rcat, N(rcat), ccat, N(ccat), MON_CAT, 0.0, true);
    /* ev("z", [0,0,1,1,1,0,1], [1,1,1,0,1,1,1,1], CT.Categorical) */
    const double a[] = {0, 0, 1, 1, 1, 0, 1}, b[] = {1, 1, 1, 0, 1, 1, 1, 1};
    expect("z", a, N(a), b, N(b), MON_CAT, 0.18470755633593683, false);
    /* one and the same value on both sides: Evidently's p = 1 */
    const double k[] = {4, 4, 4};
    expect("z", k, 3, k, 2, MON_CAT, 1.0, false);
}

/* The asymptotic K-S branch (a sample over 10000), on sequences Python and
 * C compute alike:
 * r = [math.fmod(k*0.6180339887, 1.0) for k in range(12000)]
 * c = [math.fmod(k*0.4142135623 + 0.01, 1.0)*1.02 for k in range(3000)]
 * scipy.stats.ks_2samp(r, c).pvalue -> 0.2618509908811709 (kstwo, n=2400) */
static void ks_seq(size_t nr, size_t nc, double scale, double want)
{
    double *a = malloc(nr * sizeof *a), *b = malloc(nc * sizeof *b);
    for (size_t k = 0; k < nr; k++)
        a[k] = fmod((double)k * 0.6180339887, 1.0);
    for (size_t k = 0; k < nc; k++)
        b[k] = fmod((double)k * 0.4142135623 + 0.01, 1.0) * scale;
    struct mon_stat_result o = run("ks", a, nr, b, nc, MON_NUM);
    close_to(o.score, want);
    free(a);
    free(b);
}

static void test_ks_asymptotic(void **state)
{
    ks_seq(12000, 3000, 1.02, 0.2618509908811709);
    /* the same with 30000 and 20000 values and scale 1.003 -> 0.9998176042403234 */
    ks_seq(30000, 20000, 1.003, 0.9998176042403234);
}

static void test_table(void **state)
{
    size_t n = 0;
    for (const struct mon_stattest *t = mon_stattest_all(); t->id; t++)
        n++;
    assert_true(n >= 9);
    const struct mon_stattest *ks = mon_stattest_find("ks");
    assert_string_equal(ks->display, "K-S p_value");
    assert_true(ks->num && !ks->cat && ks->pvalue);
    assert_true(mon_stattest_find("psi")->default_threshold == 0.1);
    assert_null(mon_stattest_find("nope"));
}

/* ---- frames and the report ---- */

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int read_frame(const char *name, struct mon_frame *f, struct cap_error *err)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return mon_frame_read(p, NULL, 0, f, err);
}

static int setup(void **state)
{
    strcpy(dir, "/tmp/capstan-drift-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void test_frame_csv(void **state)
{
    write_file("a.csv", "x,y,z,w\n1,1.5,a,3\n2,,\"b,c\",4\n3,inf,a,\n");
    struct mon_frame f;
    struct cap_error err = {0};
    assert_int_equal(read_frame("a.csv", &f, &err), 0);
    assert_int_equal(f.ncols, 4);
    assert_int_equal(f.nrows, 3);
    assert_int_equal(f.cols[0].dtype, MON_INT);
    assert_int_equal(f.cols[1].dtype, MON_FLOAT);
    assert_true(isnan(f.cols[1].num[1]) && isinf(f.cols[1].num[2]));
    assert_int_equal(f.cols[2].dtype, MON_TEXT);
    assert_string_equal(f.cols[2].text[1], "b,c");
    assert_int_equal(f.cols[3].dtype, MON_FLOAT); /* an int column with a gap is float */
    mon_frame_free(&f);
    /* a column that turns to text late keeps its earlier cells as text */
    write_file("b.csv", "x\n1.50\nNA\nfoo\n");
    assert_int_equal(read_frame("b.csv", &f, &err), 0);
    assert_int_equal(f.cols[0].dtype, MON_TEXT);
    assert_string_equal(f.cols[0].text[0], "1.50");
    assert_null(f.cols[0].text[1]);
    mon_frame_free(&f);
    write_file("dup.csv", "x,y,x\n1,2,3\n");
    assert_int_equal(read_frame("dup.csv", &f, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "column 'x' appears twice (columns 1 and 3)"));
    /* the first column that repeats an earlier one, read left to right */
    write_file("dup2.csv", "b,a,c,a,b,a\n1,2,3,4,5,6\n");
    assert_int_equal(read_frame("dup2.csv", &f, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "column 'a' appears twice (columns 2 and 4)"));
    write_file("bad.csv", "x,y\n1,2\n3\n");
    assert_int_equal(read_frame("bad.csv", &f, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "line 3"));
}

static void test_frame_jsonl_npy(void **state)
{
    write_file("a.jsonl", "{\"x\": 1, \"y\": \"u\"}\n{\"x\": 2.5, \"y\": null}\n");
    struct mon_frame f;
    struct cap_error err = {0};
    assert_int_equal(read_frame("a.jsonl", &f, &err), 0);
    assert_int_equal(f.nrows, 2);
    assert_int_equal(f.cols[0].dtype, MON_FLOAT);
    assert_int_equal(f.cols[1].dtype, MON_TEXT);
    assert_null(f.cols[1].text[1]);
    mon_frame_free(&f);
    /* as pandas.read_json(lines=True): 1.0 and "3" are integers, "u" text */
    write_file("c.jsonl", "{\"x\": 1.0, \"y\": \"3\", \"z\": true}\n"
                          "{\"x\": 2.0, \"y\": \"4\", \"z\": false}\n");
    assert_int_equal(read_frame("c.jsonl", &f, &err), 0);
    assert_int_equal(f.cols[0].dtype, MON_INT);
    assert_int_equal(f.cols[1].dtype, MON_INT);
    assert_true(f.cols[1].num[1] == 4);
    assert_int_equal(f.cols[2].dtype, MON_TEXT);
    assert_string_equal(f.cols[2].text[0], "True");
    mon_frame_free(&f);
    write_file("b.jsonl", "{\"x\": 1}\n{\"q\": 2}\n");
    assert_int_equal(read_frame("b.jsonl", &f, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "line 2"));
    /* numpy.save of np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]) */
    char p[128];
    snprintf(p, sizeof p, "%s/a.npy", dir);
    FILE *fp = fopen(p, "wb");
    char head[118];
    const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }";
    memset(head, ' ', sizeof head);
    memcpy(head, "\x93NUMPY\x01\x00\x6c\x00", 10); /* 108 header bytes */
    memcpy(head + 10, dict, strlen(dict));
    head[117] = '\n';
    fwrite(head, 1, sizeof head, fp);
    double v[6] = {1, 2, 3, 4, 5, 6};
    fwrite(v, sizeof v[0], 6, fp);
    fclose(fp);
    assert_int_equal(read_frame("a.npy", &f, &err), 0);
    assert_int_equal(f.ncols, 2);
    assert_string_equal(f.cols[1].name, "f1");
    assert_true(f.cols[1].num[2] == 6);
    mon_frame_free(&f);
}

static cJSON *report(const char *ref, const char *cur, const struct mon_drift_options *o,
                     struct cap_error *err, int *rc)
{
    struct mon_frame a, b;
    cJSON *out = NULL;
    assert_int_equal(read_frame(ref, &a, err), 0);
    assert_int_equal(read_frame(cur, &b, err), 0);
    *rc = mon_drift(&a, &b, o, &out, err);
    mon_frame_free(&a);
    mon_frame_free(&b);
    return out;
}

static void test_report(void **state)
{
    /* x: float -> ks; k: int with 3 values -> categorical, chisquare;
     * s: text with 2 values -> z */
    write_file("r.csv", "x,k,s\n1.2,1,a\n3.4,2,b\n2.2,1,a\n5.1,3,a\n0.3,1,b\n4.4,2,a\n"
                        "2.9,3,a\n3.3,2,b\n1.7,1,a\n2.5,1,a\n4.0,2,b\n0.9,1,a\n");
    write_file("c.csv", "x,k,s\n2.1,2,b\n4.4,3,b\nnan,1,b\n5.5,3,a\n3.9,3,b\n6.1,2,b\n"
                        "2.8,3,a\n4.9,3,b\n3.6,2,b\n5.2,3,b\n");
    struct mon_drift_options o = {.drift_share = 0.5};
    struct cap_error err = {0};
    int rc;
    cJSON *j = report("r.csv", "c.csv", &o, &err, &rc);
    assert_int_equal(rc, 0);
    cJSON *cols = cJSON_GetObjectItem(j, "columns");
    assert_int_equal(cJSON_GetArraySize(cols), 3);
    cJSON *x = cJSON_GetArrayItem(cols, 0), *k = cJSON_GetArrayItem(cols, 1),
          *s = cJSON_GetArrayItem(cols, 2);
    assert_string_equal(cJSON_GetObjectItem(x, "column")->valuestring, "x");
    assert_string_equal(cJSON_GetObjectItem(x, "stattest")->valuestring, "ks");
    /* NaN dropped: ev("ks", r, c, CT.Numerical) above */
    close_to(cJSON_GetObjectItem(x, "drift_score")->valuedouble, 0.07849487973326982);
    assert_string_equal(cJSON_GetObjectItem(k, "column_type")->valuestring, "cat");
    assert_string_equal(cJSON_GetObjectItem(k, "stattest")->valuestring, "chisquare");
    assert_string_equal(cJSON_GetObjectItem(s, "stattest")->valuestring, "z");
    /* ev("chisquare", [1,2,1,3,1,2,3,2,1,1,2,1], [2,3,1,3,3,2,3,3,2,3], CT.Categorical)
     *   -> 0.0007101743888425501
     * ev("z", list("abaabaabaaba"), list("bbbabbabbb"), CT.Categorical)
     *   -> 0.02860696714121902 */
    close_to(cJSON_GetObjectItem(k, "drift_score")->valuedouble, 0.0007101743888425501);
    close_to(cJSON_GetObjectItem(s, "drift_score")->valuedouble, 0.02860696714121902);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "dataset_drift")));
    assert_int_equal(cJSON_GetObjectItem(j, "number_of_drifted_columns")->valueint, 2);
    cJSON_Delete(j);

    /* overrides: psi for x, threshold 0.0001 for k (p 0.00071: no drift), so
     * 2 of 3 columns drift, below a drift share of 0.9 */
    struct mon_override st[] = {{"x", "psi"}}, th[] = {{"k", "0.0001"}};
    struct mon_drift_options o2 = {.drift_share = 0.9, .stattest_col = st, .n_stattest_col = 1,
                                   .threshold_col = th, .n_threshold_col = 1};
    j = report("r.csv", "c.csv", &o2, &err, &rc);
    assert_int_equal(rc, 0);
    cols = cJSON_GetObjectItem(j, "columns");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cols, 0), "stattest")->valuestring,
                        "psi");
    close_to(cJSON_GetObjectItem(cJSON_GetArrayItem(cols, 0), "drift_score")->valuedouble,
             12.393844317301566);
    cJSON *k2 = cJSON_GetArrayItem(cols, 1);
    assert_true(cJSON_GetObjectItem(k2, "stattest_threshold")->valuedouble == 0.0001);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(k2, "drift_detected")));
    assert_int_equal(cJSON_GetObjectItem(j, "number_of_drifted_columns")->valueint, 2);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(j, "dataset_drift")));
    cJSON_Delete(j);
}

static void expect_error(const char *ref, const char *cur, const struct mon_drift_options *o,
                         const char *needle)
{
    struct cap_error err = {0};
    int rc;
    cJSON *j = report(ref, cur, o, &err, &rc);
    assert_null(j);
    assert_int_equal(rc, -CAP_EINVAL);
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' lacks '%s'", err.msg, needle);
}

static void test_errors(void **state)
{
    write_file("r.csv", "x,s\n1.5,a\n2.5,b\n3.5,a\n");
    write_file("c.csv", "x,s\n1.0,a\n2.0,b\n3.0,a\n4.0,a\n");
    write_file("other.csv", "x,t\n1.0,a\n");
    write_file("empty.csv", "x,s\n");
    write_file("text.csv", "x,s\nfoo,a\n2.0,b\n3.0,a\n4.0,a\n");
    struct mon_drift_options o = {.drift_share = 0.5};
    expect_error("r.csv", "other.csv", &o, "is in the reference data (");
    expect_error("r.csv", "empty.csv", &o, "the current data (/");
    expect_error("r.csv", "empty.csv", &o, "empty.csv) has no rows");
    expect_error("empty.csv", "c.csv", &o, "the reference data (/");
    const char *num[] = {"s"};
    struct mon_drift_options on = {.drift_share = 0.5, .numerical = num, .n_numerical = 1};
    expect_error("r.csv", "c.csv", &on,
                 "r.csv: line 2: column 's' is named numerical but holds text ('a')");
    expect_error("r.csv", "text.csv", &o, "text.csv: line 2: column 'x' holds text ('foo')");
    struct mon_drift_options os = {.drift_share = 0.5, .stattest = "bogus"};
    expect_error("r.csv", "c.csv", &os, "unknown stattest 'bogus'");
    struct mon_drift_options ok = {.drift_share = 0.5, .stattest = "ks"};
    expect_error("r.csv", "c.csv", &ok, "does not apply to categorical column 's'");
    struct mon_drift_options ot = {.drift_share = 0.5, .threshold = "1.5"};
    expect_error("r.csv", "c.csv", &ot, "out of range");
    struct mon_drift_options od = {.drift_share = 1.5};
    expect_error("r.csv", "c.csv", &od, "drift share");
    const char *cols[] = {"x", "nope"};
    struct mon_drift_options oc = {.drift_share = 0.5, .columns = cols, .n_columns = 2};
    expect_error("r.csv", "c.csv", &oc, "column 'nope'");
    /* columns are tested on several threads: with every column failing,
     * the error is still the first column's, run after run */
    write_file("t3.csv", "p,q,u,v\na,b,c,d\na,b,c,d\n");
    const char *all[] = {"p", "q", "u", "v"};
    struct mon_drift_options o4 = {.drift_share = 0.5, .numerical = all, .n_numerical = 4};
    for (int i = 0; i < 20; i++)
        expect_error("t3.csv", "t3.csv", &o4, "column 'p' is named numerical");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bins),
        cmocka_unit_test(test_numerical),
        cmocka_unit_test(test_categorical),
        cmocka_unit_test(test_ks_asymptotic),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_frame_csv),
        cmocka_unit_test(test_frame_jsonl_npy),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
