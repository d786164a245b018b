/* store_sqlite_monitor.c - the live monitor's windows and state in SQLite
 * (migration 6). A window's result is the monitor's JSON, kept as text and
 * parsed only when read; its profile is an opaque blob that longer windows
 * are rolled up from. Windows and the monitor's cursors are written in one
 * transaction: after a crash either both are there or neither is, so the
 * monitor never counts a row twice or skips one. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite.h"

struct put_job {
    const struct store_window *w;
    size_t n;
    const struct store_state_int *state;
    size_t nstate;
    int64_t *ids;
};

static int put_window(struct sq_conn *c, const struct store_window *w, int64_t *id,
                      struct cap_error *err)
{
    int64_t new_id = 0;
    int rc = store_sq_run(c,
                          "DELETE FROM monitor_windows WHERE deployment = ? AND width_s = ? AND "
                          "start_ms = ?",
                          SQ_ARGS(SQ_TEXT(w->deployment), SQ_INT(w->width_s), SQ_INT(w->start_ms)),
                          err, "replacing a monitoring window");
    if (rc == 0)
        rc = store_sq_insert_id(c,
                          "INSERT INTO monitor_windows(deployment, width_s, start_ms, end_ms, "
                          "nrows, result, profile) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                          SQ_ARGS(SQ_TEXT(w->deployment), SQ_INT(w->width_s),
                                  SQ_INT(w->start_ms), SQ_INT(w->end_ms), SQ_INT(w->nrows),
                                  SQ_TEXT(w->result_json),
                                  w->profile ? (struct sq_bind)SQ_BLOB(w->profile, w->profile_len)
                                             : (struct sq_bind)SQ_NULL),
                          &new_id, err, "storing a monitoring window");
    if (rc >= 0 && id)
        *id = new_id;
    return rc < 0 ? rc : 0;
}

static int job_put(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct put_job *a = arg;
    int rc = 0;
    for (size_t i = 0; i < a->n && rc == 0; i++)
        rc = put_window(c, &a->w[i], a->ids ? &a->ids[i] : NULL, err);
    for (size_t i = 0; i < a->nstate && rc == 0; i++)
        rc = store_sq_run(c,
                          "INSERT INTO monitor_state(key, value) VALUES (?, ?) "
                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                          SQ_ARGS(SQ_TEXT(a->state[i].key), SQ_INT(a->state[i].value)), err,
                          "storing the monitor's state");
    return rc;
}

int store_sq_monitor_windows_put(void *impl, const struct store_window *w, size_t n,
                                 const struct store_state_int *state, size_t nstate,
                                 int64_t *ids, struct cap_error *err)
{
    struct put_job a = {.w = w, .n = n, .state = state, .nstate = nstate, .ids = ids};
    return n + nstate == 0 ? 0 : store_sq_write(impl, job_put, &a, err);
}

/* Runs fn over the rows of one read-only statement in a read snapshot. */
typedef int (*rows_fn)(void *cls, struct sq_stmt *st, struct cap_error *err);

struct rows_job {
    const char *sql, *what;
    const struct sq_bind *args;
    size_t nargs;
    rows_fn fn;
    void *cls;
};

static int job_rows(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct rows_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(c, a->sql, a->args, a->nargs, err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0, step;
    while ((step = sq_step(st)) == SQ_ROW && (rc = a->fn(a->cls, st, err)) == 0)
        ;
    if (rc == 0 && step != SQ_DONE)
        rc = store_sq_dberr(c, err, a->what);
    sq_reset(st);
    return rc;
}

static int read_rows(struct sq *s, const char *sql, const struct sq_bind *args, size_t nargs,
                     rows_fn fn, void *cls, const char *what, struct cap_error *err)
{
    struct rows_job a = {.sql = sql, .what = what, .args = args, .nargs = nargs, .fn = fn,
                         .cls = cls};
    return store_sq_read(s, job_rows, &a, err);
}

static int window_json(void *cls, struct sq_stmt *st, struct cap_error *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)sq_col_int(st, 0));
    cJSON_AddStringToObject(o, "deployment", store_sq_col_text(st, 1));
    cJSON_AddNumberToObject(o, "width_s", (double)sq_col_int(st, 2));
    cJSON_AddNumberToObject(o, "start_ms", (double)sq_col_int(st, 3));
    cJSON_AddNumberToObject(o, "end_ms", (double)sq_col_int(st, 4));
    cJSON_AddNumberToObject(o, "rows", (double)sq_col_int(st, 5));
    cJSON *r = cJSON_Parse(store_sq_col_text(st, 6));
    cJSON_AddItemToObject(o, "result", r ? r : cJSON_CreateNull());
    cJSON_AddItemToArray(cls, o);
    return 0;
}

int store_sq_monitor_windows_search(void *impl, const char *deployment, int64_t width_s,
                                    int64_t from_ms, int64_t to_ms, int max_results,
                                    bool newest_first, cJSON **out, struct cap_error *err)
{
#define WINDOWS_SQL                                                                         \
    "SELECT id, deployment, width_s, start_ms, end_ms, nrows, result "                      \
    "FROM monitor_windows WHERE deployment = ?1 AND (?2 = 0 OR width_s = ?2) "              \
    "AND start_ms >= ?3 AND start_ms < ?4 "
    cJSON *arr = cJSON_CreateArray();
    int rc = read_rows(impl,
                       newest_first ? WINDOWS_SQL "ORDER BY start_ms DESC, width_s DESC LIMIT ?5"
                                    : WINDOWS_SQL "ORDER BY start_ms, width_s LIMIT ?5",
                       SQ_ARGS(SQ_TEXT(deployment), SQ_INT(width_s), SQ_INT(from_ms),
                               SQ_INT(to_ms), SQ_INT(max_results)),
                       window_json, arr, "searching monitoring windows", err);
    if (rc < 0) {
        cJSON_Delete(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

struct profiles_job {
    store_window_profile_fn fn;
    void *cls;
};

static int profile_row(void *cls, struct sq_stmt *st, struct cap_error *err)
{
    struct profiles_job *a = cls;
    return a->fn(a->cls, sq_col_int(st, 0), sq_col_blob(st, 1),
                 (size_t)sq_col_bytes(st, 1), err);
}

int store_sq_monitor_window_profiles(void *impl, const char *deployment, int64_t width_s,
                                     int64_t from_ms, int64_t to_ms, store_window_profile_fn fn,
                                     void *cls, struct cap_error *err)
{
    struct profiles_job a = {.fn = fn, .cls = cls};
    return read_rows(impl,
                     "SELECT start_ms, profile FROM monitor_windows WHERE deployment = ? AND "
                     "width_s = ? AND start_ms >= ? AND start_ms < ? AND profile IS NOT NULL "
                     "ORDER BY start_ms",
                     SQ_ARGS(SQ_TEXT(deployment), SQ_INT(width_s), SQ_INT(from_ms), SQ_INT(to_ms)),
                     profile_row, &a, "reading monitoring profiles", err);
}

struct state_job {
    int64_t *value;
    bool *found;
};

static int state_row(void *cls, struct sq_stmt *st, struct cap_error *err)
{
    struct state_job *a = cls;
    *a->value = sq_col_int(st, 0);
    *a->found = true;
    return 0;
}

int store_sq_monitor_state_get(void *impl, const char *key, int64_t *value, bool *found,
                               struct cap_error *err)
{
    struct state_job a = {.value = value, .found = found};
    return read_rows(impl, "SELECT value FROM monitor_state WHERE key = ?",
                     SQ_ARGS(SQ_TEXT(key)), state_row, &a, "reading the monitor's state", err);
}
