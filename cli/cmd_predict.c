/* cmd_predict.c - `capstan predict --model M.onnx --input data.csv|.jsonl|.npy
 * [--output out.csv] [--batch N] [--threads N]`: runs a model over a file
 * with libcapstan-infer and writes one CSV row of outputs per input row.
 *
 * Cells are read by the serving payload code's rules (payload/payload.h):
 * its CSV reader, payload_elem_text for a CSV cell (NA tokens and empty
 * cells are NaN for floats, no hex), payload_elem_json for a JSON value,
 * payload_elem_number for a .npy number, and the server's rule for which
 * input types can be fed at all. So a file and a request read alike.
 *
 * Columns feed inputs by the server's rule for frames (payload_frame_plan):
 * a model with one input takes every column in order, a model with several
 * takes the column (CSV header, JSON key) named after each. A row that cannot be read is
 * reported with its line number (.npy: its row index) and skipped, and the
 * exit status is then 1. Batches run on --threads threads, each with its
 * own inference context, and are written in input order. The whole input
 * is held in memory. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/numfmt.h"
#include "capstan/infer.h"
#include "cli/cli.h"
#include "cli/cmd_predict.h"
#include "payload/payload.h"

#define MAX_REPORTED 10

/* ---- the input table ---- */

enum src { SRC_CSV, SRC_JSONL, SRC_NPY };
enum npy_kind { NPY_F4, NPY_F8, NPY_I8, NPY_I4 };

typedef struct table {
    enum src src;
    const char *path;
    int ncols;
    char **cols;         /* column names (NULL for .npy) */
    long nrows;
    long *line;          /* CSV / JSONL: source line of each row */
    char ***cells;       /* CSV: nrows x ncols text cells */
    cJSON **objs;        /* JSONL: one object per row */
    void *raw;           /* .npy: the numbers as stored, nrows x ncols */
    enum npy_kind kind;
    int nbad;            /* rows that could not be read, reported or not */
} table;

static void table_free(table *t)
{
    for (int c = 0; t->cols && c < t->ncols; c++)
        free(t->cols[c]);
    free(t->cols);
    for (long r = 0; r < t->nrows; r++) {
        for (int c = 0; t->cells && c < t->ncols; c++)
            free(t->cells[r][c]);
        if (t->cells)
            free(t->cells[r]);
        if (t->objs)
            cJSON_Delete(t->objs[r]);
    }
    free(t->cells);
    free(t->objs);
    free(t->line);
    free(t->raw);
}

/* room for one more row; the caller fills row t->nrows */
static void table_grow(table *t)
{
    if (t->nrows & (t->nrows - 1))
        return;
    size_t cap = t->nrows ? (size_t)t->nrows * 2 : 1;
    t->line = cap_xrealloc(t->line, cap * sizeof *t->line);
    if (t->src == SRC_CSV)
        t->cells = cap_xrealloc(t->cells, cap * sizeof *t->cells);
    else
        t->objs = cap_xrealloc(t->objs, cap * sizeof *t->objs);
}

/* Reports a row that cannot be read: "file:line: ..." (.npy: its 0-based
 * row index); every one is counted, the first MAX_REPORTED printed. */
static void bad_row(table *t, long line, long index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void bad_row(table *t, long line, long index, const char *fmt, ...)
{
    if (t->nbad++ >= MAX_REPORTED)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (t->src == SRC_NPY)
        fprintf(stderr, "capstan: %s: row index %ld: ", t->path, index);
    else
        fprintf(stderr, "capstan: %s:%ld: ", t->path, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* the input file, opened; NULL (reported) when it cannot be */
static FILE *open_input(const table *t)
{
    FILE *f = fopen(t->path, "rb");
    if (!f)
        fprintf(stderr, "capstan: %s: %s\n", t->path, strerror(errno));
    return f;
}

static int read_file(const table *t, struct cap_buf *b)
{
    FILE *f = open_input(t);
    if (!f)
        return -1;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        cap_buf_append(b, chunk, n);
    int rc = ferror(f) ? -1 : 0;
    if (rc < 0)
        fprintf(stderr, "capstan: %s: read error\n", t->path);
    fclose(f);
    return rc;
}

/* lines from *from up to p, added to *line */
static void count_lines(const char **from, const char *p, long *line)
{
    for (const char *q = *from; q < p && (q = memchr(q, '\n', (size_t)(p - q))); q++)
        (*line)++;
    *from = p;
}

static int read_csv(table *t)
{
    struct cap_buf body, tmp;
    cap_buf_init(&body);
    cap_buf_init(&tmp);
    int rc = read_file(t, &body);
    struct payload_csv c = {body.data, body.data + body.len};
    if (body.len >= 3 && memcmp(body.data, "\xef\xbb\xbf", 3) == 0)
        c.p += 3;
    const char *counted = c.p;
    long line = 1;
    while (rc == 0) {
        payload_csv_skip_blank(&c);
        if (c.p >= c.end)
            break;
        count_lines(&counted, c.p, &line);
        char **cells;
        int n;
        if (payload_csv_record(&c, &tmp, &cells, &n) < 0) {
            bad_row(t, line, 0, "unterminated or misplaced quote");
        } else if (!t->cols) {
            t->cols = cells;
            t->ncols = n;
        } else if (n != t->ncols) {
            bad_row(t, line, 0, "expected %d fields, got %d", t->ncols, n);
            payload_csv_cells_free(cells, n);
        } else {
            table_grow(t);
            t->cells[t->nrows] = cells;
            t->line[t->nrows++] = line;
        }
    }
    if (!t->cols && rc == 0) {
        fprintf(stderr, "capstan: %s: empty file (a header line is required)\n", t->path);
        rc = -1;
    }
    cap_buf_free(&body);
    cap_buf_free(&tmp);
    return rc;
}

static int read_jsonl(table *t)
{
    FILE *f = open_input(t);
    if (!f)
        return -1;
    char *buf = NULL;
    size_t cap = 0;
    long ln = 0;
    ssize_t len;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        ln++;
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            buf[--len] = 0;
        if (!len)
            continue;
        cJSON *o = cJSON_Parse(buf);
        if (!o || !cJSON_IsObject(o)) {
            bad_row(t, ln, 0, "not a JSON object");
            cJSON_Delete(o);
            continue;
        }
        if (!t->cols) {
            /* the first object's keys name the columns */
            t->cols = cap_xcalloc((size_t)cJSON_GetArraySize(o) + 1, sizeof(char *));
            for (cJSON *it = o->child; it; it = it->next)
                t->cols[t->ncols++] = cap_xstrdup(it->string ? it->string : "");
        }
        table_grow(t);
        t->objs[t->nrows] = o;
        t->line[t->nrows++] = ln;
    }
    free(buf);
    fclose(f);
    if (!t->cols) {
        fprintf(stderr, "capstan: %s: no rows\n", t->path);
        return -1;
    }
    return 0;
}

/* The .npy header's dtype and shape: version 1-3, little-endian
 * float32/float64/int64/int32, C order, 1-D or 2-D. */
static int npy_header(table *t, FILE *f, long dims[2], size_t *es)
{
    unsigned char magic[8], b[4];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "\x93NUMPY", 6)) {
        fprintf(stderr, "capstan: %s: not a .npy file\n", t->path);
        return -1;
    }
    int lb = magic[6] == 1 ? 2 : 4;
    if (fread(b, 1, (size_t)lb, f) != (size_t)lb)
        return -2;
    size_t hl = b[0] | (size_t)b[1] << 8 | (lb == 4 ? (size_t)b[2] << 16 | (size_t)b[3] << 24 : 0);
    if (hl > (1u << 20))
        return -2;
    char *hdr = cap_xcalloc(hl + 1, 1);
    int rc = fread(hdr, 1, hl, f) == hl ? 0 : -2;
    const char *d = strstr(hdr, "'descr'"), *fo = strstr(hdr, "'fortran_order'"),
               *sh = strstr(hdr, "'shape'");
    if (rc == 0 && (!d || !fo || !sh || strstr(fo, "True") == fo + 17)) {
        fprintf(stderr, "capstan: %s: unsupported .npy header (C-order arrays only)\n", t->path);
        rc = -1;
    } else if (rc == 0) {
        static const struct { const char *descr; enum npy_kind kind; size_t es; } kinds[] = {
            {"'<f4'", NPY_F4, 4}, {"'<f8'", NPY_F8, 8}, {"'<i8'", NPY_I8, 8}, {"'<i4'", NPY_I4, 4}};
        rc = -1;
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds && rc; k++)
            if (strstr(d, kinds[k].descr))
                t->kind = kinds[k].kind, *es = kinds[k].es, rc = 0;
        if (rc)
            fprintf(stderr, "capstan: %s: dtype must be <f4, <f8, <i8 or <i4\n", t->path);
    }
    int nd = rc ? 0 : sscanf(strchr(sh, '(') ? strchr(sh, '(') + 1 : "", "%ld , %ld", &dims[0], &dims[1]);
    if (rc == 0 && (nd < 1 || dims[0] < 0 || dims[1] < 1 || dims[1] > 1000000 ||
                    dims[0] > (1L << 40) / dims[1])) {
        fprintf(stderr, "capstan: %s: shape must be 1-D or 2-D\n", t->path);
        rc = -1;
    }
    free(hdr);
    return rc;
}

static int read_npy(table *t)
{
    FILE *f = open_input(t);
    if (!f)
        return -1;
    long dims[2] = {0, 1};
    size_t es = 0;
    int rc = npy_header(t, f, dims, &es);
    if (rc == 0) {
        size_t n = (size_t)dims[0] * (size_t)dims[1];
        t->raw = cap_xmalloc(n * es + 1);
        rc = fread(t->raw, es, n, f) == n ? 0 : -2;
        t->nrows = dims[0];
        t->ncols = (int)dims[1];
    }
    if (rc == -2)
        fprintf(stderr, "capstan: %s: truncated or corrupt .npy file\n", t->path);
    fclose(f);
    return rc < 0 ? -1 : 0;
}

static const char *ext(const char *p)
{
    const char *d = strrchr(p, '.');
    return d ? d + 1 : "";
}

static int read_input(const char *path, table *t)
{
    const char *x = ext(path);
    t->path = path;
    if (!strcmp(x, "npy")) {
        t->src = SRC_NPY;
        return read_npy(t);
    }
    if (!strcmp(x, "jsonl") || !strcmp(x, "json") || !strcmp(x, "ndjson")) {
        t->src = SRC_JSONL;
        return read_jsonl(t);
    }
    t->src = SRC_CSV;
    return read_csv(t);
}

/* ---- one cell by the payload code's rules ---- */

/* A .npy number as text, for payload_elem_text and for messages. */
static const char *npy_text(const table *t, size_t at, char *buf, size_t n)
{
    if (t->kind == NPY_I8 || t->kind == NPY_I4)
        snprintf(buf, n, "%" PRId64,
                 t->kind == NPY_I8 ? ((const int64_t *)t->raw)[at] : ((const int32_t *)t->raw)[at]);
    else
        snprintf(buf, n, "%.17g",
                 t->kind == NPY_F4 ? ((const float *)t->raw)[at] : ((const double *)t->raw)[at]);
    return buf;
}

/* A .npy number as element i of data: payload_elem_number, the JSON
 * number's rule; as text (payload_elem_text) where a double would not
 * do: an integer past 2^53, which it would round, and booleans (0, 1). */
static const char *npy_elem(const table *t, size_t at, int type, void *data, int64_t i)
{
    double d;
    bool as_text = type == INFER_BOOL;
    switch (t->kind) {
    case NPY_F4: d = ((const float *)t->raw)[at]; break;
    case NPY_F8: d = ((const double *)t->raw)[at]; break;
    case NPY_I4: d = ((const int32_t *)t->raw)[at]; break;
    default: {
        int64_t v = ((const int64_t *)t->raw)[at];
        as_text |= v > (1LL << 53) || v < -(1LL << 53);
        d = (double)v;
        break;
    }
    }
    if (!as_text)
        return payload_elem_number(type, d, data, i);
    char buf[40];
    npy_text(t, at, buf, sizeof buf);
    return payload_elem_text(type, buf, strlen(buf), data, i);
}

/* Element i of data from cell (r, c) by the payload code's rules: NULL, or
 * why not. */
static const char *read_cell(const table *t, long r, int c, int type, void *data, int64_t i)
{
    static const cJSON missing = {.type = cJSON_NULL}; /* pandas fills a missing key */
    switch (t->src) {
    case SRC_CSV: {
        const char *s = t->cells[r][c];
        return payload_elem_text(type, s, strlen(s), data, i);
    }
    case SRC_JSONL: {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(t->objs[r], t->cols[c]);
        return payload_elem_json(type, v ? v : &missing, data, i, true);
    }
    default:
        return npy_elem(t, (size_t)r * (size_t)t->ncols + (size_t)c, type, data, i);
    }
}

/* The cell as a message shows it. */
static const char *show_cell(const table *t, long r, int c, char *buf, size_t n)
{
    if (t->src == SRC_CSV) {
        snprintf(buf, n, "'%.40s'", t->cells[r][c]);
    } else if (t->src == SRC_JSONL) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(t->objs[r], t->cols[c]);
        char *p = v ? cJSON_PrintUnformatted(v) : NULL;
        snprintf(buf, n, p ? "%.40s" : "(missing)", p);
        free(p);
    } else {
        char num[40];
        snprintf(buf, n, "'%s'", npy_text(t, (size_t)r * (size_t)t->ncols + (size_t)c, num, sizeof num));
    }
    return buf;
}

/* ---- mapping table columns to model inputs ---- */

typedef struct feed {
    int type;           /* model input element type */
    int width;          /* values per row */
    int *cols;          /* table column of each value */
    void *data;         /* nrows x width */
    int ndim;           /* the tensor's rank, as the server makes it */
} feed;

static void feeds_free(feed *feeds, int nin, long nrows)
{
    for (int i = 0; feeds && i < nin; i++) {
        if (feeds[i].type == INFER_STRING && feeds[i].data)
            for (long k = 0; k < nrows * feeds[i].width; k++)
                free(((char **)feeds[i].data)[k]);
        free(feeds[i].cols);
        free(feeds[i].data);
    }
    free(feeds);
}

/* Input i's feed from the plan; -1 (reported) when a file cannot feed it. */
static int plan_feed(const infer_model *m, const table *t, const struct payload_frame_plan *p,
                     int i, feed *fd)
{
    infer_value_info vi;
    infer_input_info(m, i, &vi);
    fd->type = vi.type;
    fd->ndim = p->ndim[i];
    if (p->n_inputs > 1 && p->per_row[i] != 1) {
        fprintf(stderr, "capstan: input '%s' takes %lld values per row; a cell of %s holds one\n",
                vi.name, (long long)p->per_row[i], t->path);
        return -1;
    }
    if (t->src == SRC_NPY && fd->type == INFER_STRING) {
        fprintf(stderr, "capstan: input '%s' takes strings; a .npy file holds numbers\n", vi.name);
        return -1;
    }
    fd->width = (int)p->per_row[i];
    fd->cols = cap_xmalloc(sizeof(int) * (size_t)(fd->width ? fd->width : 1));
    for (int c = 0; c < t->ncols; c++)
        if (p->col_in[c] == i)
            fd->cols[p->col_off[c]] = c;
    fd->data = cap_xcalloc((size_t)(t->nrows ? t->nrows : 1) * (size_t)(fd->width ? fd->width : 1),
                           infer_type_size(fd->type));
    return 0;
}

/* The feeds of every input, mapped by the server's rule for frames
 * (payload_frame_plan); NULL (reported) when the file cannot feed the model. */
static feed *plan_feeds(const infer_model *m, const table *t)
{
    struct payload_frame fr = {
        .what = t->path,
        .names = (const char *const *)t->cols,
        .ncols = t->ncols,
        .rows = t->nrows,
    };
    struct payload_frame_plan p;
    struct cap_error err = {0};
    int nin = infer_input_count(m);
    feed *feeds = NULL;
    if (payload_frame_plan(m, &fr, &p, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
    } else {
        feeds = cap_xcalloc((size_t)(nin ? nin : 1), sizeof *feeds);
        for (int i = 0; i < nin && feeds; i++)
            if (plan_feed(m, t, &p, i, &feeds[i]) < 0) {
                feeds_free(feeds, nin, 0);
                feeds = NULL;
            }
    }
    payload_frame_plan_free(&p);
    return feeds;
}

/* The strings a rejected row already stored are not kept. */
static void drop_row_strings(feed *feeds, int nin, long row)
{
    for (int j = 0; j < nin; j++)
        for (int w = 0; feeds[j].type == INFER_STRING && w < feeds[j].width; w++) {
            char **s = (char **)feeds[j].data + row * feeds[j].width + w;
            free(*s);
            *s = NULL;
        }
}

/* Converts the rows into the feeds, skipping (and reporting) those that
 * cannot be read; returns the rows kept. */
static long convert_rows(table *t, const infer_model *m, feed *feeds)
{
    int nin = infer_input_count(m);
    long good = 0;
    for (long r = 0; r < t->nrows; r++) {
        const char *why = NULL;
        int i, k = 0;
        for (i = 0; i < nin && !why; i++)
            for (k = 0; k < feeds[i].width && !why; k++)
                why = read_cell(t, r, feeds[i].cols[k], feeds[i].type, feeds[i].data,
                                (int64_t)good * feeds[i].width + k);
        if (!why) {
            good++;
            continue;
        }
        const feed *f = &feeds[i - 1];
        int c = f->cols[k - 1];
        char shown[64], cn[300];
        if (t->cols)
            snprintf(cn, sizeof cn, "'%s'", t->cols[c]);
        else
            snprintf(cn, sizeof cn, "%d", c);
        bad_row(t, t->line ? t->line[r] : 0, r, "column %s: %s is not a valid %s: it %s", cn,
                show_cell(t, r, c, shown, sizeof shown), infer_type_name(f->type), why);
        drop_row_strings(feeds, nin, good);
    }
    return good;
}

/* ---- running ---- */

typedef struct job {
    const infer_model *m;
    feed *feeds;
    int nin, nout;
    long nrows;          /* valid rows */
    long batch;
    long nbatches;
    struct cap_buf *outbuf; /* one per batch */
    long next;           /* next batch to take */
    long done_rows;
    int failed;
    char errmsg[300];
    int progress;
    pthread_mutex_t mu;
} job;

static void progress(job *j)
{
    int w = 40;
    double f = j->nrows ? (double)j->done_rows / (double)j->nrows : 1;
    int k = (int)(f * w);
    fprintf(stderr, "\r[");
    for (int i = 0; i < w; i++)
        fputc(i < k ? '=' : i == k ? '>' : ' ', stderr);
    fprintf(stderr, "] %3d%% %ld/%ld rows", (int)(f * 100), j->done_rows, j->nrows);
    fflush(stderr);
}

/* element i of an output as CSV text */
static void put_value(struct cap_buf *b, const infer_tensor *t, int64_t i)
{
    switch (t->type) {
    case INFER_FLOAT: case INFER_DOUBLE: case INFER_FLOAT16: {
        double v = t->type == INFER_FLOAT    ? ((float *)t->data)[i]
                   : t->type == INFER_DOUBLE ? ((double *)t->data)[i]
                                             : payload_f16_to_f32(((uint16_t *)t->data)[i]);
        bool single = t->type != INFER_DOUBLE; /* FP16 is exact as a float */
        /* one spelling for NaN whatever its sign bit */
        char fast[32];
        size_t len = single ? cap_fmt_float9((float)v, fast) : 0;
        if (isnan(v))
            cap_buf_append(b, "nan", 3);
        else if (len)
            cap_buf_append(b, fast, len);
        else
            cap_buf_printf(b, single ? "%.9g" : "%.17g", v);
        break;
    }
    case INFER_INT64: cap_buf_printf(b, "%" PRId64, ((int64_t *)t->data)[i]); break;
    case INFER_INT32: cap_buf_printf(b, "%" PRId32, ((int32_t *)t->data)[i]); break;
    case INFER_INT16: cap_buf_printf(b, "%d", ((int16_t *)t->data)[i]); break;
    case INFER_INT8: cap_buf_printf(b, "%d", ((int8_t *)t->data)[i]); break;
    case INFER_UINT64: cap_buf_printf(b, "%" PRIu64, ((uint64_t *)t->data)[i]); break;
    case INFER_UINT32: cap_buf_printf(b, "%" PRIu32, ((uint32_t *)t->data)[i]); break;
    case INFER_UINT16: cap_buf_printf(b, "%u", ((uint16_t *)t->data)[i]); break;
    case INFER_BOOL: case INFER_UINT8: cap_buf_printf(b, "%d", ((uint8_t *)t->data)[i]); break;
    case INFER_STRING: payload_csv_put(b, ((char **)t->data)[i]); break;
    default: cap_buf_putc(b, '?'); break;
    }
}

static void format_batch(job *j, infer_tensor *out, long rows, struct cap_buf *b)
{
    for (long r = 0; r < rows; r++) {
        for (int o = 0; o < j->nout; o++) {
            int64_t n = infer_tensor_count(&out[o]);
            int64_t per = rows ? n / rows : 0;
            for (int64_t k = 0; k < per; k++) {
                if (o || k)
                    cap_buf_putc(b, ',');
                put_value(b, &out[o], r * per + k);
            }
        }
        cap_buf_putc(b, '\n');
    }
}

/* The input tensors of rows [r0, r0 + rows), views into the feeds, shaped
 * as the server shapes a frame's: [N] or [N, k] (one input), [N, 1, ...]
 * (one of several). */
static void batch_inputs(const feed *feeds, int nin, long r0, long rows, infer_tensor *in)
{
    for (int i = 0; i < nin; i++) {
        size_t es = infer_type_size(feeds[i].type);
        memset(&in[i], 0, sizeof in[i]);
        in[i].type = feeds[i].type;
        in[i].data = (char *)feeds[i].data + (size_t)r0 * (size_t)feeds[i].width * es;
        in[i].ndim = feeds[i].ndim;
        in[i].dims[0] = rows;
        for (int d = 1; d < feeds[i].ndim; d++)
            in[i].dims[d] = d == 1 ? feeds[i].width : 1;
    }
}

static void *worker(void *arg)
{
    job *j = arg;
    infer_error e;
    infer_ctx *c = infer_ctx_new(j->m, &e);
    infer_tensor *in = cap_xcalloc((size_t)(j->nin ? j->nin : 1), sizeof *in);
    infer_tensor *out = cap_xcalloc((size_t)(j->nout ? j->nout : 1), sizeof *out);
    if (!c) {
        pthread_mutex_lock(&j->mu);
        j->failed = 1;
        snprintf(j->errmsg, sizeof j->errmsg, "cannot create an inference context");
        pthread_mutex_unlock(&j->mu);
    }
    while (c) {
        pthread_mutex_lock(&j->mu);
        long bi = j->failed ? j->nbatches : j->next++;
        pthread_mutex_unlock(&j->mu);
        if (bi >= j->nbatches)
            break;
        long r0 = bi * j->batch, rows = j->nrows - r0 < j->batch ? j->nrows - r0 : j->batch;
        batch_inputs(j->feeds, j->nin, r0, rows, in);
        memset(out, 0, sizeof *out * (size_t)j->nout);
        int rc = infer_run(c, in, j->nin, out, j->nout, &e);
        if (rc == 0)
            format_batch(j, out, rows, &j->outbuf[bi]);
        for (int o = 0; o < j->nout; o++)
            infer_tensor_release(&out[o]);
        pthread_mutex_lock(&j->mu);
        if (rc != 0 && !j->failed) {
            j->failed = 1;
            snprintf(j->errmsg, sizeof j->errmsg, "rows %ld-%ld: %s", r0 + 1, r0 + rows, e.msg);
        }
        j->done_rows += rows;
        if (j->progress)
            progress(j);
        pthread_mutex_unlock(&j->mu);
    }
    free(in);
    free(out);
    infer_ctx_free(c);
    return NULL;
}

/* The output header, one column per output value; the shapes come from a
 * one-row run when the declaration is not fixed. -1 (reported) on failure. */
static int write_header(const infer_model *m, const char *mpath, const feed *feeds, long good,
                        FILE *of)
{
    int nin = infer_input_count(m), nout = infer_output_count(m);
    infer_error e;
    infer_ctx *c = infer_ctx_new(m, &e);
    infer_tensor *in = cap_xcalloc((size_t)(nin ? nin : 1), sizeof *in);
    infer_tensor *out = cap_xcalloc((size_t)(nout ? nout : 1), sizeof *out);
    struct cap_buf hdr;
    cap_buf_init(&hdr);
    int rc = c ? 0 : -1;
    batch_inputs(feeds, nin, 0, good ? 1 : 0, in);
    if (rc == 0 && good > 0 && infer_run(c, in, nin, out, nout, &e) != 0) {
        fprintf(stderr, "capstan: %s: %s\n", mpath, e.msg);
        rc = -1;
    }
    for (int o = 0; o < nout && rc == 0; o++) {
        infer_value_info vi;
        infer_output_info(m, o, &vi);
        int64_t per = good > 0 ? infer_tensor_count(&out[o]) : 1;
        for (int64_t k = 0; k < per; k++) {
            char name[600];
            if (good > 0 && out[o].kind == INFER_KIND_SEQ_MAP && k < out[o].nkeys) {
                if (out[o].key_type == INFER_STRING)
                    snprintf(name, sizeof name, "%s.%s", vi.name, ((const char *const *)out[o].keys)[k]);
                else
                    snprintf(name, sizeof name, "%s.%lld", vi.name, (long long)((const int64_t *)out[o].keys)[k]);
            } else if (per == 1) {
                snprintf(name, sizeof name, "%s", vi.name);
            } else {
                snprintf(name, sizeof name, "%s.%lld", vi.name, (long long)k);
            }
            if (o || k)
                cap_buf_putc(&hdr, ',');
            payload_csv_put(&hdr, name);
        }
    }
    if (rc == 0) {
        cap_buf_putc(&hdr, '\n');
        fwrite(hdr.data, 1, hdr.len, of);
    }
    for (int o = 0; o < nout; o++)
        infer_tensor_release(&out[o]);
    cap_buf_free(&hdr);
    free(in);
    free(out);
    infer_ctx_free(c);
    return rc;
}

/* Runs the rows in batches on nthreads threads and writes them in order;
 * 0, or 1 (reported). */
static int run_batches(job *j, long nthreads, FILE *of, const char *opath)
{
    j->nbatches = (j->nrows + j->batch - 1) / j->batch;
    j->outbuf = cap_xcalloc((size_t)(j->nbatches ? j->nbatches : 1), sizeof *j->outbuf);
    j->progress = isatty(2) && j->nrows >= 10000;
    pthread_t th[256];
    long nt = nthreads < j->nbatches ? nthreads : (j->nbatches ? j->nbatches : 1);
    int running[256] = {0};
    for (long i = 1; i < nt; i++)
        running[i] = pthread_create(&th[i], NULL, worker, j) == 0;   /* fewer threads is fine */
    worker(j);
    for (long i = 1; i < nt; i++)
        if (running[i])
            pthread_join(th[i], NULL);
    if (j->progress)
        fputc('\n', stderr);
    int status = 0;
    if (j->failed) {
        fprintf(stderr, "capstan: %s\n", j->errmsg);
        status = 1;
    }
    for (long b = 0; b < j->nbatches && !status; b++)
        if (j->outbuf[b].len && fwrite(j->outbuf[b].data, 1, j->outbuf[b].len, of) != j->outbuf[b].len) {
            fprintf(stderr, "capstan: %s: write failed\n", opath);
            status = 1;
        }
    for (long b = 0; b < j->nbatches; b++)
        cap_buf_free(&j->outbuf[b]);
    free(j->outbuf);
    j->outbuf = NULL;
    return status;
}

/* ---- the command ---- */

struct predict_args {
    const char *model, *input, *output;
    long batch, threads;
};

/* 0 to run, else the exit status (0 for --help) plus 1: 1 or 3 */
static int parse_args(int argc, char **argv, struct predict_args *a)
{
    struct cli_opt opts[] = {
        {"--model", NULL, false, NULL, "ONNX model file"},
        {"--input", NULL, false, NULL, "input rows: .csv (with header), .jsonl or .npy"},
        {"--output", NULL, false, "-", "output CSV file (- for stdout)"},
        {"--batch", NULL, false, "1024", "rows per inference call"},
        {"--threads", NULL, false, "1", "inference threads"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    if (cli_parse(argc, argv, 2, opts, pos, 0, &npos) < 0)
        return 3;
    const char *synopsis = "capstan predict --model M.onnx --input data.csv|.jsonl|.npy [options]";
    if (cli_get(opts, "--help")) {
        cli_usage(synopsis, opts);
        return 1;
    }
    a->model = cli_get(opts, "--model");
    a->input = cli_get(opts, "--input");
    a->output = cli_get(opts, "--output");
    if (!a->model || !a->input) {
        fprintf(stderr, "capstan: --model and --input are required\n");
        cli_usage(synopsis, opts);
        return 3;
    }
    char *end;
    a->batch = strtol(cli_get(opts, "--batch"), &end, 10);
    if (*end || a->batch < 1 || a->batch > 10000000) {
        fprintf(stderr, "capstan: --batch must be a number from 1 to 10000000\n");
        return 3;
    }
    a->threads = strtol(cli_get(opts, "--threads"), &end, 10);
    if (*end || a->threads < 1 || a->threads > 256) {
        fprintf(stderr, "capstan: --threads must be a number from 1 to 256\n");
        return 3;
    }
    return 0;
}

/* the rows' outputs into opath; 0, or 1 (reported) */
static int predict_rows(const struct predict_args *a, const infer_model *m, feed *feeds, long good)
{
    FILE *of = strcmp(a->output, "-") ? fopen(a->output, "w") : stdout;
    if (!of) {
        fprintf(stderr, "capstan: %s: %s\n", a->output, strerror(errno));
        return 1;
    }
    int status = write_header(m, a->model, feeds, good, of) < 0;
    if (!status) {
        job j = {.m = m, .feeds = feeds, .nin = infer_input_count(m),
                 .nout = infer_output_count(m), .nrows = good, .batch = a->batch};
        pthread_mutex_init(&j.mu, NULL);
        status = run_batches(&j, a->threads, of, a->output);
        pthread_mutex_destroy(&j.mu);
    }
    if (of != stdout && fclose(of) != 0) {
        fprintf(stderr, "capstan: %s: %s\n", a->output, strerror(errno));
        status = 1;
    } else if (of == stdout) {
        fflush(stdout);
    }
    return status;
}

int cmd_predict(int argc, char **argv)
{
    struct predict_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc - 1;
    infer_model *m = NULL;
    infer_error e;
    if (infer_load_file(a.model, &m, &e) != 0) {
        fprintf(stderr, "capstan: %s: %s\n", a.model, e.msg);
        return 1;
    }
    table t = {0};
    int status = 1;
    feed *feeds = NULL;
    long good = 0;
    if (read_input(a.input, &t) == 0 && (feeds = plan_feeds(m, &t))) {
        good = convert_rows(&t, m, feeds);
        status = predict_rows(&a, m, feeds, good);
    }
    /* a row that could not be read is always counted, and fails the run */
    if (t.nbad) {
        if (t.nbad > MAX_REPORTED)
            fprintf(stderr, "capstan: ... and %d more malformed rows\n", t.nbad - MAX_REPORTED);
        fprintf(stderr, "capstan: %d malformed row%s skipped\n", t.nbad, t.nbad == 1 ? "" : "s");
        status = 1;
    }
    feeds_free(feeds, infer_input_count(m), good);
    table_free(&t);
    infer_model_free(m);
    return status;
}
