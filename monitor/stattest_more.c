/* stattest_more.c - the rank, moment and exact drift tests of Evidently 0.7
 * (anderson, cramer_von_mises, mannw, ed, es, t_test, fisher_exact, g_test,
 * empirical_mmd), each giving Evidently's score and verdict on the same data.
 *
 * Evidently hands each test to scipy (or to numpy code of its own); to give
 * the same numbers we follow the same arithmetic: numpy's pairwise summation
 * where numpy sums (it decides the last bits, and on nearly constant data
 * those bits ARE the answer: scipy's t-test on three copies of 0.1 against
 * five gives p = 0.10), the same order of operations, and GSL for the
 * distributions and linear algebra. Where scipy uses a method GSL lacks
 * (exact Mann-Whitney counts, the Cramér-von Mises exact and limiting laws,
 * the Anderson-Darling p-value interpolation) it is written here from the
 * published method. Where scipy returns NaN we return NaN (drift false, as
 * Evidently's `p < threshold` says); where scipy raises we return an error.
 * Where Evidently fails on valid data (its exact Cramér-von Mises under
 * numpy 2, Fisher's and the G-test on samples of different sizes) we do what
 * is statistically right, as said at each test. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sf_bessel.h>
#include <gsl/gsl_sf_gamma.h>
#include <gsl/gsl_vector.h>

#include "base/buf.h"
#include "monitor/stattest.h"

/* ---- shared arithmetic -------------------------------------------------- */

/* numpy's sum of doubles (pairwise: runs under 8 added in a line, blocks up
 * to 128 in 8 interleaved partial sums, longer runs split in halves rounded
 * to a multiple of 8). With dev set, sums (a[i] - c)^2 instead, as numpy
 * does on the array of squared deviations. Checked bit for bit against
 * numpy.sum on 900 random arrays of 1..100000 values. */
static double pw_sum(const double *a, size_t n, double c, bool dev)
{
#define PW_ELEM(i) (dev ? (a[i] - c) * (a[i] - c) : a[i])
    if (n < 8) {
        double r = 0.0;
        for (size_t i = 0; i < n; i++)
            r += PW_ELEM(i);
        return r;
    }
    if (n <= 128) {
        double r[8];
        for (size_t j = 0; j < 8; j++)
            r[j] = PW_ELEM(j);
        size_t i = 8;
        for (; i < n - n % 8; i += 8)
            for (size_t j = 0; j < 8; j++)
                r[j] += PW_ELEM(i + j);
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            s += PW_ELEM(i);
        return s;
    }
#undef PW_ELEM
    size_t h = n / 2;
    h -= h % 8;
    return pw_sum(a, h, c, dev) + pw_sum(a + h, n - h, c, dev);
}

static double *sorted_copy(const struct mon_sample *s)
{
    double *v = cap_xmalloc((s->n ? s->n : 1) * sizeof *v);
    if (s->n)
        memcpy(v, s->v, s->n * sizeof *v);
    mon_sort(v, s->n); /* stattest.c's radix sort */
    return v;
}

/* Both samples non-empty and at least `min` values each. */
static int need_sizes(const struct mon_sample *ref, const struct mon_sample *cur, size_t min,
                      const char *test, struct cap_error *err)
{
    if (ref->n < min || cur->n < min)
        return cap_err(err, CAP_EINVAL,
                       "%s needs at least %zu value%s in both the reference and the current "
                       "data, got %zu and %zu",
                       test, min, min == 1 ? "" : "s", ref->n, cur->n);
    return 0;
}

static void set_pvalue(struct mon_stat_result *out, double p, double threshold)
{
    out->score = p;
    out->drift = p < threshold; /* false for NaN, as in Evidently */
}

/* The merged walk over two sorted samples, one step per distinct value:
 * how many times it occurs in each. Mann-Whitney, Anderson-Darling,
 * Cramér-von Mises and the energy distance all read the pooled ranks so. */
struct tie_walk {
    const double *x, *y;
    size_t nx, ny, i, j;
};

static bool tie_next(struct tie_walk *w, double *value, size_t *cx, size_t *cy)
{
    if (w->i >= w->nx && w->j >= w->ny)
        return false;
    double v;
    if (w->i >= w->nx)
        v = w->y[w->j];
    else if (w->j >= w->ny)
        v = w->x[w->i];
    else
        v = w->x[w->i] < w->y[w->j] ? w->x[w->i] : w->y[w->j];
    size_t a = 0, b = 0;
    while (w->i < w->nx && w->x[w->i] == v)
        w->i++, a++;
    while (w->j < w->ny && w->y[w->j] == v)
        w->j++, b++;
    *value = v;
    *cx = a;
    *cy = b;
    return true;
}

/* Two-sided Student t p-value, P(|T| >= |t|) = I_{df/(df+t^2)}(df/2, 1/2)
 * (gsl_sf_beta_inc_e), exact where GSL's gsl_cdf_tdist_Q switches to an
 * asymptotic expansion for df > 30. */
static double t_two_sided(double t, double df)
{
    if (isnan(t) || !(df > 0))
        return NAN;
    if (isinf(t))
        return 0.0;
    double x = df / (df + t * t);
    gsl_sf_result r;
    int st = gsl_sf_beta_inc_e(df / 2, 0.5, x, &r);
    if (st == GSL_EUNDRFLW || x == 0) /* scipy's p underflows to 0 as well */
        return 0.0;
    if (st != GSL_SUCCESS)
        return NAN;
    return r.val > 1 ? 1 : r.val;
}

/* ---- t_test: scipy.stats.ttest_ind, pooled variance, two-sided ---------- */

/* numpy's mean and scipy's unbiased variance (the mean of squared
 * deviations times n/(n-1); 0 for one value, scipy's rule). */
static void mean_var(const struct mon_sample *s, double *mean, double *var)
{
    double n = (double)s->n;
    *mean = pw_sum(s->v, s->n, 0, false) / n;
    double m2 = pw_sum(s->v, s->n, *mean, true) / n;
    *var = s->n == 1 ? 0.0 : m2 * (n / (n - 1));
}

int mon_st_t_test(const struct mon_sample *ref, const struct mon_sample *cur,
                  enum mon_coltype type, double threshold, struct mon_stat_result *out,
                  struct cap_error *err)
{
    int rc = need_sizes(ref, cur, 1, "t_test", err);
    if (rc)
        return rc;
    double m1, v1, m2, v2, n1 = (double)ref->n, n2 = (double)cur->n;
    mean_var(ref, &m1, &v1);
    mean_var(cur, &m2, &v2);
    /* one value each: df = 0, the pooled variance 0/0, scipy's NaN */
    double df = n1 + n2 - 2.0;
    double svar = ((n1 - 1) * v1 + (n2 - 1) * v2) / df;
    double denom = sqrt(svar * (1.0 / n1 + 1.0 / n2));
    double t = (m1 - m2) / denom; /* ±inf for two different constants: p = 0 */
    set_pvalue(out, t_two_sided(t, df), threshold);
    return 0;
}

/* ---- mannw: scipy.stats.mannwhitneyu(ref, cur, alternative="less") ------ */

/* Counts of the Mann-Whitney U statistic for sizes m <= n, c[u] for
 * u = 0..kmax: the coefficients of the Gaussian binomial [m+n choose m]_q,
 * built as prod_i (1 - q^(n+i)) / (1 - q^i) (Mann & Whitney 1947; Andrews,
 * The Theory of Partitions, ch. 3), each step a running sum then a shifted
 * difference. In 128-bit unsigned integers the steps are exact modulo
 * 2^128, so the counts are exact whenever C(m+n, m) < 2^127; beyond that
 * the same steps run in doubles (scipy itself turns to floats past 2^64).
 * *total is C(m+n, m) as a double, as scipy's special.binom gives it. */
static void mwu_counts(size_t m, size_t n, size_t kmax, double *cnt, double *total)
{
    double c = 1;
    for (size_t i = 1; i <= m; i++)
        c = c * (double)(n + i) / (double)i;
    *total = c;
    bool exact = c < 0x1p127;
    unsigned __int128 *ci = exact ? cap_xcalloc(kmax + 1, sizeof *ci) : NULL;
    double *cd = exact ? NULL : cap_xcalloc(kmax + 1, sizeof *cd);
    if (exact)
        ci[0] = 1;
    else
        cd[0] = 1;
    for (size_t i = 1; i <= m; i++) {
        for (size_t u = i; u <= kmax; u++) {
            if (exact)
                ci[u] += ci[u - i];
            else
                cd[u] += cd[u - i];
        }
        for (size_t u = kmax + 1; u-- > n + i;) {
            if (exact)
                ci[u] -= ci[u - n - i];
            else
                cd[u] -= cd[u - n - i];
        }
    }
    for (size_t u = 0; u <= kmax; u++)
        cnt[u] = exact ? (double)ci[u] : cd[u];
    free(ci);
    free(cd);
}

/* scipy's exact p-value P(U >= u) for samples without ties when one has at
 * most 8 values: by symmetry the lower tail up to min(u, mn - u). */
static double mwu_exact_sf(size_t n1, size_t n2, double u)
{
    size_t m = n1 < n2 ? n1 : n2, n = n1 < n2 ? n2 : n1, mn = m * n;
    size_t k = (size_t)u, kc = mn - k, kmax = k < kc ? k : kc;
    double *cnt = cap_xmalloc((kmax + 1) * sizeof *cnt), total;
    mwu_counts(m, n, kmax, cnt, &total);
    double p;
    if (k < kc) { /* 1 - P(U <= k) + P(U = k) */
        double below = 0;
        for (size_t i = 0; i < k; i++)
            below += cnt[i];
        p = 1.0 - below / total;
    } else {
        double le = 0;
        for (size_t i = 0; i <= kc; i++)
            le += cnt[i];
        p = le / total;
    }
    free(cnt);
    return p;
}

int mon_st_mannw(const struct mon_sample *ref, const struct mon_sample *cur,
                 enum mon_coltype type, double threshold, struct mon_stat_result *out,
                 struct cap_error *err)
{
    int rc = need_sizes(ref, cur, 1, "mannw", err);
    if (rc)
        return rc;
    double *x = sorted_copy(ref), *y = sorted_copy(cur);
    struct tie_walk w = {x, y, ref->n, cur->n, 0, 0};
    double v, r1 = 0, tie_term = 0, start = 0; /* ranks are 1-based midranks */
    size_t cx, cy;
    bool ties = false;
    while (tie_next(&w, &v, &cx, &cy)) {
        double t = (double)(cx + cy);
        r1 += (double)cx * (start + (t + 1) / 2);
        tie_term += t * t * t - t;
        ties |= cx + cy > 1;
        start += t;
    }
    free(x);
    free(y);
    double n1 = (double)ref->n, n2 = (double)cur->n;
    double u1 = r1 - n1 * (n1 + 1) / 2, u2 = n1 * n2 - u1; /* "less": P(U2 >= u2) */
    double p;
    if ((ref->n > 8 && cur->n > 8) || ties) {
        double n = n1 + n2, mu = n1 * n2 / 2;
        double s = sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))));
        double z = (u2 - mu - 0.5) / s;
        p = gsl_cdf_ugaussian_P(-z);
    } else {
        p = mwu_exact_sf(ref->n, cur->n, u2);
    }
    p = p < 0 ? 0 : p > 1 ? 1 : p;
    set_pvalue(out, p, threshold);
    return 0;
}

/* ---- anderson: scipy.stats.anderson_ksamp([ref, cur]), midrank --------- */

/* Scholz & Stephens (1987) A2akN for two samples, the midrank version for
 * data with ties (their eq. 7), over the distinct pooled values. The inner
 * sums are numpy sums of one term per distinct value. */
static double ad_statistic(const double *x, size_t nx, const double *y, size_t ny,
                           size_t *n_distinct)
{
    double N = (double)(nx + ny);
    double *tx = cap_xmalloc((nx + ny) * sizeof *tx), *ty = cap_xmalloc((nx + ny) * sizeof *ty);
    struct tie_walk w = {x, y, nx, ny, 0, 0};
    size_t k = 0, below = 0, bx = 0, by = 0, cx, cy;
    double v;
    while (tie_next(&w, &v, &cx, &cy)) {
        double lj = (double)(cx + cy), bj = (double)below + lj / 2.;
        double den = bj * (N - bj) - N * lj / 4.;
        double mx = (double)(bx + cx) - (double)cx / 2., my = (double)(by + cy) - (double)cy / 2.;
        double dx = N * mx - bj * (double)nx, dy = N * my - bj * (double)ny;
        tx[k] = lj / N * (dx * dx) / den;
        ty[k] = lj / N * (dy * dy) / den;
        k++;
        below += cx + cy;
        bx += cx;
        by += cy;
    }
    double a2 = 0.;
    a2 += pw_sum(tx, k, 0, false) / (double)nx;
    a2 += pw_sum(ty, k, 0, false) / (double)ny;
    a2 *= (N - 1.) / N;
    free(tx);
    free(ty);
    *n_distinct = k;
    return a2;
}

/* The variance of A2akN under the null (Scholz & Stephens eq. 4) for k = 2
 * samples of sizes n1, n2, N = n1 + n2 >= 4, with h = sum_{i<N} 1/i and
 * g = sum_{i<j<N} 1/((N-i) j) summed in scipy's order. */
static double ad_variance(size_t n1, size_t n2)
{
    size_t nn = n1 + n2;
    double N = (double)nn, k = 2, H = 0.;
    H += 1. / (double)n1;
    H += 1. / (double)n2;
    double *hs = cap_xmalloc((nn - 2) * sizeof *hs), run = 0;
    for (size_t i = 0; i + 2 < nn; i++) { /* cumsum of 1/(N-1), 1/(N-2), ..., 1/2 */
        run += 1. / (double)(nn - 1 - i);
        hs[i] = run;
    }
    double h = hs[nn - 3] + 1;
    for (size_t i = 0; i + 2 < nn; i++)
        hs[i] = hs[i] / (double)(i + 2);
    double g = pw_sum(hs, nn - 2, 0, false);
    free(hs);
    double a = (4 * g - 6) * (k - 1) + (10 - 6 * g) * H;
    double b = (2 * g - 4) * (k * k) + 8 * h * k + (2 * g - 14 * h - 4) * H - 8 * h + 4 * g - 6;
    double c = (6 * h + 2 * g - 2) * (k * k) + (4 * h - 4 * g + 6) * k + (2 * h - 6) * H + 4 * h;
    double d = (2 * h + 6) * (k * k) - 4 * h * k;
    /* N^3, N^2 as integers first, then rounded once, as Python does */
    unsigned __int128 w = nn;
    double n3 = (double)(w * w * w), n2sq = (double)(w * w);
    return (a * n3 + b * n2sq + c * N + d) / ((N - 1.) * (N - 2.) * (N - 3.));
}

/* scipy's p-value for the standardized statistic: log(significance) fitted
 * by a least-squares quadratic in the critical values of Scholz & Stephens'
 * table 2 (their interpolation), capped to [0.001, 0.25]. The fit is
 * numpy.polyfit's: columns scaled to unit norm, then least squares (here by
 * GSL's QR, gsl_linalg_QR_decomp / gsl_linalg_QR_lssolve). */
static double ad_pvalue(double a2)
{
    static const double b0[7] = {0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085};
    static const double b1[7] = {-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615};
    static const double b2[7] = {-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154};
    static const double sig[7] = {0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001};
    double m = 1, crit[7], lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < 7; i++) {
        crit[i] = b0[i] + b1[i] / sqrt(m) + b2[i] / m;
        lo = crit[i] < lo ? crit[i] : lo;
        hi = crit[i] > hi ? crit[i] : hi;
    }
    if (isnan(a2))
        return NAN;
    if (a2 < lo)
        return 0.25;
    if (a2 > hi)
        return 0.001;
    gsl_matrix *A = gsl_matrix_alloc(7, 3);
    gsl_vector *rhs = gsl_vector_alloc(7), *tau = gsl_vector_alloc(3);
    gsl_vector *coef = gsl_vector_alloc(3), *resid = gsl_vector_alloc(7);
    double scale[3] = {0, 0, 0};
    for (int i = 0; i < 7; i++) {
        double row[3] = {crit[i] * crit[i], crit[i], 1};
        for (int j = 0; j < 3; j++) {
            gsl_matrix_set(A, i, j, row[j]);
            scale[j] += row[j] * row[j];
        }
        gsl_vector_set(rhs, i, log(sig[i]));
    }
    for (int j = 0; j < 3; j++) {
        scale[j] = sqrt(scale[j]);
        for (int i = 0; i < 7; i++)
            gsl_matrix_set(A, i, j, gsl_matrix_get(A, i, j) / scale[j]);
    }
    gsl_linalg_QR_decomp(A, tau);
    gsl_linalg_QR_lssolve(A, tau, rhs, coef, resid);
    double y = 0;
    for (int j = 0; j < 3; j++)
        y = y * a2 + gsl_vector_get(coef, j) / scale[j];
    gsl_matrix_free(A);
    gsl_vector_free(rhs);
    gsl_vector_free(tau);
    gsl_vector_free(coef);
    gsl_vector_free(resid);
    return exp(y);
}

int mon_st_anderson(const struct mon_sample *ref, const struct mon_sample *cur,
                    enum mon_coltype type, double threshold, struct mon_stat_result *out,
                    struct cap_error *err)
{
    int rc = need_sizes(ref, cur, 1, "anderson", err);
    if (rc)
        return rc;
    /* the variance divides by (N-1)(N-2)(N-3): scipy fails with an index
     * error at N = 2 and gives NaN at N = 3 (Evidently: no drift) */
    if (ref->n + cur->n < 3)
        return cap_err(err, CAP_EINVAL,
                       "anderson needs at least 3 values in the reference and the current data "
                       "together, got %zu",
                       ref->n + cur->n);
    double *x = sorted_copy(ref), *y = sorted_copy(cur);
    size_t distinct;
    double a2kn = ad_statistic(x, ref->n, y, cur->n, &distinct);
    free(x);
    free(y);
    if (distinct < 2)
        return cap_err(err, CAP_EINVAL,
                       "anderson needs at least two distinct values over the reference and the "
                       "current data, but all %zu are equal",
                       ref->n + cur->n);
    if (ref->n + cur->n == 3) {
        set_pvalue(out, NAN, threshold);
        return 0;
    }
    double a2 = (a2kn - 1) / sqrt(ad_variance(ref->n, cur->n));
    set_pvalue(out, ad_pvalue(a2), threshold);
    return 0;
}

/* ---- cramer_von_mises: Evidently's own _cvm_2samp ---------------------- */

/* One cell of the lattice-path table of Xiao, Gordon & Yakovlev (2006):
 * the distinct values of the partial statistic and how many paths reach
 * each, sorted by value. */
struct cvm_cell {
    int64_t *val;
    uint64_t *freq;
    size_t n;
};

/* out = merge of a and b (frequencies of equal values added), then every
 * value shifted by `add`. */
static void cvm_merge(const struct cvm_cell *a, const struct cvm_cell *b, int64_t add,
                      struct cvm_cell *out)
{
    size_t cap = a->n + b->n, i = 0, j = 0, k = 0;
    out->val = cap_xmalloc((cap ? cap : 1) * sizeof *out->val);
    out->freq = cap_xmalloc((cap ? cap : 1) * sizeof *out->freq);
    while (i < a->n || j < b->n) {
        if (j >= b->n || (i < a->n && a->val[i] < b->val[j])) {
            out->val[k] = a->val[i], out->freq[k++] = a->freq[i++];
        } else if (i >= a->n || b->val[j] < a->val[i]) {
            out->val[k] = b->val[j], out->freq[k++] = b->freq[j++];
        } else {
            out->val[k] = a->val[i], out->freq[k++] = a->freq[i++] + b->freq[j++];
        }
    }
    for (size_t t = 0; t < k; t++)
        out->val[t] += add;
    out->n = k;
}

static void cvm_cell_free(struct cvm_cell *c)
{
    free(c->val);
    free(c->freq);
    *c = (struct cvm_cell){0};
}

/* Python's float floor division a // b (fmod first, then the quotient
 * rounded the way CPython's float_floor_div rounds it). */
static double py_floordiv(double a, double b)
{
    double mod = fmod(a, b), div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0)))
        div -= 1.0;
    if (div == 0)
        return copysign(0.0, a / b);
    double fl = floor(div);
    return div - fl > 0.5 ? fl + 1.0 : fl;
}

/* The exact p-value P(U >= u) for sizes m, n <= 20 (Xiao et al. 2006,
 * Algorithm 1, with Anderson's (1962) U): the frequency of each value of
 * sum (a*v - b*u)^2 over the lattice paths from (0,0) to (n,m), where
 * a = lcm/m, b = lcm/n; the cut zeta is Anderson's eq. 9 solved for it.
 * C(40, 20) ~ 1.4e11 paths at most: the frequencies fit 64 bits. */
static double cvm_exact_p(double u, size_t m, size_t n)
{
    int64_t mi = (int64_t)m, ni = (int64_t)n, lcm = mi / mon_gcd(mi, ni) * ni;
    int64_t a = lcm / mi, b = lcm / ni, mn = mi * ni;
    double zeta = py_floordiv((double)(lcm * lcm * (mi + ni)) * (6 * u - (double)(mn * (4 * mn - 1))),
                              (double)(6 * mn * mn));
    struct cvm_cell *gs = cap_xcalloc(m + 1, sizeof *gs), *next = cap_xcalloc(m + 1, sizeof *next);
    gs[0].val = cap_xmalloc(sizeof *gs[0].val);
    gs[0].freq = cap_xmalloc(sizeof *gs[0].freq);
    gs[0].val[0] = 0, gs[0].freq[0] = 1, gs[0].n = 1;
    for (int64_t uu = 0; uu <= ni; uu++) {
        struct cvm_cell tmp = {0};
        for (int64_t v = 0; v <= mi; v++) {
            int64_t d = a * v - b * uu;
            cvm_merge(&tmp, &gs[v], d * d, &next[v]);
            tmp = next[v]; /* borrowed: next[v] owns it */
        }
        for (size_t v = 0; v <= m; v++) {
            cvm_cell_free(&gs[v]);
            gs[v] = next[v];
            next[v] = (struct cvm_cell){0};
        }
    }
    uint64_t hits = 0;
    for (size_t t = 0; t < gs[m].n; t++)
        if ((double)gs[m].val[t] >= zeta)
            hits += gs[m].freq[t];
    double comb = 1; /* factorial(m+n) / (factorial(m) * factorial(n)), a float in Python */
    for (size_t i = 1; i <= m; i++)
        comb = comb * (double)(n + i) / (double)i;
    for (size_t v = 0; v <= m; v++)
        cvm_cell_free(&gs[v]);
    free(gs);
    free(next);
    return (double)hits / comb;
}

/* The limiting distribution function of the one-sample statistic
 * (Csörgő & Faraway 1996, eq. 1.3): sum over k of
 * Γ(k+1/2)/(Γ(k+1) π^1.5 √x) √(4k+1) e^{-q} K_{1/4}(q), q = (4k+1)²/(16x),
 * adding terms until one is below 1e-7, as Evidently does. K(q) is taken
 * as e^{-q} times GSL's scaled Bessel (gsl_sf_bessel_Knu_scaled_e) so that
 * nothing underflows inside GSL. GSL's K_{1/4} is good to 1e-15 against a
 * 40-digit quadrature; scipy's kv is off by up to 7e-14 (near q = 2), so
 * where p = 1 - cdf is tiny ours and Evidently's differ by ~2e-15 absolute
 * (1.8e-9 relative at p = 1e-6). */
static double cvm_cdf_inf(double x)
{
    double tot = 0;
    for (int k = 0;; k++) {
        gsl_sf_result lg1, lg2, kv;
        gsl_sf_lngamma_e(k + 0.5, &lg1);
        gsl_sf_lngamma_e(k + 1.0, &lg2);
        double u = exp(lg1.val - lg2.val) / (pow(M_PI, 1.5) * sqrt(x));
        double y = 4.0 * k + 1, q = y * y / (16 * x);
        if (gsl_sf_bessel_Knu_scaled_e(0.25, q, &kv) != GSL_SUCCESS)
            return NAN;
        double z = u * sqrt(y) * exp(-q) * (kv.val * exp(-q)); /* scipy's order */
        tot += z;
        if (!(fabs(z) >= 1e-7))
            break;
    }
    return tot;
}

/* Anderson's (1962) U from the midranks of the sorted samples in the
 * pooled sample: nx * sum (r_xi - i)^2 + ny * sum (r_yj - j)^2. */
static double cvm_u(const double *x, size_t nx, const double *y, size_t ny)
{
    struct tie_walk w = {x, y, nx, ny, 0, 0};
    double *dx = cap_xmalloc(nx * sizeof *dx), *dy = cap_xmalloc(ny * sizeof *dy), v, start = 0;
    size_t cx, cy, ix = 0, iy = 0;
    while (tie_next(&w, &v, &cx, &cy)) {
        double rank = start + (double)(cx + cy + 1) / 2;
        for (size_t t = 0; t < cx; t++, ix++)
            dx[ix] = (rank - (double)(ix + 1)) * (rank - (double)(ix + 1));
        for (size_t t = 0; t < cy; t++, iy++)
            dy[iy] = (rank - (double)(iy + 1)) * (rank - (double)(iy + 1));
        start += (double)(cx + cy);
    }
    double u = (double)nx * pw_sum(dx, nx, 0, false);
    u += (double)ny * pw_sum(dy, ny, 0, false);
    free(dx);
    free(dy);
    return u;
}

int mon_st_cramer_von_mises(const struct mon_sample *ref, const struct mon_sample *cur,
                            enum mon_coltype type, double threshold,
                            struct mon_stat_result *out, struct cap_error *err)
{
    int rc = need_sizes(ref, cur, 2, "cramer_von_mises", err);
    if (rc)
        return rc;
    double *x = sorted_copy(ref), *y = sorted_copy(cur);
    double u = cvm_u(x, ref->n, y, cur->n);
    free(x);
    free(y);
    double nx = (double)ref->n, ny = (double)cur->n, k = nx * ny, N = nx + ny, p;
    if (ref->n <= 20 && cur->n <= 20) {
        p = cvm_exact_p(u, ref->n, cur->n);
    } else { /* Anderson's normalisation (eqs. 9, 11, 14, 15) */
        double t = u / (k * N) - (4 * k - 1) / (6 * N);
        double et = (1 + 1 / N) / 6;
        /* integer parts exact, as Python's ints are, then rounded once */
        __int128 ix = (__int128)ref->n, iy = (__int128)cur->n, ik = ix * iy, iN = ix + iy;
        double vt = (N + 1.0) * (double)(4 * ik * iN - 3 * (ix * ix + iy * iy) - 2 * ik);
        vt = vt / (double)(45 * iN * iN * 4 * ik);
        double tn = 1.0 / 6 + (t - et) / sqrt(45 * vt);
        if (tn < 0.003) {
            p = 1.0;
        } else {
            p = 1.0 - cvm_cdf_inf(tn);
            p = p > 0 ? p : 0; /* max(0, ...) */
        }
    }
    out->score = p;
    out->drift = p <= threshold; /* Evidently's only `<=` */
    return 0;
}

/* ---- ed: scipy.stats.energy_distance(ref, cur) -------------------------- */

/* sqrt(2) * sqrt(sum over consecutive pooled values of
 * (F_ref - F_cur)^2 * gap): the energy distance of two empirical
 * distributions as an L2 distance of their CDFs (Székely; scipy's
 * _cdf_distance with p = 2). No p-value: drift when above the threshold. */
int mon_st_ed(const struct mon_sample *ref, const struct mon_sample *cur,
              enum mon_coltype type, double threshold, struct mon_stat_result *out,
              struct cap_error *err)
{
    int rc = need_sizes(ref, cur, 1, "ed", err);
    if (rc)
        return rc;
    double *x = sorted_copy(ref), *y = sorted_copy(cur);
    size_t total = ref->n + cur->n;
    double *terms = cap_xmalloc(total * sizeof *terms);
    struct tie_walk w = {x, y, ref->n, cur->n, 0, 0};
    size_t k = 0, cx, cy, sx = 0, sy = 0;
    double v, prev = 0;
    bool first = true;
    /* one term per pooled value but the last; a run of equal values gives
     * zero gaps (and zero terms) between its members */
    while (tie_next(&w, &v, &cx, &cy)) {
        if (!first) {
            double d = (double)sx / (double)ref->n - (double)sy / (double)cur->n;
            terms[k++] = d * d * (v - prev);
            for (size_t t = 1; t < cx + cy; t++)
                terms[k++] = 0;
        } else {
            for (size_t t = 1; t < cx + cy; t++)
                terms[k++] = 0;
        }
        first = false;
        sx += cx;
        sy += cy;
        prev = v;
    }
    double s = pw_sum(terms, k, 0, false);
    free(terms);
    free(x);
    free(y);
    out->score = sqrt(2.0) * sqrt(s);
    out->drift = out->score > threshold;
    return 0;
}

/* ---- category counts (fisher_exact, g_test) ----------------------------- */

/* Counts of each category code in a sample; codes are numbered over
 * reference ∪ current, so none reaches the two sizes together. */
static int code_counts(const struct mon_sample *s, size_t ncodes, uint64_t *cnt,
                       const char *test, struct cap_error *err)
{
    for (size_t i = 0; i < s->n; i++) {
        double v = s->v[i];
        if (!(v >= 0 && v < (double)ncodes && v == floor(v)))
            return cap_err(err, CAP_EINVAL,
                           "%s expects category codes (0..%zu), got %g: it takes categorical "
                           "columns only",
                           test, ncodes - 1, v);
        cnt[(size_t)v]++;
    }
    return 0;
}

/* The reference's and the current data's count per category, keeping only
 * the categories that occur (*k of them). */
static int category_table(const struct mon_sample *ref, const struct mon_sample *cur,
                          const char *test, uint64_t **rc_out, uint64_t **cc_out, size_t *k,
                          struct cap_error *err)
{
    size_t ncodes = ref->n + cur->n;
    uint64_t *rc = cap_xcalloc(ncodes, sizeof *rc), *cc = cap_xcalloc(ncodes, sizeof *cc);
    int e = code_counts(ref, ncodes, rc, test, err);
    if (!e)
        e = code_counts(cur, ncodes, cc, test, err);
    if (e) {
        free(rc);
        free(cc);
        return e;
    }
    size_t j = 0;
    for (size_t i = 0; i < ncodes; i++)
        if (rc[i] || cc[i])
            rc[j] = rc[i], cc[j] = cc[i], j++;
    *rc_out = rc;
    *cc_out = cc;
    *k = j;
    return 0;
}

/* ---- fisher_exact: scipy.stats.fisher_exact, two-sided ------------------- */

/* The hypergeometric law of the table's top-left cell given its margins.
 * GSL's gsl_ran_hypergeometric_pdf multiplies binomial coefficients and
 * overflows past ~1000 rows (and is off by 1e-9 relative already at 2000),
 * so the pmf is Loader's saddle-point form (C. Loader, "Fast and accurate
 * computation of binomial probabilities", 2000): three binomial densities,
 * each exp of Stirling-series remainders and a deviance bd0 computed
 * without cancellation; accurate to ~1e-14 relative at any size. */
struct hyper {
    long n1, n2, t; /* first-row total, second-row total, first-column total */
};

/* ln n! - ln(sqrt(2 pi n) (n/e)^n): GSL's lngamma for n <= 15 (absolute
 * error ~1e-14), the Stirling series beyond (Loader's cut points). */
static double stirlerr(double n)
{
    const double s0 = 1. / 12, s1 = 1. / 360, s2 = 1. / 1260, s3 = 1. / 1680, s4 = 1. / 1188;
    if (n <= 15) {
        gsl_sf_result lg;
        gsl_sf_lngamma_e(n + 1, &lg);
        return lg.val - (n + 0.5) * log(n) + n - 0.5 * log(2 * M_PI);
    }
    double nn = n * n;
    if (n > 500)
        return (s0 - s1 / nn) / n;
    if (n > 80)
        return (s0 - (s1 - s2 / nn) / nn) / n;
    if (n > 35)
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n;
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n;
}

/* x ln(x/m) + m - x, by its series when x is near m. */
static double bd0(double x, double m)
{
    if (fabs(x - m) < 0.1 * (x + m)) {
        double v = (x - m) / (x + m), s = (x - m) * v, ej = 2 * x * v;
        v *= v;
        for (int j = 1; j < 1000; j++) {
            ej *= v;
            double s1 = s + ej / (2 * j + 1);
            if (s1 == s)
                return s1;
            s = s1;
        }
        return s;
    }
    return x * log(x / m) + m - x;
}

/* The binomial density of x in n trials, success probability p = 1 - q. */
static double dbinom_raw(double x, double n, double p, double q)
{
    if (p == 0)
        return x == 0 ? 1 : 0;
    if (q == 0)
        return x == n ? 1 : 0;
    if (x == 0)
        return exp(p < 0.1 ? -bd0(n, n * q) - n * p : n * log(q));
    if (x == n)
        return exp(q < 0.1 ? -bd0(n, n * p) - n * q : n * log(p));
    double lc = stirlerr(n) - stirlerr(x) - stirlerr(n - x) - bd0(x, n * p) - bd0(n - x, n * q);
    double lf = log(2 * M_PI) + log(x) + log1p(-x / n);
    return exp(lc - 0.5 * lf);
}

static double hy_pmf(const struct hyper *h, long k)
{
    long lo = h->t - h->n2 > 0 ? h->t - h->n2 : 0, hi = h->t < h->n1 ? h->t : h->n1;
    if (k < lo || k > hi)
        return 0;
    if (h->t == 0)
        return 1;
    double tot = (double)(h->n1 + h->n2), p = (double)h->t / tot, q = (double)(h->n1 + h->n2 - h->t) / tot;
    double p1 = dbinom_raw((double)k, (double)h->n1, p, q);
    double p2 = dbinom_raw((double)(h->t - k), (double)h->n2, p, q);
    double p3 = dbinom_raw((double)h->t, tot, p, q);
    return p1 * p2 / p3;
}

/* sum of pmf over [a, b], from a towards b, stopping once the terms no
 * longer change the sum (they fall off geometrically away from the mode;
 * callers pass a at the mode's side). */
static double hy_sum(const struct hyper *h, long a, long b)
{
    long lo = h->t - h->n2 > 0 ? h->t - h->n2 : 0, hi = h->t < h->n1 ? h->t : h->n1;
    long from = a > b ? b : a, to = a > b ? a : b;
    from = from < lo ? lo : from;
    to = to > hi ? hi : to;
    if (from > to)
        return 0;
    double s = 0;
    long step = a > b ? -1 : 1;
    for (long k = step > 0 ? from : to; k >= from && k <= to; k += step) {
        double v = hy_pmf(h, k);
        if (s > 0 && v < s * 1e-18)
            break;
        s += v;
    }
    return s;
}

static double hy_cdf(const struct hyper *h, long k) /* P(X <= k) */
{
    return k < 0 ? 0 : hy_sum(h, k, 0);
}

static double hy_sf(const struct hyper *h, long k) /* P(X > k) */
{
    return hy_sum(h, k + 1, h->t);
}

/* scipy's search for the point on the far side of the mode where the pmf
 * crosses d: the i in [lo, hi] with f(i) <= d < f(i+1), f = sign * pmf
 * increasing there. */
static long hy_search(const struct hyper *h, double sign, double d, long lo, long hi)
{
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        double v = sign * hy_pmf(h, mid);
        if (v < d)
            lo = mid + 1;
        else if (v > d)
            hi = mid - 1;
        else
            return mid;
    }
    return sign * hy_pmf(h, lo) <= d ? lo : lo - 1;
}

/* Two-sided p of the 2x2 table [[c00, c01], [c10, c11]]: the probability
 * of tables no more likely than this one (within scipy's 1e-14 slack). */
static double fisher_two_sided(uint64_t c00, uint64_t c01, uint64_t c10, uint64_t c11)
{
    if (c00 + c01 == 0 || c10 + c11 == 0 || c00 + c10 == 0 || c01 + c11 == 0)
        return 1.0;
    struct hyper h = {(long)(c00 + c01), (long)(c10 + c11), (long)(c00 + c10)};
    long n1 = h.n1, n2 = h.n2, n = h.t, x = (long)c00;
    long mode = (long)((double)((n + 1) * (n1 + 1)) / (double)(n1 + n2 + 2));
    double pexact = hy_pmf(&h, x), pmode = hy_pmf(&h, mode), gamma = 1 + 1e-14, p;
    if (fabs(pexact - pmode) / fmax(pexact, pmode) <= 1e-14)
        return 1.0;
    if (x < mode) {
        double plower = hy_cdf(&h, x);
        if (hy_pmf(&h, n) > pexact * gamma)
            return plower;
        long guess = hy_search(&h, -1, -pexact * gamma, mode, n);
        p = plower + hy_sf(&h, guess);
    } else {
        double pupper = hy_sf(&h, x - 1);
        if (hy_pmf(&h, 0) > pexact * gamma)
            return pupper;
        long guess = hy_search(&h, 1, pexact * gamma, 0, mode);
        p = pupper + hy_cdf(&h, guess);
    }
    return p < 1.0 ? p : 1.0;
}

/* Evidently requires reference and current of equal length and raises
 * otherwise; Fisher's test needs no such thing (the row totals are simply
 * conditioned on), so we test any sizes: equal sizes give Evidently's
 * number, others scipy.stats.fisher_exact's on the same table. More than two
 * categories over both samples is an error (Evidently either raises or,
 * when each sample alone has two, maps the extra ones by Python set order). */
int mon_st_fisher_exact(const struct mon_sample *ref, const struct mon_sample *cur,
                        enum mon_coltype type, double threshold, struct mon_stat_result *out,
                        struct cap_error *err)
{
    int rc = need_sizes(ref, cur, 1, "fisher_exact", err);
    if (rc)
        return rc;
    uint64_t *rcnt, *ccnt;
    size_t k;
    rc = category_table(ref, cur, "fisher_exact", &rcnt, &ccnt, &k, err);
    if (rc)
        return rc;
    if (k > 2) {
        free(rcnt);
        free(ccnt);
        return cap_err(err, CAP_EINVAL,
                       "fisher_exact needs a binary column, but the reference and the current "
                       "data hold %zu categories",
                       k);
    }
    /* Evidently's table [[one_cur, zero_cur], [one_ref, zero_ref]]; with a
     * single category one column is empty and p = 1 */
    uint64_t zr = rcnt[0], zc = ccnt[0], or_ = k == 2 ? rcnt[1] : 0, oc = k == 2 ? ccnt[1] : 0;
    free(rcnt);
    free(ccnt);
    set_pvalue(out, fisher_two_sided(oc, zc, or_, zr), threshold);
    return 0;
}

/* ---- g_test: scipy.stats.power_divergence(cur, ref, "log-likelihood") --- */

/* G = 2 sum obs ln(obs/exp) over the categories of either sample, chi-square
 * with k - 1 degrees of freedom (GSL gsl_cdf_chisq_Q). Evidently passes the
 * reference counts as the expected frequencies; scipy >= 1.9 refuses that
 * unless both samples have the same size, so Evidently fails whenever the
 * sizes differ. Statistically the reference is the expected distribution of
 * a goodness-of-fit test, so we scale its counts to the current total,
 * exp = ref_count * (n_cur / n_ref): equal sizes give Evidently's number
 * bit for bit (the factor is exactly 1), others equal
 * power_divergence(cur, ref * n_cur / n_ref, lambda_="log-likelihood"). */
int mon_st_g_test(const struct mon_sample *ref, const struct mon_sample *cur,
                  enum mon_coltype type, double threshold, struct mon_stat_result *out,
                  struct cap_error *err)
{
    int rc = need_sizes(ref, cur, 1, "g_test", err);
    if (rc)
        return rc;
    uint64_t *rcnt, *ccnt;
    size_t k;
    rc = category_table(ref, cur, "g_test", &rcnt, &ccnt, &k, err);
    if (rc)
        return rc;
    double scale = (double)cur->n / (double)ref->n, *terms = cap_xmalloc(k * sizeof *terms);
    for (size_t i = 0; i < k; i++) {
        double obs = (double)ccnt[i], ex = (double)rcnt[i] * scale;
        terms[i] = obs == 0 ? 0.0 : 2.0 * (obs * log(obs / ex)); /* xlogy; inf when ex = 0 */
    }
    double g = pw_sum(terms, k, 0, false), df = (double)k - 1, p;
    free(terms);
    free(rcnt);
    free(ccnt);
    if (!(df > 0) || isnan(g))
        p = NAN; /* one category: scipy's chi2 with 0 degrees of freedom */
    else if (isinf(g))
        p = 0.0;
    else
        p = gsl_cdf_chisq_Q(g, df);
    set_pvalue(out, p, threshold);
    return 0;
}

/* ---- es: scipy.stats.epps_singleton_2samp(ref, cur), t = (0.4, 0.8) ----- */

/* numpy.percentile's linear interpolation at q in (0, 1) of sorted v:
 * index (n-1)q, then numpy's _lerp (from the upper end when the weight is
 * at least a half). */
static double np_percentile(const double *v, size_t n, double q)
{
    double vi = (double)n * q + (1 + q * -1.0) - 1; /* numpy's virtual index */
    double lo = floor(vi), g = vi - lo;
    size_t i = (size_t)lo, j = i + 1 < n ? i + 1 : n - 1;
    double a = v[i], b = v[j], d = b - a;
    return g >= 0.5 ? b - d * (1 - g) : a + d * g;
}

/* The four rows cos(t1 x/s), cos(t2 x/s), sin(t1 x/s), sin(t2 x/s) of one
 * sample, their means (numpy's) and their biased covariance (numpy.cov
 * times (n-1)/n, as scipy takes it), into mean[4] and cov[4][4]. */
static void es_moments(const struct mon_sample *s, const double ts[2], double mean[4],
                       double cov[4][4])
{
    size_t n = s->n;
    double *g = cap_xmalloc(4 * n * sizeof *g), *prod = cap_xmalloc(n * sizeof *prod);
    for (size_t k = 0; k < n; k++) {
        g[0 * n + k] = cos(ts[0] * s->v[k]);
        g[1 * n + k] = cos(ts[1] * s->v[k]);
        g[2 * n + k] = sin(ts[0] * s->v[k]);
        g[3 * n + k] = sin(ts[1] * s->v[k]);
    }
    for (int r = 0; r < 4; r++) {
        mean[r] = pw_sum(g + r * n, n, 0, false) / (double)n;
        for (size_t k = 0; k < n; k++)
            g[r * n + k] -= mean[r];
    }
    double inv = 1.0 / (double)(n - 1);
    for (int r = 0; r < 4; r++)
        for (int c = r; c < 4; c++) {
            for (size_t k = 0; k < n; k++)
                prod[k] = g[r * n + k] * g[c * n + k];
            cov[r][c] = cov[c][r] = pw_sum(prod, n, 0, false) * inv * (double)(n - 1) / (double)n;
        }
    free(g);
    free(prod);
}

/* w = n d' pinv(S) d with numpy's pinv (singular values at or below 1e-15 of
 * the largest are dropped; GSL's one-sided Jacobi SVD,
 * gsl_linalg_SV_decomp_jacobi); *rank is numpy.linalg.matrix_rank of that
 * pseudo-inverse: its singular values 1/s above 4 eps times the largest.
 * When the data have few distinct values S is singular in exact arithmetic
 * (rank 1 for two values) and whether numpy keeps a rounding-noise singular
 * value of ~1e-15 decides scipy's degrees of freedom: there scipy's p-value
 * is noise and ours can differ (measured: 37 of 300 integer samples with 2-4
 * values out of tolerance, 2 verdicts apart). */
static double es_quadform(double S[4][4], const double d[4], double n, int *rank)
{
    gsl_matrix *A = gsl_matrix_alloc(4, 4), *V = gsl_matrix_alloc(4, 4);
    gsl_vector *sv = gsl_vector_alloc(4);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            gsl_matrix_set(A, i, j, S[i][j]);
    gsl_linalg_SV_decomp_jacobi(A, V, sv); /* A becomes U */
    double smax = gsl_vector_max(sv), smin_kept = INFINITY, pinv_d[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4; k++) {
        double s = gsl_vector_get(sv, k);
        if (s > 1e-15 * smax && s < smin_kept)
            smin_kept = s;
    }
    *rank = 0;
    for (int k = 0; k < 4; k++) {
        double s = gsl_vector_get(sv, k);
        if (!(s > 1e-15 * smax))
            continue;
        *rank += 1.0 / s > (1.0 / smin_kept) * 4 * DBL_EPSILON;
        double ud = 0; /* (U^T d)_k / s_k, then V times it */
        for (int i = 0; i < 4; i++)
            ud += gsl_matrix_get(A, i, k) * d[i];
        ud /= s;
        for (int i = 0; i < 4; i++)
            pinv_d[i] += gsl_matrix_get(V, i, k) * ud;
    }
    double w = 0;
    for (int i = 0; i < 4; i++)
        w += d[i] * pinv_d[i];
    gsl_matrix_free(A);
    gsl_matrix_free(V);
    gsl_vector_free(sv);
    return n * w;
}

int mon_st_es(const struct mon_sample *ref, const struct mon_sample *cur, enum mon_coltype type,
              double threshold, struct mon_stat_result *out, struct cap_error *err)
{
    int rc = need_sizes(ref, cur, 1, "es", err);
    if (rc)
        return rc;
    size_t nx = ref->n, ny = cur->n;
    double *all = cap_xmalloc((nx + ny) * sizeof *all);
    memcpy(all, ref->v, nx * sizeof *all);
    memcpy(all + nx, cur->v, ny * sizeof *all);
    mon_sort(all, nx + ny);
    double iqr = np_percentile(all, nx + ny, 0.75) - np_percentile(all, nx + ny, 0.25);
    free(all);
    if (iqr == 0) /* Evidently raises so (the scale of the test is the IQR) */
        return cap_err(err, CAP_EINVAL,
                       "es (Epps-Singleton) needs spread in the data: the interquartile range "
                       "of the reference and the current data together is 0");
    if (nx < 5 || ny < 5) { /* scipy: NaN below 5 values; Evidently: no drift */
        set_pvalue(out, NAN, threshold);
        return 0;
    }
    double sigma = iqr / 2, ts[2] = {0.4 / sigma, 0.8 / sigma};
    double mx[4], my[4], cx[4][4], cy[4][4], S[4][4], d[4], n = (double)(nx + ny);
    es_moments(ref, ts, mx, cx);
    es_moments(cur, ts, my, cy);
    for (int i = 0; i < 4; i++) {
        d[i] = mx[i] - my[i];
        for (int j = 0; j < 4; j++)
            S[i][j] = (n / (double)nx) * cx[i][j] + (n / (double)ny) * cy[i][j];
    }
    int rank;
    double w = es_quadform(S, d, n, &rank);
    if (nx < 25 && ny < 25) /* scipy's small-sample correction */
        w *= 1.0 / (1.0 + pow(n, -0.45) + 10.1 * (pow((double)nx, -1.7) + pow((double)ny, -1.7)));
    double p = rank > 0 ? gsl_cdf_chisq_Q(w, rank) : NAN;
    set_pvalue(out, p, threshold);
    return 0;
}

/* ---- empirical_mmd: Evidently's own mmd_stattest ----------------------- */

/* Evidently builds the full (n+m)^2 kernel matrix and copies it for each of
 * its 100 permutations (0.8 GB a copy at 10000 values); we never store it:
 * each kernel row is computed when needed and folded into every split's
 * sums, so memory is O(100 (n+m)) and time O((n+m)^2) exponentials plus
 * 100 min(n,m)^2 additions (measured: ~1 s at 4000 values, ~15 s at the
 * 20000 cap). */
#define MMD_MAX_VALUES 20000
#define MMD_PERMUTATIONS 100 /* Evidently's count */
#define MMD_SEED 42          /* ours: Evidently draws from numpy's unseeded global RNG */

/* Evidently's squared distance y^2 - 2xy + x^2, in its order of operations
 * (not (x-y)^2: the last bits differ, and the median below sees them). */
static double mmd_dist(double x, double y)
{
    return (y * y - 2 * (x * y)) + x * x;
}

/* The k-th smallest of v[0..n) (Hoare's selection; v is reordered). */
static double select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

#define MMD_BUCKETS 65536
#define MMD_COLLECT (1u << 22) /* values gathered for the final selection */

/* One pass over the n^2 distances: how many fall below lo, and a value
 * histogram of those in [lo, hi] with each bucket's smallest and largest
 * member. The bucket of a value is monotone in the value, so a bucket holds
 * exactly the distances between its own min and max. */
static size_t mmd_histogram(const double *x, size_t n, double lo, double hi, size_t *cnt,
                            double *bmin, double *bmax)
{
    size_t below = 0;
    double width = hi - lo;
    for (size_t b = 0; b < MMD_BUCKETS; b++)
        cnt[b] = 0, bmin[b] = INFINITY, bmax[b] = -INFINITY;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double d = mmd_dist(x[i], x[j]);
            if (d < lo) {
                below++;
                continue;
            }
            if (d > hi)
                continue;
            size_t b = width > 0 ? (size_t)((d - lo) / width * MMD_BUCKETS) : 0;
            b = b < MMD_BUCKETS ? b : MMD_BUCKETS - 1;
            cnt[b]++;
            bmin[b] = d < bmin[b] ? d : bmin[b];
            bmax[b] = d > bmax[b] ? d : bmax[b];
        }
    return below;
}

/* The k-th smallest of the n^2 distances (diagonal included, as in
 * Evidently's kxx), without storing them: histogram passes narrow the
 * range to one bucket, whose members are then gathered and selected. */
static double mmd_kth_distance(const double *x, size_t n, size_t k)
{
    size_t *cnt = cap_xmalloc(MMD_BUCKETS * sizeof *cnt);
    double *bmin = cap_xmalloc(MMD_BUCKETS * sizeof *bmin);
    double *bmax = cap_xmalloc(MMD_BUCKETS * sizeof *bmax), lo = INFINITY, hi = -INFINITY, res;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double d = mmd_dist(x[i], x[j]);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
    for (;;) {
        size_t below = mmd_histogram(x, n, lo, hi, cnt, bmin, bmax), b = 0, r = k - below;
        while (r >= cnt[b]) /* the target is in [lo, hi], so some bucket holds it */
            r -= cnt[b++];
        if (bmin[b] == bmax[b]) {
            res = bmin[b];
            break;
        }
        lo = bmin[b], hi = bmax[b];
        if (cnt[b] <= MMD_COLLECT) {
            double *v = cap_xmalloc(cnt[b] * sizeof *v);
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < n; j++) {
                    double d = mmd_dist(x[i], x[j]);
                    if (d >= lo && d <= hi)
                        v[m++] = d;
                }
            res = select_kth(v, m, r);
            free(v);
            break;
        }
    }
    free(cnt);
    free(bmin);
    free(bmax);
    return res;
}

/* Evidently's kernel width: sqrt(0.5 * median) of the reference's pairwise
 * squared distances (numpy's 'nearest' percentile: the value at index
 * round-half-even((n^2 - 1) / 2) in sorted order), sqrt(0.5) if that is 0. */
static double mmd_sigma(const double *x, size_t n)
{
    size_t nn = n * n;
    double med = mmd_kth_distance(x, n, (size_t)rint((double)(nn - 1) * 0.5));
    double sigma = pow(0.5 * med, 0.5);
    return sigma == 0 ? pow(0.5 * 1, 0.5) : sigma;
}

/* Row i of the RBF kernel over reference then current values, diagonal 0;
 * the current-by-reference block is Evidently's Kxy transposed, so its
 * distances are taken with the reference value first. */
static void mmd_kernel_row(const double *v, size_t N, size_t n, size_t i, double gamma,
                           double *row)
{
    for (size_t j = 0; j < N; j++) {
        double d = i >= n && j < n ? mmd_dist(v[j], v[i]) : mmd_dist(v[i], v[j]);
        row[j] = i == j ? 0.0 : exp(-gamma * d);
    }
}

/* The splits: split 0 is the observed one, the others MMD_PERMUTATIONS
 * random ones (seeded: MMD_SEED, GSL's mt19937 and gsl_ran_shuffle); for
 * each, the members of the smaller side `s` (label s: 0 reference-sized,
 * 1 current-sized), sorted for locality. */
struct mmd_splits {
    unsigned char *lab; /* (1 + MMD_PERMUTATIONS) x N labels */
    uint32_t *side;     /* (1 + MMD_PERMUTATIONS) x k members of side s */
    size_t N, n, k;
    unsigned char s;
};

static void mmd_splits_make(struct mmd_splits *sp, size_t n, size_t m)
{
    size_t N = n + m, L = 1 + MMD_PERMUTATIONS;
    sp->N = N, sp->n = n, sp->s = m <= n, sp->k = m <= n ? m : n;
    sp->lab = cap_xmalloc(L * N);
    sp->side = cap_xmalloc(L * sp->k * sizeof *sp->side);
    size_t *idx = cap_xmalloc(N * sizeof *idx);
    for (size_t i = 0; i < N; i++)
        idx[i] = i;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, MMD_SEED);
    for (size_t r = 0; r < L; r++) {
        unsigned char *lab = sp->lab + r * N;
        if (r > 0)
            gsl_ran_shuffle(rng, idx, N, sizeof *idx);
        for (size_t t = 0; t < N; t++)
            lab[idx[t]] = t >= n; /* the first n positions play the reference */
        size_t c = 0;
        for (size_t i = 0; i < N; i++)
            if (lab[i] == sp->s)
                sp->side[r * sp->k + c++] = (uint32_t)i;
    }
    gsl_rng_free(rng);
    free(idx);
}

static void mmd_splits_free(struct mmd_splits *sp)
{
    free(sp->lab);
    free(sp->side);
}

/* Evidently's unbiased MMD^2 from block sums: A*Sxx + B*Syy - 2*mean(Kxy). */
static double mmd_value(double sxx, double syy, double sxy, size_t n, size_t m)
{
    double A = 1.0 / ((double)n * (double)(n - 1)), B = 1.0 / ((double)m * (double)(m - 1));
    return A * sxx + B * syy - 2.0 * (sxy / ((double)n * (double)m));
}

/* One pass over the kernel rows. The observed split's three blocks are
 * summed directly; a permuted split needs only the sum over its side-s
 * block (ss) and the row totals of side s (rs): with T the total,
 * cross = rs - ss and other = T - rs - cross. Fills stat[0..L). */
static void mmd_stats(const double *v, const struct mmd_splits *sp, double gamma, double *stat)
{
    size_t N = sp->N, n = sp->n, m = N - n, L = 1 + MMD_PERMUTATIONS;
    double *row = cap_xmalloc(N * sizeof *row), *ss = cap_xcalloc(L, sizeof *ss);
    double *rs = cap_xcalloc(L, sizeof *rs), total = 0, sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < N; i++) {
        mmd_kernel_row(v, N, n, i, gamma, row);
        double to_ref = pw_sum(row, n, 0, false), to_cur = pw_sum(row + n, m, 0, false);
        if (i < n)
            sxx += to_ref;
        else
            syy += to_cur, sxy += to_ref;
        total += to_ref + to_cur;
        for (size_t r = 1; r < L; r++) {
            if (sp->lab[r * N + i] != sp->s)
                continue;
            const uint32_t *mem = sp->side + r * sp->k;
            double acc = 0;
            for (size_t t = 0; t < sp->k; t++)
                acc += row[mem[t]];
            ss[r] += acc;
            rs[r] += to_ref + to_cur;
        }
    }
    stat[0] = mmd_value(sxx, syy, sxy, n, m);
    for (size_t r = 1; r < L; r++) {
        double cross = rs[r] - ss[r], other = total - rs[r] - cross;
        stat[r] = sp->s ? mmd_value(other, ss[r], cross, n, m) : mmd_value(ss[r], other, cross, n, m);
    }
    free(row);
    free(ss);
    free(rs);
}

/* Evidently's p-value: the share of the random splits whose MMD is at least
 * the observed one. Ours agrees with Evidently's only within Monte-Carlo
 * error (standard error sqrt(p(1-p)/100) <= 0.05). */
int mon_st_empirical_mmd(const struct mon_sample *ref, const struct mon_sample *cur,
                         enum mon_coltype type, double threshold, struct mon_stat_result *out,
                         struct cap_error *err)
{
    /* Evidently divides by n(n-1) and m(m-1): ZeroDivisionError at 1 */
    int rc = need_sizes(ref, cur, 2, "empirical_mmd", err);
    if (rc)
        return rc;
    size_t n = ref->n, m = cur->n, N = n + m;
    if (N > MMD_MAX_VALUES)
        return cap_err(err, CAP_EINVAL,
                       "empirical_mmd compares every pair of values (O((n+m)^2) kernel terms "
                       "for each of 100 permutations) and takes at most %d values in the "
                       "reference and the current data together, got %zu; sample the data or "
                       "choose another stattest",
                       MMD_MAX_VALUES, N);
    double sigma = mmd_sigma(ref->v, n), gamma = 1.0 / (2.0 * (sigma * sigma));
    double *v = cap_xmalloc(N * sizeof *v), stat[1 + MMD_PERMUTATIONS];
    memcpy(v, ref->v, n * sizeof *v);
    memcpy(v + n, cur->v, m * sizeof *v);
    struct mmd_splits sp;
    mmd_splits_make(&sp, n, m);
    mmd_stats(v, &sp, gamma, stat);
    mmd_splits_free(&sp);
    free(v);
    size_t hits = 0;
    for (int r = 1; r <= MMD_PERMUTATIONS; r++)
        hits += stat[0] <= stat[r];
    set_pvalue(out, (double)hits / MMD_PERMUTATIONS, threshold);
    return 0;
}
