/* metrics_rank.c - ROC AUC and average precision of one binary split, from
 * one sort: sklearn's roc_auc_score and average_precision_score.
 *
 * sklearn sorts the scores descending and puts one threshold at each
 * distinct score (_binary_clf_curve): tied rows enter the curve together,
 * which makes the ROC curve a diagonal step (trapezoid) and the PR curve
 * one point. We get the same groups without sorting rows: the positives'
 * scores and the negatives' scores are sorted apart (keys only, no row
 * index to carry) and walked from the top together, one step per distinct
 * score, counting how many of each side share it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "feedback/metrics_impl.h"

/* LSD radix sort on 11-bit digits: 6 passes over 64-bit keys instead of 8
 * with bytes, and the 2048 counts of a digit (8 KiB) stay in L1. A pass
 * whose digit is the same in every key is skipped: float32 probabilities
 * widened to double have 29 zero low bits, so 2 of the 6 passes go. */
#define RDX_BITS 11
#define RDX_SIZE (1u << RDX_BITS)
#define RDX_MASK (RDX_SIZE - 1)
#define RDX_PASSES 6

void fb_rank_work_init(struct fb_rank_work *w, size_t n)
{
    size_t m = n ? n : 1;
    w->keys = cap_xmalloc(m * sizeof *w->keys);
    w->tmp = cap_xmalloc(m * sizeof *w->tmp);
    w->cnt = cap_xmalloc(RDX_PASSES * sizeof *w->cnt);
    w->n = n;
}

void fb_rank_work_free(struct fb_rank_work *w)
{
    free(w->keys);
    free(w->tmp);
    free(w->cnt);
    memset(w, 0, sizeof *w);
}

/* Sorts a[0..n) ascending with b[0..n) as scratch; returns whichever of the
 * two holds the result. */
static const uint64_t *rdx_sort(uint64_t *a, uint64_t *b, size_t n, uint32_t (*cnt)[RDX_SIZE])
{
    if (n < 2)
        return a;
    memset(cnt, 0, RDX_PASSES * sizeof *cnt);
    for (size_t i = 0; i < n; i++)
        for (int p = 0; p < RDX_PASSES; p++)
            cnt[p][(a[i] >> (p * RDX_BITS)) & RDX_MASK]++;
    for (int p = 0; p < RDX_PASSES; p++) {
        unsigned shift = (unsigned)p * RDX_BITS;
        if (cnt[p][(a[0] >> shift) & RDX_MASK] == n)
            continue; /* every key has this digit */
        uint32_t pos = 0;
        for (unsigned d = 0; d < RDX_SIZE; d++) {
            uint32_t c = cnt[p][d];
            cnt[p][d] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++)
            b[cnt[p][(a[i] >> shift) & RDX_MASK]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    return a;
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

/* The walk from the highest score down over the positives' sorted keys
 * p[0..np) and the negatives' q[0..nq). Per distinct score, dt positives
 * and df negatives: the ROC step adds the trapezoid df * (tp + dt / 2)
 * (in units of 1 / (P N)), kept doubled in integers so the area is exact
 * (< 2^64 while n < 2^32); the PR step adds recall's rise dt / P times the
 * precision tp / (tp + fp) after the step, as in sklearn's
 * -sum(diff(recall) * precision[:-1]). */
static void rank_walk(const uint64_t *p, size_t np, const uint64_t *q, size_t nq,
                      struct fb_ranking *out)
{
    uint64_t area2 = 0, tp = 0, fp = 0;
    struct fb_sum ap = {0};
    size_t i = np, j = nq;
    while (i > 0 || j > 0) {
        uint64_t v = i == 0 ? q[j - 1] : j == 0 ? p[i - 1]
                                              : (p[i - 1] > q[j - 1] ? p[i - 1] : q[j - 1]);
        uint64_t dt = 0, df = 0;
        while (i > 0 && p[i - 1] == v)
            i--, dt++;
        while (j > 0 && q[j - 1] == v)
            j--, df++;
        area2 += df * (2 * tp + dt);
        tp += dt;
        fp += df;
        if (dt)
            fb_sum_add(&ap, (double)dt * ((double)tp / (double)(tp + fp)));
    }
    out->positives = (int64_t)np;
    out->negatives = (int64_t)nq;
    out->notes = 0;
    if (np == 0 || nq == 0) {
        out->roc_auc = NAN;
        out->notes |= FB_NOTE_ONE_CLASS;
    } else {
        out->roc_auc = (double)area2 / (2.0 * (double)np * (double)nq);
    }
    if (np == 0) {
        out->avg_precision = 0.0; /* recall is 1 everywhere: no rise */
        out->notes |= FB_NOTE_NO_POSITIVE;
    } else {
        out->avg_precision = fb_sum_get(&ap) / (double)np;
    }
}

void fb_rank_run(struct fb_rank_work *w, const int32_t *y_true, int32_t pos_class,
                 const double *score, size_t stride, size_t n, struct fb_ranking *out)
{
    size_t np = 0;
    for (size_t i = 0; i < n; i++)
        np += y_true[i] == pos_class;
    /* positives at [0, np), negatives at [np, n): two sorts over disjoint
     * halves of keys and tmp, so neither overwrites the other's result */
    size_t a = 0, b = np;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = score_key(score[i * stride]);
        if (y_true[i] == pos_class)
            w->keys[a++] = key;
        else
            w->keys[b++] = key;
    }
    const uint64_t *p = rdx_sort(w->keys, w->tmp, np, w->cnt);
    const uint64_t *q = rdx_sort(w->keys + np, w->tmp + np, n - np, w->cnt);
    rank_walk(p, np, q, n - np, out);
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
