/* join.h - ground truth joined to logged predictions (join.c, labels.c): a
 * label names a prediction by its request id ("<id>" or "<id>/<row>"), is
 * joined to the logged request when it arrives and stored with what the
 * prediction said, durable before it is acknowledged. */
#ifndef CAP_FEEDBACK_JOIN_H
#define CAP_FEEDBACK_JOIN_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct store;
struct predlog;
struct alert;
struct metrics;
struct store_label;

/* The most labels one request may carry. */
#define FB_LABELS_MAX 10000

/* What a logged prediction said about one of its rows, read from the log's
 * pack of its outputs by one rule: the first output of classes (text or
 * whole numbers, one per row) is a classifier's prediction; a float output
 * of [N, k >= 2] is its class scores (the prediction is their argmax when
 * there is no class output); otherwise the first float output of one value
 * per row is a regressor's prediction. */
struct fb_pred {
    bool classifier;
    char *prediction;            /* classifier: the predicted class as text */
    double value;                /* regressor: the predicted value */
    double *scores;              /* the row's class scores, or NULL */
    size_t nscores;
    int64_t rows;                /* the request's row count */
};
/* -CAP_EINVAL when the pack holds no output this rule reads; row must be
 * below the request's rows (checked: -CAP_ENOTFOUND). */
int fb_pred_read(const void *outputs, size_t len, int64_t row, struct fb_pred *out,
                 struct cap_error *err);
void fb_pred_free(struct fb_pred *p);
/* Every row of a logged request in one walk of the pack (fb_pred_read per
 * row would copy its tensors once per row): *out holds *n predictions (free
 * each with fb_pred_free, then the array). */
int fb_preds_read(const void *outputs, size_t len, struct fb_pred **out, size_t *n,
                  struct cap_error *err);

/* Where labels go: the store, and the prediction log's writer (may be NULL)
 * so that a label for a request still queued there is not called unknown. */
struct fb_sink {
    struct store *store;
    struct predlog *log;
    const char *source;          /* "api", "review:<user>" */
    int64_t now_ms;
    struct alert *alert;         /* the quality rules' judge (may be NULL: none) */
    struct metrics *metrics;     /* /metrics: the judged windows' quality (may be NULL) */
    /* Called once the labels are checked and joined, before anything is
     * stored (may be NULL): n labels joined, the other ids unknown. An error
     * stores nothing. The review queue marks its item here, so that a label
     * the join refuses leaves the item as it was. */
    int (*joined)(void *cls, size_t n, struct cap_error *err);
    void *joined_cls;
};

/* Joins and stores labels, a JSON array of {"id", "label" | "value",
 * "time"?} (1..FB_LABELS_MAX items; time in ms since the epoch or an
 * RFC 3339 UTC string), all or none. *out: {"accepted": n, "unknown":
 * [ids the log does not hold]}. Errors name the item (labels[i]) and what
 * was expected: a malformed id, a label of the wrong kind for the model (a
 * regressor takes a number, a classifier a class), "<id>" for a request of
 * several rows. */
int fb_labels_put(const struct fb_sink *sink, const char *deployment, const cJSON *labels,
                  cJSON **out, struct cap_error *err);

/* Hands the windows of prediction time that labels[0..n) touched to the
 * deployment's model-quality alert rules (judge.c), each window once it
 * holds a rule's min_labels labels. fb_labels_put calls it once the labels
 * are stored. */
int fb_judge_windows(const struct fb_sink *sink, const char *deployment,
                     const struct store_label *labels, size_t n, struct cap_error *err);

/* ---- concept-drift detectors on the error stream (detectors.c) ---- */

/* Creates or replaces detector name of deployment from its spec JSON
 * (detect.h's, checked there) with a fresh state. *out: {deployment, name,
 * detector: the spec with every parameter}. */
int fb_detector_put(struct store *st, const char *deployment, const char *name,
                    const cJSON *spec_json, cJSON **out, struct cap_error *err);

/* The detectors' pass over a batch of joined labels (fb_labels_put's):
 * each stored detector of the deployment is loaded, fed the labels' errors
 * in order, and its new state and detections are in steps[0..n), for the
 * labels' transaction. Free with fb_feed_free. */
struct fed;
struct store_detector_step;
struct fb_feed {
    struct fed *fed;
    struct store_detector_step *steps;
    size_t n;
};
int fb_feed_detectors(struct fb_feed *f, struct store *st, const char *deployment,
                      const struct store_label *labels, size_t n, int64_t now_ms,
                      struct cap_error *err);
void fb_feed_free(struct fb_feed *f);

/* ---- the human review queue (review.c) ---- */

/* Creates or replaces deployment's review rule, {"confidence_below"?: p
 * (a classifier's top probability below p), "sample"?: share (of all
 * predictions, by a hash of the row id), "max_pending"?: n (1000)}, every
 * field checked. *out: the stored rule with its cursor. */
int fb_review_rule_put(struct store *st, const char *deployment, const cJSON *rule, cJSON **out,
                       struct cap_error *err);
/* Queues the logged rows that meet the rule since its cursor (after a
 * flush of the log's writer); nothing without a rule. */
int fb_review_fill(const struct fb_sink *sink, const char *deployment, struct cap_error *err);
/* A reviewer's label for a queued row: the item marked labelled (who,
 * when) and the label stored as feedback with source "review:<reviewer>".
 * *out: fb_labels_put's answer. */
int fb_review_label(const struct fb_sink *sink, const char *deployment, const char *id,
                    const cJSON *label, const char *reviewer, cJSON **out,
                    struct cap_error *err);
int fb_review_skip(struct store *st, const char *deployment, const char *id,
                   const char *reviewer, struct cap_error *err);
/* 1 to 64 letters, digits, '.', '_', '@', '-'. */
int fb_reviewer_check(const char *name, struct cap_error *err);

#endif
