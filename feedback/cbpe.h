/* cbpe.h - quality of a binary classifier estimated without labels:
 * NannyML's CBPE (confidence-based performance estimation), equal to
 * nannyml 0.13.1 within 1e-6.
 *
 * fb_cbpe_fit learns from a labelled reference (probability of class 1, the
 * predicted class, the true class): whether the probabilities need calibrating
 * (nannyml's rule: isotonic regression helps the expected calibration error on
 * 10 stratified 90/10 splits, seed 42) and the calibrator, the sampling-error
 * components of each metric, and the alert thresholds (mean +- 3 standard
 * deviations of the metric realised on the reference chunks, clipped to the
 * metric's bounds). fb_cbpe_window then estimates one window of unlabelled
 * rows; fb_cbpe_estimate cuts rows into nannyml's size-based chunks (the last
 * incomplete chunk kept as its own) and estimates each.
 *
 * Pure: no I/O, no threads; a fitted fb_cbpe is read-only, so threads may
 * share it. Every entry point checks its input and answers -CAP_EINVAL with
 * a message naming what was wrong; nothing aborts. */
#ifndef CAPSTAN_FEEDBACK_CBPE_H
#define CAPSTAN_FEEDBACK_CBPE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* The estimated metrics, in nannyml's column order. The confusion matrix is
 * four metrics (counts, nannyml's normalize_confusion_matrix=None). */
enum fb_cbpe_metric {
    FB_CBPE_ROC_AUC,
    FB_CBPE_F1,
    FB_CBPE_PRECISION,
    FB_CBPE_RECALL,
    FB_CBPE_ACCURACY,
    FB_CBPE_TRUE_POSITIVE,
    FB_CBPE_TRUE_NEGATIVE,
    FB_CBPE_FALSE_POSITIVE,
    FB_CBPE_FALSE_NEGATIVE,
    FB_CBPE_NMETRICS
};
#define FB_CBPE_BIT(m) (1u << (m))
#define FB_CBPE_CONFUSION_MATRIX                                             \
    (FB_CBPE_BIT(FB_CBPE_TRUE_POSITIVE) | FB_CBPE_BIT(FB_CBPE_TRUE_NEGATIVE) | \
     FB_CBPE_BIT(FB_CBPE_FALSE_POSITIVE) | FB_CBPE_BIT(FB_CBPE_FALSE_NEGATIVE))
#define FB_CBPE_ALL ((1u << FB_CBPE_NMETRICS) - 1)

/* nannyml's column name ("roc_auc", "true_positive", ...); NULL if out of range. */
const char *fb_cbpe_metric_name(int metric);
/* Parses a comma-separated list of nannyml metric names ("roc_auc,f1,
 * confusion_matrix"; "confusion_matrix" selects its four cells) into a mask. */
int fb_cbpe_parse_metrics(const char *list, unsigned *mask, struct cap_error *err);

/* Rows: n predictions, each array of n values. pred and truth hold 0 or 1
 * (as doubles, the way model outputs arrive); truth is NULL for unlabelled
 * rows. proba is the probability of class 1, in [0, 1]. */
struct fb_cbpe_rows {
    const double *proba;
    const double *pred;
    const double *truth;
    size_t n;
};

struct fb_cbpe_opts {
    size_t chunk_size; /* rows per chunk, reference and analysis alike */
    unsigned metrics;  /* FB_CBPE_BIT(...) mask, non-empty */
};

/* One metric of one window. NaN where nannyml answers NaN (e.g. realized
 * without labels, precision realised on a chunk with one class). */
struct fb_cbpe_value {
    double value;          /* the estimate */
    double sampling_error;
    double realized;       /* from truth when the rows carry it, else NaN */
    double lower_bound;    /* value - 3 sampling errors, clipped to the metric's range */
    double upper_bound;    /* value + 3 sampling errors, clipped */
    double lower_threshold;
    double upper_threshold;
    bool alert;            /* value below lower_threshold or above upper_threshold */
};

struct fb_cbpe_result {
    size_t n;                                       /* rows in the window */
    struct fb_cbpe_value m[FB_CBPE_NMETRICS];       /* only the fitted metrics are set */
};

struct fb_cbpe_chunk {
    size_t start, end; /* row indices, end inclusive: nannyml's key "[start:end]" */
    struct fb_cbpe_result r;
};

typedef struct fb_cbpe fb_cbpe;

/* Fits on a labelled reference (truth required, both classes present). The
 * calibration check needs >= 2 rows of each class and >= 11 rows unless the
 * reference ROC AUC exceeds 0.999 (then nannyml skips it). */
int fb_cbpe_fit(const struct fb_cbpe_rows *ref, const struct fb_cbpe_opts *opts,
                fb_cbpe **out, struct cap_error *err);
void fb_cbpe_free(fb_cbpe *m);

unsigned fb_cbpe_metrics(const fb_cbpe *m);
size_t fb_cbpe_chunk_size(const fb_cbpe *m);
/* Whether the reference probabilities needed calibrating, and the expected
 * calibration errors the rule compared (NaN when the rule did not split:
 * reference ROC AUC > 0.999). */
bool fb_cbpe_calibrated(const fb_cbpe *m, double *ece_before, double *ece_after);
/* The alert thresholds of one fitted metric. */
void fb_cbpe_thresholds(const fb_cbpe *m, int metric, double *lower, double *upper);

/* Estimates one window of rows (n >= 1). */
int fb_cbpe_window(const fb_cbpe *m, const struct fb_cbpe_rows *rows,
                   struct fb_cbpe_result *out, struct cap_error *err);

/* The number of chunks nannyml's size-based chunker cuts n rows into, and
 * chunk i's first row and row count. */
size_t fb_cbpe_nchunks(size_t n, size_t chunk_size);
void fb_cbpe_chunk_bounds(size_t n, size_t chunk_size, size_t i, size_t *start, size_t *len);

/* Cuts rows into chunks of the fitted chunk size and estimates each;
 * *chunks (free()) gets fb_cbpe_nchunks(rows->n, chunk size) entries. Run it
 * on the reference rows to get nannyml's reference period. */
int fb_cbpe_estimate(const fb_cbpe *m, const struct fb_cbpe_rows *rows,
                     struct fb_cbpe_chunk **chunks, size_t *nchunks, struct cap_error *err);

#endif
