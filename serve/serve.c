/* serve.c - deployments, the watcher that keeps them in step with their
 * source, plans and their atomic swap, and request admission. The run
 * path (batching, cache, shadow, log) is in request.c.
 *
 * Locks, outermost first: sync_mu (one reconcile at a time; loads happen
 * under it, never under the others), tab_mu (the deployment table; readers
 * on every request), dep->mu (one deployment's plan pointer and status),
 * models_mu (the loaded-model list). A request takes tab_mu shared and
 * dep->mu for a few instructions to take a plan reference, nothing else. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/util.h"
#include "serve/internal.h"

#define FAILED_RETRY_MS 30000

struct failed_load {
    char *name, *version, *error;
    int64_t at;
    struct failed_load *next;
};

struct dep {
    char *name;
    pthread_mutex_t mu;
    struct plan *plan;
    char *applied;               /* canonical spec + resolved versions last applied, as text */
    /* status, under mu */
    char *state, *message;
    char *want[3];               /* "name/version" wanted for primary, canary, shadow */
    char *error[3];              /* why that role is not served as wanted */
    char *previous;              /* "name/version" of the primary before this one */
    bool seen;
};

static const char *const role_names[ROLE_COUNT] = {"primary", "canary", "shadow", "previous"};

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? cap_xstrdup(v) : NULL;
}

/* ---------------- loaded models ---------------- */

static struct smodel *smodel_find(struct serve *s, const char *name, const char *version)
{
    for (size_t i = 0; i < s->nmodels; i++)
        if (strcmp(s->models[i]->name, name) == 0 && strcmp(s->models[i]->version, version) == 0)
            return s->models[i];
    return NULL;
}

static void smodel_free(struct smodel *sm)
{
    for (int i = 0; i < SMODEL_CTX_SLOTS; i++)
        infer_ctx_free(atomic_load(&sm->ctx[i]));
    infer_model_free(sm->m);
    free(sm->name);
    free(sm->version);
    free(sm);
}

static void smodel_release(struct serve *s, struct smodel *sm)
{
    if (!sm)
        return;
    pthread_mutex_lock(&s->models_mu);
    if (atomic_fetch_sub(&sm->refs, 1) == 1) {
        for (size_t i = 0; i < s->nmodels; i++)
            if (s->models[i] == sm) {
                s->models[i] = s->models[--s->nmodels];
                break;
            }
        pthread_mutex_unlock(&s->models_mu);
        smodel_free(sm);
        return;
    }
    pthread_mutex_unlock(&s->models_mu);
}

static struct failed_load *failed_find(struct serve *s, const char *name, const char *version)
{
    for (struct failed_load *f = s->failed; f; f = f->next)
        if (strcmp(f->name, name) == 0 && strcmp(f->version, version) == 0)
            return f;
    return NULL;
}

/* A reference to the loaded version, loading it when needed (the caller
 * holds sync_mu). A failed load is remembered and not retried for a while,
 * so a corrupt version is not re-read four times a second. */
static struct smodel *smodel_get(struct serve *s, const char *dep, const char *name,
                                 const char *version, struct cap_error *err)
{
    pthread_mutex_lock(&s->models_mu);
    struct smodel *sm = smodel_find(s, name, version);
    if (sm)
        atomic_fetch_add(&sm->refs, 1);
    pthread_mutex_unlock(&s->models_mu);
    if (sm)
        return sm;
    struct failed_load *f = failed_find(s, name, version);
    int64_t now = cap_now_ms();
    if (f && now - f->at < FAILED_RETRY_MS) {
        cap_err(err, CAP_EINVAL, "%s", f->error);
        return NULL;
    }
    infer_model *m = NULL;
    int rc = s->ops->load(s->cls, name, version, &m, err);
    if (rc < 0) {
        if (!f) {
            f = cap_xcalloc(1, sizeof *f);
            f->name = cap_xstrdup(name);
            f->version = cap_xstrdup(version);
            f->next = s->failed;
            s->failed = f;
        }
        set_str(&f->error, err->msg);
        f->at = now;
        cap_log(CAP_LOG_WARN, "serve: deployment %s: %s", dep, err->msg);
        if (s->cfg.metrics) {
            struct cap_buf l;
            cap_buf_init(&l);
            metrics_label(&l, "deployment", dep);
            metrics_label(&l, "model", name);
            metrics_label(&l, "version", version);
            metrics_add(metrics_series(s->cfg.metrics, "capstan_model_load_failures_total", l.data),
                        1);
            cap_buf_free(&l);
        }
        return NULL;
    }
    sm = cap_xcalloc(1, sizeof *sm);
    atomic_init(&sm->refs, 1);
    sm->name = cap_xstrdup(name);
    sm->version = cap_xstrdup(version);
    sm->m = m;
    sm->n_out = infer_output_count(m);
    pthread_mutex_lock(&s->models_mu);
    if (s->nmodels == s->capmodels) {
        s->capmodels = s->capmodels ? s->capmodels * 2 : 8;
        s->models = cap_xrealloc(s->models, s->capmodels * sizeof *s->models);
    }
    s->models[s->nmodels++] = sm;
    pthread_mutex_unlock(&s->models_mu);
    cap_log(CAP_LOG_INFO, "serve: loaded %s/%s for deployment %s", name, version, dep);
    return sm;
}

int serve_smodel_run(struct smodel *sm, const infer_tensor *in, int n_in, infer_tensor *outs,
               struct cap_error *err)
{
    infer_ctx *c = NULL;
    infer_error ierr = {0};
    /* Each thread starts its search at its own slot, so that threads on
     * different cores rarely touch the same one. */
    static atomic_uint next_start;
    static _Thread_local unsigned start; /* 1 + first slot, 0 before the first run */
    if (!start)
        start = 1 + atomic_fetch_add(&next_start, 1) % SMODEL_CTX_SLOTS;
    for (int i = 0; i < SMODEL_CTX_SLOTS && !c; i++)
        c = atomic_exchange(&sm->ctx[(start - 1 + (unsigned)i) % SMODEL_CTX_SLOTS], NULL);
    if (!c && !(c = infer_ctx_new(sm->m, &ierr)))
        return cap_err(err, CAP_EINTERNAL, "Cannot create an inference context: %s", ierr.msg);
    for (int i = 0; i < sm->n_out; i++)
        memset(&outs[i], 0, sizeof outs[i]);
    int rc = infer_run(c, in, n_in, outs, sm->n_out, &ierr);
    for (int i = 0; i < SMODEL_CTX_SLOTS && c; i++) {
        infer_ctx *empty = NULL;
        if (atomic_compare_exchange_strong(&sm->ctx[(start - 1 + (unsigned)i) % SMODEL_CTX_SLOTS],
                                           &empty, c))
            c = NULL;
    }
    infer_ctx_free(c); /* every slot taken: more run at once than are kept */
    if (rc < 0) {
        for (int i = 0; i < sm->n_out; i++)
            infer_tensor_release(&outs[i]);
        if (rc == INFER_ESHAPE || rc == INFER_EINVAL || rc == INFER_ERUNTIME)
            return cap_err(err, CAP_EINVAL, "The model rejected the input: %s", ierr.msg);
        return cap_err(err, CAP_EINTERNAL, "Inference failed: %s", ierr.msg);
    }
    return 0;
}

/* ---------------- plans ---------------- */

void serve_plan_retain(struct plan *r)
{
    atomic_fetch_add(&r->refs, 1);
}

void serve_plan_release(struct plan *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    for (int i = 0; i < 2; i++)
        serve_batcher_free(r->batch[i]);
    serve_pcache_free(r->cache);
    for (int i = 0; i < ROLE_COUNT; i++)
        smodel_release(r->s, r->model[i]);
    free(r->dep);
    free(r->sticky_header);
    free(r);
}

static struct metrics_series *dep_series(struct serve *s, const char *family, const char *dep)
{
    if (!s->cfg.metrics)
        return NULL;
    struct cap_buf l;
    cap_buf_init(&l);
    metrics_label(&l, "deployment", dep);
    struct metrics_series *out = metrics_series(s->cfg.metrics, family, l.data);
    cap_buf_free(&l);
    return out;
}

static void role_series(struct serve *s, struct plan *r, int role)
{
    struct smodel *sm = r->model[role];
    if (!s->cfg.metrics || !sm)
        return;
    struct cap_buf l;
    cap_buf_init(&l);
    metrics_label(&l, "deployment", r->dep);
    metrics_label(&l, "model", sm->name);
    metrics_label(&l, "version", sm->version);
    size_t base = l.len;
    struct role_stats *st = &r->stats[role];
    st->latency = metrics_series(s->cfg.metrics, "capstan_inference_request_duration_seconds",
                                 l.data);
    st->exec = metrics_series(s->cfg.metrics, "capstan_inference_executions_total", l.data);
    st->offloaded = metrics_series(s->cfg.metrics, "capstan_inference_offloaded_total", l.data);
    metrics_label(&l, "outcome", "success");
    st->ok = metrics_series(s->cfg.metrics, "capstan_inference_requests_total", l.data);
    l.len = base;
    l.data[base] = '\0';
    metrics_label(&l, "outcome", "failure");
    st->fail = metrics_series(s->cfg.metrics, "capstan_inference_requests_total", l.data);
    cap_buf_free(&l);
}

static struct plan *plan_new(struct serve *s, const char *dep, const cJSON *spec,
                               struct smodel *models[ROLE_COUNT])
{
    struct plan *r = cap_xcalloc(1, sizeof *r);
    atomic_init(&r->refs, 1);
    r->s = s;
    r->dep = cap_xstrdup(dep);
    for (int i = 0; i < ROLE_COUNT; i++) {
        r->model[i] = models[i];
        role_series(s, r, i);
    }
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(spec, "canary_weight");
    r->canary_bp = models[ROLE_CANARY] && cJSON_IsNumber(w) ? (int)(w->valuedouble * 100) : 0;
    const cJSON *sticky = cJSON_GetObjectItemCaseSensitive(spec, "sticky_header");
    if (cJSON_IsString(sticky))
        r->sticky_header = cap_xstrdup(sticky->valuestring);
    const cJSON *log = cJSON_GetObjectItemCaseSensitive(spec, "log");
    const cJSON *sample = cJSON_GetObjectItemCaseSensitive(log, "sample");
    r->log_sample = cJSON_IsNumber(sample) ? sample->valuedouble : 1.0;
    r->queue_time = dep_series(s, "capstan_inference_queue_duration_seconds", dep);
    r->batch_size = dep_series(s, "capstan_inference_batch_size", dep);
    r->cache_hit = dep_series(s, "capstan_prediction_cache_hits_total", dep);
    r->cache_miss = dep_series(s, "capstan_prediction_cache_misses_total", dep);
    r->rejected = dep_series(s, "capstan_inference_queue_rejections_total", dep);
    r->shadow_sent = dep_series(s, "capstan_shadow_requests_total", dep);
    r->shadow_dropped = dep_series(s, "capstan_shadow_dropped_total", dep);
    r->shadow_rows = dep_series(s, "capstan_shadow_compared_rows_total", dep);
    r->shadow_agree = dep_series(s, "capstan_shadow_agreeing_rows_total", dep);
    r->shadow_ratio = dep_series(s, "capstan_shadow_agreement_ratio", dep);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(spec, "batching");
    if (cJSON_IsObject(b)) {
        r->batch[ROLE_PRIMARY] = serve_batcher_new(r, ROLE_PRIMARY, b);
        if (models[ROLE_CANARY])
            r->batch[ROLE_CANARY] = serve_batcher_new(r, ROLE_CANARY, b);
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(spec, "cache");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(c, "max_entries");
    if (cJSON_IsNumber(n))
        r->cache = serve_pcache_new((long)n->valuedouble);
    return r;
}

/* ---------------- deployments ---------------- */

static struct dep *dep_find(struct serve *s, const char *name)
{
    for (size_t i = 0; i < s->ndeps; i++)
        if (strcmp(s->deps[i]->name, name) == 0)
            return s->deps[i];
    return NULL;
}

static void dep_free(struct dep *d)
{
    serve_plan_release(d->plan);
    free(d->name);
    free(d->applied);
    free(d->state);
    free(d->message);
    for (int i = 0; i < 3; i++) {
        free(d->want[i]);
        free(d->error[i]);
    }
    free(d->previous);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static char *ref_key(const char *name, const char *version)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_printf(&b, "%s/%s", name, version);
    return cap_buf_steal(&b);
}

/* Resolves and loads one role of a spec. Returns the model (a reference) or
 * NULL with *why set (malloc'd) and *want the resolved "name/version" when
 * resolution got that far. */
static struct smodel *load_role(struct serve *s, const char *dep, const char *ref, char **want,
                                char **why)
{
    struct cap_error err = {0};
    char *name = NULL, *alias = NULL, *version = NULL, *resolved = NULL;
    struct smodel *sm = NULL;
    *want = NULL;
    *why = NULL;
    if (serve_parse_ref(ref, &name, &alias, &version, &err) < 0 ||
        s->ops->resolve(s->cls, name, alias, version, &resolved, &err) < 0) {
        *why = cap_xstrdup(err.msg);
        goto done;
    }
    *want = ref_key(name, resolved);
    sm = smodel_get(s, dep, name, resolved, &err);
    if (!sm)
        *why = cap_xstrdup(err.msg);
done:
    free(name);
    free(alias);
    free(version);
    free(resolved);
    return sm;
}

static const char *spec_str(const cJSON *spec, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Brings one deployment in step with its spec. */
static void apply_one(struct serve *s, const char *name, const cJSON *raw_spec)
{
    struct cap_error err = {0};
    cJSON *spec = NULL;
    pthread_rwlock_wrlock(&s->tab_mu);
    struct dep *d = dep_find(s, name);
    if (!d) {
        d = cap_xcalloc(1, sizeof *d);
        d->name = cap_xstrdup(name);
        pthread_mutex_init(&d->mu, NULL);
        d->state = cap_xstrdup("LOADING");
        s->deps = cap_xrealloc(s->deps, (s->ndeps + 1) * sizeof *s->deps);
        s->deps[s->ndeps++] = d;
    }
    d->seen = true;
    pthread_rwlock_unlock(&s->tab_mu);
    /* d cannot go away here: only reconcile (which holds sync_mu) deletes. */
    if (serve_spec_check(raw_spec, &spec, &err) < 0) {
        pthread_mutex_lock(&d->mu);
        set_str(&d->state, d->plan ? "DEGRADED" : "FAILED");
        set_str(&d->message, err.msg);
        pthread_mutex_unlock(&d->mu);
        return;
    }
    static const char *const keys[3] = {"model", "canary", "shadow"};
    struct smodel *models[ROLE_COUNT] = {0};
    char *want[3] = {0}, *why[3] = {0};
    for (int i = 0; i < 3; i++) {
        const char *ref = spec_str(spec, keys[i]);
        if (ref)
            models[i] = load_role(s, name, ref, &want[i], &why[i]);
    }
    /* What the new plan would serve, to compare with what is applied. */
    struct cap_buf key;
    cap_buf_init(&key);
    char *spec_text = cJSON_PrintUnformatted(spec);
    cap_buf_puts(&key, spec_text);
    free(spec_text);
    for (int i = 0; i < 3; i++)
        cap_buf_printf(&key, "|%s", models[i] ? want[i] : "-");

    pthread_mutex_lock(&d->mu);
    struct plan *old = d->plan;
    struct smodel *old_primary = old ? old->model[ROLE_PRIMARY] : NULL;
    bool same = d->applied && strcmp(d->applied, key.data) == 0;
    if (!models[ROLE_PRIMARY]) {
        /* The new primary cannot serve: keep what serves now. */
        same = true;
    }
    struct plan *fresh = NULL;
    if (!same) {
        if (old_primary && old_primary != models[ROLE_PRIMARY]) {
            models[ROLE_PREVIOUS] = old_primary;
            atomic_fetch_add(&old_primary->refs, 1);
            char *prev = ref_key(old_primary->name, old_primary->version);
            free(d->previous);
            d->previous = prev;
        } else if (old && old->model[ROLE_PREVIOUS]) {
            models[ROLE_PREVIOUS] = old->model[ROLE_PREVIOUS];
            atomic_fetch_add(&models[ROLE_PREVIOUS]->refs, 1);
        }
        pthread_mutex_unlock(&d->mu);
        fresh = plan_new(s, name, spec, models);
        pthread_mutex_lock(&d->mu);
        d->plan = fresh; /* the switch: requests from now on take this one */
        set_str(&d->applied, key.data);
    } else {
        for (int i = 0; i < ROLE_COUNT; i++)
            smodel_release(s, models[i]);
    }
    for (int i = 0; i < 3; i++) {
        free(d->want[i]);
        d->want[i] = want[i];
        free(d->error[i]);
        d->error[i] = why[i];
    }
    if (!d->plan) {
        set_str(&d->state, "FAILED");
        set_str(&d->message, why[0] ? why[0] : "no model");
    } else if (why[0] || why[1] || why[2]) {
        struct cap_buf m;
        cap_buf_init(&m);
        for (int i = 0; i < 3; i++)
            if (why[i])
                cap_buf_printf(&m, "%s%s: %s", m.len ? "; " : "", role_names[i], why[i]);
        if (why[0] && d->plan->model[ROLE_PRIMARY])
            cap_buf_printf(&m, "; still serving %s/%s", d->plan->model[ROLE_PRIMARY]->name,
                           d->plan->model[ROLE_PRIMARY]->version);
        set_str(&d->state, "DEGRADED");
        set_str(&d->message, m.data);
        cap_buf_free(&m);
    } else {
        set_str(&d->state, "READY");
        set_str(&d->message, NULL);
    }
    pthread_mutex_unlock(&d->mu);
    if (fresh && old)
        serve_plan_release(old); /* in-flight requests keep it alive until they finish */
    cap_buf_free(&key);
    cJSON_Delete(spec);
}

void serve_sync(struct serve *s)
{
    struct cap_error err = {0};
    cJSON *list = NULL;
    pthread_mutex_lock(&s->sync_mu);
    if (s->ops->list(s->cls, &list, &err) < 0) {
        cap_log(CAP_LOG_WARN, "serve: cannot read deployments: %s", err.msg);
        pthread_mutex_unlock(&s->sync_mu);
        return;
    }
    pthread_rwlock_wrlock(&s->tab_mu);
    for (size_t i = 0; i < s->ndeps; i++)
        s->deps[i]->seen = false;
    pthread_rwlock_unlock(&s->tab_mu);
    const cJSON *d;
    cJSON_ArrayForEach(d, list)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(d, "name");
        if (cJSON_IsString(name))
            apply_one(s, name->valuestring, cJSON_GetObjectItemCaseSensitive(d, "spec"));
    }
    cJSON_Delete(list);
    /* Deployments that went away: out of the table first, so no new request
     * finds them; their plans drain. */
    pthread_rwlock_wrlock(&s->tab_mu);
    size_t k = 0;
    struct dep **gone = NULL;
    size_t ngone = 0;
    for (size_t i = 0; i < s->ndeps; i++) {
        if (s->deps[i]->seen) {
            s->deps[k++] = s->deps[i];
        } else {
            gone = cap_xrealloc(gone, (ngone + 1) * sizeof *gone);
            gone[ngone++] = s->deps[i];
        }
    }
    s->ndeps = k;
    pthread_rwlock_unlock(&s->tab_mu);
    for (size_t i = 0; i < ngone; i++) {
        cap_log(CAP_LOG_INFO, "serve: deployment %s removed", gone[i]->name);
        dep_free(gone[i]);
    }
    free(gone);
    pthread_mutex_unlock(&s->sync_mu);
}

static void *watch(void *arg)
{
    cap_thread_name("capstan-watch");
    struct serve *s = arg;
    pthread_mutex_lock(&s->stop_mu);
    while (!s->stopping) {
        pthread_mutex_unlock(&s->stop_mu);
        serve_sync(s);
        pthread_mutex_lock(&s->stop_mu);
        struct timespec ts;
        cap_deadline(&ts, s->cfg.poll_ms / 1000.0);
        if (!s->stopping)
            pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &ts);
    }
    pthread_mutex_unlock(&s->stop_mu);
    return NULL;
}

static void declare_metrics(struct metrics *m)
{
    static const double latency[] = {25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3,
                                     5e-3,  10e-3, 25e-3,  50e-3,  0.1,  0.25, 0.5,
                                     1,     2.5,   5,     10};
    static const double sizes[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    if (!m)
        return;
    metrics_declare(m, "capstan_inference_requests_total", METRICS_COUNTER,
                    "Inference requests by deployment, model version and outcome.", NULL, 0);
    metrics_declare(m, "capstan_inference_request_duration_seconds", METRICS_HISTOGRAM,
                    "Time from routing to the answer being written, per model version.",
                    latency, sizeof latency / sizeof latency[0]);
    metrics_declare(m, "capstan_inference_executions_total", METRICS_COUNTER,
                    "Model executions (a dynamic batch counts once).", NULL, 0);
    metrics_declare(m, "capstan_inference_offloaded_total", METRICS_COUNTER,
                    "Inference requests run on a worker thread instead of the HTTP thread "
                    "that read them, because the model or the body is heavy.",
                    NULL, 0);
    metrics_declare(m, "capstan_inference_queue_duration_seconds", METRICS_HISTOGRAM,
                    "Time requests waited in the dynamic batcher's queue.", latency,
                    sizeof latency / sizeof latency[0]);
    metrics_declare(m, "capstan_inference_batch_size", METRICS_HISTOGRAM,
                    "Rows per model execution under dynamic batching.", sizes,
                    sizeof sizes / sizeof sizes[0]);
    metrics_declare(m, "capstan_inference_queue_rejections_total", METRICS_COUNTER,
                    "Requests refused with 503 because the batch queue was full.", NULL, 0);
    metrics_declare(m, "capstan_prediction_cache_hits_total", METRICS_COUNTER,
                    "Requests answered from the prediction cache.", NULL, 0);
    metrics_declare(m, "capstan_prediction_cache_misses_total", METRICS_COUNTER,
                    "Requests the prediction cache could not answer.", NULL, 0);
    metrics_declare(m, "capstan_shadow_requests_total", METRICS_COUNTER,
                    "Requests mirrored to a shadow model.", NULL, 0);
    metrics_declare(m, "capstan_shadow_dropped_total", METRICS_COUNTER,
                    "Mirrored requests dropped because the shadow queue was full.", NULL, 0);
    metrics_declare(m, "capstan_shadow_compared_rows_total", METRICS_COUNTER,
                    "Rows whose shadow output was compared with the primary's.", NULL, 0);
    metrics_declare(m, "capstan_shadow_agreeing_rows_total", METRICS_COUNTER,
                    "Compared rows where shadow and primary agreed.", NULL, 0);
    metrics_declare(m, "capstan_shadow_agreement_ratio", METRICS_GAUGE,
                    "Share of compared rows where shadow and primary agreed.", NULL, 0);
    metrics_declare(m, "capstan_model_load_failures_total", METRICS_COUNTER,
                    "Model versions that failed to load or validate.", NULL, 0);
    metrics_declare(m, "capstan_deployment_ready", METRICS_GAUGE,
                    "1 when the deployment has a primary model serving, else 0.", NULL, 0);
    metrics_declare(m, "capstan_prediction_log_written_total", METRICS_COUNTER,
                    "Requests written to the prediction log.", NULL, 0);
    metrics_declare(m, "capstan_prediction_log_dropped_total", METRICS_COUNTER,
                    "Requests the prediction log dropped because its queue was full.", NULL, 0);
}

int serve_start(const struct serve_config *cfg, const struct serve_source_ops *ops, void *cls,
                struct serve **out, struct cap_error *err)
{
    struct serve *s = cap_xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    if (s->cfg.poll_ms <= 0)
        s->cfg.poll_ms = 250;
    if (s->cfg.shadow_queue <= 0)
        s->cfg.shadow_queue = 1024;
    s->cfg.default_deployment = cfg->default_deployment ? cap_xstrdup(cfg->default_deployment)
                                                        : NULL;
    s->ops = ops;
    s->cls = cls;
    pthread_mutex_init(&s->models_mu, NULL);
    pthread_rwlock_init(&s->tab_mu, NULL);
    pthread_mutex_init(&s->sync_mu, NULL);
    pthread_mutex_init(&s->stop_mu, NULL);
    pthread_cond_init(&s->stop_cv, NULL);
    pthread_mutex_init(&s->shadow_mu, NULL);
    pthread_cond_init(&s->shadow_cv, NULL);
    declare_metrics(s->cfg.metrics);
    if (serve_shadow_start(s) < 0) {
        serve_stop(s);
        return cap_err(err, CAP_EINTERNAL, "Cannot start the shadow worker");
    }
    serve_sync(s);
    if (pthread_create(&s->watcher, NULL, watch, s) != 0) {
        serve_stop(s);
        return cap_err(err, CAP_EINTERNAL, "Cannot start the deployment watcher");
    }
    s->watcher_running = true;
    *out = s;
    return 0;
}

void serve_stop(struct serve *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->stop_mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->stop_cv);
    pthread_mutex_unlock(&s->stop_mu);
    if (s->watcher_running)
        pthread_join(s->watcher, NULL);
    serve_shadow_loop_stop(s);
    for (size_t i = 0; i < s->ndeps; i++)
        dep_free(s->deps[i]);
    free(s->deps);
    while (s->failed) {
        struct failed_load *f = s->failed;
        s->failed = f->next;
        free(f->name);
        free(f->version);
        free(f->error);
        free(f);
    }
    /* every plan is gone, so every model is too */
    free(s->models);
    free((char *)s->cfg.default_deployment);
    pthread_mutex_destroy(&s->models_mu);
    pthread_rwlock_destroy(&s->tab_mu);
    pthread_mutex_destroy(&s->sync_mu);
    pthread_mutex_destroy(&s->stop_mu);
    pthread_cond_destroy(&s->stop_cv);
    pthread_mutex_destroy(&s->shadow_mu);
    pthread_cond_destroy(&s->shadow_cv);
    free(s);
}

/* ---------------- status ---------------- */

static cJSON *model_status(const struct smodel *sm, const char *want, const char *error)
{
    cJSON *o = cJSON_CreateObject();
    if (sm) {
        cJSON_AddStringToObject(o, "name", sm->name);
        cJSON_AddStringToObject(o, "version", sm->version);
        cJSON_AddBoolToObject(o, "ready", true);
    } else {
        cJSON_AddBoolToObject(o, "ready", false);
    }
    if (want && (!sm || error)) {
        const char *slash = strrchr(want, '/');
        cJSON_AddStringToObject(o, "wanted", want);
        if (!sm && slash) {
            char *n = cap_xstrndup(want, (size_t)(slash - want));
            cJSON_AddStringToObject(o, "name", n);
            cJSON_AddStringToObject(o, "version", slash + 1);
            free(n);
        }
    }
    if (error)
        cJSON_AddStringToObject(o, "error", error);
    return o;
}

static cJSON *dep_status(struct dep *d)
{
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&d->mu);
    struct plan *r = d->plan;
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "state", d->state ? d->state : "LOADING");
    if (d->message)
        cJSON_AddStringToObject(o, "message", d->message);
    cJSON_AddItemToObject(o, "primary", model_status(r ? r->model[ROLE_PRIMARY] : NULL,
                                                     d->want[0], d->error[0]));
    if (d->want[1] || d->error[1] || (r && r->model[ROLE_CANARY])) {
        cJSON_AddItemToObject(o, "canary", model_status(r ? r->model[ROLE_CANARY] : NULL,
                                                        d->want[1], d->error[1]));
        cJSON_AddNumberToObject(o, "canary_weight", r ? r->canary_bp / 100.0 : 0);
    }
    if (d->want[2] || d->error[2] || (r && r->model[ROLE_SHADOW]))
        cJSON_AddItemToObject(o, "shadow", model_status(r ? r->model[ROLE_SHADOW] : NULL,
                                                        d->want[2], d->error[2]));
    if (r && r->model[ROLE_PREVIOUS])
        cJSON_AddItemToObject(o, "previous", model_status(r->model[ROLE_PREVIOUS], NULL, NULL));
    pthread_mutex_unlock(&d->mu);
    return o;
}

cJSON *serve_status(struct serve *s, const char *name)
{
    cJSON *out = NULL;
    pthread_rwlock_rdlock(&s->tab_mu);
    if (name) {
        struct dep *d = dep_find(s, name);
        if (d)
            out = dep_status(d);
    } else {
        out = cJSON_CreateArray();
        for (size_t i = 0; i < s->ndeps; i++)
            cJSON_AddItemToArray(out, dep_status(s->deps[i]));
    }
    pthread_rwlock_unlock(&s->tab_mu);
    return out;
}

bool serve_ready(struct serve *s)
{
    bool ok = true;
    pthread_rwlock_rdlock(&s->tab_mu);
    for (size_t i = 0; i < s->ndeps && ok; i++) {
        pthread_mutex_lock(&s->deps[i]->mu);
        ok = s->deps[i]->plan != NULL;
        pthread_mutex_unlock(&s->deps[i]->mu);
    }
    pthread_rwlock_unlock(&s->tab_mu);
    return ok;
}

char *serve_previous_version(struct serve *s, const char *name)
{
    char *out = NULL;
    pthread_rwlock_rdlock(&s->tab_mu);
    struct dep *d = dep_find(s, name);
    if (d) {
        pthread_mutex_lock(&d->mu);
        struct smodel *p = d->plan ? d->plan->model[ROLE_PREVIOUS] : NULL;
        if (p)
            out = ref_key(p->name, p->version);
        pthread_mutex_unlock(&d->mu);
    }
    pthread_rwlock_unlock(&s->tab_mu);
    return out;
}

/* ---------------- admission ---------------- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t next_random(void)
{
    static _Thread_local uint64_t x;
    if (!x)
        x = (uint64_t)cap_now_ms() ^ (uint64_t)(uintptr_t)&x ^ 0x9E3779B97F4A7C15ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

char *serve_default_name(struct serve *s)
{
    char *name = NULL;
    pthread_rwlock_rdlock(&s->tab_mu);
    if (s->cfg.default_deployment)
        name = cap_xstrdup(s->cfg.default_deployment);
    else if (s->ndeps == 1)
        name = cap_xstrdup(s->deps[0]->name);
    pthread_rwlock_unlock(&s->tab_mu);
    return name;
}

int serve_acquire(struct serve *s, const char *deployment, const char *version,
                  serve_header_fn header, void *header_cls, struct serve_handle **out,
                  struct cap_error *err)
{
    *out = NULL;
    double t0 = cap_mono_s();
    pthread_rwlock_rdlock(&s->tab_mu);
    struct dep *d = NULL;
    if (deployment) {
        d = dep_find(s, deployment);
    } else if (s->cfg.default_deployment) {
        d = dep_find(s, s->cfg.default_deployment);
        deployment = s->cfg.default_deployment;
    } else if (s->ndeps == 1) {
        d = s->deps[0];
    } else {
        size_t n = s->ndeps;
        pthread_rwlock_unlock(&s->tab_mu);
        return n == 0 ? cap_err(err, CAP_ENOTFOUND,
                                "No deployment to serve: create one with `capstan deploy create` "
                                "or POST /api/2.0/capstan/deployments")
                      : cap_err(err, CAP_ENOTFOUND,
                                "%zu deployments are served here: name one with "
                                "/deployments/{name}/invocations (or start the server with "
                                "--default-deployment)",
                                n);
    }
    if (!d) {
        pthread_rwlock_unlock(&s->tab_mu);
        return cap_err(err, CAP_ENOTFOUND, "No deployment named '%.200s'", deployment);
    }
    pthread_mutex_lock(&d->mu);
    struct plan *r = d->plan;
    if (r)
        serve_plan_retain(r);
    char *why = r ? NULL : cap_xstrdup(d->message ? d->message : "its model is still loading");
    pthread_mutex_unlock(&d->mu);
    pthread_rwlock_unlock(&s->tab_mu);
    if (!r) {
        int rc = cap_err(err, CAP_EUNAVAIL, "Deployment '%.200s' has no model ready: %.400s",
                         deployment ? deployment : "", why);
        free(why);
        return rc;
    }
    int role = ROLE_PRIMARY;
    if (version) {
        role = -1;
        for (int i = 0; i < ROLE_COUNT && role < 0; i++)
            if (r->model[i] && strcmp(r->model[i]->version, version) == 0)
                role = i;
        if (role < 0) {
            int rc = cap_err(err, CAP_ENOTFOUND,
                             "Version %.40s is not served by deployment '%.200s' (it serves %s/%s)",
                             version, r->dep, r->model[ROLE_PRIMARY]->name,
                             r->model[ROLE_PRIMARY]->version);
            serve_plan_release(r);
            return rc;
        }
    } else if (r->canary_bp > 0) {
        const char *key = r->sticky_header && header ? header(header_cls, r->sticky_header)
                                                     : NULL;
        uint64_t x = key ? fnv1a(key) : next_random();
        if ((int)(x % 10000) < r->canary_bp)
            role = ROLE_CANARY;
    }
    struct serve_handle *h = cap_xmalloc(sizeof *h);
    h->r = r;
    h->role = role;
    h->t0 = t0;
    h->t_run = t0;
    *out = h;
    return 0;
}

/* Bytes a request counts for beyond its body: what any request costs. */
#define HOLD_BASE_BYTES 64

bool serve_handle_heavy(const struct serve_handle *h, size_t body_len)
{
    if (body_len >= SERVE_HEAVY_BODY)
        return true;
    const struct smodel *m = h->r->model[h->role];
    double per_byte = atomic_load_explicit(&m->hold_s_per_byte, memory_order_relaxed);
    return per_byte * (double)(body_len + HOLD_BASE_BYTES) >= SERVE_HEAVY_S;
}

void serve_handle_note_hold(const struct serve_handle *h, size_t body_len)
{
    struct smodel *m = h->r->model[h->role];
    double x = (cap_mono_s() - h->t_run) / (double)(body_len + HOLD_BASE_BYTES);
    double old = atomic_load_explicit(&m->hold_s_per_byte, memory_order_relaxed);
    /* A sample counts for at most 8 times the average, so that one request
     * preempted mid-way does not make a light model heavy: only a run of
     * slow ones does. */
    if (old > 0 && x > 8 * old)
        x = 8 * old;
    double avg = old > 0 ? old + (x - old) / 8 : x;
    atomic_store_explicit(&m->hold_s_per_byte, avg, memory_order_relaxed);
}

void serve_offload(struct serve_handle *h)
{
    metrics_add(h->r->stats[h->role].offloaded, 1);
    serve_drop(h);
}

void serve_handle_since(struct serve_handle *h, double t0)
{
    h->t0 = t0;
}

const infer_model *serve_handle_model(const struct serve_handle *h)
{
    return h->r->model[h->role]->m;
}

const char *serve_handle_version(const struct serve_handle *h)
{
    return h->r->model[h->role]->version;
}

void serve_release(struct serve_handle *h, bool ok)
{
    if (!h)
        return;
    struct role_stats *st = &h->r->stats[h->role];
    metrics_add(ok ? st->ok : st->fail, 1);
    metrics_observe(st->latency, cap_mono_s() - h->t0);
    serve_plan_release(h->r);
    free(h);
}

void serve_drop(struct serve_handle *h)
{
    if (!h)
        return;
    serve_plan_release(h->r);
    free(h);
}
