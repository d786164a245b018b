/* estimate.h - a binary classifier's quality per window estimated without
 * labels (estimate.c): NannyML's CBPE (cbpe.h) fitted on the labelled
 * predictions of a reference period (their logged class-1 probability,
 * predicted class and label), then applied to every logged prediction of
 * each window of [from, to); the realised quality of the window beside it
 * once labels arrived, so users see how good the estimate was. */
#ifndef CAP_FEEDBACK_ESTIMATE_H
#define CAP_FEEDBACK_ESTIMATE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct store;

/* The metrics estimated when the query names none (nannyml's names). */
#define FB_ESTIMATE_METRICS "roc_auc,f1,precision,recall,accuracy"

struct fb_estimate_query {
    const char *deployment;
    int64_t ref_from_ms, ref_to_ms; /* the reference period: its labelled predictions */
    int64_t from_ms, to_ms;         /* the analysis period */
    int64_t width_ms;               /* windows aligned to multiples of it; 0: one window */
    size_t chunk_size;              /* the reference's chunks (thresholds); 0: a tenth of it */
    const char *metrics;            /* nannyml's names, comma-separated; NULL: the default */
    const char *positive;           /* NULL: the second class in sorted order */
};

/* *out: {reference: {rows, chunk_size, positive_class, calibrated,
 * ece_before, ece_after, thresholds}, windows: [{start_ms, end_ms, rows,
 * estimated: {metric: {value, sampling_error, lower_bound, upper_bound,
 * lower_threshold, upper_threshold, alert}}, labelled, realised?}]}.
 * Refused (-CAP_EINVAL, naming why): no labelled reference, a regressor, a
 * model that logs no two-class probabilities, more than two classes. */
int fb_estimate(struct store *st, const struct fb_estimate_query *q, cJSON **out,
                struct cap_error *err);

#endif
