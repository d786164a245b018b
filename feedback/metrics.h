/* metrics.h - model quality from labelled predictions: scikit-learn 1.9's
 * metrics on the same rows, within 1e-9 (tests/feedback/test_metrics.py
 * checks each number against sklearn). Pure: arrays in, numbers out; no
 * I/O, no threads, no allocation per row. Part of feedback/ (include
 * feedback/feedback.h, not this file).
 *
 * Classes are indices 0..k-1; the caller keeps their label strings. Where
 * sklearn would warn, the number is what sklearn returns and a FB_NOTE_* bit
 * says why; where sklearn would raise on valid rows (multiclass ROC AUC on
 * rows that are not probabilities, multiclass average precision with a class
 * missing from y_true), the number is NaN and a bit says why. Only input that
 * is wrong (no rows, an index out of range, a probability that is not a
 * finite number in [0, 1], a regression value that is NaN or infinite) is an
 * error: -CAP_EINVAL with a message naming the row, never an abort. */
#ifndef CAP_FEEDBACK_METRICS_H
#define CAP_FEEDBACK_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* k * k counts must stay small (8 MiB at 1024), and a ranking's exact
 * integer area needs 2 * positives * negatives < 2^64: n < 2^32. */
#define FB_MAX_CLASSES 1024
#define FB_MAX_ROWS ((size_t)UINT32_MAX)

/* Why a number is NaN or was set by a rule rather than computed. */
enum fb_note {
    /* A class in the averages had a zero denominator in precision, recall
     * or F1: set to opts.zero_division (sklearn: UndefinedMetricWarning). */
    FB_NOTE_ZERO_DIVISION = 1u << 0,
    /* No probabilities: ROC AUC, average precision and log loss are NaN. */
    FB_NOTE_NO_PROBA = 1u << 1,
    /* y_true holds only one side of a one-vs-rest split: that ROC AUC is
     * NaN (sklearn: NaN and UndefinedMetricWarning). */
    FB_NOTE_ONE_CLASS = 1u << 2,
    /* k > 2 and a class never occurs in y_true: the multiclass average
     * precision is NaN (sklearn raises: y_true binarised over the classes
     * present does not match proba's k columns). */
    FB_NOTE_CLASS_ABSENT = 1u << 3,
    /* k > 2 and a row of proba does not sum to 1 (np.allclose: |1 - s| <=
     * 1e-8 + 1e-5 |s|): multiclass ROC AUC is NaN (sklearn raises). Log loss
     * is still computed from the rows as given (sklearn warns). */
    FB_NOTE_NOT_NORMALISED = 1u << 4,
    /* y_true has no row of a one-vs-rest split's positive class: its
     * average precision is 0 (sklearn: recall set to 1, a warning). */
    FB_NOTE_NO_POSITIVE = 1u << 5,
    /* Regression with n < 2: R^2 is NaN (sklearn warns). */
    FB_NOTE_R2_FEW = 1u << 6,
    /* y_true is constant: R^2 by sklearn's force_finite rule, 1 when every
     * prediction is exact and 0 otherwise. */
    FB_NOTE_R2_CONSTANT = 1u << 7,
};
#define FB_NOTE_COUNT 8

/* The note's name in snake case ("zero_division"), NULL for a bit not in
 * enum fb_note: for JSON answers. */
const char *fb_note_name(unsigned bit);

/* ---- classification ---------------------------------------------------- */

struct fb_cls_input {
    size_t n;              /* rows, 1..FB_MAX_ROWS */
    int k;                 /* classes, 2..FB_MAX_CLASSES */
    const int32_t *y_true; /* n indices in [0, k) */
    const int32_t *y_pred; /* n indices in [0, k) */
    const double *proba;   /* n x k, row-major, each in [0, 1]; or NULL */
};

struct fb_cls_opts {
    int pos_class;        /* k == 2: the binary metrics' positive class */
    double zero_division; /* 0.0 (sklearn's default "warn"), 1.0 or NAN */
    /* Averages over all k classes (sklearn: labels=range(k)) instead of
     * the classes present in y_true or y_pred (sklearn: labels=None). */
    bool all_classes;
};

/* pos_class 1, zero_division 0.0, all_classes false. */
void fb_cls_opts_init(struct fb_cls_opts *o);

struct fb_prf {
    double precision, recall, f1;
};

struct fb_class_metrics {
    int64_t support;   /* rows whose y_true is this class */
    int64_t predicted; /* rows whose y_pred is this class */
    int64_t tp;
    bool present;      /* in y_true or y_pred */
    /* precision_recall_fscore_support(average=None, labels=range(k),
     * zero_division=opts.zero_division) at this class. */
    struct fb_prf prf;
    /* roc_auc_score(y_true == c, proba[:, c]): NaN without probabilities
     * or when y_true is all or none of this class. k == 2 ranks only the
     * positive class (one sort): the other class's two are NaN. */
    double roc_auc;
    /* average_precision_score(y_true == c, proba[:, c]). */
    double avg_precision;
};

struct fb_cls_metrics {
    size_t n;
    int k;
    double accuracy;            /* accuracy_score */
    /* k == 2: precision/recall/f1_score(average='binary',
     * pos_label=opts.pos_class). NaN for k > 2 (sklearn refuses 'binary'
     * on a multiclass target): read classes[c].prf instead. */
    struct fb_prf binary;
    struct fb_prf macro;        /* average='macro' */
    struct fb_prf weighted;     /* average='weighted' (by support) */
    /* k == 2: roc_auc_score(y_true == pos, proba[:, pos]).
     * k > 2: roc_auc_score(y_true, proba, multi_class='ovr',
     * average='macro', labels=range(k)): NaN when a class is absent from
     * y_true (its AUC is NaN) or a row is not normalised. */
    double roc_auc;
    /* The same with average='weighted' (k == 2: equal to roc_auc); a class
     * absent from y_true weighs 0, so this one stays defined. */
    double roc_auc_weighted;
    /* k == 2: average_precision_score(y_true == pos, proba[:, pos]).
     * k > 2: average_precision_score(y_true, proba) (macro over
     * one-vs-rest), NaN when a class is absent from y_true. */
    double avg_precision;
    double avg_precision_weighted; /* average='weighted' */
    /* log_loss(y_true, proba, labels=range(k)): probabilities clipped to
     * [eps, 1 - eps], eps = 2^-52, rows not renormalised. */
    double log_loss;
    unsigned notes;             /* enum fb_note bits */
    /* confusion_matrix(y_true, y_pred, labels=range(k)): k x k, row =
     * true class, column = predicted class. */
    int64_t *confusion;
    struct fb_class_metrics *classes; /* k */
};

/* Computes every classification metric of `in` (opts NULL: defaults).
 * One pass counts; with probabilities, one more checks them and sums the
 * log loss, and one sort per class ranks it (k == 2: only the positive
 * class's, which gives both ROC AUC and average precision). 0, or -CAP_EINVAL for bad input with out left empty (safe
 * to free). out owns its arrays: fb_cls_metrics_free. */
int fb_cls_compute(const struct fb_cls_input *in, const struct fb_cls_opts *opts,
                   struct fb_cls_metrics *out, struct cap_error *err);
void fb_cls_metrics_free(struct fb_cls_metrics *m);

/* ---- ranking: one binary split ------------------------------------------ */

struct fb_ranking {
    int64_t positives, negatives;
    double roc_auc;       /* roc_auc_score; NaN when either count is 0 */
    double avg_precision; /* average_precision_score; 0 without positives */
    unsigned notes;       /* FB_NOTE_ONE_CLASS, FB_NOTE_NO_POSITIVE */
};

/* Row i is positive when y_true[i] == pos_class, and its score is
 * score[i * stride] (stride k reads one column of a row-major n x k
 * matrix). Scores need only be finite: decision values work too. Ties are
 * one threshold, as in sklearn's _binary_clf_curve; the ROC area is summed
 * exactly in integers. O(n log n): one radix sort. */
int fb_rank_binary(const int32_t *y_true, int32_t pos_class, const double *score,
                   size_t stride, size_t n, struct fb_ranking *out, struct cap_error *err);

/* ---- regression ---------------------------------------------------------- */

struct fb_reg_metrics {
    size_t n;
    double mae;        /* mean_absolute_error */
    double rmse;       /* root_mean_squared_error */
    /* mean_absolute_percentage_error: |pred - true| / max(|true|, 2^-52),
     * so a zero y_true gives a huge term, as in sklearn. */
    double mape;
    /* r2_score (force_finite): NaN for n < 2; constant y_true gives 1 or 0.
     * "Constant" means every y_true is the same double: numpy's mean of
     * e.g. three 0.1 is not exactly 0.1, so sklearn then divides by a
     * denominator of ~1e-33 and answers -1.7e31; we answer the rule. */
    double r2;
    double mean_error; /* mean(y_pred - y_true): the bias */
    unsigned notes;    /* FB_NOTE_R2_FEW, FB_NOTE_R2_CONSTANT */
};

/* 0, or -CAP_EINVAL when n is 0 or above FB_MAX_ROWS or a value is NaN or
 * infinite (sklearn's check_array refuses both). */
int fb_reg_compute(const double *y_true, const double *y_pred, size_t n,
                   struct fb_reg_metrics *out, struct cap_error *err);

#endif
