/* internal.h - serve/'s shared structures: loaded models, plans,
 * deployments, the batcher and the cache. Not part of the module's surface
 * (serve.h is). */
#ifndef CAP_SERVE_INTERNAL_H
#define CAP_SERVE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/metrics.h"
#include "monitor/predlog.h"
#include "serve/serve.h"

/* One loaded model version, shared by every plan that serves it. */
/* More requests than this running one model at once make contexts that
 * are freed after use instead of kept. */
#define SMODEL_CTX_SLOTS 32

struct smodel {
    atomic_int refs;             /* guarded for the 1 -> 0 step by serve.models_mu */
    char *name, *version;
    infer_model *m;
    int n_out;
    /* Idle inference contexts, taken and returned with atomic exchanges:
     * a mutex here put request threads to sleep behind one another. */
    _Atomic(infer_ctx *) ctx[SMODEL_CTX_SLOTS];
    /* Seconds a request holds its thread per body byte, a running average
     * (serve_handle_heavy); updated without a lock: a lost update is harmless. */
    _Atomic double hold_s_per_byte;
};

enum serve_role { ROLE_PRIMARY, ROLE_CANARY, ROLE_SHADOW, ROLE_PREVIOUS, ROLE_COUNT };

struct role_stats {
    struct metrics_series *ok, *fail, *latency, *exec, *offloaded;
};

struct batcher;
struct pcache;

/* What requests of one deployment see; immutable once published. */
struct plan {
    atomic_int refs;
    struct serve *s;
    char *dep;
    struct smodel *model[ROLE_COUNT];
    int canary_bp;               /* canary share in basis points (1/10000) */
    char *sticky_header;
    double log_sample;
    struct batcher *batch[2];    /* primary, canary (NULL: no batching) */
    struct pcache *cache;        /* NULL: no cache */
    struct role_stats stats[ROLE_COUNT];
    struct metrics_series *queue_time, *batch_size, *cache_hit, *cache_miss, *rejected;
    struct metrics_series *shadow_sent, *shadow_dropped, *shadow_rows, *shadow_agree,
        *shadow_ratio;
};

struct serve_handle {
    struct plan *r;
    int role;
    double t0;                   /* latency counts from here */
    double t_run;                /* serve_acquire's time: the hold starts here */
};

struct serve {
    struct serve_config cfg;
    const struct serve_source_ops *ops;
    void *cls;

    pthread_mutex_t models_mu;
    struct smodel **models;
    size_t nmodels, capmodels;

    pthread_rwlock_t tab_mu;
    struct dep **deps;
    size_t ndeps;

    pthread_mutex_t sync_mu;     /* one reconcile at a time */
    struct failed_load *failed;

    pthread_t watcher;
    bool watcher_running;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    bool stopping;

    /* the shadow worker */
    pthread_t shadow_thread;
    bool shadow_running;
    pthread_mutex_t shadow_mu;
    pthread_cond_t shadow_cv;
    struct shadow_job *shadow_head, *shadow_tail;
    int shadow_len;
};

void serve_plan_retain(struct plan *r);
void serve_plan_release(struct plan *r);

/* request.c */
struct batcher *serve_batcher_new(struct plan *r, int role, const cJSON *cfg);
void serve_batcher_free(struct batcher *b);
struct pcache *serve_pcache_new(long max_entries);
void serve_pcache_free(struct pcache *c);
int serve_smodel_run(struct smodel *sm, const infer_tensor *in, int n_in, infer_tensor *outs,
               struct cap_error *err);
void serve_shadow_loop_stop(struct serve *s);
int serve_shadow_start(struct serve *s);

#endif
