/* metrics_impl.h - what metrics.c and metrics_rank.c share. Internal to
 * feedback/: the module's public surface is feedback/feedback.h. */
#ifndef CAP_FEEDBACK_METRICS_IMPL_H
#define CAP_FEEDBACK_METRICS_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "feedback/metrics.h"

/* A running sum with its rounding error carried beside it (Knuth's TwoSum,
 * i.e. Neumaier's compensation without its branch: 6 flops an add). The
 * result is within ~2 ulp of the exact sum whatever n is, where a plain loop
 * drifts by up to ~n * 2^-53 relative (1e-10 at a million rows, a tenth of
 * our 1e-9 budget before sklearn's own rounding) and numpy's pairwise sum
 * needs the terms stored in an array. Streaming matters here: the terms
 * (|e|, e^2, |e|/|y|) are made on the fly, nothing is materialised. */
struct fb_sum {
    double s, c;
};

static inline void fb_sum_add(struct fb_sum *a, double x)
{
    double t = a->s + x;
    double z = t - a->s;
    a->c += (a->s - (t - z)) + (x - z);
    a->s = t;
}

static inline double fb_sum_get(const struct fb_sum *a)
{
    /* an overflow to inf makes the error term NaN: the sum is inf then */
    return isfinite(a->s) ? a->s + a->c : a->s;
}

/* The radix sort's digit (metrics_rank.c says why this width). */
#define FB_RDX_BITS 12
#define FB_RDX_SIZE (1u << FB_RDX_BITS)

/* Scratch for rankings over up to n rows, reused across classes so that a
 * k-class query allocates once (2 n words + 48 KiB of digit counts). */
struct fb_rank_work {
    uint64_t *keys, *tmp;
    uint32_t (*cnt)[FB_RDX_SIZE];
    size_t n;
};

void fb_rank_work_init(struct fb_rank_work *w, size_t n);
void fb_rank_work_free(struct fb_rank_work *w);
/* fb_rank_binary without the checks: scores finite, n <= w->n. */
void fb_rank_run(struct fb_rank_work *w, const int32_t *y_true, int32_t pos_class,
                 const double *score, size_t stride, size_t n, struct fb_ranking *out);

#endif
