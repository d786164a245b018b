/* metrics_rank.c - ROC AUC and average precision of one binary split, from
 * one sort: sklearn's roc_auc_score and average_precision_score.
 *
 * sklearn sorts the scores descending and puts one threshold at each
 * distinct score (_binary_clf_curve): tied rows enter the curve together,
 * which makes the ROC curve a diagonal step (trapezoid) and the PR curve
 * one point. We get the same groups without sorting row indices: each
 * score becomes an order-preserving 64-bit key carrying the row's label in
 * a bit the scores leave free, the keys are radix-sorted, and the walk from
 * the top steps once per distinct score, counting the labels that share it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/buf.h"
#include "feedback/metrics_impl.h"

/* LSD radix sort on 12-bit digits: 6 digits, of which probabilities' keys
 * use 5 (the top 4 bits agree for every value in [2^-127, 1]), against 8
 * passes with bytes; the 4096 counts of a digit (16 KiB) stay in L1. 12
 * bits measured 16.7 ms per 10^6 keys, 11 bits (6 passes) 18.1 ms. A digit
 * the same in every key is skipped: float32 probabilities widened to double
 * have 29 zero low bits, so 2 more passes go. */
#define RDX_BITS FB_RDX_BITS
#define RDX_SIZE FB_RDX_SIZE
#define RDX_MASK (RDX_SIZE - 1)
#define RDX_PASSES ((64 + RDX_BITS - 1) / RDX_BITS)

/* keys and tmp in one block on 2 MiB huge pages where the kernel gives
 * them (THP "madvise" mode): the scatter passes write all over 16 MiB per
 * 10^6 rows, and with 4 KiB pages the first touch of each of its 4096 pages
 * (a fault) and the TLB misses cost a third of the ranking (fb_rank_binary
 * on 10^6 rows: 25 ms, 19 ms with this). */
#define HUGE_PAGE ((size_t)2 << 20)

void fb_rank_work_init(struct fb_rank_work *w, size_t n)
{
    size_t bytes = 2 * (n ? n : 1) * sizeof *w->keys;
    if (bytes >= HUGE_PAGE) {
        bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        w->keys = aligned_alloc(HUGE_PAGE, bytes);
        if (!w->keys)
            w->keys = cap_xmalloc(bytes);
        madvise(w->keys, bytes, MADV_HUGEPAGE); /* advice: failure is harmless */
    } else {
        w->keys = cap_xmalloc(bytes);
    }
    w->tmp = w->keys + (n ? n : 1);
    w->cnt = cap_xmalloc(RDX_PASSES * sizeof *w->cnt);
    w->n = n;
}

void fb_rank_work_free(struct fb_rank_work *w)
{
    free(w->keys);
    free(w->cnt);
    memset(w, 0, sizeof *w);
}

/* Sorts a[0..n) ascending with b[0..n) as scratch; returns whichever of the
 * two holds the result. Digits where `varying` (the bits that differ
 * between some two keys) is 0 are neither counted nor sorted: besides the
 * pass, counting a constant digit is a chain of increments to one counter,
 * each waiting for the last (~1.5 ms per 10^6 keys). */
static const uint64_t *rdx_sort(uint64_t *a, uint64_t *b, size_t n, uint32_t (*cnt)[RDX_SIZE],
                                uint64_t varying)
{
    unsigned dig[RDX_PASSES], nd = 0;
    for (unsigned p = 0; p < RDX_PASSES; p++)
        if ((varying >> (p * RDX_BITS)) & RDX_MASK)
            dig[nd++] = p * RDX_BITS;
    if (n < 2 || nd == 0)
        return a;
    memset(cnt, 0, nd * sizeof *cnt);
    for (size_t i = 0; i < n; i++)
        for (unsigned d = 0; d < nd; d++)
            cnt[d][(a[i] >> dig[d]) & RDX_MASK]++;
    for (unsigned d = 0; d < nd; d++) {
        uint32_t pos = 0;
        for (unsigned v = 0; v < RDX_SIZE; v++) {
            uint32_t c = cnt[d][v];
            cnt[d][v] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++)
            b[cnt[d][(a[i] >> dig[d]) & RDX_MASK]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    return a;
}

static uint64_t keys_varying(const uint64_t *a, size_t n)
{
    uint64_t any = 0, all = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++)
        any |= a[i], all &= a[i];
    return any ^ all;
}

/* A finite double as an unsigned key in the same order. -0.0 becomes +0.0
 * first: sklearn's np.diff sees them as one threshold. */
static inline uint64_t score_key(double d)
{
    d += 0.0;
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u ^ ((uint64_t)((int64_t)u >> 63) | 0x8000000000000000ull);
}

/* The walk from the highest score down, one group of tied scores at a
 * time: dt positives and df negatives share the score. The ROC step adds
 * the trapezoid df * (tp + dt / 2) (in units of 1 / (P N)), kept doubled
 * in integers so the area is exact (< 2^64 while n < 2^32); the PR step
 * adds recall's rise dt / P times the precision tp / (tp + fp) after the
 * step, as sklearn's -sum(diff(recall) * precision[:-1]) (a group without
 * positives adds 0: no branch to mispredict). */
struct walk {
    uint64_t area2, tp, fp;
    struct fb_sum ap;
};

static inline void walk_group(struct walk *w, uint64_t dt, uint64_t df)
{
    w->area2 += df * (2 * w->tp + dt);
    w->tp += dt;
    w->fp += df;
    fb_sum_add(&w->ap, (double)dt * ((double)w->tp / (double)(w->tp + w->fp)));
}

static void walk_finish(const struct walk *w, struct fb_ranking *out)
{
    uint64_t np = w->tp, nq = w->fp;
    out->positives = (int64_t)np;
    out->negatives = (int64_t)nq;
    out->notes = 0;
    if (np == 0 || nq == 0) {
        out->roc_auc = NAN;
        out->notes |= FB_NOTE_ONE_CLASS;
    } else {
        out->roc_auc = (double)w->area2 / (2.0 * (double)np * (double)nq);
    }
    if (np == 0) {
        out->avg_precision = 0.0; /* recall is 1 everywhere: no rise */
        out->notes |= FB_NOTE_NO_POSITIVE;
    } else {
        out->avg_precision = fb_sum_get(&w->ap) / (double)np;
    }
}

/* Keys packed as score_key << 1 | positive, sorted: one array, ties
 * adjacent, the walk a plain loop. */
static void walk_packed(const uint64_t *a, size_t n, struct fb_ranking *out)
{
    struct walk w = {0};
    uint64_t cur = a[n - 1] >> 1, dt = 0, df = 0;
    for (size_t i = n; i-- > 0;) {
        if (a[i] >> 1 != cur) {
            walk_group(&w, dt, df);
            cur = a[i] >> 1;
            dt = df = 0;
        }
        dt += a[i] & 1;
        df += (a[i] & 1) ^ 1;
    }
    walk_group(&w, dt, df);
    walk_finish(&w, out);
}

/* The positives' sorted keys p[0..np) and the negatives' q[0..nq) merged
 * from the top: for scores of both signs, where the packing has no free bit. */
static void walk_merge(const uint64_t *p, size_t np, const uint64_t *q, size_t nq,
                       struct fb_ranking *out)
{
    struct walk w = {0};
    size_t i = np, j = nq;
    while (i > 0 || j > 0) {
        uint64_t v = i == 0 ? q[j - 1] : j == 0 ? p[i - 1]
                                              : (p[i - 1] > q[j - 1] ? p[i - 1] : q[j - 1]);
        uint64_t dt = 0, df = 0;
        while (i > 0 && p[i - 1] == v)
            i--, dt++;
        while (j > 0 && q[j - 1] == v)
            j--, df++;
        walk_group(&w, dt, df);
    }
    walk_finish(&w, out);
}

/* Both signs: positives at [0, np), negatives at [np, n), sorted apart over
 * disjoint halves of keys and tmp so neither overwrites the other. */
static void rank_split(struct fb_rank_work *w, const int32_t *y_true, int32_t pos_class,
                       const double *score, size_t stride, size_t n, struct fb_ranking *out)
{
    size_t np = 0;
    for (size_t i = 0; i < n; i++)
        np += y_true[i] == pos_class;
    size_t a = 0, b = np;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = score_key(score[i * stride]);
        if (y_true[i] == pos_class)
            w->keys[a++] = key;
        else
            w->keys[b++] = key;
    }
    const uint64_t *p = rdx_sort(w->keys, w->tmp, np, w->cnt, keys_varying(w->keys, np));
    const uint64_t *q = rdx_sort(w->keys + np, w->tmp + np, n - np, w->cnt,
                                 keys_varying(w->keys + np, n - np));
    walk_merge(p, np, q, n - np, out);
}

/* Scores of one sign (probabilities always) leave the key's top bit free
 * for the label: one sort of n keys. */
void fb_rank_run(struct fb_rank_work *w, const int32_t *y_true, int32_t pos_class,
                 const double *score, size_t stride, size_t n, struct fb_ranking *out)
{
    uint64_t any = 0, all = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = score_key(score[i * stride]);
        any |= key;
        all &= key;
        w->keys[i] = key << 1 | (uint64_t)(y_true[i] == pos_class);
    }
    if ((any ^ all) >> 63) {
        rank_split(w, y_true, pos_class, score, stride, n, out);
        return;
    }
    walk_packed(rdx_sort(w->keys, w->tmp, n, w->cnt, (any ^ all) << 1 | 1), n, out);
}

int fb_rank_binary(const int32_t *y_true, int32_t pos_class, const double *score,
                   size_t stride, size_t n, struct fb_ranking *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return cap_err(err, CAP_EINVAL, "no rows: a ranking needs at least one scored row");
    if (n > FB_MAX_ROWS)
        return cap_err(err, CAP_EINVAL, "%zu rows: at most %zu are supported", n, FB_MAX_ROWS);
    if (!y_true || !score || stride == 0)
        return cap_err(err, CAP_EINVAL, "y_true and score are required (stride >= 1)");
    for (size_t i = 0; i < n; i++)
        if (!isfinite(score[i * stride]))
            return cap_err(err, CAP_EINVAL, "score[%zu] = %g: scores must be finite numbers",
                           i, score[i * stride]);
    struct fb_rank_work w;
    fb_rank_work_init(&w, n);
    fb_rank_run(&w, y_true, pos_class, score, stride, n, out);
    fb_rank_work_free(&w);
    return 0;
}
