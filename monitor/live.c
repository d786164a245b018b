/* live.c - the live monitor: reads the prediction log by cursor, sorts its
 * rows into each deployment's windows by timestamp, closes windows once
 * their end is grace_ms past, stores them with the cursors in one
 * transaction, and rolls closed base windows up into the longer widths by
 * merging their profiles.
 *
 * Restart safety, per deployment: "done" is the largest log id counted
 * into a stored window and "through" the end of the last stored base
 * window. Rows with ts < through were either counted into a stored window
 * or arrived late and were counted into the window open then, which was
 * stored too; so after a restart a row is skipped exactly when id <= done
 * and ts < through. The global cursor is never past the first row of a
 * window still open, so those rows are read again. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/metrics.h"
#include "base/util.h"
#include "lease/lease.h"
#include "monitor/live.h"

#define MAX_WIDTHS 8
/* rows read per store call, and calls per round before windows are
 * closed: a backlog is worked off in steps that keep closing windows */
#define SCAN_ROWS 4096
#define SCAN_CALLS 64
#define NONE INT64_MIN

struct mon_dep {
    char *name;
    struct mon_ref *ref;        /* NULL: none found at the last look */
    int64_t ref_checked_ms;     /* when the baseline was last looked up (0: never) */
    int64_t ref_asked_id;       /* the row that asked last: asks once, however slow */
    char *ref_model;            /* "model:M/V" of the rows, the fallback target */
    struct mon_win *open;       /* open base windows, by start */
    int64_t done_id, through_ms;
    int64_t rolled[MAX_WIDTHS]; /* per longer width: the end of the last rollup (NONE: none) */
    struct mon_dep *next;
};

struct mon_live {
    struct mon_live_config cfg;
    int64_t widths[MAX_WIDTHS];
    size_t nwidths;
    int64_t cursor;
    bool loaded;
    _Atomic int64_t log_from;   /* the stored cursor + 1: the log keeps rows from it on */
    struct mon_dep *deps;
    struct mon_dep *need_ref;   /* set by the scan: look up this deployment's baseline */
    pthread_mutex_t round;      /* one round at a time */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, threaded;
    pthread_t thread;
};

static int64_t now_ms(const struct mon_live *l)
{
    return l->cfg.now_ms ? l->cfg.now_ms() : cap_now_ms();
}

static int64_t base_ms(const struct mon_live *l)
{
    return l->widths[0] * 1000;
}

static int64_t floor_to(int64_t t, int64_t w)
{
    int64_t q = t / w;
    return (t % w < 0 ? q - 1 : q) * w;
}

/* ---- per-deployment state ---- */

static int state_get(struct mon_live *l, const char *fmt, const char *dep, int64_t width,
                     int64_t *v, struct cap_error *err)
{
    char key[300];
    snprintf(key, sizeof key, fmt, dep, width);
    bool found = false;
    return store_monitor_state_get(l->cfg.store, key, v, &found, err);
}

static int dep_load(struct mon_live *l, struct mon_dep *d, struct cap_error *err)
{
    for (size_t j = 0; j < MAX_WIDTHS; j++)
        d->rolled[j] = NONE;
    int rc = state_get(l, "live.done:%s", d->name, 0, &d->done_id, err);
    if (rc == 0)
        rc = state_get(l, "live.through:%s", d->name, 0, &d->through_ms, err);
    for (size_t j = 1; j < l->nwidths && rc == 0; j++)
        rc = state_get(l, "live.rolled:%s:%" PRId64, d->name, l->widths[j], &d->rolled[j], err);
    return rc;
}

static struct mon_dep *dep_find(struct mon_live *l, const char *name)
{
    for (struct mon_dep *d = l->deps; d; d = d->next)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

static void dep_free(struct mon_dep *d)
{
    while (d->open) {
        struct mon_win *w = d->open;
        d->open = w->next;
        mon_win_free(w);
    }
    mon_ref_free(d->ref);
    free(d->ref_model);
    free(d->name);
    free(d);
}

/* The baseline a deployment's windows are tested against: the
 * deployment's own, else its model version's. Looked up at most once per
 * base window, so a new baseline is used from the next window on. */
static void dep_find_ref(struct mon_live *l, struct mon_dep *d)
{
    char target[300];
    struct cap_error err = {0};
    struct mon_ref *r = NULL;
    snprintf(target, sizeof target, "deployment:%.250s", d->name);
    int rc = mon_ref_load(l->cfg.store, l->cfg.blob, target, &r, &err);
    if (rc == -CAP_ENOTFOUND && d->ref_model)
        rc = mon_ref_load(l->cfg.store, l->cfg.blob, d->ref_model, &r, &err);
    if (rc < 0 && rc != -CAP_ENOTFOUND)
        cap_log(CAP_LOG_WARN, "monitor: deployment %s: its baseline: %s", d->name, err.msg);
    mon_ref_free(d->ref); /* open windows hold the one they opened with */
    d->ref = rc == 0 ? r : NULL;
    d->ref_checked_ms = now_ms(l);
}

/* ---- reading the log ---- */

static struct mon_win *window_at(struct mon_dep *d, int64_t start)
{
    struct mon_win **p = &d->open;
    while (*p && (*p)->start_ms < start)
        p = &(*p)->next;
    if (*p && (*p)->start_ms == start)
        return *p;
    struct mon_win *w = mon_win_new(start, d->ref);
    w->next = *p;
    *p = w;
    return w;
}

static int on_row(void *cls, int64_t id, const struct store_prediction *r, struct cap_error *err)
{
    struct mon_live *l = cls;
    if (strcmp(r->role, "shadow") == 0)
        return 0;
    struct mon_dep *d = dep_find(l, r->deployment);
    if (!d) {
        d = cap_xcalloc(1, sizeof *d);
        d->name = cap_xstrdup(r->deployment);
        d->ref_asked_id = -1;
        int rc = dep_load(l, d, err);
        if (rc < 0) {
            dep_free(d);
            return rc;
        }
        d->next = l->deps;
        l->deps = d;
    }
    if (id <= d->done_id && r->timestamp_ms < d->through_ms)
        return 0; /* counted into a stored window before a restart */
    bool late = r->timestamp_ms < d->through_ms;
    int64_t start = late ? d->through_ms : floor_to(r->timestamp_ms, base_ms(l));
    bool opens = true;
    for (struct mon_win *w = d->open; w && opens; w = w->next)
        opens = w->start_ms != start;
    if (opens && id != d->ref_asked_id &&
        (d->ref_checked_ms == 0 || now_ms(l) - d->ref_checked_ms >= base_ms(l))) {
        d->ref_asked_id = id;
        free(d->ref_model);
        size_t n = strlen(r->model_name) + strlen(r->model_version) + 8;
        d->ref_model = cap_xmalloc(n);
        snprintf(d->ref_model, n, "model:%s/%s", r->model_name, r->model_version);
        l->need_ref = d;
        return 1; /* looked up outside the scan's read snapshot, then read again */
    }
    mon_win_add(window_at(d, start), id, r, late, l->cfg.exact_rows);
    return 0;
}

/* Reads the log after the cursor, a bounded number of rows per round. */
static int read_log(struct mon_live *l, struct cap_error *err)
{
    for (int calls = 0; calls < SCAN_CALLS; calls++) {
        int64_t last = l->cursor;
        l->need_ref = NULL;
        int rc = store_predictions_scan(l->cfg.store, NULL, l->cursor, SCAN_ROWS, on_row, l,
                                        &last, err);
        if (rc < 0)
            return rc;
        bool moved = last != l->cursor;
        l->cursor = last;
        if (l->need_ref)
            dep_find_ref(l, l->need_ref);
        else if (!moved)
            break;
    }
    return 0;
}

/* ---- closing windows ---- */

/* The cursor a restart may resume from: before the first row of every
 * window still open. */
static int64_t safe_cursor(const struct mon_live *l)
{
    int64_t c = l->cursor;
    for (const struct mon_dep *d = l->deps; d; d = d->next)
        for (const struct mon_win *w = d->open; w; w = w->next)
            if (w->first_id != INT64_MAX && w->first_id - 1 < c)
                c = w->first_id - 1;
    return c;
}

static void set_gauge(struct metrics *m, const char *name, const char *labels, double v)
{
    metrics_set(metrics_series(m, name, labels), v);
}

/* The gauges of a deployment's latest base window. */
static void window_gauges(struct mon_live *l, const char *dep, const cJSON *res)
{
    struct metrics *m = l->cfg.metrics;
    if (!m)
        return;
    struct cap_buf lb;
    cap_buf_init(&lb);
    metrics_label(&lb, "deployment", dep);
    set_gauge(m, "capstan_monitor_window_rows", lb.data,
              cJSON_GetObjectItemCaseSensitive(res, "rows")->valuedouble);
    const cJSON *drift = cJSON_GetObjectItemCaseSensitive(res, "drift");
    const cJSON *pred = cJSON_GetObjectItemCaseSensitive(res, "prediction_drift");
    if (cJSON_IsObject(drift)) {
        set_gauge(m, "capstan_dataset_drift", lb.data,
                  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(drift, "dataset_drift")));
        set_gauge(m, "capstan_share_of_drifted_columns", lb.data,
                  cJSON_GetObjectItemCaseSensitive(drift, "share_of_drifted_columns")->valuedouble);
    }
    if (cJSON_IsObject(pred))
        set_gauge(m, "capstan_prediction_drift", lb.data,
                  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pred, "dataset_drift")));
    const cJSON *reports[2] = {drift, pred};
    const char *families[2] = {"capstan_feature_drift_score", "capstan_prediction_drift_score"};
    for (int k = 0; k < 2; k++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(reports[k], "columns"))
        {
            struct cap_buf b;
            cap_buf_init(&b);
            cap_buf_puts(&b, lb.data);
            metrics_label(&b, k ? "output" : "feature",
                          cJSON_GetObjectItemCaseSensitive(c, "column")->valuestring);
            metrics_label(&b, "stattest",
                          cJSON_GetObjectItemCaseSensitive(c, "stattest")->valuestring);
            set_gauge(m, families[k], b.data,
                      cJSON_GetObjectItemCaseSensitive(c, "drift_score")->valuedouble);
            cap_buf_free(&b);
        }
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(res, "data_quality"), "columns"))
    {
        struct cap_buf b;
        cap_buf_init(&b);
        cap_buf_puts(&b, lb.data);
        metrics_label(&b, "feature", cJSON_GetObjectItemCaseSensitive(c, "column")->valuestring);
        set_gauge(m, "capstan_missing_share", b.data,
                  cJSON_GetObjectItemCaseSensitive(c, "missing_share_current")->valuedouble);
        cap_buf_free(&b);
    }
    metrics_add(metrics_series(m, "capstan_monitor_windows_total", lb.data), 1);
    cap_buf_free(&lb);
}

/* Hands each stored window to the hook, with its id. */
static void announce(struct mon_live *l, const char *dep, cJSON *const *res, const int64_t *ids,
                     size_t n)
{
    for (size_t i = 0; i < n && l->cfg.on_window; i++) {
        cJSON_AddNumberToObject(res[i], "id", (double)ids[i]);
        l->cfg.on_window(l->cfg.on_window_cls, dep, ids[i], res[i]);
    }
}

/* Stores windows and the deployment's state in one transaction. */
static int store_windows(struct mon_live *l, struct mon_dep *d, const struct store_window *w,
                         size_t n, int64_t *ids, struct cap_error *err)
{
    char k[4][300];
    struct store_state_int st[3 + MAX_WIDTHS];
    size_t ns = 0;
    snprintf(k[0], sizeof k[0], "live.done:%s", d->name);
    snprintf(k[1], sizeof k[1], "live.through:%s", d->name);
    int64_t cursor = safe_cursor(l);
    st[ns++] = (struct store_state_int){"live.cursor", cursor};
    st[ns++] = (struct store_state_int){k[0], d->done_id};
    st[ns++] = (struct store_state_int){k[1], d->through_ms};
    char rk[MAX_WIDTHS][300];
    for (size_t j = 1; j < l->nwidths; j++) {
        snprintf(rk[j], sizeof rk[j], "live.rolled:%s:%" PRId64, d->name, l->widths[j]);
        st[ns++] = (struct store_state_int){rk[j], d->rolled[j]};
    }
    int rc = store_monitor_windows_put(l->cfg.store, w, n, st, ns, ids, err);
    if (rc == 0)
        atomic_store(&l->log_from, cursor + 1);
    return rc;
}

static bool due(const struct mon_live *l, const struct mon_win *w, int64_t now)
{
    return w->start_ms + base_ms(l) + l->cfg.grace_ms <= now;
}

/* Closes the deployment's due base windows: computes each (once: a window
 * whose store failed keeps its result for the next round), then stores
 * them with the state they advance. */
static int close_due(struct mon_live *l, struct mon_dep *d, int64_t now, struct cap_error *err)
{
    size_t n = 0;
    for (struct mon_win *w = d->open; w && due(l, w, now); w = w->next)
        n++;
    if (n == 0)
        return 0;
    struct store_window *sw = cap_xcalloc(n, sizeof *sw);
    cJSON **res = cap_xcalloc(n, sizeof *res);
    char **text = cap_xcalloc(n, sizeof *text);
    int64_t *ids = cap_xcalloc(n, sizeof *ids);
    int64_t done = d->done_id, through = d->through_ms, rolled[MAX_WIDTHS];
    memcpy(rolled, d->rolled, sizeof rolled);
    struct mon_win *w = d->open;
    for (size_t i = 0; i < n; i++, w = w->next) {
        if (!w->result)
            w->result = mon_win_result(w, d->name, l->widths[0], &w->profile);
        res[i] = w->result;
        text[i] = cJSON_PrintUnformatted(w->result);
        sw[i] = (struct store_window){.deployment = d->name, .width_s = l->widths[0],
                                      .start_ms = w->start_ms,
                                      .end_ms = w->start_ms + base_ms(l), .nrows = w->rows,
                                      .result_json = text[i],
                                      .profile = w->profile.len ? w->profile.data : NULL,
                                      .profile_len = w->profile.len};
        d->done_id = w->last_id > d->done_id ? w->last_id : d->done_id;
        d->through_ms = sw[i].end_ms > d->through_ms ? sw[i].end_ms : d->through_ms;
        for (size_t j = 1; j < l->nwidths; j++)
            if (d->rolled[j] == NONE)
                d->rolled[j] = floor_to(w->start_ms, l->widths[j] * 1000);
    }
    /* the windows leave the open list first: the stored cursor skips them */
    struct mon_win *closed = d->open;
    d->open = w;
    int rc = store_windows(l, d, sw, n, ids, err);
    if (rc < 0) { /* back as they were (still linked to w), stored next round */
        d->open = closed;
        d->done_id = done;
        d->through_ms = through;
        memcpy(d->rolled, rolled, sizeof rolled);
    } else {
        announce(l, d->name, res, ids, n);
        window_gauges(l, d->name, res[n - 1]);
        while (closed != w) {
            struct mon_win *next = closed->next;
            mon_win_free(closed);
            closed = next;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(text[i]);
    free(text);
    free(res);
    free(sw);
    free(ids);
    return rc;
}

/* ---- rolling up ---- */

struct merge_job {
    struct mon_profile *into;
    int merged, skipped;
    char why[256];
};

static int merge_one(void *cls, int64_t start_ms, const void *blob, size_t len,
                     struct cap_error *err)
{
    struct merge_job *m = cls;
    struct mon_profile p;
    struct cap_error e = {0};
    int rc = mon_profile_decode(blob, len, &p, &e);
    if (rc == 0) {
        rc = mon_profile_merge(m->into, &p, &e);
        mon_profile_free(&p);
    }
    if (rc < 0) { /* e.g. a window of an earlier baseline with other columns */
        m->skipped++;
        snprintf(m->why, sizeof m->why, "%.200s", e.msg);
    } else {
        m->merged++;
    }
    return 0;
}

/* The rows per model version of the base windows in [start, end). */
static cJSON *sum_versions(struct mon_live *l, const char *dep, int64_t start, int64_t end)
{
    cJSON *out = cJSON_CreateObject(), *list = NULL, *w;
    struct cap_error err = {0};
    if (store_monitor_windows_search(l->cfg.store, dep, l->widths[0], start, end, 10000, false, &list,
                                     &err) < 0)
        return out;
    cJSON_ArrayForEach(w, list)
    {
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(
                                  cJSON_GetObjectItemCaseSensitive(w, "result"), "model_versions"))
        {
            cJSON *t = cJSON_GetObjectItemCaseSensitive(out, v->string);
            if (t)
                cJSON_SetNumberValue(t, t->valuedouble + v->valuedouble);
            else
                cJSON_AddNumberToObject(out, v->string, v->valuedouble);
        }
    }
    cJSON_Delete(list);
    return out;
}

/* One longer window [start, start + width) from its base windows. */
static int roll_one(struct mon_live *l, struct mon_dep *d, int64_t width_s, int64_t start,
                    struct cap_error *err)
{
    struct mon_profile merged;
    mon_profile_empty_like(d->ref->b.profile, &merged);
    struct merge_job m = {.into = &merged};
    int rc = store_monitor_window_profiles(l->cfg.store, d->name, l->widths[0], start,
                                           start + width_s * 1000, merge_one, &m, err);
    if (rc == 0 && m.merged > 0) {
        cJSON *res = mon_rollup_result(d->ref, &merged, d->name, width_s, start, merged.rows);
        cJSON_ReplaceItemInObjectCaseSensitive(
            res, "model_versions", sum_versions(l, d->name, start, start + width_s * 1000));
        if (m.skipped)
            cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(res, "errors"),
                                 cJSON_CreateString(m.why));
        struct cap_buf prof;
        cap_buf_init(&prof);
        mon_profile_encode(&merged, &prof);
        char *text = cJSON_PrintUnformatted(res);
        struct store_window sw = {.deployment = d->name, .width_s = width_s, .start_ms = start,
                                  .end_ms = start + width_s * 1000, .nrows = merged.rows,
                                  .result_json = text, .profile = prof.data,
                                  .profile_len = prof.len};
        int64_t id = 0;
        rc = store_windows(l, d, &sw, 1, &id, err);
        if (rc == 0)
            announce(l, d->name, &res, &id, 1);
        free(text);
        cap_buf_free(&prof);
        cJSON_Delete(res);
    }
    mon_profile_free(&merged);
    return rc;
}

/* Rolls up every longer window that the base windows have passed. Periods
 * without traffic are skipped without a write; the state they advance is
 * stored with the next write. */
static int roll_up(struct mon_live *l, struct mon_dep *d, struct cap_error *err)
{
    for (size_t j = 1; j < l->nwidths && d->ref; j++) {
        int64_t w = l->widths[j] * 1000;
        for (int guard = 0; d->rolled[j] != NONE && d->rolled[j] + w <= d->through_ms &&
                            guard < 10000;
             guard++) {
            int64_t start = d->rolled[j];
            d->rolled[j] = start + w; /* stored with the window, or the next write */
            int rc = roll_one(l, d, l->widths[j], start, err);
            if (rc < 0) {
                d->rolled[j] = start;
                return rc;
            }
        }
    }
    return 0;
}

/* ---- the rounds ---- */

int mon_live_poll(struct mon_live *l, struct cap_error *err)
{
    pthread_mutex_lock(&l->round);
    int rc = 0;
    if (!l->loaded) {
        bool found = false;
        l->cursor = -1;
        rc = store_monitor_state_get(l->cfg.store, "live.cursor", &l->cursor, &found, err);
        l->loaded = rc == 0;
        if (l->loaded)
            atomic_store(&l->log_from, l->cursor + 1);
    }
    if (rc == 0)
        rc = read_log(l, err);
    int64_t now = now_ms(l);
    for (struct mon_dep *d = l->deps; d && rc == 0; d = d->next) {
        rc = close_due(l, d, now, err);
        if (rc == 0)
            rc = roll_up(l, d, err);
    }
    pthread_mutex_unlock(&l->round);
    return rc;
}

/* Another server holds the lease: it reads the log and stores the windows.
 * What this one held in memory is dropped, as at a stop; should it take the
 * lease over, it reads its state from the store again, as after a restart. */
static void free_deps(struct mon_live *l)
{
    while (l->deps) {
        struct mon_dep *d = l->deps;
        l->deps = d->next;
        dep_free(d);
    }
}

static void forget(struct mon_live *l)
{
    pthread_mutex_lock(&l->round);
    free_deps(l);
    l->loaded = false;
    pthread_mutex_unlock(&l->round);
}

static void *live_thread(void *arg)
{
    cap_thread_name("capstan-monitor");
    struct mon_live *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        pthread_mutex_unlock(&l->mu);
        struct cap_error err = {0};
        if (l->cfg.lease && !lease_held(l->cfg.lease))
            forget(l);
        else if (mon_live_poll(l, &err) < 0)
            cap_log(CAP_LOG_WARN, "monitor: %s", err.msg);
        pthread_mutex_lock(&l->mu);
        struct timespec ts;
        cap_deadline(&ts, l->cfg.poll_ms / 1000.0);
        if (!l->stop)
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static int check_widths(struct mon_live *l, const struct mon_live_config *cfg,
                        struct cap_error *err)
{
    static const int64_t defaults[] = {300, 3600, 86400};
    const int64_t *w = cfg->widths_s ? cfg->widths_s : defaults;
    size_t n = cfg->widths_s ? cfg->nwidths : 3;
    if (n == 0 || n > MAX_WIDTHS)
        return cap_err(err, CAP_EINVAL, "monitoring windows: give 1 to %d widths", MAX_WIDTHS);
    for (size_t i = 0; i < n; i++) {
        if (w[i] <= 0 || w[i] > 366 * 86400 || (i > 0 && w[i] <= w[i - 1]) ||
            w[i] % w[0] != 0)
            return cap_err(err, CAP_EINVAL,
                           "monitoring windows: widths must be seconds from 1 to 366 days, "
                           "increasing, each a multiple of the first (got %" PRId64 ")",
                           w[i]);
        l->widths[i] = w[i];
    }
    l->nwidths = n;
    return 0;
}

int mon_live_start(const struct mon_live_config *cfg, struct mon_live **out,
                   struct cap_error *err)
{
    struct mon_live *l = cap_xcalloc(1, sizeof *l);
    l->cfg = *cfg;
    int rc = check_widths(l, cfg, err);
    if (rc < 0 || !cfg->store) {
        free(l);
        return rc < 0 ? rc : cap_err(err, CAP_EINVAL, "the live monitor needs a store");
    }
    l->cfg.widths_s = l->widths;
    if (l->cfg.grace_ms < 0)
        l->cfg.grace_ms = 0;
    if (l->cfg.exact_rows == 0)
        l->cfg.exact_rows = 50000;
    pthread_mutex_init(&l->round, NULL);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (cfg->metrics) {
        static const char *const gauges[][2] = {
            {"capstan_dataset_drift", "1 when the latest window's inputs drift"},
            {"capstan_share_of_drifted_columns", "the latest window's share of drifted inputs"},
            {"capstan_feature_drift_score", "the latest window's drift score of each input"},
            {"capstan_prediction_drift", "1 when the latest window's outputs drift"},
            {"capstan_prediction_drift_score", "the latest window's drift score of each output"},
            {"capstan_missing_share", "the latest window's share of missing cells per input"},
            {"capstan_monitor_window_rows", "rows in the latest closed monitoring window"},
        };
        for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++)
            metrics_declare(cfg->metrics, gauges[i][0], METRICS_GAUGE, gauges[i][1], NULL, 0);
        metrics_declare(cfg->metrics, "capstan_monitor_windows_total", METRICS_COUNTER,
                        "base monitoring windows closed", NULL, 0);
    }
    if (l->cfg.poll_ms > 0) {
        l->threaded = true;
        pthread_create(&l->thread, NULL, live_thread, l);
    }
    *out = l;
    return 0;
}

void mon_live_stop(struct mon_live *l)
{
    if (!l)
        return;
    if (l->threaded) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    free_deps(l);
    pthread_mutex_destroy(&l->round);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

size_t mon_live_widths(const struct mon_live *l, const int64_t **widths_s)
{
    *widths_s = l->widths;
    return l->nwidths;
}

int64_t mon_live_log_from(void *live)
{
    return atomic_load(&((struct mon_live *)live)->log_from);
}
