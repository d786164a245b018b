/* realised.c - realised model quality per window of prediction time, from
 * the current labels (realised.h): the labels of a window become class
 * indices or values and go through metrics.c, whose numbers equal
 * scikit-learn's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "feedback/feedback.h"
#include "feedback/rows.h"
#include "monitor/monitor.h"
#include "store/store.h"

/* ---- JSON of the metrics (the API's and the drivers' one form) ---- */

static void add_num(cJSON *o, const char *key, double v)
{
    cJSON_AddItemToObject(o, key, fb_num_json(v));
}

static cJSON *notes_json(unsigned notes)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < FB_NOTE_COUNT; i++)
        if (notes & (1u << i))
            cJSON_AddItemToArray(a, cJSON_CreateString(fb_note_name(1u << i)));
    return a;
}

static cJSON *prf_json(const struct fb_prf *p)
{
    cJSON *o = cJSON_CreateObject();
    add_num(o, "precision", p->precision);
    add_num(o, "recall", p->recall);
    add_num(o, "f1", p->f1);
    return o;
}

cJSON *fb_cls_json(const struct fb_cls_metrics *m, const char *const *classes)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rows", (double)m->n);
    cJSON_AddNumberToObject(o, "k", m->k);
    add_num(o, "accuracy", m->accuracy);
    cJSON_AddItemToObject(o, "binary", m->k == 2 ? prf_json(&m->binary) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "macro", prf_json(&m->macro));
    cJSON_AddItemToObject(o, "weighted", prf_json(&m->weighted));
    add_num(o, "roc_auc", m->roc_auc);
    add_num(o, "roc_auc_weighted", m->roc_auc_weighted);
    add_num(o, "pr_auc", m->avg_precision);
    add_num(o, "pr_auc_weighted", m->avg_precision_weighted);
    add_num(o, "log_loss", m->log_loss);
    cJSON *cls = cJSON_AddArrayToObject(o, "classes");
    cJSON *cm = cJSON_AddArrayToObject(o, "confusion_matrix");
    for (int c = 0; c < m->k; c++) {
        const struct fb_class_metrics *k = &m->classes[c];
        cJSON *e = prf_json(&k->prf);
        if (classes)
            cJSON_AddStringToObject(e, "class", classes[c]);
        cJSON_AddNumberToObject(e, "support", (double)k->support);
        cJSON_AddNumberToObject(e, "predicted", (double)k->predicted);
        cJSON_AddBoolToObject(e, "present", k->present);
        add_num(e, "roc_auc", k->roc_auc);
        add_num(e, "pr_auc", k->avg_precision);
        cJSON_AddItemToArray(cls, e);
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; j < m->k; j++)
            cJSON_AddItemToArray(row,
                                 cJSON_CreateNumber((double)m->confusion[(size_t)c * m->k + j]));
        cJSON_AddItemToArray(cm, row);
    }
    cJSON_AddItemToObject(o, "notes", notes_json(m->notes));
    return o;
}

cJSON *fb_reg_json(const struct fb_reg_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rows", (double)m->n);
    add_num(o, "mae", m->mae);
    add_num(o, "rmse", m->rmse);
    add_num(o, "mape", m->mape);
    add_num(o, "r2", m->r2);
    add_num(o, "mean_error", m->mean_error);
    cJSON_AddItemToObject(o, "notes", notes_json(m->notes));
    return o;
}

/* ---- a window's metrics ---- */

static int class_metrics(struct fb_rows *r, const char *positive, cJSON *w, struct cap_error *err)
{
    struct fb_classes c;
    fb_find_classes(r, &c);
    int32_t *yt = cap_xmalloc(r->n * sizeof *yt), *yp = cap_xmalloc(r->n * sizeof *yp);
    for (size_t i = 0; i < r->n; i++) {
        yt[i] = fb_find_in(&c, c.k, r->truth[i]);
        yp[i] = fb_find_in(&c, c.k, r->pred[i]);
    }
    bool scored = r->nscores > 0 && !r->no_scores && (size_t)c.k == r->nscores;
    if (r->nscores > 0 && !scored)
        cJSON_AddStringToObject(w, "scores_unused",
                                "the classes seen do not tell which score column is which");
    struct fb_cls_input in = {.n = r->n, .k = c.k, .y_true = yt, .y_pred = yp,
                              .proba = scored ? r->scores : NULL};
    struct fb_cls_opts o;
    fb_cls_opts_init(&o);
    int rc = 0;
    if (positive && (o.pos_class = fb_find_in(&c, c.k, positive)) < 0)
        rc = cap_err(err, CAP_EINVAL, "positive_class '%.64s' is none of the window's classes",
                     positive);
    struct fb_cls_metrics m = {0};
    if (rc == 0 && (rc = fb_cls_compute(&in, &o, &m, err)) == 0)
        cJSON_AddItemToObject(w, "metrics", fb_cls_json(&m, (const char *const *)c.names));
    fb_cls_metrics_free(&m);
    free(yt);
    free(yp);
    fb_classes_free(&c);
    return rc;
}

/* "metrics" of the rows into w: a classifier's or a regressor's. */
static int rows_metrics(struct fb_rows *r, const char *positive, cJSON *w, struct cap_error *err)
{
    if (r->classifier)
        return class_metrics(r, positive, w, err);
    struct fb_reg_metrics m;
    int rc = fb_reg_compute(r->vtrue, r->vpred, r->n, &m, err);
    if (rc == 0)
        cJSON_AddItemToObject(w, "metrics", fb_reg_json(&m));
    return rc;
}

/* ---- label shift ---- */

/* The rows' labels as a one-column frame named "label" (borrowing them). */
static void label_frame(struct fb_rows *r, struct mon_column *col, struct mon_frame *f)
{
    *col = (struct mon_column){.name = "label", .dtype = r->classifier ? MON_TEXT : MON_FLOAT,
                               .num = r->classifier ? NULL : r->vtrue,
                               .text = r->classifier ? r->truth : NULL};
    *f = (struct mon_frame){.path = "labels", .cols = col, .ncols = 1, .nrows = r->n};
}

/* The window's labels against the reference's: the drift report's one
 * column, as the monitor reports a column. */
static int label_shift(struct fb_rows *ref, struct fb_rows *cur, cJSON *w,
                       struct cap_error *err)
{
    if (ref->n == 0)
        return cap_err(err, CAP_EINVAL,
                       "No labels in the reference period: label shift compares a window's "
                       "labels with the reference's");
    if (ref->classifier != cur->classifier)
        return 0; /* the model changed kind: nothing to compare */
    struct mon_column rc_, cc;
    struct mon_frame rf, cf;
    label_frame(ref, &rc_, &rf);
    label_frame(cur, &cc, &cf);
    const char *label = "label";
    struct mon_drift_options o = {.drift_share = 0.5};
    if (cur->classifier)
        o.categorical = &label, o.n_categorical = 1;
    else
        o.numerical = &label, o.n_numerical = 1;
    cJSON *report = NULL;
    int rc = mon_drift(&rf, &cf, &o, &report, err);
    if (rc < 0)
        return rc;
    cJSON *col = cJSON_DetachItemFromArray(cJSON_GetObjectItem(report, "columns"), 0);
    cJSON_DeleteItemFromObject(col, "column");
    cJSON_AddItemToObject(w, "label_shift", col);
    cJSON_Delete(report);
    return 0;
}

static cJSON *window_json(struct fb_rows *r, int64_t start, int64_t end, const char *positive,
                          struct fb_rows *ref, struct cap_error *err)
{
    cJSON *w = cJSON_CreateObject();
    cJSON_AddNumberToObject(w, "start_ms", (double)start);
    cJSON_AddNumberToObject(w, "end_ms", (double)end);
    cJSON_AddNumberToObject(w, "labelled", (double)r->n);
    cJSON_AddStringToObject(w, "task", r->classifier ? "classification" : "regression");
    if (r->mixed)
        cJSON_AddStringToObject(w, "skipped",
                                "rows of the other task (the deployment changed model kind)");
    int rc = rows_metrics(r, positive, w, err);
    if (rc == 0 && ref)
        rc = label_shift(ref, r, w, err);
    if (rc < 0) {
        cJSON_Delete(w);
        return NULL;
    }
    return w;
}

/* ---- windows over the labels ---- */

struct scan {
    struct store *st;
    const struct fb_realised_query *q;
    struct fb_rows rows;
    struct fb_rows *ref;         /* the reference's labels, or NULL */
    int64_t start;               /* the open window's start, INT64_MIN: none */
    cJSON *windows;
};

/* The window's quality per segment of q->segment: {column, bins?, groups:
 * [{segment, labelled, metrics}]}. */
static int add_segments(struct scan *s, cJSON *w, struct cap_error *err)
{
    struct fb_segment *g = NULL;
    size_t ng = 0;
    int rc = fb_segment_rows(s->st, s->q->deployment, &s->rows, s->q->segment, s->q->bins, &g,
                             &ng, err);
    cJSON *seg = cJSON_CreateObject(), *groups = cJSON_AddArrayToObject(seg, "groups");
    cJSON_AddStringToObject(seg, "column", s->q->segment);
    if (s->q->bins > 0)
        cJSON_AddNumberToObject(seg, "bins", s->q->bins);
    for (size_t k = 0; k < ng && rc == 0; k++) {
        struct fb_rows part = {0};
        fb_rows_pick(&s->rows, g[k].idx, g[k].n, &part);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "segment", g[k].name);
        cJSON_AddNumberToObject(o, "labelled", (double)part.n);
        rc = rows_metrics(&part, s->q->positive, o, err);
        cJSON_AddItemToArray(groups, o);
        fb_rows_free(&part);
    }
    fb_segments_free(g, ng);
    cJSON_AddItemToObject(w, "segments", seg);
    return rc;
}

static int close_window(struct scan *s, struct cap_error *err)
{
    if (s->rows.n == 0)
        return 0;
    int64_t end = s->q->width_ms > 0 ? s->start + s->q->width_ms : s->q->to_ms;
    cJSON *w = window_json(&s->rows, s->start, end, s->q->positive, s->ref, err);
    int rc = w ? 0 : -CAP_EINVAL;
    if (rc == 0 && s->q->segment)
        rc = add_segments(s, w, err);
    fb_rows_clear(&s->rows);
    if (rc == 0)
        cJSON_AddItemToArray(s->windows, w);
    else
        cJSON_Delete(w);
    return rc;
}

static int add_ref(void *cls, const struct store_label *l, struct cap_error *err)
{
    fb_rows_add(cls, l);
    return 0;
}

static int on_label(void *cls, const struct store_label *l, struct cap_error *err)
{
    struct scan *s = cls;
    int64_t start = fb_window_start(s->q->from_ms, s->q->width_ms, l->pred_ms);
    if (start != s->start) {
        int rc = close_window(s, err);
        if (rc < 0)
            return rc;
        s->start = start;
    }
    fb_rows_add(&s->rows, l);
    return 0;
}

/* ---- label coverage ---- */

struct counts {
    const struct fb_realised_query *q;
    int64_t *n;                  /* rows per window */
    size_t nw;
};

static int count_rows(void *cls, int64_t id, const struct store_prediction *r,
                      struct cap_error *err)
{
    struct counts *c = cls;
    struct fb_pred p;
    struct cap_error e = {0};
    if (fb_pred_read(r->outputs, r->outputs_len, 0, &p, &e) < 0)
        return 0; /* no prediction a label could meet: not counted */
    size_t i = fb_window_index(c->q->from_ms, c->q->width_ms, r->timestamp_ms);
    if (i < c->nw)
        c->n[i] += p.rows;
    fb_pred_free(&p);
    return 0;
}

/* predictions and coverage of each labelled window, from one pass over the
 * log's rows of [from, to). */
static int add_coverage(struct store *st, const struct fb_realised_query *q, cJSON *windows,
                        struct cap_error *err)
{
    struct counts c = {.q = q, .nw = fb_window_index(q->from_ms, q->width_ms, q->to_ms - 1) + 1};
    c.n = cap_xcalloc(c.nw, sizeof *c.n);
    int rc = store_predictions_range(st, q->deployment, q->from_ms, q->to_ms, count_rows, &c,
                                     err);
    cJSON *w, *list = rc == 0 ? windows : NULL;
    cJSON_ArrayForEach(w, list)
    {
        int64_t start = (int64_t)cJSON_GetObjectItem(w, "start_ms")->valuedouble;
        double labelled = cJSON_GetObjectItem(w, "labelled")->valuedouble;
        size_t i = fb_window_index(q->from_ms, q->width_ms, start);
        int64_t n = i < c.nw ? c.n[i] : 0;
        cJSON_AddNumberToObject(w, "predictions", (double)n);
        cJSON_AddItemToObject(w, "coverage", n > 0 ? cJSON_CreateNumber(labelled / (double)n)
                                                   : cJSON_CreateNull());
    }
    free(c.n);
    return rc;
}

int fb_realised(struct store *st, const struct fb_realised_query *q, cJSON **out,
               struct cap_error *err)
{
    *out = NULL;
    if (q->to_ms <= q->from_ms)
        return cap_err(err, CAP_EINVAL, "'to' must be after 'from'");
    /* only labelled windows are answered; the bound is coverage's count array
     * (8 bytes a window): a day of 1 s windows is 86,400 */
    if (q->width_ms < 0 || (q->width_ms > 0 && (q->to_ms - q->from_ms) / q->width_ms > 1000000))
        return cap_err(err, CAP_EINVAL,
                       "width_s must be positive and give at most 1000000 windows from 'from' "
                       "to 'to'");
    struct scan s = {.st = st, .q = q, .start = INT64_MIN, .windows = cJSON_CreateArray()};
    if (q->bins < 0 || q->bins > 50 || (q->bins && !q->segment)) {
        cJSON_Delete(s.windows);
        return cap_err(err, CAP_EINVAL, "bins must be 1 to 50, with a segment column");
    }
    struct fb_rows ref = {0};
    int rc = 0;
    if (q->ref_to_ms > 0) {
        s.ref = &ref;
        if (q->ref_to_ms <= q->ref_from_ms)
            rc = cap_err(err, CAP_EINVAL, "'reference_to' must be after 'reference_from'");
        else
            rc = store_labels_scan(st, q->deployment, q->ref_from_ms, q->ref_to_ms, add_ref,
                                   &ref, err);
    }
    if (rc == 0)
        rc = store_labels_scan(st, q->deployment, q->from_ms, q->to_ms, on_label, &s, err);
    if (rc == 0)
        rc = close_window(&s, err);
    if (rc == 0 && q->coverage)
        rc = add_coverage(st, q, s.windows, err);
    fb_rows_free(&s.rows);
    fb_rows_free(&ref);
    if (rc < 0) {
        cJSON_Delete(s.windows);
        return rc;
    }
    *out = s.windows;
    return 0;
}
