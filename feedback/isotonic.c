/* isotonic.c - CBPE's calibrator and nannyml's rule for using it.
 *
 * The rule draws its splits the way scikit-learn's StratifiedShuffleSplit
 * (random_state=42) does with numpy's legacy RandomState: MT19937 seeded by
 * init_genrand, bounded integers by masked rejection, Fisher-Yates from the
 * top. Reproducing the draws (not just their distribution) is what makes the
 * calibrate-or-not decision equal nannyml's. */
#include "base/mt.h"
#include "feedback/cbpe_int.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int cmp_keyed(const void *pa, const void *pb)
{
    const struct fb_keyed *a = pa, *b = pb;
    if (a->k != b->k)
        return a->k < b->k ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* A double's bits as an unsigned integer of the same order (-0 as +0). */
static uint64_t key_bits(double k)
{
    k += 0.0;
    uint64_t u;
    memcpy(&u, &k, sizeof u);
    return (u >> 63) ? ~u : u | 0x8000000000000000ull;
}

/* LSD radix sort, stable, so equal keys keep their input order: about 5x
 * qsort's speed on 10^4..10^6 rows (the sorts were 45% of a fit). 16-bit
 * digits (4 passes) from 2^18 rows, 11-bit (6) below, where the histograms
 * would outweigh the rows. Passes whose digit is the same for every row are
 * skipped: probabilities share their top bits. qsort (same order) below 256
 * rows or without memory. */
void fb_keyed_sort(struct fb_keyed *a, size_t n)
{
    int bits = n >= (1u << 18) ? 16 : 11, passes = (64 + bits - 1) / bits;
    size_t nb = (size_t)1 << bits;
    struct fb_keyed *tmp = n >= 256 ? malloc(n * sizeof *tmp) : NULL;
    size_t *cnt = tmp ? calloc((size_t)passes * nb, sizeof *cnt) : NULL;
    if (!cnt) {
        free(tmp);
        if (n > 1)
            qsort(a, n, sizeof *a, cmp_keyed);
        return;
    }
    const uint64_t mask = nb - 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t u = key_bits(a[i].k);
        for (int d = 0; d < passes; d++)
            cnt[d * nb + ((u >> (bits * d)) & mask)]++;
    }
    struct fb_keyed *src = a, *dst = tmp;
    for (int d = 0; d < passes; d++) {
        size_t *c = cnt + d * nb, sum = 0;
        if (c[(key_bits(src[0].k) >> (bits * d)) & mask] == n)
            continue;
        for (size_t b = 0; b < nb; b++) {
            size_t k = c[b];
            c[b] = sum;
            sum += k;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(key_bits(src[i].k) >> (bits * d)) & mask]++] = src[i];
        struct fb_keyed *t = src;
        src = dst, dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
    free(tmp);
    free(cnt);
}

double fb_roc_auc_sorted(const struct fb_keyed *ord, size_t n, const double *y)
{
    /* Mann-Whitney: each positive counts the negatives below it, and half the
     * negatives tied with it; exact in doubles up to 2^53 pairs. */
    double pos = 0, neg = 0, u = 0;
    for (size_t j = 0; j < n;) {
        size_t e = j;
        double gp = 0, gn = 0;
        while (e < n && ord[e].k == ord[j].k) {
            if (y[ord[e].i] == 1)
                gp++;
            else
                gn++;
            e++;
        }
        u += gp * (neg + 0.5 * gn);
        pos += gp;
        neg += gn;
        j = e;
    }
    if (pos == 0 || neg == 0)
        return NAN;
    return u / (pos * neg);
}

/* The pool-adjacent-violators stack: block b spans the unique x from fx[b]
 * to lx[b], with weight wt[b] and weighted mean mean[b]. */
struct pava {
    double *mean, *wt, *fx, *lx;
    size_t nb;
};

/* Pushes one unique point and merges back while the order is violated. */
static void pava_push(struct pava *s, double x, double mean, double w)
{
    size_t nb = s->nb;
    s->mean[nb] = mean, s->wt[nb] = w, s->fx[nb] = x, s->lx[nb] = x;
    nb++;
    while (nb > 1 && s->mean[nb - 2] > s->mean[nb - 1]) {
        double ws = s->wt[nb - 2] + s->wt[nb - 1];
        s->mean[nb - 2] = (s->wt[nb - 2] * s->mean[nb - 2] + s->wt[nb - 1] * s->mean[nb - 1]) / ws;
        s->wt[nb - 2] = ws;
        s->lx[nb - 2] = s->lx[nb - 1];
        nb--;
    }
    s->nb = nb;
}

/* A table from an even grid over [xmin, xmax] to the first x at or above
 * each grid line, so a prediction searches a few points, not all of them
 * (3x faster on 10^3 points). Rounding may put t one bucket off; predict
 * widens the range until it brackets t, so the answer is searchsorted's. */
static void build_buckets(struct fb_iso *iso)
{
    size_t nb = iso->n < 4096 ? iso->n : 4096;
    iso->nb = 0;
    iso->bucket = nb > 1 ? malloc((nb + 1) * sizeof *iso->bucket) : NULL;
    if (!iso->bucket || !(iso->xmax > iso->xmin))
        return;
    iso->scale = (double)nb / (iso->xmax - iso->xmin);
    size_t j = 0;
    for (size_t b = 0; b < nb; b++) {
        double edge = iso->xmin + (double)b / iso->scale;
        while (j < iso->n && iso->x[j] < edge)
            j++;
        iso->bucket[b] = j;
    }
    iso->bucket[nb] = iso->n;
    iso->nb = nb;
}

int fb_iso_work_init(struct fb_iso_work *w, size_t n, struct cap_error *err)
{
    w->buf = malloc(n * 4 * sizeof *w->buf);
    if (w->buf)
        return 0;
    fb_iso_work_free(w);
    return cap_err(err, CAP_EINTERNAL, "out of memory fitting the calibrator (%zu rows)", n);
}

void fb_iso_work_free(struct fb_iso_work *w)
{
    free(w->buf);
    w->buf = NULL;
}

/* Writes to x/y (room for 2 nb) the points sklearn keeps after trimming:
 * of each run of equal fitted values its first and last x (the
 * interpolation is the same without the inner ones); returns their count. */
static size_t pava_points(const struct pava *s, double *x, double *y)
{
    size_t k = 0;
    for (size_t b = 0; b < s->nb;) {
        size_t e = b;
        while (e + 1 < s->nb && s->mean[e + 1] == s->mean[b])
            e++;
        double m = s->mean[b], first = s->fx[b], last = s->lx[e];
        x[k] = first, y[k++] = m;
        if (last != first)
            x[k] = last, y[k++] = m;
        b = e + 1;
    }
    return k;
}

int fb_iso_fit(struct fb_iso *iso, const double *x, const double *y, const unsigned char *keep,
               size_t n, struct fb_iso_work *w, struct cap_error *err)
{
    memset(iso, 0, sizeof *iso);
    struct pava s = {w->buf, w->buf + n, w->buf + 2 * n, w->buf + 3 * n, 0};
    /* sklearn's _make_unique: x within float64 resolution (1e-15) of the
     * group's first x joins the group, its y averaged; each group goes
     * straight onto the PAVA stack (one pass, no array of unique points). */
    size_t j = 0;
    while (keep && !keep[j])
        j++;
    double cx = x[j], cy = 0, cw = 0;
    for (; j < n; j++) {
        if (keep && !keep[j])
            continue;
        if (x[j] - cx >= 1e-15) {
            pava_push(&s, cx, cy / cw, cw);
            cx = x[j], cw = 1, cy = y[j];
        } else {
            cw += 1, cy += y[j];
        }
    }
    pava_push(&s, cx, cy / cw, cw);
    iso->xmin = s.fx[0];
    iso->xmax = s.lx[s.nb - 1];
    iso->x = malloc(2 * s.nb * sizeof *iso->x);
    iso->y = malloc(2 * s.nb * sizeof *iso->y);
    if (!iso->x || !iso->y) {
        fb_iso_free(iso);
        return cap_err(err, CAP_EINTERNAL, "out of memory fitting the calibrator (%zu rows)", n);
    }
    iso->n = pava_points(&s, iso->x, iso->y);
    build_buckets(iso);
    return 0;
}

double fb_iso_predict(const struct fb_iso *iso, double t)
{
    if (t < iso->xmin)
        t = iso->xmin;
    if (t > iso->xmax)
        t = iso->xmax;
    if (iso->n == 1)
        return iso->y[0];
    /* scipy's interp1d: the first x >= t (searchsorted left), kept in
     * [1, n-1], and the line through that point and the one before. */
    size_t lo = 0, hi = iso->n;
    if (iso->nb) {
        double f = (t - iso->xmin) * iso->scale;
        size_t b = f < 0 ? 0 : f >= (double)iso->nb ? iso->nb - 1 : (size_t)f;
        lo = iso->bucket[b], hi = iso->bucket[b + 1];
        while (lo > 0 && iso->x[lo - 1] >= t)
            lo--;
        while (hi < iso->n && iso->x[hi] < t)
            hi++;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (iso->x[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t k = lo < 1 ? 1 : lo > iso->n - 1 ? iso->n - 1 : lo;
    double slope = (iso->y[k] - iso->y[k - 1]) / (iso->x[k] - iso->x[k - 1]);
    return slope * (t - iso->x[k - 1]) + iso->y[k - 1];
}

void fb_iso_free(struct fb_iso *iso)
{
    free(iso->x);
    free(iso->y);
    free(iso->bucket);
    iso->x = iso->y = NULL;
    iso->bucket = NULL;
    iso->n = iso->nb = 0;
}

/* The draws of RandomState.shuffle of n items, without moving any: for the
 * train rows, whose order nothing reads (saves 10 x 0.9 n random swaps). */
static void mt_skip_shuffle(struct cap_mt *r, size_t n)
{
    for (size_t i = n; i-- > 1;)
        (void)cap_mt_interval(r, i);
}

/* RandomState.shuffle of a 1-d array. */
static void mt_shuffle(struct cap_mt *r, size_t *a, size_t n)
{
    for (size_t i = n; i-- > 1;) {
        size_t j = cap_mt_interval(r, i), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* sklearn's _approximate_mode for two classes: the floor of each class's
 * share of draws, the rest to the largest remainders, ties broken by
 * rng.choice (a permutation of the tied classes). */
static void approx_mode(const size_t counts[2], size_t draws, struct cap_mt *r,
                        size_t out[2])
{
    double total = (double)(counts[0] + counts[1]), cont[2], fl[2];
    for (int c = 0; c < 2; c++) {
        cont[c] = (double)counts[c] / total * (double)draws;
        fl[c] = floor(cont[c]);
    }
    long need = (long)((double)draws - (fl[0] + fl[1]));
    if (need > 0) {
        double rem[2] = {cont[0] - fl[0], cont[1] - fl[1]};
        double hi = rem[0] > rem[1] ? rem[0] : rem[1], lo = rem[0] > rem[1] ? rem[1] : rem[0];
        double vals[2] = {hi, lo};
        for (int v = 0; v < (hi == lo ? 1 : 2) && need > 0; v++) {
            size_t inds[2], ni = 0, perm[2] = {0, 1};
            for (size_t c = 0; c < 2; c++)
                if (rem[c] == vals[v])
                    inds[ni++] = c;
            long add = (long)ni < need ? (long)ni : need;
            mt_shuffle(r, perm, ni);
            for (long a = 0; a < add; a++)
                fl[inds[perm[a]]] += 1;
            need -= add;
        }
    }
    out[0] = (size_t)fl[0];
    out[1] = (size_t)fl[1];
}

/* nannyml's expected calibration error: rows sorted by probability, cut
 * into 10 bins of equal count (the last takes the rest). */
static double ece(const double *p, const double *y, size_t n, struct fb_keyed *ord)
{
    for (size_t i = 0; i < n; i++)
        ord[i] = (struct fb_keyed){.k = p[i], .i = i};
    fb_keyed_sort(ord, n);
    size_t bins = n <= 20 ? n / 2 : 10, width = n / bins, lo = 0;
    double sum = 0;
    while (lo < n) {
        size_t hi = lo + width;
        if (hi + width > n)
            hi = n; /* range(0, n+1, width) with its last edge set to n */
        double sp = 0, sy = 0;
        for (size_t j = lo; j < hi; j++)
            sp += p[ord[j].i], sy += y[ord[j].i];
        double m = (double)(hi - lo);
        sum += m / (double)n * fabs(sp / m - sy / m);
        lo = hi;
    }
    return sum;
}

/* One split's test rows, as StratifiedShuffleSplit draws them: per class a
 * permutation of its rows (ascending row order first), the first ni to train
 * and the next ti to test, then both lists shuffled. The train rows are the
 * rest (ni + ti is the class count), so only the draws of their list and its
 * shuffle are made. */
static void draw_split(struct cap_mt *r, size_t *const cls[2], const size_t counts[2],
                       size_t n_train, size_t n_test, size_t *perm, size_t *test)
{
    size_t ni[2], ti[2], rest[2], ns = 0;
    approx_mode(counts, n_train, r, ni);
    rest[0] = counts[0] - ni[0];
    rest[1] = counts[1] - ni[1];
    approx_mode(rest, n_test, r, ti);
    for (int c = 0; c < 2; c++) {
        for (size_t i = 0; i < counts[c]; i++)
            perm[i] = i;
        /* Fisher-Yates from the top finalises position i at step i, so
         * the test positions [ni, ni + ti), the top ones, are done after
         * their steps; the later steps move train rows only: draws alone. */
        for (size_t i = counts[c]; i-- > 1;) {
            size_t j = cap_mt_interval(r, i);
            if (i >= ni[c]) {
                size_t t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
        }
        for (size_t i = ni[c]; i < ni[c] + ti[c]; i++)
            test[ns++] = cls[c][perm[i]];
    }
    mt_skip_shuffle(r, n_train);
    mt_shuffle(r, test, n_test);
}

/* Calibrates each split's test rows with isotonic regression fitted on its
 * train rows; tp/tc/ty get the 10 test sets one after the other. sx/sy are
 * the rows sorted by p and pos[row] a row's place there, so a split's train
 * rows are a mask over them and each fit reads memory in order. */
static int run_splits(const double *p, const double *y, size_t n, const double *sx,
                      const double *sy, const size_t *pos, size_t n_test, double *tp, double *tc,
                      double *ty, struct cap_error *err)
{
    size_t counts[2] = {0, 0}, n_train = n - n_test;
    for (size_t i = 0; i < n; i++)
        counts[y[i] == 1]++;
    size_t *idx = malloc((2 * n + n_test) * sizeof *idx);
    unsigned char *keep = malloc(n);
    if (!idx || !keep) {
        free(idx), free(keep);
        return cap_err(err, CAP_EINTERNAL, "out of memory checking calibration (%zu rows)", n);
    }
    size_t *cls[2] = {idx, idx + counts[0]}, *perm = idx + n, *test = idx + 2 * n;
    size_t k[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        int c = y[i] == 1;
        cls[c][k[c]++] = i;
    }
    struct cap_mt r;
    cap_mt_seed(&r, 42);
    struct fb_iso_work w;
    int rc = fb_iso_work_init(&w, n, err);
    for (int s = 0; s < 10 && rc == 0; s++) {
        draw_split(&r, cls, counts, n_train, n_test, perm, test);
        memset(keep, 1, n);
        for (size_t i = 0; i < n_test; i++)
            keep[pos[test[i]]] = 0;
        struct fb_iso iso;
        rc = fb_iso_fit(&iso, sx, sy, keep, n, &w, err);
        for (size_t i = 0; rc == 0 && i < n_test; i++) {
            size_t o = (size_t)s * n_test + i;
            tp[o] = p[test[i]];
            tc[o] = fb_iso_predict(&iso, tp[o]);
            ty[o] = y[test[i]];
        }
        if (rc == 0)
            fb_iso_free(&iso);
    }
    fb_iso_work_free(&w);
    free(idx), free(keep);
    return rc;
}

/* The rule once the rows are sorted (sx, sy, pos as run_splits'). */
static int needs_calibration(const double *p, const double *y, size_t n, const double *sx,
                             const double *sy, const size_t *pos, bool *needs,
                             double *ece_before, double *ece_after, struct cap_error *err)
{
    size_t n1 = 0;
    for (size_t i = 0; i < n; i++)
        n1 += y[i] == 1;
    size_t n_test = (size_t)ceil(0.1 * (double)n), n_train = n - n_test;
    if (n1 < 2 || n - n1 < 2 || n_test < 2 || n_train < 2)
        return cap_err(err, CAP_EINVAL,
                       "reference too small for the calibration check: %zu rows, %zu of class 0 "
                       "and %zu of class 1; expected at least 11 rows and 2 of each class",
                       n, n - n1, n1);
    size_t L = 10 * n_test;
    double *buf = malloc(3 * L * sizeof *buf);
    struct fb_keyed *ord2 = malloc(L * sizeof *ord2);
    if (!buf || !ord2) {
        free(buf), free(ord2);
        return cap_err(err, CAP_EINTERNAL, "out of memory checking calibration (%zu rows)", n);
    }
    int rc = run_splits(p, y, n, sx, sy, pos, n_test, buf, buf + L, buf + 2 * L, err);
    if (rc == 0) {
        *ece_before = ece(buf, buf + 2 * L, L, ord2);
        *ece_after = ece(buf + L, buf + 2 * L, L, ord2);
        *needs = *ece_before > *ece_after;
    }
    free(buf), free(ord2);
    return rc;
}

int fb_calibrator_fit(const double *p, const double *y, size_t n, const struct fb_keyed *ord,
                      struct fb_iso *iso, bool *needs, double *ece_before, double *ece_after,
                      struct cap_error *err)
{
    memset(iso, 0, sizeof *iso);
    *needs = false;
    *ece_before = *ece_after = NAN;
    double *sx = malloc(2 * n * sizeof *sx);
    size_t *pos = malloc(n * sizeof *pos);
    if (!sx || !pos) {
        free(sx), free(pos);
        return cap_err(err, CAP_EINTERNAL, "out of memory checking calibration (%zu rows)", n);
    }
    double *sy = sx + n;
    for (size_t j = 0; j < n; j++) {
        sx[j] = ord[j].k;
        sy[j] = y[ord[j].i];
        pos[ord[j].i] = j;
    }
    double auc = fb_roc_auc_sorted(ord, n, y);
    int rc = 0;
    /* nothing to calibrate with one class or a ROC AUC above 0.999 */
    if (!isnan(auc) && auc <= 0.999)
        rc = needs_calibration(p, y, n, sx, sy, pos, needs, ece_before, ece_after, err);
    struct fb_iso_work w;
    if (rc == 0 && *needs && (rc = fb_iso_work_init(&w, n, err)) == 0) {
        rc = fb_iso_fit(iso, sx, sy, NULL, n, &w, err);
        fb_iso_work_free(&w);
    }
    free(sx), free(pos);
    return rc;
}
