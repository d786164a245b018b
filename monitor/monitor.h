/* monitor.h - the monitor module's public surface for data drift: a frame
 * of columns read from a file, and the drift report of a current frame
 * against a reference, with Evidently 0.7's column typing, default tests,
 * thresholds and dataset-drift rule (see drift.c, frame.c). */
#ifndef CAP_MONITOR_H
#define CAP_MONITOR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
    size_t text_bytes; /* the bytes of its cells in the file (a text column's size estimate) */
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

enum mon_format { MON_FORMAT_CSV, MON_FORMAT_JSONL, MON_FORMAT_NPY };
/* The format a file name's extension says; -CAP_EINVAL for another. */
int mon_frame_format(const char *name, enum mon_format *out, struct cap_error *err);
/* The same readers over bytes in memory (label names them in errors) or
 * an open file (the artifact store hands out descriptors, not paths). */
int mon_frame_parse(const char *label, enum mon_format fmt, const void *data, size_t len,
                    const char *const *names, size_t nnames, struct mon_frame *out,
                    struct cap_error *err);
int mon_frame_read_fd(const char *label, enum mon_format fmt, int fd, const char *const *names,
                      size_t nnames, struct mon_frame *out, struct cap_error *err);
void mon_frame_free(struct mon_frame *f);

/* Reading a file larger than memory, a part at a time (grouped.c).
 * max_bytes > 0 bounds the cells kept (an estimate: 8 bytes a number or
 * text pointer, a text cell's bytes plus ~17, 8 a row to re-read a column
 * that turns text); once past it, the cells go and the rest of the file is
 * only typed: *complete is false and every column's num and text are NULL,
 * but names, dtypes, text lines and nrows are the full read's. With types
 * (that read's frame of the same file), only the columns with keep[c] are
 * read, with the types found there; the others are skipped, NULL. */
struct mon_frame_limits {
    size_t max_bytes;
    const struct mon_frame *types;
    const bool *keep;
};
/* The estimate of a column's cells in memory (the budget's measure). */
size_t mon_column_bytes(const struct mon_column *k, size_t nrows);
int mon_frame_read_limited(const char *path, const char *const *names, size_t nnames,
                           const struct mon_frame_limits *lim, struct mon_frame *out,
                           bool *complete, struct cap_error *err);

/* Drops a frame's cells (num and text NULL), keeping its names, types
 * and rows: the shell a column-group read takes as its types. */
void mon_frame_drop_cells(struct mon_frame *f);

/* The file line where each of n data rows of path starts (rows: 0-based,
 * ascending), found by walking the file as the readers do (blank lines
 * skipped, a quoted CSV field may span lines), to name rows in messages;
 * 0 for .npy, which has no lines, and for a row past the end. Costs one
 * walk over the file up to the last row asked for. */
int mon_frame_row_lines(const char *path, const size_t *rows, size_t n, size_t *lines,
                        struct cap_error *err);

/* ---- a table's profile, for datasets (profile.c) ----
 * The mergeable profile a baseline stores (profile.h), of every column of
 * a table, so that a dataset version can be a monitoring reference as it
 * is: columns typed by Evidently's inference, one that looks like free
 * text counted as categories rather than refused. A table larger than
 * memory is profiled a group of columns at a time: each add takes f's
 * columns with keep[c] (keep NULL: all) after those added before; every f
 * must have the first one's rows (-CAP_EINVAL otherwise, and for a frame
 * without rows: a reference needs rows). */
struct mon_profile;
struct mon_profile *mon_profile_table_new(void);
int mon_profile_table_add(struct mon_profile *p, const struct mon_frame *f, const bool *keep,
                          struct cap_error *err);
/* Appends p's binary form (what mon_baseline_load reads as a baseline's
 * profile) to out unless out is NULL, and frees p. */
struct cap_buf;
void mon_profile_table_finish(struct mon_profile *p, struct cap_buf *out);

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

/* ---- data quality and the HTML report (quality.c, report.c) ---- */

/* Data-quality thresholds. Each share check fails when its share is above
 * the threshold; missing cells and duplicated rows also need the current
 * share to be above the reference's (a reference that is 30% empty by
 * design should not fail every window). mon_quality_defaults fills: */
struct mon_quality_options {
    const char *const *columns;     /* the columns to check; all when n_columns is 0 */
    size_t n_columns;
    const char *const *categorical; /* numeric columns checked as categories */
    size_t n_categorical;
    const cJSON *drift;             /* mon_drift's report, or NULL: when set, its columns
                                       are the ones checked (unless n_columns) and those it
                                       typed "cat" are checked as categories */
    double missing_share;           /* 0.1 */
    double new_category_share;      /* 0: any unseen category fails */
    double out_of_range_share;      /* 0: any value outside the reference's range fails */
    double duplicated_rows_share;   /* 0: more duplicated rows than the reference fails */
    bool constant;                  /* true: a column constant now but not in the reference fails */
};
void mon_quality_defaults(struct mon_quality_options *o);

/* The data quality of cur against ref (opt NULL: the defaults), as one
 * object (the caller nests it, e.g. under "data_quality"):
 * {"passed": bool, "number_of_columns": n, "number_of_failed_columns": k,
 *  "columns": [{"column",
 *     "type_reference", "type_current": "int"|"float"|"text",
 *     "type_mismatch": bool (one side text, the other numbers),
 *     "unreadable_cells": current cells not readable as the reference's
 *        type (text that is not a number where the reference is numeric),
 *     "missing_share_reference", "missing_share_current": NaN or empty
 *        cells over all rows,
 *     "new_categories": {"count", "distinct", "share", "examples": [<= 10]}
 *        for text and categorical columns, else null: current cells whose
 *        value the reference lacks, share over the current's non-missing
 *        cells, examples in the order first seen,
 *     "out_of_range": {"count", "share", "min", "max"} for numerical
 *        columns, else null (null too when the reference has no finite
 *        value): current cells below the reference's finite min or above
 *        its finite max (infinities count), share over non-missing cells,
 *     "constant_reference", "constant_current": exactly one distinct
 *        non-missing value,
 *     "failed": ["type_mismatch"|"missing"|"new_categories"|"out_of_range"
 *        |"constant", ...]}],
 *  "duplicated_rows": {"count", "share", "count_reference",
 *     "share_reference", "failed"}: rows equal, in every column of the
 *     frame, to an earlier row (NaN equals NaN, as in pandas' duplicated()),
 *  "thresholds": {"missing_share", "new_category_share",
 *     "out_of_range_share", "duplicated_rows_share", "constant"}}
 * "passed" is false when any column or the duplicated rows failed.
 * Frames without rows, columns missing from one side, unknown column names
 * and thresholds outside [0, 1]: -CAP_EINVAL and a message. */
int mon_quality(const struct mon_frame *ref, const struct mon_frame *cur,
                const struct mon_quality_options *opt, cJSON **out, struct cap_error *err);

/* The rules both reports check their input by: each frame has rows and
 * both have the same columns; a list of column names (what: "the column
 * list") names only columns the frame has. -CAP_EINVAL naming the column. */
int mon_frames_check(const struct mon_frame *ref, const struct mon_frame *cur,
                     struct cap_error *err);
int mon_names_check(const struct mon_frame *f, const char *const *list, size_t n,
                    const char *what, struct cap_error *err);

/* The whole report of `capstan monitor drift --json` and of the API:
 * mon_drift's object with mon_quality's (default thresholds, the drift
 * report's columns) added under "data_quality". */
int mon_report(const struct mon_frame *ref, const struct mon_frame *cur,
               const struct mon_drift_options *opt, cJSON **out, struct cap_error *err);

struct cap_buf;
/* The report of two files, as mon_report (and, when page is not NULL, its
 * HTML page as mon_report_html) would make it from the whole frames, in
 * memory bounded by max_bytes: when both frames and the tests' working
 * copies fit, they are read whole; else a first pass types every column
 * and later passes read a group of columns at a time, test them and free
 * them (*ngroups: how many; 0 when read whole). The same JSON and page to
 * the byte either way. names: as mon_frame_read's. A budget that cannot
 * hold one column of both files with its working copies: -CAP_EINVAL
 * saying how much one needs. */
int mon_report_files(const char *ref_path, const char *cur_path, const char *const *names,
                     size_t nnames, const struct mon_drift_options *opt, size_t max_bytes,
                     cJSON **out, struct cap_buf *page, size_t *ngroups, struct cap_error *err);

/* Appends one self-contained HTML page to out: the dataset verdict, the
 * drift table, per column a reference-vs-current chart as inline SVG
 * (numerical: <= 30 equal-width bins over both samples; categorical: the
 * <= 20 most frequent categories) and the data-quality table. drift is
 * mon_drift's object and quality mon_quality's; either may be NULL and its
 * sections are left out (without drift, every column is charted by its
 * storage type). No external resource: inline CSS and SVG only, and a
 * Content-Security-Policy that forbids fetching anything. Every text from
 * the data is HTML-escaped. */
int mon_report_html(const struct mon_frame *ref, const struct mon_frame *cur,
                    const cJSON *drift, const cJSON *quality, struct cap_buf *out,
                    struct cap_error *err);

/* ---- reference baselines (baseline.c) ----
 * A baseline is the reference a deployment or a model version is
 * monitored against: the exact reference sample (at most max_rows rows,
 * columnar and zstd-compressed in the artifact store) for the exact tests,
 * and the mergeable profile of every column (profile.h) for windows too
 * large for them. Its columns are the model's inputs then its outputs,
 * named by the one rule of mon_tensor_columns below. The meta object, as
 * stored and as the API answers it:
 * {"target", "model_name", "model_version", "rows" (rows given),
 *  "sample_rows", "created_at" (ms), "sample" and "profile" (artifact
 *  paths), "columns": [{"name", "role": "input"|"output", "tensor",
 *  "index" (column within the tensor), "kind": "num"|"cat"}]} */
struct store;
struct blob;
struct infer_model;

/* Targets: "deployment:NAME" or "model:NAME/VERSION". */
struct mon_baseline_in {
    const char *target;
    const char *model_name, *model_version;
    const struct infer_model *model;   /* names the columns, and gives the outputs */
    const char *const *signature_cols; /* the MLflow signature's column names of a 2-D
                                          input, or NULL: f0..fn-1 */
    size_t n_signature_cols;
    const struct mon_frame *data;      /* the reference: the inputs' columns by name */
    size_t max_rows;                   /* the sample's cap (0: 100000) */
    /* columns typed by the caller (any column, inputs or outputs), else by
     * Evidently's inference (which refuses what looks like free text); the
     * kinds are stored with the baseline, so every window uses them */
    const char *const *categorical;
    size_t n_categorical;
    const char *const *numerical;
    size_t n_numerical;
};
/* Runs the model over data, stores sample, profile and meta (replacing the
 * target's earlier baseline only once all are written); *meta gets the
 * stored meta (with "categorical" and "numerical": the lists as given).
 * Data that does not fit the model's inputs, and typing lists that name a
 * column twice or one the baseline lacks: -CAP_EINVAL naming the column
 * and what was expected; nothing is stored. */
int mon_baseline_create(struct store *st, struct blob *bl, const struct mon_baseline_in *in,
                        cJSON **meta, struct cap_error *err);

struct mon_profile;
struct mon_baseline {
    cJSON *meta;
    struct mon_frame sample;      /* inputs' columns, then outputs' */
    size_t n_inputs;              /* the first n_inputs columns of sample are inputs */
    struct mon_profile *profile;  /* of every column of sample */
};
/* -CAP_ENOTFOUND when the target has no baseline. */
int mon_baseline_load(struct store *st, struct blob *bl, const char *target,
                      struct mon_baseline *out, struct cap_error *err);
void mon_baseline_free(struct mon_baseline *b);

/* The one naming rule of columns in tensors: a tensor of shape [N] or
 * [N, 1] is one column named as the tensor; [N, k] gives k columns, named
 * names[0..k-1] when given (an input's MLflow signature) and k matches,
 * else "f0".."f<k-1>" for the model's single 2-D input and
 * "<tensor>_0".."<tensor>_<k-1>" otherwise. *out is a malloc'd array of
 * malloc'd names; -CAP_EINVAL for a rank above 2. */
int mon_tensor_columns(const char *tensor, int ndim, const int64_t *dims, bool single_input,
                       const char *const *names, size_t nnames, char ***out, size_t *nout,
                       struct cap_error *err);

/* ---- live monitoring of deployments (live.c, livewin.c) ----
 * A background thread reads the prediction log by cursor and, per
 * deployment, cuts its rows into windows by their timestamps: base
 * windows of the smallest width, closed grace_ms after their end (rows
 * that arrive later are counted as "late_rows" in the window open then).
 * A base window of at most exact_rows rows is tested exactly (mon_report
 * on its rows against the baseline's sample); a larger one, and every
 * longer window, from profiles: longer windows are the merge of their base
 * windows' stored profiles, never a rescan of rows. Shadow rows (another
 * model's answers to mirrored traffic) are left out. Windows and the
 * cursors are stored together, so a restart neither loses nor recounts a
 * row. The window JSON, as stored, queried and handed to on_window:
 * {"id", "deployment", "width_s", "start_ms", "end_ms", "rows",
 *  "late_rows", "model_versions": {"name/version": rows},
 *  "reference": {"target", "rows"} | null, "drift": mon_drift's object
 *  over the inputs | null, "prediction_drift": the same over the outputs |
 *  null, "data_quality": mon_quality's object over the inputs | null,
 *  "method": "exact"|"profile", "approximation": [{"column", "method",
 *  "error_bound"}] (columns whose score is not exact), "errors": [text]} */
struct metrics;
struct mon_live;

typedef void (*mon_window_hook)(void *cls, const char *deployment, int64_t window_id,
                                const cJSON *window);

struct mon_live_config {
    struct store *store;
    struct blob *blob;
    struct metrics *metrics;     /* gauges of the latest base window, or NULL */
    const int64_t *widths_s;     /* ascending; NULL: 300, 3600, 86400 */
    size_t nwidths;
    int64_t grace_ms;            /* a window closes this long after its end (0: at once) */
    size_t exact_rows;           /* 0: 50000 */
    int poll_ms;                 /* 0: no thread; the caller runs mon_live_poll */
    mon_window_hook on_window;   /* after each window is stored (alerts), or NULL */
    void *on_window_cls;
    int64_t (*now_ms)(void);     /* tests; NULL: the wall clock */
    /* Several servers on one database: only the lease's holder reads the
     * log and stores windows (NULL: this server always does). */
    struct lease *lease;
};

int mon_live_start(const struct mon_live_config *cfg, struct mon_live **out,
                   struct cap_error *err);
/* One round: reads what the log has after the cursor, closes the windows
 * that are due, rolls them up. The thread runs this every poll_ms. */
int mon_live_poll(struct mon_live *l, struct cap_error *err);
/* Stops the thread; open windows are not stored (their rows are read
 * again after a restart). */
void mon_live_stop(struct mon_live *l);
/* The widths in use (for the API's checks and the status command). */
size_t mon_live_widths(const struct mon_live *l, const int64_t **widths_s);
/* The first prediction-log id the monitor still needs after a restart
 * (its stored cursor + 1; 0 until it has read its state), for
 * predlog_store.reader_from: trimming the log keeps those rows. Any thread. */
int64_t mon_live_log_from(void *live);

/* ---- a live deployment's page (livehist.c, report_live.c) ---- */

/* The stored window of deployment, width_s and start_ms beside its
 * baseline, as histograms read from the two profiles (livehist.c):
 * {"deployment", "width_s", "start_ms",
 *  "reference": {"target", "available": bool, "note"?: why not},
 *  "columns": [{"column", "role": "input"|"output", "count", "missing",
 *    "kind": "num", "edges": [nbins + 1], "reference": [nbins + 2] | null,
 *       "current": [nbins + 2] (counts of finite values; [0] below the
 *       first edge, the last above the last edge)
 *  | "kind": "cat", "categories": [<= 100 texts, the most frequent over
 *       both sides first], "reference": [counts] | null, "current":
 *       [counts], "other": [reference | null, current] (the categories
 *       left out), "distinct"}]}
 * "reference" is unavailable (null counts) when the baseline was deleted
 * or replaced by one of other bins since the window. -CAP_ENOTFOUND when
 * there is no such window or it had no baseline. */
int mon_window_histograms(struct store *st, struct blob *bl, const char *deployment,
                          int64_t width_s, int64_t start_ms, cJSON **out, struct cap_error *err);

/* The page of `capstan monitor status --html` (report_live.c): one
 * self-contained HTML page (inline CSS and SVG, nothing fetched) with the
 * latest window's verdicts, drift and prediction-drift tables and data
 * quality, its histograms (hist: mon_window_histograms' object, or NULL),
 * and per feature and output the drift score of every window over time
 * with its threshold; with realised (the feedback quality API's windows of
 * the same width, or NULL), the realised model quality of each labelled
 * window over time. windows: the window JSON of one width, oldest first,
 * at least one. -CAP_EINVAL for windows that are not such a list. */
int mon_live_report_html(const char *deployment, const cJSON *windows, const cJSON *hist,
                         const cJSON *realised, struct cap_buf *out, struct cap_error *err);

#endif
