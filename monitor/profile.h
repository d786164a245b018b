/* profile.h - mergeable summaries of columns, for monitoring a stream
 * without keeping its rows: a reference's profile fixes the layout (column
 * kinds, numeric bins, known categories), a window's profile of the same
 * layout counts what the window saw, and two windows' profiles merge into
 * the profile of their union, so that an hour is the merge of its twelve
 * five-minute windows and never a rescan of rows. Drift and data quality
 * computed from profiles are approximations of the exact tests on rows;
 * each column says which method it used and a bound on its error.
 * Internal to monitor/ (live.c, baseline.c); sketch.c holds the quantile
 * sketch. */
#ifndef CAP_MONITOR_PROFILE_H
#define CAP_MONITOR_PROFILE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "monitor/monitor.h"

/* ---- quantile sketch (sketch.c) ----
 * A KLL-type sketch of a stream of finite doubles: O(k log(n/k)) memory,
 * any quantile within a rank error of mon_sketch_eps() * n, mergeable.
 * Deterministic: its compactions choose by a counter, never by time or
 * rand(), so the same stream gives the same sketch and the same answers. */
struct mon_sketch;

struct mon_sketch *mon_sketch_new(void);
void mon_sketch_free(struct mon_sketch *s);
void mon_sketch_add(struct mon_sketch *s, double v);
/* n finite values sorted ascending (v is scratch afterwards): the same
 * guarantees as n mon_sketch_add calls, at a fraction of the cost. */
void mon_sketch_add_sorted(struct mon_sketch *s, double *v, size_t n);
void mon_sketch_merge(struct mon_sketch *dst, const struct mon_sketch *src);
int64_t mon_sketch_count(const struct mon_sketch *s);
/* The value at rank q in [0, 1] (NaN when empty). */
double mon_sketch_quantile(const struct mon_sketch *s, double q);
/* The fraction of values <= v (the empirical CDF). */
double mon_sketch_cdf(const struct mon_sketch *s, double v);
/* The sketch's guaranteed normalized rank error for its current count. */
double mon_sketch_eps(const struct mon_sketch *s);
/* A guaranteed bound on the area between the sketch's CDF and the true
 * empirical CDF (integral over x of |F_sketch(x) - F(x)|), in the values'
 * units: what a Wasserstein distance computed from the sketch can be off
 * by, per sketch. */
double mon_sketch_l1(const struct mon_sketch *s);
/* Between the CDFs of two sketches' (weighted) items: the area, W1
 * (NaN if either is empty), and the largest gap, the K-S statistic. */
double mon_sketch_w1(const struct mon_sketch *a, const struct mon_sketch *b);
double mon_sketch_ks(const struct mon_sketch *a, const struct mon_sketch *b);
void mon_sketch_encode(const struct mon_sketch *s, struct cap_buf *out);
/* Reads one encoded sketch at *p (advanced past it); -CAP_EINVAL if corrupt. */
int mon_sketch_decode(const unsigned char **p, const unsigned char *end,
                      struct mon_sketch **out, struct cap_error *err);

/* ---- profiles (profile.c) ---- */

enum mon_prof_kind { MON_PROF_NUM, MON_PROF_CAT };

struct mon_colprof {
    char *name;
    enum mon_prof_kind kind; /* fixed by the reference, by mon_drift's typing */
    bool text;               /* the reference column is text (categories are strings) */
    int64_t count;           /* cells seen, missing included */
    int64_t missing;         /* NaN or empty cells */
    int64_t unreadable;      /* text cells in a numeric column */
    int64_t pos_inf, neg_inf;
    /* numeric columns, over finite values */
    int64_t n_finite;
    double mean, m2;         /* running mean and sum of squared deviations (batch updates) */
    double min, max;
    size_t nbins;            /* fixed by the reference: nbins equal-width bins */
    double *edges;           /* nbins + 1 edges over the reference's finite range */
    int64_t *bins;           /* nbins + 2 counts: [0] below edges[0], [nbins + 1] above
                                edges[nbins] (the window's out-of-range values) */
    struct mon_sketch *sketch;
    /* categorical columns (and numeric columns of few values): exact counts
     * of each value, keys owned; numbers are keyed by their "%.17g" text */
    size_t ncat;
    char **cat;
    int64_t *cat_count;
    void *cat_index;         /* profile.c's hash index over cat */
    bool cat_complete;       /* cat counts every value seen; false once a numeric column
                                saw more than 256 distinct values and dropped its counts
                                (added for profile.c: tests on counts need them all) */
};

struct mon_profile {
    int64_t rows;
    size_t ncols;
    struct mon_colprof *cols;
};

/* The reference's profile of every column of ref: kinds as mon_drift types
 * them under opt (NULL: Evidently's inference), numeric bins over the
 * reference's finite range, every category counted. */
int mon_profile_reference(const struct mon_frame *ref, const struct mon_drift_options *opt,
                          struct mon_profile *out, struct cap_error *err);
/* An empty profile with ref's layout (names, kinds, bin edges), for a window. */
void mon_profile_empty_like(const struct mon_profile *ref, struct mon_profile *out);
/* Counts f's rows into p; f's columns are matched to p's by name, and a
 * column of p that f lacks is an error naming it. */
int mon_profile_add(struct mon_profile *p, const struct mon_frame *f, struct cap_error *err);
/* Whether a and b have one layout (names, kinds, bin edges): -CAP_EINVAL
 * naming the first column that differs. */
int mon_profile_layout_check(const struct mon_profile *a, const struct mon_profile *b,
                             struct cap_error *err);
/* dst += src; both must have the same layout (-CAP_EINVAL otherwise). */
int mon_profile_merge(struct mon_profile *dst, const struct mon_profile *src,
                      struct cap_error *err);
void mon_profile_free(struct mon_profile *p);

/* A compact binary form (for the store and the artifact store), versioned;
 * decode checks every length and says -CAP_EINVAL for a corrupt blob. */
void mon_profile_encode(const struct mon_profile *p, struct cap_buf *out);
int mon_profile_decode(const void *data, size_t len, struct mon_profile *out,
                       struct cap_error *err);

/* Drift of cur against ref computed from their profiles alone, in
 * mon_drift's JSON shape (same column order, same test ids, thresholds and
 * dataset-drift rule), each column with an added
 * "approximation": {"method": "sketch"|"bins"|"exact", "error_bound": e}
 * where e bounds |drift_score - the exact test's score on the rows| (0 for
 * "exact": categorical tests on exact counts). Tests that cannot be
 * computed from a profile are an error naming the test and column. */
int mon_drift_profiles(const struct mon_profile *ref, const struct mon_profile *cur,
                       const struct mon_drift_options *opt, cJSON **out, struct cap_error *err);

/* Data quality from profiles, in mon_quality's JSON shape for what a
 * profile can know (missing share, unreadable cells, new categories, out
 * of range, constant columns); "duplicated_rows" is null. */
int mon_quality_profiles(const struct mon_profile *ref, const struct mon_profile *cur,
                         const struct mon_quality_options *opt, cJSON **out,
                         struct cap_error *err);

#endif
