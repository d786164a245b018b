/* drift.h - drift.c's and quality.c's rules that the profiles' reports
 * (profile.c) follow too, so that each lives in one place: the column
 * typing, the choice of test and threshold, the checks on the options and
 * the reports' JSON. Internal to monitor/. */
#ifndef CAP_MONITOR_DRIFT_H
#define CAP_MONITOR_DRIFT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "monitor/monitor.h"
#include "monitor/stattest.h"

/* The options' ranges, lists and test ids against ref's column names
 * (only the names of ref are read). */
int mon_drift_check(const struct mon_frame *ref, const struct mon_drift_options *o,
                    struct cap_error *err);
/* A column's type: the caller's lists, else Evidently's inference from
 * k's dtype and values (an error for what looks like free text). */
int mon_drift_type(const struct mon_column *k, size_t nrows, const struct mon_drift_options *o,
                   enum mon_coltype *out, struct cap_error *err);
/* The column's test and threshold: the caller's, else Evidently's default
 * for a reference of nref values and nvalues distinct values in both
 * samples (only whether nvalues is > 2 and > 5 matters). */
int mon_drift_choose(const char *name, enum mon_coltype type, size_t nref, size_t nvalues,
                     const struct mon_drift_options *o, const struct mon_stattest **test,
                     double *threshold, struct cap_error *err);
/* One column's entry of the report, and the report around the columns
 * (takes cols). */
cJSON *mon_drift_column_json(const char *name, enum mon_coltype type,
                             const struct mon_stattest *test, double threshold,
                             const struct mon_stat_result *res);
cJSON *mon_drift_report_json(cJSON *cols, size_t n, size_t drifted, double drift_share);

/* Whether the options test a column (their list, else every column). */
bool mon_drift_selected(const struct mon_drift_options *o, const char *name);
/* Tests the named columns of ref and cur (only theirs need cells) on
 * `threads` threads (0: mon_drift_threads()), appends their entries to cols
 * in the order of names and adds the drifting ones to *drifted; the first
 * error in that order. The options are checked before (mon_drift_check). */
int mon_drift_columns(const struct mon_frame *ref, const struct mon_frame *cur,
                      const struct mon_drift_options *opt, const char *const *names, size_t n,
                      size_t threads, cJSON *cols, size_t *drifted, struct cap_error *err);
/* One a CPU, at most 8. */
size_t mon_drift_threads(void);

/* quality.c: the thresholds' ranges and their JSON; whether a column is
 * checked, and whether as categories (text is the reference's kind). */
int mon_quality_check_thresholds(const struct mon_quality_options *o, struct cap_error *err);
cJSON *mon_quality_thresholds_json(const struct mon_quality_options *o);
bool mon_quality_selected(const struct mon_quality_options *o, const char *name);
bool mon_quality_categorical(const struct mon_quality_options *o, const char *name, bool text);

/* quality.c, for a frame read a column group at a time (grouped.c): the
 * input checks, one column's object, and the report around the columns
 * (takes cols) from the duplicated rows' counts. */
int mon_quality_check(const struct mon_frame *ref, const struct mon_frame *cur,
                      const struct mon_quality_options *o, struct cap_error *err);
cJSON *mon_quality_column(const struct mon_column *kr, size_t nr, const struct mon_column *kc,
                          size_t nc, const struct mon_quality_options *o, bool *failed);
cJSON *mon_quality_json(cJSON *cols, size_t n, size_t nfailed, size_t dup_ref, size_t nref,
                        size_t dup_cur, size_t ncur, const struct mon_quality_options *opt);
/* The duplicated rows of a frame whose columns come a group at a time:
 * refine with each group (cols[c]: f's column c holds cells), in any order
 * of the groups, then read the count (the same as mon_quality's). At most
 * UINT32_MAX - 1 rows. */
struct mon_rowclasses;
struct mon_rowclasses *mon_rowclasses_new(size_t nrows);
void mon_rowclasses_refine(struct mon_rowclasses *rc, const struct mon_frame *f,
                           const bool *cols);
size_t mon_rowclasses_duplicates(const struct mon_rowclasses *rc);
void mon_rowclasses_free(struct mon_rowclasses *rc);

/* report.c, for the same: one column's section of the page (dcol: its
 * drift entry), and the page around the sections. */
struct cap_buf;
void mon_report_html_feature(struct cap_buf *b, const struct mon_frame *ref,
                             const struct mon_frame *cur, const cJSON *dcol);
void mon_report_html_page(struct cap_buf *out, size_t nref, size_t ncur, size_t ncols,
                          const cJSON *drift, const cJSON *quality, const struct cap_buf *features);

#endif
