/* test_profile.c - monitor/'s profiles: the quantile sketch's rank error
 * against its stated bound (10^6 values, and merged halves), its binary
 * form; profiles merged equal to the profile of the union; the binary
 * form's round trip, truncations and byte flips; drift from profiles
 * against mon_drift on the same rows (categorical scores equal, numeric
 * Wasserstein and K-S within their stated bounds); quality from profiles
 * against mon_quality; the bad-input errors. */
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
#include "monitor/profile.h"

/* ---- deterministic data ---- */

static uint64_t rng = 88172645463325252ull;

static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1p-53;
}

/* Roughly normal: a sum of 4 uniforms, centred, scaled. */
static double normalish(double mean, double sd)
{
    double s = uniform() + uniform() + uniform() + uniform() - 2.0;
    return mean + sd * s * 1.7320508075688772;
}

static const char *const cats[] = {"apple", "banana", "cherry", "date", "elder"};

/* Columns: x (float), y (float, 5% missing, a few infinities), k (int, 4
 * values), c (text, 5 categories, some missing). shift moves x, skews c. */
static void make_frame(struct mon_frame *f, size_t n, double shift)
{
    memset(f, 0, sizeof *f);
    f->path = cap_xstrdup("mem");
    f->nrows = n;
    f->ncols = 4;
    f->cols = cap_xcalloc(4, sizeof *f->cols);
    const char *names[] = {"x", "y", "k", "c"};
    for (int i = 0; i < 4; i++) {
        f->cols[i].name = cap_xstrdup(names[i]);
        f->cols[i].dtype = i == 2 ? MON_INT : i == 3 ? MON_TEXT : MON_FLOAT;
        if (i < 3)
            f->cols[i].num = cap_xmalloc(n * sizeof(double));
    }
    f->cols[3].text = cap_xcalloc(n, sizeof(char *));
    for (size_t r = 0; r < n; r++) {
        f->cols[0].num[r] = normalish(shift, 1.0);
        double u = uniform();
        f->cols[1].num[r] = u < 0.05 ? NAN : u > 0.999 ? INFINITY : 100 * u * u;
        f->cols[2].num[r] = floor(uniform() * 4);
        double v = uniform();
        size_t ci = (size_t)(pow(v, 1 + shift) * 5);
        f->cols[3].text[r] = uniform() < 0.02 ? NULL : cap_xstrdup(cats[ci < 5 ? ci : 4]);
    }
}

/* Rows [from, to) of f as a new frame. */
static void slice(const struct mon_frame *f, size_t from, size_t to, struct mon_frame *out)
{
    memset(out, 0, sizeof *out);
    out->path = cap_xstrdup("slice");
    out->nrows = to - from;
    out->ncols = f->ncols;
    out->cols = cap_xcalloc(f->ncols, sizeof *out->cols);
    for (size_t c = 0; c < f->ncols; c++) {
        const struct mon_column *k = &f->cols[c];
        struct mon_column *o = &out->cols[c];
        o->name = cap_xstrdup(k->name);
        o->dtype = k->dtype;
        if (k->num) {
            o->num = cap_xmalloc((to - from + 1) * sizeof(double));
            memcpy(o->num, k->num + from, (to - from) * sizeof(double));
        }
        if (k->text) {
            o->text = cap_xcalloc(to - from + 1, sizeof(char *));
            for (size_t r = from; r < to; r++)
                o->text[r - from] = k->text[r] ? cap_xstrdup(k->text[r]) : NULL;
        }
    }
}

static struct mon_drift_options defaults(void)
{
    struct mon_drift_options o = {0};
    o.drift_share = 0.5;
    return o;
}

static void profile_of(const struct mon_profile *layout, const struct mon_frame *f,
                       struct mon_profile *p)
{
    struct cap_error err = {0};
    mon_profile_empty_like(layout, p);
    assert_int_equal(mon_profile_add(p, f, &err), 0);
}

/* ---- the sketch ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* How far the value the sketch gives for rank q is from rank q n: 0 when
 * q n lies between the counts of values < v and <= v. */
static double rank_error(const double *sorted, size_t n, double v, double q)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (sorted[m] < v)
            lo = m + 1;
        else
            hi = m;
    }
    size_t below = lo;
    hi = n;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (sorted[m] <= v)
            lo = m + 1;
        else
            hi = m;
    }
    double qn = q * (double)n;
    return (double)below > qn ? (double)below - qn : (double)lo < qn ? qn - (double)lo : 0;
}

static void check_percentiles(const struct mon_sketch *s, const double *sorted, size_t n,
                              double *worst)
{
    double eps = mon_sketch_eps(s);
    for (int p = 0; p <= 100; p++) {
        double e = rank_error(sorted, n, mon_sketch_quantile(s, p / 100.0), p / 100.0);
        if (e > eps * (double)n)
            fail_msg("percentile %d: rank error %g > eps n = %g", p, e, eps * (double)n);
        *worst = fmax(*worst, e / (double)n);
    }
}

static void test_sketch_rank_error(void **state)
{
    const size_t n = 1000000;
    double *v = cap_xmalloc(n * sizeof *v);
    struct mon_sketch *all = mon_sketch_new(), *a = mon_sketch_new(), *b = mon_sketch_new();
    rng = 42;
    for (size_t i = 0; i < n; i++) {
        double u = uniform();
        v[i] = u * u * 100; /* skewed */
        mon_sketch_add(all, v[i]);
        mon_sketch_add(i < n / 2 ? a : b, v[i]);
    }
    mon_sketch_merge(a, b);
    assert_int_equal(mon_sketch_count(all), n);
    assert_int_equal(mon_sketch_count(a), n);
    qsort(v, n, sizeof *v, cmp_double);
    double w1 = 0, w2 = 0;
    check_percentiles(all, v, n, &w1);
    check_percentiles(a, v, n, &w2);
    /* the stated bound (sketch.c: ~log2(n/K)/(2K) = 0.005 at 10^6) */
    assert_true(mon_sketch_eps(all) <= 0.006 && mon_sketch_eps(a) <= 0.006);
    print_message("sketch, 1e6 values: eps %.4f (merged %.4f), worst percentile error "
                  "%.5f (merged %.5f)\n",
                  mon_sketch_eps(all), mon_sketch_eps(a), w1, w2);
    /* the CDF agrees with the quantiles within eps */
    for (int p = 1; p < 100; p++) {
        double x = v[(size_t)((double)n * p / 100.0)];
        double truth = (double)(p * (n / 100)) / (double)n;
        assert_true(fabs(mon_sketch_cdf(all, x) - truth) <= mon_sketch_eps(all) + 2.0 / n);
    }
    free(v);
    mon_sketch_free(all);
    mon_sketch_free(a);
    mon_sketch_free(b);
}

/* Sorted runs (the live monitor's batches) keep the same guarantee as
 * single adds, with odd run lengths, runs below K and runs mixed with single
 * adds; and a long run costs one compaction's weight per level. */
static void test_sketch_sorted_runs(void **state)
{
    const size_t n = 1000000;
    double *v = cap_xmalloc(n * sizeof *v), *run = cap_xmalloc(n * sizeof *run);
    struct mon_sketch *s = mon_sketch_new(), *one = mon_sketch_new();
    rng = 7;
    for (size_t i = 0; i < n; i++) {
        double u = uniform();
        v[i] = u * u * 100;
    }
    size_t at = 0, len = 1;
    while (at < n) { /* runs of 1 .. 65,537 values, odd and even */
        size_t k = len < n - at ? len : n - at;
        if (k == 3) {
            mon_sketch_add(s, v[at]);
            at++;
            continue;
        }
        memcpy(run, v + at, k * sizeof *run);
        qsort(run, k, sizeof *run, cmp_double);
        mon_sketch_add_sorted(s, run, k);
        at += k;
        len = len * 3 + 2 > 65537 ? 1 : len * 3 + 2;
    }
    memcpy(run, v, n * sizeof *run);
    qsort(run, n, sizeof *run, cmp_double);
    mon_sketch_add_sorted(one, run, n);
    assert_int_equal(mon_sketch_count(s), n);
    assert_int_equal(mon_sketch_count(one), n);
    qsort(v, n, sizeof *v, cmp_double);
    double worst = 0, worst_one = 0;
    check_percentiles(s, v, n, &worst);
    check_percentiles(one, v, n, &worst_one);
    assert_true(mon_sketch_eps(s) <= 0.006);
    /* one run of 10^6: one compaction of weight 2^h at each of ~10 levels */
    assert_true(mon_sketch_eps(one) * (double)n <= 1024);
    print_message("sorted runs, 1e6 values: eps %.5f, worst percentile error %.5f; one run: "
                  "eps %.6f, worst %.6f\n",
                  mon_sketch_eps(s), worst, mon_sketch_eps(one), worst_one);
    free(v);
    free(run);
    mon_sketch_free(s);
    mon_sketch_free(one);
}

static void test_sketch_small_exact_and_codec(void **state)
{
    struct mon_sketch *s = mon_sketch_new(), *t = mon_sketch_new();
    assert_true(isnan(mon_sketch_quantile(s, 0.5)));
    for (int i = 1000; i >= 1; i--) {
        mon_sketch_add(s, i);
        mon_sketch_add(t, i);
    }
    assert_true(mon_sketch_eps(s) == 0); /* below K values: exact */
    assert_true(mon_sketch_quantile(s, 0.5) == 500);
    assert_true(mon_sketch_quantile(s, 0) == 1 && mon_sketch_quantile(s, 1) == 1000);
    assert_true(mon_sketch_cdf(s, 250) == 0.25);
    for (int i = 0; i < 5000; i++) {
        mon_sketch_add(s, i * 0.5);
        mon_sketch_add(t, i * 0.5);
    }
    struct cap_buf x, y;
    cap_buf_init(&x);
    cap_buf_init(&y);
    mon_sketch_encode(s, &x);
    mon_sketch_encode(t, &y);
    /* deterministic: the same stream gives the same bytes */
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.data, y.data, x.len);
    const unsigned char *p = (const unsigned char *)x.data;
    struct mon_sketch *d;
    struct cap_error err = {0};
    assert_int_equal(mon_sketch_decode(&p, p + x.len, &d, &err), 0);
    assert_ptr_equal(p, (const unsigned char *)x.data + x.len);
    cap_buf_reset(&y);
    mon_sketch_encode(d, &y);
    assert_memory_equal(x.data, y.data, x.len);
    assert_true(mon_sketch_eps(d) == mon_sketch_eps(s));
    mon_sketch_free(d);
    /* a count that the levels do not weigh is refused */
    x.data[4] ^= 1;
    p = (const unsigned char *)x.data;
    assert_int_equal(mon_sketch_decode(&p, p + x.len, &d, &err), -CAP_EINVAL);
    assert_null(d);
    cap_buf_free(&x);
    cap_buf_free(&y);
    mon_sketch_free(s);
    mon_sketch_free(t);
}

/* ---- profiles: merge and the binary form ---- */

static void assert_cols_equal(const struct mon_colprof *a, const struct mon_colprof *b,
                              bool exact_moments)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->text, b->text);
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->missing, b->missing);
    assert_int_equal(a->unreadable, b->unreadable);
    assert_int_equal(a->pos_inf, b->pos_inf);
    assert_int_equal(a->neg_inf, b->neg_inf);
    assert_int_equal(a->n_finite, b->n_finite);
    assert_int_equal(a->nbins, b->nbins);
    if (!a->text) {
        assert_true(a->min == b->min && a->max == b->max);
        for (size_t i = 0; i < a->nbins + 2; i++)
            assert_int_equal(a->bins[i], b->bins[i]);
        assert_int_equal(mon_sketch_count(a->sketch), mon_sketch_count(b->sketch));
        double tm = exact_moments ? 0 : 1e-12;
        assert_true(fabs(a->mean - b->mean) <= tm * fmax(fabs(a->mean), 1e-300));
        assert_true(fabs(a->m2 - b->m2) <= tm * fabs(a->m2));
    }
    assert_int_equal(a->cat_complete, b->cat_complete);
    assert_int_equal(a->ncat, b->ncat);
    for (size_t i = 0; i < a->ncat; i++) {
        assert_string_equal(a->cat[i], b->cat[i]);
        assert_int_equal(a->cat_count[i], b->cat_count[i]);
    }
}

static void test_merge_equals_union(void **state)
{
    struct mon_frame ref, all, a, b;
    rng = 7;
    make_frame(&ref, 20000, 0);
    make_frame(&all, 30000, 0.3);
    slice(&all, 0, 12345, &a);
    slice(&all, 12345, 30000, &b);
    struct mon_drift_options o = defaults();
    struct mon_profile rp, pa, pb, pall;
    struct cap_error err = {0};
    assert_int_equal(mon_profile_reference(&ref, &o, &rp, &err), 0);
    assert_int_equal(rp.ncols, 4);
    assert_int_equal(rp.cols[0].kind, MON_PROF_NUM);
    assert_int_equal(rp.cols[2].kind, MON_PROF_CAT); /* int with 4 values */
    assert_int_equal(rp.cols[3].kind, MON_PROF_CAT);
    assert_int_equal(rp.cols[0].nbins, 20);
    assert_false(rp.cols[0].cat_complete); /* 20000 distinct floats */
    assert_true(rp.cols[2].cat_complete && rp.cols[2].ncat == 4);
    profile_of(&rp, &a, &pa);
    profile_of(&rp, &b, &pb);
    profile_of(&rp, &all, &pall);
    assert_int_equal(mon_profile_merge(&pa, &pb, &err), 0);
    assert_int_equal(pa.rows, pall.rows);
    for (size_t i = 0; i < pa.ncols; i++)
        assert_cols_equal(&pa.cols[i], &pall.cols[i], false);
    /* the out-of-range bins counted the shifted window's tails */
    assert_true(pall.cols[0].bins[21] > 0);
    mon_profile_free(&pa);
    mon_profile_free(&pb);
    mon_profile_free(&pall);
    mon_profile_free(&rp);
    mon_frame_free(&ref);
    mon_frame_free(&all);
    mon_frame_free(&a);
    mon_frame_free(&b);
}

static void test_codec(void **state)
{
    struct mon_frame ref;
    rng = 9;
    make_frame(&ref, 3000, 0);
    struct mon_drift_options o = defaults();
    struct mon_profile p, d;
    struct cap_error err = {0};
    assert_int_equal(mon_profile_reference(&ref, &o, &p, &err), 0);
    struct cap_buf x, y;
    cap_buf_init(&x);
    cap_buf_init(&y);
    mon_profile_encode(&p, &x);
    if (mon_profile_decode(x.data, x.len, &d, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(d.rows, p.rows);
    for (size_t i = 0; i < p.ncols; i++)
        assert_cols_equal(&p.cols[i], &d.cols[i], true);
    mon_profile_encode(&d, &y);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.data, y.data, x.len);
    mon_profile_free(&d);
    /* every truncation is refused */
    for (size_t n = 0; n < x.len; n += n < 200 ? 1 : 7) {
        assert_int_equal(mon_profile_decode(x.data, n, &d, &err), -CAP_EINVAL);
        assert_null(d.cols);
    }
    /* byte flips: refused, or decoded into something that frees cleanly */
    size_t refused = 0, flips = 0;
    for (size_t i = 0; i < x.len; i += i < 400 ? 1 : 13)
        for (int bit = 0; bit < 8; bit += 3) {
            x.data[i] ^= (char)(1 << bit);
            int rc = mon_profile_decode(x.data, x.len, &d, &err);
            flips++;
            if (rc < 0)
                refused++;
            else
                mon_profile_free(&d);
            x.data[i] ^= (char)(1 << bit);
        }
    /* most bytes are the sketches' values, where another finite value
     * still decodes; the counts, lengths and structure are checked */
    print_message("profile codec: %zu bytes, %zu of %zu flips refused\n", x.len, refused, flips);
    assert_true(refused > 0);
    x.data[0] ^= 1; /* the magic */
    assert_int_equal(mon_profile_decode(x.data, x.len, &d, &err), -CAP_EINVAL);
    x.data[0] ^= 1;
    x.data[4] ^= 1; /* the row count */
    assert_int_equal(mon_profile_decode(x.data, x.len, &d, &err), -CAP_EINVAL);
    x.data[4] ^= 1;
    cap_buf_free(&x);
    cap_buf_free(&y);
    mon_profile_free(&p);
    mon_frame_free(&ref);
}

/* ---- drift from profiles against mon_drift ---- */

static const cJSON *col_of(const cJSON *report, const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(report, "columns"))
    {
        if (strcmp(cJSON_GetObjectItem(c, "column")->valuestring, name) == 0)
            return c;
    }
    fail_msg("no column %s", name);
    return NULL;
}

static double num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

/* Compares one column of the two reports; returns |score difference|. */
static double compare_col(const cJSON *exact, const cJSON *approx, const char *name,
                          const char *test, const char *method)
{
    const cJSON *e = col_of(exact, name), *a = col_of(approx, name);
    assert_string_equal(str_of(e, "stattest"), test);
    assert_string_equal(str_of(a, "stattest"), test);
    assert_string_equal(str_of(e, "column_type"), str_of(a, "column_type"));
    assert_true(num_of(e, "stattest_threshold") == num_of(a, "stattest_threshold"));
    const cJSON *ap = cJSON_GetObjectItem(a, "approximation");
    assert_string_equal(str_of(ap, "method"), method);
    double diff = fabs(num_of(e, "drift_score") - num_of(a, "drift_score"));
    const cJSON *bound = cJSON_GetObjectItem(ap, "error_bound");
    if (strcmp(method, "exact") == 0)
        assert_true(num_of(ap, "error_bound") == 0 && diff <= 1e-12);
    else if (cJSON_IsNumber(bound) && diff > bound->valuedouble)
        fail_msg("%s: |%.17g - %.17g| > bound %g", name, num_of(e, "drift_score"),
                 num_of(a, "drift_score"), bound->valuedouble);
    return diff;
}

static void run_both(const struct mon_frame *ref, const struct mon_frame *cur,
                     const struct mon_drift_options *o, cJSON **exact, cJSON **approx)
{
    struct mon_profile rp, cp;
    struct cap_error err = {0};
    assert_int_equal(mon_drift(ref, cur, o, exact, &err), 0);
    assert_int_equal(mon_profile_reference(ref, o, &rp, &err), 0);
    profile_of(&rp, cur, &cp);
    if (mon_drift_profiles(&rp, &cp, o, approx, &err) < 0)
        fail_msg("%s", err.msg);
    mon_profile_free(&rp);
    mon_profile_free(&cp);
}

static void test_drift_large(void **state)
{
    struct mon_frame ref, cur;
    rng = 11;
    make_frame(&ref, 100000, 0);
    make_frame(&cur, 100000, 0.1);
    struct mon_drift_options o = defaults();
    cJSON *e, *a;
    run_both(&ref, &cur, &o, &e, &a);
    double dx = compare_col(e, a, "x", "wasserstein", "sketch");
    double dy = compare_col(e, a, "y", "wasserstein", "sketch");
    compare_col(e, a, "k", "jensenshannon", "exact");
    compare_col(e, a, "c", "jensenshannon", "exact");
    const cJSON *ax = cJSON_GetObjectItem(col_of(a, "x"), "approximation");
    const cJSON *ay = cJSON_GetObjectItem(col_of(a, "y"), "approximation");
    print_message("wasserstein on 1e5 rows: x exact %.6f, error %.2e (bound %.3f); "
                  "y exact %.6f, error %.2e (bound %.3f)\n",
                  num_of(col_of(e, "x"), "drift_score"), dx, num_of(ax, "error_bound"),
                  num_of(col_of(e, "y"), "drift_score"), dy, num_of(ay, "error_bound"));
    assert_true(dx < 0.01 && dy < 0.01); /* actually close, not only within the bound */
    assert_true(cJSON_GetObjectItem(e, "dataset_drift")->type ==
                cJSON_GetObjectItem(a, "dataset_drift")->type);
    cJSON_Delete(e);
    cJSON_Delete(a);
    /* the binned tests on numeric columns: the profile's bins, no bound */
    o.stattest = "psi";
    run_both(&ref, &cur, &o, &e, &a);
    const cJSON *ap = cJSON_GetObjectItem(col_of(a, "x"), "approximation");
    assert_string_equal(str_of(ap, "method"), "bins");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(ap, "error_bound")));
    compare_col(e, a, "c", "psi", "exact");
    compare_col(e, a, "k", "psi", "exact");
    print_message("psi on x: exact %.5f, from 20 bins %.5f\n",
                  num_of(col_of(e, "x"), "drift_score"), num_of(col_of(a, "x"), "drift_score"));
    cJSON_Delete(e);
    cJSON_Delete(a);
    mon_frame_free(&ref);
    mon_frame_free(&cur);
}

static void test_drift_small(void **state)
{
    struct mon_frame ref, cur;
    rng = 13;
    make_frame(&ref, 800, 0);
    make_frame(&cur, 3000, 0.2);
    struct mon_drift_options o = defaults();
    cJSON *e, *a;
    run_both(&ref, &cur, &o, &e, &a);
    double d = compare_col(e, a, "x", "ks", "sketch");
    compare_col(e, a, "k", "chisquare", "exact");
    compare_col(e, a, "c", "chisquare", "exact");
    print_message("ks p on 800 x 3000 rows: error %.2e (bound %g)\n", d,
                  num_of(cJSON_GetObjectItem(col_of(a, "x"), "approximation"), "error_bound"));
    cJSON_Delete(e);
    cJSON_Delete(a);
    /* z on two values, per-column tests and thresholds */
    const char *const only[] = {"k"};
    struct mon_override st[] = {{"c", "z"}}, th[] = {{"k", "0.2"}};
    o.columns = only;
    o.n_columns = 1;
    o.stattest_col = st;
    o.n_stattest_col = 1;
    o.threshold_col = th;
    o.n_threshold_col = 1;
    o.stattest = "hellinger";
    run_both(&ref, &cur, &o, &e, &a);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(a, "columns")), 1);
    compare_col(e, a, "k", "hellinger", "exact");
    assert_true(num_of(col_of(a, "k"), "stattest_threshold") == 0.2);
    cJSON_Delete(e);
    cJSON_Delete(a);
    mon_frame_free(&ref);
    mon_frame_free(&cur);
}

/* ---- quality from profiles against mon_quality ---- */

static void test_quality(void **state)
{
    struct mon_frame ref, cur;
    rng = 17;
    make_frame(&ref, 5000, 0);
    make_frame(&cur, 4000, 0.5);
    free(cur.cols[3].text[3]);
    cur.cols[3].text[3] = cap_xstrdup("fig"); /* a new category */
    struct mon_drift_options o = defaults();
    struct mon_profile rp, cp;
    struct cap_error err = {0};
    assert_int_equal(mon_profile_reference(&ref, &o, &rp, &err), 0);
    profile_of(&rp, &cur, &cp);
    cJSON *e, *a;
    const char *const catk[] = {"k"};
    struct mon_quality_options q;
    mon_quality_defaults(&q);
    q.categorical = catk;
    q.n_categorical = 1;
    assert_int_equal(mon_quality(&ref, &cur, &q, &e, &err), 0);
    assert_int_equal(mon_quality_profiles(&rp, &cp, &q, &a, &err), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(a, "duplicated_rows")));
    const char *names[] = {"x", "y", "k", "c"};
    for (int i = 0; i < 4; i++) {
        const cJSON *ce = col_of(e, names[i]), *ca = col_of(a, names[i]);
        const char *keys[] = {"missing_share_reference", "missing_share_current",
                              "unreadable_cells"};
        for (int k = 0; k < 3; k++)
            assert_true(num_of(ce, keys[k]) == num_of(ca, keys[k]));
        const char *objs[] = {"new_categories", "out_of_range"};
        for (int k = 0; k < 2; k++) {
            const cJSON *oe = cJSON_GetObjectItem(ce, objs[k]), *oa = cJSON_GetObjectItem(ca, objs[k]);
            assert_int_equal(cJSON_IsNull(oe), cJSON_IsNull(oa));
            if (!cJSON_IsNull(oe)) {
                assert_true(num_of(oe, "count") == num_of(oa, "count"));
                assert_true(num_of(oe, "share") == num_of(oa, "share"));
            }
        }
        char *fe = cJSON_PrintUnformatted(cJSON_GetObjectItem(ce, "failed"));
        char *fa = cJSON_PrintUnformatted(cJSON_GetObjectItem(ca, "failed"));
        assert_string_equal(fe, fa);
        free(fe);
        free(fa);
    }
    assert_true(num_of(cJSON_GetObjectItem(col_of(a, "c"), "new_categories"), "count") == 1);
    cJSON_Delete(e);
    cJSON_Delete(a);
    mon_profile_free(&rp);
    mon_profile_free(&cp);
    mon_frame_free(&ref);
    mon_frame_free(&cur);
}

/* ---- bad input ---- */

static void test_errors(void **state)
{
    struct mon_frame ref, other, cur;
    rng = 19;
    make_frame(&ref, 2000, 0);
    make_frame(&other, 2000, 3); /* other edges */
    make_frame(&cur, 1000, 0);
    struct mon_drift_options o = defaults();
    struct mon_profile rp, op, cp;
    struct cap_error err = {0};
    cJSON *out;
    assert_int_equal(mon_profile_reference(&ref, &o, &rp, &err), 0);
    assert_int_equal(mon_profile_reference(&other, &o, &op, &err), 0);
    assert_int_equal(mon_profile_merge(&rp, &op, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "bin edges"));
    assert_int_equal(mon_drift_profiles(&rp, &op, &o, &out, &err), -CAP_EINVAL);
    assert_null(out);
    /* a column the frame lacks, and nothing counted */
    profile_of(&rp, &cur, &cp);
    free(cur.cols[1].name);
    cur.cols[1].name = cap_xstrdup("renamed");
    int64_t before = cp.rows;
    assert_int_equal(mon_profile_add(&cp, &cur, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "'y'"));
    assert_int_equal(cp.rows, before);
    assert_int_equal(cp.cols[0].count, before);
    /* tests a profile cannot give */
    o.stattest = "anderson";
    assert_int_equal(mon_drift_profiles(&rp, &cp, &o, &out, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "stattest 'anderson' cannot be computed from profiles"));
    o.stattest = "TVD";
    assert_int_equal(mon_drift_profiles(&rp, &cp, &o, &out, &err), -CAP_EINVAL);
    o.stattest = "nope";
    assert_int_equal(mon_drift_profiles(&rp, &cp, &o, &out, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "unknown stattest"));
    o.stattest = NULL;
    const char *const bad[] = {"zzz"};
    o.columns = bad;
    o.n_columns = 1;
    assert_int_equal(mon_drift_profiles(&rp, &cp, &o, &out, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "zzz"));
    o.n_columns = 0;
    const char *const num_text[] = {"c"};
    o.numerical = num_text;
    o.n_numerical = 1;
    assert_int_equal(mon_drift_profiles(&rp, &cp, &o, &out, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "named numerical but holds text"));
    /* an empty window */
    struct mon_profile empty;
    mon_profile_empty_like(&rp, &empty);
    o.n_numerical = 0;
    assert_int_equal(mon_drift_profiles(&rp, &empty, &o, &out, &err), -CAP_EINVAL);
    mon_profile_free(&empty);
    assert_int_equal(mon_profile_decode("MPF1", 4, &empty, &err), -CAP_EINVAL);
    mon_profile_free(&rp);
    mon_profile_free(&op);
    mon_profile_free(&cp);
    mon_frame_free(&ref);
    mon_frame_free(&other);
    mon_frame_free(&cur);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sketch_rank_error), cmocka_unit_test(test_sketch_sorted_runs),
        cmocka_unit_test(test_sketch_small_exact_and_codec),
        cmocka_unit_test(test_merge_equals_union), cmocka_unit_test(test_codec),
        cmocka_unit_test(test_drift_large),       cmocka_unit_test(test_drift_small),
        cmocka_unit_test(test_quality),           cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
