/* test_fb_metrics.c - feedback/metrics.h's edges that the driver's
 * probabilities cannot reach: scores of both signs (the ranking's second
 * path), -0.0 tied with 0.0, the API's NULL and error contracts. The
 * numbers were taken from scikit-learn 1.9.1 (roc_auc_score,
 * average_precision_score) on the same rows. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "feedback/feedback.h"

static void rank(const int32_t *y, const double *s, size_t n, struct fb_ranking *r)
{
    struct cap_error err = {0};
    assert_int_equal(fb_rank_binary(y, 1, s, 1, n, r, &err), 0);
}

/* Mixed signs take the split sort and the merge walk; the same order
 * shifted positive takes the packed sort: both give sklearn's numbers. */
static void test_rank_both_signs_and_ties(void **state)
{
    (void)state;
    int32_t y[] = {1, 0, 1, 0, 1, 0};
    double s[] = {2, 2, -1, -1, 0.5, -3}, shifted[6];
    for (int i = 0; i < 6; i++)
        shifted[i] = s[i] + 10;
    struct fb_ranking a, b;
    rank(y, s, 6, &a);
    rank(y, shifted, 6, &b);
    assert_true(a.roc_auc == 0.6666666666666666 && b.roc_auc == a.roc_auc);
    assert_true(fabs(a.avg_precision - 0.5888888888888889) < 1e-15);
    assert_true(b.avg_precision == a.avg_precision);
    assert_int_equal(a.positives, 3);
    assert_int_equal(a.negatives, 3);
    assert_int_equal(a.notes, 0);
}

static void test_rank_negative_zero_ties_zero(void **state)
{
    (void)state;
    int32_t y[] = {1, 0, 0};
    double s[] = {-0.0, 0.0, -1};
    struct fb_ranking r;
    rank(y, s, 3, &r); /* both signs: split path */
    assert_true(r.roc_auc == 0.75 && r.avg_precision == 0.5);
    rank(y, s, 2, &r); /* one sign after -0.0 -> 0.0: packed path */
    assert_true(r.roc_auc == 0.5 && r.avg_precision == 0.5);
}

static void test_rank_refusals(void **state)
{
    (void)state;
    int32_t y[] = {1, 0};
    double s[] = {0.5, NAN};
    struct fb_ranking r;
    struct cap_error err = {0};
    assert_int_equal(fb_rank_binary(y, 1, s, 1, 2, &r, &err), -CAP_EINVAL);
    assert_string_equal(err.msg, "score[1] = nan: scores must be finite numbers");
    assert_int_equal(fb_rank_binary(y, 1, s, 1, 0, &r, &err), -CAP_EINVAL);
    assert_int_equal(fb_rank_binary(y, 1, NULL, 1, 2, &r, &err), -CAP_EINVAL);
}

static void test_cls_defaults_and_error_leaves_out_freeable(void **state)
{
    (void)state;
    int32_t yt[] = {0, 1, 1}, yp[] = {0, 1, 0};
    struct fb_cls_input in = {.n = 3, .k = 2, .y_true = yt, .y_pred = yp};
    struct fb_cls_metrics m;
    struct cap_error err = {0};
    assert_int_equal(fb_cls_compute(&in, NULL, &m, &err), 0);
    assert_true(m.binary.recall == 0.5 && m.binary.precision == 1.0); /* pos_class 1 */
    assert_true(isnan(m.roc_auc) && isnan(m.log_loss));
    assert_int_equal(m.notes, FB_NOTE_NO_PROBA);
    fb_cls_metrics_free(&m);
    in.y_pred = NULL;
    assert_int_equal(fb_cls_compute(&in, NULL, &m, &err), -CAP_EINVAL);
    assert_string_equal(err.msg, "y_true and y_pred are required");
    assert_null(m.confusion);
    fb_cls_metrics_free(&m);
}

/* zero_division=NaN on every class in the average: _nanaverage of nothing. */
static void test_cls_all_nan_average(void **state)
{
    (void)state;
    int32_t yt[] = {0, 0}, yp[] = {1, 1};
    struct fb_cls_input in = {.n = 2, .k = 2, .y_true = yt, .y_pred = yp};
    struct fb_cls_opts o;
    fb_cls_opts_init(&o);
    o.zero_division = NAN;
    struct fb_cls_metrics m;
    assert_int_equal(fb_cls_compute(&in, &o, &m, NULL), 0);
    /* class 0: precision 0/0 (NaN), recall 0/2; class 1: precision 0/2,
     * recall 0/0 (NaN): each average skips the NaN */
    assert_true(m.macro.precision == 0.0 && m.macro.recall == 0.0 && m.macro.f1 == 0.0);
    assert_true(isnan(m.binary.recall));
    assert_true(m.notes & FB_NOTE_ZERO_DIVISION);
    fb_cls_metrics_free(&m);
}

static void test_note_names(void **state)
{
    (void)state;
    assert_string_equal(fb_note_name(FB_NOTE_R2_CONSTANT), "r2_constant");
    assert_string_equal(fb_note_name(FB_NOTE_ZERO_DIVISION), "zero_division");
    assert_null(fb_note_name(3));
    assert_null(fb_note_name(1u << FB_NOTE_COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank_both_signs_and_ties),
        cmocka_unit_test(test_rank_negative_zero_ties_zero),
        cmocka_unit_test(test_rank_refusals),
        cmocka_unit_test(test_cls_defaults_and_error_leaves_out_freeable),
        cmocka_unit_test(test_cls_all_nan_average),
        cmocka_unit_test(test_note_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
