/* ingest_ceiling.c - the storage ceilings log-batch is measured against
 * (bench/tracking/ingest.sh prints them beside the HTTP figure).
 *
 *   ingest_ceiling DIR [SECONDS] [THREADS] [METRICS]
 *
 * Two figures, metric rows per second, each on a fresh database in DIR:
 *   plain  SQLite alone: one connection, WAL, synchronous=FULL (the store's
 *          durability), a table of (run, key, step, timestamp, value) keyed
 *          by (run, timestamp, step, key), one 100-row INSERT per request
 *          and one commit per 32 requests. No latest-value table, no
 *          foreign keys, no JSON: what the disk and SQLite can absorb.
 *   store  Capstan's store without HTTP: THREADS threads calling
 *          store_run_log_batch with METRICS points each, as the server's
 *          handlers do, through the writer's group commit.
 * The gap between the two is the store's schema and bookkeeping (latest
 * metrics, the point's identity as key, foreign keys); the gap between
 * store and HTTP is the server's (parsing, validation, the network). */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

#define RUNS 64
#define PLAIN_GROUP 32

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int plain_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "ingest_ceiling: %s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *plain_prepare(sqlite3 *db, int rows)
{
    size_t cap = 128 + (size_t)rows * 20;
    char *sql = malloc(cap);
    size_t n = (size_t)snprintf(sql, cap, "INSERT INTO m(rid, key, step, ts, value) VALUES ");
    for (int r = 0; r < rows; r++)
        n += (size_t)snprintf(sql + n, cap - n, "%s(?,?,?,?,?)", r ? "," : "");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fprintf(stderr, "ingest_ceiling: prepare: %s\n", sqlite3_errmsg(db));
    free(sql);
    return st;
}

static double plain_rate(const char *dir, double seconds, int nmetrics, char keys[][16])
{
    char path[4096];
    snprintf(path, sizeof path, "%s/plain.db", dir);
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        plain_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                       "CREATE TABLE m(rid INTEGER, key TEXT, step INTEGER, ts INTEGER,"
                       " value REAL, PRIMARY KEY (rid, ts, step, key)) WITHOUT ROWID;") < 0) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_stmt *st = plain_prepare(db, nmetrics);
    long req = 0;
    double t0 = now_s(), t = t0;
    while (st && t - t0 < seconds) {
        if (plain_exec(db, "BEGIN") < 0)
            break;
        for (int g = 0; g < PLAIN_GROUP; g++, req++) {
            for (int k = 0; k < nmetrics; k++) {
                int p = k * 5;
                sqlite3_bind_int64(st, p + 1, req % RUNS);
                sqlite3_bind_text(st, p + 2, keys[k], -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, p + 3, req);
                sqlite3_bind_int64(st, p + 4, 1000 + req);
                sqlite3_bind_double(st, p + 5, (double)((req * 31 + k) % 997) / 997.0);
            }
            if (sqlite3_step(st) != SQLITE_DONE)
                fprintf(stderr, "ingest_ceiling: insert: %s\n", sqlite3_errmsg(db));
            sqlite3_reset(st);
        }
        if (plain_exec(db, "COMMIT") < 0)
            break;
        t = now_s();
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return (double)req * nmetrics / (t - t0);
}

struct loader {
    struct store *st;
    char (*run_ids)[40];
    char (*keys)[16];
    int id, nthreads, nmetrics;
    double until;
    atomic_long *rows;
};

static void *load_main(void *arg)
{
    struct loader *l = arg;
    struct store_metric *m = calloc((size_t)l->nmetrics, sizeof *m);
    for (long n = 0; now_s() < l->until; n++) {
        for (int k = 0; k < l->nmetrics; k++)
            m[k] = (struct store_metric){.key = l->keys[k],
                                         .value = (double)((n * 31 + k) % 997) / 997.0,
                                         .timestamp = 1000 + n, .step = n};
        const char *run = l->run_ids[(l->id + n * l->nthreads) % RUNS];
        struct cap_error err = {0};
        if (store_run_log_batch(l->st, run, m, (size_t)l->nmetrics, NULL, 0, NULL, 0, &err) < 0) {
            fprintf(stderr, "ingest_ceiling: log_batch: %s\n", err.msg);
            break;
        }
        atomic_fetch_add(l->rows, l->nmetrics);
    }
    free(m);
    return NULL;
}

static int make_runs(struct store *st, char run_ids[][40])
{
    struct cap_error err = {0};
    char *eid = NULL;
    if (store_experiment_create(st, "ingest", NULL, NULL, 0, &eid, &err) < 0)
        goto fail;
    for (int r = 0; r < RUNS; r++) {
        cJSON *run = NULL;
        struct store_run_create in = {.experiment_id = eid, .start_time = 1000};
        if (store_run_create(st, &in, &run, &err) < 0)
            goto fail;
        const cJSON *id = cJSON_GetObjectItem(cJSON_GetObjectItem(run, "info"), "run_id");
        snprintf(run_ids[r], 40, "%s", cJSON_GetStringValue(id));
        cJSON_Delete(run);
    }
    free(eid);
    return 0;
fail:
    fprintf(stderr, "ingest_ceiling: setting up runs: %s\n", err.msg);
    free(eid);
    return -1;
}

static double store_rate(const char *dir, double seconds, int nthreads, int nmetrics,
                         char keys[][16])
{
    char uri[4096];
    snprintf(uri, sizeof uri, "%s/store.db", dir);
    struct store_config cfg = {.uri = uri, .artifact_prefix = "mlflow-artifacts:"};
    struct store *st = NULL;
    struct cap_error err = {0};
    if (store_open(&cfg, &st, &err) < 0) {
        fprintf(stderr, "ingest_ceiling: %s\n", err.msg);
        return -1;
    }
    static char run_ids[RUNS][40];
    double rate = -1;
    if (make_runs(st, run_ids) == 0) {
        atomic_long rows = 0;
        pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
        struct loader *ls = calloc((size_t)nthreads, sizeof *ls);
        double t0 = now_s();
        for (int i = 0; i < nthreads; i++) {
            ls[i] = (struct loader){st, run_ids, keys, i, nthreads, nmetrics, t0 + seconds, &rows};
            pthread_create(&tids[i], NULL, load_main, &ls[i]);
        }
        for (int i = 0; i < nthreads; i++)
            pthread_join(tids[i], NULL);
        rate = (double)atomic_load(&rows) / (now_s() - t0);
        free(tids);
        free(ls);
    }
    store_close(st);
    return rate;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ingest_ceiling DIR [SECONDS] [THREADS] [METRICS]\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 10;
    int nthreads = argc > 3 ? atoi(argv[3]) : 32, nmetrics = argc > 4 ? atoi(argv[4]) : 100;
    if (seconds <= 0 || nthreads < 1 || nthreads > 1024 || nmetrics < 1 || nmetrics > 1000) {
        fprintf(stderr, "ingest_ceiling: SECONDS > 0, THREADS 1..1024, METRICS 1..1000\n");
        return 2;
    }
    char (*keys)[16] = calloc((size_t)nmetrics, sizeof *keys);
    for (int k = 0; k < nmetrics; k++)
        snprintf(keys[k], sizeof keys[k], "m%d", k);
    double plain = plain_rate(argv[1], seconds, nmetrics, keys);
    double store = store_rate(argv[1], seconds, nthreads, nmetrics, keys);
    free(keys);
    if (plain < 0 || store < 0)
        return 1;
    printf("CEILING {\"plain_rows_per_s\": %.0f, \"store_rows_per_s\": %.0f, \"metrics\": %d, "
           "\"threads\": %d, \"seconds\": %g}\n",
           plain, store, nmetrics, nthreads, seconds);
    return 0;
}
