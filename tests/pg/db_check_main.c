/* db_check_main.c - store_db_pg.c against a real PostgreSQL, one check per
 * run: db_check_main CHECK URI [URI2] (CHECK ddl_stdin: runs the SQLite DDL
 * on stdin through exec_ddl). tests/integration/test_store_db_pg.py
 * starts the cluster (tests/pg_cluster.py) and runs every check. Prints
 * "ok CHECK" and exits 0, or says what differed and exits 1. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "store/store_db.h"

static const struct sq_driver *D = &store_db_pg;
static int failures;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)
#define CHECK_STR(a, b)                                                                        \
    do {                                                                                       \
        const char *a_ = (a), *b_ = (b);                                                       \
        if (!a_ || strcmp(a_, b_)) {                                                           \
            fprintf(stderr, "%s:%d: got '%s', want '%s'\n", __FILE__, __LINE__,                \
                    a_ ? a_ : "(null)", b_);                                                   \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)
#define CHECK_HAS(s, sub)                                                                      \
    do {                                                                                       \
        const char *s_ = (s);                                                                  \
        if (!s_ || !strstr(s_, (sub))) {                                                       \
            fprintf(stderr, "%s:%d: '%s' lacks '%s'\n", __FILE__, __LINE__,                    \
                    s_ ? s_ : "(null)", (sub));                                                \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

static struct sq_db *open_db(const char *uri, bool writer)
{
    struct sq_db *db = NULL;
    struct cap_error err = {0};
    if (D->open(uri, writer, &db, &err) != 0) {
        fprintf(stderr, "open failed: %s\n", err.msg);
        exit(1);
    }
    return db;
}

static void exec_ok(struct sq_db *db, const char *sql)
{
    if (D->exec(db, sql) != 0) {
        fprintf(stderr, "exec '%s' failed: %s\n", sql, D->errmsg(db));
        exit(1);
    }
}

static void ddl_ok(struct sq_db *db, const char *sql)
{
    if (D->exec_ddl(db, sql) != 0) {
        fprintf(stderr, "exec_ddl '%s' failed: %s\n", sql, D->errmsg(db));
        exit(1);
    }
}

static struct sq_stmt *prep(struct sq_db *db, const char *sql, bool persistent)
{
    struct sq_stmt *st = D->prepare(db, sql, persistent);
    if (!st) {
        fprintf(stderr, "prepare '%s' failed: %s\n", sql, D->errmsg(db));
        exit(1);
    }
    return st;
}

static void bind_int(struct sq_stmt *st, int i, int64_t v)
{
    struct sq_bind b = {.kind = SQ_B_INT, .i = v};
    D->bind(st, i, &b);
}
static void bind_dbl(struct sq_stmt *st, int i, double v)
{
    struct sq_bind b = {.kind = SQ_B_DBL, .d = v};
    D->bind(st, i, &b);
}
static void bind_text(struct sq_stmt *st, int i, const char *v)
{
    struct sq_bind b = {.kind = SQ_B_TEXT, .s = v};
    D->bind(st, i, &b);
}
static void bind_blob(struct sq_stmt *st, int i, const void *p, size_t n)
{
    struct sq_bind b = {.kind = SQ_B_BLOB, .blob = p, .len = n};
    D->bind(st, i, &b);
}
static void bind_null(struct sq_stmt *st, int i)
{
    struct sq_bind b = {.kind = SQ_B_NULL};
    D->bind(st, i, &b);
}

/* One value from a parameterless query, as text into buf ("NULL" for NULL). */
static const char *query1(struct sq_db *db, const char *sql, char *buf, size_t n)
{
    struct sq_stmt *st = prep(db, sql, false);
    int rc = D->step(st);
    if (rc != SQ_ROW)
        snprintf(buf, n, "step %d: %s", rc, D->errmsg(db));
    else
        snprintf(buf, n, "%s", D->col_null(st, 0) ? "NULL" : D->col_text(st, 0));
    D->finalize(st);
    return buf;
}

static int64_t count(struct sq_db *db, const char *sql)
{
    char buf[256];
    return strtoll(query1(db, sql, buf, sizeof buf), NULL, 10);
}

/* ? numbering, and ? inside literals, quoted identifiers and comments. */
static void check_placeholders(struct sq_db *db)
{
    struct sq_stmt *st = prep(db,
                              "SELECT ?, 'it''s ?' AS \"col?\", ? -- why?\n"
                              "/* and? */ , ?2 || '?', ?1",
                              false);
    bind_int(st, 1, 7);
    bind_text(st, 2, "x");
    CHECK(D->step(st) == SQ_ROW);
    CHECK(D->col_int(st, 0) == 7);
    CHECK_STR(D->col_text(st, 1), "it's ?");
    CHECK_STR(D->col_text(st, 2), "x");
    CHECK_STR(D->col_text(st, 3), "x?");
    CHECK(D->col_int(st, 4) == 7);
    CHECK(D->step(st) == SQ_DONE);
    D->finalize(st);
    /* SQLite's rule: a bare ? is one past the largest number so far */
    st = prep(db, "SELECT ?2, ?1, ?", false);
    for (int i = 1; i <= 3; i++)
        bind_int(st, i, i * 10);
    CHECK(D->step(st) == SQ_ROW);
    CHECK(D->col_int(st, 0) == 20 && D->col_int(st, 1) == 10 && D->col_int(st, 2) == 30);
    D->finalize(st);
    CHECK(D->prepare(db, "SELECT ?0", false) == NULL);
    CHECK_HAS(D->errmsg(db), "parameter number 0");
    CHECK(D->prepare(db, "SELECT ?70000", true) == NULL);
    /* an index the statement does not have fails the step, with the reason */
    st = prep(db, "SELECT ?", false);
    bind_int(st, 2, 1);
    CHECK(D->step(st) == SQ_ERROR);
    CHECK_HAS(D->errmsg(db), "parameter 2 bound");
    D->finalize(st);
}

static void check_ints(struct sq_db *db)
{
    ddl_ok(db, "CREATE TABLE ints (v INTEGER NOT NULL)");
    const int64_t vals[] = {INT64_MIN, -1, 0, 1, (int64_t)1 << 40, INT64_MAX};
    struct sq_stmt *ins = prep(db, "INSERT INTO ints(v) VALUES (?)", true);
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        bind_int(ins, 1, vals[i]);
        CHECK(D->step(ins) == SQ_DONE);
        D->reset(ins);
    }
    D->finalize(ins);
    struct sq_stmt *st = prep(db, "SELECT v, v + 0 FROM ints ORDER BY v", false);
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        CHECK(D->step(st) == SQ_ROW);
        CHECK(D->col_int(st, 0) == vals[i]);
        CHECK(D->col_int(st, 1) == vals[i]);
    }
    CHECK(D->step(st) == SQ_DONE);
    D->finalize(st);
    st = prep(db, "SELECT true, false, 2.75::float8, ? + 1", false);
    bind_int(st, 1, (int64_t)1 << 40);  /* int8 arithmetic, not int4 */
    CHECK(D->step(st) == SQ_ROW);
    CHECK(D->col_int(st, 0) == 1 && D->col_int(st, 1) == 0 && D->col_int(st, 2) == 2);
    CHECK(D->col_int(st, 3) == ((int64_t)1 << 40) + 1);
    D->finalize(st);
}

static bool same_double(double a, double b)
{
    return isnan(a) ? isnan(b) : memcmp(&a, &b, sizeof a) == 0;
}

static void check_doubles(struct sq_db *db)
{
    ddl_ok(db, "CREATE TABLE dbls (i INTEGER, v REAL)");
    const double vals[] = {0.1,      -0.0,     1e-300,    5e-324,  1.7976931348623157e308,
                           NAN,      INFINITY, -INFINITY, M_PI,    -2.5e-308,
                           1.0 / 3.0};
    const size_t n = sizeof vals / sizeof *vals;
    struct sq_stmt *ins = prep(db, "INSERT INTO dbls(i, v) VALUES (?, ?)", true);
    for (size_t i = 0; i < n; i++) {
        bind_int(ins, 1, (int64_t)i);
        bind_dbl(ins, 2, vals[i]);
        if (D->step(ins) != SQ_DONE)
            fprintf(stderr, "insert %.17g: %s\n", vals[i], D->errmsg(db)), failures++;
        D->reset(ins);
    }
    D->finalize(ins);
    struct sq_stmt *st = prep(db, "SELECT v, ? FROM dbls WHERE i = ?", true);
    for (size_t i = 0; i < n; i++) {
        bind_dbl(st, 1, vals[i]);
        bind_int(st, 2, (int64_t)i);
        CHECK(D->step(st) == SQ_ROW);
        double got = D->col_dbl(st, 0), echo = D->col_dbl(st, 1);
        if (!same_double(got, vals[i]) || !same_double(echo, vals[i]))
            fprintf(stderr, "double %.17g came back %.17g / %.17g ('%s')\n", vals[i], got, echo,
                    D->col_text(st, 0)),
                failures++;
        D->reset(st);
    }
    D->finalize(st);
}

static void check_text_and_nulls(struct sq_db *db)
{
    ddl_ok(db, "CREATE TABLE texts (i INTEGER, s TEXT, n INTEGER)");
    const char *vals[] = {"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x9a\x80", "it's \"quoted\"",
                          "back\\slash \\x00", "", "?", NULL};
    const size_t n = sizeof vals / sizeof *vals;
    struct sq_stmt *ins = prep(db, "INSERT INTO texts(i, s, n) VALUES (?, ?, ?)", true);
    for (size_t i = 0; i < n; i++) {
        bind_int(ins, 1, (int64_t)i);
        bind_text(ins, 2, vals[i]);
        if (i % 2)
            bind_null(ins, 3);  /* unknown type: inferred from the column */
        else
            bind_int(ins, 3, 5);
        CHECK(D->step(ins) == SQ_DONE);
        D->reset(ins);
    }
    D->finalize(ins);
    /* a typed NULL text can be tested with ? IS NULL */
    struct sq_stmt *st =
        prep(db, "SELECT s, n, ? IS NULL FROM texts WHERE i = ? AND (? IS NULL OR s = ?)", true);
    for (size_t i = 0; i < n; i++) {
        bind_text(st, 1, NULL);
        bind_int(st, 2, (int64_t)i);
        bind_text(st, 3, NULL);
        bind_text(st, 4, "unused");
        CHECK(D->step(st) == SQ_ROW);
        if (vals[i])
            CHECK_STR(D->col_text(st, 0), vals[i]);
        else
            CHECK(D->col_null(st, 0) && D->col_text(st, 0) == NULL);
        CHECK(D->col_null(st, 1) == (i % 2 == 1));
        CHECK(D->col_int(st, 2) == 1);
        CHECK(D->step(st) == SQ_DONE);
        D->reset(st);
    }
    D->finalize(st);
}

static void check_blobs(struct sq_db *db)
{
    ddl_ok(db, "CREATE TABLE blobs (i INTEGER, a BLOB, b BLOB)");
    unsigned char all[256], small[] = {0x00, 0x5c, 'x', 0xff, 0x00};
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    struct sq_stmt *ins = prep(db, "INSERT INTO blobs(i, a, b) VALUES (?, ?, ?)", true);
    bind_int(ins, 1, 1);
    bind_blob(ins, 2, all, sizeof all);
    bind_blob(ins, 3, small, sizeof small);
    CHECK(D->step(ins) == SQ_DONE);
    D->reset(ins);
    bind_int(ins, 1, 2);
    bind_blob(ins, 2, "", 0);
    bind_blob(ins, 3, NULL, 0);
    CHECK(D->step(ins) == SQ_DONE);
    D->finalize(ins);
    struct sq_stmt *st = prep(db, "SELECT a, b, 'abc' FROM blobs ORDER BY i", false);
    CHECK(D->step(st) == SQ_ROW);
    const void *a = D->col_blob(st, 0), *b = D->col_blob(st, 1);  /* both valid at once */
    CHECK(D->col_bytes(st, 0) == sizeof all && a && !memcmp(a, all, sizeof all));
    CHECK(D->col_bytes(st, 1) == sizeof small && b && !memcmp(b, small, sizeof small));
    CHECK(D->col_bytes(st, 2) == 3 && !memcmp(D->col_blob(st, 2), "abc", 3));
    CHECK(D->step(st) == SQ_ROW);
    CHECK(!D->col_null(st, 0) && D->col_bytes(st, 0) == 0 && D->col_blob(st, 0) == NULL);
    CHECK(D->col_null(st, 1) && D->col_bytes(st, 1) == 0);
    CHECK(D->step(st) == SQ_DONE);
    D->finalize(st);
}

static void check_changes(struct sq_db *db)
{
    ddl_ok(db, "CREATE TABLE ch (id INTEGER PRIMARY KEY, v INTEGER)");
    exec_ok(db, "INSERT INTO ch(v) VALUES (1), (2), (3)");
    CHECK(D->changes(db) == 3);
    struct sq_stmt *st = prep(db, "UPDATE ch SET v = v * 10 WHERE v > ?", false);
    bind_int(st, 1, 1);
    CHECK(D->step(st) == SQ_DONE);
    CHECK(D->changes(db) == 2);
    D->finalize(st);
    CHECK(count(db, "SELECT count(*) FROM ch") == 3);
    CHECK(D->changes(db) == 2);  /* a SELECT leaves it, as sqlite3_changes */
    st = prep(db, "INSERT INTO ch(v) VALUES (?) RETURNING id", true);
    bind_int(st, 1, 4);
    CHECK(D->step(st) == SQ_ROW);
    CHECK(D->col_int(st, 0) == 4);
    CHECK(D->step(st) == SQ_DONE);
    CHECK(D->changes(db) == 1);
    D->finalize(st);
    st = prep(db, "DELETE FROM ch WHERE v >= ? RETURNING id", false);
    bind_int(st, 1, 20);
    int rows = 0;
    while (D->step(st) == SQ_ROW)
        rows++;
    CHECK(rows == 2 && D->changes(db) == 2);
    D->finalize(st);
}

/* An error inside SAVEPOINT job, ROLLBACK TO job, and the transaction goes on. */
static void check_errors(struct sq_db *db)
{
    ddl_ok(db, "CREATE TABLE uq (name TEXT NOT NULL UNIQUE)");
    struct sq_stmt *ins = prep(db, "INSERT INTO uq(name) VALUES (?)", true);
    exec_ok(db, "BEGIN");
    CHECK(D->in_txn(db));
    exec_ok(db, "SAVEPOINT job");
    bind_text(ins, 1, "a");
    CHECK(D->step(ins) == SQ_DONE);
    D->reset(ins);
    bind_text(ins, 1, "a");
    CHECK(D->step(ins) == SQ_ERROR);
    CHECK_HAS(D->errmsg(db), "duplicate key value violates unique constraint");
    CHECK(strchr(D->errmsg(db), '\n') == NULL);
    D->reset(ins);
    CHECK(D->in_txn(db));  /* aborted, still open */
    exec_ok(db, "ROLLBACK TO job");
    bind_text(ins, 1, "b");
    CHECK(D->step(ins) == SQ_DONE);
    D->reset(ins);
    exec_ok(db, "RELEASE job");
    exec_ok(db, "COMMIT");
    CHECK(!D->in_txn(db));
    CHECK(count(db, "SELECT count(*) FROM uq") == 1);
    D->finalize(ins);
    /* a bad statement fails at its first step */
    struct sq_stmt *st = prep(db, "SELEC 1", true);
    CHECK(D->step(st) == SQ_ERROR);
    CHECK_HAS(D->errmsg(db), "syntax error");
    D->finalize(st);
    /* several statements: the first failure stops them */
    CHECK(D->exec(db, "INSERT INTO uq VALUES ('c'); INSERT INTO uq VALUES ('c'); "
                      "INSERT INTO uq VALUES ('d')") == SQ_ERROR);
    CHECK_HAS(D->errmsg(db), "duplicate key");
    CHECK(count(db, "SELECT count(*) FROM uq") == 1);  /* one implicit transaction */
}

/* SQLite DDL in, PostgreSQL types out. */
static void check_ddl(struct sq_db *db)
{
    ddl_ok(db,
           "CREATE TABLE exps (\n"
           "  experiment_id INTEGER PRIMARY KEY AUTOINCREMENT, -- an INTEGER comment\n"
           "  name TEXT NOT NULL UNIQUE,\n"
           "  note text DEFAULT 'INTEGER TEXT BLOB',\n"
           "  score REAL, data BLOB, t integer NOT NULL DEFAULT 0);\n"
           "CREATE TABLE kv (\n"
           "  experiment_id INTEGER NOT NULL REFERENCES exps(experiment_id),\n"
           "  \"key\" TEXT NOT NULL, value TEXT,\n"
           "  PRIMARY KEY (experiment_id, \"key\")) WITHOUT ROWID;\n"
           "CREATE TABLE seg (id INTEGER PRIMARY KEY, n INTEGER);\n"
           "CREATE INDEX kv_by_value ON kv(value) WHERE value IS NOT NULL");
    char buf[512];
    CHECK_STR(query1(db,
                     "SELECT string_agg(column_name || ':' || data_type || ':' || "
                     "COALESCE(collation_name, '-') || ':' || is_identity, ',' "
                     "ORDER BY ordinal_position) FROM information_schema.columns "
                     "WHERE table_name = 'exps'",
                     buf, sizeof buf),
              "experiment_id:bigint:-:YES,name:text:C:NO,note:text:C:NO,"
              "score:double precision:-:NO,data:bytea:-:NO,t:bigint:-:NO");
    CHECK_STR(query1(db,
                     "SELECT string_agg(column_name || ':' || data_type || ':' || is_identity, ',' "
                     "ORDER BY ordinal_position) FROM information_schema.columns "
                     "WHERE table_name = 'seg'",
                     buf, sizeof buf),
              "id:bigint:YES,n:bigint:NO");
    /* the Default experiment's explicit 0, then generated ids from 1 */
    exec_ok(db, "INSERT INTO exps(experiment_id, name) VALUES (0, 'Default')");
    struct sq_stmt *st = prep(db, "INSERT INTO exps(name) VALUES (?) RETURNING experiment_id", true);
    for (int i = 1; i <= 2; i++) {
        bind_text(st, 1, i == 1 ? "one" : "two");
        CHECK(D->step(st) == SQ_ROW);
        CHECK(D->col_int(st, 0) == i);
        D->reset(st);
    }
    D->finalize(st);
    CHECK_STR(query1(db, "SELECT note FROM exps WHERE experiment_id = 1", buf, sizeof buf),
              "INTEGER TEXT BLOB");
    exec_ok(db, "INSERT INTO seg(n) VALUES (5); INSERT INTO kv VALUES (1, 'k', 'v')");
    CHECK(count(db, "SELECT id FROM seg") == 1);
    CHECK(D->exec_ddl(db, "CREATE TABLE broken (x INTEGER") == SQ_ERROR);
    CHECK_HAS(D->errmsg(db), "syntax error");
}

/* TEXT compares and sorts bytewise, as SQLite's BINARY collation. */
static void check_collation(struct sq_db *db)
{
    ddl_ok(db, "CREATE TABLE words (w TEXT)");
    exec_ok(db, "INSERT INTO words VALUES ('b'), ('\xc3\xa9'), ('a'), ('B'), ('A'), ('_')");
    char buf[256];
    CHECK_STR(query1(db, "SELECT string_agg(w, ',' ORDER BY w) FROM words", buf, sizeof buf),
              "A,B,_,a,b,\xc3\xa9");
    struct sq_stmt *st = prep(db, "SELECT count(*) FROM words WHERE w < ?", false);
    bind_text(st, 1, "a");
    CHECK(D->step(st) == SQ_ROW && D->col_int(st, 0) == 3);
    D->finalize(st);
}

struct writer_arg {
    const char *uri;
    int rc;
};

/* The second writer: waits for the lock, then logs 'B'. */
static void *second_writer(void *p)
{
    struct writer_arg *a = p;
    struct sq_db *db = open_db(a->uri, true);
    a->rc = D->exec(db, D->begin_write);
    if (a->rc == 0)
        a->rc = D->exec(db, "INSERT INTO wlog(who) VALUES ('B'); COMMIT");
    if (a->rc)
        fprintf(stderr, "second writer: %s\n", D->errmsg(db));
    D->close(db);
    return NULL;
}

static void check_writers(const char *uri)
{
    struct sq_db *a = open_db(uri, true), *watch = open_db(uri, false);
    ddl_ok(a, "CREATE TABLE wlog (id INTEGER PRIMARY KEY, who TEXT)");
    exec_ok(a, D->begin_write);
    exec_ok(a, "INSERT INTO wlog(who) VALUES ('A1')");
    struct writer_arg arg = {uri, -1};
    pthread_t t;
    pthread_create(&t, NULL, second_writer, &arg);
    /* B is waiting when its advisory lock request shows ungranted: polled
     * with a deadline (a failure if the lock did not block B at all). */
    double deadline = cap_mono_s() + 30;
    while (count(watch, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT "
                        "granted AND database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database())") == 0) {
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        if (cap_mono_s() > deadline) {
            fprintf(stderr, "the second writer never waited for the lock\n");
            failures++;
            break;
        }
    }
    exec_ok(a, "INSERT INTO wlog(who) VALUES ('A2'); COMMIT");
    pthread_join(t, NULL);
    CHECK(arg.rc == 0);
    char buf[128];
    CHECK_STR(query1(a, "SELECT string_agg(who, ',' ORDER BY id) FROM wlog", buf, sizeof buf),
              "A1,A2,B");
    D->close(watch);
    D->close(a);
}

/* Readers: read-only, and one snapshot per read transaction. */
static void check_readers(const char *uri)
{
    struct sq_db *w = open_db(uri, true), *r = open_db(uri, false);
    ddl_ok(w, "CREATE TABLE rd (v INTEGER)");
    CHECK(D->exec(r, "INSERT INTO rd VALUES (1)") == SQ_ERROR);
    CHECK_HAS(D->errmsg(r), "read-only transaction");
    exec_ok(r, D->begin_read);
    CHECK(count(r, "SELECT count(*) FROM rd") == 0);
    exec_ok(w, "INSERT INTO rd VALUES (1)");
    CHECK(count(r, "SELECT count(*) FROM rd") == 0);  /* same snapshot */
    exec_ok(r, "COMMIT");
    CHECK(count(r, "SELECT count(*) FROM rd") == 1);
    D->close(r);
    D->close(w);
}

/* The time budget: a statement past it is SQ_INTERRUPTED and the read
 * transaction stays usable, with statement_timeout back as it was. */
static void check_budget(struct sq_db *db)
{
    double past = cap_mono_s() - 1, soon;
    char buf[128];
    struct sq_stmt *st = prep(db, "SELECT 1", true);
    D->budget(db, &past);
    CHECK(D->step(st) == SQ_INTERRUPTED);
    D->budget(db, NULL);
    D->reset(st);
    exec_ok(db, D->begin_read);
    struct sq_stmt *slow = prep(db, "SELECT pg_sleep(30)", false);
    soon = cap_mono_s() + 0.2;
    D->budget(db, &soon);
    CHECK(D->step(slow) == SQ_INTERRUPTED);
    D->budget(db, NULL);
    D->finalize(slow);
    CHECK(D->in_txn(db));
    CHECK(D->step(st) == SQ_ROW && D->col_int(st, 0) == 1);  /* not aborted */
    D->reset(st);
    CHECK_STR(query1(db, "SHOW statement_timeout", buf, sizeof buf), "0");
    /* a budgeted statement that finishes leaves no timeout behind either */
    soon = cap_mono_s() + 60;
    D->budget(db, &soon);
    CHECK(D->step(st) == SQ_ROW);
    D->budget(db, NULL);
    D->reset(st);
    CHECK_STR(query1(db, "SHOW statement_timeout", buf, sizeof buf), "0");
    exec_ok(db, "COMMIT");
    /* outside a transaction */
    soon = cap_mono_s() + 0.2;
    slow = prep(db, "SELECT pg_sleep(30)", false);
    D->budget(db, &soon);
    CHECK(D->step(slow) == SQ_INTERRUPTED);
    D->budget(db, NULL);
    D->finalize(slow);
    CHECK_STR(query1(db, "SHOW statement_timeout", buf, sizeof buf), "0");
    D->finalize(st);
}

/* A persistent statement is prepared again for other parameter types, and
 * its server-side versions go with finalize. */
static void check_variants(struct sq_db *db)
{
    ddl_ok(db, "CREATE TABLE var (a INTEGER, b TEXT)");
    struct sq_stmt *st = prep(db, "INSERT INTO var(a, b) VALUES (?, ?)", true);
    bind_int(st, 1, 1), bind_text(st, 2, "x");
    CHECK(D->step(st) == SQ_DONE);
    D->reset(st);
    bind_null(st, 1), bind_text(st, 2, "y");
    CHECK(D->step(st) == SQ_DONE);
    D->reset(st);
    bind_int(st, 1, 3), bind_null(st, 2);
    CHECK(D->step(st) == SQ_DONE);
    D->reset(st);
    bind_int(st, 1, 4), bind_text(st, 2, "z");  /* the first version again */
    CHECK(D->step(st) == SQ_DONE);
    D->reset(st);
    CHECK(count(db, "SELECT count(*) FROM pg_prepared_statements") == 3);
    D->finalize(st);
    CHECK(count(db, "SELECT count(*) FROM pg_prepared_statements") == 0);
    CHECK(count(db, "SELECT count(*) FROM var WHERE a IS NULL OR b IS NULL") == 2);
}

static void check_connect_errors(const char *bad_password_uri, const char *refused_uri)
{
    struct sq_db *db = NULL;
    struct cap_error err = {0};
    CHECK(D->open(bad_password_uri, true, &db, &err) < 0 && db == NULL);
    CHECK(err.code == CAP_EUNAVAIL);
    CHECK_HAS(err.msg, "password authentication failed");
    CHECK_HAS(err.msg, "database 'dbcheck'");
    CHECK(strstr(err.msg, "wrongpassword") == NULL);
    printf("wrong password: %s\n", err.msg);
    CHECK(D->open(refused_uri, true, &db, &err) < 0 && db == NULL);
    CHECK(err.code == CAP_EUNAVAIL);
    CHECK_HAS(err.msg, "Connection refused");
    printf("refused: %s\n", err.msg);
    CHECK(D->open("mysql://u@h/db", true, &db, &err) < 0 && err.code == CAP_EINVAL);
    CHECK_HAS(err.msg, "expected postgresql://");
    CHECK(D->open("postgresql://u@h:notaport/db?nosuchoption=1", true, &db, &err) < 0);
    CHECK(err.code == CAP_EINVAL);
    printf("bad uri: %s\n", err.msg);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CHECK URI [URI2]\n", argv[0]);
        return 2;
    }
    const char *check = argv[1], *uri = argv[2];
    if (!strcmp(check, "connect_errors")) {
        check_connect_errors(uri, argc > 3 ? argv[3] : "");
    } else if (!strcmp(check, "writers")) {
        check_writers(uri);
    } else if (!strcmp(check, "readers")) {
        check_readers(uri);
    } else if (!strcmp(check, "ddl_stdin")) {
        /* SQLite DDL from stdin through exec_ddl, for trying a schema */
        static char sql[1 << 20];
        size_t n = fread(sql, 1, sizeof sql - 1, stdin);
        sql[n] = 0;
        struct sq_db *db = open_db(uri, true);
        if (D->exec_ddl(db, sql) != 0)
            fprintf(stderr, "exec_ddl: %s\n", D->errmsg(db)), failures++;
        D->close(db);
    } else {
        static const struct {
            const char *name;
            void (*fn)(struct sq_db *);
        } checks[] = {{"placeholders", check_placeholders}, {"ints", check_ints},
                      {"doubles", check_doubles},           {"text", check_text_and_nulls},
                      {"blobs", check_blobs},               {"changes", check_changes},
                      {"errors", check_errors},             {"ddl", check_ddl},
                      {"collation", check_collation},       {"budget", check_budget},
                      {"variants", check_variants}};
        size_t i = 0, n = sizeof checks / sizeof *checks;
        while (i < n && strcmp(checks[i].name, check))
            i++;
        if (i == n) {
            fprintf(stderr, "no check named %s\n", check);
            return 2;
        }
        struct sq_db *db = open_db(uri, true);
        checks[i].fn(db);
        D->close(db);
    }
    if (failures) {
        fprintf(stderr, "FAILED %s: %d checks\n", check, failures);
        return 1;
    }
    printf("ok %s\n", check);
    return 0;
}
