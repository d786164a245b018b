/* detect.h - concept-drift detectors on a deployment's error stream (0/1
 * errors of a classifier, absolute errors of a regressor): DDM, EDDM,
 * HDDM_A, HDDM_W, ADWIN and Page-Hinkley with river 0.26's parameter names,
 * defaults and semantics, so that a stream flags a warning or a drift at the
 * same index here as in river. Pure: no I/O, no threads; a detector is used
 * by one thread at a time.
 *
 * Life: fb_det_spec_parse (JSON -> checked spec with defaults filled) ->
 * fb_det_new -> fb_det_update per value -> fb_det_save / fb_det_load across a
 * restart -> fb_det_free. Errors follow base/error.h: 0 or a negative
 * CAP_E* code with a message naming the parameter and what it expects. */
#ifndef CAP_FEEDBACK_DETECT_H
#define CAP_FEEDBACK_DETECT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"

enum fb_det_type {
    FB_DET_DDM,          /* "ddm": river.drift.binary.DDM */
    FB_DET_EDDM,         /* "eddm": river.drift.binary.EDDM */
    FB_DET_HDDM_A,       /* "hddm_a": river.drift.binary.HDDM_A */
    FB_DET_HDDM_W,       /* "hddm_w": river.drift.binary.HDDM_W */
    FB_DET_ADWIN,        /* "adwin": river.drift.ADWIN */
    FB_DET_PAGE_HINKLEY, /* "page_hinkley": river.drift.PageHinkley */
    FB_DET_TYPE_COUNT
};

enum fb_ph_mode { FB_PH_UP, FB_PH_DOWN, FB_PH_BOTH };

/* A detector's configuration: `type` picks the member of `p`. Integers are
 * int64_t so that the JSON range checks see the value before any cast. */
struct fb_det_spec {
    enum fb_det_type type;
    union {
        struct {
            int64_t warm_start;
            double warning_threshold, drift_threshold;
        } ddm;
        struct {
            int64_t warm_start;
            double alpha, beta;
        } eddm;
        struct {
            double drift_confidence, warning_confidence;
            bool two_sided_test;
        } hddm_a;
        struct {
            double drift_confidence, warning_confidence, lambda_val;
            bool two_sided_test;
        } hddm_w;
        struct {
            double delta;
            int64_t clock, max_buckets, min_window_length, grace_period;
        } adwin;
        struct {
            int64_t min_instances;
            double delta, threshold, alpha;
            enum fb_ph_mode mode;
        } page_hinkley;
    } p;
};

/* What one update found. A drift outranks a warning. */
enum fb_det_signal { FB_DET_NONE = 0, FB_DET_WARNING = 1, FB_DET_DRIFT = 2 };

struct fb_det;

/* "ddm", "eddm", ... ("?" out of range); the JSON "type" strings. */
const char *fb_det_type_name(enum fb_det_type type);
/* Whether the type takes only 0 and 1 (DDM, EDDM, HDDM_A, HDDM_W). */
bool fb_det_type_binary(enum fb_det_type type);

/* The spec of `type` with river's defaults. */
void fb_det_spec_default(enum fb_det_type type, struct fb_det_spec *out);
/* Reads {"type": "adwin", "delta": 0.002, ...}: an object with a known type
 * and only that type's parameters, each of its JSON type and in range; absent
 * (or null) parameters take their defaults. */
int fb_det_spec_parse(const cJSON *json, struct fb_det_spec *out, struct cap_error *err);
/* Checks the ranges of a spec built in C (fb_det_spec_parse does it too). */
int fb_det_spec_check(const struct fb_det_spec *spec, struct cap_error *err);
/* {"type": ..., every parameter} of a checked spec: the effective
 * configuration. Caller cJSON_Deletes it. */
cJSON *fb_det_spec_json(const struct fb_det_spec *spec);
bool fb_det_spec_equal(const struct fb_det_spec *a, const struct fb_det_spec *b);

/* A fresh detector for a checked spec; *out NULL on error. */
int fb_det_new(const struct fb_det_spec *spec, struct fb_det **out, struct cap_error *err);
void fb_det_free(struct fb_det *det);

/* Feeds one value: FB_DET_NONE / WARNING / DRIFT (>= 0), or -CAP_EINVAL for
 * a value the detector does not take (not 0 or 1 for a binary detector, not
 * finite for the others), which leaves the detector unchanged. As in river,
 * the update after a drift starts from a reset detector. */
int fb_det_update(struct fb_det *det, double x, struct cap_error *err);
/* river's warning_detected after the last update: EDDM keeps it over
 * correct predictions until the next error, and EDDM and a two-sided HDDM
 * may hold it beside a drift, which fb_det_update's answer does not show. */
bool fb_det_warning(const struct fb_det *det);
const struct fb_det_spec *fb_det_spec_of(const struct fb_det *det);
/* Values fed since fb_det_new, over saves and loads and drifts. */
uint64_t fb_det_count(const struct fb_det *det);

/* Appends the detector's spec and full state as a versioned little-endian
 * blob; fb_det_load of it continues the stream exactly as `det` would. */
void fb_det_save(const struct fb_det *det, struct cap_buf *out);
/* A detector from a blob of fb_det_save; a blob that is short, long,
 * of another version or inconsistent is refused with a message. */
int fb_det_load(const void *blob, size_t len, struct fb_det **out, struct cap_error *err);

#endif
