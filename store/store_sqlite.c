/* store_sqlite.c - the SQL store's plumbing: the writer thread that commits
 * queued writes in groups, the pool of read connections, the per-connection
 * prepared-statement cache and small shared helpers. The engine is a driver
 * (store_db.h): SQLite by default, PostgreSQL for several replicas.
 *
 * Why one writer: SQLite allows one writer at a time. Letting every HTTP
 * thread write means they fight over the lock (busy waits, "database is
 * locked") and each pays its own fsync. Instead callers enqueue a job and
 * sleep; the writer takes every queued job, runs each inside its own
 * SAVEPOINT of a single BEGIN IMMEDIATE transaction and commits once: one
 * fsync for the whole group, and a failing job only rolls back its own
 * savepoint. Callers wake after the COMMIT, so a returned 0 means durable
 * (synchronous=FULL). Reads use separate read-only connections: in WAL mode
 * they see the last commit and never wait for the writer. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/util.h"
#include "store/store_sqlite.h"

#define SQ_DEFAULT_READERS 8
#define SQ_MAX_READERS 64

/* ---------------- small helpers ---------------- */

int store_sq_dberr(struct sq_conn *c, struct cap_error *err, const char *what)
{
    if (c && c->db && c->db->drv->bad_value && c->db->drv->bad_value(c->db))
        return cap_err(err, CAP_EINVAL, "Invalid value while %s: %s", what, sq_errmsg(c->db));
    if (c && c->db && c->db->drv->full && c->db->drv->full(c->db))
        return cap_err(err, CAP_ENOSPACE,
                       "The metadata store's disk is full while %s (%s): nothing of this request "
                       "was stored; free space and send it again",
                       what, sq_errmsg(c->db));
    if (c && c->db && c->db->drv->unavailable && c->db->drv->unavailable(c->db))
        return cap_err(err, CAP_EUNAVAIL, "The metadata store is unavailable while %s: %s", what,
                       sq_errmsg(c->db));
    return cap_err(err, CAP_EINTERNAL, "Database error while %s: %s", what,
                   c && c->db ? sq_errmsg(c->db) : "no connection");
}

struct sq_stmt *store_sq_stmt(struct sq_conn *c, const char *sql, struct cap_error *err)
{
    size_t h = (size_t)(((uintptr_t)sql >> 3) * 2654435761u) % SQ_CACHE_SLOTS;
    for (size_t i = 0; i < SQ_CACHE_SLOTS; i++) {
        size_t k = (h + i) % SQ_CACHE_SLOTS;
        if (c->keys[k] == sql) {
            sq_reset(c->stmts[k]);
            return c->stmts[k];
        }
        if (!c->keys[k]) {
            struct sq_stmt *st = c->db->drv->prepare(c->db, sql, true);
            if (!st) {
                store_sq_dberr(c, err, "preparing a query");
                return NULL;
            }
            c->keys[k] = sql;
            c->stmts[k] = st;
            return st;
        }
    }
    cap_err(err, CAP_EINTERNAL, "Internal error: prepared-statement cache is full");
    return NULL;
}

struct sq_stmt *store_sq_prepare(struct sq_conn *c, const char *sql, struct cap_error *err)
{
    struct sq_stmt *st = c->db->drv->prepare(c->db, sql, false);
    if (!st)
        store_sq_dberr(c, err, "preparing a query");
    return st;
}

int store_sq_exec(struct sq_conn *c, const char *sql, struct cap_error *err)
{
    if (sq_exec(c->db, sql) < 0)
        return cap_err(err, CAP_EINTERNAL, "Database error: %s", sq_errmsg(c->db));
    return 0;
}

int store_sq_step_done(struct sq_conn *c, struct sq_stmt *st, struct cap_error *err,
                       const char *what)
{
    int rc = sq_step(st);
    if (rc != SQ_DONE && rc != SQ_ROW) {
        int r = store_sq_dberr(c, err, what);
        sq_reset(st);
        return r;
    }
    sq_reset(st);
    return 0;
}

void store_sq_bind_text(struct sq_stmt *st, int i, const char *s)
{
    struct sq_bind b = SQ_TEXT(s);
    st->drv->bind(st, i, &b);
}

void store_sq_bind(struct sq_stmt *st, const struct sq_bind *args, size_t n)
{
    store_sq_bind_at(st, 1, args, n);
}

void store_sq_bind_at(struct sq_stmt *st, int first, const struct sq_bind *args, size_t n)
{
    for (size_t i = 0; i < n; i++)
        st->drv->bind(st, first + (int)i, &args[i]);
}

struct sq_stmt *store_sq_stmt_bind(struct sq_conn *c, const char *sql, const struct sq_bind *args,
                                   size_t n, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt(c, sql, err);
    if (st)
        store_sq_bind(st, args, n);
    return st;
}

int store_sq_run(struct sq_conn *c, const char *sql, const struct sq_bind *args, size_t n,
                 struct cap_error *err, const char *what)
{
    struct sq_stmt *st = store_sq_stmt_bind(c, sql, args, n, err);
    return st ? store_sq_step_done(c, st, err, what) : -CAP_EINTERNAL;
}

int store_sq_insert_id(struct sq_conn *c, const char *sql, const struct sq_bind *args, size_t n,
                       int64_t *id, struct cap_error *err, const char *what)
{
    struct sq_stmt *st = store_sq_stmt_bind(c, sql, args, n, err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc == SQ_ROW) {
        *id = sq_col_int(st, 0);
        /* SQLite writes the row while stepping to the end. */
        rc = sq_step(st) == SQ_DONE ? 1 : store_sq_dberr(c, err, what);
    } else {
        rc = rc == SQ_DONE ? 0 : store_sq_dberr(c, err, what);
    }
    sq_reset(st);
    return rc;
}

const char *store_sq_col_text(struct sq_stmt *st, int i)
{
    return st->drv->col_text(st, i);
}

bool store_sq_parse_id(const char *s, int64_t *out)
{
    if (!s || !*s || strlen(s) > 18)
        return false;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return true;
}

char *store_sq_page_token(int64_t offset)
{
    char json[64];
    int n = snprintf(json, sizeof json, "{\"offset\":%lld}", (long long)offset);
    return cap_base64_encode(json, (size_t)n);
}

int store_sq_page_offset(const char *token, int64_t *offset, struct cap_error *err)
{
    *offset = 0;
    if (!token || !*token)
        return 0;
    size_t n = 0;
    unsigned char *raw = cap_base64_decode(token, &n);
    cJSON *j = raw ? cJSON_ParseWithLength((const char *)raw, n) : NULL;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "offset");
    bool ok = cJSON_IsNumber(o) && o->valuedouble >= 0 && o->valuedouble < 9e15 &&
              o->valuedouble == (double)(int64_t)o->valuedouble;
    if (ok)
        *offset = (int64_t)o->valuedouble;
    cJSON_Delete(j);
    free(raw);
    if (!ok)
        return cap_err(err, CAP_EINVAL, "Invalid page token");
    return 0;
}

int store_sq_kv_array(struct sq_conn *c, struct sq_stmt *st, cJSON *obj, const char *name,
                      struct cap_error *err)
{
    cJSON *arr = NULL;
    int rc;
    while ((rc = sq_step(st)) == SQ_ROW) {
        if (!arr)
            arr = cJSON_AddArrayToObject(obj, name);
        cJSON *kv = cJSON_CreateObject();
        cJSON_AddStringToObject(kv, "key", store_sq_col_text(st, 0));
        cJSON_AddStringToObject(kv, "value", store_sq_col_text(st, 1));
        cJSON_AddItemToArray(arr, kv);
    }
    sq_reset(st);
    return rc == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading key/value pairs");
}

/* Our own small word lists for generated run and model names. */
static const char *const adjectives[] = {
    "amber",  "brisk",  "calm",   "dapper", "eager",  "fleet",  "gentle", "hardy",
    "ivory",  "jolly",  "keen",   "lucid",  "mellow", "nimble", "ornate", "placid",
    "quiet",  "rapid",  "silent", "tidy",   "upbeat", "vivid",  "witty",  "young",
    "zesty",  "bold",   "clever", "dusty",  "frosty", "golden", "hollow", "lively",
};
static const char *const nouns[] = {
    "anchor", "beacon", "canyon", "delta",  "ember",  "falcon", "glacier", "harbor",
    "island", "jetty",  "kestrel", "lagoon", "meadow", "nebula", "orchard", "pebble",
    "quarry", "river",  "summit", "tundra", "valley", "willow", "yarrow",  "zephyr",
    "badger", "comet",  "dune",   "fjord",  "grove",  "heron",  "lantern", "otter",
};

char *store_sq_random_name(void)
{
    char hex[9];
    cap_random_hex(hex, 4);
    uint32_t r = (uint32_t)strtoul(hex, NULL, 16);
    size_t na = sizeof adjectives / sizeof *adjectives, nn = sizeof nouns / sizeof *nouns;
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_printf(&b, "%s-%s-%u", adjectives[r % na], nouns[(r / na) % nn],
                   (r / (uint32_t)(na * nn)) % 1000);
    return cap_buf_steal(&b);
}

/* ---------------- connections ---------------- */

static void conn_close(struct sq_conn *c)
{
    for (size_t i = 0; i < SQ_CACHE_SLOTS; i++) {
        if (c->keys[i])
            sq_finalize(c->stmts[i]);
        c->keys[i] = NULL;
        c->stmts[i] = NULL;
    }
    if (c->db)
        c->db->drv->close(c->db);
    c->db = NULL;
}

struct sq_conn *store_sq_reader(struct sq *s)
{
    pthread_mutex_lock(&s->rmu);
    while (!s->free_readers)
        pthread_cond_wait(&s->rcv, &s->rmu);
    struct sq_conn *c = s->free_readers;
    s->free_readers = c->next_free;
    pthread_mutex_unlock(&s->rmu);
    return c;
}

void store_sq_reader_done(struct sq *s, struct sq_conn *c)
{
    pthread_mutex_lock(&s->rmu);
    c->next_free = s->free_readers;
    s->free_readers = c;
    pthread_cond_signal(&s->rcv);
    pthread_mutex_unlock(&s->rmu);
}

int store_sq_read(struct sq *s, sq_job_fn fn, void *arg, struct cap_error *err)
{
    struct sq_conn *c = store_sq_reader(s);
    int rc = store_sq_read_begin(c, err);
    if (rc == 0) {
        rc = fn(s, c, arg, err);
        store_sq_read_end(c);
    }
    store_sq_reader_done(s, c);
    return rc;
}

/* BEGIN and COMMIT of reads are cached statements (the driver's begin_read
 * is a static string): every read pays them, parsing them each time did not
 * need to be added to that path. */
int store_sq_read_begin(struct sq_conn *c, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt(c, c->db->drv->begin_read, err);
    return st ? store_sq_step_done(c, st, err, "starting a read") : -CAP_EINTERNAL;
}

void store_sq_read_end(struct sq_conn *c)
{
    struct sq_stmt *st = store_sq_stmt(c, "COMMIT", NULL);
    if (!st || sq_step(st) != SQ_DONE)
        sq_exec(c->db, "ROLLBACK");
    if (st)
        sq_reset(st);
}

/* ---------------- the writer ---------------- */

static int run_stmt(struct sq_conn *c, const char *sql, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt(c, sql, err);
    return st ? store_sq_step_done(c, st, err, sql) : -CAP_EINTERNAL;
}

/* Marks jobs [from, to) that had succeeded as failed with why (its code,
 * a full disk's 507 included; else 500): their transaction did not commit. */
static void fail_group(struct sq_job *from, struct sq_job *to, const struct cap_error *why)
{
    int code = why->code ? why->code : CAP_EINTERNAL;
    for (struct sq_job *j = from; j != to; j = j->next) {
        if (j->rc == 0) {
            j->rc = -code;
            cap_err(&j->err, code, "%s", why->msg);
        }
    }
}

/* Runs a list of jobs as one or more transactions (more than one only when
 * SQLite itself aborted a transaction midway, e.g. on a full disk). */
static void run_group(struct sq *s, struct sq_job *jobs)
{
    struct sq_conn *c = &s->writer;
    struct sq_job *j = jobs;
    while (j) {
        struct sq_job *first = j;
        struct cap_error terr;
        cap_err_clear(&terr);
        if (sq_exec(c->db, c->db->drv->begin_write) < 0) {
            int brc = store_sq_dberr(c, &terr, "starting a write");
            for (; j; j = j->next) {
                j->rc = brc;
                j->err = terr;
            }
            return;
        }
        bool aborted = false;
        for (; j && !aborted; j = j->next) {
            cap_err_clear(&j->err);
            if (run_stmt(c, "SAVEPOINT job", &j->err) < 0) {
                j->rc = -CAP_EINTERNAL;
                continue;
            }
            j->rc = j->fn(s, c, j->arg, &j->err);
            if (j->rc > 0)
                j->rc = 0;
            if (!sq_in_txn(c->db)) {
                /* SQLite rolled the whole transaction back: the jobs before
                 * this one in the group are lost too. */
                store_sq_dberr(c, &terr, "a transaction SQLite aborted");
                if (j->rc == 0) {
                    j->rc = -terr.code;
                    j->err = terr;
                }
                fail_group(first, j, &terr);
                aborted = true;
                continue;
            }
            if (j->rc < 0) {
                struct cap_error ignore;
                run_stmt(c, "ROLLBACK TO job", &ignore);
            }
            if (run_stmt(c, "RELEASE job", &terr) < 0 && j->rc == 0) {
                j->rc = -CAP_EINTERNAL;
                j->err = terr;
            }
        }
        if (aborted)
            continue;
        if (run_stmt(c, "COMMIT", &terr) < 0) {
            sq_exec(c->db, "ROLLBACK");
            fail_group(first, j, &terr);
        }
    }
}

static void *writer_main(void *arg)
{
    cap_thread_name("capstan-store");
    struct sq *s = arg;
    pthread_mutex_lock(&s->qmu);
    for (;;) {
        while (!s->qhead && !s->stopping)
            pthread_cond_wait(&s->qcv, &s->qmu);
        if (!s->qhead)
            break; /* stopping and drained */
        struct sq_job *batch = s->qhead;
        s->qhead = s->qtail = NULL;
        pthread_mutex_unlock(&s->qmu);
        run_group(s, batch);
        pthread_mutex_lock(&s->qmu);
        /* A job lives on its caller's stack: read next before done. */
        for (struct sq_job *j = batch, *next; j; j = next) {
            next = j->next;
            j->done = true;
        }
        pthread_cond_broadcast(&s->donecv);
    }
    pthread_mutex_unlock(&s->qmu);
    return NULL;
}

int store_sq_write(struct sq *s, sq_job_fn fn, void *arg, struct cap_error *err)
{
    struct sq_job job = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&s->qmu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->qmu);
        return cap_err(err, CAP_EUNAVAIL, "The metadata store is shutting down");
    }
    if (s->qtail)
        s->qtail->next = &job;
    else
        s->qhead = &job;
    s->qtail = &job;
    pthread_cond_signal(&s->qcv);
    while (!job.done)
        pthread_cond_wait(&s->donecv, &s->qmu);
    pthread_mutex_unlock(&s->qmu);
    if (job.rc < 0 && err)
        *err = job.err;
    return job.rc;
}

/* ---------------- open / close ---------------- */

static void sq_free(struct sq *s)
{
    for (int i = 0; i < s->nreaders; i++)
        conn_close(&s->readers[i]);
    free(s->readers);
    if (s->writer.db) {
        for (size_t i = 0; i < SQ_CACHE_SLOTS; i++) {
            if (s->writer.keys[i])
                sq_finalize(s->writer.stmts[i]);
            s->writer.keys[i] = NULL;
        }
        s->writer.db->drv->tidy(s->writer.db);
    }
    conn_close(&s->writer);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qcv);
    pthread_cond_destroy(&s->donecv);
    pthread_mutex_destroy(&s->rmu);
    pthread_cond_destroy(&s->rcv);
    store_sq_runs_sql_free(s);
    store_sq_keys_free(s->keys);
    free(s->path);
    free(s->artifact_prefix);
    free(s);
}

static void sq_close(void *impl)
{
    struct sq *s = impl;
    if (!s)
        return;
    if (s->writer_running) {
        pthread_mutex_lock(&s->qmu);
        s->stopping = true;
        pthread_cond_signal(&s->qcv);
        pthread_mutex_unlock(&s->qmu);
        pthread_join(s->writer_thread, NULL);
    }
    sq_free(s);
}

int store_sql_open(const struct sq_driver *drv, const char *target, const char *artifact_prefix,
                   int read_connections, void **impl, struct cap_error *err)
{
    const char *path = target;
    struct sq *s = cap_xcalloc(1, sizeof *s);
    s->drv = drv;
    s->path = cap_xstrdup(path);
    s->artifact_prefix = cap_xstrdup(artifact_prefix);
    store_sq_runs_sql_init(s);
    s->keys = store_sq_keys_new();
    const char *plan = getenv("CAPSTAN_STORE_SEARCH_PLAN");
    s->search_plan = !plan                        ? 0
                     : strcmp(plan, "ordered") == 0 ? 1
                     : strcmp(plan, "driver") == 0  ? 2
                     : strcmp(plan, "free") == 0    ? 3
                                                    : 0;
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcv, NULL);
    pthread_cond_init(&s->donecv, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_cond_init(&s->rcv, NULL);
    int rc;
    s->writer.owner = s;
    if ((rc = drv->open(path, true, &s->writer.db, err)) < 0 ||
        (rc = store_sq_migrate(&s->writer, s->artifact_prefix, err)) < 0)
        goto fail;
    int n = read_connections > 0 ? read_connections : SQ_DEFAULT_READERS;
    if (n > SQ_MAX_READERS)
        n = SQ_MAX_READERS;
    s->readers = cap_xcalloc((size_t)n, sizeof *s->readers);
    for (int i = 0; i < n; i++) {
        s->nreaders = i + 1;
        s->readers[i].owner = s;
        if ((rc = drv->open(path, false, &s->readers[i].db, err)) < 0)
            goto fail;
        s->readers[i].next_free = s->free_readers;
        s->free_readers = &s->readers[i];
    }
    if (pthread_create(&s->writer_thread, NULL, writer_main, s) != 0) {
        rc = cap_err(err, CAP_EINTERNAL, "Cannot start the database writer thread: %s",
                     strerror(errno));
        goto fail;
    }
    s->writer_running = true;
    *impl = s;
    return 0;
fail:
    sq_free(s);
    return rc;
}

/* The operations of store_ops.def, each one store_sq_<name>. */
const struct store_backend store_sql_backend = {
    .name = "sql",
    .close = sq_close,
#define STORE_OP(name, params, args, ...) .name = store_sq_##name,
#include "store/store_ops.def"
#undef STORE_OP
};
