/* cbpe.c - NannyML's CBPE for binary classifiers (cbpe.h). The formulas are
 * nannyml 0.13.1's performance_estimation/confidence_based/metrics.py and
 * sampling_error/binary_classification.py; the calibrator is isotonic.c. */
#include "feedback/cbpe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feedback/cbpe_int.h"

#define NM FB_CBPE_NMETRICS
#define SE_RANGE 3.0   /* nannyml's SAMPLING_ERROR_RANGE */
#define STD_MULT 3.0   /* StandardDeviationThreshold's default multipliers */

struct fb_cbpe {
    struct fb_cbpe_opts o;
    bool calibrated;
    double ece_before, ece_after;
    struct fb_iso iso;
    double se_std[NM], se_frac[NM]; /* sampling error = std / sqrt(n * frac) */
    double lo_thr[NM], hi_thr[NM];
};

static const char *const names[NM] = {
    "roc_auc", "f1", "precision", "recall", "accuracy",
    "true_positive", "true_negative", "false_positive", "false_negative",
};

/* The range a metric's thresholds and confidence band are clipped to: [0, 1]
 * for the scores, [0, inf) for the counts (nannyml sets no upper limit). */
static double range_lo(int m) { return 0.0; }
static double range_hi(int m) { return m >= FB_CBPE_TRUE_POSITIVE ? INFINITY : 1.0; }
static bool is_count(int m) { return m >= FB_CBPE_TRUE_POSITIVE; }

const char *fb_cbpe_metric_name(int metric)
{
    return metric >= 0 && metric < NM ? names[metric] : NULL;
}

int fb_cbpe_parse_metrics(const char *list, unsigned *mask, struct cap_error *err)
{
    *mask = 0;
    const char *s = list ? list : "";
    while (*s) {
        size_t len = strcspn(s, ",");
        unsigned bit = 0;
        if (len == strlen("confusion_matrix") && !strncmp(s, "confusion_matrix", len))
            bit = FB_CBPE_CONFUSION_MATRIX;
        for (int m = 0; m < NM && !bit; m++)
            if (len == strlen(names[m]) && !strncmp(s, names[m], len))
                bit = FB_CBPE_BIT(m);
        if (!bit)
            return cap_err(err, CAP_EINVAL,
                           "unknown CBPE metric '%.*s'; expected roc_auc, f1, precision, recall, "
                           "accuracy or confusion_matrix (or one of its cells)", (int)len, s);
        *mask |= bit;
        s += len + (s[len] == ',');
    }
    if (!*mask)
        return cap_err(err, CAP_EINVAL, "no CBPE metric given; expected a comma-separated list");
    return 0;
}

static int check_class(const char *what, const char *col, size_t i, double v,
                       struct cap_error *err)
{
    if (v == 0 || v == 1)
        return 0;
    return cap_err(err, CAP_EINVAL, "%s row %zu: %s %g is not a class; expected 0 or 1",
                   what, i, col, v);
}

static int check_rows(const struct fb_cbpe_rows *r, const char *what, bool need_truth,
                      struct cap_error *err)
{
    if (!r || r->n == 0)
        return cap_err(err, CAP_EINVAL, "%s has no rows; expected at least one", what);
    if (!r->proba || !r->pred)
        return cap_err(err, CAP_EINVAL, "%s lacks %s", what,
                       r->proba ? "the predicted classes" : "the predicted probabilities");
    if (need_truth && !r->truth)
        return cap_err(err, CAP_EINVAL, "%s lacks the true classes; a reference must be labelled",
                       what);
    for (size_t i = 0; i < r->n; i++) {
        double p = r->proba[i];
        if (!(p >= 0 && p <= 1))
            return cap_err(err, CAP_EINVAL,
                           "%s row %zu: probability %g is not in [0, 1]; expected the probability "
                           "of class 1", what, i, p);
        int rc = check_class(what, "predicted class", i, r->pred[i], err);
        if (rc == 0 && r->truth)
            rc = check_class(what, "true class", i, r->truth[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

size_t fb_cbpe_nchunks(size_t n, size_t chunk_size)
{
    return chunk_size ? n / chunk_size + (n % chunk_size != 0) : 0;
}

void fb_cbpe_chunk_bounds(size_t n, size_t chunk_size, size_t i, size_t *start, size_t *len)
{
    /* nannyml's SizeBasedChunker(incomplete='keep'): full chunks, then the
     * rest as one shorter chunk. */
    *start = i * chunk_size;
    *len = *start + chunk_size <= n ? chunk_size : n - *start;
}

/* Sampling-error components over the whole reference. */
static void fit_sampling_error(fb_cbpe *m, const struct fb_cbpe_rows *r,
                               const struct fb_keyed *ord, struct fb_keyed *scratch);

/* The metrics realised on labelled rows, as nannyml's _realized_performance. */
static void realized(const double *p, const double *pred, const double *truth, size_t n,
                     double out[NM], struct fb_keyed *ord, bool sorted);

/* nanmean +- 3 nanstd of the reference chunks' realised values, clipped.
 * ord is the reference sorted by p; dealt out to the chunks in that order it
 * gives each chunk its rows sorted (stable), without a sort per chunk. */
static void fit_thresholds(fb_cbpe *m, const struct fb_cbpe_rows *r, const struct fb_keyed *ord,
                           struct fb_keyed *by_chunk, double *vals)
{
    size_t nc = fb_cbpe_nchunks(r->n, m->o.chunk_size), cs = m->o.chunk_size;
    size_t *fill = (size_t *)(vals + NM * nc); /* fb_cbpe_fit allocated nc more */
    for (size_t c = 0; c < nc; c++)
        fill[c] = c * cs;
    for (size_t j = 0; j < r->n; j++) {
        size_t c = ord[j].i / cs;
        by_chunk[fill[c]++] = (struct fb_keyed){.k = ord[j].k, .i = ord[j].i - c * cs};
    }
    for (size_t c = 0; c < nc; c++) {
        size_t s, len;
        fb_cbpe_chunk_bounds(r->n, cs, c, &s, &len);
        double out[NM];
        realized(r->proba + s, r->pred + s, r->truth + s, len, out, by_chunk + s, true);
        for (int k = 0; k < NM; k++)
            vals[k * nc + c] = out[k];
    }
    for (int k = 0; k < NM; k++) {
        const double *v = vals + k * nc;
        double sum = 0, ss = 0, cnt = 0;
        for (size_t c = 0; c < nc; c++)
            if (!isnan(v[c]))
                sum += v[c], cnt++;
        double mean = sum / cnt;
        for (size_t c = 0; c < nc; c++)
            if (!isnan(v[c]))
                ss += (v[c] - mean) * (v[c] - mean);
        double sd = sqrt(ss / cnt), lo = mean - sd * STD_MULT, hi = mean + sd * STD_MULT;
        m->lo_thr[k] = lo <= range_lo(k) ? range_lo(k) : lo;
        m->hi_thr[k] = hi >= range_hi(k) ? range_hi(k) : hi;
    }
}

int fb_cbpe_fit(const struct fb_cbpe_rows *ref, const struct fb_cbpe_opts *opts, fb_cbpe **out,
                struct cap_error *err)
{
    *out = NULL;
    if (!opts || opts->chunk_size == 0)
        return cap_err(err, CAP_EINVAL, "chunk size is 0; expected at least 1 row per chunk");
    if (!opts->metrics || (opts->metrics & ~FB_CBPE_ALL))
        return cap_err(err, CAP_EINVAL, "CBPE metrics mask 0x%x is %s", opts->metrics,
                       opts->metrics ? "out of range" : "empty; expected at least one metric");
    int rc = check_rows(ref, "reference", true, err);
    if (rc)
        return rc;
    size_t n1 = 0;
    for (size_t i = 0; i < ref->n; i++)
        n1 += ref->truth[i] == 1;
    if (n1 == 0 || n1 == ref->n)
        return cap_err(err, CAP_EINVAL,
                       "reference has only class %d in its true classes; expected both 0 and 1",
                       n1 != 0);
    fb_cbpe *m = calloc(1, sizeof *m);
    size_t nc = fb_cbpe_nchunks(ref->n, opts->chunk_size);
    struct fb_keyed *ord = malloc(2 * ref->n * sizeof *ord);
    double *vals = malloc(nc * (NM * sizeof *vals + sizeof(size_t)));
    if (!m || !ord || !vals) {
        free(m), free(ord), free(vals);
        return cap_err(err, CAP_EINTERNAL, "out of memory fitting CBPE (%zu rows)", ref->n);
    }
    m->o = *opts;
    /* one sort of the reference by p serves the thresholds, the ROC AUC
     * sampling error and the calibrator */
    for (size_t i = 0; i < ref->n; i++)
        ord[i] = (struct fb_keyed){.k = ref->proba[i], .i = i};
    fb_keyed_sort(ord, ref->n);
    fit_thresholds(m, ref, ord, ord + ref->n, vals);
    fit_sampling_error(m, ref, ord, ord + ref->n);
    rc = fb_calibrator_fit(ref->proba, ref->truth, ref->n, ord, &m->iso, &m->calibrated,
                           &m->ece_before, &m->ece_after, err);
    free(ord), free(vals);
    if (rc) {
        fb_cbpe_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void fb_cbpe_free(fb_cbpe *m)
{
    if (!m)
        return;
    fb_iso_free(&m->iso);
    free(m);
}

unsigned fb_cbpe_metrics(const fb_cbpe *m) { return m->o.metrics; }
size_t fb_cbpe_chunk_size(const fb_cbpe *m) { return m->o.chunk_size; }

bool fb_cbpe_calibrated(const fb_cbpe *m, double *ece_before, double *ece_after)
{
    if (ece_before)
        *ece_before = m->ece_before;
    if (ece_after)
        *ece_after = m->ece_after;
    return m->calibrated;
}

void fb_cbpe_thresholds(const fb_cbpe *m, int metric, double *lower, double *upper)
{
    bool ok = metric >= 0 && metric < NM;
    *lower = ok ? m->lo_thr[metric] : NAN;
    *upper = ok ? m->hi_thr[metric] : NAN;
}

/* np.std of k ones and N - k zeros (NaN for none). */
static double binstd(double k, double N)
{
    if (N == 0)
        return NAN;
    double q = k / N;
    return sqrt((k * (1 - q) * (1 - q) + (N - k) * q * q) / N);
}

/* auroc_sampling_error_components: with the minority class as positive,
 * each positive's count of negatives ranked below it (over all negatives);
 * its std, and the positives' share. A positive ranked first is skipped,
 * as nannyml's np.unique(...)[1:] does. */
static void auroc_components(const struct fb_cbpe_rows *r, const struct fb_keyed *by_p,
                             struct fb_keyed *scratch, double *std, double *frac)
{
    size_t n = r->n, pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += r->truth[i] == 1;
    bool flip = (double)pos / (double)n > 0.5;
    const struct fb_keyed *ord = by_p;
    if (flip) {
        for (size_t i = 0; i < n; i++)
            scratch[i] = (struct fb_keyed){.k = 1 - r->proba[i], .i = i};
        fb_keyed_sort(scratch, n);
        ord = scratch;
    }
    double n_pos = (double)(flip ? n - pos : pos), n_neg = (double)n - n_pos;
    double sum = 0, ss = 0, cnt = 0;
    for (int pass = 0; pass < 2; pass++) {
        double mean = sum / cnt, j = 0;
        for (size_t rank = 1; rank < n; rank++) {
            if ((r->truth[ord[rank].i] == 1) == flip)
                continue;
            double v = ((double)rank - j++) / n_neg;
            if (pass == 0)
                sum += v, cnt++;
            else
                ss += (v - mean) * (v - mean);
        }
    }
    *std = sqrt(ss / cnt);
    *frac = n_pos / (double)n;
}

static void fit_sampling_error(fb_cbpe *m, const struct fb_cbpe_rows *r,
                               const struct fb_keyed *ord, struct fb_keyed *scratch)
{
    double tp = 0, fp = 0, fn = 0, tn = 0, n = (double)r->n;
    for (size_t i = 0; i < r->n; i++) {
        bool t = r->truth[i] == 1, p = r->pred[i] == 1;
        tp += t && p, fp += !t && p, fn += t && !p, tn += !t && !p;
    }
    auroc_components(r, ord, scratch, &m->se_std[FB_CBPE_ROC_AUC], &m->se_frac[FB_CBPE_ROC_AUC]);
    double rel = tp + fp + fn;
    m->se_std[FB_CBPE_F1] = NAN, m->se_frac[FB_CBPE_F1] = 0;
    if (rel > 0) {
        /* observation-level F1: TP as 1, FP and FN as 0, scaled so that
         * their mean is the F1 */
        double corr = rel / ((fn + fp) * 0.5 + tp);
        m->se_std[FB_CBPE_F1] = corr * binstd(tp, rel);
        m->se_frac[FB_CBPE_F1] = rel / n;
    }
    m->se_std[FB_CBPE_PRECISION] = binstd(tp, tp + fp);
    m->se_frac[FB_CBPE_PRECISION] = (tp + fp) / n;
    m->se_std[FB_CBPE_RECALL] = binstd(tp, tp + fn);
    m->se_frac[FB_CBPE_RECALL] = (tp + fn) / n;
    m->se_std[FB_CBPE_ACCURACY] = binstd(tp + tn, n);
    m->se_std[FB_CBPE_TRUE_POSITIVE] = binstd(tp, n);
    m->se_std[FB_CBPE_TRUE_NEGATIVE] = binstd(tn, n);
    m->se_std[FB_CBPE_FALSE_POSITIVE] = binstd(fp, n);
    m->se_std[FB_CBPE_FALSE_NEGATIVE] = binstd(fn, n);
    for (int k = FB_CBPE_ACCURACY; k < NM; k++)
        m->se_frac[k] = 1;
}

/* ord: scratch, or (sorted) the rows already in order of p. */
static void realized(const double *p, const double *pred, const double *truth, size_t n,
                     double out[NM], struct fb_keyed *ord, bool sorted)
{
    double tp = 0, fp = 0, fn = 0, tn = 0;
    for (size_t i = 0; i < n; i++) {
        bool t = truth[i] == 1, q = pred[i] == 1;
        tp += t && q, fp += !t && q, fn += t && !q, tn += !t && !q;
    }
    /* precision, recall and F1 are NaN unless truth and prediction both
     * hold two classes; ROC AUC unless truth does. */
    bool two_true = tp + fn > 0 && fp + tn > 0, two_pred = tp + fp > 0 && fn + tn > 0;
    bool both = two_true && two_pred;
    out[FB_CBPE_ACCURACY] = (tp + tn) / (double)n;
    out[FB_CBPE_PRECISION] = both ? tp / (tp + fp) : NAN;
    out[FB_CBPE_RECALL] = both ? tp / (tp + fn) : NAN;
    out[FB_CBPE_F1] = both ? 2 * tp / (2 * tp + fp + fn) : NAN;
    out[FB_CBPE_TRUE_POSITIVE] = tp;
    out[FB_CBPE_TRUE_NEGATIVE] = tn;
    out[FB_CBPE_FALSE_POSITIVE] = fp;
    out[FB_CBPE_FALSE_NEGATIVE] = fn;
    out[FB_CBPE_ROC_AUC] = NAN;
    if (two_true) {
        for (size_t i = 0; !sorted && i < n; i++)
            ord[i] = (struct fb_keyed){.k = p[i], .i = i};
        if (!sorted)
            fb_keyed_sort(ord, n);
        out[FB_CBPE_ROC_AUC] = fb_roc_auc_sorted(ord, n, truth);
    }
}

static double round5(double x) { return nearbyint(x * 100000.0) / 100000.0; }

/* estimate_roc_auc: rows by uncalibrated score, highest first; the expected
 * ROC curve takes each row's calibrated probability as its share of a
 * positive; cumulative counts rounded to 5 decimals; trapezoids. */
static double estimate_roc_auc(const double *raw, const double *cal, size_t n,
                               struct fb_keyed *ord)
{
    for (size_t i = 0; i < n; i++)
        ord[i] = (struct fb_keyed){.k = -raw[i], .i = i};
    fb_keyed_sort(ord, n);
    double cum = 0;
    for (size_t j = 0; j < n; j++)
        cum += cal[ord[j].i];
    double T = round5(cum), F = round5((double)n - cum);
    double area = 0, x0 = 0, y0 = 0;
    cum = 0;
    for (size_t j = 0; j < n; j++) {
        cum += cal[ord[j].i];
        double y1 = round5(cum) / T, x1 = round5((double)(j + 1) - cum) / F;
        area += (x1 - x0) * (y1 + y0) / 2.0;
        x0 = x1, y0 = y1;
    }
    return area;
}

/* The estimates of one window from its calibrated probabilities. */
static void estimate(unsigned metrics, const double *raw, const double *cal, const double *pred,
                     size_t n, double est[NM], struct fb_keyed *ord)
{
    double tp = 0, fp = 0, fn = 0, tn = 0, dn = (double)n;
    for (size_t i = 0; i < n; i++) {
        if (pred[i] == 1)
            tp += cal[i], fp += 1 - cal[i];
        else
            fn += cal[i], tn += 1 - cal[i];
    }
    est[FB_CBPE_PRECISION] = tp + fp != 0 ? tp / (tp + fp) : 0;
    est[FB_CBPE_RECALL] = tp + fn != 0 ? tp / (tp + fn) : 0;
    double d = tp + 0.5 * (fp + fn);
    est[FB_CBPE_F1] = d != 0 ? tp / d : 0;
    est[FB_CBPE_ACCURACY] = (tp + tn) / dn;
    est[FB_CBPE_TRUE_POSITIVE] = tp / dn * dn; /* np.mean(...) * len, as nannyml */
    est[FB_CBPE_TRUE_NEGATIVE] = tn / dn * dn;
    est[FB_CBPE_FALSE_POSITIVE] = fp / dn * dn;
    est[FB_CBPE_FALSE_NEGATIVE] = fn / dn * dn;
    est[FB_CBPE_ROC_AUC] = metrics & FB_CBPE_BIT(FB_CBPE_ROC_AUC)
                               ? estimate_roc_auc(raw, cal, n, ord) : NAN;
}

/* np.minimum / np.maximum: NaN wins. */
static double nan_min(double a, double b) { return isnan(a) || a < b ? a : b; }
static double nan_max(double a, double b) { return isnan(a) || a > b ? a : b; }

static void window(const fb_cbpe *m, const double *raw, const double *cal, const double *pred,
                   const double *truth, size_t n, struct fb_cbpe_result *out,
                   struct fb_keyed *ord)
{
    double est[NM], real[NM];
    estimate(m->o.metrics, raw, cal, pred, n, est, ord);
    for (int k = 0; k < NM; k++)
        real[k] = NAN;
    if (truth)
        realized(raw, pred, truth, n, real, ord, false);
    out->n = n;
    for (int k = 0; k < NM; k++) {
        struct fb_cbpe_value *v = &out->m[k];
        if (!(m->o.metrics & FB_CBPE_BIT(k))) {
            *v = (struct fb_cbpe_value){NAN, NAN, NAN, NAN, NAN, NAN, NAN, false};
            continue;
        }
        double se = m->se_std[k] / sqrt((double)n * m->se_frac[k]);
        if (is_count(k))
            se *= (double)n;
        v->value = est[k];
        v->sampling_error = se;
        v->realized = real[k];
        v->upper_bound = nan_min(range_hi(k), est[k] + SE_RANGE * se);
        v->lower_bound = nan_max(range_lo(k), est[k] - SE_RANGE * se);
        v->lower_threshold = m->lo_thr[k];
        v->upper_threshold = m->hi_thr[k];
        v->alert = est[k] < m->lo_thr[k] || est[k] > m->hi_thr[k];
    }
}

/* Validates rows and calibrates them: *cal is rows->proba itself when the
 * reference needed no calibration, else a new array (free it). */
static int prepare(const fb_cbpe *m, const struct fb_cbpe_rows *rows, const char *what,
                   double **cal, struct fb_keyed **ord, struct cap_error *err)
{
    *cal = NULL, *ord = NULL;
    int rc = check_rows(rows, what, false, err);
    if (rc)
        return rc;
    *ord = malloc(rows->n * sizeof **ord);
    double *c = m->calibrated ? malloc(rows->n * sizeof *c) : NULL;
    if (!*ord || (m->calibrated && !c)) {
        free(*ord), free(c);
        *ord = NULL;
        return cap_err(err, CAP_EINTERNAL, "out of memory estimating %zu rows", rows->n);
    }
    for (size_t i = 0; c && i < rows->n; i++)
        c[i] = fb_iso_predict(&m->iso, rows->proba[i]);
    *cal = c ? c : (double *)rows->proba;
    return 0;
}

int fb_cbpe_window(const fb_cbpe *m, const struct fb_cbpe_rows *rows,
                   struct fb_cbpe_result *out, struct cap_error *err)
{
    double *cal;
    struct fb_keyed *ord;
    int rc = prepare(m, rows, "window", &cal, &ord, err);
    if (rc)
        return rc;
    window(m, rows->proba, cal, rows->pred, rows->truth, rows->n, out, ord);
    if (cal != rows->proba)
        free(cal);
    free(ord);
    return 0;
}

int fb_cbpe_estimate(const fb_cbpe *m, const struct fb_cbpe_rows *rows,
                     struct fb_cbpe_chunk **chunks, size_t *nchunks, struct cap_error *err)
{
    *chunks = NULL, *nchunks = 0;
    double *cal;
    struct fb_keyed *ord;
    int rc = prepare(m, rows, "data", &cal, &ord, err);
    if (rc)
        return rc;
    size_t nc = fb_cbpe_nchunks(rows->n, m->o.chunk_size);
    struct fb_cbpe_chunk *out = malloc(nc * sizeof *out);
    if (!out)
        rc = cap_err(err, CAP_EINTERNAL, "out of memory for %zu chunks", nc);
    for (size_t c = 0; out && c < nc; c++) {
        size_t s, len;
        fb_cbpe_chunk_bounds(rows->n, m->o.chunk_size, c, &s, &len);
        out[c].start = s;
        out[c].end = s + len - 1;
        window(m, rows->proba + s, cal + s, rows->pred + s, rows->truth ? rows->truth + s : NULL,
               len, &out[c].r, ord);
    }
    if (cal != rows->proba)
        free(cal);
    free(ord);
    if (rc == 0)
        *chunks = out, *nchunks = nc;
    return rc;
}
