/* livehist.c - a stored live window's histograms beside its baseline's, for
 * the live deployment's page (monitor.h, mon_window_histograms). A
 * window's profile counts its values in the reference profile's bins and
 * categories, so both are read from two stored profiles without a row:
 * one window's blob and the baseline's (about 1 kB a numeric column). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "monitor/profile.h"
#include "monitor/valmap.h"
#include "store/store.h"

/* Categories listed per column: the most frequent over both sides; the
 * rest are summed in "other". A free-text column may have a category a
 * row, and the page draws 20. */
#define HIST_CATS 100

struct got {
    struct mon_profile prof;
    bool found;
};

static int got_profile(void *cls, int64_t start_ms, const void *data, size_t len,
                       struct cap_error *err)
{
    struct got *g = cls;
    if (g->found)
        return 0;
    int rc = mon_profile_decode(data, len, &g->prof, err);
    g->found = rc == 0;
    return rc;
}

static cJSON *counts(const int64_t *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

static void num_column(cJSON *o, const struct mon_colprof *r, const struct mon_colprof *c)
{
    cJSON_AddStringToObject(o, "kind", "num");
    cJSON *e = cJSON_AddArrayToObject(o, "edges");
    for (size_t i = 0; c->nbins && i <= c->nbins; i++)
        cJSON_AddItemToArray(e, cJSON_CreateNumber(c->edges[i]));
    /* [0] below the first edge, [nbins + 1] above the last */
    size_t n = c->nbins ? c->nbins + 2 : 0;
    cJSON_AddItemToObject(o, "reference", r ? counts(r->bins, n) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "current", counts(c->bins, n));
}

struct ranked {
    double share;
    size_t idx;
};

static int by_share(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->share != y->share)
        return x->share < y->share ? 1 : -1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Both sides' categories in one map; cnt[s][i] is side s's count of key i. */
static void cat_union(const struct mon_colprof *side[2], struct mon_valmap *m, int64_t *cnt[2],
                      int64_t tot[2])
{
    size_t room = (side[0] ? side[0]->ncat : 0) + side[1]->ncat + 1;
    for (int s = 0; s < 2; s++) {
        cnt[s] = cap_xcalloc(room, sizeof *cnt[s]);
        tot[s] = 0;
        for (size_t i = 0; side[s] && i < side[s]->ncat; i++) {
            bool added;
            size_t k = mon_valmap_add(m, (union mon_val){.s = side[s]->cat[i]}, &added);
            cnt[s][k] += side[s]->cat_count[i];
            tot[s] += side[s]->cat_count[i];
        }
    }
}

static void cat_column(cJSON *o, const struct mon_colprof *r, const struct mon_colprof *c)
{
    cJSON_AddStringToObject(o, "kind", "cat");
    const struct mon_colprof *side[2] = {r, c};
    struct mon_valmap m;
    mon_valmap_init(&m, true);
    int64_t *cnt[2], tot[2];
    cat_union(side, &m, cnt, tot);
    struct ranked *rk = cap_xcalloc(m.n + 1, sizeof *rk);
    for (size_t i = 0; i < m.n; i++) {
        rk[i].idx = i;
        for (int s = 0; s < 2; s++)
            rk[i].share += tot[s] ? (double)cnt[s][i] / (double)tot[s] : 0;
    }
    qsort(rk, m.n, sizeof *rk, by_share);
    size_t shown = m.n < HIST_CATS ? m.n : HIST_CATS;
    cJSON *keys = cJSON_AddArrayToObject(o, "categories");
    cJSON *a[2] = {r ? cJSON_CreateArray() : cJSON_CreateNull(), cJSON_CreateArray()};
    int64_t other[2] = {tot[0], tot[1]};
    for (size_t j = 0; j < shown; j++) {
        size_t i = rk[j].idx;
        cJSON_AddItemToArray(keys, cJSON_CreateString(m.keys[i].s));
        for (int s = 0; s < 2; s++) {
            other[s] -= cnt[s][i];
            if (side[s])
                cJSON_AddItemToArray(a[s], cJSON_CreateNumber((double)cnt[s][i]));
        }
    }
    cJSON_AddItemToObject(o, "reference", a[0]);
    cJSON_AddItemToObject(o, "current", a[1]);
    cJSON *oth = cJSON_AddArrayToObject(o, "other");
    for (int s = 0; s < 2; s++)
        cJSON_AddItemToArray(oth, r || s ? cJSON_CreateNumber((double)other[s])
                                         : cJSON_CreateNull());
    cJSON_AddNumberToObject(o, "distinct", (double)m.n);
    free(rk);
    free(cnt[0]);
    free(cnt[1]);
    mon_valmap_free(&m);
}

/* Whether a column is an output: the window's prediction drift names it. */
static bool is_output(const cJSON *result, const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(result, "prediction_drift"),
                              "columns"))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(c, "column");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return true;
    }
    return false;
}

static cJSON *columns(const struct mon_profile *ref, const struct mon_profile *cur,
                      const cJSON *result)
{
    cJSON *cols = cJSON_CreateArray();
    for (size_t i = 0; i < cur->ncols; i++) {
        const struct mon_colprof *c = &cur->cols[i], *r = ref ? &ref->cols[i] : NULL;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "column", c->name);
        cJSON_AddStringToObject(o, "role", is_output(result, c->name) ? "output" : "input");
        cJSON_AddNumberToObject(o, "count", (double)c->count);
        cJSON_AddNumberToObject(o, "missing", (double)c->missing);
        if (c->kind == MON_PROF_NUM)
            num_column(o, r, c);
        else
            cat_column(o, r, c);
        cJSON_AddItemToArray(cols, o);
    }
    return cols;
}

/* The window's stored result: its reference's target, and which columns
 * are outputs. -CAP_ENOTFOUND when there is no such window. */
static int window_result(struct store *st, const char *dep, int64_t width_s, int64_t start_ms,
                         cJSON **rows, const cJSON **result, struct cap_error *err)
{
    int rc = store_monitor_windows_search(st, dep, width_s, start_ms, start_ms + 1, 1, false, rows,
                                          err);
    if (rc < 0)
        return rc;
    *result = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(*rows, 0), "result");
    if (!cJSON_IsObject(*result))
        return cap_err(err, CAP_ENOTFOUND,
                       "Deployment '%s' has no monitoring window of width %" PRId64
                       " s starting at %" PRId64,
                       dep, width_s, start_ms);
    return 0;
}

/* The baseline's profile, or none when it was deleted or replaced by one of
 * another layout since the window was computed (*note says which). */
static int reference_profile(struct store *st, struct blob *bl, const char *target,
                             const struct mon_profile *cur, struct mon_baseline *b,
                             const char **note, struct cap_error *err)
{
    struct cap_error e2 = {0};
    int rc = mon_baseline_load(st, bl, target, b, &e2);
    if (rc == -CAP_ENOTFOUND) {
        *note = "the baseline was deleted since this window";
        return 0;
    }
    if (rc < 0) {
        *err = e2;
        return rc;
    }
    if (mon_profile_layout_check(b->profile, cur, &e2) < 0) {
        *note = "the baseline was replaced since this window, by one of other bins";
        mon_baseline_free(b);
    }
    return 0;
}

int mon_window_histograms(struct store *st, struct blob *bl, const char *deployment,
                          int64_t width_s, int64_t start_ms, cJSON **out, struct cap_error *err)
{
    cJSON *rows = NULL;
    const cJSON *result = NULL;
    struct got g = {0};
    struct mon_baseline b = {0};
    const char *note = NULL;
    int rc = window_result(st, deployment, width_s, start_ms, &rows, &result, err);
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(result, "reference"), "target");
    if (rc == 0 && !cJSON_IsString(target))
        rc = cap_err(err, CAP_ENOTFOUND,
                     "The window of deployment '%s' starting at %" PRId64
                     " had no baseline, so it has no histograms",
                     deployment, start_ms);
    if (rc == 0)
        rc = store_monitor_window_profiles(st, deployment, width_s, start_ms, start_ms + 1,
                                           got_profile, &g, err);
    if (rc == 0 && !g.found)
        rc = cap_err(err, CAP_ENOTFOUND, "The window of deployment '%s' starting at %" PRId64
                                         " has no stored profile",
                     deployment, start_ms);
    if (rc == 0)
        rc = reference_profile(st, bl, target->valuestring, &g.prof, &b, &note, err);
    if (rc == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "deployment", deployment);
        cJSON_AddNumberToObject(o, "width_s", (double)width_s);
        cJSON_AddNumberToObject(o, "start_ms", (double)start_ms);
        cJSON *ref = cJSON_AddObjectToObject(o, "reference");
        cJSON_AddStringToObject(ref, "target", target->valuestring);
        cJSON_AddBoolToObject(ref, "available", note == NULL);
        if (note)
            cJSON_AddStringToObject(ref, "note", note);
        cJSON_AddItemToObject(o, "columns", columns(b.profile, &g.prof, result));
        *out = o;
    }
    if (g.found)
        mon_profile_free(&g.prof);
    mon_baseline_free(&b);
    cJSON_Delete(rows);
    return rc;
}
