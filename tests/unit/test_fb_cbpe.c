/* test_fb_cbpe.c - feedback/cbpe.h's API beyond what the nannyml comparison
 * (tests/feedback/test_cbpe.py) reaches: one window equals the same rows as
 * a chunk, nannyml's chunk bounds, metric lists, and refusals through the
 * API (NULL arrays, masks, sizes) without a crash. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feedback/feedback.h"

#define N 3000

/* A deterministic miscalibrated model (so the calibrator runs): row i's
 * score from a fixed LCG, the truth a Bernoulli draw of a sharper curve. */
struct data {
    double p[N], pred[N], truth[N];
};

static void make(struct data *d, uint64_t seed)
{
    for (int i = 0; i < N; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(seed >> 11) / 9007199254740992.0;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        double v = (double)(seed >> 11) / 9007199254740992.0;
        double x = 4 * u - 2, q = 1 / (1 + exp(-2 * x));
        d->p[i] = 1 / (1 + exp(-(3.6 * x + 0.7)));
        d->pred[i] = d->p[i] >= 0.5;
        d->truth[i] = v < q;
    }
}

static fb_cbpe *fit(const struct data *d, size_t chunk)
{
    struct fb_cbpe_rows r = {d->p, d->pred, d->truth, N};
    struct fb_cbpe_opts o = {chunk, FB_CBPE_ALL};
    struct cap_error err = {0};
    fb_cbpe *m = NULL;
    assert_int_equal(fb_cbpe_fit(&r, &o, &m, &err), 0);
    return m;
}

static void test_window_equals_chunk(void **state)
{
    static struct data d;
    make(&d, 1);
    fb_cbpe *m = fit(&d, 700);
    assert_true(fb_cbpe_calibrated(m, NULL, NULL));
    struct fb_cbpe_rows r = {d.p, d.pred, NULL, N};
    struct fb_cbpe_chunk *ch;
    size_t nc;
    struct cap_error err = {0};
    assert_int_equal(fb_cbpe_estimate(m, &r, &ch, &nc, &err), 0);
    assert_int_equal(nc, 5); /* 4 x 700 + 200 */
    assert_int_equal(ch[4].start, 2800);
    assert_int_equal(ch[4].end, 2999);
    struct fb_cbpe_rows w = {d.p + 700, d.pred + 700, NULL, 700};
    struct fb_cbpe_result res;
    assert_int_equal(fb_cbpe_window(m, &w, &res, &err), 0);
    assert_int_equal(res.n, 700);
    for (int k = 0; k < FB_CBPE_NMETRICS; k++) {
        assert_memory_equal(&res.m[k].value, &ch[1].r.m[k].value, sizeof(double));
        assert_memory_equal(&res.m[k].sampling_error, &ch[1].r.m[k].sampling_error,
                            sizeof(double));
        assert_true(isnan(res.m[k].realized));
        assert_int_equal(res.m[k].alert, ch[1].r.m[k].alert);
        double lo, hi;
        fb_cbpe_thresholds(m, k, &lo, &hi);
        assert_memory_equal(&lo, &res.m[k].lower_threshold, sizeof lo);
        assert_true(res.m[k].lower_bound <= res.m[k].value);
        assert_true(res.m[k].upper_bound >= res.m[k].value);
    }
    free(ch);
    fb_cbpe_free(m);
}

static void test_chunk_bounds(void **state)
{
    size_t s, len;
    assert_int_equal(fb_cbpe_nchunks(10, 3), 4);
    fb_cbpe_chunk_bounds(10, 3, 3, &s, &len);
    assert_int_equal(s, 9);
    assert_int_equal(len, 1);
    assert_int_equal(fb_cbpe_nchunks(9, 3), 3);
    assert_int_equal(fb_cbpe_nchunks(2, 5), 1);
    fb_cbpe_chunk_bounds(2, 5, 0, &s, &len);
    assert_int_equal(len, 2);
    assert_int_equal(fb_cbpe_nchunks(5, 0), 0);
}

static void test_metric_names(void **state)
{
    unsigned mask;
    struct cap_error err = {0};
    assert_int_equal(fb_cbpe_parse_metrics("roc_auc,confusion_matrix", &mask, &err), 0);
    assert_int_equal(mask, FB_CBPE_BIT(FB_CBPE_ROC_AUC) | FB_CBPE_CONFUSION_MATRIX);
    assert_int_equal(fb_cbpe_parse_metrics("f1,false_negative", &mask, &err), 0);
    assert_int_equal(mask, FB_CBPE_BIT(FB_CBPE_F1) | FB_CBPE_BIT(FB_CBPE_FALSE_NEGATIVE));
    assert_int_equal(fb_cbpe_parse_metrics("f1,,auc", &mask, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "unknown CBPE metric ''"));
    assert_int_equal(fb_cbpe_parse_metrics("", &mask, &err), -CAP_EINVAL);
    assert_int_equal(fb_cbpe_parse_metrics(NULL, &mask, &err), -CAP_EINVAL);
    assert_string_equal(fb_cbpe_metric_name(FB_CBPE_TRUE_NEGATIVE), "true_negative");
    assert_null(fb_cbpe_metric_name(FB_CBPE_NMETRICS));
}

static void test_api_refusals(void **state)
{
    static struct data d;
    make(&d, 2);
    struct cap_error err = {0};
    fb_cbpe *m = (fb_cbpe *)&err; /* must be reset to NULL on failure */
    struct fb_cbpe_rows r = {d.p, d.pred, d.truth, N};
    struct fb_cbpe_opts o = {100, 0};
    assert_int_equal(fb_cbpe_fit(&r, &o, &m, &err), -CAP_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.msg, "empty"));
    o.metrics = 1u << 20;
    assert_int_equal(fb_cbpe_fit(&r, &o, &m, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "out of range"));
    assert_int_equal(fb_cbpe_fit(&r, NULL, &m, &err), -CAP_EINVAL);
    o.metrics = FB_CBPE_ALL;
    struct fb_cbpe_rows no_truth = {d.p, d.pred, NULL, N};
    assert_int_equal(fb_cbpe_fit(&no_truth, &o, &m, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "lacks the true classes"));
    struct fb_cbpe_rows no_pred = {d.p, NULL, d.truth, N};
    assert_int_equal(fb_cbpe_fit(&no_pred, &o, &m, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "lacks the predicted classes"));
    assert_int_equal(fb_cbpe_fit(NULL, &o, &m, &err), -CAP_EINVAL);
    m = fit(&d, 100);
    struct fb_cbpe_result res;
    struct fb_cbpe_rows empty = {d.p, d.pred, NULL, 0};
    assert_int_equal(fb_cbpe_window(m, &empty, &res, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "window has no rows"));
    double bad[2] = {0.5, INFINITY}, pred[2] = {1, 1};
    struct fb_cbpe_rows inf = {bad, pred, NULL, 2};
    assert_int_equal(fb_cbpe_window(m, &inf, &res, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "window row 1: probability inf is not in [0, 1]"));
    fb_cbpe_free(m);
    fb_cbpe_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_equals_chunk),
        cmocka_unit_test(test_chunk_bounds),
        cmocka_unit_test(test_metric_names),
        cmocka_unit_test(test_api_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
