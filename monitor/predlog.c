/* predlog.c - see predlog.h. Producers append to one of several shards,
 * each under its own mutex and picked by thread, so HTTP threads do not
 * queue behind one another (one shared mutex made ~7% of requests sleep in
 * futex on two cores). The writer takes every shard's entries at once,
 * puts them back in push order and writes them in batches, so a busy
 * server writes few large transactions instead of many small ones.
 *
 * Order: each entry gets its sequence number under its shard's lock, and
 * the writer empties the shards one after another, so a round can hold
 * entry N+1 (from a shard emptied late) without entry N (pushed into a
 * shard already emptied). The writer therefore writes only the unbroken
 * run from the next number it expects and holds the rest, copied, for the
 * next round, which finds the missing entries in their shards. Monitoring
 * reads the log by cursor and must never see N+1 before N. */
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
};

struct predlog {
    struct shard shards[PREDLOG_SHARDS];
    alignas(64) _Atomic size_t queued; /* entries in the shards or being written: the bound */
    alignas(64) _Atomic uint64_t seq;   /* the next entry's number */
    uint64_t done;           /* entries below this number are written or lost, under mu */
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
    /* tests only (predlog_set_round_hook); atomic as the writer reads it unlocked */
    void *hook_cls;
    _Atomic(void (*)(void *, int)) hook;
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

/* Appends a copy of row (its strings and packs into q's bytes). */
static struct item *items_put(struct items *q, const struct store_prediction *row, uint64_t seq)
{
    items_reserve(q, q->len + 1);
    struct item *it = &q->v[q->len++];
    struct cap_buf *b = &q->bytes;
    it->row = *row;
    it->off[F_DEPLOYMENT] = put_str(b, row->deployment);
    it->off[F_MODEL] = put_str(b, row->model_name);
    it->off[F_VERSION] = put_str(b, row->model_version);
    it->off[F_ROLE] = put_str(b, row->role);
    it->off[F_REQUEST_ID] = put_str(b, row->request_id);
    it->off[F_INPUTS] = put_field(b, row->inputs, row->inputs_len);
    it->off[F_OUTPUTS] = put_field(b, row->outputs, row->outputs_len);
    it->seq = seq;
    return it;
}

/* Appends q's entries to all with their row pointers set into q's bytes. */
static void items_resolve(struct items *all, const struct items *q)
{
    const char *base = q->bytes.data;
    for (size_t k = 0; k < q->len; k++) {
        struct item *it = &all->v[all->len++];
        *it = q->v[k];
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

/* The writer's state between rounds. */
struct round {
    struct items spare[PREDLOG_SHARDS]; /* swapped with the shards' queues */
    struct items held;                  /* taken but not yet writable (a gap before them) */
    struct items next_held;
    struct items all;                   /* one round's entries, resolved, sorted */
    struct store_prediction *batch;
};

static void write_batches(struct predlog *l, struct round *r, size_t n)
{
    for (size_t at = 0; at < n; at += PREDLOG_BATCH) {
        size_t k = n - at < PREDLOG_BATCH ? n - at : PREDLOG_BATCH;
        for (size_t i = 0; i < k; i++)
            r->batch[i] = r->all.v[at + i].row;
        struct cap_error err = {0};
        if (l->sink(l->cls, r->batch, k, &err) < 0) {
            cap_log(CAP_LOG_WARN, "prediction log: %zu entries lost: %s", k, err.msg);
            atomic_fetch_add(&l->dropped, k);
        } else {
            atomic_fetch_add(&l->written, k);
        }
    }
}

/* One round: takes everything the shards hold, writes the unbroken run of
 * numbers from l->done in order and holds the rest. Returns how many
 * entries it wrote (or lost to the sink). */
static size_t write_round(struct predlog *l, struct round *r)
{
    size_t total = r->held.len;
    for (int i = 0; i < PREDLOG_SHARDS; i++) {
        struct shard *sh = &l->shards[i];
        pthread_mutex_lock(&sh->mu);
        /* Swap the arrays so that the shard's lock is held for no copy. */
        struct items full = sh->q;
        sh->q = r->spare[i];
        sh->q.len = 0;
        cap_buf_reset(&sh->q.bytes);
        pthread_mutex_unlock(&sh->mu);
        r->spare[i] = full;
        total += full.len;
        void (*hook)(void *, int) = atomic_load(&l->hook);
        if (hook)
            hook(l->hook_cls, i);
    }
    if (total == 0)
        return 0;
    r->all.len = 0;
    items_reserve(&r->all, total);
    items_resolve(&r->all, &r->held);
    for (int i = 0; i < PREDLOG_SHARDS; i++)
        items_resolve(&r->all, &r->spare[i]);
    qsort(r->all.v, r->all.len, sizeof *r->all.v, by_seq);
    size_t run = 0;
    while (run < r->all.len && r->all.v[run].seq == l->done + run)
        run++;
    write_batches(l, r, run);
    /* Copy what waits for a gap out of the buffers that go back to the shards. */
    r->next_held.len = 0;
    cap_buf_reset(&r->next_held.bytes);
    for (size_t k = run; k < r->all.len; k++)
        items_put(&r->next_held, &r->all.v[k].row, r->all.v[k].seq);
    struct items t = r->held;
    r->held = r->next_held;
    r->next_held = t;
    for (int i = 0; i < PREDLOG_SHARDS; i++) {
        r->spare[i].len = 0;
        if (r->spare[i].bytes.cap > PREDLOG_KEEP_BYTES)
            cap_buf_free(&r->spare[i].bytes);
    }
    if (r->next_held.bytes.cap > PREDLOG_KEEP_BYTES)
        cap_buf_free(&r->next_held.bytes);
    return run;
}

static void items_free(struct items *q)
{
    free(q->v);
    cap_buf_free(&q->bytes);
}

static void *writer(void *arg)
{
    cap_thread_name("capstan-predlog");
    struct predlog *l = arg;
    struct round r = {.batch = cap_xmalloc(PREDLOG_BATCH * sizeof *r.batch)};
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
        size_t n = write_round(l, &r);
        atomic_fetch_sub(&l->queued, n);
        pthread_mutex_lock(&l->mu);
        l->done += n;
        pthread_cond_broadcast(&l->donecv);
    }
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < PREDLOG_SHARDS; i++)
        items_free(&r.spare[i]);
    items_free(&r.held);
    items_free(&r.next_held);
    items_free(&r.all);
    free(r.batch);
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
    /* numbered under the shard's lock: an entry holding a number is in its
     * shard for any thread that takes the lock after it */
    items_put(&sh->q, row, atomic_fetch_add(&l->seq, 1));
    pthread_mutex_unlock(&sh->mu);
    if (before + 1 == PREDLOG_WAKE) {
        pthread_mutex_lock(&l->mu);
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
    return true;
}

void predlog_set_round_hook(struct predlog *l, void (*fn)(void *cls, int shard), void *cls)
{
    l->hook_cls = cls;
    atomic_store(&l->hook, fn);
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
    /* Every entry numbered below target is in a shard by now (see predlog_push). */
    uint64_t target = atomic_load(&l->seq);
    pthread_mutex_lock(&l->mu);
    l->flushing++;
    pthread_cond_signal(&l->cv);
    while (l->done < target)
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
        int64_t from = ps->reader_from ? ps->reader_from(ps->reader_cls) : -1, lost = 0;
        if (store_predictions_trim(ps->store, ps->keep_rows, from, &lost, &e) < 0)
            cap_log(CAP_LOG_WARN, "prediction log: trimming failed: %s", e.msg);
        else if (lost > 0)
            cap_log(CAP_LOG_WARN,
                    "prediction log: %lld rows were trimmed before the monitor read them (it "
                    "is more than %d x --prediction-log-max-rows behind); %lld in all",
                    (long long)lost, STORE_TRIM_READER_CAP,
                    (long long)(ps->unread_trimmed += lost));
    }
    return 0;
}
