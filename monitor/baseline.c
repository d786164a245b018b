/* baseline.c - reference baselines (monitor.h): the reference data is
 * checked against the model's inputs, run through the model in chunks, and
 * kept as a sample (colfile.h) and a profile (profile.h) in the artifact
 * store, with the meta in the store.
 *
 * Choices:
 * - The sample is a uniform sample of max_rows rows in file order, chosen
 *   by selection sampling (Knuth's Algorithm S) from a fixed seed: the same
 *   data gives the same sample, and data sorted by time (a common export)
 *   is not cut to its first hours as "the first max_rows rows" would.
 * - The profile is of every given row, not only the sample's: it is what
 *   streaming windows are compared with, and the reference the user gave
 *   is the best estimate there is. So the model runs over every row (in
 *   chunks of CHUNK rows, so that its tensors stay small: 8192 rows x 100
 *   float columns = 3.2 MB).
 * - Files go to monitor/baselines/<target>/<created_at>-<random>/ so that a
 *   new baseline never overwrites the files of the one in use; the store's
 *   row then switches in one statement and the old folder is deleted. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "blob/blob.h"
#include "capstan/infer.h"
#include "monitor/colfile.h"
#include "monitor/monitor.h"
#include "monitor/profile.h"
#include "payload/payload.h"
#include "store/store.h"

#define DEFAULT_MAX_ROWS 100000
#define CHUNK 8192

/* One column of the baseline, as the meta lists it. */
struct bcol {
    char *name;
    bool output;
    int tensor;   /* the model's input or output index */
    int index;    /* column within the tensor */
    int width;    /* the tensor's column count */
    int src;      /* inputs: the data's column */
};

struct plan {
    const struct mon_baseline_in *in;
    struct bcol *cols;
    size_t ncols, ninputs;
    struct mon_frame full;  /* inputs (borrowed from in->data), then outputs (owned) */
};

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->ncols; i++)
        free(p->cols[i].name);
    free(p->cols);
    for (size_t c = p->ninputs; c < p->full.ncols; c++)
        free(p->full.cols[c].num);
    for (size_t c = p->ninputs; c < p->full.ncols; c++) {
        struct mon_column *k = &p->full.cols[c];
        for (size_t r = 0; k->text && r < p->full.nrows; r++)
            free(k->text[r]);
        free(k->text);
    }
    free(p->full.cols);
    memset(p, 0, sizeof *p);
}

static void add_col(struct plan *p, char *name, bool output, int tensor, int index, int width)
{
    p->cols = cap_xrealloc(p->cols, (p->ncols + 1) * sizeof *p->cols);
    p->cols[p->ncols++] = (struct bcol){name, output, tensor, index, width, -1};
}

/* ---- the inputs: the model's columns and the data's ---- */

static bool is_numeric(int type)
{
    return type != INFER_STRING;
}

static void list_names(struct cap_buf *b, const struct plan *p)
{
    for (size_t i = 0; i < p->ncols; i++)
        cap_buf_printf(b, "%s%s", i ? ", " : "", p->cols[i].name);
}

static int missing_column(const struct plan *p, const struct bcol *c, struct cap_error *err)
{
    infer_value_info vi;
    infer_input_info(p->in->model, c->tensor, &vi);
    struct cap_buf b;
    cap_buf_init(&b);
    list_names(&b, p);
    int rc = cap_err(err, CAP_EINVAL,
                     "The reference data has no column '%s' (for the model's input '%s'); "
                     "expected the columns %s",
                     c->name, vi.name, b.data);
    cap_buf_free(&b);
    return rc;
}

static int text_for_number(const struct mon_column *d, const char *input, int type,
                           struct cap_error *err)
{
    return cap_err(err, CAP_EINVAL,
                   "Column '%s' holds text (line %zu) but the model's input '%s' takes %s "
                   "numbers: expected a number in every cell",
                   d->name, d->text_line, input, infer_type_name(type));
}

/* Each input column to the data's column of its name; none left over. */
static int match_inputs(struct plan *p, struct cap_error *err)
{
    const struct mon_frame *d = p->in->data;
    bool *used = cap_xcalloc(d->ncols + 1, sizeof *used);
    int rc = 0;
    for (size_t i = 0; i < p->ncols && rc == 0; i++) {
        struct bcol *c = &p->cols[i];
        for (size_t k = 0; k < d->ncols && c->src < 0; k++)
            if (!used[k] && strcmp(d->cols[k].name, c->name) == 0)
                c->src = (int)k;
        if (c->src < 0) {
            rc = missing_column(p, c, err);
            break;
        }
        used[c->src] = true;
        infer_value_info vi;
        infer_input_info(p->in->model, c->tensor, &vi);
        if (d->cols[c->src].dtype == MON_TEXT && is_numeric(vi.type))
            rc = text_for_number(&d->cols[c->src], vi.name, vi.type, err);
    }
    struct cap_buf extra;
    cap_buf_init(&extra);
    for (size_t k = 0; k < d->ncols && rc == 0; k++)
        if (!used[k])
            cap_buf_printf(&extra, "%s'%s'", extra.len ? ", " : "", d->cols[k].name);
    if (extra.len) {
        struct cap_buf want;
        cap_buf_init(&want);
        list_names(&want, p);
        rc = cap_err(err, CAP_EINVAL,
                     "The reference data has columns the model does not take: %s; expected "
                     "exactly the columns %s",
                     extra.data, want.data);
        cap_buf_free(&want);
    }
    cap_buf_free(&extra);
    free(used);
    return rc;
}

static int plan_inputs(struct plan *p, struct cap_error *err)
{
    const infer_model *m = p->in->model;
    int n = infer_input_count(m);
    for (int i = 0; i < n; i++) {
        infer_value_info vi;
        infer_input_info(m, i, &vi);
        if (vi.kind != INFER_KIND_TENSOR)
            return cap_err(err, CAP_EINVAL, "The model's input '%s' is not a tensor", vi.name);
        bool sig = n == 1 && vi.ndim == 2;
        char **names;
        size_t k;
        int rc = mon_tensor_columns(vi.name, vi.ndim, vi.dims, n == 1,
                                    sig ? p->in->signature_cols : NULL,
                                    sig ? p->in->n_signature_cols : 0, &names, &k, err);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < k; j++)
            add_col(p, names[j], false, i, (int)j, (int)k);
        free(names);
    }
    p->ninputs = p->ncols;
    return match_inputs(p, err);
}

/* ---- running the model ---- */

/* Cell r of a data column as element e of an input tensor. tmp keeps the
 * text of numbers fed to a string input. */
static const char *put_cell(const struct mon_column *d, size_t r, infer_tensor *t, int64_t e,
                            char **tmp)
{
    if (t->type == INFER_STRING) {
        char **s = t->data;
        if (d->dtype == MON_TEXT) {
            s[e] = d->text[r] ? d->text[r] : (char *)"";
        } else {
            char num[32] = "";
            if (!isnan(d->num[r]))
                snprintf(num, sizeof num, "%.17g", d->num[r]);
            s[e] = *tmp = cap_xstrdup(num);
        }
        return NULL;
    }
    double v = d->num[r];
    if (t->type == INFER_BOOL) {
        if (v != 0 && v != 1)
            return "is not a boolean (0 or 1)";
        ((uint8_t *)t->data)[e] = (uint8_t)v;
        return NULL;
    }
    return payload_elem_number(t->type, v, t->data, e);
}

static void inputs_free(infer_tensor *t, int n, char **tmp, size_t ntmp)
{
    for (int i = 0; i < n; i++)
        free(t[i].data);
    for (size_t i = 0; i < ntmp; i++)
        free(tmp[i]);
    free(tmp);
    free(t);
}

/* The input tensors of rows [r0, r0 + n). */
static int build_inputs(const struct plan *p, size_t r0, size_t n, infer_tensor **out,
                        char ***tmp, struct cap_error *err)
{
    const infer_model *m = p->in->model;
    int nin = infer_input_count(m);
    infer_tensor *t = cap_xcalloc((size_t)nin, sizeof *t);
    *tmp = cap_xcalloc(n * p->ninputs + 1, sizeof **tmp);
    size_t ntmp = 0;
    for (size_t c = 0; c < p->ninputs; c++) {
        const struct bcol *b = &p->cols[c];
        infer_tensor *x = &t[b->tensor];
        if (!x->data) {
            infer_value_info vi;
            infer_input_info(m, b->tensor, &vi);
            *x = (infer_tensor){.type = vi.type, .ndim = vi.ndim >= 2 ? 2 : 1};
            x->dims[0] = (int64_t)n;
            x->dims[1] = b->width;
            x->nbytes = n * (size_t)b->width * infer_type_size(vi.type);
            x->data = cap_xcalloc(x->nbytes + 1, 1);
        }
        const struct mon_column *d = &p->in->data->cols[b->src];
        for (size_t r = 0; r < n; r++) {
            char *s = NULL;
            const char *why = put_cell(d, r0 + r, x, (int64_t)r * b->width + b->index, &s);
            if (s)
                (*tmp)[ntmp++] = s;
            if (why) {
                inputs_free(t, nin, *tmp, ntmp);
                *tmp = NULL;
                return cap_err(err, CAP_EINVAL,
                               "Column '%s', row %zu: the value %s (the model's input takes %s)",
                               d->name, r0 + r + 1, why, infer_type_name(x->type));
            }
        }
    }
    *out = t;
    return (int)ntmp;
}

/* The output columns, named from the first chunk's tensors. */
static int plan_outputs(struct plan *p, const infer_tensor *o, int nout, struct cap_error *err)
{
    const infer_model *m = p->in->model;
    for (int i = 0; i < nout; i++) {
        infer_value_info vi;
        infer_output_info(m, i, &vi);
        char **names;
        size_t k;
        int rc = mon_tensor_columns(vi.name, o[i].ndim, o[i].dims, false, NULL, 0, &names, &k,
                                    err);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < k; j++)
            add_col(p, names[j], true, i, (int)j, (int)k);
        free(names);
    }
    size_t nrows = p->in->data->nrows;
    p->full.cols = cap_xcalloc(p->ncols, sizeof *p->full.cols);
    p->full.ncols = p->ncols;
    p->full.nrows = nrows;
    for (size_t c = 0; c < p->ninputs; c++)
        p->full.cols[c] = p->in->data->cols[p->cols[c].src];
    for (size_t c = p->ninputs; c < p->ncols; c++) {
        struct mon_column *k = &p->full.cols[c];
        bool text = o[p->cols[c].tensor].type == INFER_STRING;
        bool flt = o[p->cols[c].tensor].type == INFER_FLOAT ||
                   o[p->cols[c].tensor].type == INFER_DOUBLE ||
                   o[p->cols[c].tensor].type == INFER_FLOAT16;
        k->name = p->cols[c].name;
        k->dtype = text ? MON_TEXT : flt ? MON_FLOAT : MON_INT;
        if (text)
            k->text = cap_xcalloc(nrows, sizeof *k->text);
        else
            k->num = cap_xcalloc(nrows, sizeof *k->num);
    }
    return 0;
}

static int take_outputs(struct plan *p, const infer_tensor *o, size_t r0, size_t n,
                        struct cap_error *err)
{
    for (size_t c = p->ninputs; c < p->ncols; c++) {
        const struct bcol *b = &p->cols[c];
        const infer_tensor *t = &o[b->tensor];
        int64_t width = t->ndim >= 2 ? t->dims[1] : 1;
        if (t->ndim < 1 || t->dims[0] != (int64_t)n || width != b->width) {
            infer_value_info vi;
            infer_output_info(p->in->model, b->tensor, &vi);
            return cap_err(err, CAP_EINVAL,
                           "The model's output '%s' is not one row of %d values per input row",
                           vi.name, b->width);
        }
        struct mon_column *k = &p->full.cols[c];
        for (size_t r = 0; r < n; r++) {
            int64_t e = (int64_t)r * width + b->index;
            if (k->dtype == MON_TEXT) {
                const char *s = ((char *const *)t->data)[e];
                k->text[r0 + r] = cap_xstrdup(s ? s : "");
            } else {
                k->num[r0 + r] = payload_elem_double(t->type, t->data, e);
            }
        }
    }
    return 0;
}

static int run_chunk(struct plan *p, infer_ctx *ctx, size_t r0, size_t n, struct cap_error *err)
{
    const infer_model *m = p->in->model;
    int nin = infer_input_count(m), nout = infer_output_count(m);
    infer_tensor *in = NULL;
    char **tmp = NULL;
    int ntmp = build_inputs(p, r0, n, &in, &tmp, err);
    if (ntmp < 0)
        return ntmp;
    infer_tensor *out = cap_xcalloc((size_t)nout + 1, sizeof *out);
    infer_error ie = {0};
    int rc = infer_run(ctx, in, nin, out, nout, &ie);
    if (rc < 0)
        rc = cap_err(err, CAP_EINVAL, "The model failed on the reference rows %zu to %zu: %s",
                     r0 + 1, r0 + n, ie.msg);
    else if (r0 == 0)
        rc = plan_outputs(p, out, nout, err);
    if (rc == 0)
        rc = take_outputs(p, out, r0, n, err);
    for (int i = 0; i < nout; i++)
        infer_tensor_release(&out[i]);
    free(out);
    inputs_free(in, nin, tmp, (size_t)ntmp);
    return rc;
}

static int run_model(struct plan *p, struct cap_error *err)
{
    infer_error ie = {0};
    infer_ctx *ctx = infer_ctx_new(p->in->model, &ie);
    if (!ctx)
        return cap_err(err, CAP_EINTERNAL, "Cannot run the model: %s", ie.msg);
    int rc = 0;
    size_t nrows = p->in->data->nrows;
    for (size_t r0 = 0; r0 < nrows && rc == 0; r0 += CHUNK)
        rc = run_chunk(p, ctx, r0, nrows - r0 < CHUNK ? nrows - r0 : CHUNK, err);
    infer_ctx_free(ctx);
    return rc;
}

/* ---- the sample ---- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* want of n rows, uniformly, in order (Algorithm S): row t is taken with
 * probability (still wanted) / (rows left). */
static size_t *pick_rows(size_t n, size_t want, size_t *got)
{
    size_t *rows = cap_xmalloc((want < n ? want : n) * sizeof *rows + 1);
    uint64_t seed = 0x5eed;
    size_t k = 0;
    for (size_t t = 0; t < n && k < want; t++) {
        double u = (double)(splitmix(&seed) >> 11) * 0x1.0p-53;
        if (want >= n || (double)(n - t) * u < (double)(want - k))
            rows[k++] = t;
    }
    *got = k;
    return rows;
}

static void sample_frame(const struct mon_frame *f, size_t want, struct mon_frame *out)
{
    size_t n;
    size_t *rows = pick_rows(f->nrows, want, &n);
    *out = (struct mon_frame){.ncols = f->ncols, .nrows = n};
    out->cols = cap_xcalloc(f->ncols + 1, sizeof *out->cols);
    for (size_t c = 0; c < f->ncols; c++) {
        const struct mon_column *s = &f->cols[c];
        struct mon_column *d = &out->cols[c];
        d->name = cap_xstrdup(s->name);
        d->dtype = s->dtype;
        d->text_line = s->text_line;
        if (s->dtype == MON_TEXT)
            d->text = cap_xcalloc(n + 1, sizeof *d->text);
        else
            d->num = cap_xmalloc((n + 1) * sizeof *d->num);
        for (size_t i = 0; i < n; i++) {
            if (s->dtype != MON_TEXT)
                d->num[i] = s->num[rows[i]];
            else if (s->text[rows[i]])
                d->text[i] = cap_xstrdup(s->text[rows[i]]);
        }
    }
    free(rows);
}

/* ---- storing ---- */

/* A target as one path segment: [A-Za-z0-9._-] kept, anything else '_',
 * cut to 80 bytes, then a hash of the whole so that targets that read alike
 * ("a b", "a_b") never share a folder. */
static void target_segment(const char *target, struct cap_buf *b)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (const unsigned char *s = (const unsigned char *)target; *s; s++)
        h = (h ^ *s) * 0x100000001b3u;
    size_t n = 0;
    for (const char *s = target; *s && n < 80; s++, n++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        cap_buf_putc(b, ok ? c : '_');
    }
    cap_buf_printf(b, "-%016" PRIx64, h);
}

static int write_file(struct blob *bl, const char *dir, const char *name,
                      const struct cap_buf *data, struct cap_error *err)
{
    struct cap_buf path;
    cap_buf_init(&path);
    cap_buf_printf(&path, "%s/%s", dir, name);
    struct blob_writer *w = NULL;
    int rc = blob_write_open(bl, path.data, &w, err);
    if (rc == 0 && (rc = blob_write(w, data->data, data->len, err)) < 0)
        blob_write_abort(w);
    else if (rc == 0)
        rc = blob_write_commit(w, err);
    cap_buf_free(&path);
    return rc;
}

static void names_array(cJSON *m, const char *key, const char *const *names, size_t n)
{
    cJSON *a = cJSON_AddArrayToObject(m, key);
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
}

static cJSON *meta_object(const struct plan *p, const struct mon_profile *prof, size_t sample_rows,
                          int64_t now, const char *dir)
{
    const struct mon_baseline_in *in = p->in;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "target", in->target);
    cJSON_AddStringToObject(m, "model_name", in->model_name ? in->model_name : "");
    cJSON_AddStringToObject(m, "model_version", in->model_version ? in->model_version : "");
    cJSON_AddNumberToObject(m, "rows", (double)in->data->nrows);
    cJSON_AddNumberToObject(m, "sample_rows", (double)sample_rows);
    cJSON_AddNumberToObject(m, "created_at", (double)now);
    names_array(m, "categorical", in->categorical, in->n_categorical);
    names_array(m, "numerical", in->numerical, in->n_numerical);
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_printf(&b, "%s/sample.cmz", dir);
    cJSON_AddStringToObject(m, "sample", b.data);
    cap_buf_reset(&b);
    cap_buf_printf(&b, "%s/profile.bin", dir);
    cJSON_AddStringToObject(m, "profile", b.data);
    cap_buf_free(&b);
    cJSON *cols = cJSON_AddArrayToObject(m, "columns");
    for (size_t i = 0; i < p->ncols; i++) {
        const struct bcol *c = &p->cols[i];
        infer_value_info vi;
        if (c->output)
            infer_output_info(in->model, c->tensor, &vi);
        else
            infer_input_info(in->model, c->tensor, &vi);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddStringToObject(o, "role", c->output ? "output" : "input");
        cJSON_AddStringToObject(o, "tensor", vi.name);
        cJSON_AddNumberToObject(o, "index", c->index);
        cJSON_AddStringToObject(o, "kind", prof->cols[i].kind == MON_PROF_CAT ? "cat" : "num");
        cJSON_AddItemToArray(cols, o);
    }
    return m;
}

/* Writes the files, then switches the store's row to them. */
static int store_baseline(struct store *st, struct blob *bl, const struct plan *p,
                          const struct mon_profile *prof, cJSON **meta, struct cap_error *err)
{
    struct mon_frame sample;
    sample_frame(&p->full, p->in->max_rows ? p->in->max_rows : DEFAULT_MAX_ROWS, &sample);
    struct cap_buf sbytes, pbytes, dir;
    cap_buf_init(&sbytes);
    cap_buf_init(&pbytes);
    cap_buf_init(&dir);
    mon_colfile_encode(&sample, &sbytes);
    mon_profile_encode(prof, &pbytes);
    int64_t now = cap_now_ms();
    char rnd[9];
    cap_random_hex(rnd, 4);
    cap_buf_puts(&dir, "monitor/baselines/");
    target_segment(p->in->target, &dir);
    cap_buf_printf(&dir, "/%" PRId64 "-%s", now, rnd);
    cJSON *m = meta_object(p, prof, sample.nrows, now, dir.data);
    char *json = cJSON_PrintUnformatted(m);
    char *replaced = NULL;
    int rc = write_file(bl, dir.data, "sample.cmz", &sbytes, err);
    if (rc == 0)
        rc = write_file(bl, dir.data, "profile.bin", &pbytes, err);
    if (rc == 0)
        rc = store_baseline_put(st, p->in->target, dir.data, json, &replaced, err);
    struct cap_error ignored;
    if (rc < 0)
        blob_delete(bl, dir.data, &ignored); /* nothing of a failed baseline stays */
    else if (replaced && strcmp(replaced, dir.data) != 0 &&
             blob_delete(bl, replaced, &ignored) < 0)
        cap_log(CAP_LOG_WARN, "baseline of %s: the replaced files at %s stay: %s",
                p->in->target, replaced, ignored.msg);
    free(replaced);
    free(json);
    if (rc == 0)
        *meta = m;
    else
        cJSON_Delete(m);
    cap_buf_free(&dir);
    cap_buf_free(&sbytes);
    cap_buf_free(&pbytes);
    mon_frame_free(&sample);
    return rc;
}

static int check_in(const struct mon_baseline_in *in, struct cap_error *err)
{
    if (!in || !in->target || !in->model || !in->data)
        return cap_err(err, CAP_EINVAL, "A baseline needs a target, a model and data");
    if (!cap_str_has_prefix(in->target, "deployment:") && !cap_str_has_prefix(in->target, "model:"))
        return cap_err(err, CAP_EINVAL,
                       "Invalid baseline target '%s': expected deployment:NAME or "
                       "model:NAME/VERSION",
                       in->target);
    if (in->data->nrows == 0)
        return cap_err(err, CAP_EINVAL, "The reference data has no rows");
    return 0;
}

int mon_baseline_create(struct store *st, struct blob *bl, const struct mon_baseline_in *in,
                        cJSON **meta, struct cap_error *err)
{
    *meta = NULL;
    int rc = check_in(in, err);
    if (rc < 0)
        return rc;
    struct plan p = {.in = in};
    struct mon_profile prof = {0};
    struct mon_drift_options kinds = {.categorical = in->categorical,
                                      .n_categorical = in->n_categorical,
                                      .numerical = in->numerical,
                                      .n_numerical = in->n_numerical,
                                      .drift_share = 0.5};
    if ((rc = plan_inputs(&p, err)) == 0 && (rc = run_model(&p, err)) == 0 &&
        (rc = mon_profile_reference(&p.full, &kinds, &prof, err)) == 0)
        rc = store_baseline(st, bl, &p, &prof, meta, err);
    mon_profile_free(&prof);
    plan_free(&p);
    return rc;
}

/* ---- loading ---- */

static int read_blob(struct blob *bl, const char *path, struct cap_buf *out,
                     struct cap_error *err)
{
    int fd;
    uint64_t size;
    int rc = blob_open_read(bl, path, &fd, &size, err);
    if (rc < 0)
        return rc;
    cap_buf_reserve(out, (size_t)size + 1);
    while (out->len < size) {
        ssize_t n = read(fd, out->data + out->len, (size_t)size - out->len);
        if (n <= 0) {
            close(fd);
            return cap_err(err, CAP_EINTERNAL, "Cannot read the baseline file %s", path);
        }
        out->len += (size_t)n;
    }
    close(fd);
    return 0;
}

static int load_files(struct blob *bl, struct mon_baseline *out, struct cap_error *err)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(out->meta, "sample");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(out->meta, "profile");
    if (!cJSON_IsString(s) || !cJSON_IsString(p))
        return cap_err(err, CAP_EINTERNAL, "The baseline's meta names no sample or profile");
    struct cap_buf b;
    cap_buf_init(&b);
    int rc = read_blob(bl, s->valuestring, &b, err);
    if (rc == 0)
        rc = mon_colfile_decode(s->valuestring, b.data, b.len, &out->sample, err);
    cap_buf_reset(&b);
    if (rc == 0)
        rc = read_blob(bl, p->valuestring, &b, err);
    if (rc == 0) {
        out->profile = cap_xcalloc(1, sizeof *out->profile);
        rc = mon_profile_decode(b.data, b.len, out->profile, err);
    }
    cap_buf_free(&b);
    return rc;
}

int mon_baseline_load(struct store *st, struct blob *bl, const char *target,
                      struct mon_baseline *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = store_baseline_get(st, target, &out->meta, err);
    if (rc == 0)
        rc = load_files(bl, out, err);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(out->meta, "columns"))
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(c, "role");
        if (cJSON_IsString(role) && strcmp(role->valuestring, "input") == 0)
            out->n_inputs++;
    }
    if (rc == 0 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out->meta, "columns")) !=
                       (int)out->sample.ncols)
        rc = cap_err(err, CAP_EINTERNAL, "The baseline of '%s' has a sample of other columns "
                                         "than its meta lists", target);
    if (rc < 0)
        mon_baseline_free(out);
    return rc;
}

void mon_baseline_free(struct mon_baseline *b)
{
    cJSON_Delete(b->meta);
    mon_frame_free(&b->sample);
    if (b->profile) {
        mon_profile_free(b->profile);
        free(b->profile);
    }
    memset(b, 0, sizeof *b);
}
