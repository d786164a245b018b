/* request.c - the request path after routing: the prediction cache, the dynamic
 * batcher (Triton's semantics), the shadow mirror and the prediction log.
 *
 * No thread waits for a batch: a batched request is queued with a callback
 * (serve_predict answers SERVE_PENDING, and the server suspends its connection),
 * and the batcher's thread finishes each request of a batch and calls its
 * callback. So a batch is bounded by max_batch_size and the queue by
 * max_queue_size, not by threads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/util.h"
#include "serve/internal.h"

/* ---------------- tensors ---------------- */

static int64_t row_elems(const infer_tensor *t)
{
    int64_t n = 1;
    for (int d = 1; d < t->ndim; d++)
        n *= t->dims[d];
    return n;
}

/* Copies rows [row0, row0 + nrows) of src (all of it when src has no batch
 * dimension) into dst as one owned block; strings are packed like the
 * runtime packs them: the pointer array, then the characters. */
static void tensor_slice(const infer_tensor *src, int64_t row0, int64_t nrows, infer_tensor *dst)
{
    *dst = *src;
    bool whole = src->ndim == 0;
    int64_t per = whole ? 1 : row_elems(src);
    int64_t first = whole ? 0 : row0 * per;
    int64_t count = whole ? infer_tensor_count(src) : nrows * per;
    if (!whole)
        dst->dims[0] = nrows;
    if (src->type == INFER_STRING) {
        char *const *in = (char *const *)src->data;
        size_t chars = 0;
        for (int64_t i = 0; i < count; i++)
            chars += strlen(in[first + i]) + 1;
        size_t bytes = (size_t)count * sizeof(char *) + chars;
        char *block = cap_xmalloc(bytes ? bytes : 1);
        char **ptrs = (char **)block;
        char *p = block + (size_t)count * sizeof(char *);
        for (int64_t i = 0; i < count; i++) {
            size_t n = strlen(in[first + i]) + 1;
            memcpy(p, in[first + i], n);
            ptrs[i] = p;
            p += n;
        }
        dst->data = block;
        dst->nbytes = bytes;
    } else {
        size_t es = infer_type_size(src->type);
        size_t bytes = (size_t)count * es;
        dst->data = cap_xmalloc(bytes ? bytes : 1);
        if (bytes)
            memcpy(dst->data, (const char *)src->data + (size_t)first * es, bytes);
        dst->nbytes = bytes;
    }
    dst->owned = 1;
}

static void tensor_copy(const infer_tensor *src, infer_tensor *dst)
{
    tensor_slice(src, 0, src->ndim ? src->dims[0] : 0, dst);
}

/* ---------------- the prediction cache ---------------- */

struct centry {
    uint64_t hash;
    struct cap_buf key;
    infer_tensor *outs;
    int n_out;
    struct centry *prev, *next;  /* LRU list, most recent first */
    struct centry *chain;        /* hash bucket */
};

struct pcache {
    pthread_mutex_t mu;
    long max;
    long n;
    struct centry **buckets;
    size_t nbuckets;
    struct centry *head, *tail;
};

struct pcache *serve_pcache_new(long max_entries)
{
    struct pcache *c = cap_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->max = max_entries;
    c->nbuckets = 1;
    while (c->nbuckets < (size_t)max_entries && c->nbuckets < (1u << 24))
        c->nbuckets <<= 1;
    c->buckets = cap_xcalloc(c->nbuckets, sizeof *c->buckets);
    return c;
}

static void centry_free(struct centry *e)
{
    for (int i = 0; i < e->n_out; i++)
        infer_tensor_release(&e->outs[i]);
    free(e->outs);
    cap_buf_free(&e->key);
    free(e);
}

void serve_pcache_free(struct pcache *c)
{
    if (!c)
        return;
    for (struct centry *e = c->head; e;) {
        struct centry *n = e->next;
        centry_free(e);
        e = n;
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The cache key: every input's type, shape and bytes, and which outputs
 * were asked for does not matter (all are cached). The plan serves one
 * model version per role, so the role goes in too. */
static void cache_key(const struct payload_request *req, int role, struct cap_buf *k)
{
    cap_buf_append(k, &role, sizeof role);
    for (int i = 0; i < req->n_inputs; i++) {
        const infer_tensor *t = &req->inputs[i];
        cap_buf_append(k, &t->type, sizeof t->type);
        cap_buf_append(k, &t->ndim, sizeof t->ndim);
        cap_buf_append(k, t->dims, (size_t)t->ndim * sizeof t->dims[0]);
        int64_t n = infer_tensor_count(t);
        if (t->type == INFER_STRING) {
            char *const *s = (char *const *)t->data;
            for (int64_t j = 0; j < n; j++)
                cap_buf_append(k, s[j], strlen(s[j]) + 1);
        } else {
            cap_buf_append(k, t->data, (size_t)n * infer_type_size(t->type));
        }
    }
}

static void lru_unlink(struct pcache *c, struct centry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(struct pcache *c, struct centry *e)
{
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static bool pcache_get(struct pcache *c, const struct cap_buf *key, uint64_t h, infer_tensor *outs,
                       int n_out)
{
    bool hit = false;
    pthread_mutex_lock(&c->mu);
    for (struct centry *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->chain) {
        if (e->hash == h && e->key.len == key->len && memcmp(e->key.data, key->data, key->len) == 0 &&
            e->n_out == n_out) {
            for (int i = 0; i < n_out; i++)
                tensor_copy(&e->outs[i], &outs[i]);
            lru_unlink(c, e);
            lru_front(c, e);
            hit = true;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

static void pcache_put(struct pcache *c, struct cap_buf *key, uint64_t h, const infer_tensor *outs,
                       int n_out)
{
    struct centry *e = cap_xcalloc(1, sizeof *e);
    e->hash = h;
    e->key = *key;
    cap_buf_init(key);
    e->n_out = n_out;
    e->outs = cap_xcalloc((size_t)n_out, sizeof *e->outs);
    for (int i = 0; i < n_out; i++)
        tensor_copy(&outs[i], &e->outs[i]);
    pthread_mutex_lock(&c->mu);
    struct centry **slot = &c->buckets[h & (c->nbuckets - 1)];
    for (struct centry *o = *slot; o; o = o->chain)
        if (o->hash == h && o->key.len == e->key.len &&
            memcmp(o->key.data, e->key.data, e->key.len) == 0) {
            /* another request filled it meanwhile */
            pthread_mutex_unlock(&c->mu);
            centry_free(e);
            return;
        }
    e->chain = *slot;
    *slot = e;
    lru_front(c, e);
    if (++c->n > c->max) {
        struct centry *old = c->tail;
        lru_unlink(c, old);
        struct centry **pp = &c->buckets[old->hash & (c->nbuckets - 1)];
        while (*pp != old)
            pp = &(*pp)->chain;
        *pp = old->chain;
        c->n--;
        pthread_mutex_unlock(&c->mu);
        centry_free(old);
        return;
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---------------- the dynamic batcher ---------------- */

/* A request waiting in the batcher, with what serve_predict needs to finish it. */
struct bjob {
    struct serve_handle *h;
    const struct payload_request *req;
    infer_tensor *outs;
    double t0, enqueued;
    struct cap_buf key;          /* the prediction cache's key, when the plan caches */
    uint64_t hash;
    serve_done_fn done;
    void *cls;
    struct bjob *next;
};

struct batcher {
    struct plan *r;             /* not a reference: the plan owns the batcher */
    int role;
    long max_batch, max_queue;
    double max_delay_s;
    long *preferred;
    int npreferred;
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* the batcher waits for work */
    struct bjob *head, *tail;
    long queued_jobs, queued_rows;
    bool stopping;
    bool frees_itself;           /* serve_batcher_free was called on the batcher's own thread */
    pthread_t thread;
};

static int run_after(struct serve_handle *h, const struct payload_request *req, infer_tensor *outs,
                     int rc, double t0, struct cap_buf *key, uint64_t hash, bool put);

static long num(const cJSON *o, const char *k, long dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : dflt;
}

/* The rows to take now, or 0 to keep waiting (Triton: the largest batch
 * up to max_batch_size; a preferred size when one can be formed; otherwise
 * wait until the oldest request has waited max_queue_delay). */
static long batch_rows(struct batcher *b, double now)
{
    if (b->queued_rows >= b->max_batch)
        return b->max_batch;
    for (int i = b->npreferred - 1; i >= 0; i--)
        if (b->queued_rows >= b->preferred[i])
            return b->preferred[i];
    if (b->head && now - b->head->enqueued >= b->max_delay_s)
        return b->queued_rows;
    return 0;
}

/* Runs one batch of jobs (their inputs share every dimension but the
 * first, which the caller checked), hands each job its rows and finishes it.
 * A job's callback may drop the last reference to the plan, and with it
 * this batcher and the model (see serve_batcher_free): nothing of either is
 * touched once the callbacks start. */
static void run_batch(struct batcher *b, struct bjob *jobs, long rows)
{
    struct plan *r = b->r;
    struct smodel *sm = r->model[b->role];
    const struct payload_request *first = jobs->req;
    int n_in = first->n_inputs;
    int n_out = sm->n_out;
    infer_tensor *in = cap_xcalloc((size_t)n_in, sizeof *in);
    for (int i = 0; i < n_in; i++) {
        const infer_tensor *t0 = &first->inputs[i];
        in[i] = *t0;
        in[i].owned = 0;
        in[i].dims[0] = rows;
        size_t es = t0->type == INFER_STRING ? sizeof(char *) : infer_type_size(t0->type);
        size_t row_bytes = (size_t)row_elems(t0) * es;
        char *data = cap_xmalloc(row_bytes * (size_t)rows + 1);
        size_t off = 0;
        for (struct bjob *j = jobs; j; j = j->next) {
            const infer_tensor *t = &j->req->inputs[i];
            size_t n = row_bytes * (size_t)t->dims[0];
            memcpy(data + off, t->data, n);
            off += n;
        }
        in[i].data = data;
        in[i].nbytes = off;
    }
    infer_tensor *outs = cap_xcalloc((size_t)n_out, sizeof *outs);
    struct cap_error err = {0};
    int rc = serve_smodel_run(sm, in, n_in, outs, &err);
    metrics_add(r->stats[b->role].exec, 1);
    metrics_observe(r->batch_size, (double)rows);
    int64_t row0 = 0;
    for (struct bjob *j = jobs; j && rc == 0; j = j->next) {
        int64_t n = j->req->inputs[0].dims[0];
        for (int o = 0; o < n_out; o++) {
            bool batched = outs[o].ndim > 0 && outs[o].dims[0] == rows;
            if (batched)
                tensor_slice(&outs[o], row0, n, &j->outs[o]);
            else
                tensor_copy(&outs[o], &j->outs[o]);
        }
        row0 += n;
    }
    for (int o = 0; o < n_out; o++)
        infer_tensor_release(&outs[o]);
    free(outs);
    for (int i = 0; i < n_in; i++)
        free(in[i].data);
    free(in);
    for (struct bjob *j = jobs, *next; j; j = next) {
        next = j->next;
        int jrc = run_after(j->h, j->req, j->outs, rc, j->t0, &j->key, j->hash, true);
        j->done(j->cls, jrc, &err);
        free(j);
    }
}

static bool same_shape(const struct payload_request *a, const struct payload_request *b)
{
    for (int i = 0; i < a->n_inputs; i++) {
        const infer_tensor *x = &a->inputs[i], *y = &b->inputs[i];
        if (x->ndim != y->ndim || x->type != y->type || x->ndim == 0)
            return false;
        for (int d = 1; d < x->ndim; d++)
            if (x->dims[d] != y->dims[d])
                return false;
    }
    return true;
}

static void *batch_loop(void *arg)
{
    cap_thread_name("capstan-batch");
    struct batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stopping)
            pthread_cond_wait(&b->cv, &b->mu);
        if (!b->head && b->stopping)
            break;
        double now = cap_mono_s();
        long want = b->stopping ? b->queued_rows : batch_rows(b, now);
        if (want == 0) {
            double wait = b->head->enqueued + b->max_delay_s - now;
            struct timespec ts;
            cap_deadline(&ts, wait);
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
            continue;
        }
        /* Take whole requests up to `want` rows, all of one shape. */
        struct bjob *jobs = b->head, *last = b->head;
        long rows = jobs->req->inputs[0].dims[0];
        int njobs = 1;
        while (last->next && rows + last->next->req->inputs[0].dims[0] <= want &&
               same_shape(jobs->req, last->next->req)) {
            last = last->next;
            rows += last->req->inputs[0].dims[0];
            njobs++;
        }
        b->head = last->next;
        if (!b->head)
            b->tail = NULL;
        last->next = NULL;
        b->queued_jobs -= njobs;
        b->queued_rows -= rows;
        for (struct bjob *j = jobs; j; j = j->next)
            metrics_observe(b->r->queue_time, now - j->enqueued);
        pthread_mutex_unlock(&b->mu);
        run_batch(b, jobs, rows);
        pthread_mutex_lock(&b->mu);
    }
    bool frees_itself = b->frees_itself;
    pthread_mutex_unlock(&b->mu);
    if (frees_itself) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv);
        free(b->preferred);
        free(b);
    }
    return NULL;
}

struct batcher *serve_batcher_new(struct plan *r, int role, const cJSON *cfg)
{
    struct batcher *b = cap_xcalloc(1, sizeof *b);
    b->r = r;
    b->role = role;
    b->max_batch = num(cfg, "max_batch_size", 8);
    b->max_queue = num(cfg, "max_queue_size", 4096);
    b->max_delay_s = (double)num(cfg, "max_queue_delay_us", 100) / 1e6;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(cfg, "preferred_batch_sizes");
    b->npreferred = cJSON_GetArraySize(p);
    b->preferred = cap_xcalloc((size_t)b->npreferred + 1, sizeof *b->preferred);
    for (int i = 0; i < b->npreferred; i++)
        b->preferred[i] = (long)cJSON_GetArrayItem(p, i)->valuedouble;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    if (pthread_create(&b->thread, NULL, batch_loop, b) != 0) {
        cap_log(CAP_LOG_ERROR, "serve: cannot start a batcher for %s; serving unbatched", r->dep);
        free(b->preferred);
        free(b);
        return NULL;
    }
    return b;
}

/* Called when the plan goes. That can happen on the batcher's own thread,
 * when a batched request's callback drops the plan's last reference: the
 * queue is empty then (each waiting request holds a reference), and the
 * thread frees the batcher itself once run_batch returns. */
void serve_batcher_free(struct batcher *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->stopping = true;
    bool own_thread = pthread_equal(pthread_self(), b->thread);
    b->frees_itself = own_thread;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (own_thread) {
        pthread_detach(b->thread);
        return;
    }
    pthread_join(b->thread, NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b->preferred);
    free(b);
}

/* Queues a job, or answers 503 when the queue is full. */
static int batch_enqueue(struct batcher *b, struct bjob *job, struct cap_error *err)
{
    job->enqueued = cap_mono_s();
    pthread_mutex_lock(&b->mu);
    if (b->queued_jobs >= b->max_queue) {
        pthread_mutex_unlock(&b->mu);
        metrics_add(b->r->rejected, 1);
        return cap_err(err, CAP_EUNAVAIL,
                       "The batch queue of deployment '%s' is full (%ld requests waiting); retry "
                       "shortly",
                       b->r->dep, b->max_queue);
    }
    if (b->tail)
        b->tail->next = job;
    else
        b->head = job;
    b->tail = job;
    b->queued_jobs++;
    b->queued_rows += job->req->inputs[0].dims[0];
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

/* ---------------- shadow ---------------- */

struct shadow_job {
    struct plan *r;             /* a reference */
    infer_tensor *inputs;
    int n_in;
    infer_tensor primary;        /* the primary's first output, to compare */
    char *request_id;
    struct shadow_job *next;
};

static void shadow_job_free(struct shadow_job *j)
{
    for (int i = 0; i < j->n_in; i++)
        infer_tensor_release(&j->inputs[i]);
    free(j->inputs);
    infer_tensor_release(&j->primary);
    free(j->request_id);
    serve_plan_release(j->r);
    free(j);
}

/* Rows where the first outputs agree: equal labels, or numbers within
 * 1e-4 relative (the runtimes' own tolerance). */
static void compare(const infer_tensor *a, const infer_tensor *b, int64_t *rows, int64_t *agree)
{
    *rows = *agree = 0;
    if (a->type != b->type || a->ndim != b->ndim || a->ndim == 0 || a->dims[0] != b->dims[0])
        return;
    int64_t n = a->dims[0], per = row_elems(a);
    if (per != row_elems(b))
        return;
    *rows = n;
    size_t es = infer_type_size(a->type);
    for (int64_t r = 0; r < n; r++) {
        bool same = true;
        for (int64_t k = 0; k < per && same; k++) {
            int64_t i = r * per + k;
            if (a->type == INFER_STRING) {
                same = strcmp(((char **)a->data)[i], ((char **)b->data)[i]) == 0;
            } else if (a->type == INFER_FLOAT || a->type == INFER_DOUBLE) {
                double x = a->type == INFER_FLOAT ? ((float *)a->data)[i] : ((double *)a->data)[i];
                double y = b->type == INFER_FLOAT ? ((float *)b->data)[i] : ((double *)b->data)[i];
                same = fabs(x - y) <= 1e-4 * fmax(1.0, fmax(fabs(x), fabs(y))) ||
                       (isnan(x) && isnan(y));
            } else {
                same = memcmp((char *)a->data + (size_t)i * es, (char *)b->data + (size_t)i * es,
                              es) == 0;
            }
        }
        *agree += same;
    }
}

static void log_prediction(struct plan *r, int role, const infer_tensor *in, int n_in,
                           const infer_tensor *outs, int n_out, int64_t latency_us, int agree,
                           const char *request_id);

static void shadow_one(struct shadow_job *j)
{
    struct plan *r = j->r;
    struct smodel *sm = r->model[ROLE_SHADOW];
    infer_tensor *outs = cap_xcalloc((size_t)sm->n_out, sizeof *outs);
    struct cap_error err = {0};
    double t0 = cap_mono_s();
    if (infer_input_count(sm->m) != j->n_in) {
        cap_log(CAP_LOG_DEBUG, "serve: shadow of %s takes %d inputs, not %d", r->dep,
                infer_input_count(sm->m), j->n_in);
        metrics_add(r->stats[ROLE_SHADOW].fail, 1);
        free(outs);
        return;
    }
    int rc = serve_smodel_run(sm, j->inputs, j->n_in, outs, &err);
    double dt = cap_mono_s() - t0;
    metrics_add(r->stats[ROLE_SHADOW].exec, 1);
    if (rc < 0) {
        metrics_add(r->stats[ROLE_SHADOW].fail, 1);
        free(outs);
        return;
    }
    metrics_add(r->stats[ROLE_SHADOW].ok, 1);
    metrics_observe(r->stats[ROLE_SHADOW].latency, dt);
    int64_t rows = 0, agree = 0;
    if (sm->n_out > 0)
        compare(&j->primary, &outs[0], &rows, &agree);
    metrics_add(r->shadow_rows, (double)rows);
    metrics_add(r->shadow_agree, (double)agree);
    double tot = metrics_value(r->shadow_rows);
    if (tot > 0)
        metrics_set(r->shadow_ratio, metrics_value(r->shadow_agree) / tot);
    log_prediction(r, ROLE_SHADOW, j->inputs, j->n_in, outs, sm->n_out,
                   (int64_t)(dt * 1e6), rows > 0 ? (agree == rows) : -1, j->request_id);
    for (int i = 0; i < sm->n_out; i++)
        infer_tensor_release(&outs[i]);
    free(outs);
}

static void *shadow_loop(void *arg)
{
    cap_thread_name("capstan-shadow");
    struct serve *s = arg;
    pthread_mutex_lock(&s->shadow_mu);
    for (;;) {
        while (!s->shadow_head && !s->stopping)
            pthread_cond_wait(&s->shadow_cv, &s->shadow_mu);
        struct shadow_job *j = s->shadow_head;
        if (!j)
            break;
        s->shadow_head = j->next;
        if (!s->shadow_head)
            s->shadow_tail = NULL;
        s->shadow_len--;
        pthread_mutex_unlock(&s->shadow_mu);
        if (!s->stopping)
            shadow_one(j);
        shadow_job_free(j);
        pthread_mutex_lock(&s->shadow_mu);
    }
    pthread_mutex_unlock(&s->shadow_mu);
    return NULL;
}

int serve_shadow_start(struct serve *s)
{
    if (pthread_create(&s->shadow_thread, NULL, shadow_loop, s) != 0)
        return -1;
    s->shadow_running = true;
    return 0;
}

void serve_shadow_loop_stop(struct serve *s)
{
    if (!s->shadow_running)
        return;
    pthread_mutex_lock(&s->shadow_mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->shadow_cv);
    pthread_mutex_unlock(&s->shadow_mu);
    pthread_join(s->shadow_thread, NULL);
    s->shadow_running = false;
}

static void mirror(struct plan *r, const struct payload_request *req, const infer_tensor *outs,
                   int n_out)
{
    struct serve *s = r->s;
    pthread_mutex_lock(&s->shadow_mu);
    bool full = s->shadow_len >= s->cfg.shadow_queue || s->stopping;
    if (!full)
        s->shadow_len++; /* reserve the slot; the copies are made unlocked */
    pthread_mutex_unlock(&s->shadow_mu);
    if (full) {
        metrics_add(r->shadow_dropped, 1);
        return;
    }
    struct shadow_job *j = cap_xcalloc(1, sizeof *j);
    serve_plan_retain(r);
    j->r = r;
    j->n_in = req->n_inputs;
    j->inputs = cap_xcalloc((size_t)req->n_inputs, sizeof *j->inputs);
    for (int i = 0; i < req->n_inputs; i++)
        tensor_copy(&req->inputs[i], &j->inputs[i]);
    if (n_out > 0)
        tensor_copy(&outs[0], &j->primary);
    j->request_id = req->id ? cap_xstrdup(req->id) : NULL;
    metrics_add(r->shadow_sent, 1);
    pthread_mutex_lock(&s->shadow_mu);
    if (s->shadow_tail)
        s->shadow_tail->next = j;
    else
        s->shadow_head = j;
    s->shadow_tail = j;
    pthread_cond_signal(&s->shadow_cv);
    pthread_mutex_unlock(&s->shadow_mu);
}

/* ---------------- the prediction log ---------------- */

static void log_prediction(struct plan *r, int role, const infer_tensor *in, int n_in,
                           const infer_tensor *outs, int n_out, int64_t latency_us, int agree,
                           const char *request_id)
{
    struct serve *s = r->s;
    if (!s->cfg.log || r->log_sample <= 0)
        return;
    if (r->log_sample < 1.0) {
        static _Thread_local uint64_t x;
        if (!x)
            x = (uint64_t)(uintptr_t)&x ^ (uint64_t)cap_now_ms() ^ 0xD1B54A32D192ED03ULL;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if ((double)(x % 1000000) / 1e6 >= r->log_sample)
            return;
    }
    struct smodel *sm = r->model[role];
    const char *role_name = role == ROLE_SHADOW ? "shadow" : role == ROLE_CANARY ? "canary"
                                                                                  : "primary";
    /* Both packs in one buffer; predlog_push copies them and the strings,
     * so the strings can be the plan's own. */
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_reserve(&b, 512);
    payload_log_pack(sm->m, true, in, n_in, &b);
    size_t in_len = b.len;
    payload_log_pack(sm->m, false, outs, n_out, &b);
    struct store_prediction row = {
        .timestamp_ms = cap_now_ms(),
        .deployment = r->dep,
        .model_name = sm->name,
        .model_version = sm->version,
        .role = role_name,
        .request_id = request_id,
        .latency_us = latency_us,
        .inputs = b.data,
        .inputs_len = in_len,
        .outputs = b.data + in_len,
        .outputs_len = b.len - in_len,
        .agree = agree,
    };
    predlog_push(s->cfg.log, &row); /* copies */
    cap_buf_free(&b);
}

/* ---------------- serve_predict ---------------- */

/* What follows inference, batched or not: the cache, the shadow and the log. */
static int run_after(struct serve_handle *h, const struct payload_request *req, infer_tensor *outs,
                     int rc, double t0, struct cap_buf *key, uint64_t hash, bool put)
{
    struct plan *r = h->r;
    struct smodel *sm = r->model[h->role];
    if (rc == 0 && put && r->cache && h->role != ROLE_SHADOW)
        pcache_put(r->cache, key, hash, outs, sm->n_out);
    cap_buf_free(key);
    if (rc < 0)
        return rc;
    int64_t us = (int64_t)((cap_mono_s() - t0) * 1e6);
    if (r->model[ROLE_SHADOW] && (h->role == ROLE_PRIMARY || h->role == ROLE_CANARY))
        mirror(r, req, outs, sm->n_out);
    log_prediction(r, h->role, req->inputs, req->n_inputs, outs, sm->n_out, us, -1, req->id);
    return 0;
}

int serve_predict(struct serve_handle *h, const struct payload_request *req, infer_tensor *outs,
              serve_done_fn done, void *cls, struct cap_error *err)
{
    struct plan *r = h->r;
    struct smodel *sm = r->model[h->role];
    double t0 = cap_mono_s();
    struct cap_buf key;
    cap_buf_init(&key);
    uint64_t hash = 0;
    if (r->cache && h->role != ROLE_SHADOW) {
        cache_key(req, h->role, &key);
        hash = hash_bytes(key.data, key.len);
        bool hit = pcache_get(r->cache, &key, hash, outs, sm->n_out);
        metrics_add(hit ? r->cache_hit : r->cache_miss, 1);
        if (hit)
            return run_after(h, req, outs, 0, t0, &key, hash, false);
    }
    struct batcher *b = h->role < 2 ? r->batch[h->role] : NULL;
    bool rows_ok = req->n_inputs > 0 && req->inputs[0].ndim > 0;
    if (b && rows_ok && req->inputs[0].dims[0] <= b->max_batch) {
        struct bjob *j = cap_xcalloc(1, sizeof *j);
        *j = (struct bjob){.h = h, .req = req, .outs = outs, .t0 = t0, .key = key, .hash = hash,
                           .done = done, .cls = cls};
        int rc = batch_enqueue(b, j, err);
        if (rc < 0) {
            cap_buf_free(&j->key);
            free(j);
            return rc;
        }
        return SERVE_PENDING;
    }
    int rc = serve_smodel_run(sm, req->inputs, req->n_inputs, outs, err);
    metrics_add(r->stats[h->role].exec, 1);
    return run_after(h, req, outs, rc, t0, &key, hash, true);
}
