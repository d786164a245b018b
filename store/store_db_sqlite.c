/* store_db_sqlite.c - the SQLite driver of the SQL store (store_db.h): the
 * default engine, one embedded file. The connection pragmas that make it
 * durable and concurrent live here: WAL so readers run beside the writer,
 * synchronous=FULL so an acknowledged write survives power loss. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store_db.h"

#define SQ_BUSY_TIMEOUT_MS 30000

struct lite_db {
    struct sq_db base;
    sqlite3 *db;
};

struct lite_stmt {
    struct sq_stmt base;
    sqlite3_stmt *st;
};

static sqlite3 *lite(struct sq_db *db)
{
    return ((struct lite_db *)db)->db;
}

static sqlite3_stmt *lst(struct sq_stmt *st)
{
    return ((struct lite_stmt *)st)->st;
}

static int lite_exec(struct sq_db *db, const char *sql)
{
    return sqlite3_exec(lite(db), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : SQ_ERROR;
}

/* Pragmas per connection. foreign_keys is per connection; case_sensitive_like
 * gives LIKE MLflow's case-sensitive meaning (ILIKE is LOWER() LIKE LOWER()),
 * which is also PostgreSQL's. */
static int lite_pragmas(sqlite3 *db, bool writer, const char *path, struct cap_error *err)
{
    const char *common = "PRAGMA foreign_keys=ON;"
                         "PRAGMA case_sensitive_like=ON;"
                         "PRAGMA temp_store=MEMORY;"
                         "PRAGMA mmap_size=268435456;";
    const char *own = writer ? "PRAGMA synchronous=FULL;"
                               "PRAGMA cache_size=-65536;"
                               "PRAGMA journal_size_limit=67108864;"
                             : "PRAGMA cache_size=-16384;";
    if (sqlite3_exec(db, common, NULL, NULL, NULL) != SQLITE_OK)
        return cap_err(err, CAP_EINTERNAL, "Cannot set up database '%s': %s", path,
                       sqlite3_errmsg(db));
    if (writer) {
        sqlite3_stmt *st = NULL;
        bool wal = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
                   sqlite3_step(st) == SQLITE_ROW &&
                   strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
        sqlite3_finalize(st);
        if (!wal)
            return cap_err(err, CAP_EINTERNAL, "Cannot switch database '%s' to WAL mode: %s",
                           path, sqlite3_errmsg(db));
    }
    if (sqlite3_exec(db, own, NULL, NULL, NULL) != SQLITE_OK)
        return cap_err(err, CAP_EINTERNAL, "Cannot set up database '%s': %s", path,
                       sqlite3_errmsg(db));
    return 0;
}

static void lite_close(struct sq_db *db)
{
    if (!db)
        return;
    if (sqlite3_close(lite(db)) != SQLITE_OK)
        cap_log(CAP_LOG_WARN, "store: closing a connection: %s", sqlite3_errmsg(lite(db)));
    free(db);
}

static int lite_open(const char *path, bool writer, struct sq_db **out, struct cap_error *err)
{
    struct lite_db *d = cap_xcalloc(1, sizeof *d);
    d->base.drv = &store_db_sqlite;
    int flags = SQLITE_OPEN_NOMUTEX |
                (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
    if (sqlite3_open_v2(path, &d->db, flags, NULL) != SQLITE_OK) {
        int rc = cap_err(err, CAP_EINTERNAL, "Cannot open database '%s': %s", path,
                         d->db ? sqlite3_errmsg(d->db) : "out of memory");
        sqlite3_close(d->db);
        free(d);
        return rc;
    }
    sqlite3_extended_result_codes(d->db, 1);
    sqlite3_busy_timeout(d->db, SQ_BUSY_TIMEOUT_MS);
    int rc = lite_pragmas(d->db, writer, path, err);
    if (rc < 0) {
        lite_close(&d->base);
        return rc;
    }
    *out = &d->base;
    return 0;
}

/* Let the planner keep good statistics, then fold the WAL back into the
 * database so the file is complete on its own. */
static void lite_tidy(struct sq_db *db)
{
    sqlite3_exec(lite(db), "PRAGMA analysis_limit=10000; PRAGMA optimize", NULL, NULL, NULL);
    if (sqlite3_exec(lite(db), "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
        cap_log(CAP_LOG_WARN, "store: final checkpoint failed: %s", sqlite3_errmsg(lite(db)));
}

static struct sq_stmt *lite_prepare(struct sq_db *db, const char *sql, bool persistent)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(lite(db), sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &st,
                                NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    struct lite_stmt *s = cap_xcalloc(1, sizeof *s);
    s->base.drv = &store_db_sqlite;
    s->st = st;
    return &s->base;
}

static void lite_finalize(struct sq_stmt *st)
{
    sqlite3_finalize(lst(st));
    free(st);
}

static void lite_bind(struct sq_stmt *st, int idx, const struct sq_bind *b)
{
    sqlite3_stmt *s = lst(st);
    switch (b->kind) {
    case SQ_B_INT:
        sqlite3_bind_int64(s, idx, b->i);
        break;
    case SQ_B_DBL:
        sqlite3_bind_double(s, idx, b->d);
        break;
    case SQ_B_TEXT:
        if (b->s)
            sqlite3_bind_text(s, idx, b->s, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(s, idx);
        break;
    case SQ_B_BLOB:
        sqlite3_bind_blob64(s, idx, b->blob, b->len, SQLITE_STATIC);
        break;
    case SQ_B_NULL:
        sqlite3_bind_null(s, idx);
        break;
    }
}

static int lite_step(struct sq_stmt *st)
{
    int rc = sqlite3_step(lst(st));
    return rc == SQLITE_ROW         ? SQ_ROW
           : rc == SQLITE_DONE      ? SQ_DONE
           : rc == SQLITE_INTERRUPT ? SQ_INTERRUPTED
                                    : SQ_ERROR;
}

static void lite_reset(struct sq_stmt *st)
{
    sqlite3_reset(lst(st));
    sqlite3_clear_bindings(lst(st));
}

static bool lite_col_null(struct sq_stmt *st, int i)
{
    return sqlite3_column_type(lst(st), i) == SQLITE_NULL;
}

static int64_t lite_col_int(struct sq_stmt *st, int i)
{
    return sqlite3_column_int64(lst(st), i);
}

static double lite_col_dbl(struct sq_stmt *st, int i)
{
    return sqlite3_column_double(lst(st), i);
}

static const char *lite_col_text(struct sq_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(lst(st), i);
}

static const void *lite_col_blob(struct sq_stmt *st, int i)
{
    return sqlite3_column_blob(lst(st), i);
}

static size_t lite_col_bytes(struct sq_stmt *st, int i)
{
    return (size_t)sqlite3_column_bytes(lst(st), i);
}

static int64_t lite_changes(struct sq_db *db)
{
    return sqlite3_changes64(lite(db));
}

static const char *lite_errmsg(struct sq_db *db)
{
    return sqlite3_errmsg(lite(db));
}

/* SQLITE_FULL; or an I/O error whose errno says the disk (or the user's
 * quota) is full: a WAL append that fails is reported as SQLITE_IOERR. */
static bool lite_full(struct sq_db *db)
{
    int e = sqlite3_extended_errcode(lite(db));
    int os = sqlite3_system_errno(lite(db));
    return (e & 0xff) == SQLITE_FULL || ((e & 0xff) == SQLITE_IOERR && (os == ENOSPC || os == EDQUOT));
}

static bool lite_in_txn(struct sq_db *db)
{
    return !sqlite3_get_autocommit(lite(db));
}

static int budget_exceeded(void *arg)
{
    return cap_mono_s() > *(const double *)arg;
}

static void lite_budget(struct sq_db *db, const double *deadline)
{
    if (deadline)
        sqlite3_progress_handler(lite(db), 2000, budget_exceeded, (void *)deadline);
    else
        sqlite3_progress_handler(lite(db), 0, NULL, NULL);
}

const struct sq_driver store_db_sqlite = {
    .name = "sqlite",
    .open = lite_open,
    .tidy = lite_tidy,
    .close = lite_close,
    .prepare = lite_prepare,
    .finalize = lite_finalize,
    .bind = lite_bind,
    .step = lite_step,
    .reset = lite_reset,
    .col_null = lite_col_null,
    .col_int = lite_col_int,
    .col_dbl = lite_col_dbl,
    .col_text = lite_col_text,
    .col_blob = lite_col_blob,
    .col_bytes = lite_col_bytes,
    .changes = lite_changes,
    .exec = lite_exec,
    .exec_ddl = lite_exec,
    .errmsg = lite_errmsg,
    .full = lite_full,
    .in_txn = lite_in_txn,
    .begin_write = "BEGIN IMMEDIATE",
    .begin_read = "BEGIN",
    .budget = lite_budget,
    .sql_int_list = "(SELECT value FROM json_each(?))",
    .sql_kv_array = "json_group_array(json_object('key', t.key, 'value', t.value))",
    .sql_join_in_order = " CROSS JOIN ",
};
