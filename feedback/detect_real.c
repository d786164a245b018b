/* detect_real.c - the detectors of real values (absolute errors, or 0/1):
 * river 0.26's ADWIN (its Rust AdaptiveWindowing, a port of the ADWIN2
 * Cython code) and PageHinkley. fb_det_update has checked that x is finite
 * and reset the state after a drift. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feedback/detect_impl.h"

/* ADWIN keeps its window as levels of summaries (a total and a variance):
 * level i holds summaries of 2^i values, at most max_buckets of them at rest.
 * Every `clock` values (once the window is wider than grace_period) it tries
 * every split of the window between summaries into an older part W0 and a
 * newer W1; when their means differ by more than the cut bound it drops the
 * oldest summary and tries again. Any such drop is a drift. */
/* A loaded window has at most 48 levels (2^48 values, 9 years at 1e6 a
 * second), so that 1 << level stays defined for any stream after it. */
#define MAX_LEVELS 48

static int ring(const struct fb_det *det)
{
    return (int)det->spec.p.adwin.max_buckets + 1;
}

/* Slot of the k-th oldest summary of level lev. */
static size_t slot(const struct fb_adwin *a, int cap, int lev, int k)
{
    return (size_t)lev * (size_t)cap + (size_t)((a->head[lev] + k) % cap);
}

static void adwin_grow(struct fb_adwin *a, int cap, int levels)
{
    if (levels <= a->levcap)
        return;
    int n = a->levcap ? a->levcap : 8;
    while (n < levels)
        n *= 2;
    a->head = cap_xrealloc(a->head, (size_t)n * sizeof *a->head);
    a->count = cap_xrealloc(a->count, (size_t)n * sizeof *a->count);
    a->tot = cap_xrealloc(a->tot, (size_t)n * (size_t)cap * sizeof *a->tot);
    a->var = cap_xrealloc(a->var, (size_t)n * (size_t)cap * sizeof *a->var);
    a->levcap = n;
}

static void adwin_push(struct fb_adwin *a, int cap, int lev, double total, double var)
{
    if (lev == a->nlev) {
        adwin_grow(a, cap, lev + 1);
        a->head[lev] = a->count[lev] = 0;
        a->nlev++;
    }
    size_t at = slot(a, cap, lev, a->count[lev]++);
    a->tot[at] = total;
    a->var[at] = var;
}

static void adwin_drop(struct fb_adwin *a, int cap, int lev, int n)
{
    a->head[lev] = (a->head[lev] + n) % cap;
    a->count[lev] -= n;
}

static void adwin_reset(struct fb_det *det)
{
    struct fb_adwin *a = &det->st.adwin;
    adwin_grow(a, ring(det), 1);
    a->nlev = 1;
    a->head[0] = a->count[0] = 0;
    a->total = a->variance = a->width = 0;
    a->tick = 0;
}

void fb_adwin_free(struct fb_adwin *a)
{
    free(a->head);
    free(a->count);
    free(a->tot);
    free(a->var);
}

/* A full level merges its two oldest summaries into one of the next level. */
static void adwin_compress(struct fb_adwin *a, int cap)
{
    for (int lev = 0; a->count[lev] == cap; lev++) {
        double n1 = (double)(1ull << lev);
        size_t s0 = slot(a, cap, lev, 0), s1 = slot(a, cap, lev, 1);
        double mu1 = a->tot[s0] / n1, mu2 = a->tot[s1] / n1;
        double total = a->tot[s0] + a->tot[s1];
        double var = a->var[s0] + a->var[s1] + n1 * 0.5 * (mu1 - mu2) * (mu1 - mu2);
        adwin_push(a, cap, lev + 1, total, var);
        adwin_drop(a, cap, lev, 2);
        if (a->count[lev + 1] < cap)
            break;
    }
}

static void adwin_insert(struct fb_adwin *a, int cap, double x)
{
    adwin_push(a, cap, 0, x, 0.0);
    a->width += 1.0;
    double inc = 0.0;
    if (a->width > 1.0) {
        double d = x - a->total / (a->width - 1.0);
        inc = (a->width - 1.0) * d * d / a->width;
    }
    a->variance += inc;
    a->total += x;
    adwin_compress(a, cap);
}

/* Drops the oldest summary from the window. */
static void adwin_delete(struct fb_adwin *a, int cap)
{
    int last = a->nlev - 1;
    double n = (double)(1ull << last);
    size_t s = slot(a, cap, last, 0);
    double u = a->tot[s], v = a->var[s], mu = u / n;
    a->width -= n;
    a->total -= u;
    double mu_window = a->total / a->width;
    a->variance -= v + n * a->width * (mu - mu_window) * (mu - mu_window) / (n + a->width);
    adwin_drop(a, cap, last, 1);
    if (a->count[last] == 0 && a->nlev > 1)
        a->nlev--;
}

/* The cut test of W0 (n0 values) against W1 (n1 values). */
static bool adwin_cut(const struct fb_det *det, double n0, double n1, double delta_mean)
{
    const struct fb_adwin *a = &det->st.adwin;
    double mwl = (double)det->spec.p.adwin.min_window_length;
    double dp = log(2.0 * log(a->width) / det->spec.p.adwin.delta);
    double m = 1.0 / (n0 - mwl + 1.0) + 1.0 / (n1 - mwl + 1.0);
    double eps = sqrt(2.0 * m * (a->variance / a->width) * dp) + 2.0 / 3.0 * dp * m;
    return fabs(delta_mean) > eps;
}

/* One scan over the splits, oldest summary first; true when it dropped one
 * (and the scan must start again). */
static bool adwin_scan(struct fb_det *det, int cap, bool *change)
{
    struct fb_adwin *a = &det->st.adwin;
    double mwl = (double)det->spec.p.adwin.min_window_length;
    double n0 = 0, n1 = a->width, u0 = 0, u1 = a->total;
    for (int lev = a->nlev - 1; lev >= 0; lev--) {
        double size = (double)(1ull << lev);
        for (int k = 0, cnt = a->count[lev]; k < cnt; k++) {
            double t = a->tot[slot(a, cap, lev, k)];
            n0 += size;
            n1 -= size;
            u0 += t;
            u1 -= t;
            if (lev == 0 && k == cnt - 1)
                return false;
            /* n1 >= 1 implies a width > 0: river's guard before the drop */
            if (n1 >= mwl && n0 >= mwl && adwin_cut(det, n0, n1, u0 / n0 - u1 / n1)) {
                *change = true;
                adwin_delete(a, cap);
                return true;
            }
        }
    }
    return false;
}

static void adwin_update(struct fb_det *det, double x)
{
    struct fb_adwin *a = &det->st.adwin;
    int cap = ring(det);
    adwin_insert(a, cap, x);
    a->tick++;
    bool change = false;
    if (a->tick % det->spec.p.adwin.clock == 0 &&
        a->width > (double)det->spec.p.adwin.grace_period)
        while (adwin_scan(det, cap, &change))
            ;
    det->drift = change;
}

static const struct fb_state_field adwin_fields[] = {
    FB_FD(adwin.total), FB_FD(adwin.variance), FB_FD(adwin.width), FB_FI(adwin.tick),
};
const struct fb_det_ops fb_adwin_ops = {adwin_reset, adwin_update, adwin_fields,
                                        FB_NF(adwin_fields)};

/* The levels: u32 count of levels, then per level a u32 count and that many
 * (total f64, variance f64) pairs, oldest first. */
void fb_adwin_save(const struct fb_adwin *a, int64_t max_buckets, struct cap_buf *out)
{
    int cap = (int)max_buckets + 1;
    mon_put_u32(out, (uint32_t)a->nlev);
    for (int lev = 0; lev < a->nlev; lev++) {
        mon_put_u32(out, (uint32_t)a->count[lev]);
        for (int k = 0; k < a->count[lev]; k++) {
            mon_put_f64(out, a->tot[slot(a, cap, lev, k)]);
            mon_put_f64(out, a->var[slot(a, cap, lev, k)]);
        }
    }
}

/* Refuses levels that ADWIN cannot reach: more than max_buckets summaries
 * at rest, or a width other than the number of values they summarise. */
int fb_adwin_load(struct fb_adwin *a, int64_t max_buckets, struct mon_rd *r,
                  struct cap_error *err)
{
    int cap = (int)max_buckets + 1;
    uint32_t nlev = mon_get_u32(r);
    if (!r->ok || nlev < 1 || nlev > MAX_LEVELS)
        return cap_err(err, CAP_EINVAL, "Drift detector state: ADWIN has %u levels: expected "
                                        "1 to 48", (unsigned)nlev);
    adwin_grow(a, cap, (int)nlev);
    a->nlev = (int)nlev;
    double width = 0;
    for (int lev = 0; lev < a->nlev; lev++) {
        uint32_t n = mon_get_u32(r);
        if (n > (uint32_t)max_buckets || mon_room(r, 16) < n)
            return cap_err(err, CAP_EINVAL, "Drift detector state: ADWIN's level %d is %s",
                           lev, r->ok && n > (uint32_t)max_buckets ? "overfull" : "truncated");
        a->head[lev] = 0;
        a->count[lev] = (int)n;
        for (uint32_t k = 0; k < n; k++) {
            a->tot[slot(a, cap, lev, (int)k)] = mon_get_f64(r);
            a->var[slot(a, cap, lev, (int)k)] = mon_get_f64(r);
        }
        width += (double)n * (double)(1ull << lev);
    }
    if (width != a->width)
        return cap_err(err, CAP_EINVAL,
                       "Drift detector state: ADWIN's width %.17g is not the %.17g values of "
                       "its levels",
                       a->width, width);
    return 0;
}

/* Page-Hinkley: the cumulative deviations of x from its running mean, less
 * (plus) delta, with forgetting factor alpha; a drift when the sum rises
 * over its minimum (falls under its maximum) by more than threshold. */
static void page_hinkley_reset(struct fb_det *det)
{
    struct fb_page_hinkley *s = &det->st.page_hinkley;
    memset(s, 0, sizeof *s);
    s->min_inc = INFINITY;
    s->max_dec = -1;
}

static void page_hinkley_update(struct fb_det *det, double x)
{
    struct fb_page_hinkley *s = &det->st.page_hinkley;
    const struct fb_det_spec *c = &det->spec;
    fb_mean_add(&s->x, x);
    double dev = x - s->x.mean;
    s->sum_inc = c->p.page_hinkley.alpha * s->sum_inc + dev - c->p.page_hinkley.delta;
    s->sum_dec = c->p.page_hinkley.alpha * s->sum_dec + dev + c->p.page_hinkley.delta;
    if (s->sum_inc < s->min_inc)
        s->min_inc = s->sum_inc;
    if (s->sum_dec > s->max_dec)
        s->max_dec = s->sum_dec;
    if (!(s->x.n >= (double)c->p.page_hinkley.min_instances))
        return;
    bool up = s->sum_inc - s->min_inc > c->p.page_hinkley.threshold;
    bool down = s->max_dec - s->sum_dec > c->p.page_hinkley.threshold;
    enum fb_ph_mode mode = c->p.page_hinkley.mode;
    det->drift = mode == FB_PH_UP ? up : mode == FB_PH_DOWN ? down : up || down;
}

static const struct fb_state_field page_hinkley_fields[] = {
    FB_FD(page_hinkley.x.n),     FB_FD(page_hinkley.x.mean),  FB_FD(page_hinkley.sum_inc),
    FB_FD(page_hinkley.sum_dec), FB_FD(page_hinkley.min_inc), FB_FD(page_hinkley.max_dec),
};
const struct fb_det_ops fb_page_hinkley_ops = {page_hinkley_reset, page_hinkley_update,
                                               page_hinkley_fields,
                                               FB_NF(page_hinkley_fields)};
