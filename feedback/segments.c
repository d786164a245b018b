/* segments.c - a row's input columns from the log (fb_row_inputs), and a
 * window's labelled rows cut by one input column's value or
 * bin (realised.h's segment): each row's value is read from the logged
 * inputs of its request (store predictions_find), the column named by the
 * monitor's rule (mon_tensor_columns), so "f2" or a signature's name means
 * what it means in the drift reports. Rows whose request the log no longer
 * holds fall in the segment "(not in the log)". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "feedback/feedback.h"
#include "feedback/rows.h"
#include "monitor/monitor.h"
#include "payload/payload.h"
#include "store/store.h"

#define MAX_SEGMENTS 50

/* The logged inputs of each distinct request of the rows. */
struct inputs {
    const char **ids;
    void **blob;
    size_t *len, n;
};

static int found(void *cls, size_t i, const struct store_prediction *r, struct cap_error *err)
{
    struct inputs *in = cls;
    free(in->blob[i]);
    in->len[i] = r->inputs ? r->inputs_len : 0;
    in->blob[i] = in->len[i] ? cap_xmalloc(in->len[i]) : NULL;
    if (in->len[i])
        memcpy(in->blob[i], r->inputs, in->len[i]);
    return 0;
}

static int load_inputs(struct store *st, const char *dep, const struct fb_rows *r,
                       struct inputs *in, struct cap_error *err)
{
    in->ids = cap_xmalloc((r->n ? r->n : 1) * sizeof *in->ids);
    for (size_t i = 0; i < r->n; i++)
        in->ids[i] = r->req[i];
    qsort(in->ids, r->n, sizeof *in->ids, cap_strp_cmp);
    for (size_t i = 0; i < r->n; i++)
        if (in->n == 0 || strcmp(in->ids[i], in->ids[in->n - 1]) != 0)
            in->ids[in->n++] = in->ids[i];
    in->blob = cap_xcalloc(in->n ? in->n : 1, sizeof *in->blob);
    in->len = cap_xcalloc(in->n ? in->n : 1, sizeof *in->len);
    return store_predictions_find(st, dep, in->ids, in->n, found, in, err);
}

static void inputs_free(struct inputs *in)
{
    for (size_t i = 0; i < in->n; i++)
        free(in->blob[i]);
    free(in->blob);
    free(in->len);
    free(in->ids);
}

/* ---- one row's value of the column ---- */

struct cell {
    const char *column;
    int64_t row;
    int ntensors;                /* counted by a first walk: a single input names f0.. */
    bool found, text;
    double num;
    char *str;
};

static int count_tensor(void *cls, const char *name, const infer_tensor *t)
{
    ((struct cell *)cls)->ntensors++;
    return 0;
}

static int take_cell(void *cls, const char *name, const infer_tensor *t)
{
    struct cell *c = cls;
    char **cols = NULL;
    size_t ncols = 0;
    struct cap_error e = {0};
    if (t->ndim < 1 || c->row >= t->dims[0] ||
        mon_tensor_columns(name, t->ndim, t->dims, c->ntensors == 1, NULL, 0, &cols, &ncols,
                           &e) < 0)
        return 0;
    for (size_t k = 0; k < ncols && !c->found; k++) {
        if (strcmp(cols[k], c->column) != 0)
            continue;
        size_t at = (size_t)c->row * ncols + k;
        c->found = true;
        c->text = t->type == INFER_STRING;
        if (c->text)
            c->str = cap_xstrdup(((char *const *)t->data)[at]);
        else if (t->type == INFER_FLOAT)
            c->num = ((const float *)t->data)[at];
        else if (t->type == INFER_DOUBLE)
            c->num = ((const double *)t->data)[at];
        else if (t->type == INFER_INT64)
            c->num = (double)((const int64_t *)t->data)[at];
        else if (t->type == INFER_INT32)
            c->num = ((const int32_t *)t->data)[at];
        else
            c->found = false; /* other element types are not segmented on */
    }
    for (size_t k = 0; k < ncols; k++)
        free(cols[k]);
    free(cols);
    return c->found;
}

/* ---- a row's input columns as JSON ---- */

struct row_json {
    int64_t row;
    int ntensors;
    cJSON *out;
};

static int count_json(void *cls, const char *name, const infer_tensor *t)
{
    ((struct row_json *)cls)->ntensors++;
    return 0;
}

static cJSON *element(const infer_tensor *t, size_t at)
{
    switch (t->type) {
    case INFER_STRING: return cJSON_CreateString(((char *const *)t->data)[at]);
    case INFER_FLOAT: return cJSON_CreateNumber(((const float *)t->data)[at]);
    case INFER_DOUBLE: return cJSON_CreateNumber(((const double *)t->data)[at]);
    case INFER_INT64: return cJSON_CreateNumber((double)((const int64_t *)t->data)[at]);
    case INFER_INT32: return cJSON_CreateNumber(((const int32_t *)t->data)[at]);
    case INFER_BOOL: return cJSON_CreateBool(((const uint8_t *)t->data)[at]);
    default: return cJSON_CreateNull();
    }
}

static int take_row(void *cls, const char *name, const infer_tensor *t)
{
    struct row_json *r = cls;
    char **cols = NULL;
    size_t ncols = 0;
    struct cap_error e = {0};
    if (t->ndim < 1 || r->row >= t->dims[0] ||
        mon_tensor_columns(name, t->ndim, t->dims, r->ntensors == 1, NULL, 0, &cols, &ncols,
                           &e) < 0)
        return 0;
    for (size_t k = 0; k < ncols; k++) {
        cJSON_AddItemToObject(r->out, cols[k], element(t, (size_t)r->row * ncols + k));
        free(cols[k]);
    }
    free(cols);
    return 0;
}

cJSON *fb_row_inputs(const void *inputs, size_t len, int64_t row)
{
    struct row_json r = {.row = row, .out = cJSON_CreateObject()};
    if (inputs && payload_log_walk(inputs, len, count_json, &r) == 0)
        payload_log_walk(inputs, len, take_row, &r);
    return r.out;
}

/* ---- grouping ---- */

struct value {
    bool found, text;
    double num;
    char *str;
};

static void read_values(const struct fb_rows *r, const struct inputs *in, const char *column,
                        struct value *v)
{
    for (size_t i = 0; i < r->n; i++) {
        const char *key = r->req[i];
        const char **hit = bsearch(&key, in->ids, in->n, sizeof *in->ids, cap_strp_cmp);
        size_t k = hit ? (size_t)(hit - in->ids) : 0;
        struct cell c = {.column = column, .row = r->row[i]};
        if (hit && in->blob[k]) {
            payload_log_walk(in->blob[k], in->len[k], count_tensor, &c);
            payload_log_walk(in->blob[k], in->len[k], take_cell, &c);
        }
        v[i] = (struct value){c.found, c.text, c.num, c.str};
    }
}

static void add_to(struct fb_segment **s, size_t *n, const char *name, size_t row)
{
    size_t k = 0;
    while (k < *n && strcmp((*s)[k].name, name) != 0)
        k++;
    if (k == *n) {
        *s = cap_xrealloc(*s, (*n + 1) * sizeof **s);
        (*s)[(*n)++] = (struct fb_segment){.name = cap_xstrdup(name)};
    }
    struct fb_segment *g = &(*s)[k];
    g->idx = cap_xrealloc(g->idx, (g->n + 1) * sizeof *g->idx);
    g->idx[g->n++] = row;
}

/* Equal-width bins over the window's values: "[lo, hi)", the last closed. */
static void bin_name(double lo, double width, int b, int bins, char *out, size_t n)
{
    snprintf(out, n, "[%.6g, %.6g%c", lo + width * b, lo + width * (b + 1),
             b == bins - 1 ? ']' : ')');
}

static int group(const struct fb_rows *r, const struct value *v, const char *column, int bins,
                 struct fb_segment **s, size_t *n, struct cap_error *err)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < r->n; i++) {
        if (v[i].found && v[i].text && bins > 0)
            return cap_err(err, CAP_EINVAL,
                           "Column '%s' holds text: bins cut numbers; leave bins out to segment "
                           "by value",
                           column);
        if (v[i].found && !v[i].text && isfinite(v[i].num))
            lo = fmin(lo, v[i].num), hi = fmax(hi, v[i].num);
    }
    double width = bins > 0 && hi > lo ? (hi - lo) / bins : 1;
    char name[96];
    for (size_t i = 0; i < r->n; i++) {
        if (!v[i].found) {
            snprintf(name, sizeof name, "(not in the log)");
        } else if (v[i].text) {
            snprintf(name, sizeof name, "%.80s", v[i].str);
        } else if (bins > 0 && isfinite(v[i].num)) {
            int b = (int)((v[i].num - lo) / width);
            b = b >= bins ? bins - 1 : b < 0 ? 0 : b;
            bin_name(lo, width, b, bins, name, sizeof name);
        } else {
            snprintf(name, sizeof name, "%.9g", v[i].num);
        }
        add_to(s, n, name, i);
        if (*n > MAX_SEGMENTS)
            return cap_err(err, CAP_EINVAL,
                           "Column '%s' has more than %d values in the window: ask for bins "
                           "(e.g. bins=10) to cut it",
                           column, MAX_SEGMENTS);
    }
    return 0;
}

void fb_segments_free(struct fb_segment *s, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        free(s[k].name);
        free(s[k].idx);
    }
    free(s);
}

int fb_segment_rows(struct store *st, const char *deployment, const struct fb_rows *r,
                    const char *column, int bins, struct fb_segment **out, size_t *nout,
                    struct cap_error *err)
{
    *out = NULL;
    *nout = 0;
    struct inputs in = {0};
    int rc = load_inputs(st, deployment, r, &in, err);
    struct value *v = cap_xcalloc(r->n ? r->n : 1, sizeof *v);
    if (rc == 0) {
        read_values(r, &in, column, v);
        bool any = false;
        for (size_t i = 0; i < r->n; i++)
            any |= v[i].found;
        if (!any && r->n > 0 && in.n > 0)
            rc = cap_err(err, CAP_EINVAL,
                         "No logged input column is named '%s' (columns are named as in the "
                         "drift reports: the signature's names, f0.. for one input, or "
                         "<input>_<i>)",
                         column);
    }
    if (rc == 0)
        rc = group(r, v, column, bins, out, nout, err);
    for (size_t i = 0; i < r->n; i++)
        free(v[i].str);
    free(v);
    inputs_free(&in);
    if (rc < 0) {
        fb_segments_free(*out, *nout);
        *out = NULL;
        *nout = 0;
    }
    return rc;
}
