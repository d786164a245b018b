/* store_sqlite.h - what the files of the SQL store share: connections
 * with their prepared-statement caches, the writer queue (group commit), the
 * read-connection pool and small helpers. The store was written for SQLite
 * and keeps its file names; since the engine became a driver (store_db.h)
 * the same files run on PostgreSQL too, and store_sq_ reads "SQL store".
 * Internal to store/.
 *
 * Threads: every write is a job run by the one writer thread on the writer
 * connection inside its own SAVEPOINT of a shared transaction; every read
 * borrows one connection of the read pool for the duration of the call. */
#ifndef CAP_STORE_SQLITE_H
#define CAP_STORE_SQLITE_H

#include <pthread.h>
#include "store/store_db.h"
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "store/store_backend.h"

/* Prepared statements are cached per connection, keyed by the address of
 * the SQL string literal (every cached statement is a static string). */
#define SQ_CACHE_SLOTS 256

struct sq;
struct sq_conn {
    struct sq_db *db;
    struct sq *owner;   /* the store, for SQL it built at open */
    const char *keys[SQ_CACHE_SLOTS];
    struct sq_stmt *stmts[SQ_CACHE_SLOTS];
    struct sq_conn *next_free;
};

struct sq;
typedef int (*sq_job_fn)(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err);

struct sq_job {
    sq_job_fn fn;
    void *arg;
    int rc;
    bool done;
    struct cap_error err;
    struct sq_job *next;
};

#define SQ_METRIC_CHUNKS 4

struct sq_keys;

struct sq {
    const struct sq_driver *drv;
    char *path;   /* the driver's target: a file path or a libpq URI */
    char *artifact_prefix;
    /* multi-row metric statements, see log_metrics in store_sqlite_runs.c */
    char *metric_sql[SQ_METRIC_CHUNKS];
    char *latest_sql[SQ_METRIC_CHUNKS];
    /* store_sq_runs_fill's queries, with the driver's spellings */
#define SQ_FILL_QUERIES 6
    char *fill_sql[SQ_FILL_QUERIES];

    struct sq_conn writer;
    pthread_t writer_thread;
    bool writer_running;
    pthread_mutex_t qmu;
    pthread_cond_t qcv;     /* the writer waits here for jobs */
    pthread_cond_t donecv;  /* callers wait here for their job to finish */
    struct sq_job *qhead, *qtail;
    bool stopping;

    /* CAPSTAN_STORE_SEARCH_PLAN=ordered|driver|free pins the run-search
     * plan (see store_sqlite_search.c); for tests and for diagnosing a slow
     * search. 0 = choose per query. */
    int search_plan;

    struct sq_keys *keys;   /* the prediction log's id index (store_sqlite_keys.c) */

    struct sq_conn *readers;
    int nreaders;
    struct sq_conn *free_readers;
    pthread_mutex_t rmu;
    pthread_cond_t rcv;
};

/* ---- store_sqlite.c: plumbing ---- */

/* Runs fn(arg) on the writer thread inside its own savepoint and returns once
 * the group it belongs to has committed (or failed). */
int store_sq_write(struct sq *s, sq_job_fn fn, void *arg, struct cap_error *err);
/* Runs fn(arg) in one read transaction on a pooled read connection (the
 * reading twin of store_sq_write; fn's s is the store). */
int store_sq_read(struct sq *s, sq_job_fn fn, void *arg, struct cap_error *err);
/* Borrow and return a read-only connection. */
struct sq_conn *store_sq_reader(struct sq *s);
void store_sq_reader_done(struct sq *s, struct sq_conn *c);
/* Begin/end a read transaction so that several queries see one snapshot. */
int store_sq_read_begin(struct sq_conn *c, struct cap_error *err);
void store_sq_read_end(struct sq_conn *c);

/* A cached statement, reset and with its bindings cleared; NULL (err set)
 * when it does not prepare. sql must be a string with static lifetime. */
struct sq_stmt *store_sq_stmt(struct sq_conn *c, const char *sql, struct cap_error *err);
/* An uncached statement for SQL built at run time; sq_finalize it. */
struct sq_stmt *store_sq_prepare(struct sq_conn *c, const char *sql, struct cap_error *err);
int store_sq_exec(struct sq_conn *c, const char *sql, struct cap_error *err);
/* -CAP_EINTERNAL with what failed and SQLite's message. */
int store_sq_dberr(struct sq_conn *c, struct cap_error *err, const char *what);
/* sq_step + reset for statements that return no rows. */
int store_sq_step_done(struct sq_conn *c, struct sq_stmt *st, struct cap_error *err,
                       const char *what);

/* Binding parameters: a statement's values are given as one list, in the
 * order of its ?s, each one typed by its constructor:
 *     store_sq_run(c, "UPDATE t SET a = ? WHERE id = ?",
 *                  SQ_ARGS(SQ_TEXT(name), SQ_INT(id)), err, "renaming");
 * SQ_INT converts to int64_t, SQ_TEXT binds NULL for a NULL string, text
 * and blobs are bound without copying (they must outlive the step). */
#define SQ_INT(x) {.kind = SQ_B_INT, .i = (x)}
#define SQ_DBL(x) {.kind = SQ_B_DBL, .d = (x)}
#define SQ_TEXT(x) {.kind = SQ_B_TEXT, .s = (x)}
#define SQ_BLOB(ptr_, len_) {.kind = SQ_B_BLOB, .blob = (ptr_), .len = (len_)}
#define SQ_NULL {.kind = SQ_B_NULL}
/* The list and its length, as the two arguments the functions below take. */
#define SQ_ARGS(...)                                                                      \
    (const struct sq_bind[]){__VA_ARGS__},                                                \
        sizeof((const struct sq_bind[]){__VA_ARGS__}) / sizeof(struct sq_bind)

/* Binds args[0..n) to parameters 1..n; _at to first..first+n-1 (for
 * statements that insert several rows). */
void store_sq_bind(struct sq_stmt *st, const struct sq_bind *args, size_t n);
void store_sq_bind_at(struct sq_stmt *st, int first, const struct sq_bind *args, size_t n);
/* store_sq_stmt with its parameters bound; NULL (err set) when it does not
 * prepare. */
struct sq_stmt *store_sq_stmt_bind(struct sq_conn *c, const char *sql, const struct sq_bind *args,
                                 size_t n, struct cap_error *err);
/* Prepares (cached), binds and runs a statement that returns no rows. */
int store_sq_run(struct sq_conn *c, const char *sql, const struct sq_bind *args, size_t n,
                 struct cap_error *err, const char *what);
/* Runs an INSERT ... RETURNING <key> (cached): 1 with *id set when it
 * inserted a row, 0 when it inserted none (ON CONFLICT DO NOTHING). Both
 * engines return the key this way; neither's last-insert-id is portable. */
int store_sq_insert_id(struct sq_conn *c, const char *sql, const struct sq_bind *args, size_t n,
                       int64_t *id, struct cap_error *err, const char *what);
void store_sq_bind_text(struct sq_stmt *st, int i, const char *s);   /* NULL binds NULL */
const char *store_sq_col_text(struct sq_stmt *st, int i);            /* NULL stays NULL */
bool store_sq_parse_id(const char *s, int64_t *out);               /* decimal experiment id */

/* Page tokens: base64 of {"offset":N}. */
char *store_sq_page_token(int64_t offset);
int store_sq_page_offset(const char *token, int64_t *offset, struct cap_error *err);

/* Appends [{key, value}, ...] rows of a (key, value) statement to obj[name]
 * when there are any; the statement is stepped to the end and reset. */
int store_sq_kv_array(struct sq_conn *c, struct sq_stmt *st, cJSON *obj, const char *name,
                      struct cap_error *err);
/* A generated "<adjective>-<noun>-<number>" name; free() it. */
char *store_sq_random_name(void);

/* ---- the operations ----
 * Every operation of store_ops.def is implemented as store_sq_<name> in the
 * file of its area: store_sqlite_exp.c (experiments), _runs.c (runs,
 * metrics), _search.c (run, experiment and logged-model search), _models.c
 * (logged models), _registry.c and _registry_search.c (model registry),
 * _serving.c (deployments), _data.c (datasets), _predictions.c (the prediction log), _monitor.c
 * (the live monitor's windows), _baselines.c (the monitor's reference
 * baselines), _alerts.c (alert rules, their streaks and events) and
 * _pipeline.c (pipeline schedules and their runs). */
#define STORE_SELF void *impl
#define STORE_OP(name, params, args, ...) int store_sq_##name params;
#include "store/store_ops.def"
#undef STORE_OP
#undef STORE_SELF

/* ---- store_schema.c ---- */
#define STORE_SCHEMA_VERSION 14
int store_sq_migrate(struct sq_conn *c, const char *artifact_prefix, struct cap_error *err);

/* ---- store_sqlite_predictions.c: the prediction log ---- */
/* Migration 5's step: the log rows of schema 4 rewritten as segments. */
int store_sq_predictions_upgrade(struct sq_conn *c, struct cap_error *err);
/* store_sqlite_keys.c: the prediction log's id index in memory. fn gets
 * each segment that may hold keys[i] (a false match is possible: decode
 * the segment to be sure). */
typedef void (*store_sq_key_fn)(void *cls, size_t i, int64_t seg);
struct sq_keys *store_sq_keys_new(void);
void store_sq_keys_free(struct sq_keys *k);
int store_sq_keys_lookup(struct sq_keys *k, struct sq_conn *c, const char *deployment,
                         const int64_t *keys, size_t n, store_sq_key_fn fn, void *cls,
                         struct cap_error *err);
/* Migration 7's step: prediction_keys for the segments already logged. */
int store_sq_prediction_keys_backfill(struct sq_conn *c, struct cap_error *err);

/* ---- store_sqlite_exp.c ---- */
/* Checks that experiment id exists (-CAP_ENOTFOUND) and is active
 * (-CAP_EINVAL); location (may be NULL) gets its artifact_location. */
int store_sq_experiment_active(struct sq_conn *c, const char *id, int64_t *eid, char **location,
                               struct cap_error *err);
/* Builds an Experiment from a row of SQ_EXP_COLUMNS plus its tags. */
#define SQ_EXP_COLUMNS                                                                    \
    "experiment_id, name, artifact_location, lifecycle_stage, creation_time, "            \
    "last_update_time"
int store_sq_experiment_json(struct sq_conn *c, struct sq_stmt *row, cJSON **out,
                             struct cap_error *err);

/* ---- store_sqlite_runs.c ---- */
/* Columns of runs every Run/RunInfo is built from (alias r). */
#define SQ_RUN_COLUMNS                                                                    \
    "r.rid, r.run_uuid, r.name, r.experiment_id, r.user_id, r.status, r.start_time, "     \
    "r.end_time, r.artifact_uri, r.lifecycle_stage"
cJSON *store_sq_run_info_json(struct sq_stmt *row);
void store_sq_runs_sql_init(struct sq *s);
void store_sq_runs_sql_free(struct sq *s);
/* Fills data/inputs/outputs of n runs (rids[i] belongs to runs[i]) with a
 * handful of queries; runs are Run objects with "info" already set. */
int store_sq_runs_fill(struct sq_conn *c, const int64_t *rids, cJSON **runs, size_t n,
                       struct cap_error *err);

/* ---- store_sqlite_models.c ---- */
#define SQ_MODEL_COLUMNS                                                                  \
    "lm.model_id, lm.experiment_id, lm.name, lm.artifact_uri, lm.status, "                 \
    "lm.creation_time, lm.last_updated_time, lm.source_run_id, lm.model_type, "            \
    "lm.lifecycle_stage"
int store_sq_logged_model_json(struct sq_conn *c, struct sq_stmt *row, cJSON **out,
                               struct cap_error *err);
/* Adds {"name": name, "version": version} to the logged model's
 * mlflow.modelVersions tag (a JSON list, as MLflow writes it), inside the
 * caller's transaction; -CAP_ENOTFOUND when there is no such model. */
int store_sq_logged_model_note_version(struct sq_conn *c, const char *model_id, const char *name,
                                       int64_t version, struct cap_error *err);

/* ---- store_sqlite_registry.c: the model registry ---- */
/* A RegisteredModel from a row of SQ_RM_COLUMNS (alias rm), with its
 * latest_versions, tags and aliases. */
#define SQ_RM_COLUMNS                                                                     \
    "rm.model_key, rm.name, rm.creation_time, rm.last_updated_time, rm.user_id, "          \
    "rm.description"
int store_sq_registered_model_json(struct sq_conn *c, struct sq_stmt *row, cJSON **out,
                                   struct cap_error *err);
/* A ModelVersion from a row of SQ_MV_COLUMNS (model_versions mv JOIN
 * registered_models rm), with its tags and aliases. */
#define SQ_MV_COLUMNS                                                                     \
    "mv.mv_id, mv.model_key, rm.name, mv.version, mv.creation_time, "                      \
    "mv.last_updated_time, mv.user_id, mv.current_stage, mv.description, mv.source, "      \
    "mv.run_id, mv.status, mv.status_message, mv.run_link, mv.model_id"
int store_sq_model_version_json(struct sq_conn *c, struct sq_stmt *row, cJSON **out,
                                struct cap_error *err);

/* ---- query builder (store_sqlite_query.c) ---- */

struct sq_query {
    struct cap_buf sql;
    struct sq_bind *b;
    size_t n, cap;
    char **owned;   /* strings made here (numbers printed as text) */
    size_t nowned;
};

void store_sq_query_init(struct sq_query *q);
void store_sq_query_free(struct sq_query *q);
void store_sq_query_sql(struct sq_query *q, const char *s);
void store_sq_query_text(struct sq_query *q, const char *s);   /* binds s: it must outlive q */
void store_sq_query_int(struct sq_query *q, int64_t i);
void store_sq_query_num(struct sq_query *q, double d);
const char *store_sq_query_own(struct sq_query *q, char *s);  /* q frees s */
struct sq_stmt *store_sq_query_prepare(struct sq_conn *c, struct sq_query *q, struct cap_error *err);
/* Appends "<col> <op> <value(s)>" for one filter condition; numeric says
 * whether col holds numbers (text values are then parsed, or refused). */
int store_sq_query_cmp(struct sq_query *q, const char *col, const struct filter_cond *c,
                       bool numeric, struct cap_error *err);
/* Steps a page query that asked for max + 1 rows: up to max rows become
 * JSON through row_json and are appended to list; the extra row, if any,
 * means another page, and *next_token is set to the token for it. */
typedef int (*sq_row_json)(struct sq_conn *c, struct sq_stmt *row, cJSON **out,
                           struct cap_error *err);
int store_sq_query_page(struct sq_conn *c, struct sq_stmt *st, int max, int64_t offset,
                        sq_row_json row_json, cJSON *list, char **next_token, const char *what,
                        struct cap_error *err);

#endif
