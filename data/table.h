/* table.h - the tables among a dataset's files: a CSV with a header, JSONL
 * (.jsonl, .ndjson) or a 2-D .npy array, read by monitor/'s readers
 * (mon_frame_*: the same typing and the same errors, with file, line and
 * column). For each: its schema and exact statistics, as pandas' describe()
 * and value_counts() give them (table.c); its monitoring profile, in the
 * binary form of a baseline's profile (monitor/profile.h), so that a
 * dataset version can be a deployment's monitoring reference as it is; and
 * its validation against a schema file (schema.c). Internal to data/: the
 * datasets service calls it from data_add. Prefixes data_table_ and
 * data_schema_.
 *
 * ---- The summary (data_table.summary) ----
 * {"rows": n, "columns": [{"name",
 *    "type": "integer" | "float" | "string" (pandas' int64, float64 and
 *            object: whole numbers with no missing cell, other numbers,
 *            anything with text),
 *    "nullable": the column has a missing cell (empty, NA, NaN, null...),
 *    "count": cells not missing, "missing",
 *    "min", "max", "mean", "std" (sample, ddof 1), "p25", "p50", "p75"
 *            (numpy's linear interpolation, as describe()): numbers for
 *            numeric columns (null when undefined: no value, std of one),
 *            null for text,
 *    "distinct": distinct values not missing (pandas' nunique()),
 *    "top": [[value, count], ...] the DATA_TABLE_TOP most frequent values
 *            of a text column, most frequent first, ties in the order of
 *            first appearance (value_counts()); null for numeric columns}]}
 * Sums are compensated (within ~2 ulp of exact; numpy's pairwise sums are
 * within ~log2(n) ulp): mean and std agree with pandas to ~1e-15 relative
 * unless the mean is tiny beside the values. min, max and the quantiles
 * are numpy's doubles exactly; printed by cJSON they may be 1 ulp off (it
 * writes "%.15g" whenever that reads back within DBL_EPSILON).
 *
 * ---- The schema file (JSON; every member optional) ----
 * {"columns": {"age": {"type": "integer", "nullable": false, "min": 0, "max": 150},
 *              "country": {"allowed": ["FR", "DE"]},
 *              "id": {"unique": true}},
 *  "unique": ["first_name", "last_name"],
 *  "rows": {"min": 1, "max": 1000000}}
 * Per column:
 *   "type": "integer": every cell not missing is a whole number (1.0
 *           counts, text that reads as one too); "float": a number
 *           (infinities count); "string": anything.
 *   "nullable": false: no missing cell (true, the default, checks nothing).
 *   "min", "max": numbers; cells read as numbers below min or above max
 *           (text that is no number is left to "type").
 *   "allowed": a non-empty list of strings and numbers; a cell is allowed
 *           when its text equals a string of the list, or when it reads as a
 *           number equal to a number of the list (or to a string of it that
 *           reads as one). Missing cells are left to "nullable".
 *   "unique": true: no two rows have the same value; the bad rows are
 *           those repeating an earlier row's (pandas' duplicated(), where
 *           missing equals missing).
 * Top level: "unique": a key, a list of column names whose values together
 * are unique, or a list of such lists; "rows": {"min", "max"}: bounds on
 * the row count. A column the schema names that the table lacks is a
 * violation; columns the schema does not name are not checked. An unknown
 * member anywhere is an error (a misspelt rule must not pass silently), as
 * is a value of the wrong type: the message names the member and what was
 * expected.
 *
 * ---- Violations (data_table.violations) ----
 * [{"rule": "column" | "type" | "nullable" | "min" | "max" | "allowed" |
 *           "unique" | "rows",
 *   "columns": [names] ([] for "rows"), "count": the bad rows (the row
 *   count for "rows", 0 for "column"), "rows": the first
 *   DATA_TABLE_ROWS_SHOWN bad data rows (1-based, in file order), "lines":
 *   their lines in the file ([] for .npy), "message": e.g. "data.csv:
 *   column 'age': 3 rows above max 150 (rows 4, 17, 88 at lines 5, 18,
 *   89)"}], in the order: rows, missing
 * columns, the columns' rules in the table's column order, unique keys.
 *
 * ---- Memory ----
 * A table whose cells fit max_bytes (monitor's estimate: 8 bytes a number,
 * a text cell's bytes + ~25) beside the work is read once, whole. A larger
 * one is read in passes: one that only types the columns, then one per
 * group of columns that fits, each analysed, profiled, validated and
 * freed; then one per unique key, holding just its columns.
 * max_bytes covers the cells held and DATA_TABLE_WORK_BYTES a row for the
 * one column being analysed. Beyond it: the profile being built, which
 * keeps each distinct text value once (a column of unique ids costs its
 * bytes again); the mapped file's pages, resident until monitor's reader
 * gives them back (every 32 MiB); and short text cells, which cost more
 * than the estimate (glibc's smallest chunk is 32 bytes). Measured
 * (release build, this 2-vCPU machine, /usr/bin/time): `capstan data
 * profile` of 4,000,000 rows x (2 float, 1 integer, 1 one-letter text)
 * columns, a 179 MB CSV, with --max-memory 200: 3 groups, peak RSS 309
 * MiB, 6.6 s; read whole (--max-memory 4096): 427 MiB, 5.0 s. The same
 * 1,000,000 rows, read whole: 125 MiB, 1.1 s. A budget that cannot hold
 * one column (or one key's columns) with its work is an error saying how
 * much it needs. */
#ifndef CAP_DATA_TABLE_H
#define CAP_DATA_TABLE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/error.h"

#define DATA_TABLE_TOP 20
#define DATA_TABLE_ROWS_SHOWN 5
/* A row's bytes while one column is analysed: its values sorted (8) or its
 * text cells sorted with their rows (16), and the profile's copy (8). */
#define DATA_TABLE_WORK_BYTES 24
/* The default max_bytes of data_table_profile (0 there): 1 GiB. */
#define DATA_TABLE_MAX_BYTES ((size_t)1 << 30)

/* Whether a file's name says it is a table (.csv, .jsonl, .ndjson, .npy, in
 * any case): the files data_add profiles. */
bool data_table_is_table(const char *name);

/* ---- schemas (schema.c) ---- */
struct data_schema;
/* Parses a schema document; label (the file's name) prefixes messages.
 * Malformed: -CAP_EINVAL naming the member and what was expected. */
int data_schema_parse(const char *label, const char *text, size_t len, struct data_schema **out,
                      struct cap_error *err);
/* Reads and parses a schema file (at most 16 MiB). */
int data_schema_load(const char *path, struct data_schema **out, struct cap_error *err);
void data_schema_free(struct data_schema *s);

/* ---- a table's profile and validation (table.c) ---- */
struct data_table {
    cJSON *summary;         /* {"rows", "columns": [...]} (above) */
    cJSON *violations;      /* [...] (above); [] without a schema or when valid */
    struct cap_buf profile; /* the monitoring profile's bytes; len 0 for a table
                               without rows (a reference needs rows) */
    size_t groups;          /* 0: read whole; else the column groups read */
};

/* Profiles the table at path and, when schema is not NULL, validates it.
 * max_bytes: the memory bound (0: DATA_TABLE_MAX_BYTES). A file that is no
 * table, cannot be read or is malformed: -CAP_EINVAL with monitor's message
 * (file, line, column); a budget too small: -CAP_EINVAL saying what one
 * column needs. Violations are no error: the caller refuses or warns. On
 * success free *out with data_table_free. */
int data_table_profile(const char *path, const struct data_schema *schema, size_t max_bytes,
                       struct data_table *out, struct cap_error *err);
void data_table_free(struct data_table *t);

/* ---- between table.c and schema.c ----
 * The checks of one table, fed as table.c reads it (whole, or a group of
 * columns at a time). new checks the row count and the columns the table
 * lacks at once, from the shell (names, types and rows; cells not read). */
struct mon_frame;
struct data_schema_check;
struct data_schema_check *data_schema_check_new(const struct data_schema *s, const char *path,
                                                const struct mon_frame *shell);
/* The rules of single columns, on f's columns with keep[c] (NULL: all). */
void data_schema_check_columns(struct data_schema_check *c, const struct mon_frame *f,
                               const bool *keep);
/* The unique keys: how many; key k's columns as flags over the shell's
 * columns (NULL when the table lacks one: a violation already); the check
 * of key k on f, which holds those columns. */
size_t data_schema_check_nkeys(const struct data_schema_check *c);
const bool *data_schema_check_key_cols(const struct data_schema_check *c, size_t k);
void data_schema_check_key(struct data_schema_check *c, size_t k, const struct mon_frame *f);
/* The violations (above) in *out, their rows' lines found by one more walk
 * over the file when there are any; frees c either way (out NULL: only
 * frees, after an error). */
int data_schema_check_finish(struct data_schema_check *c, cJSON **out, struct cap_error *err);

#endif
