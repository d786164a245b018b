/* detect_binary.c - the detectors of a 0/1 error stream, as river 0.26's
 * drift.binary: DDM, EDDM, HDDM_A and HDDM_W. fb_det_update has checked that
 * x is 0 or 1 and reset the state after a drift. */
#include <math.h>
#include <string.h>

#include "feedback/detect_impl.h"

/* DDM: the error rate p and its deviation s; a warning (drift) when p + s
 * passes the lowest p + s seen by warning_threshold (drift_threshold) times
 * that point's s. */
static void ddm_reset(struct fb_det *det)
{
    memset(&det->st.ddm, 0, sizeof det->st.ddm);
    det->st.ddm.ps_min = INFINITY;
}

static void ddm_update(struct fb_det *det, double x)
{
    struct fb_ddm *s = &det->st.ddm;
    const struct fb_det_spec *c = &det->spec;
    fb_mean_add(&s->p, x);
    double p = s->p.mean, n = s->p.n;
    double sd = sqrt(p * (1 - p) / n);
    if (!(n > (double)c->p.ddm.warm_start))
        return;
    if (p + sd <= s->ps_min) {
        s->p_min = p;
        s->s_min = sd;
        s->ps_min = s->p_min + s->s_min;
    }
    det->warning = p + sd > s->p_min + c->p.ddm.warning_threshold * s->s_min;
    if (p + sd > s->p_min + c->p.ddm.drift_threshold * s->s_min) {
        det->drift = true;
        det->warning = false;
    }
}

static const struct fb_state_field ddm_fields[] = {
    FB_FD(ddm.p.n), FB_FD(ddm.p.mean), FB_FD(ddm.p_min), FB_FD(ddm.s_min), FB_FD(ddm.ps_min),
};
const struct fb_det_ops fb_ddm_ops = {ddm_reset, ddm_update, ddm_fields, FB_NF(ddm_fields)};

/* EDDM: the distances between errors, their mean p' and deviation s'; a
 * warning (drift) when p' + 2 s' falls under alpha (beta) times its maximum.
 * Only an error updates anything, so a warning holds over correct values. */
static void eddm_reset(struct fb_det *det)
{
    memset(&det->st.eddm, 0, sizeof det->st.eddm);
    det->st.eddm.p2s_max = -1;
}

static void eddm_update(struct fb_det *det, double x)
{
    struct fb_eddm *s = &det->st.eddm;
    const struct fb_det_spec *c = &det->spec;
    s->n++;
    if (x != 1)
        return;
    s->n_errors++;
    /* river's stats.Var (ddof 1): Welford's sum of squares */
    double d = (double)(s->n - s->last_error), old = s->dist.mean;
    fb_mean_add(&s->dist, d);
    s->dist_s += 1.0 * (d - old) * (d - s->dist.mean);
    if (s->n > c->p.eddm.warm_start) {
        double var = s->dist.n > 1 ? s->dist_s / (s->dist.n - 1) : 0.0;
        double p2s = s->dist.mean + 2 * pow(var, 0.5);
        if (p2s > s->p2s_max) {
            s->p2s_max = p2s;
        } else if (s->n_errors > c->p.eddm.warm_start) {
            double level = p2s / s->p2s_max;
            if (level < c->p.eddm.beta)
                det->drift = true;
            else if (level < c->p.eddm.alpha)
                det->warning = true;
            else
                det->warning = false;
        }
    }
    s->last_error = s->n;
}

static const struct fb_state_field eddm_fields[] = {
    FB_FD(eddm.dist.n), FB_FD(eddm.dist.mean), FB_FD(eddm.dist_s), FB_FD(eddm.p2s_max),
    FB_FI(eddm.n), FB_FI(eddm.last_error), FB_FI(eddm.n_errors),
};
const struct fb_det_ops fb_eddm_ops = {eddm_reset, eddm_update, eddm_fields, FB_NF(eddm_fields)};

/* HDDM_A: the mean z of the stream against the prefix means x_min (x_max)
 * at the lowest (highest) point of z's Hoeffding band; a rise of z over
 * x_min beyond the bound of the drift (warning) confidence is a drift
 * (warning), a fall under x_max too when two-sided. */
static void hddm_a_reset(struct fb_det *det)
{
    memset(&det->st.hddm_a, 0, sizeof det->st.hddm_a);
}

static double hoeffding(const struct fb_det *det, double n)
{
    return sqrt(1.0 / (2 * n) * log(1.0 / det->spec.p.hddm_a.drift_confidence));
}

/* Whether `hi` exceeds `lo` by the bound of `conf`, where cut is the prefix
 * mean and z the stream's (river's _mean_incr and _mean_decr). */
static bool hddm_a_changed(const struct fb_mean *cut, const struct fb_mean *z, double hi,
                           double lo, double conf)
{
    if (cut->n == z->n)
        return false;
    double m = (z->n - cut->n) / cut->n * (1.0 / z->n);
    return hi - lo >= sqrt(m / 2 * log(2.0 / conf));
}

static void hddm_a_update(struct fb_det *det, double x)
{
    struct fb_hddm_a *s = &det->st.hddm_a;
    const struct fb_det_spec *c = &det->spec;
    fb_mean_add(&s->z, x);
    if (s->x_min.n == 0)
        s->x_min = s->z;
    if (s->x_max.n == 0)
        s->x_max = s->z;
    double eps_z = hoeffding(det, s->z.n);
    if (s->x_min.mean + hoeffding(det, s->x_min.n) >= s->z.mean + eps_z)
        s->x_min = s->z;
    if (s->x_max.mean - hoeffding(det, s->x_max.n) <= s->z.mean - eps_z)
        s->x_max = s->z;
    const struct fb_mean *z = &s->z, *lo = &s->x_min, *hi = &s->x_max;
    det->drift = hddm_a_changed(lo, z, z->mean, lo->mean, c->p.hddm_a.drift_confidence);
    det->warning =
        !det->drift && hddm_a_changed(lo, z, z->mean, lo->mean, c->p.hddm_a.warning_confidence);
    if (!c->p.hddm_a.two_sided_test)
        return;
    if (hddm_a_changed(hi, z, hi->mean, z->mean, c->p.hddm_a.drift_confidence))
        det->drift = true;
    else if (hddm_a_changed(hi, z, hi->mean, z->mean, c->p.hddm_a.warning_confidence))
        det->warning = true;
}

static const struct fb_state_field hddm_a_fields[] = {
    FB_FD(hddm_a.z.n),        FB_FD(hddm_a.z.mean),  FB_FD(hddm_a.x_min.n),
    FB_FD(hddm_a.x_min.mean), FB_FD(hddm_a.x_max.n), FB_FD(hddm_a.x_max.mean),
};
const struct fb_det_ops fb_hddm_a_ops = {hddm_a_reset, hddm_a_update, hddm_a_fields,
                                         FB_NF(hddm_a_fields)};

/* HDDM_W: exponentially weighted means with McDiarmid's bound. The stream's
 * EWMA is cut where it was lowest (highest) plus (minus) the bound: s1 is
 * the EWMA up to the cut, s2 the EWMA after it, and s2 rising over s1
 * (falling under it, when two-sided) by the bound is the signal. */
static const struct fb_sample fresh_sample = {0.0, 1.0, 0};

static void sample_add(const struct fb_det *det, struct fb_sample *s, double x)
{
    double l = det->spec.p.hddm_w.lambda_val;
    s->ewma = s->init ? l * x + (1.0 - l) * s->ewma : x;
    s->init = 1;
    s->ibc = l * l + (1 - l) * (1 - l) * s->ibc;
}

static void hddm_w_reset(struct fb_det *det)
{
    struct fb_hddm_w *s = &det->st.hddm_w;
    s->total = s->s1_decr = s->s1_incr = s->s2_decr = s->s2_incr = fresh_sample;
    s->incr_cut = INFINITY;
    s->decr_cut = -INFINITY;
}

static double mcdiarmid(double ibc, double conf)
{
    return sqrt(ibc * log(1 / conf) / 2);
}

/* Whether s2's EWMA exceeds s1's by the bound of conf. */
static bool hddm_w_changed(const struct fb_sample *s1, const struct fb_sample *s2, double conf)
{
    if (!(s1->init && s2->init))
        return false;
    return s2->ewma - s1->ewma > mcdiarmid(s1->ibc + s2->ibc, conf);
}

static void hddm_w_update(struct fb_det *det, double x)
{
    struct fb_hddm_w *s = &det->st.hddm_w;
    double drift_conf = det->spec.p.hddm_w.drift_confidence;
    double warn_conf = det->spec.p.hddm_w.warning_confidence;
    sample_add(det, &s->total, x);
    double eps = mcdiarmid(s->total.ibc, drift_conf);
    if (s->total.ewma + eps < s->incr_cut) {
        s->incr_cut = s->total.ewma + eps;
        s->s1_incr = s->total;
        s->s2_incr = fresh_sample;
    } else {
        sample_add(det, &s->s2_incr, x);
    }
    det->drift = hddm_w_changed(&s->s1_incr, &s->s2_incr, drift_conf);
    det->warning = !det->drift && hddm_w_changed(&s->s1_incr, &s->s2_incr, warn_conf);
    if (s->total.ewma - eps > s->decr_cut) {
        s->decr_cut = s->total.ewma - eps;
        s->s1_decr = s->total;
        s->s2_decr = fresh_sample;
    } else {
        sample_add(det, &s->s2_decr, x);
    }
    if (!det->spec.p.hddm_w.two_sided_test)
        return;
    if (hddm_w_changed(&s->s2_decr, &s->s1_decr, drift_conf))
        det->drift = true;
    else if (hddm_w_changed(&s->s2_decr, &s->s1_decr, warn_conf))
        det->warning = true;
}

#define SAMPLE(m) FB_FD(hddm_w.m.ewma), FB_FD(hddm_w.m.ibc), FB_FI(hddm_w.m.init)
static const struct fb_state_field hddm_w_fields[] = {
    SAMPLE(total), SAMPLE(s1_decr), SAMPLE(s1_incr), SAMPLE(s2_decr), SAMPLE(s2_incr),
    FB_FD(hddm_w.incr_cut), FB_FD(hddm_w.decr_cut),
};
const struct fb_det_ops fb_hddm_w_ops = {hddm_w_reset, hddm_w_update, hddm_w_fields,
                                         FB_NF(hddm_w_fields)};
