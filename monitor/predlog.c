/* predlog.c - see predlog.h. Producers append to one of several shards,
 * each under its own mutex and picked by thread, so HTTP threads do not
 * queue behind one another (one shared mutex made ~7% of requests sleep in
 * futex on two cores). The writer takes every shard's entries at once,
 * puts them back in push order and writes them in batches, so a busy
 * server writes few large transactions instead of many small ones. */
#include "monitor/predlog.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/util.h"

#define PREDLOG_BATCH 512
/* The writer wakes when this many entries wait, or every PREDLOG_TICK_MS:
 * waking it on every push cost a context switch per request. */
#define PREDLOG_WAKE 256
#define PREDLOG_TICK_MS 50
#define PREDLOG_SHARDS 16

/* An entry as queued: its strings and packs are copied into the shard's
 * bytes, so a request thread allocates nothing for the log and the writer
 * frees nothing that another thread allocated (glibc then takes that
 * thread's arena lock, and the two sleep on each other). */
enum { F_DEPLOYMENT, F_MODEL, F_VERSION, F_ROLE, F_REQUEST_ID, F_INPUTS, F_OUTPUTS, F_COUNT };

struct item {
    struct store_prediction row; /* pointers unset while queued: see off */
    size_t off[F_COUNT];         /* where each field starts in the bytes; NO_FIELD: NULL */
    uint64_t seq;                /* push order across shards */
};

#define NO_FIELD SIZE_MAX

struct items {
    struct item *v;
    size_t len, cap;
    struct cap_buf bytes;
};

/* A spare shard buffer bigger than this is given back after a round, so
 * that one burst of large requests does not hold its memory for good. */
#define PREDLOG_KEEP_BYTES (4u << 20)

struct shard {
    alignas(64) pthread_mutex_t mu;
    struct items q;
    uint64_t pushed;    /* entries ever appended, under mu */
    uint64_t finished;  /* of those, written or dropped by the sink, under predlog.mu */
};

struct predlog {
    struct shard shards[PREDLOG_SHARDS];
    alignas(64) _Atomic size_t queued; /* entries in the shards or being written: the bound */
    alignas(64) _Atomic uint64_t seq;
    size_t cap;
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* the writer waits for entries */
    pthread_cond_t donecv;   /* flushers wait for the writer */
    atomic_bool stopping;
    int flushing;            /* callers waiting in predlog_flush, under mu */
    pthread_t thread;
    predlog_sink sink;
    void *cls;
    _Atomic uint64_t dropped, written;
};

static int by_seq(const void *a, const void *b)
{
    uint64_t x = ((const struct item *)a)->seq, y = ((const struct item *)b)->seq;
    return (x > y) - (x < y);
}

static void items_reserve(struct items *q, size_t n)
{
    if (n <= q->cap)
        return;
    size_t cap = q->cap ? q->cap : 64;
    while (cap < n)
        cap *= 2;
    q->v = cap_xrealloc(q->v, cap * sizeof *q->v);
    q->cap = cap;
}

/* One round: everything the shards hold, written in push order. took[i]
 * gets how many entries came from shard i. Returns the total. */
static size_t write_round(struct predlog *l, struct items *spare, struct items *all,
                          struct store_prediction *batch, size_t *took)
{
    size_t total = 0;
    for (int i = 0; i < PREDLOG_SHARDS; i++) {
        struct shard *sh = &l->shards[i];
        pthread_mutex_lock(&sh->mu);
        /* Swap the arrays so that the shard's lock is held for no copy. */
        struct items full = sh->q;
        sh->q = spare[i];
        sh->q.len = 0;
        cap_buf_reset(&sh->q.bytes);
        pthread_mutex_unlock(&sh->mu);
        spare[i] = full;
        took[i] = full.len;
        total += full.len;
    }
    if (total == 0)
        return 0;
    all->len = 0;
    items_reserve(all, total);
    for (int i = 0; i < PREDLOG_SHARDS; i++) {
        const char *base = spare[i].bytes.data;
        for (size_t k = 0; k < spare[i].len; k++) {
            struct item *it = &all->v[all->len++];
            *it = spare[i].v[k];
            const char *f[F_COUNT];
            for (int j = 0; j < F_COUNT; j++)
                f[j] = it->off[j] == NO_FIELD ? NULL : base ? base + it->off[j] : "";
            it->row.deployment = f[F_DEPLOYMENT];
            it->row.model_name = f[F_MODEL];
            it->row.model_version = f[F_VERSION];
            it->row.role = f[F_ROLE];
            it->row.request_id = f[F_REQUEST_ID];
            it->row.inputs = f[F_INPUTS];
            it->row.outputs = f[F_OUTPUTS];
        }
    }
    qsort(all->v, all->len, sizeof *all->v, by_seq);
    for (size_t at = 0; at < all->len; at += PREDLOG_BATCH) {
        size_t n = all->len - at < PREDLOG_BATCH ? all->len - at : PREDLOG_BATCH;
        for (size_t i = 0; i < n; i++)
            batch[i] = all->v[at + i].row;
        struct cap_error err = {0};
        if (l->sink(l->cls, batch, n, &err) < 0) {
            cap_log(CAP_LOG_WARN, "prediction log: %zu entries lost: %s", n, err.msg);
            atomic_fetch_add(&l->dropped, n);
        } else {
            atomic_fetch_add(&l->written, n);
        }
    }
    for (int i = 0; i < PREDLOG_SHARDS; i++) {
        spare[i].len = 0;
        if (spare[i].bytes.cap > PREDLOG_KEEP_BYTES)
            cap_buf_free(&spare[i].bytes);
    }
    return total;
}

static void *writer(void *arg)
{
    cap_thread_name("capstan-predlog");
    struct predlog *l = arg;
    struct store_prediction *batch = cap_xmalloc(PREDLOG_BATCH * sizeof *batch);
    struct items spare[PREDLOG_SHARDS] = {0}, all = {0};
    size_t took[PREDLOG_SHARDS];
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!atomic_load(&l->stopping) && atomic_load(&l->queued) < PREDLOG_WAKE &&
               !(l->flushing && atomic_load(&l->queued) > 0)) {
            struct timespec ts;
            cap_deadline(&ts, PREDLOG_TICK_MS / 1000.0);
            if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) != 0 && atomic_load(&l->queued) > 0)
                break;
        }
        if (atomic_load(&l->queued) == 0) {
            if (atomic_load(&l->stopping))
                break;
            continue;
        }
        pthread_mutex_unlock(&l->mu);
        size_t n = write_round(l, spare, &all, batch, took);
        atomic_fetch_sub(&l->queued, n);
        pthread_mutex_lock(&l->mu);
        for (int i = 0; i < PREDLOG_SHARDS; i++)
            l->shards[i].finished += took[i];
        pthread_cond_broadcast(&l->donecv);
    }
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < PREDLOG_SHARDS; i++) {
        free(spare[i].v);
        cap_buf_free(&spare[i].bytes);
    }
    free(all.v);
    free(batch);
    return NULL;
}

struct predlog *predlog_start(size_t capacity, predlog_sink sink, void *cls)
{
    /* aligned so that no two shards' locks share a cache line */
    struct predlog *l = aligned_alloc(alignof(struct predlog),
                                      (sizeof *l + alignof(struct predlog) - 1) /
                                          alignof(struct predlog) * alignof(struct predlog));
    if (!l) {
        cap_log(CAP_LOG_ERROR, "prediction log: out of memory");
        return NULL;
    }
    memset(l, 0, sizeof *l);
    l->cap = capacity ? capacity : 1;
    l->sink = sink;
    l->cls = cls;
    for (int i = 0; i < PREDLOG_SHARDS; i++)
        pthread_mutex_init(&l->shards[i].mu, NULL);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    pthread_cond_init(&l->donecv, NULL);
    if (pthread_create(&l->thread, NULL, writer, l) != 0) {
        cap_log(CAP_LOG_ERROR, "prediction log: cannot start its thread");
        for (int i = 0; i < PREDLOG_SHARDS; i++)
            pthread_mutex_destroy(&l->shards[i].mu);
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        pthread_cond_destroy(&l->donecv);
        free(l);
        return NULL;
    }
    return l;
}

void predlog_stop(struct predlog *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    atomic_store(&l->stopping, true);
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    for (int i = 0; i < PREDLOG_SHARDS; i++) {
        pthread_mutex_destroy(&l->shards[i].mu);
        free(l->shards[i].q.v);
        cap_buf_free(&l->shards[i].q.bytes);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    pthread_cond_destroy(&l->donecv);
    free(l);
}

/* The calling thread's shard, handed out in turn on first use. */
static struct shard *my_shard(struct predlog *l)
{
    static atomic_uint next;
    static _Thread_local unsigned mine; /* 1 + shard index, 0 before the first push */
    if (!mine)
        mine = 1 + atomic_fetch_add(&next, 1) % PREDLOG_SHARDS;
    return &l->shards[mine - 1];
}

static size_t put_field(struct cap_buf *b, const void *v, size_t n)
{
    if (!v)
        return NO_FIELD;
    size_t at = b->len;
    cap_buf_append(b, v, n);
    return at;
}

static size_t put_str(struct cap_buf *b, const char *v)
{
    return put_field(b, v, v ? strlen(v) + 1 : 0);
}

bool predlog_push(struct predlog *l, const struct store_prediction *row)
{
    if (!l)
        return false;
    size_t before = 0;
    if (atomic_load_explicit(&l->stopping, memory_order_relaxed) ||
        (before = atomic_fetch_add(&l->queued, 1)) >= l->cap) {
        if (!atomic_load_explicit(&l->stopping, memory_order_relaxed))
            atomic_fetch_sub(&l->queued, 1);
        atomic_fetch_add(&l->dropped, 1);
        return false;
    }
    struct shard *sh = my_shard(l);
    pthread_mutex_lock(&sh->mu);
    items_reserve(&sh->q, sh->q.len + 1);
    struct item *it = &sh->q.v[sh->q.len++];
    struct cap_buf *b = &sh->q.bytes;
    it->row = *row;
    it->off[F_DEPLOYMENT] = put_str(b, row->deployment);
    it->off[F_MODEL] = put_str(b, row->model_name);
    it->off[F_VERSION] = put_str(b, row->model_version);
    it->off[F_ROLE] = put_str(b, row->role);
    it->off[F_REQUEST_ID] = put_str(b, row->request_id);
    it->off[F_INPUTS] = put_field(b, row->inputs, row->inputs_len);
    it->off[F_OUTPUTS] = put_field(b, row->outputs, row->outputs_len);
    it->seq = atomic_fetch_add(&l->seq, 1);
    sh->pushed++;
    pthread_mutex_unlock(&sh->mu);
    if (before + 1 == PREDLOG_WAKE) {
        pthread_mutex_lock(&l->mu);
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
    return true;
}

uint64_t predlog_dropped(const struct predlog *l)
{
    return l ? atomic_load(&((struct predlog *)l)->dropped) : 0;
}

uint64_t predlog_written(const struct predlog *l)
{
    return l ? atomic_load(&((struct predlog *)l)->written) : 0;
}

void predlog_flush(struct predlog *l)
{
    if (!l)
        return;
    uint64_t target[PREDLOG_SHARDS];
    for (int i = 0; i < PREDLOG_SHARDS; i++) {
        pthread_mutex_lock(&l->shards[i].mu);
        target[i] = l->shards[i].pushed;
        pthread_mutex_unlock(&l->shards[i].mu);
    }
    pthread_mutex_lock(&l->mu);
    l->flushing++;
    pthread_cond_signal(&l->cv);
    for (int i = 0; i < PREDLOG_SHARDS; i++)
        while (l->shards[i].finished < target[i])
            pthread_cond_wait(&l->donecv, &l->mu);
    l->flushing--;
    pthread_mutex_unlock(&l->mu);
}
int predlog_store_sink(void *cls, const struct store_prediction *rows, size_t n,
                       struct cap_error *err)
{
    struct predlog_store *ps = cls;
    int rc = store_predictions_log(ps->store, rows, n, err);
    if (rc < 0)
        return rc;
    ps->since_trim += (int64_t)n;
    /* Trim in steps of a few percent so the delete stays small. */
    if (ps->keep_rows > 0 && ps->since_trim >= ps->keep_rows / 32 + 1) {
        ps->since_trim = 0;
        struct cap_error e = {0};
        if (store_predictions_trim(ps->store, ps->keep_rows, &e) < 0)
            cap_log(CAP_LOG_WARN, "prediction log: trimming failed: %s", e.msg);
    }
    return 0;
}
