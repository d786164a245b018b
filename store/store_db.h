/* store_db.h - the SQL engines under the SQL store. The store's logic
 * (store_sqlite*.c: the writer thread, the read pool, every operation) is
 * written once against this small interface; a driver gives it one engine:
 * store_db_sqlite.c (the default, an embedded file) or store_db_pg.c
 * (PostgreSQL through libpq, for several replicas sharing one database).
 *
 * The shared SQL is the dialect both engines accept: ? placeholders
 * (the PostgreSQL driver numbers them), INSERT ... ON CONFLICT, RETURNING,
 * CASE rather than two-argument MAX. What cannot be shared is a driver op:
 * opening, the write and read transactions' BEGIN, the schema's type names
 * (store_db_pg.c maps SQLite's DDL) and the run-search time budget.
 * Internal to store/. */
#ifndef CAP_STORE_DB_H
#define CAP_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* sq_step's results; errors are negative and sq_errmsg says why. */
enum { SQ_DONE = 0, SQ_ROW = 1, SQ_ERROR = -1, SQ_INTERRUPTED = -2 };

/* A bound value: see SQ_ARGS in store_sqlite.h. */
enum sq_bind_kind { SQ_B_INT, SQ_B_DBL, SQ_B_TEXT, SQ_B_BLOB, SQ_B_NULL };

struct sq_bind {
    enum sq_bind_kind kind;
    int64_t i;
    double d;
    const char *s;
    const void *blob;
    size_t len;
};

struct sq_driver;
/* A connection and a statement; each driver's own structs begin with these. */
struct sq_db {
    const struct sq_driver *drv;
};
struct sq_stmt {
    const struct sq_driver *drv;
};

struct sq_driver {
    const char *name;
    /* Opens a connection to target (a file path, a libpq URI). The writer
     * may create the database; readers see only committed data. */
    int (*open)(const char *target, bool writer, struct sq_db **out, struct cap_error *err);
    /* Writer only, before close: leave the database tidy (SQLite folds its
     * WAL back); failures are only logged. */
    void (*tidy)(struct sq_db *db);
    void (*close)(struct sq_db *db);
    /* One statement; persistent ones are kept for the connection's life
     * (the statement cache), others are finalized after use. */
    struct sq_stmt *(*prepare)(struct sq_db *db, const char *sql, bool persistent);
    void (*finalize)(struct sq_stmt *st);
    /* Binds b to the idx-th ? (from 1); text and blobs are not copied and
     * must outlive the step. */
    void (*bind)(struct sq_stmt *st, int idx, const struct sq_bind *b);
    int (*step)(struct sq_stmt *st);
    /* Back to before the first step, bindings cleared. */
    void (*reset)(struct sq_stmt *st);
    bool (*col_null)(struct sq_stmt *st, int i);
    int64_t (*col_int)(struct sq_stmt *st, int i);
    double (*col_dbl)(struct sq_stmt *st, int i);
    const char *(*col_text)(struct sq_stmt *st, int i);   /* NULL for NULL */
    const void *(*col_blob)(struct sq_stmt *st, int i);
    size_t (*col_bytes)(struct sq_stmt *st, int i);
    /* Rows changed by the connection's last INSERT, UPDATE or DELETE. */
    int64_t (*changes)(struct sq_db *db);
    /* Runs statements without parameters (DDL, transaction control). */
    int (*exec)(struct sq_db *db, const char *sql);
    /* Runs one migration's DDL, written in SQLite's dialect. */
    int (*exec_ddl)(struct sq_db *db, const char *sql);
    const char *(*errmsg)(struct sq_db *db);
    /* Whether a transaction is open (false after the engine ended one on
     * its own, e.g. SQLite on a full disk). */
    bool (*in_txn)(struct sq_db *db);
    /* The statements that open the writer's group transaction (run with exec:
     * it may be several) and a read snapshot (one statement, cached). */
    const char *begin_write;
    const char *begin_read;
    /* Makes steps on db fail with SQ_INTERRUPTED once cap_mono_s() passes
     * *deadline; NULL lifts it. A driver without it ignores the call (the
     * query then runs to its end). */
    void (*budget)(struct sq_db *db, const double *deadline);
    /* Whether the last error was a value the engine refuses to store (then
     * the caller's input was wrong: 400, not 500); NULL: never. */
    bool (*bad_value)(struct sq_db *db);
    /* Whether the last error was the engine being out of reach (a lost
     * connection, a server shutting down): 503, worth a retry; NULL: never. */
    bool (*unavailable)(struct sq_db *db);
    /* Whether the last error was the disk being full (507: nothing of the
     * request was stored; it may be sent again once there is room); NULL:
     * never. */
    bool (*full)(struct sq_db *db);
    /* SQL that each engine spells its own way, spliced into the statements
     * the store builds once at open:
     * sql_int_list  a subquery of the integers in one ? that holds a JSON
     *               array ("[1,2,3]"): one cached statement for any count;
     * sql_kv_array  an aggregate over rows t: the JSON array text of
     *               {"key": t.key, "value": t.value} (NULL or [] if none). */
    const char *sql_int_list;
    const char *sql_kv_array;
    /* sql_join_in_order  " JOIN " that keeps the written join order where
     *               the engine has a way to say so (SQLite's CROSS JOIN). */
    const char *sql_join_in_order;
};

extern const struct sq_driver store_db_sqlite;
extern const struct sq_driver store_db_pg;

static inline int sq_step(struct sq_stmt *st)
{
    return st->drv->step(st);
}
static inline void sq_reset(struct sq_stmt *st)
{
    st->drv->reset(st);
}
static inline void sq_finalize(struct sq_stmt *st)
{
    if (st)
        st->drv->finalize(st);
}
static inline bool sq_col_null(struct sq_stmt *st, int i)
{
    return st->drv->col_null(st, i);
}
static inline int64_t sq_col_int(struct sq_stmt *st, int i)
{
    return st->drv->col_int(st, i);
}
static inline double sq_col_dbl(struct sq_stmt *st, int i)
{
    return st->drv->col_dbl(st, i);
}
static inline const void *sq_col_blob(struct sq_stmt *st, int i)
{
    return st->drv->col_blob(st, i);
}
static inline size_t sq_col_bytes(struct sq_stmt *st, int i)
{
    return st->drv->col_bytes(st, i);
}
static inline int64_t sq_changes(struct sq_db *db)
{
    return db->drv->changes(db);
}
static inline const char *sq_errmsg(struct sq_db *db)
{
    return db->drv->errmsg(db);
}
static inline int sq_exec(struct sq_db *db, const char *sql)
{
    return db->drv->exec(db, sql);
}
static inline bool sq_in_txn(struct sq_db *db)
{
    return db->drv->in_txn(db);
}

#endif
