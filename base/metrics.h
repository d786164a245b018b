/* metrics.h - Prometheus counters, gauges and histograms with labels, and
 * their text exposition (format 0.0.4). A series is created once (under a
 * lock) and then updated with atomics only, so the request path never takes
 * a lock: callers keep the series pointer they were given. */
#ifndef CAP_METRICS_H
#define CAP_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct metrics;

enum metrics_kind { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

/* One labelled series. Counters and gauges use value (a double's bits, so
 * that it can be updated with compare-and-swap); histograms use the
 * buckets, sum and count. */
struct metrics_series {
    _Atomic uint64_t value;
    _Atomic uint64_t *buckets;   /* histogram: one per bound, then +Inf */
    _Atomic uint64_t sum;        /* histogram: double bits */
    _Atomic uint64_t count;
    const double *bounds;        /* the family's, for histograms */
    size_t nbounds;
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Declares a family (idempotent). bounds: histogram upper bounds in
 * increasing order (copied). */
void metrics_declare(struct metrics *m, const char *name, enum metrics_kind kind,
                     const char *help, const double *bounds, size_t nbounds);
/* The series of family name with these labels ("" or `a="x",b="y"`: use
 * metrics_label to quote values); created on first use, never freed before
 * metrics_free (series of a deployment that went away stay, as Prometheus
 * expects of counters). */
struct metrics_series *metrics_series(struct metrics *m, const char *name, const char *labels);
void metrics_add(struct metrics_series *s, double v);   /* counters, gauges */
void metrics_set(struct metrics_series *s, double v);   /* gauges */
void metrics_observe(struct metrics_series *s, double v);         /* histograms */
double metrics_value(const struct metrics_series *s);

/* Appends name="value" with the value escaped as the format requires. */
void metrics_label(struct cap_buf *b, const char *name, const char *value);

void metrics_render(struct metrics *m, struct cap_buf *out);

#endif
