/* scoring.c - MLflow's scoring protocol (POST /invocations) for an
 * ONNX model: dataframe_split, dataframe_records and CSV frames, the
 * instances / inputs tensor forms, and the {"predictions": ...} answer in
 * the shapes `mlflow models serve` gives for the onnx flavor.
 *
 * Frames follow MLflow's onnx pyfunc: a model with one input takes the
 * frame's columns in order as its [rows, columns] tensor; a model with
 * several inputs takes the column named after each input. Where MLflow
 * hands a mismatch to onnxruntime and answers "unexpected error", we say
 * which column, row and value is wrong. JSON numbers are converted to the
 * input's element type when that is exact (ints for a float input); null
 * (and in CSV an empty or NA field) is NaN for float inputs, as pandas
 * reads it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "payload/internal.h"

#define BAD(...) cap_err(err, CAP_EBADREQ, __VA_ARGS__)

enum { CT_JSON = 1, CT_CSV = 2 };

/* ---- Content-Type ---- */

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t'))
        (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

static int content_type(const char *ct, struct cap_error *err)
{
    if (!ct)
        return cap_err(err, CAP_EMEDIA,
                       "the request has no Content-Type; send application/json or text/csv");
    const char *semi = strchr(ct, ';');
    const char *s = ct;
    size_t n = semi ? (size_t)(semi - ct) : strlen(ct);
    trim(&s, &n);
    int kind;
    if (n == 16 && strncasecmp(s, "application/json", 16) == 0)
        kind = CT_JSON;
    else if (n == 8 && strncasecmp(s, "text/csv", 8) == 0)
        kind = CT_CSV;
    else
        return cap_err(err, CAP_EMEDIA,
                       "Content-Type '%.*s' is not supported; send application/json or text/csv",
                       payload_ql(ct), ct);
    while (semi) {
        const char *p = semi + 1;
        semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        trim(&p, &len);
        if (len == 0)
            continue;
        const char *eq = memchr(p, '=', len);
        size_t kl = eq ? (size_t)(eq - p) : len;
        const char *k = p;
        trim(&k, &kl);
        if (!(kl == 7 && strncasecmp(k, "charset", 7) == 0))
            return cap_err(err, CAP_EMEDIA,
                           "Content-Type parameter '%.*s' is not supported; the only parameter "
                           "allowed is charset=utf-8",
                           (int)(kl > 64 ? 64 : kl), k);
        const char *v = eq ? eq + 1 : "";
        size_t vl = eq ? (size_t)(p + len - v) : 0;
        trim(&v, &vl);
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"')
            v++, vl -= 2;
        if (!(vl == 5 && strncasecmp(v, "utf-8", 5) == 0))
            return cap_err(err, CAP_EMEDIA, "charset '%.*s' is not supported; only utf-8",
                           (int)(vl > 64 ? 64 : vl), v);
    }
    return kind;
}

/* ---- column names -> column index (open addressing) ---- */

struct colmap {
    size_t cap;     /* power of two */
    int *slot;      /* -1 empty, else column index */
    const char **names;
    int n, max;
};

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static void colmap_free(struct colmap *cm)
{
    free(cm->slot);
    free(cm->names);
    memset(cm, 0, sizeof *cm);
}

static int colmap_find(const struct colmap *cm, const char *name)
{
    if (!cm->cap || !name)
        return -1;
    for (size_t h = hash_name(name) & (cm->cap - 1);; h = (h + 1) & (cm->cap - 1)) {
        int c = cm->slot[h];
        if (c < 0)
            return -1;
        if (cm->names[c] && strcmp(cm->names[c], name) == 0)
            return c;
    }
}

/* Appends a column (name may be NULL: unnamed); *dup set when the name is
 * already there. Returns the new column's index. */
static int colmap_add(struct colmap *cm, const char *name, bool *dup)
{
    *dup = false;
    if (name && colmap_find(cm, name) >= 0)
        *dup = true;
    if (cm->n == cm->max) {
        cm->max = cm->max ? cm->max * 2 : 16;
        cm->names = cap_xrealloc(cm->names, (size_t)cm->max * sizeof *cm->names);
    }
    int c = cm->n++;
    cm->names[c] = name;
    if ((size_t)cm->n * 2 > cm->cap) {
        size_t cap = cm->cap ? cm->cap * 2 : 32;
        while ((size_t)cm->n * 2 > cap)
            cap *= 2;
        free(cm->slot);
        cm->slot = cap_xmalloc(cap * sizeof *cm->slot);
        cm->cap = cap;
        for (size_t i = 0; i < cap; i++)
            cm->slot[i] = -1;
        for (int j = 0; j < cm->n; j++) {
            if (!cm->names[j] || colmap_find(cm, cm->names[j]) >= 0)
                continue; /* unnamed, or a duplicate: the first one is found */
            size_t h = hash_name(cm->names[j]) & (cap - 1);
            while (cm->slot[h] >= 0)
                h = (h + 1) & (cap - 1);
            cm->slot[h] = j;
        }
    } else if (name && !*dup) {
        size_t h = hash_name(name) & (cm->cap - 1);
        while (cm->slot[h] >= 0)
            h = (h + 1) & (cm->cap - 1);
        cm->slot[h] = c;
    }
    return c;
}

/* ---- frames ---- */

struct frame {
    const infer_model *m;
    struct payload_request *out;
    size_t body_len;
    struct colmap cols;
    int64_t rows;
    struct payload_frame_plan plan;
    struct cap_error *err;
};

static void frame_free(struct frame *f)
{
    colmap_free(&f->cols);
    payload_frame_plan_free(&f->plan);
}

static const char *col_name(const struct frame *f, int c, char *buf, size_t n)
{
    if (f->cols.names[c])
        snprintf(buf, n, "'%.*s'", payload_ql(f->cols.names[c]), f->cols.names[c]);
    else
        snprintf(buf, n, "#%d", c);
    return buf;
}

/* Maps columns to inputs (payload_frame_plan, the rule `capstan predict`
 * shares) and allocates the input tensors (rows known). */
static int frame_plan(struct frame *f)
{
    struct cap_error *err = f->err;
    const infer_model *m = f->m;
    struct payload_frame fr = {
        .what = "the frame",
        .names = (const char *const *)f->cols.names,
        .ncols = f->cols.n,
        .rows = f->rows,
        .tensor_hint = ", send {\"inputs\": nested arrays} instead",
    };
    int rc = payload_frame_plan(m, &fr, &f->plan, err);
    if (rc < 0)
        return rc;
    int n_in = f->plan.n_inputs;
    f->out->n_inputs = n_in;
    f->out->inputs = cap_xcalloc((size_t)(n_in > 0 ? n_in : 1), sizeof *f->out->inputs);
    f->out->rows = f->rows;
    /* no more values than body bytes: a tiny body cannot ask for a huge tensor */
    int64_t total = 0;
    char sh[160];
    for (int i = 0; i < n_in; i++) {
        infer_value_info vi;
        infer_input_info(m, i, &vi);
        total += f->plan.count[i];
        if ((uint64_t)total > f->body_len)
            return n_in == 1
                       ? BAD("the frame would make %lld values from a %zu-byte body",
                             (long long)total, f->body_len)
                       : BAD("the frame would make more values than a %zu-byte body holds "
                             "(input '%.*s' has shape %s)",
                             f->body_len, payload_ql(vi.name), vi.name,
                             payload_dims_str(sh, sizeof sh, vi.dims, vi.ndim));
        payload_tensor_alloc(&f->out->inputs[i], vi.type, f->plan.ndim[i], f->plan.dims[i],
                             f->plan.count[i]);
    }
    return 0;
}

static int cell_error(struct frame *f, int64_t r, int c, const char *shown, const char *why)
{
    struct cap_error *err = f->err;
    char cn[80];
    int i = f->plan.col_in[c];
    infer_value_info vi;
    infer_input_info(f->m, i, &vi);
    return BAD("row %lld, column %s: %s %s; the model's input '%.*s' is %s", (long long)r,
               col_name(f, c, cn, sizeof cn), shown, why, payload_ql(vi.name), vi.name,
               payload_oip_datatype(vi.type));
}

/* values of a list cell, flattened, into [at, at + k) */
static int flat_cell(const cJSON *v, infer_tensor *t, int64_t at, int64_t k, int64_t *n,
                     const char **why)
{
    if (!cJSON_IsArray(v)) {
        if (*n >= k) {
            *why = "has too many values";
            return -1;
        }
        *why = payload_elem_json(t->type, v, t->data, at + *n, true);
        (*n)++;
        return *why ? -1 : 0;
    }
    for (const cJSON *c = v->child; c; c = c->next)
        if (flat_cell(c, t, at, k, n, why) < 0)
            return -1;
    return 0;
}

/* how many elements of the input's row one cell fills */
static int64_t cell_span(const struct frame *f, int i)
{
    return f->out->n_inputs == 1 ? 1 : f->plan.per_row[i];
}

static int put_cell_json(struct frame *f, int64_t r, int c, const cJSON *v)
{
    int i = f->plan.col_in[c];
    if (i < 0)
        return 0;
    infer_tensor *t = &f->out->inputs[i];
    int64_t k = cell_span(f, i), at = r * f->plan.per_row[i] + f->plan.col_off[c];
    char pv[64];
    const char *why;
    if (t->type == INFER_STRING) /* a key given twice in a record */
        for (int64_t j = 0; j < k; j++) {
            free(((char **)t->data)[at + j]);
            ((char **)t->data)[at + j] = NULL;
        }
    if (k == 1) {
        why = payload_elem_json(t->type, v, t->data, at, true);
        return why ? cell_error(f, r, c, payload_preview(pv, sizeof pv, v), why) : 0;
    }
    int64_t n = 0;
    if (!cJSON_IsArray(v))
        return cell_error(f, r, c, payload_preview(pv, sizeof pv, v),
                          "is not a list; this input takes a list of values per row");
    if (flat_cell(v, t, at, k, &n, &why) < 0)
        return cell_error(f, r, c, payload_preview(pv, sizeof pv, v), why);
    if (n != k) {
        char msg[80];
        snprintf(msg, sizeof msg, "has %lld values, the input takes %lld per row", (long long)n,
                 (long long)k);
        return cell_error(f, r, c, payload_preview(pv, sizeof pv, v), msg);
    }
    return 0;
}

static bool is_float_type(int type)
{
    return type == INFER_FLOAT || type == INFER_DOUBLE || type == INFER_FLOAT16;
}

/* ---- dataframe_split ---- */

static int parse_split(struct frame *f, const cJSON *v)
{
    struct cap_error *err = f->err;
    if (!cJSON_IsObject(v))
        return BAD("dataframe_split must be an object {\"columns\", \"data\", \"index\"?}");
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(v, "columns");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(v, "data");
    if (!cJSON_IsArray(data))
        return BAD("dataframe_split needs \"data\": an array of rows");
    bool dup;
    if (cols && !cJSON_IsNull(cols)) {
        if (!cJSON_IsArray(cols))
            return BAD("dataframe_split \"columns\" must be an array of names");
        for (const cJSON *c = cols->child; c; c = c->next) {
            if (!cJSON_IsString(c) && !cJSON_IsNumber(c))
                return BAD("dataframe_split \"columns\" must hold names (strings)");
            colmap_add(&f->cols, cJSON_IsString(c) ? c->valuestring : NULL, &dup);
        }
    } else if (data->child && cJSON_IsArray(data->child)) {
        for (const cJSON *c = data->child->child; c; c = c->next)
            colmap_add(&f->cols, NULL, &dup);
    }
    int64_t rows = 0;
    for (const cJSON *r = data->child; r; r = r->next, rows++) {
        int n = 0;
        if (!cJSON_IsArray(r))
            return BAD("dataframe_split data[%lld] must be an array of %d values", (long long)rows,
                       f->cols.n);
        for (const cJSON *c = r->child; c; c = c->next)
            n++;
        if (n != f->cols.n)
            return BAD("dataframe_split data[%lld] has %d values for %d columns", (long long)rows,
                       n, f->cols.n);
    }
    f->rows = rows;
    int rc = frame_plan(f);
    if (rc < 0)
        return rc;
    int64_t r = 0;
    for (const cJSON *row = data->child; row; row = row->next, r++) {
        int c = 0;
        for (const cJSON *x = row->child; x; x = x->next, c++)
            if ((rc = put_cell_json(f, r, c, x)) < 0)
                return rc;
    }
    return 0;
}

/* ---- dataframe_records ---- */

static int parse_records(struct frame *f, const cJSON *v)
{
    struct cap_error *err = f->err;
    if (!cJSON_IsArray(v))
        return BAD("dataframe_records must be an array of {column: value} objects");
    int64_t rows = 0;
    bool dup;
    /* columns: every key, in order of first appearance (as pandas does) */
    for (const cJSON *r = v->child; r; r = r->next, rows++) {
        if (!cJSON_IsObject(r))
            return BAD("dataframe_records[%lld] must be an object {column: value}",
                       (long long)rows);
        for (const cJSON *c = r->child; c; c = c->next)
            if (colmap_find(&f->cols, c->string) < 0)
                colmap_add(&f->cols, c->string, &dup);
    }
    f->rows = rows;
    int rc = frame_plan(f);
    if (rc < 0)
        return rc;
    uint8_t *filled = cap_xcalloc((size_t)(f->cols.n > 0 ? f->cols.n : 1), 1);
    int64_t r = 0;
    for (const cJSON *row = v->child; row && rc == 0; row = row->next, r++) {
        memset(filled, 0, (size_t)f->cols.n);
        for (const cJSON *x = row->child; x && rc == 0; x = x->next) {
            int c = colmap_find(&f->cols, x->string);
            filled[c] = 1;
            rc = put_cell_json(f, r, c, x);
        }
        /* a key a record lacks is NaN in a float column, as pandas fills it */
        for (int c = 0; c < f->cols.n && rc == 0; c++) {
            int i = f->plan.col_in[c];
            if (filled[c] || i < 0)
                continue;
            infer_tensor *t = &f->out->inputs[i];
            int64_t k = cell_span(f, i), at = r * f->plan.per_row[i] + f->plan.col_off[c];
            if (!is_float_type(t->type)) {
                char cn[80];
                rc = BAD("dataframe_records[%lld] has no value for column %s", (long long)r,
                         col_name(f, c, cn, sizeof cn));
                break;
            }
            for (int64_t j = 0; j < k; j++)
                payload_elem_text(t->type, "", 0, t->data, at + j);
        }
    }
    free(filled);
    return rc;
}

/* ---- CSV ---- */

int payload_csv_field(struct payload_csv *c, const char **s, size_t *n, bool *quoted)
{
    if (c->p >= c->end)
        return 0;
    *quoted = false;
    const char *p = c->p;
    if (*p == '"') {
        const char *q = ++p;
        for (;;) {
            const char *e = memchr(q, '"', (size_t)(c->end - q));
            if (!e)
                return -1;
            if (e + 1 < c->end && e[1] == '"') {
                q = e + 2;
                continue;
            }
            *s = p;
            *n = (size_t)(e - p);
            *quoted = true;
            p = e + 1;
            break;
        }
        if (p < c->end && *p == '\r' && p + 1 < c->end && p[1] == '\n')
            p++;
        if (p < c->end && *p != ',' && *p != '\n')
            return -1;
    } else {
        const char *e = p;
        while (e < c->end && *e != ',' && *e != '\n')
            e++;
        *s = p;
        *n = (size_t)(e - p);
        if (*n && p[*n - 1] == '\r' && (e == c->end || *e == '\n'))
            (*n)--;
        p = e;
    }
    if (p >= c->end) {
        c->p = c->end;
        return 2;
    }
    c->p = p + 1;
    return *p == ',' ? 1 : 2;
}

void payload_csv_skip_blank(struct payload_csv *c)
{
    while (c->p < c->end && (*c->p == '\n' || (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n')))
        c->p += *c->p == '\n' ? 1 : 2;
}

const char *payload_csv_unquote(const char *s, size_t *n, struct cap_buf *tmp)
{
    if (!memchr(s, '"', *n))
        return s;
    cap_buf_reset(tmp);
    for (size_t i = 0; i < *n; i++) {
        cap_buf_putc(tmp, s[i]);
        if (s[i] == '"')
            i++;
    }
    *n = tmp->len;
    return tmp->data;
}

void payload_csv_put(struct cap_buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        cap_buf_puts(b, s);
        return;
    }
    cap_buf_putc(b, '"');
    for (const char *c = s; *c; c++) {
        if (*c == '"')
            cap_buf_putc(b, '"');
        cap_buf_putc(b, *c);
    }
    cap_buf_putc(b, '"');
}

void payload_csv_cells_free(char **cells, int n)
{
    for (int i = 0; i < n; i++)
        free(cells[i]);
    free(cells);
}

int payload_csv_record(struct payload_csv *c, struct cap_buf *tmp, char ***cells, int *n)
{
    const char *start = c->p, *s;
    size_t len;
    bool q;
    int k;
    *cells = NULL;
    *n = 0;
    do {
        if ((k = payload_csv_field(c, &s, &len, &q)) < 0) {
            payload_csv_cells_free(*cells, *n);
            *cells = NULL;
            *n = 0;
            const char *nl = memchr(start, '\n', (size_t)(c->end - start));
            c->p = nl ? nl + 1 : c->end;
            return -1;
        }
        if (q)
            s = payload_csv_unquote(s, &len, tmp);
        *cells = cap_xrealloc(*cells, (size_t)(*n + 1) * sizeof **cells);
        (*cells)[(*n)++] = cap_xstrndup(s, len);
    } while (k == 1);
    return 0;
}

static int parse_csv(struct frame *f, const char *body, size_t len)
{
    struct cap_error *err = f->err;
    struct payload_csv c = {body, body + len};
    if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
        c.p += 3;
    struct cap_buf tmp;
    cap_buf_init(&tmp);
    char **header = NULL;
    int nh = 0, rc = 0;
    const char *s;
    size_t n;
    bool q, dup;
    payload_csv_skip_blank(&c);
    if (c.p >= c.end) {
        rc = BAD("the CSV is empty; it needs a header row and data rows");
        goto done;
    }
    for (int k;;) {
        k = payload_csv_field(&c, &s, &n, &q);
        if (k < 0) {
            rc = BAD("the CSV header has an unterminated or misplaced quote");
            goto done;
        }
        if (k == 0)
            break;
        if (q)
            s = payload_csv_unquote(s, &n, &tmp);
        header = cap_xrealloc(header, (size_t)(nh + 1) * sizeof *header);
        header[nh++] = cap_xstrndup(s, n);
        if (k == 2)
            break;
    }
    for (int i = 0; i < nh; i++)
        colmap_add(&f->cols, header[i], &dup);
    /* pass 1: count rows, each with exactly the header's fields */
    struct payload_csv c2 = c;
    int64_t rows = 0;
    for (;;) {
        payload_csv_skip_blank(&c2);
        if (c2.p >= c2.end)
            break;
        int fields = 0, k;
        do {
            k = payload_csv_field(&c2, &s, &n, &q);
            if (k < 0) {
                rc = BAD("CSV row %lld has an unterminated or misplaced quote", (long long)rows);
                goto done;
            }
            fields++;
        } while (k == 1);
        if (fields != nh) {
            rc = BAD("CSV row %lld has %d fields; the header has %d", (long long)rows, fields, nh);
            goto done;
        }
        rows++;
    }
    f->rows = rows;
    if ((rc = frame_plan(f)) < 0)
        goto done;
    /* pass 2: convert */
    for (int64_t r = 0; r < rows; r++) {
        payload_csv_skip_blank(&c);
        for (int col = 0; col < nh; col++) {
            payload_csv_field(&c, &s, &n, &q);
            int i = f->plan.col_in[col];
            if (i < 0)
                continue;
            if (q)
                s = payload_csv_unquote(s, &n, &tmp);
            infer_tensor *t = &f->out->inputs[i];
            int64_t k = f->plan.per_row[i];
            if (k != 1 && f->out->n_inputs > 1) {
                rc = cell_error(f, r, col, "(a CSV field)", "cannot hold the several values "
                                "this input takes per row; send JSON");
                goto done;
            }
            const char *why = payload_elem_text(t->type, s, n, t->data, r * k + f->plan.col_off[col]);
            if (why) {
                char shown[80];
                snprintf(shown, sizeof shown, "\"%.*s\"", (int)(n > 40 ? 40 : n), s);
                rc = cell_error(f, r, col, shown, why);
                goto done;
            }
        }
    }
done:
    for (int i = 0; i < nh; i++)
        free(header[i]);
    free(header);
    cap_buf_free(&tmp);
    return rc;
}

/* ---- instances / inputs: nested arrays ---- */

/* dims of a nested JSON array, read along the first items */
static int json_dims(const cJSON *v, int64_t *dims, int *ndim)
{
    *ndim = 0;
    while (cJSON_IsArray(v)) {
        if (*ndim == INFER_MAX_DIMS)
            return -1;
        int64_t n = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            n++;
        dims[(*ndim)++] = n;
        v = v->child;
    }
    return 0;
}

struct nest {
    const char *what;     /* "input 'x'" for messages */
    const int64_t *dims;
    int ndim;
    infer_tensor *t;      /* NULL: the structure pass */
    int64_t n;
    struct cap_error *err;
};

static int nest_walk(struct nest *w, const cJSON *v, int depth)
{
    struct cap_error *err = w->err;
    char pv[64];
    if (depth == w->ndim) {
        if (cJSON_IsArray(v))
            return BAD("%s: the nested arrays are not rectangular (an array where a value "
                       "belongs at depth %d)", w->what, depth);
        if (w->t) {
            const char *why = payload_elem_json(w->t->type, v, w->t->data, w->n, true);
            if (why)
                return BAD("%s: element %lld (%s) %s; the model's input is %s", w->what,
                           (long long)w->n, payload_preview(pv, sizeof pv, v), why,
                           payload_oip_datatype(w->t->type));
        }
        w->n++;
        return 0;
    }
    if (!cJSON_IsArray(v))
        return BAD("%s: the nested arrays are not rectangular (%s where an array belongs at "
                   "depth %d)", w->what, payload_preview(pv, sizeof pv, v), depth);
    if (!w->t) {
        int64_t n = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            n++;
        if (n != w->dims[depth])
            return BAD("%s: the nested arrays are not rectangular (an array at depth %d has "
                       "%lld values, the first has %lld)", w->what, depth, (long long)n,
                       (long long)w->dims[depth]);
    }
    for (const cJSON *c = v->child; c; c = c->next)
        if (nest_walk(w, c, depth + 1) < 0)
            return -CAP_EBADREQ;
    return 0;
}

/* items: the values to stack (one per instance), or a single value
 * (stack == false) */
static int tensor_input(const infer_model *m, int idx, const cJSON *const *items, int64_t n_items,
                        bool stack, infer_tensor *t, struct cap_error *err)
{
    infer_value_info vi;
    infer_input_info(m, idx, &vi);
    char what[100];
    snprintf(what, sizeof what, "input '%.*s'", payload_ql(vi.name), vi.name);
    if (vi.kind != INFER_KIND_TENSOR || !payload_oip_datatype(vi.type))
        return BAD("%s is not a tensor this server can feed", what);
    int64_t dims[INFER_MAX_DIMS];
    int ndim, off = stack ? 1 : 0;
    if (json_dims(n_items ? items[0] : NULL, dims + off, &ndim) < 0 || ndim + off > INFER_MAX_DIMS)
        return BAD("%s: more than %d nested levels", what, INFER_MAX_DIMS);
    if (stack)
        dims[0] = n_items;
    ndim += off;
    int rc = payload_check_shape(&vi, dims, ndim, err, CAP_EBADREQ);
    if (rc < 0)
        return rc;
    struct nest w = {.what = what, .dims = dims + off, .ndim = ndim - off, .err = err};
    for (int64_t k = 0; k < n_items; k++)
        if (nest_walk(&w, items[k], 0) < 0)
            return -CAP_EBADREQ;
    int64_t count = w.n;
    payload_tensor_alloc(t, vi.type, ndim, dims, count);
    w.t = t;
    w.n = 0;
    for (int64_t k = 0; k < n_items; k++)
        if (nest_walk(&w, items[k], 0) < 0)
            return -CAP_EBADREQ;
    return 0;
}

static int input_by_name(const infer_model *m, const char *key, const char *where,
                         struct cap_error *err)
{
    char names[300];
    int idx = key ? infer_input_index(m, key) : -1;
    if (idx < 0)
        return BAD("%s has '%.*s', which is not an input of the model; its inputs are %s", where,
                   key ? payload_ql(key) : 0, key ? key : "", payload_names(names, sizeof names, m, false));
    return idx;
}

/* {input: values} */
static int tensor_dict(const infer_model *m, const cJSON *v, const char *key,
                       struct payload_request *out, struct cap_error *err)
{
    char names[300];
    int n_in = out->n_inputs;
    bool *seen = cap_xcalloc((size_t)(n_in > 0 ? n_in : 1), sizeof *seen);
    int rc = 0;
    for (const cJSON *c = v->child; c && rc == 0; c = c->next) {
        int idx = input_by_name(m, c->string, key, err);
        if (idx < 0) {
            rc = idx;
            break;
        }
        if (seen[idx]) {
            rc = BAD("%s gives input '%.*s' twice", key, payload_ql(c->string), c->string);
            break;
        }
        seen[idx] = true;
        rc = tensor_input(m, idx, &c, 1, false, &out->inputs[idx], err);
    }
    for (int i = 0; i < n_in && rc == 0; i++)
        if (!seen[i]) {
            infer_value_info vi;
            infer_input_info(m, i, &vi);
            rc = BAD("%s lacks input '%.*s'; the model's inputs are %s", key, payload_ql(vi.name),
                     vi.name, payload_names(names, sizeof names, m, false));
        }
    free(seen);
    return rc;
}

/* [{input: row value}, ...]: each input stacked over the instances */
static int tensor_instances(const infer_model *m, const cJSON *v, struct payload_request *out,
                            struct cap_error *err)
{
    int64_t n = 0;
    for (const cJSON *r = v->child; r; r = r->next, n++) {
        if (!cJSON_IsObject(r))
            return BAD("instances[%lld] must be an object like instances[0]", (long long)n);
        for (const cJSON *c = r->child; c; c = c->next) {
            char where[40];
            snprintf(where, sizeof where, "instances[%lld]", (long long)n);
            int rc = input_by_name(m, c->string, where, err);
            if (rc < 0)
                return rc;
        }
    }
    const cJSON **items = cap_xcalloc((size_t)n, sizeof *items);
    int rc = 0;
    for (int i = 0; i < out->n_inputs && rc == 0; i++) {
        infer_value_info vi;
        infer_input_info(m, i, &vi);
        int64_t k = 0;
        for (const cJSON *r = v->child; r; r = r->next, k++) {
            items[k] = cJSON_GetObjectItemCaseSensitive(r, vi.name);
            if (!items[k]) {
                rc = BAD("instances[%lld] lacks input '%.*s'", (long long)k, payload_ql(vi.name),
                         vi.name);
                break;
            }
        }
        if (rc == 0)
            rc = tensor_input(m, i, items, n, true, &out->inputs[i], err);
    }
    free(items);
    return rc;
}

static int parse_tensors(const infer_model *m, const cJSON *v, const char *key,
                         struct payload_request *out, struct cap_error *err)
{
    char names[300];
    int n_in = infer_input_count(m);
    out->n_inputs = n_in;
    out->inputs = cap_xcalloc((size_t)(n_in > 0 ? n_in : 1), sizeof *out->inputs);
    int rc;
    if (cJSON_IsObject(v)) {
        rc = tensor_dict(m, v, key, out, err);
    } else if (cJSON_IsArray(v) && v->child && cJSON_IsObject(v->child) &&
               out->format == PAYLOAD_INSTANCES) {
        rc = tensor_instances(m, v, out, err);
    } else if (cJSON_IsArray(v)) {
        if (n_in != 1)
            return BAD("the model has %d inputs (%s): send {\"%s\": {input: values}} with one "
                       "entry each",
                       n_in, payload_names(names, sizeof names, m, false), key);
        rc = tensor_input(m, 0, &v, 1, false, &out->inputs[0], err);
    } else {
        return BAD("\"%s\" must be an array (one input) or an object {input: values}", key);
    }
    if (rc < 0)
        return rc;
    return payload_check_rows(m, out, err, CAP_EBADREQ);
}

/* ---- entry ---- */

static const char *const formats[] = {"dataframe_split", "dataframe_records", "instances",
                                      "inputs"};

static int parse_body(const infer_model *m, int ct, const void *body, size_t len,
                      struct payload_request *out, struct cap_error *err);

int payload_parse_scoring(const infer_model *m, const char *content_type_hdr, const void *body,
                          size_t len, struct payload_request *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    int ct = content_type(content_type_hdr, err);
    if (ct < 0)
        return ct;
    /* the common tensor bodies without a cJSON tree; whatever that path
     * declines (every error included) is read again by parse_body */
    if (ct == CT_JSON && payload_fast_scoring(m, body, len, out) == 1)
        return 0;
    return parse_body(m, ct, body, len, out, err);
}

int payload_parse_scoring_general(const infer_model *m, const char *content_type_hdr,
                                  const void *body, size_t len, struct payload_request *out,
                                  struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    int ct = content_type(content_type_hdr, err);
    if (ct < 0)
        return ct;
    return parse_body(m, ct, body, len, out, err);
}

static int parse_body(const infer_model *m, int ct, const void *body, size_t len,
                      struct payload_request *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    struct frame f = {.m = m, .out = out, .body_len = len, .err = err};
    int rc = 0;
    cJSON *root = NULL;
    if (ct == CT_CSV) {
        out->format = PAYLOAD_CSV;
        rc = parse_csv(&f, body, len);
        goto done;
    }
    size_t at = 0;
    root = payload_parse_json(body, len, &at);
    if (!root) {
        rc = BAD("the request is not valid JSON (error at byte %zu)", at);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        rc = BAD("the input must be a JSON object with exactly one of the fields "
                 "dataframe_split, dataframe_records, instances, inputs; received %s",
                 cJSON_IsArray(root) ? "a list" : "a scalar");
        goto done;
    }
    const cJSON *v = NULL;
    int which = -1, found = 0;
    for (int k = 0; k < 4; k++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, formats[k]);
        if (x) {
            v = x;
            which = k;
            found++;
        }
    }
    if (found != 1) {
        struct cap_buf keys;
        cap_buf_init(&keys);
        for (const cJSON *c = root->child; c && keys.len < 200; c = c->next) {
            if (keys.len)
                cap_buf_puts(&keys, ", ");
            cap_buf_printf(&keys, "'%.*s'", payload_ql(c->string), c->string);
        }
        rc = BAD("the input must be a JSON object with exactly one of the fields "
                 "dataframe_split, dataframe_records, instances, inputs; received the fields "
                 "[%s]",
                 keys.len ? keys.data : "");
        cap_buf_free(&keys);
        goto done;
    }
    /* MLflow hands params to predict(); an ONNX model takes none, so
     * anything in them would be silently ignored: refuse it instead */
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
    if (params && !cJSON_IsNull(params)) {
        if (!cJSON_IsObject(params)) {
            rc = BAD("\"params\" must be an object");
            goto done;
        }
        if (params->child) {
            rc = BAD("params are not supported: an ONNX model takes no inference parameters "
                     "(got '%.*s')",
                     payload_ql(params->child->string), params->child->string);
            goto done;
        }
    }
    out->format = which == 0 ? PAYLOAD_SPLIT : which == 1 ? PAYLOAD_RECORDS
                : which == 2 ? PAYLOAD_INSTANCES : PAYLOAD_INPUTS;
    if (which == 0)
        rc = parse_split(&f, v);
    else if (which == 1)
        rc = parse_records(&f, v);
    else
        rc = parse_tensors(m, v, formats[which], out, err);
done:
    frame_free(&f);
    cJSON_Delete(root);
    if (rc < 0) {
        enum payload_format fmt = out->format;
        payload_request_free(out);
        out->format = fmt;
    }
    return rc;
}

/* ---- the answer ---- */

int payload_write_scoring(const infer_model *m, const struct payload_request *req,
                          const infer_tensor *outs, int n_out, struct cap_buf *body,
                          struct cap_error *err)
{
    bool frame = req->format == PAYLOAD_SPLIT || req->format == PAYLOAD_RECORDS ||
                 req->format == PAYLOAD_CSV;
    const char *names[64];
    const char **nm = n_out <= 64 ? names : cap_xcalloc((size_t)n_out, sizeof *nm);
    int rc = 0;
    for (int i = 0; i < n_out; i++) {
        infer_value_info vi;
        nm[i] = infer_output_info(m, i, &vi) == 0 ? vi.name : "";
        const infer_tensor *t = &outs[i];
        if (!t->data && infer_tensor_count(t) > 0) {
            rc = cap_err(err, CAP_EINTERNAL, "output '%.*s' has no data", payload_ql(nm[i]), nm[i]);
            goto done;
        }
        if (t->kind == INFER_KIND_SEQ_MAP &&
            (t->ndim != 2 || t->dims[1] != t->nkeys || !t->keys)) {
            rc = cap_err(err, CAP_EINTERNAL, "output '%.*s' is a malformed map", payload_ql(nm[i]),
                         nm[i]);
            goto done;
        }
        if (frame && (t->ndim < 1 || t->dims[0] != req->rows)) {
            char sh[160];
            /* MLflow's frame answer has one value per row and output */
            rc = cap_err(err, CAP_EBADREQ,
                         "output '%.*s' has shape %s, not one row per input row (%lld), so it "
                         "cannot be a column of the answer; send {\"inputs\": ...} instead",
                         payload_ql(nm[i]), nm[i], payload_dims_str(sh, sizeof sh, t->dims, t->ndim),
                         (long long)req->rows);
            goto done;
        }
    }
    cap_buf_puts(body, "{\"predictions\":");
    if (frame) {
        cap_buf_putc(body, '[');
        for (int64_t r = 0; r < req->rows; r++) {
            if (r)
                cap_buf_putc(body, ',');
            cap_buf_putc(body, '{');
            for (int i = 0; i < n_out; i++) {
                const infer_tensor *t = &outs[i];
                if (i)
                    cap_buf_putc(body, ',');
                payload_put_str(body, nm[i]);
                cap_buf_putc(body, ':');
                if (t->kind == INFER_KIND_SEQ_MAP) {
                    payload_put_map_row(body, t, r, PAYLOAD_NF_BARE);
                    continue;
                }
                int64_t k = payload_count(t->dims + 1, t->ndim - 1), at = r * k;
                if (k == 1)
                    payload_put_elem(body, t->type, t->data, at, PAYLOAD_NF_BARE);
                else
                    payload_put_nested(body, t->type, t->data, t->dims + 1, t->ndim - 1, &at,
                                       PAYLOAD_NF_BARE);
            }
            cap_buf_putc(body, '}');
        }
        cap_buf_putc(body, ']');
    } else {
        /* MLflow's onnx flavor answers a dict of outputs to tensor input,
         * even when there is only one */
        cap_buf_putc(body, '{');
        for (int i = 0; i < n_out; i++) {
            const infer_tensor *t = &outs[i];
            if (i)
                cap_buf_putc(body, ',');
            payload_put_str(body, nm[i]);
            cap_buf_putc(body, ':');
            if (t->kind == INFER_KIND_SEQ_MAP) {
                cap_buf_putc(body, '[');
                for (int64_t r = 0; r < t->dims[0]; r++) {
                    if (r)
                        cap_buf_putc(body, ',');
                    payload_put_map_row(body, t, r, PAYLOAD_NF_BARE);
                }
                cap_buf_putc(body, ']');
            } else {
                int64_t at = 0;
                payload_put_nested(body, t->type, t->data, t->dims, t->ndim, &at, PAYLOAD_NF_BARE);
            }
        }
        cap_buf_putc(body, '}');
    }
    cap_buf_putc(body, '}');
done:
    if (nm != names)
        free(nm);
    return rc;
}
