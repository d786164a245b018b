/* estimate.c - a binary classifier's quality per window estimated without
 * labels (estimate.h): NannyML's CBPE (cbpe.c) fitted on the labelled
 * predictions of a reference period, applied to every logged prediction of
 * each window, and the realised quality beside it where labels came. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "feedback/feedback.h"
#include "feedback/rows.h"
#include "store/store.h"

/* The reference's two classes and which one is positive; its rows as CBPE
 * wants them. */
struct binary {
    struct fb_rows rows;
    struct fb_classes classes;
    int pos;
    double *proba, *pred, *truth;
};

static int collect(void *cls, const struct store_label *l, struct cap_error *err)
{
    fb_rows_add(cls, l);
    return 0;
}

static int reference_rows(struct binary *b, const struct fb_estimate_query *q,
                          struct fb_rows *r, struct cap_error *err)
{
    if (r->n == 0)
        return cap_err(err, CAP_EINVAL,
                       "No labelled predictions of deployment '%s' in the reference period "
                       "[%" PRId64 ", %" PRId64 "): CBPE is fitted on labelled predictions",
                       q->deployment, q->ref_from_ms, q->ref_to_ms);
    if (!r->classifier || r->mixed)
        return cap_err(err, CAP_EINVAL,
                       "CBPE estimates a classifier's quality: deployment '%s' serves a "
                       "regressor",
                       q->deployment);
    if (r->nscores != 2 || r->no_scores)
        return cap_err(err, CAP_EINVAL,
                       "The model of deployment '%s' logs no probabilities of two classes "
                       "for every prediction: CBPE needs them (a binary classifier's scores)",
                       q->deployment);
    fb_find_classes(r, &b->classes);
    if (b->classes.k != 2)
        return cap_err(err, CAP_EINVAL,
                       "CBPE needs a binary classifier: the reference holds %d classes",
                       b->classes.k);
    b->pos = 1;
    if (q->positive && (b->pos = fb_find_in(&b->classes, 2, q->positive)) < 0)
        return cap_err(err, CAP_EINVAL, "positive_class '%.64s' is neither of the classes",
                       q->positive);
    b->proba = cap_xmalloc(r->n * sizeof(double));
    b->pred = cap_xmalloc(r->n * sizeof(double));
    b->truth = cap_xmalloc(r->n * sizeof(double));
    const char *positive = b->classes.names[b->pos];
    for (size_t i = 0; i < r->n; i++) {
        b->proba[i] = r->scores[2 * i + (size_t)b->pos];
        b->pred[i] = strcmp(r->pred[i], positive) == 0;
        b->truth[i] = strcmp(r->truth[i], positive) == 0;
    }
    return 0;
}

/* ---- the windows' logged predictions ---- */

struct window {
    double *proba, *pred;
    size_t n, cap;
};

struct analysis {
    const struct fb_estimate_query *q;
    const struct binary *b;
    struct window *w;
    size_t nw;
    struct cap_error *bad;
};

static void window_add(struct window *w, double proba, double pred)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 256;
        w->proba = cap_xrealloc(w->proba, w->cap * sizeof *w->proba);
        w->pred = cap_xrealloc(w->pred, w->cap * sizeof *w->pred);
    }
    w->proba[w->n] = proba;
    w->pred[w->n++] = pred;
}

static int on_prediction(void *cls, int64_t id, const struct store_prediction *r,
                         struct cap_error *err)
{
    struct analysis *a = cls;
    struct window *w = &a->w[fb_window_index(a->q->from_ms, a->q->width_ms, r->timestamp_ms)];
    const char *positive = a->b->classes.names[a->b->pos];
    struct fb_pred *p = NULL;
    size_t n = 0;
    struct cap_error e = {0};
    int rc = fb_preds_read(r->outputs, r->outputs_len, &p, &n, &e);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && (!p[i].classifier || p[i].nscores != 2))
            rc = cap_err(err, CAP_EINVAL,
                         "A prediction of deployment '%s' at %" PRId64 " carries no "
                         "probabilities of two classes: CBPE needs them",
                         a->q->deployment, r->timestamp_ms);
        if (rc == 0)
            window_add(w, p[i].scores[a->b->pos], strcmp(p[i].prediction, positive) == 0);
        fb_pred_free(&p[i]);
    }
    free(p);
    if (rc < 0 && n == 0)
        return cap_err(err, CAP_EINVAL,
                       "A prediction of deployment '%s' at %" PRId64 " carries no "
                       "probabilities of two classes: CBPE needs them",
                       a->q->deployment, r->timestamp_ms);
    return rc;
}

/* ---- the answer ---- */

static cJSON *value_json(const struct fb_cbpe_value *v)
{
    cJSON *o = cJSON_CreateObject();
    const char *keys[] = {"value", "sampling_error", "lower_bound", "upper_bound",
                          "lower_threshold", "upper_threshold"};
    double vals[] = {v->value, v->sampling_error, v->lower_bound, v->upper_bound,
                     v->lower_threshold, v->upper_threshold};
    for (int i = 0; i < 6; i++)
        cJSON_AddItemToObject(o, keys[i], fb_num_json(vals[i]));
    cJSON_AddBoolToObject(o, "alert", v->alert);
    return o;
}

static cJSON *reference_json(const fb_cbpe *m, const struct binary *b)
{
    cJSON *o = cJSON_CreateObject();
    double before, after;
    bool cal = fb_cbpe_calibrated(m, &before, &after);
    cJSON_AddNumberToObject(o, "rows", (double)b->rows.n);
    cJSON_AddNumberToObject(o, "chunk_size", (double)fb_cbpe_chunk_size(m));
    cJSON_AddStringToObject(o, "positive_class", b->classes.names[b->pos]);
    cJSON_AddBoolToObject(o, "calibrated", cal);
    cJSON_AddItemToObject(o, "ece_before", fb_num_json(before));
    cJSON_AddItemToObject(o, "ece_after", fb_num_json(after));
    cJSON *th = cJSON_AddObjectToObject(o, "thresholds");
    for (int k = 0; k < FB_CBPE_NMETRICS; k++) {
        if (!(fb_cbpe_metrics(m) & FB_CBPE_BIT(k)))
            continue;
        double lo, hi;
        fb_cbpe_thresholds(m, k, &lo, &hi);
        cJSON *t = cJSON_AddObjectToObject(th, fb_cbpe_metric_name(k));
        cJSON_AddItemToObject(t, "lower", fb_num_json(lo));
        cJSON_AddItemToObject(t, "upper", fb_num_json(hi));
    }
    return o;
}

/* The realised window of the same start, if labels came for it. */
static const cJSON *realised_at(const cJSON *realised, int64_t start)
{
    const cJSON *w;
    cJSON_ArrayForEach(w, realised)
    {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(w, "start_ms");
        if (cJSON_IsNumber(s) && (int64_t)s->valuedouble == start)
            return w;
    }
    return NULL;
}

static int windows_json(const fb_cbpe *m, const struct analysis *a, const cJSON *realised,
                        cJSON *out, struct cap_error *err)
{
    for (size_t i = 0; i < a->nw; i++) {
        const struct window *w = &a->w[i];
        if (w->n == 0)
            continue;
        struct fb_cbpe_rows rows = {.proba = w->proba, .pred = w->pred, .n = w->n};
        struct fb_cbpe_result r;
        int rc = fb_cbpe_window(m, &rows, &r, err);
        if (rc < 0)
            return rc;
        /* windows as the realised quality's, so that realised_at meets them */
        int64_t start = fb_window_start(a->q->from_ms, a->q->width_ms,
                                        a->q->from_ms + (int64_t)i * a->q->width_ms);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "start_ms", (double)start);
        int64_t end = a->q->width_ms > 0 ? start + a->q->width_ms : a->q->to_ms;
        cJSON_AddNumberToObject(o, "end_ms", (double)end);
        cJSON_AddNumberToObject(o, "rows", (double)w->n);
        cJSON *est = cJSON_AddObjectToObject(o, "estimated");
        for (int k = 0; k < FB_CBPE_NMETRICS; k++)
            if (fb_cbpe_metrics(m) & FB_CBPE_BIT(k))
                cJSON_AddItemToObject(est, fb_cbpe_metric_name(k), value_json(&r.m[k]));
        const cJSON *rw = realised_at(realised, start);
        const cJSON *labelled = cJSON_GetObjectItem(rw, "labelled");
        cJSON_AddNumberToObject(o, "labelled", labelled ? labelled->valuedouble : 0);
        if (rw)
            cJSON_AddItemToObject(o, "realised",
                                  cJSON_Duplicate(cJSON_GetObjectItem(rw, "metrics"), true));
        cJSON_AddItemToArray(out, o);
    }
    return 0;
}

static void binary_free(struct binary *b)
{
    fb_classes_free(&b->classes);
    fb_rows_free(&b->rows);
    free(b->proba);
    free(b->pred);
    free(b->truth);
}

static void analysis_free(struct analysis *a)
{
    for (size_t i = 0; i < a->nw; i++) {
        free(a->w[i].proba);
        free(a->w[i].pred);
    }
    free(a->w);
}

static int check_query(const struct fb_estimate_query *q, struct cap_error *err)
{
    if (q->ref_to_ms <= q->ref_from_ms || q->to_ms <= q->from_ms)
        return cap_err(err, CAP_EINVAL,
                       "'reference_to' must be after 'reference_from' and 'to' after 'from'");
    if (q->width_ms < 0 || (q->width_ms > 0 && (q->to_ms - q->from_ms) / q->width_ms > 10000))
        return cap_err(err, CAP_EINVAL,
                       "width_s must be positive and give at most 10000 windows from 'from' to "
                       "'to'");
    return 0;
}

int fb_estimate(struct store *st, const struct fb_estimate_query *q, cJSON **out,
                struct cap_error *err)
{
    *out = NULL;
    struct binary b = {0};
    struct analysis a = {.q = q, .b = &b};
    fb_cbpe *m = NULL;
    cJSON *realised = NULL;
    unsigned metrics = 0;
    int rc = check_query(q, err);
    if (rc == 0)
        rc = fb_cbpe_parse_metrics(q->metrics ? q->metrics : FB_ESTIMATE_METRICS, &metrics, err);
    if (rc == 0)
        rc = store_labels_scan(st, q->deployment, q->ref_from_ms, q->ref_to_ms, collect, &b.rows,
                               err);
    if (rc == 0)
        rc = reference_rows(&b, q, &b.rows, err);
    if (rc == 0) {
        size_t chunk = q->chunk_size ? q->chunk_size : (b.rows.n >= 10 ? b.rows.n / 10 : 1);
        struct fb_cbpe_rows ref = {b.proba, b.pred, b.truth, b.rows.n};
        struct fb_cbpe_opts o = {.chunk_size = chunk, .metrics = metrics};
        rc = fb_cbpe_fit(&ref, &o, &m, err);
    }
    if (rc == 0) {
        a.nw = fb_window_index(q->from_ms, q->width_ms, q->to_ms - 1) + 1;
        a.w = cap_xcalloc(a.nw, sizeof *a.w);
        rc = store_predictions_range(st, q->deployment, q->from_ms, q->to_ms, on_prediction, &a,
                                     err);
    }
    struct fb_realised_query rq = {q->deployment, q->from_ms, q->to_ms, q->width_ms, q->positive};
    if (rc == 0)
        rc = fb_realised(st, &rq, &realised, err);
    cJSON *o = cJSON_CreateObject(), *ws = NULL;
    if (rc == 0) {
        cJSON_AddItemToObject(o, "reference", reference_json(m, &b));
        ws = cJSON_AddArrayToObject(o, "windows");
        rc = windows_json(m, &a, realised, ws, err);
    }
    if (rc == 0)
        *out = o;
    else
        cJSON_Delete(o);
    cJSON_Delete(realised);
    fb_cbpe_free(m);
    analysis_free(&a);
    binary_free(&b);
    return rc;
}
