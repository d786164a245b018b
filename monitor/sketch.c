/* sketch.c - the quantile sketch of profile.h: a deterministic KLL-type
 * compactor stack. Level h holds items of weight 2^h; when a level reaches
 * MON_SKETCH_K items it is sorted and compacted: the items are paired in
 * sorted order and one of each pair (the first or the second, alternating
 * per level by a counter, never by rand() or time) moves up with twice the
 * weight. One leftover item of an odd count stays where it is.
 *
 * The error is not asymptotic but counted. A compaction of weight w moves
 * the estimated count of values <= x by +w (keeping the first of each
 * pair) or -w (keeping the second) for x inside a pair's gap, and by 0
 * elsewhere; so the sketch sums, per direction, the weights of its
 * compactions (err_pos, err_neg: any rank estimate is within
 * max(err_pos, err_neg) of the truth), and the weight times the summed
 * pair gaps (l1: a bound on the area between the estimated and the true
 * count functions, which bounds Wasserstein errors). Merging adds the
 * bounds. Every compaction of a level moves n/2^h of the stream's weight
 * through it, so per direction a level adds ~n/(2K) and eps ~
 * log2(n/K)/(2K): with K = 1024, measured 0.0045 for 10^6 values (the true
 * error is far smaller: the alternation cancels; test_profile.c checks
 * both). Memory: at most K items per level, log2(n/K) + 1 levels: ~11 x 8
 * KiB for 10^6 values, ~half that on average. Below K values the sketch is
 * exact (eps 0). */
#include "monitor/profile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/stattest.h"
#include "monitor/wire.h"

#define MON_SKETCH_K 1024
#define MON_SKETCH_LEVELS 48 /* 1024 x 2^47 values: never reached */
#define MON_SKETCH_MAGIC 0x314b534du /* "MSK1" */

struct mon_level {
    double *v;
    size_t n;
    uint64_t flips; /* compactions so far: their parity picks the kept items */
};

struct mon_sketch {
    int64_t n;
    size_t nlev;
    struct mon_level lev[MON_SKETCH_LEVELS];
    double err_pos, err_neg; /* summed weights of compactions, per direction */
    double l1;               /* summed weight x pair gaps */
};

struct mon_sketch *mon_sketch_new(void)
{
    return cap_xcalloc(1, sizeof(struct mon_sketch));
}

void mon_sketch_free(struct mon_sketch *s)
{
    if (!s)
        return;
    for (size_t h = 0; h < s->nlev; h++)
        free(s->lev[h].v);
    free(s);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Room for 2K items: a compaction below may push K/2 onto a level that
 * holds K - 1 before it is compacted in turn. */
static struct mon_level *level(struct mon_sketch *s, size_t h)
{
    while (s->nlev <= h) {
        s->lev[s->nlev].v = cap_xmalloc(2 * MON_SKETCH_K * sizeof(double));
        s->lev[s->nlev].n = 0;
        s->lev[s->nlev].flips = 0;
        s->nlev++;
    }
    return &s->lev[h];
}

static void compact(struct mon_sketch *s, size_t h)
{
    struct mon_level *l = level(s, h);
    /* radix: with qsort's callbacks this was 31% of the live monitor's CPU,
     * and a quicksort without callbacks measured slower still (49%) */
    mon_sort(l->v, l->n);
    size_t pairs = l->n / 2, off = l->flips++ & 1;
    double w = ldexp(1.0, (int)h), gaps = 0;
    struct mon_level *up = level(s, h + 1); /* lev[] is an array: l stays valid */
    for (size_t i = 0; i < pairs; i++) {
        gaps += l->v[2 * i + 1] - l->v[2 * i];
        up->v[up->n++] = l->v[2 * i + off];
    }
    if (off)
        s->err_neg += w;
    else
        s->err_pos += w;
    s->l1 += w * gaps;
    if (l->n % 2) /* the largest stays */
        l->v[0] = l->v[l->n - 1];
    l->n %= 2;
    if (up->n >= MON_SKETCH_K) /* it held < K, now < 1.5 K */
        compact(s, h + 1);
}

/* Appends one item of weight 2^h; every level stays below K. */
static void push(struct mon_sketch *s, size_t h, double v)
{
    struct mon_level *l = level(s, h);
    l->v[l->n++] = v;
    if (l->n >= MON_SKETCH_K)
        compact(s, h);
}

void mon_sketch_add(struct mon_sketch *s, double v)
{
    push(s, 0, v);
    s->n++;
}

/* A sorted run enters as one compaction per level until fewer than K items
 * are left: a compaction moves any rank by at most its weight however many
 * pairs it holds, so this is never less exact than n single adds, and it
 * costs n + n/2 + ... copies instead of sorting every K items (the live
 * monitor's batches of 50,000 values: the sort is the caller's, once). */
void mon_sketch_add_sorted(struct mon_sketch *s, double *v, size_t n)
{
    s->n += (int64_t)n;
    size_t h = 0;
    for (; n >= MON_SKETCH_K; h++) {
        size_t pairs = n / 2, off = level(s, h)->flips++ & 1;
        double w = ldexp(1.0, (int)h), gaps = 0;
        if (n % 2) /* the largest stays at this level */
            push(s, h, v[n - 1]);
        for (size_t i = 0; i < pairs; i++) {
            gaps += v[2 * i + 1] - v[2 * i];
            v[i] = v[2 * i + off];
        }
        if (off)
            s->err_neg += w;
        else
            s->err_pos += w;
        s->l1 += w * gaps;
        n = pairs;
    }
    for (size_t i = 0; i < n; i++)
        push(s, h, v[i]);
}

void mon_sketch_merge(struct mon_sketch *dst, const struct mon_sketch *src)
{
    for (size_t h = 0; h < src->nlev; h++) {
        const struct mon_level *from = &src->lev[h];
        for (size_t i = 0; i < from->n; i++)
            push(dst, h, from->v[i]);
    }
    dst->n += src->n;
    dst->err_pos += src->err_pos;
    dst->err_neg += src->err_neg;
    dst->l1 += src->l1;
}

int64_t mon_sketch_count(const struct mon_sketch *s)
{
    return s->n;
}

double mon_sketch_eps(const struct mon_sketch *s)
{
    return s->n ? fmax(s->err_pos, s->err_neg) / (double)s->n : 0;
}

double mon_sketch_l1(const struct mon_sketch *s)
{
    return s->n ? s->l1 / (double)s->n : 0;
}

/* ---- queries over the weighted items, sorted ---- */

struct witem {
    double v, w;
};

static int cmp_witem(const void *a, const void *b)
{
    return cmp_double(&((const struct witem *)a)->v, &((const struct witem *)b)->v);
}

/* The items sorted by value with their weights as shares of n. */
static struct witem *items(const struct mon_sketch *s, size_t *n)
{
    size_t total = 0, k = 0;
    for (size_t h = 0; h < s->nlev; h++)
        total += s->lev[h].n;
    struct witem *it = cap_xmalloc((total ? total : 1) * sizeof *it);
    for (size_t h = 0; h < s->nlev; h++)
        for (size_t i = 0; i < s->lev[h].n; i++)
            it[k++] = (struct witem){s->lev[h].v[i], ldexp(1.0, (int)h) / (double)s->n};
    qsort(it, total, sizeof *it, cmp_witem);
    *n = total;
    return it;
}

double mon_sketch_quantile(const struct mon_sketch *s, double q)
{
    if (s->n == 0 || isnan(q))
        return NAN;
    size_t n;
    struct witem *it = items(s, &n);
    double cum = 0, v = it[n - 1].v;
    for (size_t i = 0; i < n; i++) {
        cum += it[i].w;
        if (cum >= q - 1e-12) { /* the sum of shares rounds */
            v = it[i].v;
            break;
        }
    }
    free(it);
    return v;
}

double mon_sketch_cdf(const struct mon_sketch *s, double v)
{
    if (s->n == 0)
        return NAN;
    double cum = 0;
    for (size_t h = 0; h < s->nlev; h++)
        for (size_t i = 0; i < s->lev[h].n; i++)
            cum += s->lev[h].v[i] <= v ? ldexp(1.0, (int)h) : 0;
    return cum / (double)s->n;
}

/* Walks both sketches' step CDFs over the merged values: between
 * consecutive values both are flat. Gives sup |Fa - Fb| and the area
 * between them. */
static void walk(const struct mon_sketch *a, const struct mon_sketch *b, double *sup,
                 double *area)
{
    size_t na, nb;
    struct witem *x = items(a, &na), *y = items(b, &nb);
    size_t i = 0, j = 0;
    double fa = 0, fb = 0, prev = 0;
    *sup = *area = 0;
    while (i < na || j < nb) {
        double v = (j >= nb || (i < na && x[i].v <= y[j].v)) ? x[i].v : y[j].v;
        if (i + j > 0)
            *area += fabs(fa - fb) * (v - prev);
        while (i < na && x[i].v == v)
            fa += x[i++].w;
        while (j < nb && y[j].v == v)
            fb += y[j++].w;
        *sup = fmax(*sup, fabs(fa - fb));
        prev = v;
    }
    free(x);
    free(y);
}

double mon_sketch_w1(const struct mon_sketch *a, const struct mon_sketch *b)
{
    if (a->n == 0 || b->n == 0)
        return NAN;
    double sup, area;
    walk(a, b, &sup, &area);
    return area;
}

double mon_sketch_ks(const struct mon_sketch *a, const struct mon_sketch *b)
{
    if (a->n == 0 || b->n == 0)
        return NAN;
    double sup, area;
    walk(a, b, &sup, &area);
    return fmin(sup, 1.0);
}

/* ---- the binary form ----
 * u32 magic, u64 n, f64 err_pos, err_neg, l1, u32 levels, then per level
 * u64 flips, u32 count, count x f64. */

void mon_sketch_encode(const struct mon_sketch *s, struct cap_buf *out)
{
    mon_put_u32(out, MON_SKETCH_MAGIC);
    mon_put_u64(out, (uint64_t)s->n);
    mon_put_f64(out, s->err_pos);
    mon_put_f64(out, s->err_neg);
    mon_put_f64(out, s->l1);
    mon_put_u32(out, (uint32_t)s->nlev);
    for (size_t h = 0; h < s->nlev; h++) {
        mon_put_u64(out, s->lev[h].flips);
        mon_put_u32(out, (uint32_t)s->lev[h].n);
        for (size_t i = 0; i < s->lev[h].n; i++)
            mon_put_f64(out, s->lev[h].v[i]);
    }
}

static bool bound_ok(double e)
{
    return isfinite(e) && e >= 0;
}

/* Reads the levels; false for a count out of bounds or a value that is
 * not finite. *weight gets the items' total weight. */
static bool read_levels(struct mon_rd *r, struct mon_sketch *s, size_t nlev, uint64_t *weight)
{
    *weight = 0;
    for (size_t h = 0; h < nlev; h++) {
        struct mon_level *l = level(s, h);
        l->flips = mon_get_u64(r);
        uint32_t n = mon_get_u32(r);
        if (!r->ok || n >= MON_SKETCH_K || n > mon_room(r, 8))
            return false;
        for (uint32_t i = 0; i < n; i++) {
            double v = mon_get_f64(r);
            if (!isfinite(v))
                return false;
            l->v[l->n++] = v;
        }
        *weight += (uint64_t)n << h;
    }
    return r->ok;
}

int mon_sketch_decode(const unsigned char **p, const unsigned char *end, struct mon_sketch **out,
                      struct cap_error *err)
{
    *out = NULL;
    struct mon_rd r = {*p, end, true};
    uint32_t magic = mon_get_u32(&r);
    uint64_t n = mon_get_u64(&r);
    struct mon_sketch *s = mon_sketch_new();
    s->err_pos = mon_get_f64(&r);
    s->err_neg = mon_get_f64(&r);
    s->l1 = mon_get_f64(&r);
    uint32_t nlev = mon_get_u32(&r);
    uint64_t weight = 0;
    bool ok = r.ok && magic == MON_SKETCH_MAGIC && nlev <= MON_SKETCH_LEVELS &&
              bound_ok(s->err_pos) && bound_ok(s->err_neg) && bound_ok(s->l1) &&
              read_levels(&r, s, nlev, &weight) && weight == n;
    if (!ok) {
        mon_sketch_free(s);
        return cap_err(err, CAP_EINVAL,
                       "corrupt quantile sketch (expected magic MSK1, levels of < %d finite "
                       "values weighing the count in all)",
                       MON_SKETCH_K);
    }
    s->n = (int64_t)n;
    *p = r.p;
    *out = s;
    return 0;
}
