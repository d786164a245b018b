/* join.c - what a logged prediction said about one row (join.h's rule). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "feedback/join.h"
#include "payload/payload.h"

static bool is_class_type(int t)
{
    return t == INFER_STRING || t == INFER_INT64 || t == INFER_INT32 || t == INFER_INT16 ||
           t == INFER_INT8 || t == INFER_UINT8 || t == INFER_UINT16 || t == INFER_UINT32 ||
           t == INFER_UINT64 || t == INFER_BOOL;
}

static bool is_float_type(int t)
{
    return t == INFER_FLOAT || t == INFER_DOUBLE;
}

/* Values per row: [N] and [N, 1] have one, [N, k] k; -1 beyond two dims. */
static int64_t per_row(const infer_tensor *t)
{
    if (t->ndim == 1)
        return 1;
    return t->ndim == 2 ? t->dims[1] : -1;
}

static double num_at(const infer_tensor *t, int64_t i)
{
    return t->type == INFER_FLOAT ? ((const float *)t->data)[i] : ((const double *)t->data)[i];
}

/* Element i of an integer or text tensor as text. */
static char *class_text(const infer_tensor *t, int64_t i)
{
    char b[32];
    const void *d = t->data;
    switch (t->type) {
    case INFER_STRING:
        return cap_xstrdup(((char *const *)d)[i]);
    case INFER_INT64: snprintf(b, sizeof b, "%" PRId64, ((const int64_t *)d)[i]); break;
    case INFER_INT32: snprintf(b, sizeof b, "%" PRId32, ((const int32_t *)d)[i]); break;
    case INFER_INT16: snprintf(b, sizeof b, "%d", ((const int16_t *)d)[i]); break;
    case INFER_INT8: snprintf(b, sizeof b, "%d", ((const int8_t *)d)[i]); break;
    case INFER_UINT8:
    case INFER_BOOL: snprintf(b, sizeof b, "%u", ((const uint8_t *)d)[i]); break;
    case INFER_UINT16: snprintf(b, sizeof b, "%u", ((const uint16_t *)d)[i]); break;
    case INFER_UINT32: snprintf(b, sizeof b, "%" PRIu32, ((const uint32_t *)d)[i]); break;
    default: snprintf(b, sizeof b, "%" PRIu64, ((const uint64_t *)d)[i]); break;
    }
    return cap_xstrdup(b);
}

/* Rows [from, to) of the request into p[0 .. to - from); to < 0: every row,
 * p allocated by the first tensor read. */
struct walk {
    int64_t from, to;
    struct fb_pred *p;
    bool has_class, has_scores, has_value, short_rows;
    int64_t rows;
};

static void take_rows(struct walk *w, const infer_tensor *t, int64_t k, int kind)
{
    for (int64_t r = w->from; r < w->to; r++) {
        struct fb_pred *p = &w->p[r - w->from];
        if (kind == 0) {
            p->prediction = class_text(t, r);
        } else if (kind == 1) {
            p->nscores = (size_t)k;
            p->scores = cap_xmalloc((size_t)k * sizeof(double));
            for (int64_t j = 0; j < k; j++)
                p->scores[j] = num_at(t, r * k + j);
        } else {
            p->value = num_at(t, r);
        }
    }
}

static int take_tensor(void *cls, const char *name, const infer_tensor *t)
{
    struct walk *w = cls;
    int64_t k = per_row(t);
    if (t->ndim < 1 || k < 1)
        return 0;
    if (w->to < 0) { /* every row: as many as the first tensor has */
        w->to = t->dims[0];
        w->p = cap_xcalloc(w->to ? (size_t)w->to : 1, sizeof *w->p);
    }
    w->rows = t->dims[0];
    if (t->dims[0] < w->to) {
        w->short_rows = true;
        return 1;
    }
    int kind = -1;
    if (!w->has_class && k == 1 && is_class_type(t->type))
        kind = 0, w->has_class = true;
    else if (!w->has_scores && k >= 2 && is_float_type(t->type))
        kind = 1, w->has_scores = true;
    else if (!w->has_value && k == 1 && is_float_type(t->type))
        kind = 2, w->has_value = true;
    if (kind >= 0)
        take_rows(w, t, k, kind);
    return 0;
}

/* A classifier without a class output predicts its best score's index. */
static void argmax_class(struct fb_pred *p)
{
    size_t best = 0;
    for (size_t j = 1; j < p->nscores; j++)
        if (p->scores[j] > p->scores[best])
            best = j;
    char b[32];
    snprintf(b, sizeof b, "%zu", best);
    p->prediction = cap_xstrdup(b);
}

/* Walks the pack for rows [w->from, w->to) and applies the rule to each. */
static int read_rows(const void *outputs, size_t len, struct walk *w, size_t *n,
                     struct cap_error *err)
{
    *n = 0;
    if (!outputs || payload_log_walk(outputs, len, take_tensor, w) < 0)
        return cap_err(err, CAP_EINTERNAL, "A logged prediction's outputs are unreadable");
    if (w->short_rows)
        return cap_err(err, CAP_ENOTFOUND, "The request has %" PRId64 " rows", w->rows);
    if (w->to < 0 || (!w->has_class && !w->has_scores && !w->has_value))
        return cap_err(err, CAP_EINVAL,
                       "The model's outputs hold neither classes, class scores nor one value "
                       "per row: there is no prediction to compare a label with");
    *n = (size_t)(w->to - w->from);
    for (size_t i = 0; i < *n; i++) {
        struct fb_pred *p = &w->p[i];
        p->rows = w->rows;
        p->classifier = w->has_class || w->has_scores;
        if (!w->has_class && w->has_scores)
            argmax_class(p);
    }
    return 0;
}

int fb_pred_read(const void *outputs, size_t len, int64_t row, struct fb_pred *out,
                 struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    struct walk w = {.from = row < 0 ? 0 : row, .to = (row < 0 ? 0 : row) + 1, .p = out};
    size_t n;
    int rc = read_rows(outputs, len, &w, &n, err);
    if (rc < 0) {
        fb_pred_free(out);
        out->rows = rc == -CAP_ENOTFOUND ? w.rows : 0;
    }
    return rc;
}

int fb_preds_read(const void *outputs, size_t len, struct fb_pred **out, size_t *n,
                  struct cap_error *err)
{
    struct walk w = {.from = 0, .to = -1};
    int rc = read_rows(outputs, len, &w, n, err);
    if (rc < 0 && w.p) {
        size_t all = w.to > 0 ? (size_t)w.to : 0;
        for (size_t i = 0; i < all; i++)
            fb_pred_free(&w.p[i]);
        free(w.p);
        w.p = NULL;
        *n = 0;
    }
    *out = w.p;
    return rc;
}

void fb_pred_free(struct fb_pred *p)
{
    free(p->prediction);
    free(p->scores);
    memset(p, 0, sizeof *p);
}
