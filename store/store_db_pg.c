/* store_db_pg.c - the PostgreSQL driver under the SQL store (libpq).
 *
 * Several Capstan processes share one database through it; the store's
 * logic is the same as on SQLite (store_db.h). What this file decides:
 *
 * - Placeholders: the shared SQL's ? and ?NNN become $N (SQLite's numbering:
 *   a bare ? is one more than the largest number so far), skipping string
 *   literals, quoted identifiers and comments.
 * - Parameter types: each value is sent with its type (int8, float8, text,
 *   bytea; a NULL as unknown), so "? + 1" is bigint arithmetic and
 *   "COALESCE(?, col)" resolves. The price: a text bound where PostgreSQL
 *   wants a number (or the reverse) is an error ("operator does not exist:
 *   bigint = text"), where SQLite converted by column affinity; the shared
 *   SQL writes a CAST there. A NULL has no type, so "? IS NULL" with a NULL
 *   bound cannot be prepared ("could not determine data type"): write
 *   "CAST(? AS TEXT) IS NULL" or bind SQ_TEXT(NULL) (typed text).
 * - Preparation is lazy: PostgreSQL fixes parameter types at PREPARE, so a
 *   persistent statement is prepared at its first step with the types then
 *   bound, and again under another name when a later step binds other types
 *   (a NULL where there was a number): at most PG_VARIANTS versions, then
 *   unnamed one-shot execution. A bad statement therefore fails at its first
 *   step (SQ_ERROR, sq_errmsg says why), not at prepare.
 * - Results come in text format and are fetched whole at the first step
 *   (the store's queries are paged). bytea comes back as hex (bytea_output
 *   is set to hex) and is decoded into a per-column cache valid until the
 *   next step, like SQLite's column pointers.
 * - Writers serialise on one advisory lock taken in begin_write, SQLite's
 *   one-writer rule kept on purpose so each operation's read-check-write
 *   stays correct across processes.
 * - The DDL of the migrations is SQLite's; exec_ddl maps its type names
 *   (see pg_ddl_map) and gives TEXT the "C" collation: bytewise order and
 *   comparison, as SQLite's BINARY.
 * - The run search's time budget is statement_timeout (pg_budget_arm).
 * - A lost connection is not re-established here: its statements fail
 *   with libpq's reason until the store opens another.
 * Internal to store/. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store_db.h"

/* Type OIDs from PostgreSQL's catalog (pg_type.dat); stable across versions. */
#define PG_INT8OID 20
#define PG_TEXTOID 25
#define PG_FLOAT8OID 701
#define PG_BYTEAOID 17
/* The protocol's limit on a statement's parameters. */
#define PG_MAX_PARAMS 65535
/* Prepared versions of one persistent statement (one per type pattern). */
#define PG_VARIANTS 8
/* SQLSTATE of a statement cancelled by statement_timeout. */
#define PG_QUERY_CANCELED "57014"
/* The writers' advisory lock: the bytes of "Capstan1". Any fixed key works;
 * another application on the same database using it would only wait. */
#define PG_WRITE_LOCK "4855285514458197553"

struct pg_db {
    struct sq_db base;
    PGconn *conn;
    char err[1024];
    char sqlstate[6];   /* the last failed command's, "" when none */
    int64_t changes;
    unsigned long next_name;  /* statement names: per connection, so no global state */
    unsigned long gen;        /* bumped at each reconnection: prepared names died with it */
    bool writer;
    bool budget_on;
    double deadline;
};

struct pg_variant {
    char name[24];
    Oid *types;
    unsigned long gen;       /* the connection it was prepared on */
};

struct pg_blob {
    unsigned char *p;
    size_t n;
    bool done;
};

struct pg_stmt {
    struct sq_stmt base;
    struct pg_db *db;
    char *sql;               /* with $N placeholders */
    bool persistent;
    int nparams;
    char bind_err[96];       /* a binding that cannot be sent; step reports it */
    Oid *types;              /* per parameter, from the bindings */
    const char **vals;
    int *lens, *fmts;
    char (*num)[32];         /* text of bound numbers */
    struct pg_variant var[PG_VARIANTS];
    int nvar;
    PGresult *res;           /* NULL before the first step */
    int row, nrows;
    struct pg_blob *blobs;   /* per column of the current row */
    int nblobs;
};

/* ---- errors ---- */

/* Copies msg into db->err as one line: libpq's messages end in newlines
 * and may span several ("...refused\n\tIs the server running...": the
 * lines are joined with "; "), with runs of blanks as one. */
static void pg_set_err(struct pg_db *db, const char *msg)
{
    db->sqlstate[0] = 0;
    size_t o = 0;
    for (const char *p = msg ? msg : "unknown error"; *p && o + 2 < sizeof db->err; p++) {
        if (*p == '\n') {
            if (o > 0 && p[strspn(p, " \t\n")] && db->err[o - 1] != ';')
                db->err[o++] = ';', db->err[o++] = ' ';
            continue;
        }
        char c = *p == '\t' ? ' ' : *p;
        if (c == ' ' && (o == 0 || db->err[o - 1] == ' '))
            continue;
        db->err[o++] = c;
    }
    while (o > 0 && db->err[o - 1] == ' ')
        o--;
    db->err[o] = 0;
}

/* A failed command's primary message (without "ERROR:" and the DETAIL,
 * which quotes row values), else the connection's message. */
static void pg_set_res_err(struct pg_db *db, const PGresult *res)
{
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    pg_set_err(db, m ? m : PQerrorMessage(db->conn));
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state)
        snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state);
}

/* Class 22, "data exception": a value PostgreSQL will not take (text that
 * is not UTF-8, a number out of range). SQLite stores such bytes as given;
 * here it is the client's input that was wrong. */
static bool pg_bad_value(struct sq_db *sdb)
{
    const struct pg_db *db = (const struct pg_db *)sdb;
    return db->sqlstate[0] == '2' && db->sqlstate[1] == '2';
}

static bool pg_is_write_cmd(const char *status)
{
    return cap_str_has_prefix(status, "INSERT") || cap_str_has_prefix(status, "UPDATE") ||
           cap_str_has_prefix(status, "DELETE") || cap_str_has_prefix(status, "MERGE");
}

/* Checks a command's result: 0, or SQ_ERROR with db->err set. Keeps
 * changes() for INSERT/UPDATE/DELETE (RETURNING ones included), like
 * sqlite3_changes, which a SELECT leaves alone. */
static int pg_check(struct pg_db *db, PGresult *res)
{
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY) {
        pg_set_res_err(db, res);
        return SQ_ERROR;
    }
    if (pg_is_write_cmd(PQcmdStatus(res)))
        db->changes = strtoll(PQcmdTuples(res), NULL, 10);
    return 0;
}

static int pg_session(struct pg_db *db, bool writer);

/* A connection lost (the server restarted, a failover, a network cut) is
 * found broken by the command that failed on it; the next command gets a
 * new one here, with the session's settings again. What was in flight
 * failed (503, see pg_unavailable) and its transaction is gone, as the
 * store's writer expects of an aborted one; the statements prepared on the
 * old connection are prepared again when next used (gen). */
static void pg_revive(struct pg_db *db)
{
    /* An idle connection the server closed (a restart sends FATAL, then
     * closes) is found here, before a command is lost on it: reading what
     * is pending costs one non-blocking recv at the start of a transaction.
     * Only a cut that the server could not announce costs a command. */
    if (PQstatus(db->conn) == CONNECTION_OK && PQtransactionStatus(db->conn) == PQTRANS_IDLE)
        PQconsumeInput(db->conn);
    if (PQstatus(db->conn) != CONNECTION_BAD)
        return;
    PQreset(db->conn);
    if (PQstatus(db->conn) != CONNECTION_OK)
        return;  /* still down: the command fails and says so */
    db->gen++;
    db->budget_on = false;
    if (pg_session(db, db->writer) < 0)
        cap_log(CAP_LOG_WARN, "store: PostgreSQL reconnected but the session setup failed: %s",
                db->err);
    else
        cap_log(CAP_LOG_INFO, "store: reconnected to PostgreSQL");
}

/* 53100 disk_full (and class 53's out of memory or connections would be
 * 503s; only the disk is "full"). */
static bool pg_full(struct sq_db *sdb)
{
    return strcmp(((const struct pg_db *)sdb)->sqlstate, "53100") == 0;
}

/* Whether the last error came from a connection that is gone (503, not 500). */
static bool pg_unavailable(struct sq_db *sdb)
{
    const struct pg_db *db = (const struct pg_db *)sdb;
    const char *s = db->sqlstate;
    /* class 08: connection exception; 57: the server shutting down or
     * starting (but 57014, a cancelled statement, is the budget's) */
    return PQstatus(db->conn) == CONNECTION_BAD || (s[0] == '0' && s[1] == '8') ||
           (s[0] == '5' && s[1] == '7' && strcmp(s, "57014") != 0);
}

static int pg_run(struct pg_db *db, const char *sql)
{
    pg_revive(db);
    PGresult *res = PQexec(db->conn, sql);
    int rc = pg_check(db, res);
    PQclear(res);
    return rc;
}

/* ---- the SQL scanner ---- */

/* Length of the string literal, quoted identifier or comment at p, 0 when
 * p starts none. Literals are standard ('' escapes; the session sets
 * standard_conforming_strings). Unterminated ones run to the end: the
 * server then reports the syntax error. */
static size_t pg_skip_quoted(const char *p)
{
    if (*p == '\'' || *p == '"') {
        const char *s = p + 1;
        while (*s && !(*s == *p && s[1] != *p))
            s += *s == *p ? 2 : 1;
        return (size_t)(s - p) + (*s ? 1 : 0);
    }
    if (p[0] == '-' && p[1] == '-')
        return strcspn(p, "\n");
    if (p[0] == '/' && p[1] == '*') {
        const char *e = strstr(p + 2, "*/");
        return e ? (size_t)(e + 2 - p) : strlen(p);
    }
    return 0;
}

/* The shared SQL with ? and ?NNN as $N; *nparams gets the largest N.
 * NULL (why filled) past PostgreSQL's parameter limit. */
static char *pg_translate(const char *sql, int *nparams, char *why, size_t whylen)
{
    size_t len = strlen(sql), marks = 0;
    for (const char *p = sql; *p; p++)
        marks += *p == '?';
    /* "?" becomes at most "$65535", 5 more bytes; "?NNN" no longer. */
    char *out = cap_xmalloc(len + 5 * marks + 1), *o = out;
    int max = 0;
    for (const char *p = sql; *p;) {
        size_t n = pg_skip_quoted(p);
        if (n) {
            memcpy(o, p, n);
            o += n, p += n;
            continue;
        }
        if (*p != '?') {
            *o++ = *p++;
            continue;
        }
        long num = max + 1;
        p++;
        if (isdigit((unsigned char)*p)) {
            char *end;
            num = strtol(p, &end, 10);
            p = end;
        }
        if (num < 1 || num > PG_MAX_PARAMS) {
            snprintf(why, whylen, "parameter number %ld is outside 1 to %d", num, PG_MAX_PARAMS);
            free(out);
            return NULL;
        }
        max = num > max ? (int)num : max;
        o += sprintf(o, "$%ld", num);
    }
    *o = 0;
    *nparams = max;
    return out;
}

/* ---- SQLite DDL to PostgreSQL's ---- */

static bool pg_word_is(const char *w, size_t n, const char *kw)
{
    return strlen(kw) == n && strncasecmp(w, kw, n) == 0;
}

static size_t pg_word_len(const char *p)
{
    size_t n = 0;
    if (isalpha((unsigned char)*p) || *p == '_')
        while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '$')
            n++;
    return n;
}

/* The next word after p past spaces and comments (NULL if the next token
 * is something else); *n gets its length. */
static const char *pg_next_word(const char *p, size_t *n)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*'))
            p += pg_skip_quoted(p);
        else
            break;
    }
    *n = pg_word_len(p);
    return *n ? p : NULL;
}

/* Whether the words kw[] (NULL-ended) follow p; *end gets the end of the last. */
static bool pg_words_follow(const char *p, const char *const *kw, const char **end)
{
    for (; *kw; kw++) {
        size_t n;
        const char *w = pg_next_word(p, &n);
        if (!w || !pg_word_is(w, n, *kw))
            return false;
        p = w + n;
    }
    *end = p;
    return true;
}

/* Keywords after which a word is a name, not a type (ADD COLUMN text ...). */
static bool pg_word_before_name(const char *w, size_t n)
{
    static const char *const kw[] = {"ADD",   "COLUMN", "TABLE", "SELECT", "WHERE", "ON",
                                      "AND",  "OR",     "NOT",   "BY",     "SET",   "DISTINCT",
                                      "FROM", "INTO",   "IF",    "EXISTS", "WHEN",  "THEN",
                                      "ELSE", "CASE",   "TO",    "RENAME", "INDEX", NULL};
    for (const char *const *k = kw; *k; k++)
        if (pg_word_is(w, n, *k))
            return true;
    return false;
}

enum pg_prev { PG_PREV_OTHER, PG_PREV_NAME, PG_PREV_AS };

/* Maps the type word w (n bytes) at a type position; returns the bytes of
 * sql consumed (0: not a type word this maps). */
static size_t pg_map_type(struct cap_buf *b, const char *w, size_t n, enum pg_prev prev)
{
    const char *end;
    static const char *const pk[] = {"PRIMARY", "KEY", NULL};
    static const char *const pk_ai[] = {"PRIMARY", "KEY", "AUTOINCREMENT", NULL};
    if (pg_word_is(w, n, "INTEGER") || pg_word_is(w, n, "INT")) {
        /* SQLite's rowid alias, numbered when the column is omitted. An
         * IDENTITY's sequence does not move past explicit ids: explicit id
         * 0 (the Default experiment) is below its start (1), so fine; an
         * explicit id >= 1 would later collide with a generated one. An
         * explicit NULL is an error here, where SQLite numbers it. */
        if (prev == PG_PREV_NAME &&
            (pg_words_follow(w + n, pk_ai, &end) || pg_words_follow(w + n, pk, &end))) {
            cap_buf_puts(b, "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
            return (size_t)(end - w);
        }
        cap_buf_puts(b, "BIGINT");  /* ms timestamps overflow PostgreSQL's 32-bit INTEGER */
        return n;
    }
    if (pg_word_is(w, n, "REAL")) {
        cap_buf_puts(b, "DOUBLE PRECISION");
        return n;
    }
    if (pg_word_is(w, n, "BLOB")) {
        cap_buf_puts(b, "BYTEA");
        return n;
    }
    if (pg_word_is(w, n, "TEXT")) {
        size_t m;
        const char *next = pg_next_word(w + n, &m);
        bool own_collate = next && pg_word_is(next, m, "COLLATE");
        /* A cast's type takes no COLLATE; a column's gets bytewise order. */
        cap_buf_puts(b, prev == PG_PREV_AS || own_collate ? "TEXT" : "TEXT COLLATE \"C\"");
        return n;
    }
    return 0;
}

/* SQLite's DDL in PostgreSQL's words, outside literals and comments: a
 * type word right after a column name (or a CAST's AS) is mapped, see
 * pg_map_type; WITHOUT ROWID is dropped; COLLATE BINARY is "C". A heuristic
 * for the migrations' shape ("name TYPE constraints"), not a SQL parser:
 * a name is a word or quoted identifier not in pg_word_before_name. */
static char *pg_ddl_map(const char *sql)
{
    struct cap_buf b;
    cap_buf_init(&b);
    enum pg_prev prev = PG_PREV_OTHER;
    bool after_collate = false;
    for (const char *p = sql; *p;) {
        size_t n = pg_skip_quoted(p), m;
        const char *end;
        static const char *const rowid[] = {"ROWID", NULL};
        if (n) {
            cap_buf_append(&b, p, n);
            if (*p == '"' || *p == '\'')
                prev = *p == '"' ? PG_PREV_NAME : PG_PREV_OTHER, after_collate = false;
            p += n;
        } else if (isspace((unsigned char)*p)) {
            cap_buf_putc(&b, *p++);
        } else if ((n = pg_word_len(p)) == 0) {
            /* punctuation, or a number with its exponent */
            m = isdigit((unsigned char)*p) ? strspn(p, "0123456789.eE") : 1;
            cap_buf_append(&b, p, m);
            p += m, prev = PG_PREV_OTHER, after_collate = false;
        } else if (pg_word_is(p, n, "WITHOUT") && pg_words_follow(p + n, rowid, &end)) {
            p = end;
        } else if (after_collate && pg_word_is(p, n, "BINARY")) {
            cap_buf_puts(&b, "\"C\"");
            p += n, prev = PG_PREV_OTHER, after_collate = false;
        } else {
            m = prev != PG_PREV_OTHER ? pg_map_type(&b, p, n, prev) : 0;
            if (!m)
                cap_buf_append(&b, p, n);
            after_collate = pg_word_is(p, n, "COLLATE");
            prev = pg_word_is(p, n, "AS")              ? PG_PREV_AS
                   : pg_word_before_name(p, n) || m    ? PG_PREV_OTHER
                   : after_collate                     ? PG_PREV_OTHER
                                                       : PG_PREV_NAME;
            p += m ? m : n;
        }
    }
    return cap_buf_steal(&b);
}

/* ---- connections ---- */

static void pg_quiet(void *arg, const char *message)
{
    /* NOTICEs and WARNINGs (a redundant SAVEPOINT's, say) would go to
     * stderr by default; the statements' own errors are reported. */
}

/* "database 'db' at host:port as user 'u'" from the parsed URI (never its
 * password), for the connection errors. */
static void pg_describe(const char *target, char *out, size_t outlen)
{
    const char *host = "localhost", *port = "5432", *db = "?", *user = "?";
    PQconninfoOption *opts = PQconninfoParse(target, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (!strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr"))
            host = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            db = o->val;
        else if (!strcmp(o->keyword, "user"))
            user = o->val;
    }
    snprintf(out, outlen, "database '%s' at %s:%s as user '%s'", db, host, port, user);
    PQconninfoFree(opts);
}

/* The session's settings the driver relies on: UTF-8 text, UTC, doubles
 * printed exactly (extra_float_digits 3: shortest round-trip form), bytea
 * as hex, '' the only escape in literals; readers cannot write. */
static int pg_session(struct pg_db *db, bool writer)
{
    return pg_run(db, writer ? "SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC';"
                               "SET extra_float_digits = 3; SET bytea_output = 'hex';"
                               "SET standard_conforming_strings = on"
                             : "SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC';"
                               "SET extra_float_digits = 3; SET bytea_output = 'hex';"
                               "SET standard_conforming_strings = on;"
                               "SET default_transaction_read_only = on");
}

static int pg_open(const char *target, bool writer, struct sq_db **out, struct cap_error *err)
{
    *out = NULL;
    char where[512], *why = NULL;
    if (!cap_str_has_prefix(target, "postgresql://") && !cap_str_has_prefix(target, "postgres://"))
        return cap_err(err, CAP_EINVAL,
                       "Invalid PostgreSQL target: expected postgresql://user:password@host:port/db");
    PQconninfoOption *opts = PQconninfoParse(target, &why);
    if (!opts) {
        int rc = cap_err(err, CAP_EINVAL, "Invalid PostgreSQL URI: %s",
                         why ? why : "cannot parse it");
        PQfreemem(why);
        /* libpq's message ends in a newline; the URI itself may hold a password */
        size_t n = strlen(err ? err->msg : "");
        while (err && n && err->msg[n - 1] == '\n')
            err->msg[--n] = 0;
        return rc;
    }
    PQconninfoFree(opts);
    pg_describe(target, where, sizeof where);
    /* Earlier keywords are defaults the URI overrides: an unreachable host
     * fails in 10 s rather than after TCP's minutes. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {"10", "capstan", target, NULL};
    struct pg_db *db = cap_xcalloc(1, sizeof *db);
    db->base.drv = &store_db_pg;
    db->conn = PQconnectdbParams(keys, vals, 1);
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
        pg_set_err(db, db->conn ? PQerrorMessage(db->conn) : "out of memory");
        int rc = cap_err(err, CAP_EUNAVAIL, "Cannot connect to PostgreSQL %s: %s", where, db->err);
        PQfinish(db->conn);
        free(db);
        return rc;
    }
    PQsetNoticeProcessor(db->conn, pg_quiet, NULL);
    int version = PQserverVersion(db->conn);
    if (version < 100000) {  /* IDENTITY columns */
        PQfinish(db->conn);
        free(db);
        return cap_err(err, CAP_EINVAL, "PostgreSQL %s is version %d; Capstan needs 10 or newer",
                       where, version / 10000);
    }
    db->writer = writer;
    if (pg_session(db, writer) < 0) {
        int rc = cap_err(err, CAP_EUNAVAIL, "Cannot set up the session on PostgreSQL %s: %s",
                         where, db->err);
        PQfinish(db->conn);
        free(db);
        return rc;
    }
    *out = &db->base;
    return 0;
}

/* Nothing to fold back: PostgreSQL keeps its own files tidy. */
static void pg_tidy(struct sq_db *sdb)
{
}

static void pg_close(struct sq_db *sdb)
{
    struct pg_db *db = (struct pg_db *)sdb;
    if (!db)
        return;
    PQfinish(db->conn);
    free(db);
}

/* ---- statements ---- */

static void pg_blobs_clear(struct pg_stmt *st)
{
    for (int i = 0; i < st->nblobs; i++) {
        free(st->blobs[i].p);
        st->blobs[i] = (struct pg_blob){0};
    }
}

/* Drops the result, the row cursor and the bindings (unbound is NULL). */
static void pg_reset(struct sq_stmt *sst)
{
    struct pg_stmt *st = (struct pg_stmt *)sst;
    pg_blobs_clear(st);
    PQclear(st->res);
    st->res = NULL;
    st->row = -1, st->nrows = 0, st->bind_err[0] = 0;
    for (int i = 0; i < st->nparams; i++) {
        st->types[i] = 0, st->vals[i] = NULL;
        st->lens[i] = 0, st->fmts[i] = 0;
    }
}

static struct sq_stmt *pg_prepare(struct sq_db *sdb, const char *sql, bool persistent)
{
    struct pg_db *db = (struct pg_db *)sdb;
    char why[128];
    int n = 0;
    char *text = pg_translate(sql, &n, why, sizeof why);
    if (!text) {
        pg_set_err(db, why);
        return NULL;
    }
    struct pg_stmt *st = cap_xcalloc(1, sizeof *st);
    st->base.drv = &store_db_pg;
    st->db = db;
    st->sql = text;
    st->persistent = persistent;
    st->nparams = n;
    /* n + 1: never a zero-size allocation, never a NULL for memcmp */
    st->types = cap_xcalloc((size_t)n + 1, sizeof *st->types);
    st->vals = cap_xcalloc((size_t)n + 1, sizeof *st->vals);
    st->lens = cap_xcalloc((size_t)n + 1, sizeof *st->lens);
    st->fmts = cap_xcalloc((size_t)n + 1, sizeof *st->fmts);
    st->num = cap_xcalloc((size_t)n + 1, sizeof *st->num);
    st->row = -1;
    return &st->base;
}

static void pg_finalize(struct sq_stmt *sst)
{
    struct pg_stmt *st = (struct pg_stmt *)sst;
    if (!st)
        return;
    pg_reset(sst);
    /* Free the server's prepared versions while that cannot fail the open
     * transaction (they die with the connection anyway); db->err is kept
     * for a caller that finalizes before reading it. */
    PGTransactionStatusType ts = PQtransactionStatus(st->db->conn);
    for (int i = 0; i < st->nvar; i++) {
        if ((ts == PQTRANS_IDLE || ts == PQTRANS_INTRANS) && st->var[i].gen == st->db->gen) {
            char sql[48];
            snprintf(sql, sizeof sql, "DEALLOCATE %s", st->var[i].name);
            PQclear(PQexec(st->db->conn, sql));
        }
        free(st->var[i].types);
    }
    free(st->blobs);
    free(st->sql);
    free(st->types);
    free(st->vals);
    free(st->lens);
    free(st->fmts);
    free(st->num);
    free(st);
}

/* Doubles go as text: %.17g round-trips, and float8in spells the
 * non-finite values its own way. */
static const char *pg_dbl_text(double d, char out[32])
{
    if (isnan(d))
        return "NaN";
    if (isinf(d))
        return d > 0 ? "Infinity" : "-Infinity";
    snprintf(out, 32, "%.17g", d);
    return out;
}

static void pg_bind(struct sq_stmt *sst, int idx, const struct sq_bind *b)
{
    struct pg_stmt *st = (struct pg_stmt *)sst;
    if (idx < 1 || idx > st->nparams) {
        snprintf(st->bind_err, sizeof st->bind_err,
                 "parameter %d bound, the statement has parameters 1 to %d", idx, st->nparams);
        return;
    }
    int i = idx - 1;
    st->vals[i] = NULL, st->lens[i] = 0, st->fmts[i] = 0, st->types[i] = 0;
    switch (b->kind) {
    case SQ_B_INT:
        snprintf(st->num[i], sizeof st->num[i], "%" PRId64, b->i);
        st->vals[i] = st->num[i], st->types[i] = PG_INT8OID;
        break;
    case SQ_B_DBL:
        st->vals[i] = pg_dbl_text(b->d, st->num[i]), st->types[i] = PG_FLOAT8OID;
        break;
    case SQ_B_TEXT:  /* typed even when NULL: "COALESCE(?, col)", "? IS NULL" */
        st->vals[i] = b->s, st->types[i] = PG_TEXTOID;
        break;
    case SQ_B_BLOB:  /* binary format: the bytes as they are, NUL bytes included */
        st->types[i] = PG_BYTEAOID, st->fmts[i] = 1;
        if (b->len > INT32_MAX)  /* libpq's lengths are ints (SQLite's too) */
            snprintf(st->bind_err, sizeof st->bind_err, "parameter %d: a blob of %zu bytes", idx,
                     b->len);
        else if (b->blob)
            st->vals[i] = b->blob, st->lens[i] = (int)b->len;
        break;
    case SQ_B_NULL:
        break;
    }
}

/* The prepared version of st for the bound types (*name NULL: run it
 * unnamed, one-shot). 0, or SQ_ERROR when PREPARE failed. */
static int pg_variant(struct pg_stmt *st, const char **name)
{
    *name = NULL;
    if (!st->persistent)
        return 0;
    size_t tsz = sizeof *st->types * (size_t)st->nparams;
    if (st->nvar > 0 && st->var[0].gen != st->db->gen) {
        for (int i = 0; i < st->nvar; i++)
            free(st->var[i].types);
        st->nvar = 0;  /* prepared on a connection that is gone */
    }
    for (int i = 0; i < st->nvar; i++)
        if (!memcmp(st->var[i].types, st->types, tsz)) {
            *name = st->var[i].name;
            return 0;
        }
    if (st->nvar == PG_VARIANTS)
        return 0;
    struct pg_variant *v = &st->var[st->nvar];
    snprintf(v->name, sizeof v->name, "cs%lu", ++st->db->next_name);
    PGresult *res = PQprepare(st->db->conn, v->name, st->sql, st->nparams, st->types);
    int rc = pg_check(st->db, res);
    PQclear(res);
    if (rc < 0)
        return rc;
    v->types = cap_xmalloc(tsz + sizeof *st->types);
    memcpy(v->types, st->types, tsz);
    v->gen = st->db->gen;
    st->nvar++;
    *name = v->name;
    return 0;
}

/* A budget on db bounds each statement with statement_timeout, set to what
 * is left of it. In a transaction the statement runs under a savepoint
 * (SET LOCAL inside it), so a cancelled one leaves the transaction usable,
 * as an interrupted SQLite SELECT does. Costs two round trips per
 * budgeted statement (about 0.1 ms each on a local socket). */
static int pg_budget_arm(struct pg_db *db, bool *sp)
{
    double left = db->deadline - cap_mono_s();
    if (left <= 0) {
        pg_set_err(db, "interrupted: the query's time budget ran out");
        return SQ_INTERRUPTED;
    }
    *sp = PQtransactionStatus(db->conn) == PQTRANS_INTRANS;
    char sql[128];
    snprintf(sql, sizeof sql, "%sSET %sstatement_timeout = %ld",
             *sp ? "SAVEPOINT capstan_budget; " : "", *sp ? "LOCAL " : "",
             (long)ceil(left * 1000));
    return pg_run(db, sql);
}

static int pg_budget_disarm(struct pg_db *db, bool sp, bool cancelled)
{
    if (!sp)
        return pg_run(db, "SET statement_timeout TO DEFAULT");
    if (cancelled)
        return pg_run(db, "ROLLBACK TO SAVEPOINT capstan_budget; RELEASE SAVEPOINT capstan_budget");
    if (PQtransactionStatus(db->conn) != PQTRANS_INTRANS)
        return 0;  /* another error: the caller's rollback undoes the SET LOCAL too */
    return pg_run(db, "RELEASE SAVEPOINT capstan_budget; SET LOCAL statement_timeout TO DEFAULT");
}

static PGresult *pg_send(struct pg_stmt *st, const char *name)
{
    if (name)
        return PQexecPrepared(st->db->conn, name, st->nparams, st->vals, st->lens, st->fmts, 0);
    return PQexecParams(st->db->conn, st->sql, st->nparams, st->types, st->vals, st->lens,
                        st->fmts, 0);
}

/* The first step: runs the statement and keeps its whole result. */
static int pg_execute(struct pg_stmt *st)
{
    struct pg_db *db = st->db;
    const char *name;
    bool budget = db->budget_on, sp = false;
    if (st->bind_err[0]) {
        pg_set_err(db, st->bind_err);
        return SQ_ERROR;
    }
    pg_revive(db);
    int rc = pg_variant(st, &name);
    if (rc < 0 || (budget && (rc = pg_budget_arm(db, &sp)) != 0))
        return rc;
    PGresult *res = pg_send(st, name);
    rc = pg_check(db, res);
    const char *state = rc < 0 && res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    bool cancelled = budget && state && !strcmp(state, PG_QUERY_CANCELED);
    if (budget) {
        char kept[sizeof db->err];
        memcpy(kept, db->err, sizeof kept);
        int drc = pg_budget_disarm(db, sp, cancelled);
        if (rc < 0 || cancelled)
            memcpy(db->err, kept, sizeof kept);  /* the statement's error, not the cleanup's */
        else if (drc < 0)
            rc = drc;
    }
    if (rc < 0) {
        PQclear(res);
        return cancelled ? SQ_INTERRUPTED : rc;
    }
    st->res = res;
    st->nrows = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
    st->row = -1;
    int nf = PQnfields(res);
    if (nf > st->nblobs) {
        st->blobs = cap_xrealloc(st->blobs, (size_t)nf * sizeof *st->blobs);
        memset(st->blobs + st->nblobs, 0, (size_t)(nf - st->nblobs) * sizeof *st->blobs);
        st->nblobs = nf;
    }
    return 0;
}

static int pg_step(struct sq_stmt *sst)
{
    struct pg_stmt *st = (struct pg_stmt *)sst;
    if (!st->res) {
        int rc = pg_execute(st);
        if (rc != 0)
            return rc;
    }
    pg_blobs_clear(st);
    if (st->row + 1 < st->nrows) {
        st->row++;
        return SQ_ROW;
    }
    st->row = st->nrows;
    return SQ_DONE;
}

/* ---- columns (text format) ---- */

static const char *pg_cell(struct pg_stmt *st, int i)
{
    if (!st->res || st->row < 0 || st->row >= st->nrows || i < 0 || i >= PQnfields(st->res) ||
        PQgetisnull(st->res, st->row, i))
        return NULL;
    return PQgetvalue(st->res, st->row, i);
}

static bool pg_col_null(struct sq_stmt *sst, int i)
{
    return pg_cell((struct pg_stmt *)sst, i) == NULL;
}

static int64_t pg_col_int(struct sq_stmt *sst, int i)
{
    const char *v = pg_cell((struct pg_stmt *)sst, i);
    if (!v)
        return 0;
    if (v[0] == 't' || v[0] == 'f')  /* a boolean */
        return v[0] == 't';
    char *end;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end == '.' || *end == 'e' || *end == 'E') {
        /* a real, "NaN" or "Infinity": truncated and clamped, as SQLite does */
        double d = strtod(v, NULL);
        if (isnan(d))
            return 0;
        if (d >= 0x1p63)
            return INT64_MAX;
        return d <= -0x1p63 ? INT64_MIN : (int64_t)d;
    }
    return x;
}

static double pg_col_dbl(struct sq_stmt *sst, int i)
{
    const char *v = pg_cell((struct pg_stmt *)sst, i);
    if (!v)
        return 0;
    if (v[0] == 't' || v[0] == 'f')
        return v[0] == 't';
    return strtod(v, NULL);  /* glibc reads "NaN", "Infinity", "-Infinity" */
}

static const char *pg_col_text(struct sq_stmt *sst, int i)
{
    return pg_cell((struct pg_stmt *)sst, i);
}

static int pg_hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The bytes of column i in the current row: a bytea's decoded from its hex
 * text ("\x0a1b..."), cached until the next step; any other column's text
 * as it is, as SQLite gives a TEXT's bytes. */
static const struct pg_blob *pg_blob_at(struct pg_stmt *st, int i)
{
    const char *v = pg_cell(st, i);
    if (!v)
        return NULL;
    struct pg_blob *b = &st->blobs[i];
    if (b->done)
        return b;
    b->done = true;
    size_t len = (size_t)PQgetlength(st->res, st->row, i);
    if (PQftype(st->res, i) != PG_BYTEAOID || len < 2 || v[0] != '\\' || v[1] != 'x') {
        b->n = len;
        b->p = cap_xmalloc(len + 1);
        memcpy(b->p, v, len + 1);
        return b;
    }
    b->n = (len - 2) / 2;
    b->p = cap_xmalloc(b->n + 1);
    for (size_t k = 0; k < b->n; k++) {
        int hi = pg_hex(v[2 + 2 * k]), lo = pg_hex(v[3 + 2 * k]);
        b->p[k] = (unsigned char)(hi < 0 || lo < 0 ? 0 : hi << 4 | lo);
    }
    return b;
}

/* NULL for NULL and for an empty blob, as sqlite3_column_blob. */
static const void *pg_col_blob(struct sq_stmt *sst, int i)
{
    const struct pg_blob *b = pg_blob_at((struct pg_stmt *)sst, i);
    return b && b->n ? b->p : NULL;
}

static size_t pg_col_bytes(struct sq_stmt *sst, int i)
{
    const struct pg_blob *b = pg_blob_at((struct pg_stmt *)sst, i);
    return b ? b->n : 0;
}

/* ---- connection-wide ---- */

static int64_t pg_changes(struct sq_db *sdb)
{
    return ((struct pg_db *)sdb)->changes;
}

/* One or several statements (PQexec's simple protocol: no parameters);
 * the first failure stops them. */
static int pg_exec(struct sq_db *sdb, const char *sql)
{
    return pg_run((struct pg_db *)sdb, sql);
}

static int pg_exec_ddl(struct sq_db *sdb, const char *sql)
{
    char *mapped = pg_ddl_map(sql);
    int rc = pg_run((struct pg_db *)sdb, mapped);
    free(mapped);
    return rc;
}

static const char *pg_errmsg(struct sq_db *sdb)
{
    return ((struct pg_db *)sdb)->err;
}

/* INERROR counts: PostgreSQL keeps a failed transaction open (refusing
 * all but ROLLBACK [TO SAVEPOINT]) until the caller rolls it back. */
static bool pg_in_txn(struct sq_db *sdb)
{
    PGTransactionStatusType ts = PQtransactionStatus(((struct pg_db *)sdb)->conn);
    return ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
}

static void pg_budget(struct sq_db *sdb, const double *deadline)
{
    struct pg_db *db = (struct pg_db *)sdb;
    db->budget_on = deadline != NULL;
    db->deadline = deadline ? *deadline : 0;
}

const struct sq_driver store_db_pg = {
    .name = "postgresql",
    .open = pg_open,
    .tidy = pg_tidy,
    .close = pg_close,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .bind = pg_bind,
    .step = pg_step,
    .reset = pg_reset,
    .col_null = pg_col_null,
    .col_int = pg_col_int,
    .col_dbl = pg_col_dbl,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .col_bytes = pg_col_bytes,
    .changes = pg_changes,
    .exec = pg_exec,
    .exec_ddl = pg_exec_ddl,
    .errmsg = pg_errmsg,
    .in_txn = pg_in_txn,
    /* READ COMMITTED, not REPEATABLE READ: the snapshot must be taken after
     * the lock is held, or a writer would read from before the previous
     * writer's commit. Each statement of a READ COMMITTED transaction sees
     * all that was committed before it began; the lock makes that
     * everything. The lock is released at COMMIT or ROLLBACK. */
    .begin_write = "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(" PG_WRITE_LOCK ")",
    /* One snapshot for the reads of one operation, as SQLite's read
     * transaction. */
    .begin_read = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    .budget = pg_budget,
    .bad_value = pg_bad_value,
    .unavailable = pg_unavailable,
    .full = pg_full,
    .sql_int_list = "(SELECT CAST(json_array_elements_text(CAST(? AS json)) AS BIGINT))",
    .sql_kv_array = "json_agg(json_build_object('key', t.key, 'value', t.value))",
    .sql_join_in_order = " JOIN ",
};
