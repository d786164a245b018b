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

/* quality.c: the thresholds' ranges and their JSON; whether a column is
 * checked, and whether as categories (text is the reference's kind). */
int mon_quality_check_thresholds(const struct mon_quality_options *o, struct cap_error *err);
cJSON *mon_quality_thresholds_json(const struct mon_quality_options *o);
bool mon_quality_selected(const struct mon_quality_options *o, const char *name);
bool mon_quality_categorical(const struct mon_quality_options *o, const char *name, bool text);

#endif
