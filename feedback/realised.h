/* realised.h - realised model quality per window of prediction time, from
 * the labels joined so far (realised.c): a window's labelled rows go through
 * metrics.h, so its numbers equal scikit-learn's on the same rows. */
#ifndef CAP_FEEDBACK_REALISED_H
#define CAP_FEEDBACK_REALISED_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "feedback/metrics.h"

struct store;

struct fb_realised_query {
    const char *deployment;
    int64_t from_ms, to_ms;      /* predictions made in [from_ms, to_ms) */
    int64_t width_ms;            /* windows aligned to multiples of it; 0: one window */
    const char *positive;        /* a binary classifier's positive class; NULL: the second
                                  * of the two in sorted order (sklearn's pos_label=1) */
    bool coverage;               /* count the window's predictions (reads the log) */
    /* Label shift: each window's labels against those of the predictions
     * made in [ref_from_ms, ref_to_ms), by the monitor's drift tests
     * (Evidently's default for a categorical or numerical column); none
     * when ref_to_ms is 0. */
    int64_t ref_from_ms, ref_to_ms;
    /* Quality per segment: the value of this input column (named as in the
     * drift reports), or with bins > 0 its equal-width bins. */
    const char *segment;
    int bins;
};

/* *out: [{start_ms, end_ms, labelled, task: "classification"|"regression",
 * metrics, and with coverage: predictions (rows logged in the window, while
 * the log still holds them) and coverage = labelled / predictions, and with
 * a reference: label_shift {stattest, stattest_threshold, drift_score,
 * drift_detected}, and with a segment: segments {column, bins?, groups:
 * [{segment, labelled, metrics}]}}] for the windows that hold labels, in
 * time order. A classifier's
 * classes are the labels and predictions seen, sorted (as numbers when all
 * are whole numbers), and its scores count when they map onto them. */
int fb_realised(struct store *st, const struct fb_realised_query *q, cJSON **out,
               struct cap_error *err);

/* The metrics as JSON (NaN as null; classes, may be NULL, name the k
 * classes): the API's and the test drivers' one form. */
cJSON *fb_cls_json(const struct fb_cls_metrics *m, const char *const *classes);
cJSON *fb_reg_json(const struct fb_reg_metrics *m);

#endif
