/* rows.c - a window's labelled rows and their classes, and the windows
 * themselves (rows.h), shared by the realised quality and the label-free
 * estimate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "feedback/rows.h"
#include "store/store.h"

/* ---- one window's labelled rows ---- */

void fb_rows_clear(struct fb_rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->truth ? r->truth[i] : NULL);
        free(r->pred ? r->pred[i] : NULL);
        free(r->req ? r->req[i] : NULL);
    }
    r->n = 0;
    r->nscores = 0;
    r->no_scores = false;
    r->mixed = false;
}

void fb_rows_free(struct fb_rows *r)
{
    fb_rows_clear(r);
    free(r->truth);
    free(r->pred);
    free(r->vtrue);
    free(r->vpred);
    free(r->scores);
    free(r->req);
    free(r->row);
}

static void rows_grow(struct fb_rows *r)
{
    if (r->n < r->cap)
        return;
    r->cap = r->cap ? 2 * r->cap : 1024;
    r->truth = cap_xrealloc(r->truth, r->cap * sizeof *r->truth);
    r->pred = cap_xrealloc(r->pred, r->cap * sizeof *r->pred);
    r->vtrue = cap_xrealloc(r->vtrue, r->cap * sizeof *r->vtrue);
    r->vpred = cap_xrealloc(r->vpred, r->cap * sizeof *r->vpred);
    r->req = cap_xrealloc(r->req, r->cap * sizeof *r->req);
    r->row = cap_xrealloc(r->row, r->cap * sizeof *r->row);
    if (r->nscores)
        r->scores = cap_xrealloc(r->scores, r->cap * r->nscores * sizeof *r->scores);
}

void fb_rows_add(struct fb_rows *r, const struct store_label *l)
{
    bool cls = l->label != NULL && l->prediction != NULL;
    if (r->n == 0)
        r->classifier = cls;
    if (cls != r->classifier) {
        r->mixed = true;
        return;
    }
    if (r->n == 0 && cls && l->nscores >= 2) {
        r->nscores = l->nscores;
        r->scores = cap_xrealloc(r->scores, (r->cap ? r->cap : 1) * r->nscores * sizeof(double));
    }
    rows_grow(r);
    size_t i = r->n++;
    r->truth[i] = cls ? cap_xstrdup(l->label) : NULL;
    r->pred[i] = cls ? cap_xstrdup(l->prediction) : NULL;
    r->vtrue[i] = l->value;
    r->vpred[i] = l->pred_value;
    r->req[i] = cap_xstrdup(l->request_id);
    r->row[i] = l->row;
    if (r->nscores && l->nscores == r->nscores)
        memcpy(r->scores + i * r->nscores, l->scores, r->nscores * sizeof(double));
    else
        r->no_scores = true;
}

void fb_rows_pick(const struct fb_rows *src, const size_t *idx, size_t n, struct fb_rows *dst)
{
    dst->classifier = src->classifier;
    dst->nscores = src->nscores;
    dst->no_scores = src->no_scores;
    for (size_t k = 0; k < n; k++) {
        rows_grow(dst);
        size_t i = idx[k], j = dst->n++;
        dst->truth[j] = src->truth[i] ? cap_xstrdup(src->truth[i]) : NULL;
        dst->pred[j] = src->pred[i] ? cap_xstrdup(src->pred[i]) : NULL;
        dst->vtrue[j] = src->vtrue[i];
        dst->vpred[j] = src->vpred[i];
        dst->req[j] = cap_xstrdup(src->req[i]);
        dst->row[j] = src->row[i];
        if (dst->nscores && !dst->no_scores)
            memcpy(dst->scores + j * dst->nscores, src->scores + i * src->nscores,
                   dst->nscores * sizeof(double));
    }
}

/* ---- classes ---- */

/* Whole numbers sort as numbers (sklearn's classes_ of an int target),
 * anything else as text; ints (qsort_r's context) says which. */
static bool is_integer(const char *s, long long *v)
{
    char *end = NULL;
    *v = strtoll(s, &end, 10);
    return *s && *end == '\0';
}

static int class_cmp(const void *a, const void *b, void *ints)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    if (*(const bool *)ints) {
        long long u = strtoll(x, NULL, 10), v = strtoll(y, NULL, 10);
        return (u > v) - (u < v);
    }
    return strcmp(x, y);
}


void fb_classes_free(struct fb_classes *c)
{
    for (int i = 0; i < c->nextra; i++)
        free(c->extra[i]);
    free(c->extra);
    free(c->names);
}

static void add_extra(struct fb_classes *c, const char *name)
{
    c->extra = cap_xrealloc(c->extra, (size_t)(c->nextra + 1) * sizeof *c->extra);
    c->extra[c->nextra] = cap_xstrdup(name);
    c->names = cap_xrealloc(c->names, (size_t)(c->k + 1) * sizeof *c->names);
    c->names[c->k++] = c->extra[c->nextra++];
}

int32_t fb_find_in(const struct fb_classes *c, int n, const char *name)
{
    size_t lo = 0, hi = (size_t)n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (class_cmp(&c->names[mid], &name, (void *)&c->ints) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < (size_t)n && class_cmp(&c->names[lo], &name, (void *)&c->ints) == 0
               ? (int32_t)lo
               : -1;
}

/* The distinct classes of truth and predictions, sorted. A model's score
 * columns follow its classes in this order (scikit-learn's classes_), so
 * when only some appear but they are whole numbers within the columns, the
 * others are added: 0..nscores-1. One class alone gets a second that no
 * row has, as the metrics need two. */
void fb_find_classes(struct fb_rows *r, struct fb_classes *c)
{
    char **all = cap_xmalloc(2 * r->n * sizeof *all);
    long long v;
    *c = (struct fb_classes){.ints = true, .names = cap_xmalloc(2 * r->n * sizeof *c->names)};
    for (size_t i = 0; i < r->n; i++) {
        all[2 * i] = r->truth[i];
        all[2 * i + 1] = r->pred[i];
        c->ints = c->ints && is_integer(r->truth[i], &v) && is_integer(r->pred[i], &v);
    }
    qsort_r(all, 2 * r->n, sizeof *all, class_cmp, &c->ints);
    for (size_t i = 0; i < 2 * r->n; i++)
        if (i == 0 || class_cmp(&all[i], &all[i - 1], &c->ints) != 0)
            c->names[c->k++] = all[i];
    free(all);
    bool within = c->ints && r->nscores > 0 && !r->no_scores;
    for (int i = 0; within && i < c->k; i++)
        within = is_integer(c->names[i], &v) && v >= 0 && v < (long long)r->nscores;
    if (within && c->k < (int)r->nscores) {
        char b[24];
        int k0 = c->k; /* the sorted part: the extras go after it */
        for (size_t j = 0; j < r->nscores; j++) {
            snprintf(b, sizeof b, "%zu", j);
            if (fb_find_in(c, k0, b) < 0)
                add_extra(c, b);
        }
        qsort_r(c->names, (size_t)c->k, sizeof *c->names, class_cmp, &c->ints);
    }
    if (c->k == 1) {
        add_extra(c, c->ints ? (strcmp(c->names[0], "0") ? "0" : "1") : "");
        qsort_r(c->names, (size_t)c->k, sizeof *c->names, class_cmp, &c->ints);
    }
}

/* ---- windows of prediction time ---- */

int64_t fb_window_start(int64_t from_ms, int64_t width_ms, int64_t t)
{
    if (width_ms <= 0)
        return from_ms;
    int64_t s = t / width_ms * width_ms;
    return s > t ? s - width_ms : s; /* floor for times before 1970 */
}

size_t fb_window_index(int64_t from_ms, int64_t width_ms, int64_t t)
{
    if (width_ms <= 0)
        return 0;
    return (size_t)((fb_window_start(from_ms, width_ms, t) -
                     fb_window_start(from_ms, width_ms, from_ms)) / width_ms);
}

cJSON *fb_num_json(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}
