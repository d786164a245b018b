/* metrics.c - classification and regression quality, scikit-learn 1.9's
 * definitions (metrics.h says which function each number equals). The
 * counts are integers, so accuracy, precision, recall, F1 and the confusion
 * matrix are the same doubles sklearn divides; sums of doubles (log loss,
 * regression errors) are compensated (metrics_impl.h), so 10^6 rows stay
 * within an ulp or two of exact and within 1e-9 of numpy's pairwise sums. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "feedback/metrics_impl.h"

static const char *const note_names[FB_NOTE_COUNT] = {
    "zero_division", "no_proba",  "one_class", "class_absent",
    "not_normalised", "no_positive", "r2_few", "r2_constant",
};

const char *fb_note_name(unsigned bit)
{
    for (int i = 0; i < FB_NOTE_COUNT; i++)
        if (bit == 1u << i)
            return note_names[i];
    return NULL;
}

void fb_cls_opts_init(struct fb_cls_opts *o)
{
    o->pos_class = 1;
    o->zero_division = 0.0;
    o->all_classes = false;
}

/* ---- classification: input checks and counts ---------------------------- */

static int check_cls(const struct fb_cls_input *in, const struct fb_cls_opts *o,
                     struct cap_error *err)
{
    if (!in || in->n == 0)
        return cap_err(err, CAP_EINVAL, "no rows: metrics need at least one labelled prediction");
    if (in->n > FB_MAX_ROWS)
        return cap_err(err, CAP_EINVAL, "%zu rows: at most %zu are supported", in->n,
                       FB_MAX_ROWS);
    if (in->k < 2 || in->k > FB_MAX_CLASSES)
        return cap_err(err, CAP_EINVAL, "k = %d classes: expected 2 to %d", in->k,
                       FB_MAX_CLASSES);
    if (!in->y_true || !in->y_pred)
        return cap_err(err, CAP_EINVAL, "y_true and y_pred are required");
    if (in->k == 2 && (o->pos_class < 0 || o->pos_class >= in->k))
        return cap_err(err, CAP_EINVAL, "pos_class = %d is not a class index in [0, 2)",
                       o->pos_class);
    if (!isnan(o->zero_division) && o->zero_division != 0.0 && o->zero_division != 1.0)
        return cap_err(err, CAP_EINVAL, "zero_division = %g: expected 0, 1 or NaN",
                       o->zero_division);
    return 0;
}

/* The confusion matrix, checking every index on the way. */
static int count_rows(const struct fb_cls_input *in, int64_t *conf, struct cap_error *err)
{
    uint32_t k = (uint32_t)in->k;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t t = (uint32_t)in->y_true[i], p = (uint32_t)in->y_pred[i];
        if (t >= k || p >= k)
            return cap_err(err, CAP_EINVAL, "row %zu: %s = %d is not a class index in [0, %d)",
                           i, t >= k ? "y_true" : "y_pred",
                           t >= k ? in->y_true[i] : in->y_pred[i], in->k);
        conf[t * k + p]++;
    }
    return 0;
}

/* Checks every probability, flags rows that np.allclose(1, row sum) would
 * refuse (the sum left to right, as numpy does for k < 8), and sums the log
 * loss: -log of the true class's probability clipped to [eps, 1 - eps]. */
static int scan_proba(const struct fb_cls_input *in, struct fb_cls_metrics *m,
                      struct cap_error *err)
{
    const double eps = 0x1p-52; /* np.finfo(np.float64).eps */
    size_t k = (size_t)in->k;
    struct fb_sum loss = {0};
    bool normalised = true;
    for (size_t i = 0; i < in->n; i++) {
        const double *row = in->proba + i * k;
        double s = 0.0;
        for (size_t c = 0; c < k; c++) {
            if (!(row[c] >= 0.0 && row[c] <= 1.0))
                return cap_err(err, CAP_EINVAL,
                               "row %zu: proba[%zu] = %g: probabilities must be finite "
                               "numbers in [0, 1]", i, c, row[c]);
            s += row[c];
        }
        normalised &= fabs(1.0 - s) <= 1e-8 + 1e-5 * fabs(s);
        double q = row[in->y_true[i]];
        fb_sum_add(&loss, -log(q < eps ? eps : q > 1.0 - eps ? 1.0 - eps : q));
    }
    m->log_loss = fb_sum_get(&loss) / (double)in->n;
    if (!normalised && in->k > 2)
        m->notes |= FB_NOTE_NOT_NORMALISED;
    return 0;
}

/* ---- classification: precision, recall, F1 and their averages ----------- */

static double prf_div(int64_t num, int64_t den, double zero_division, bool *zero)
{
    if (den == 0) {
        *zero = true;
        return zero_division;
    }
    return (double)num / (double)den;
}

static void class_counts(struct fb_cls_metrics *m, double zero_division)
{
    int k = m->k;
    for (int c = 0; c < k; c++) {
        struct fb_class_metrics *cm = &m->classes[c];
        cm->tp = m->confusion[(size_t)c * k + c];
        for (int j = 0; j < k; j++) {
            cm->support += m->confusion[(size_t)c * k + j];
            cm->predicted += m->confusion[(size_t)j * k + c];
        }
        cm->present = cm->support > 0 || cm->predicted > 0;
        bool zero = false;
        cm->prf.precision = prf_div(cm->tp, cm->predicted, zero_division, &zero);
        cm->prf.recall = prf_div(cm->tp, cm->support, zero_division, &zero);
        /* sklearn's (1 + b^2) tp / (b^2 true + pred) at b = 1, same doubles */
        cm->prf.f1 = prf_div(2 * cm->tp, cm->support + cm->predicted, zero_division, &zero);
        cm->roc_auc = cm->avg_precision = NAN;
        if (zero && cm->present)
            m->notes |= FB_NOTE_ZERO_DIVISION;
    }
}

enum prf_field { PRF_PRECISION, PRF_RECALL, PRF_F1 };

static double *prf_at(struct fb_prf *p, enum prf_field f)
{
    return f == PRF_PRECISION ? &p->precision : f == PRF_RECALL ? &p->recall : &p->f1;
}

/* sklearn's _nanaverage over the classes in the average: NaN values (from
 * zero_division=NaN) are left out, weights summing to 0 fall back to the
 * plain mean, nothing left gives NaN. */
static double prf_average(struct fb_cls_metrics *m, bool all, enum prf_field f, bool weighted)
{
    struct fb_sum sv = {0}, swv = {0}, sw = {0};
    size_t used = 0;
    for (int c = 0; c < m->k; c++) {
        struct fb_class_metrics *cm = &m->classes[c];
        double v = *prf_at(&cm->prf, f);
        if ((!all && !cm->present) || isnan(v))
            continue;
        used++;
        fb_sum_add(&sv, v);
        fb_sum_add(&swv, v * (double)cm->support);
        fb_sum_add(&sw, (double)cm->support);
    }
    if (used == 0)
        return NAN;
    if (weighted && fb_sum_get(&sw) != 0.0)
        return fb_sum_get(&swv) / fb_sum_get(&sw);
    return fb_sum_get(&sv) / (double)used;
}

static void prf_averages(struct fb_cls_metrics *m, const struct fb_cls_opts *o)
{
    for (enum prf_field f = PRF_PRECISION; f <= PRF_F1; f++) {
        *prf_at(&m->macro, f) = prf_average(m, o->all_classes, f, false);
        *prf_at(&m->weighted, f) = prf_average(m, o->all_classes, f, true);
    }
    if (m->k == 2)
        m->binary = m->classes[o->pos_class].prf;
    else
        m->binary = (struct fb_prf){NAN, NAN, NAN};
}

/* ---- classification: rankings -------------------------------------------- */

/* The one-vs-rest averages for k > 2, as sklearn's _average_binary_score:
 * macro is the plain mean (a NaN class makes it NaN), weighted uses the
 * support, with a class of support 0 counted as 0 at weight 0. */
static void ovr_average(const struct fb_cls_metrics *m, size_t off, double *macro,
                        double *weighted)
{
    struct fb_sum s = {0}, sw = {0};
    for (int c = 0; c < m->k; c++) {
        const struct fb_class_metrics *cm = &m->classes[c];
        double v = *(const double *)((const char *)cm + off);
        fb_sum_add(&s, v);
        if (cm->support > 0)
            fb_sum_add(&sw, v * (double)cm->support);
    }
    *macro = fb_sum_get(&s) / (double)m->k;
    *weighted = fb_sum_get(&sw) / (double)m->n;
}

static void rankings(const struct fb_cls_input *in, struct fb_cls_metrics *m, int pos)
{
    struct fb_rank_work w;
    fb_rank_work_init(&w, in->n);
    bool absent = false;
    for (int c = 0; c < m->k; c++) {
        if (m->k == 2 && c != pos)
            continue; /* binary: one sort, the positive class's */
        struct fb_ranking r;
        fb_rank_run(&w, in->y_true, c, in->proba + c, (size_t)m->k, in->n, &r);
        m->classes[c].roc_auc = r.roc_auc;
        m->classes[c].avg_precision = r.avg_precision;
        m->notes |= r.notes;
        absent |= r.positives == 0;
    }
    fb_rank_work_free(&w);
    if (m->k == 2) {
        m->roc_auc = m->roc_auc_weighted = m->classes[pos].roc_auc;
        m->avg_precision = m->avg_precision_weighted = m->classes[pos].avg_precision;
        return;
    }
    ovr_average(m, offsetof(struct fb_class_metrics, roc_auc), &m->roc_auc,
                &m->roc_auc_weighted);
    ovr_average(m, offsetof(struct fb_class_metrics, avg_precision), &m->avg_precision,
                &m->avg_precision_weighted);
    if (m->notes & FB_NOTE_NOT_NORMALISED)
        m->roc_auc = m->roc_auc_weighted = NAN;
    if (absent) {
        m->avg_precision = m->avg_precision_weighted = NAN;
        m->notes |= FB_NOTE_CLASS_ABSENT;
    }
}

int fb_cls_compute(const struct fb_cls_input *in, const struct fb_cls_opts *opts,
                   struct fb_cls_metrics *out, struct cap_error *err)
{
    struct fb_cls_opts defaults;
    fb_cls_opts_init(&defaults);
    const struct fb_cls_opts *o = opts ? opts : &defaults;
    memset(out, 0, sizeof *out);
    int rc = check_cls(in, o, err);
    if (rc)
        return rc;
    struct fb_cls_metrics m = {.n = in->n, .k = in->k};
    m.confusion = cap_xcalloc((size_t)in->k * in->k, sizeof *m.confusion);
    m.classes = cap_xcalloc((size_t)in->k, sizeof *m.classes);
    m.roc_auc = m.roc_auc_weighted = m.avg_precision = m.avg_precision_weighted = NAN;
    m.log_loss = NAN;
    if ((rc = count_rows(in, m.confusion, err)) ||
        (in->proba && (rc = scan_proba(in, &m, err)))) {
        fb_cls_metrics_free(&m);
        return rc;
    }
    int64_t correct = 0;
    for (int c = 0; c < in->k; c++)
        correct += m.confusion[(size_t)c * in->k + c];
    m.accuracy = (double)correct / (double)in->n;
    class_counts(&m, o->zero_division);
    prf_averages(&m, o);
    if (in->proba)
        rankings(in, &m, o->pos_class);
    else
        m.notes |= FB_NOTE_NO_PROBA;
    *out = m;
    return 0;
}

void fb_cls_metrics_free(struct fb_cls_metrics *m)
{
    if (!m)
        return;
    free(m->confusion);
    free(m->classes);
    m->confusion = NULL;
    m->classes = NULL;
}

/* ---- regression ---------------------------------------------------------- */

/* Sums over rows go block by block: within a block of REG_BLOCK rows, 4
 * lanes of plain sums (independent chains the CPU overlaps; a TwoSum on
 * every row took 9.5 ms per 10^6 rows in bench/feedback, this 4.3 ms),
 * then each block's total joins a compensated sum. A block's error is at most ~REG_BLOCK / 4 *
 * 2^-53 = 3e-14 of its magnitude; across blocks nothing more is lost. */
#define REG_BLOCK 1024
#define REG_LANES 4

struct reg_lanes {
    double ae[REG_LANES], se[REG_LANES], ape[REG_LANES], e[REG_LANES], yt[REG_LANES];
};

struct reg_sums {
    struct fb_sum ae, se, ape, e, yt;
    bool finite, constant;
};

static inline void reg_row(struct reg_lanes *l, int j, double t, double p)
{
    const double eps = 0x1p-52; /* MAPE's floor under |y_true| */
    double d = p - t, at = fabs(t);
    l->ae[j] += fabs(d);
    l->se[j] += d * d;
    l->ape[j] += fabs(d) / (at > eps ? at : eps);
    l->e[j] += d;
    l->yt[j] += t;
}

static double lanes_total(const double *v)
{
    return (v[0] + v[1]) + (v[2] + v[3]);
}

static void reg_block(const double *t, const double *p, size_t n, double t0, struct reg_sums *s)
{
    struct reg_lanes l = {0};
    int finite = 1, same = 1;
    size_t i = 0;
    for (; i + REG_LANES <= n; i += REG_LANES)
        for (int j = 0; j < REG_LANES; j++)
            reg_row(&l, j, t[i + j], p[i + j]);
    for (; i < n; i++)
        reg_row(&l, 0, t[i], p[i]);
    for (i = 0; i < n; i++) {
        finite &= (fabs(t[i]) <= DBL_MAX) & (fabs(p[i]) <= DBL_MAX);
        same &= t[i] == t0;
    }
    fb_sum_add(&s->ae, lanes_total(l.ae));
    fb_sum_add(&s->se, lanes_total(l.se));
    fb_sum_add(&s->ape, lanes_total(l.ape));
    fb_sum_add(&s->e, lanes_total(l.e));
    fb_sum_add(&s->yt, lanes_total(l.yt));
    s->finite &= finite;
    s->constant &= same;
}

/* R^2's sum of squared deviations from the mean: a second pass, not the
 * one-pass sum y^2 - n mean^2, which cancels badly. */
static double reg_sst(const double *t, size_t n, double mean)
{
    struct fb_sum ss = {0};
    for (size_t b = 0; b < n; b += REG_BLOCK) {
        size_t m = n - b < REG_BLOCK ? n - b : REG_BLOCK, i = 0;
        double v[REG_LANES] = {0};
        for (; i + REG_LANES <= m; i += REG_LANES)
            for (int j = 0; j < REG_LANES; j++)
                v[j] += (t[b + i + j] - mean) * (t[b + i + j] - mean);
        for (; i < m; i++)
            v[0] += (t[b + i] - mean) * (t[b + i] - mean);
        fb_sum_add(&ss, lanes_total(v));
    }
    return fb_sum_get(&ss);
}

static int reg_bad_row(const double *y_true, const double *y_pred, size_t n,
                       struct cap_error *err)
{
    size_t i = 0;
    while (i < n && isfinite(y_true[i]) && isfinite(y_pred[i]))
        i++;
    bool t = !isfinite(y_true[i]);
    return cap_err(err, CAP_EINVAL, "row %zu: %s = %g: values must be finite numbers", i,
                   t ? "y_true" : "y_pred", t ? y_true[i] : y_pred[i]);
}

int fb_reg_compute(const double *y_true, const double *y_pred, size_t n,
                   struct fb_reg_metrics *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return cap_err(err, CAP_EINVAL, "no rows: metrics need at least one labelled prediction");
    if (n > FB_MAX_ROWS)
        return cap_err(err, CAP_EINVAL, "%zu rows: at most %zu are supported", n, FB_MAX_ROWS);
    if (!y_true || !y_pred)
        return cap_err(err, CAP_EINVAL, "y_true and y_pred are required");
    struct reg_sums s = {.finite = true, .constant = true};
    for (size_t b = 0; b < n; b += REG_BLOCK)
        reg_block(y_true + b, y_pred + b, n - b < REG_BLOCK ? n - b : REG_BLOCK, y_true[0], &s);
    if (!s.finite)
        return reg_bad_row(y_true, y_pred, n, err);
    double dn = (double)n, sse = fb_sum_get(&s.se);
    *out = (struct fb_reg_metrics){
        .n = n,
        .mae = fb_sum_get(&s.ae) / dn,
        .rmse = sqrt(sse / dn),
        .mape = fb_sum_get(&s.ape) / dn,
        .mean_error = fb_sum_get(&s.e) / dn,
    };
    if (n < 2) {
        out->r2 = NAN;
        out->notes |= FB_NOTE_R2_FEW;
        return 0;
    }
    double sst = 0.0;
    if (s.constant)
        out->notes |= FB_NOTE_R2_CONSTANT;
    else
        sst = reg_sst(y_true, n, fb_sum_get(&s.yt) / dn);
    /* force_finite: a perfect fit is 1 even on constant y_true, and a
     * non-zero error over a zero spread is 0 rather than -inf */
    out->r2 = sse == 0.0 ? 1.0 : sst == 0.0 ? 0.0 : 1.0 - sse / sst;
    return 0;
}
