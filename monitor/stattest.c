/* stattest.c - Evidently's binning (get_binned_data) and nine of its drift
 * tests: ks, chisquare, z, wasserstein, jensenshannon, psi, kl_div,
 * hellinger and TVD. Each follows the semantics of Evidently 0.7 and of the
 * scipy/numpy calls it makes (read, not copied), so that scores agree to
 * ~1e-12 relative; the distributions come from GSL (chi-square and normal
 * tails) or, where GSL has none (the K-S distributions), from the published
 * methods cited at each function. */
#include "monitor/stattest.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mt.h"

/* ---- shared helpers ---- */

/* A double's bits as an unsigned key in the same order (negatives
 * flipped whole, positives with the sign bit set). */
static uint64_t sort_key(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return (u >> 63) ? ~u : u | 0x8000000000000000ull;
}

static double key_value(uint64_t u)
{
    u = (u >> 63) ? u & 0x7fffffffffffffffull : ~u;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* LSD radix sort, 8 bits a pass, passes whose byte never varies skipped:
 * sorting dominated the run time with qsort (~40% of a 300k x 29 report,
 * a callback per comparison); this is ~8x faster and needs 2 n words. */
void mon_sort(double *v, size_t n)
{
    if (n < 2)
        return;
    uint64_t *a = cap_xmalloc(n * sizeof *a), *b = cap_xmalloc(n * sizeof *b);
    size_t (*cnt)[256] = cap_xcalloc(8, sizeof *cnt);
    for (size_t i = 0; i < n; i++) {
        a[i] = sort_key(v[i]);
        for (int p = 0; p < 8; p++)
            cnt[p][(a[i] >> (8 * p)) & 0xff]++;
    }
    for (int p = 0; p < 8; p++) {
        if (cnt[p][(a[0] >> (8 * p)) & 0xff] == n)
            continue; /* every key has this byte */
        size_t pos = 0;
        for (int d = 0; d < 256; d++) {
            size_t c = cnt[p][d];
            cnt[p][d] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++)
            b[cnt[p][(a[i] >> (8 * p)) & 0xff]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = key_value(a[i]);
    free(a);
    free(b);
    free(cnt);
}

static double *sorted_copy(const struct mon_sample *s)
{
    double *v = cap_xmalloc((s->n ? s->n : 1) * sizeof *v);
    if (s->n)
        memcpy(v, s->v, s->n * sizeof *v);
    mon_sort(v, s->n);
    return v;
}

/* numpy's sum of a contiguous float64 array, in its order: a plain loop
 * below 8 values, 8 running sums up to 128, halves (cut at a multiple of
 * 8) above. The same order gives the same rounding: a naive loop over 10^6
 * values differs by up to ~1e-10 relative, and TVD's permutation test
 * compares sums that are equal but for rounding. */
static double psum(const double *v, size_t n)
{
    if (n < 8) {
        double s = 0.;
        for (size_t i = 0; i < n; i++)
            s += v[i];
        return s;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++)
            r[j] = v[j];
        size_t i = 8;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += v[i + j];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            s += v[i];
        return s;
    }
    size_t h = n / 2;
    h -= h % 8;
    return psum(v, h) + psum(v + h, n - h);
}

static size_t count_unique_sorted(const double *v, size_t n)
{
    size_t u = n ? 1 : 0;
    for (size_t i = 1; i < n; i++)
        u += v[i] != v[i - 1];
    return u;
}

/* The distinct values of two samples, sorted, with each sample's count of
 * each: pandas' value_counts over the union of keys. */
struct mon_counts {
    double *key;
    size_t *r, *c;
    size_t k;
};

static void counts_make(const double *rs, size_t nr, const double *cs, size_t nc,
                        struct mon_counts *out)
{
    size_t cap = nr + nc ? nr + nc : 1;
    out->key = cap_xmalloc(cap * sizeof *out->key);
    out->r = cap_xcalloc(cap, sizeof *out->r);
    out->c = cap_xcalloc(cap, sizeof *out->c);
    size_t i = 0, j = 0, k = 0;
    while (i < nr || j < nc) {
        double x = (j >= nc || (i < nr && rs[i] <= cs[j])) ? rs[i] : cs[j];
        out->key[k] = x;
        while (i < nr && rs[i] == x)
            out->r[k]++, i++;
        while (j < nc && cs[j] == x)
            out->c[k]++, j++;
        k++;
    }
    out->k = k;
}

static void counts_free(struct mon_counts *c)
{
    free(c->key);
    free(c->r);
    free(c->c);
}

static void counts_of(const struct mon_sample *ref, const struct mon_sample *cur,
                      struct mon_counts *out)
{
    double *rs = sorted_copy(ref), *cs = sorted_copy(cur);
    counts_make(rs, ref->n, cs, cur->n, out);
    free(rs);
    free(cs);
}

/* numpy.histogram_bin_edges(a, bins="sturges") for a of size n with the
 * given min and max: width = ptp / (log2(n) + 1), ceil(ptp / width) bins,
 * edges as numpy.linspace makes them (i * step + lo, the last one exactly
 * hi). An integer array never gets bins narrower than 1. Returns the
 * number of bins; *edges holds that many + 1. */
static size_t sturges_edges(double lo, double hi, size_t n, bool integer, double **edges)
{
    /* numpy takes the width from the data's ptp, before widening a
     * constant array's range to +-0.5: that gives one bin */
    double width = (hi - lo) / (log2((double)n) + 1.0);
    if (lo == hi) {
        lo -= 0.5;
        hi += 0.5;
    }
    double ptp = hi - lo;
    if (integer && width > 0 && width < 1)
        width = 1;
    size_t nb = width > 0 ? (size_t)ceil(ptp / width) : 1;
    if (nb == 0)
        nb = 1;
    double *e = cap_xmalloc((nb + 1) * sizeof *e);
    double step = ptp / (double)nb;
    for (size_t i = 0; i <= nb; i++)
        e[i] = (double)i * step + lo;
    e[nb] = hi;
    *edges = e;
    return nb;
}

/* numpy.histogram against explicit edges: bin i holds e[i] <= x < e[i+1],
 * the last bin also its right edge; values outside are not counted. */
static void histogram(const double *v, size_t n, const double *e, size_t nb, size_t *cnt)
{
    memset(cnt, 0, nb * sizeof *cnt);
    for (size_t i = 0; i < n; i++) {
        double x = v[i];
        if (!(x >= e[0] && x <= e[nb]))
            continue;
        size_t lo = 0, hi = nb + 1; /* first edge > x */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (e[mid] <= x)
                lo = mid + 1;
            else
                hi = mid;
        }
        size_t b = lo - 1;
        if (b >= nb)
            b = nb - 1;
        cnt[b]++;
    }
}

/* Evidently's epsilon for empty bins: a millionth of the smallest non-zero
 * share when that is <= 1e-4, else 1e-4 (so log ratios stay finite). */
static void fill_zeroes_in(double *p, size_t n)
{
    double mn = INFINITY;
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0 && p[i] < mn)
            mn = p[i];
    if (mn == INFINITY)
        return;
    double eps = mn <= 0.0001 ? mn / 1e6 : 0.0001;
    for (size_t i = 0; i < n; i++)
        if (p[i] == 0)
            p[i] = eps;
}

int mon_bins_make(const struct mon_sample *ref, const struct mon_sample *cur,
                  enum mon_coltype type, int n_bins, bool fill_zeroes, struct mon_bins *out,
                  struct cap_error *err)
{
    (void)n_bins; /* Evidently passes it but bins by Sturges' rule */
    memset(out, 0, sizeof *out);
    if (ref->n == 0 || cur->n == 0)
        return cap_err(err, CAP_EINVAL, "binning needs non-empty reference and current data");
    double *rs = sorted_copy(ref), *cs = sorted_copy(cur);
    size_t *rc, *cc, nb;
    if (type == MON_NUM && count_unique_sorted(rs, ref->n) > 20) {
        double lo = fmin(rs[0], cs[0]), hi = fmax(rs[ref->n - 1], cs[cur->n - 1]);
        /* numpy widens bins to 1 for int64 data (both columns int64; a
         * concatenation with a float column is float) */
        double *e;
        nb = sturges_edges(lo, hi, ref->n + cur->n, ref->integer && cur->integer, &e);
        rc = cap_xmalloc(nb * sizeof *rc);
        cc = cap_xmalloc(nb * sizeof *cc);
        histogram(rs, ref->n, e, nb, rc);
        histogram(cs, cur->n, e, nb, cc);
        free(e);
    } else {
        struct mon_counts k;
        counts_make(rs, ref->n, cs, cur->n, &k);
        nb = k.k;
        rc = k.r;
        cc = k.c;
        free(k.key);
    }
    free(rs);
    free(cs);
    out->n = nb;
    out->ref = cap_xmalloc(nb * sizeof *out->ref);
    out->cur = cap_xmalloc(nb * sizeof *out->cur);
    for (size_t i = 0; i < nb; i++) {
        out->ref[i] = (double)rc[i] / (double)ref->n;
        out->cur[i] = (double)cc[i] / (double)cur->n;
    }
    free(rc);
    free(cc);
    if (fill_zeroes)
        mon_bins_fill_zeroes(out);
    return 0;
}

void mon_bins_fill_zeroes(struct mon_bins *b)
{
    fill_zeroes_in(b->ref, b->n);
    fill_zeroes_in(b->cur, b->n);
}

void mon_bins_free(struct mon_bins *b)
{
    free(b->ref);
    free(b->cur);
    b->ref = b->cur = NULL;
    b->n = 0;
}

/* ---- distances over binned shares ---- */

static int result(struct mon_stat_result *out, double score, bool drift)
{
    out->score = score;
    out->drift = drift;
    return 0;
}

/* scipy.special.rel_entr: x log(x/y), 0 when x = 0, inf when y = 0 < x. */
static double rel_entr(double x, double y)
{
    if (x > 0 && y > 0)
        return x * log(x / y);
    if (x == 0 && y >= 0)
        return 0;
    return INFINITY;
}

static double sum_of(const double *p, size_t n)
{
    return psum(p, n);
}

int mon_st_psi(const struct mon_sample *ref, const struct mon_sample *cur,
               enum mon_coltype type, double threshold, struct mon_stat_result *out,
               struct cap_error *err)
{
    struct mon_bins b;
    int rc = mon_bins_make(ref, cur, type, 30, true, &b, err);
    if (rc < 0)
        return rc;
    double v = mon_shares_psi(&b);
    mon_bins_free(&b);
    return result(out, v, v >= threshold);
}

double mon_shares_psi(const struct mon_bins *b)
{
    double *t = cap_xmalloc((b->n ? b->n : 1) * sizeof *t);
    for (size_t i = 0; i < b->n; i++)
        t[i] = (b->ref[i] - b->cur[i]) * log(b->ref[i] / b->cur[i]);
    double v = psum(t, b->n);
    free(t);
    return v;
}

/* scipy.stats.entropy(p, q): both normalised to sum 1 first (the epsilon
 * fill leaves them slightly above 1), then sum of rel_entr. */
int mon_st_kl_div(const struct mon_sample *ref, const struct mon_sample *cur,
                  enum mon_coltype type, double threshold, struct mon_stat_result *out,
                  struct cap_error *err)
{
    struct mon_bins b;
    int rc = mon_bins_make(ref, cur, type, 30, true, &b, err);
    if (rc < 0)
        return rc;
    double v = mon_shares_kl_div(&b);
    mon_bins_free(&b);
    return result(out, v, v >= threshold);
}

double mon_shares_kl_div(const struct mon_bins *b)
{
    double sp = sum_of(b->ref, b->n), sq = sum_of(b->cur, b->n);
    double *t = cap_xmalloc((b->n ? b->n : 1) * sizeof *t);
    for (size_t i = 0; i < b->n; i++)
        t[i] = rel_entr(b->ref[i] / sp, b->cur[i] / sq);
    double v = psum(t, b->n);
    free(t);
    return v;
}

/* scipy.spatial.distance.jensenshannon (natural log) over the shares
 * without the epsilon fill. */
int mon_st_jensenshannon(const struct mon_sample *ref, const struct mon_sample *cur,
                         enum mon_coltype type, double threshold, struct mon_stat_result *out,
                         struct cap_error *err)
{
    struct mon_bins b;
    int rc = mon_bins_make(ref, cur, type, 30, false, &b, err);
    if (rc < 0)
        return rc;
    double v = mon_shares_jensenshannon(&b);
    mon_bins_free(&b);
    return result(out, v, v >= threshold);
}

double mon_shares_jensenshannon(const struct mon_bins *b)
{
    double sp = sum_of(b->ref, b->n), sq = sum_of(b->cur, b->n);
    size_t n = b->n ? b->n : 1;
    double *l = cap_xmalloc(n * sizeof *l), *r = cap_xmalloc(n * sizeof *r);
    for (size_t i = 0; i < b->n; i++) {
        double p = b->ref[i] / sp, q = b->cur[i] / sq, m = (p + q) / 2.0;
        l[i] = rel_entr(p, m);
        r[i] = rel_entr(q, m);
    }
    double js = (psum(l, b->n) + psum(r, b->n)) / 2.0;
    free(l);
    free(r);
    return sqrt(js);
}

/* Population standard deviation (numpy.std, ddof 0): two passes. */
static double std_pop(const double *v, size_t n)
{
    double mean = psum(v, n) / (double)n;
    double *d = cap_xmalloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = (v[i] - mean) * (v[i] - mean);
    double s = psum(d, n) / (double)n;
    free(d);
    return sqrt(s);
}

/* scipy.stats.wasserstein_distance (the area between the two empirical
 * CDFs) divided by max(std(reference), 0.001), as Evidently norms it. */
int mon_st_wasserstein(const struct mon_sample *ref, const struct mon_sample *cur,
                       enum mon_coltype type, double threshold, struct mon_stat_result *out,
                       struct cap_error *err)
{
    if (ref->n == 0 || cur->n == 0)
        return cap_err(err, CAP_EINVAL, "wasserstein needs non-empty samples");
    double norm = fmax(std_pop(ref->v, ref->n), 0.001);
    double *u = sorted_copy(ref), *w = sorted_copy(cur);
    size_t nu = ref->n, nw = cur->n, n = nu + nw;
    double *t = cap_xmalloc(n * sizeof *t);
    size_t i = 0, j = 0, k = 0;
    double prev = fmin(u[0], w[0]);
    /* Walk the merged values; between consecutive ones both CDFs are flat. */
    while (i < nu || j < nw) {
        double x = (j >= nw || (i < nu && u[i] <= w[j])) ? u[i] : w[j];
        t[k++] = fabs((double)i / (double)nu - (double)j / (double)nw) * (x - prev);
        while (i < nu && u[i] == x)
            i++;
        while (j < nw && w[j] == x)
            j++;
        prev = x;
    }
    double d = psum(t, k);
    free(t);
    free(u);
    free(w);
    double v = d / norm;
    return result(out, v, v >= threshold);
}

/* ---- tests on category counts ---- */

/* scipy.stats.chisquare of the current counts against the reference's
 * shares scaled to the current size, k - 1 degrees of freedom. A category
 * the reference lacks has expected count 0: the statistic is infinite and
 * the p-value 0 (the current data is impossible under the reference), as
 * scipy computes it (with a warning). */
int mon_st_chisquare(const struct mon_sample *ref, const struct mon_sample *cur,
                     enum mon_coltype type, double threshold, struct mon_stat_result *out,
                     struct cap_error *err)
{
    if (ref->n == 0 || cur->n == 0)
        return cap_err(err, CAP_EINVAL, "chisquare needs non-empty samples");
    struct mon_counts c;
    counts_of(ref, cur, &c);
    double p = mon_counts_chisquare(c.r, c.c, c.k, ref->n, cur->n);
    counts_free(&c);
    return result(out, p, p < threshold);
}

double mon_counts_chisquare(const size_t *r, const size_t *c, size_t k, size_t nr, size_t nc)
{
    double knorm = (double)nc / (double)nr;
    double *t = cap_xmalloc((k ? k : 1) * sizeof *t);
    for (size_t i = 0; i < k; i++) {
        double e = (double)r[i] * knorm, o = (double)c[i];
        t[i] = e > 0 ? (o - e) * (o - e) / e : (o > 0 ? INFINITY : NAN);
    }
    double stat = psum(t, k);
    free(t);
    double p;
    if (k < 2 || isnan(stat))
        p = NAN; /* one category: chi-square with 0 degrees of freedom */
    else if (isinf(stat))
        p = 0;
    else
        p = gsl_cdf_chisq_Q(stat, (double)(k - 1));
    return p;
}

/* Evidently's two-proportion z-test of "value != the smallest value"
 * between the samples; p = 2 (1 - Phi(|z|)), as Evidently writes it. */
int mon_st_z(const struct mon_sample *ref, const struct mon_sample *cur, enum mon_coltype type,
             double threshold, struct mon_stat_result *out, struct cap_error *err)
{
    if (ref->n == 0 || cur->n == 0)
        return cap_err(err, CAP_EINVAL, "z needs non-empty samples");
    struct mon_counts c;
    counts_of(ref, cur, &c);
    double p = mon_counts_z(c.r[0], c.c[0], c.k, ref->n, cur->n);
    counts_free(&c);
    return result(out, p, p < threshold);
}

double mon_counts_z(size_t r0, size_t c0, size_t k, size_t nr, size_t nc)
{
    if (k == 1) /* the same constant in both */
        return 1.0;
    double n1 = (double)nr, n2 = (double)nc;
    double p1 = (n1 - (double)r0) / n1, p2 = (n2 - (double)c0) / n2;
    double P = (p1 * n1 + p2 * n2) / (n1 + n2);
    double z = (p1 - p2) / sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2));
    return 2 * (1 - gsl_cdf_ugaussian_P(fabs(z)));
}

/* Hellinger distance. Categorical: sqrt(1 - sum sqrt(p q)) over the
 * categories. Numerical: densities over Sturges bins of the distinct
 * values of both samples, times the bin width. */
int mon_st_hellinger(const struct mon_sample *ref, const struct mon_sample *cur,
                     enum mon_coltype type, double threshold, struct mon_stat_result *out,
                     struct cap_error *err)
{
    if (ref->n == 0 || cur->n == 0)
        return cap_err(err, CAP_EINVAL, "hellinger needs non-empty samples");
    struct mon_counts c;
    counts_of(ref, cur, &c);
    double bc = 0;
    if (type == MON_CAT) {
        bc = mon_counts_bhattacharyya(c.r, c.c, c.k, ref->n, cur->n);
    } else {
        double *e;
        size_t nb = sturges_edges(c.key[0], c.key[c.k - 1], c.k, ref->integer && cur->integer,
                                  &e);
        size_t *hr = cap_xmalloc(nb * sizeof *hr), *hc = cap_xmalloc(nb * sizeof *hc);
        histogram(ref->v, ref->n, e, nb, hr);
        histogram(cur->v, cur->n, e, nb, hc);
        double sr = 0, sc = 0;
        for (size_t i = 0; i < nb; i++)
            sr += (double)hr[i], sc += (double)hc[i];
        double width = (e[nb] - e[0]) / (double)nb;
        for (size_t i = 0; i < nb; i++) {
            double db = e[i + 1] - e[i]; /* numpy's density: n / db / n.sum() */
            double p1 = (double)hr[i] / db / sr, p2 = (double)hc[i] / db / sc;
            bc += sqrt(p1 * p2) * width;
        }
        free(hr);
        free(hc);
        free(e);
    }
    counts_free(&c);
    double v = mon_hellinger_of(bc);
    return result(out, v, v >= threshold);
}

double mon_counts_bhattacharyya(const size_t *r, const size_t *c, size_t k, size_t nr, size_t nc)
{
    double bc = 0;
    for (size_t i = 0; i < k; i++)
        bc += sqrt(((double)r[i] / (double)nr) * ((double)c[i] / (double)nc));
    return bc;
}

double mon_hellinger_of(double bc)
{
    return sqrt(1 - fmin(fmax(bc, 0.0), 1.0));
}

/* ---- Kolmogorov-Smirnov ---- */

/* Pr(D_{n,n} >= h/n) for two samples of equal size n: the reflection
 * formula 2 sum_k (-1)^(k+1) C(2n, n - k h) / C(2n, n) (Gnedenko-Korolyuk),
 * each ratio of binomials a product of h factors, the alternating sum
 * nested as P = A1 (1 - A2 (1 - A3 ...)) so that nothing cancels. */
static double ks_equal_n(long n, long h)
{
    double P = 0;
    for (long k = n / h; k >= 0; k--) {
        double a = 1; /* C(2n, n - (k+1) h) / C(2n, n - k h) */
        for (long j = 0; j < h; j++)
            a = (double)(n - k * h - j) * a / (double)(n + k * h + j + 1);
        P = a * (1 - P);
    }
    return 2 * P;
}

/* Pr(D_{m,n} >= d) for d = hg/(mn): the probability that a random lattice
 * path from (0,0) to (m,n) (a uniformly random interleaving of the two
 * sorted samples) reaches |i n - j m| >= h g (Hodges 1958). Paths are
 * weighed by their probability, not counted, so nothing overflows: from
 * (i,j) the next step is a reference value with probability
 * (m-i)/(m+n-i-j). The mass that steps onto the boundary is summed as it
 * leaves, so a tiny p-value keeps its digits (1 minus the mass that stays
 * inside would cancel to 0 below ~1e-16). O(m n) time: 10^8 steps, ~0.3 s,
 * at the 10000 x 10000 limit where the exact method is used. */
static double ks_exact(long m, long n, long hg)
{
    double *row = cap_xcalloc((size_t)n + 1, sizeof *row);
    double N = (double)(m + n), out = 0;
    for (long i = 0; i <= m; i++) {
        for (long j = 0; j <= n; j++) {
            if (i == 0 && j == 0) {
                row[j] = 1;
                continue;
            }
            double v = 0;
            if (i > 0) /* from (i-1, j): row[j] still holds row i-1 */
                v += row[j] * (double)(m - i + 1) / (N - (double)(i - 1 + j));
            if (j > 0)
                v += row[j - 1] * (double)(n - j + 1) / (N - (double)(i + j - 1));
            long dist = i * n - j * m;
            if (dist <= -hg || dist >= hg) {
                out += v; /* absorbed: this path's D is >= d */
                v = 0;
            }
            row[j] = v;
        }
    }
    free(row);
    return out;
}

/* log(n!/n^n) by summing log(i/n), exact enough for the n <= 10^6 here. */
static double log_nfact_over_npow(long n)
{
    double s = 0;
    for (long i = 1; i <= n; i++)
        s += log((double)i / (double)n);
    return s;
}

/* The one-sided Smirnov tail Pr(D+_n >= x), Birnbaum-Tingey (1951):
 * x sum_{j=0}^{floor(n(1-x))} C(n,j) (1 - x - j/n)^(n-j) (x + j/n)^(j-1),
 * summed in logs (C(n,j) built up term by term). */
static double smirnov_sf(long n, double x)
{
    if (x >= 1)
        return 0;
    if (x <= 0)
        return 1;
    long jmax = (long)floor((double)n * (1 - x));
    double logc = 0, s = 0;
    for (long j = 0; j <= jmax; j++) {
        if (j > 0)
            logc += log((double)(n - j + 1) / (double)j);
        double a = 1 - x - (double)j / (double)n, b = x + (double)j / (double)n;
        if (a <= 0)
            continue;
        s += exp(logc + (double)(n - j) * log(a) + (double)(j - 1) * log(b));
    }
    return fmin(x * s, 1.0);
}

/* Pr(D_n <= d) by Durbin's matrix as Marsaglia, Tsang and Wang (2003)
 * compute it: the k-th diagonal element of H^n times n!/n^n, with powers
 * of 2^128 kept aside so that nothing overflows. */
static void mat_mul(const double *a, const double *b, double *c, int m)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            double s = 0;
            for (int k = 0; k < m; k++)
                s += a[i * m + k] * b[k * m + j];
            c[i * m + j] = s;
        }
}

static void mat_pow(const double *a, int ea, double *v, int *ev, int m, long n)
{
    if (n == 1) {
        memcpy(v, a, (size_t)m * m * sizeof *v);
        *ev = ea;
        return;
    }
    double *t = cap_xmalloc((size_t)m * m * sizeof *t);
    mat_pow(a, ea, v, ev, m, n / 2);
    mat_mul(v, v, t, m);
    int et = 2 * *ev;
    if (n % 2 == 0) {
        memcpy(v, t, (size_t)m * m * sizeof *v);
        *ev = et;
    } else {
        mat_mul(a, t, v, m);
        *ev = ea + et;
    }
    if (v[(m / 2) * m + m / 2] > 1e140) {
        for (int i = 0; i < m * m; i++)
            v[i] *= 1e-140;
        *ev += 140;
    }
    free(t);
}

static double ks_durbin_cdf(long n, double d)
{
    int k = (int)((double)n * d) + 1, m = 2 * k - 1;
    double h = (double)k - (double)n * d;
    double *H = cap_xcalloc((size_t)m * m, sizeof *H), *Q = cap_xmalloc((size_t)m * m * sizeof *Q);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++)
            H[i * m + j] = i - j + 1 >= 0 ? 1 : 0;
    for (int i = 0; i < m; i++) {
        H[i * m] -= pow(h, i + 1);
        H[(m - 1) * m + i] -= pow(h, m - i);
    }
    if (2 * h - 1 > 0)
        H[(m - 1) * m] += pow(2 * h - 1, m);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++)
            for (int g = 1; g <= i - j + 1; g++)
                H[i * m + j] /= g;
    int eQ;
    mat_pow(H, 0, Q, &eQ, m, n);
    double s = Q[(k - 1) * m + k - 1];
    free(H);
    free(Q);
    /* s * 10^eQ * n!/n^n, in logs */
    double l = log(s) + eQ * log(10.0) + log_nfact_over_npow(n);
    return exp(l);
}

/* The Pelz-Good (1976) asymptotic series for Pr(D_n <= x), as Simard and
 * L'Ecuyer (2011) use it for large n: K0 + K1/sqrt(n) + K2/n + K3/n^1.5 in
 * their small-z (Jacobi theta) forms, ceil(16 z / pi) terms of each sum. */
static double ks_pelz_good_cdf(long n, double x)
{
    const double pi2 = M_PI * M_PI, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
    const double sqrt2pi = sqrt(2 * M_PI);
    double z = sqrt((double)n) * x, z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
    double qlog = -pi2 / 8 / z2;
    if (qlog < -708)
        return 0;
    double q = exp(qlog);
    double k1a = -z2, k1b = pi2 / 4;
    double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4;
    double k2c = pi4 * (1 - 2 * z2) / 16;
    double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16;
    double k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * z4 * z4;
    double K[4] = {0, 0, 0, 0};
    long maxk = (long)ceil(16 * z / M_PI);
    for (long k = maxk; k >= 1; k--) { /* Horner in q^(8k) over odd m = 2k-1 */
        double mm = (double)(2 * k - 1), m2 = mm * mm, m4 = m2 * m2, m6 = m4 * m2;
        double qp = pow(q, (double)(8 * k));
        double c[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                       k3a + k3b * m2 + k3c * m4 + k3d * m6};
        for (int i = 0; i < 4; i++)
            K[i] = K[i] * qp + c[i];
    }
    double div[4] = {z, 6 * z4, 72 * z4 * z3, 6480 * z6 * z4};
    for (int i = 0; i < 4; i++)
        K[i] = K[i] * q * sqrt2pi / div[i];
    double q2 = exp(-pi2 / 2 / z2), e2 = 0, e3 = 0;
    for (long k = maxk; k >= 1; k--) {
        double kk = (double)k, k2 = kk * kk, qp = pow(q2, k2);
        e2 += k2 * qp;
        double s3 = sqrt(3.0) * z;
        e3 += (s3 + M_PI * kk) * (s3 - M_PI * kk) * k2 * qp;
    }
    K[2] += e2 * pi2 * sqrt2pi / (-36 * z3);
    K[3] += e3 * pi2 * sqrt2pi / (216 * z6);
    double sum = 0;
    for (int i = 0; i < 4; i++)
        sum += K[i] / pow((double)n, i / 2.0);
    return sum;
}

static double clip01(double p)
{
    return fmin(fmax(p, 0.0), 1.0);
}

/* Pr(D_n >= x) for the one-sample two-sided statistic (scipy's kstwo.sf),
 * choosing the method by region as Simard and L'Ecuyer (2011) recommend:
 * closed forms at the ends (Ruben-Gambino), 2 x one-sided Smirnov where
 * that is exact or within 1e-16, Durbin's matrix for small n or small
 * n x^1.5, else Pelz-Good. (Their Pomeranz recursion for n <= 140 and
 * 0.754693 < n x^2 <= 4 is exact too; Durbin's matrix gives the same
 * value there, to rounding.) */
static double kolmogorov_sf(long n, double x)
{
    if (x >= 1)
        return 0;
    if (x <= 0)
        return 1;
    double t = (double)n * x;
    if (t <= 1) {
        if (t <= 0.5)
            return 1;
        double cdf = exp(log_nfact_over_npow(n) + (double)n * log(2 * t - 1));
        return clip01(1 - cdf);
    }
    if (t >= (double)n - 1)
        return clip01(2 * pow(1 - x, (double)n));
    if (x >= 0.5)
        return clip01(2 * smirnov_sf(n, x));
    double nx2 = t * x;
    if (n <= 140) {
        if (nx2 <= 4)
            return clip01(1 - ks_durbin_cdf(n, x));
        return clip01(2 * smirnov_sf(n, x));
    }
    if (nx2 >= 370)
        return 0;
    if (nx2 >= 2.2)
        return clip01(2 * smirnov_sf(n, x));
    double cdf = (n <= 100000 && (double)n * pow(x, 1.5) <= 1.4) ? ks_durbin_cdf(n, x)
                                                                   : ks_pelz_good_cdf(n, x);
    return clip01(1 - cdf);
}

int64_t mon_gcd(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* scipy.stats.ks_2samp(ref, cur), two-sided, method 'auto' (as Evidently
 * calls it): the exact distribution when both samples have <= 10000
 * values, else kstwo.sf(D, round(mn/(m+n))). D is found in integers, as
 * max |i n - j m| over the merged sorted values, so the exact branch sees
 * the same lattice distance that scipy recovers by rounding D * lcm. */
int mon_st_ks(const struct mon_sample *ref, const struct mon_sample *cur, enum mon_coltype type,
              double threshold, struct mon_stat_result *out, struct cap_error *err)
{
    if (ref->n == 0 || cur->n == 0)
        return cap_err(err, CAP_EINVAL, "ks needs non-empty samples");
    double *a = sorted_copy(ref), *b = sorted_copy(cur);
    long m = (long)ref->n, n = (long)cur->n;
    long i = 0, j = 0, best = 0;
    while (i < m || j < n) {
        double x = (j >= n || (i < m && a[i] <= b[j])) ? a[i] : b[j];
        while (i < m && a[i] == x)
            i++;
        while (j < n && b[j] == x)
            j++;
        long dist = labs(i * n - j * m);
        if (dist > best)
            best = dist;
    }
    free(a);
    free(b);
    double p = mon_ks_pvalue(m, n, best);
    return result(out, p, p <= threshold);
}

double mon_ks_pvalue(long m, long n, long best)
{
    long g = (long)mon_gcd(m, n);
    double p;
    if (m <= 10000 && n <= 10000) {
        long h = best / g;
        if (h == 0)
            p = 1;
        else if (m == n)
            p = ks_equal_n(m, h);
        else
            p = ks_exact(m, n, best);
    } else {
        double d = (double)best / ((double)m * (double)n);
        double mm = (double)(m > n ? m : n), nn = (double)(m > n ? n : m);
        double en = nearbyint(mm * nn / (mm + nn));
        p = kolmogorov_sf((long)en, d);
    }
    return clip01(p);
}

/* ---- Total variation distance, permutation p-value ---- */

/* The permutations draw from numpy's legacy global generator
 * (np.random.seed(0), then choice without replacement: base/mt.h), so the
 * p-value is Evidently's. */

/* Evidently's TVD, 0.5 sum |a_i/n1 - b_i/n2|, in its floating-point order
 * (categories in sorted order, numpy's sum): a permuted table whose
 * distance equals the observed one mathematically compares as Evidently's
 * does, rounding included, and that decides ~10% of the splits of a small
 * sample. Evidently orders categories as a Python set does, which is the
 * sorted order for small non-negative numbers, and for strings a per-process
 * hash order (PYTHONHASHSEED): there its own p-value varies run to run. */
static double tvd_of(const size_t *a, const size_t *b, size_t k, size_t n1, size_t n2,
                     double *t)
{
    for (size_t i = 0; i < k; i++)
        t[i] = fabs((double)a[i] / (double)n1 - (double)b[i] / (double)n2);
    return 0.5 * psum(t, k);
}

/* Evidently's TVD test: the observed distance against 1000 random splits
 * of the pooled data (reference values first, then current, as Evidently
 * pools them), p = the share of splits at least as distant. Costs 1000
 * shuffles of the pooled data: ~5 s for 10^6 values. */
int mon_st_tvd(const struct mon_sample *ref, const struct mon_sample *cur,
               enum mon_coltype type, double threshold, struct mon_stat_result *out,
               struct cap_error *err)
{
    if (ref->n == 0 || cur->n == 0)
        return cap_err(err, CAP_EINVAL, "TVD needs non-empty samples");
    struct mon_counts c;
    counts_of(ref, cur, &c);
    size_t n1 = ref->n, n2 = cur->n, N = n1 + n2, k = c.k;
    double *t = cap_xmalloc((k ? k : 1) * sizeof *t);
    double observed = tvd_of(c.r, c.c, k, n1, n2, t);
    /* each pooled value as the index of its category */
    uint32_t *pool = cap_xmalloc(N * sizeof *pool), *perm = cap_xmalloc(N * sizeof *perm);
    for (size_t i = 0; i < N; i++) {
        double x = i < n1 ? ref->v[i] : cur->v[i - n1];
        size_t lo = 0, hi = k;
        while (lo + 1 < hi) {
            size_t mid = (lo + hi) / 2;
            if (c.key[mid] <= x)
                lo = mid;
            else
                hi = mid;
        }
        pool[i] = (uint32_t)lo;
    }
    size_t *a = cap_xmalloc(k * sizeof *a), *b = cap_xmalloc(k * sizeof *b);
    struct cap_mt rng;
    cap_mt_seed(&rng, 0);
    int hits = 0;
    const int iterations = 1000;
    for (int it = 0; it < iterations; it++) {
        for (size_t i = 0; i < N; i++)
            perm[i] = (uint32_t)i;
        for (size_t i = N - 1; i >= 1; i--) { /* numpy's legacy shuffle */
            size_t j = (size_t)cap_mt_interval(&rng, i);
            uint32_t sw = perm[i];
            perm[i] = perm[j];
            perm[j] = sw;
        }
        memset(a, 0, k * sizeof *a);
        for (size_t i = 0; i < n1; i++)
            a[pool[perm[i]]]++;
        for (size_t i = 0; i < k; i++)
            b[i] = c.r[i] + c.c[i] - a[i];
        hits += observed <= tvd_of(a, b, k, n1, n2, t);
    }
    free(t);
    free(pool);
    free(perm);
    free(a);
    free(b);
    counts_free(&c);
    double p = (double)hits / iterations;
    return result(out, p, p < threshold);
}
