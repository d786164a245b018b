/* detect_impl.h - what detect.c (spec, life, blob) shares with the
 * detectors (detect_binary.c, detect_real.c). Internal to feedback/.
 *
 * Every formula keeps river's order of floating-point operations: a cut or a
 * threshold compared at the last bit decides an index, so (a + b) + c is not
 * rewritten as a + (b + c), and river's `** 0.5` stays pow(x, 0.5). */
#ifndef CAP_FEEDBACK_DETECT_IMPL_H
#define CAP_FEEDBACK_DETECT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "feedback/detect.h"
#include "monitor/wire.h"

/* river.stats.Mean with unit weights. */
struct fb_mean {
    double n, mean;
};

static inline void fb_mean_add(struct fb_mean *m, double x)
{
    m->n += 1.0;
    m->mean += (1.0 / m->n) * (x - m->mean);
}

/* HDDM_W's SampleInfo: river's EWMean (the first value is taken as is) and
 * the independent bound condition. */
struct fb_sample {
    double ewma, ibc;
    int64_t init;
};

struct fb_adwin {
    double total, variance, width;
    int64_t tick;
    /* Level i holds up to max_buckets + 1 summaries of 2^i values each, the
     * oldest first, in a ring of max_buckets + 1 slots from head[i]. */
    int nlev, levcap;
    int *head, *count;
    double *tot, *var; /* [level * (max_buckets + 1) + slot] */
};

/* The state of each detector: doubles and int64_t only (ADWIN's levels
 * aside), so that one field table saves and loads it. */
struct fb_ddm {
    struct fb_mean p;
    double p_min, s_min, ps_min;
};
struct fb_eddm {
    struct fb_mean dist; /* the distances between errors: river's Var */
    double dist_s, p2s_max;
    int64_t n, last_error, n_errors;
};
struct fb_hddm_a {
    struct fb_mean z, x_min, x_max;
};
struct fb_hddm_w {
    struct fb_sample total, s1_decr, s1_incr, s2_decr, s2_incr;
    double incr_cut, decr_cut;
};
struct fb_page_hinkley {
    struct fb_mean x;
    double sum_inc, sum_dec, min_inc, max_dec;
};
union fb_det_state {
    struct fb_ddm ddm;
    struct fb_eddm eddm;
    struct fb_hddm_a hddm_a;
    struct fb_hddm_w hddm_w;
    struct fb_page_hinkley page_hinkley;
    struct fb_adwin adwin;
};

struct fb_det {
    struct fb_det_spec spec;
    bool drift, warning;
    uint64_t count;
    union fb_det_state st;
};

/* One saved field: its offset and whether it is an int64_t (else double). */
struct fb_state_field {
    size_t off;
    bool is_int;
};
#define FB_FD(m) {offsetof(union fb_det_state, m), false}
#define FB_FI(m) {offsetof(union fb_det_state, m), true}
#define FB_NF(a) (sizeof(a) / sizeof *(a))

/* Per type: reset the state (river's _reset; flags are reset by the caller)
 * and take one value, setting det->drift and det->warning. */
struct fb_det_ops {
    void (*reset)(struct fb_det *det);
    void (*update)(struct fb_det *det, double x);
    const struct fb_state_field *fields;
    size_t nfields;
};

extern const struct fb_det_ops fb_ddm_ops, fb_eddm_ops, fb_hddm_a_ops, fb_hddm_w_ops,
    fb_adwin_ops, fb_page_hinkley_ops;

/* ADWIN's levels, beyond the field table (detect_real.c). */
void fb_adwin_free(struct fb_adwin *a);
void fb_adwin_save(const struct fb_adwin *a, int64_t max_buckets, struct cap_buf *out);
int fb_adwin_load(struct fb_adwin *a, int64_t max_buckets, struct mon_rd *r,
                  struct cap_error *err);

#endif
