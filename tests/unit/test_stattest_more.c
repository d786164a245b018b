/* test_stattest_more.c - the drift tests of monitor/stattest_more.c against
 * numbers computed with scipy 1.17 / Evidently 0.7.23 (the one-liner that
 * produced each is beside it; X and Y below are
 * X = [(i*37%101)/10 for i in range(40)], Y = [(i*53%97)/9 for i in range(30)],
 * built here with the same integer arithmetic so the doubles are equal),
 * plus the error paths: too few values, samples where the test is undefined. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/stattest.h"

#define LEN(a) (sizeof(a) / sizeof *(a))

static double X[40], Y[30], Y4[30], M5[40], M7[30];

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < 40; i++) {
        X[i] = (double)(i * 37 % 101) / 10;
        M5[i] = (double)(i % 5);
    }
    for (int i = 0; i < 30; i++) {
        Y[i] = (double)(i * 53 % 97) / 9;
        Y4[i] = Y[i] + 4;
        M7[i] = (double)(i % 7);
    }
    return 0;
}

static struct mon_sample S(const double *v, size_t n)
{
    return (struct mon_sample){v, n};
}

/* Runs fn and checks the score within 1e-9 relative (1e-12 absolute near
 * zero) and the verdict. */
static void expect(mon_stattest_fn fn, struct mon_sample r, struct mon_sample c,
                   enum mon_coltype type, double thr, double want, bool drift)
{
    struct mon_stat_result out = {0};
    struct cap_error err = {0};
    int rc = fn(&r, &c, type, thr, &out, &err);
    if (rc)
        print_error("unexpected error: %s\n", err.msg);
    assert_int_equal(rc, 0);
    if (isnan(want)) {
        assert_true(isnan(out.score));
    } else {
        double d = fabs(out.score - want);
        if (!(d <= 1e-9 * fabs(want) || d <= 1e-12))
            print_error("score %.17g, want %.17g\n", out.score, want);
        assert_true(d <= 1e-9 * fabs(want) || d <= 1e-12);
    }
    assert_int_equal(out.drift, drift);
}

static void expect_error(mon_stattest_fn fn, struct mon_sample r, struct mon_sample c,
                         const char *needle)
{
    struct mon_stat_result out = {0};
    struct cap_error err = {0};
    assert_int_equal(fn(&r, &c, MON_NUM, 0.05, &out, &err), -CAP_EINVAL);
    if (!strstr(err.msg, needle))
        print_error("message '%s' lacks '%s'\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
}

static void test_t_test(void **state)
{
    (void)state;
    const double a[] = {1, 2, 3, 4}, b[] = {2.5, 3.5, 5};
    /* ttest_ind([1,2,3,4],[2.5,3.5,5]).pvalue */
    expect(mon_st_t_test, S(a, 4), S(b, 3), MON_NUM, 0.05, 0.28559094064520124, false);
    /* ttest_ind(X,Y).pvalue */
    expect(mon_st_t_test, S(X, 40), S(Y, 30), MON_NUM, 0.05, 0.9248894909238363, false);
    /* ttest_ind(X,[y+4 for y in Y]).pvalue */
    expect(mon_st_t_test, S(X, 40), S(Y4, 30), MON_NUM, 0.05, 1.3621734329642873e-06, true);
    /* ttest_ind([0.1]*3,[0.1]*5).pvalue: numpy's mean of three 0.1 is
     * 0.10000000000000002, so scipy sees a tiny variance and a t of 1.9 */
    const double c1[] = {0.1, 0.1, 0.1, 0.1, 0.1};
    expect(mon_st_t_test, S(c1, 3), S(c1, 5), MON_NUM, 0.05, 0.10093165756342971, false);
    /* ttest_ind([1.0]*3,[2.0]*2).pvalue: t = -inf */
    const double ones[] = {1, 1, 1}, twos[] = {2, 2};
    expect(mon_st_t_test, S(ones, 3), S(twos, 2), MON_NUM, 0.05, 0.0, true);
    /* ttest_ind([1.0],[2.0,3.0]).pvalue: one value has variance 0 */
    const double one[] = {1}, two3[] = {2, 3};
    expect(mon_st_t_test, S(one, 1), S(two3, 2), MON_NUM, 0.05, 0.33333333333333337, false);
    /* ttest_ind([1.0],[2.0]).pvalue is nan (df = 0): no drift, as Evidently */
    expect(mon_st_t_test, S(one, 1), S(two3, 1), MON_NUM, 0.05, NAN, false);
    expect_error(mon_st_t_test, S(one, 0), S(two3, 2), "at least 1 value");
}

static void test_mannw(void **state)
{
    (void)state;
    const double a[] = {1, 2, 3, 4}, b[] = {2.5, 3.5, 5};
    /* exact: mannwhitneyu([1,2,3,4],[2.5,3.5,5],alternative='less').pvalue */
    expect(mon_st_mannw, S(a, 4), S(b, 3), MON_NUM, 0.05, 0.2, false);
    /* exact: mannwhitneyu(X[:12],[0.55,2.05,7.15],alternative='less').pvalue */
    const double c[] = {0.55, 2.05, 7.15};
    expect(mon_st_mannw, S(X, 12), S(c, 3), MON_NUM, 0.05, 0.6835164835164835, false);
    /* ties, normal approximation:
     * mannwhitneyu([i%5 for i in range(40)],[i%7 for i in range(30)],alternative='less').pvalue */
    expect(mon_st_mannw, S(M5, 40), S(M7, 30), MON_NUM, 0.05, 0.05142727139189855, false);
    /* mannwhitneyu(X,[y+4 for y in Y],alternative='less').pvalue and reversed */
    expect(mon_st_mannw, S(X, 40), S(Y4, 30), MON_NUM, 0.05, 7.796166041471059e-06, true);
    expect(mon_st_mannw, S(Y4, 30), S(X, 40), MON_NUM, 0.05, 0.9999926125684581, false);
    /* all equal: mannwhitneyu([2.0]*4,[2.0]*6,alternative='less').pvalue */
    const double k[] = {2, 2, 2, 2, 2, 2};
    expect(mon_st_mannw, S(k, 4), S(k, 6), MON_NUM, 0.05, 1.0, false);
    expect_error(mon_st_mannw, S(k, 4), S(k, 0), "at least 1 value");
}

static void test_anderson(void **state)
{
    (void)state;
    /* anderson_ksamp([X,Y]).pvalue: capped at 0.25 */
    expect(mon_st_anderson, S(X, 40), S(Y, 30), MON_NUM, 0.1, 0.25, false);
    /* anderson_ksamp([[i%5 for i in range(40)],[i%7 for i in range(30)]]).pvalue */
    expect(mon_st_anderson, S(M5, 40), S(M7, 30), MON_NUM, 0.1, 0.028793322531671977, true);
    /* anderson_ksamp([[1.0,2,3,4,5],[3.0,7,8,9]]).pvalue */
    const double a[] = {1, 2, 3, 4, 5}, b[] = {3, 7, 8, 9};
    expect(mon_st_anderson, S(a, 5), S(b, 4), MON_NUM, 0.1, 0.053220394329468665, true);
    /* anderson_ksamp([X,[y+4 for y in Y]]).pvalue: floored at 0.001 */
    expect(mon_st_anderson, S(X, 40), S(Y4, 30), MON_NUM, 0.1, 0.001, true);
    /* anderson_ksamp([[1.0,2.0],[3.0]]).pvalue is nan (N = 3) */
    expect(mon_st_anderson, S(a, 2), S(b, 1), MON_NUM, 0.1, NAN, false);
    /* scipy raises: one distinct value; two values in all */
    const double k[] = {2, 2, 2};
    expect_error(mon_st_anderson, S(k, 3), S(k, 2), "two distinct values");
    expect_error(mon_st_anderson, S(a, 1), S(b, 1), "at least 3 values");
    expect_error(mon_st_anderson, S(a, 0), S(b, 4), "at least 1 value");
}

static void test_cramer_von_mises(void **state)
{
    (void)state;
    /* exact (<= 20 values each). Evidently's own exact path is broken under
     * numpy 2 (float16 / uint8 counts), so these are the correct exact
     * p-values of scipy: cramervonmises_2samp([1.0,2,3,4,5],[3.5,7,8,9]).pvalue */
    const double a[] = {1, 2, 3, 4, 5}, b[] = {3.5, 7, 8, 9};
    expect(mon_st_cramer_von_mises, S(a, 5), S(b, 4), MON_NUM, 0.1, 0.06349206349206349, true);
    /* cramervonmises_2samp(X[:12],Y[:20]).pvalue */
    expect(mon_st_cramer_von_mises, S(X, 12), S(Y, 20), MON_NUM, 0.1, 0.9947920403499065,
           false);
    /* asymptotic, Evidently's code:
     * cramer_von_mises_stattest._cvm_2samp(X,Y).pvalue */
    expect(mon_st_cramer_von_mises, S(X, 40), S(Y, 30), MON_NUM, 0.1, 0.9998864256820101,
           false);
    /* Evidently's verdict is p <= threshold: p = 0.0634... at threshold exactly */
    expect(mon_st_cramer_von_mises, S(a, 5), S(b, 4), MON_NUM, 0.06349206349206349,
           0.06349206349206349, true);
    expect_error(mon_st_cramer_von_mises, S(a, 1), S(b, 4), "at least 2 values");
}

static void test_ed(void **state)
{
    (void)state;
    const double a[] = {1, 2, 3, 4}, b[] = {2.5, 3.5, 5};
    /* energy_distance([1,2,3,4],[2.5,3.5,5]) */
    expect(mon_st_ed, S(a, 4), S(b, 3), MON_NUM, 0.1, 0.8975274678557507, true);
    /* energy_distance([i%5 for i in range(40)],[i%7 for i in range(30)]) */
    expect(mon_st_ed, S(M5, 40), S(M7, 30), MON_NUM, 0.6, 0.5517648452415618, false);
    /* energy_distance(X,[y+4 for y in Y]) */
    expect(mon_st_ed, S(X, 40), S(Y4, 30), MON_NUM, 0.1, 1.6144085030793214, true);
    /* one constant against itself: 0, no drift */
    expect(mon_st_ed, S(a, 1), S(a, 1), MON_NUM, 0.1, 0.0, false);
    expect_error(mon_st_ed, S(a, 0), S(b, 3), "at least 1 value");
}

/* codes of a sample: value i of the pattern repeated, for categorical tests */
static void fill(double *v, size_t n, const int *pattern, size_t np)
{
    for (size_t i = 0; i < n; i++)
        v[i] = pattern[i % np];
}

static void test_fisher_exact(void **state)
{
    (void)state;
    const double r[] = {0, 0, 1, 1, 1, 0, 1, 1, 0, 0}, c[] = {1, 1, 1, 1, 1, 0, 1, 1, 1, 1};
    /* Evidently: _fisher_exact_stattest(pd.Series([0,0,1,1,1,0,1,1,0,0]),
     *   pd.Series([1,1,1,1,1,0,1,1,1,1]),None,0.1) */
    expect(mon_st_fisher_exact, S(r, 10), S(c, 10), MON_CAT, 0.1, 0.14086687306501547, false);
    /* sizes differ (Evidently raises; Fisher's test does not care): ref 15
     * zeros 5 ones, cur 1 zero 9 ones: fisher_exact([[9,1],[5,15]]).pvalue */
    double r2[20], c2[10];
    for (int i = 0; i < 20; i++)
        r2[i] = i < 5 ? 1 : 0;
    for (int i = 0; i < 10; i++)
        c2[i] = i < 9 ? 1 : 0;
    expect(mon_st_fisher_exact, S(r2, 20), S(c2, 10), MON_CAT, 0.1, 0.0013659836748292518, true);
    /* large tables, where a product of binomial coefficients would overflow:
     * fisher_exact([[750,2250],[600,2400]]).pvalue and
     * fisher_exact([[30500,69500],[30000,70000]]).pvalue */
    double *rb = malloc(100000 * sizeof *rb), *cb = malloc(100000 * sizeof *cb);
    for (int i = 0; i < 3000; i++)
        rb[i] = i < 600, cb[i] = i < 750;
    expect(mon_st_fisher_exact, S(rb, 3000), S(cb, 3000), MON_CAT, 0.1, 4.026180884074993e-06,
           true);
    for (int i = 0; i < 100000; i++)
        rb[i] = i < 30000, cb[i] = i < 30500;
    expect(mon_st_fisher_exact, S(rb, 100000), S(cb, 100000), MON_CAT, 0.1,
           0.015134745404810003, true);
    free(rb);
    free(cb);
    /* one category: Evidently's placeholder column is empty, p = 1:
     * _fisher_exact_stattest(pd.Series([3,3,3]),pd.Series([3,3,3]),None,0.1) */
    const double z[] = {0, 0, 0};
    expect(mon_st_fisher_exact, S(z, 3), S(z, 3), MON_CAT, 0.1, 1.0, false);
    const double three[] = {0, 1, 2};
    struct mon_sample a = S(three, 3), b = S(r, 10);
    struct mon_stat_result out;
    struct cap_error err = {0};
    assert_int_equal(mon_st_fisher_exact(&a, &b, MON_CAT, 0.1, &out, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "binary"));
    const double frac[] = {0.5, 1};
    expect_error(mon_st_fisher_exact, S(frac, 2), S(r, 10), "category codes");
}

static void test_g_test(void **state)
{
    (void)state;
    static const int p3[] = {0, 1, 2};
    double r[30], c[30];
    fill(r, 30, p3, 3);
    fill(c, 20, p3, 3);
    for (int i = 20; i < 30; i++)
        c[i] = 0;
    /* equal sizes, Evidently: _g_stat_test(pd.Series([i%3 for i in range(30)]),
     *   pd.Series([i%3 for i in range(20)]+[0]*10),None,0.1) */
    expect(mon_st_g_test, S(r, 30), S(c, 30), MON_CAT, 0.1, 0.031461147161434805, true);
    /* sizes differ (Evidently fails under scipy >= 1.9): the reference scaled
     * to the current total,
     * power_divergence([7,7,6],[10*20/30]*3,lambda_='log-likelihood').pvalue */
    expect(mon_st_g_test, S(r, 30), S(c, 20), MON_CAT, 0.1, 0.9503744592448058, false);
    /* a category the reference lacks: G = inf, p = 0:
     * power_divergence([9,5,6],[10,10,0],lambda_='log-likelihood').pvalue */
    double r3[24], c3[20];
    for (int i = 0; i < 24; i++)
        r3[i] = i < 12 ? 0 : 1;
    for (int i = 0; i < 20; i++)
        c3[i] = i < 9 ? 0 : i < 14 ? 1 : 2;
    expect(mon_st_g_test, S(r3, 24), S(c3, 20), MON_CAT, 0.1, 0.0, true);
    /* one category: chi-square with 0 degrees of freedom, nan, no drift:
     * _g_stat_test(pd.Series(['a']*5),pd.Series(['a']*5),None,0.1) */
    const double z[] = {0, 0, 0, 0, 0};
    expect(mon_st_g_test, S(z, 5), S(z, 5), MON_CAT, 0.1, NAN, false);
    expect_error(mon_st_g_test, S(z, 0), S(z, 5), "at least 1 value");
    const double big[] = {7};
    expect_error(mon_st_g_test, S(big, 1), S(z, 1), "category codes");
}

static void test_es(void **state)
{
    (void)state;
    /* epps_singleton_2samp(X,Y).pvalue */
    expect(mon_st_es, S(X, 40), S(Y, 30), MON_NUM, 0.05, 0.9739924089324151, false);
    /* epps_singleton_2samp(X,[y+4 for y in Y]).pvalue */
    expect(mon_st_es, S(X, 40), S(Y4, 30), MON_NUM, 0.05, 2.7855266282542326e-06, true);
    /* under 25 values each, scipy's small-sample correction:
     * epps_singleton_2samp(X[:10],Y[:12]).pvalue */
    expect(mon_st_es, S(X, 10), S(Y, 12), MON_NUM, 0.05, 0.990718764672075, false);
    /* under 5 values: epps_singleton_2samp(X[:4],Y).pvalue is nan, no drift */
    expect(mon_st_es, S(X, 4), S(Y, 30), MON_NUM, 0.05, NAN, false);
    /* Evidently raises when iqr(np.hstack((ref, cur))) == 0: iqr([1.0]*6+[2.0]) */
    const double k[] = {1, 1, 1, 1, 1, 1}, two[] = {2};
    expect_error(mon_st_es, S(k, 6), S(two, 1), "interquartile range");
}

static void test_empirical_mmd(void **state)
{
    (void)state;
    struct mon_stat_result out, again;
    struct cap_error err = {0};
    /* a permutation p-value: Evidently's with 20000 permutations instead of
     * 100 (np.random.seed(0); X=..., Y=[y+1 for y in Y] as columns;
     * k=kernel_matrix(X,Y) with its diagonal zeroed; s=mmd_2samp(k,30);
     * mean([s <= mmd_2samp(k,30,permute=True) for _ in range(20000)])) is
     * 0.6713; ours uses 100 seeded permutations, so within 3 standard errors
     * (0.15), and the same on every run */
    double y1[30];
    for (int i = 0; i < 30; i++)
        y1[i] = Y[i] + 1;
    struct mon_sample r = S(X, 40), c = S(y1, 30);
    assert_int_equal(mon_st_empirical_mmd(&r, &c, MON_NUM, 0.1, &out, &err), 0);
    assert_true(fabs(out.score - 0.6713) <= 0.15);
    assert_false(out.drift);
    assert_int_equal(mon_st_empirical_mmd(&r, &c, MON_NUM, 0.1, &again, &err), 0);
    assert_true(out.score == again.score);
    /* constant samples: every split has the same MMD, p = 1 exactly:
     * mmd_pval(np.full((5,1),2.5), np.full((4,1),2.5))[0] */
    const double k[] = {2.5, 2.5, 2.5, 2.5, 2.5};
    expect(mon_st_empirical_mmd, S(k, 5), S(k, 4), MON_NUM, 0.1, 1.0, false);
    /* far apart: no split beats the observed one:
     * mmd_pval(np.arange(30.0).reshape(-1,1), np.arange(30.0).reshape(-1,1)+100)[0] */
    double a[30], b[30];
    for (int i = 0; i < 30; i++)
        a[i] = i, b[i] = i + 100;
    expect(mon_st_empirical_mmd, S(a, 30), S(b, 30), MON_NUM, 0.1, 0.0, true);
    /* Evidently divides by n(n-1): one value is a ZeroDivisionError there */
    expect_error(mon_st_empirical_mmd, S(a, 1), S(b, 30), "at least 2 values");
    /* O((n+m)^2) kernel terms per permutation: more than 20000 values is
     * refused */
    double *big = calloc(20001, sizeof *big);
    expect_error(mon_st_empirical_mmd, S(big, 10001), S(big, 10000), "at most 20000");
    free(big);
}

/* The table rows, as Evidently 0.7 registers each test (display_name,
 * allowed_feature_types, default_threshold in
 * evidently/legacy/calculations/stattests/<file>.py). */
static void test_table_rows(void **state)
{
    (void)state;
    static const struct {
        const char *id, *display;
        bool num, cat, pvalue;
        double thr;
        mon_stattest_fn fn;
    } want[] = {
        {"anderson", "Anderson-Darling", true, false, true, 0.1, mon_st_anderson},
        {"cramer_von_mises", "Cramer-von Mises", true, false, true, 0.1,
         mon_st_cramer_von_mises},
        {"mannw", "Mann-Whitney U-rank test", true, false, true, 0.05, mon_st_mannw},
        {"ed", "Energy-distance", true, false, false, 0.1, mon_st_ed},
        {"es", "Epps-Singleton", true, false, true, 0.05, mon_st_es},
        {"t_test", "t_test", true, false, true, 0.05, mon_st_t_test},
        {"fisher_exact", "Fisher's Exact test", false, true, true, 0.1, mon_st_fisher_exact},
        {"g_test", "g_test", false, true, true, 0.1, mon_st_g_test},
        {"empirical_mmd", "empirical_mmd", true, false, true, 0.1, mon_st_empirical_mmd},
    };
    for (size_t i = 0; i < LEN(want); i++) {
        const struct mon_stattest *t = mon_stattest_find(want[i].id);
        assert_non_null(t);
        assert_string_equal(t->display, want[i].display);
        assert_int_equal(t->num, want[i].num);
        assert_int_equal(t->cat, want[i].cat);
        assert_int_equal(t->pvalue, want[i].pvalue);
        assert_true(t->default_threshold == want[i].thr);
        assert_true(t->fn == want[i].fn);
    }
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* mon_sort (radix) against qsort at the sizes the sketch and the tests
 * use, with runs of ties, sorted and reversed input and negative values. */
static void test_sort_paths(void **state)
{
    uint64_t seed = 7;
    size_t sizes[] = {0, 1, 2, 3, 16, 17, 100, 1024, 4096, 4097, 20000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int shape = 0; shape < 4; shape++) {
            size_t n = sizes[s];
            double *v = malloc((n + 1) * sizeof *v), *w = malloc((n + 1) * sizeof *w);
            for (size_t i = 0; i < n; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                double r = (double)(seed >> 11) / 9007199254740992.0 - 0.5;
                v[i] = shape == 0 ? r : shape == 1 ? (double)((seed >> 20) % 5) - 2
                     : shape == 2 ? (double)i : -(double)i;
            }
            memcpy(w, v, n * sizeof *v);
            mon_sort(v, n);
            qsort(w, n, sizeof *w, cmp_dbl);
            for (size_t i = 0; i < n; i++)
                assert_true(v[i] == w[i]);
            free(v);
            free(w);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_paths),
        cmocka_unit_test(test_t_test),
        cmocka_unit_test(test_mannw),
        cmocka_unit_test(test_anderson),
        cmocka_unit_test(test_cramer_von_mises),
        cmocka_unit_test(test_ed),
        cmocka_unit_test(test_fisher_exact),
        cmocka_unit_test(test_g_test),
        cmocka_unit_test(test_es),
        cmocka_unit_test(test_empirical_mmd),
        cmocka_unit_test(test_table_rows),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
