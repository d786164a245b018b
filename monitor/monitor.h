/* monitor.h - the monitor module's public surface for data drift: a frame
 * of columns read from a file, and the drift report of a current frame
 * against a reference, with Evidently 0.7's column typing, default tests,
 * thresholds and dataset-drift rule (see drift.c, frame.c). */
#ifndef CAP_MONITOR_H
#define CAP_MONITOR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* A column's storage type, as pandas would infer it from the file: whole
 * numbers with no missing cell are MON_INT (pandas' int64), other numbers
 * MON_FLOAT, anything with text in it MON_TEXT (pandas' object). */
enum mon_dtype { MON_INT, MON_FLOAT, MON_TEXT };

struct mon_column {
    char *name;
    enum mon_dtype dtype;
    double *num;  /* MON_INT/MON_FLOAT: the values, NaN where missing */
    char **text;  /* MON_TEXT: the cells, NULL where missing */
    size_t text_line; /* MON_TEXT: the file's line with its first cell that is no number */
};

struct mon_frame {
    char *path;   /* the file it came from, for messages */
    struct mon_column *cols;
    size_t ncols, nrows;
};

/* Reads a CSV file with a header row, a JSONL file (one object per line;
 * the first line's keys name the columns) or a 2-D .npy array (columns
 * f0..fn-1, or names[0..nnames-1] when nnames equals the column count),
 * chosen by the file's extension (.csv, .jsonl/.ndjson, .npy). Cells are
 * read by cap_text_to_double's rule. Errors name the file, line and
 * column. */
int mon_frame_read(const char *path, const char *const *names, size_t nnames,
                   struct mon_frame *out, struct cap_error *err);
void mon_frame_free(struct mon_frame *f);

/* COLUMN=VALUE, for the per-column stattest and threshold options. */
struct mon_override {
    const char *column;
    const char *value;
};

struct mon_drift_options {
    const char *const *numerical; /* columns typed numerical by the caller */
    size_t n_numerical;
    const char *const *categorical;
    size_t n_categorical;
    const char *const *columns;   /* the columns to test; all when n_columns is 0 */
    size_t n_columns;
    const char *stattest;         /* every column's test, or NULL: Evidently's default */
    const struct mon_override *stattest_col;
    size_t n_stattest_col;
    const char *threshold;        /* every column's threshold, or NULL: the test's own */
    const struct mon_override *threshold_col;
    size_t n_threshold_col;
    double drift_share;           /* dataset drift when share >= this; Evidently's 0.5 */
};

/* The drift report as one JSON object (the CLI's --json output):
 * {"dataset_drift", "drift_share", "number_of_columns",
 *  "number_of_drifted_columns", "share_of_drifted_columns",
 *  "columns": [{"column", "column_type": "num"|"cat", "stattest",
 *  "stattest_threshold", "drift_score", "drift_detected"}]} with columns in
 * the frame's order. Bad options or data: -CAP_EINVAL and a message. */
int mon_drift(const struct mon_frame *ref, const struct mon_frame *cur,
              const struct mon_drift_options *opt, cJSON **out, struct cap_error *err);

#endif
