/* predlog.c - see predlog.h. A ring of entries under one mutex; the writer
 * takes everything queued at once (up to a batch), so a busy server writes
 * few large transactions instead of many small ones. */
#include "monitor/predlog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "base/buf.h"
#include "base/util.h"

#define PREDLOG_BATCH 512
/* The writer wakes when this many entries wait, or every PREDLOG_TICK_MS:
 * waking it on every push cost a context switch per request. */
#define PREDLOG_WAKE 256
#define PREDLOG_TICK_MS 50

struct predlog {
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* the writer waits for entries */
    pthread_cond_t donecv;   /* flushers wait for the writer */
    struct store_prediction *ring;
    void **mem;              /* each entry's block (see predlog_push) */
    size_t cap, head, len;
    uint64_t pushed, finished; /* entries accepted / entries written or dropped by the sink */
    bool stopping;
    int flushing;            /* callers waiting in predlog_flush */
    pthread_t thread;
    predlog_sink sink;
    void *cls;
    _Atomic uint64_t dropped, written;
};

static void *writer(void *arg)
{
    cap_thread_name("capstan-predlog");
    struct predlog *l = arg;
    struct store_prediction *batch = cap_xmalloc(PREDLOG_BATCH * sizeof *batch);
    void **mem = cap_xmalloc(PREDLOG_BATCH * sizeof *mem);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stopping && l->len < PREDLOG_WAKE && !(l->flushing && l->len > 0)) {
            struct timespec ts;
            cap_deadline(&ts, PREDLOG_TICK_MS / 1000.0);
            if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) != 0 && l->len > 0)
                break;
        }
        if (l->len == 0) {
            if (l->stopping)
                break;
            continue;
        }
        size_t n = 0;
        while (l->len > 0 && n < PREDLOG_BATCH) {
            mem[n] = l->mem[l->head];
            batch[n++] = l->ring[l->head];
            l->head = (l->head + 1) % l->cap;
            l->len--;
        }
        pthread_mutex_unlock(&l->mu);
        struct cap_error err = {0};
        if (l->sink(l->cls, batch, n, &err) < 0) {
            cap_log(CAP_LOG_WARN, "prediction log: %zu entries lost: %s", n, err.msg);
            atomic_fetch_add(&l->dropped, n);
        } else {
            atomic_fetch_add(&l->written, n);
        }
        for (size_t i = 0; i < n; i++)
            free(mem[i]);
        pthread_mutex_lock(&l->mu);
        l->finished += n;
        pthread_cond_broadcast(&l->donecv);
    }
    pthread_mutex_unlock(&l->mu);
    free(batch);
    free(mem);
    return NULL;
}

struct predlog *predlog_start(size_t capacity, predlog_sink sink, void *cls)
{
    struct predlog *l = cap_xcalloc(1, sizeof *l);
    l->cap = capacity ? capacity : 1;
    l->ring = cap_xcalloc(l->cap, sizeof *l->ring);
    l->mem = cap_xcalloc(l->cap, sizeof *l->mem);
    l->sink = sink;
    l->cls = cls;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    pthread_cond_init(&l->donecv, NULL);
    if (pthread_create(&l->thread, NULL, writer, l) != 0) {
        cap_log(CAP_LOG_ERROR, "prediction log: cannot start its thread");
        free(l->ring);
        free(l->mem);
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
    l->stopping = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    pthread_cond_destroy(&l->donecv);
    free(l->ring);
    free(l->mem);
    free(l);
}

bool predlog_push(struct predlog *l, const struct store_prediction *row, void *mem)
{
    if (!l) {
        free(mem);
        return false;
    }
    pthread_mutex_lock(&l->mu);
    if (l->len == l->cap || l->stopping) {
        pthread_mutex_unlock(&l->mu);
        atomic_fetch_add(&l->dropped, 1);
        free(mem);
        return false;
    }
    size_t at = (l->head + l->len) % l->cap;
    l->ring[at] = *row;
    l->mem[at] = mem;
    l->len++;
    l->pushed++;
    if (l->len == PREDLOG_WAKE)
        pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
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
    pthread_mutex_lock(&l->mu);
    uint64_t target = l->pushed;
    l->flushing++;
    pthread_cond_signal(&l->cv);
    while (l->finished < target)
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
