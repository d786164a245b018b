/* cmd_predict.c - `capstan predict --model M.onnx --input data.csv|.jsonl|.npy
 * [--output out.csv] [--batch N] [--threads N]`: runs a model over a file
 * with libcapstan-infer and writes one CSV row of outputs per input row.
 *
 * Column mapping: when every model input is named by a column (CSV header
 * or JSON keys), each input takes its column; otherwise a model with one
 * 2-D numeric input takes all columns in order. Malformed rows are reported
 * with their line numbers and skipped (the exit status is then 1). Batches
 * run on --threads threads, each with its own inference context, and are
 * written in input order. The whole input is held in memory. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/numfmt.h"
#include "capstan/infer.h"
#include "cli/cli.h"
#include "cli/cmd_predict.h"

#define MAX_REPORTED 10

/* ---- growable byte buffer ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

static int sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof tmp)
        return sb_put(b, tmp, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = sb_put(b, big, (size_t)n);
    free(big);
    return rc;
}

/* a CSV field, quoted when it needs to be */
static int sb_field(sbuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\n\r"))
        return sb_put(b, s, strlen(s));
    if (sb_put(b, "\"", 1) < 0)
        return -1;
    for (const char *c = s; *c; c++)
        if ((*c == '"' && sb_put(b, "\"\"", 2) < 0) || (*c != '"' && sb_put(b, c, 1) < 0))
            return -1;
    return sb_put(b, "\"", 1);
}

/* ---- the input table: rows of cells (strings) ---- */

typedef struct table {
    int ncols;
    char **cols;         /* column names */
    long nrows;
    char ***cells;       /* nrows x ncols, NULL cell = missing */
    long *line;          /* source line of each row */
    /* .npy input: a numeric matrix instead of cells */
    double *num;
} table;

static void table_free(table *t)
{
    for (int c = 0; t->cols && c < t->ncols; c++)
        free(t->cols[c]);
    free(t->cols);
    for (long r = 0; r < t->nrows && t->cells; r++) {
        for (int c = 0; c < t->ncols; c++)
            free(t->cells[r][c]);
        free(t->cells[r]);
    }
    free(t->cells);
    free(t->line);
    free(t->num);
}

static int table_add(table *t, char **row, long line)
{
    if ((t->nrows & (t->nrows - 1)) == 0) {
        long cap = t->nrows ? t->nrows * 2 : 1;
        char ***c = realloc(t->cells, (size_t)cap * sizeof *c);
        long *l = c ? realloc(t->line, (size_t)cap * sizeof *l) : NULL;
        if (!c || !l) {
            if (c)
                t->cells = c;
            return -1;
        }
        t->cells = c;
        t->line = l;
    }
    t->cells[t->nrows] = row;
    t->line[t->nrows++] = line;
    return 0;
}

static int nbad;

static void bad_row(const char *file, long line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bad_row(const char *file, long line, const char *fmt, ...)
{
    if (nbad++ >= MAX_REPORTED)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "capstan: %s:%ld: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Splits one CSV record (RFC 4180 quoting; a quoted field may span lines,
 * which the caller's reader does not support: such rows are malformed). */
static int csv_split(const char *s, char ***out, int *n)
{
    int cap = 8, k = 0;
    char **f = malloc((size_t)cap * sizeof *f);
    sbuf cur = {0};
    if (!f)
        return -1;
    const char *p = s;
    for (;;) {
        cur.n = 0;
        sb_put(&cur, "", 0);
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p) {
                    for (int i = 0; i < k; i++)
                        free(f[i]);
                    free(f);
                    free(cur.p);
                    return -2;   /* unterminated quote */
                }
                if (*p == '"' && p[1] == '"') {
                    sb_put(&cur, "\"", 1);
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    sb_put(&cur, p++, 1);
                }
            }
        }
        while (*p && *p != ',')
            sb_put(&cur, p++, 1);
        if (k == cap) {
            cap *= 2;
            char **nf = realloc(f, (size_t)cap * sizeof *nf);
            if (!nf)
                return -1;
            f = nf;
        }
        f[k++] = strdup(cur.p ? cur.p : "");
        if (*p != ',')
            break;
        p++;
    }
    free(cur.p);
    *out = f;
    *n = k;
    return 0;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
}

static int read_csv(const char *path, table *t)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "capstan: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long ln = 0;
    int rc = 0;
    while (getline(&line, &cap, f) >= 0) {
        ln++;
        chomp(line);
        if (!*line)
            continue;
        char **fields;
        int n;
        int s = csv_split(line, &fields, &n);
        if (s == -2) {
            bad_row(path, ln, "unterminated quoted field");
            continue;
        }
        if (s < 0) {
            rc = -1;
            break;
        }
        if (!t->cols) {
            t->cols = fields;
            t->ncols = n;
            continue;
        }
        if (n != t->ncols) {
            bad_row(path, ln, "expected %d fields, got %d", t->ncols, n);
            for (int i = 0; i < n; i++)
                free(fields[i]);
            free(fields);
            continue;
        }
        for (int i = 0; i < n; i++)
            if (!*fields[i]) {
                free(fields[i]);
                fields[i] = NULL;   /* empty = missing */
            }
        if (table_add(t, fields, ln) < 0) {
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    if (!t->cols && rc == 0) {
        fprintf(stderr, "capstan: %s: empty file (a header line is required)\n", path);
        rc = -1;
    }
    return rc;
}

static char *json_cell(const cJSON *v)
{
    char buf[64];
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (cJSON_IsBool(v))
        return strdup(cJSON_IsTrue(v) ? "1" : "0");
    if (cJSON_IsNumber(v)) {
        snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
        return strdup(buf);
    }
    return strdup("?");   /* arrays/objects: rejected when converted */
}

static int read_jsonl(const char *path, table *t)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "capstan: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long ln = 0;
    int rc = 0;
    while (getline(&line, &cap, f) >= 0) {
        ln++;
        chomp(line);
        if (!*line)
            continue;
        cJSON *o = cJSON_Parse(line);
        if (!o || !cJSON_IsObject(o)) {
            bad_row(path, ln, "not a JSON object");
            cJSON_Delete(o);
            continue;
        }
        if (!t->cols) {
            /* the first object's keys name the columns */
            int n = cJSON_GetArraySize(o), k = 0;
            t->cols = calloc((size_t)(n ? n : 1), sizeof(char *));
            for (cJSON *it = o->child; it && t->cols; it = it->next)
                t->cols[k++] = strdup(it->string ? it->string : "");
            t->ncols = k;
        }
        char **row = calloc((size_t)(t->ncols ? t->ncols : 1), sizeof(char *));
        if (!row || !t->cols) {
            cJSON_Delete(o);
            free(row);
            rc = -1;
            break;
        }
        for (int c = 0; c < t->ncols; c++)
            row[c] = json_cell(cJSON_GetObjectItemCaseSensitive(o, t->cols[c]));
        cJSON_Delete(o);
        if (table_add(t, row, ln) < 0) {
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    if (!t->cols && rc == 0) {
        fprintf(stderr, "capstan: %s: no rows\n", path);
        rc = -1;
    }
    return rc;
}

/* .npy version 1-3, little-endian float32/float64/int64/int32, C order, 1-D or 2-D */
static int read_npy(const char *path, table *t)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "capstan: %s: %s\n", path, strerror(errno));
        return -1;
    }
    unsigned char magic[10];
    int rc = -1;
    char *hdr = NULL;
    void *raw = NULL;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "\x93NUMPY", 6)) {
        fprintf(stderr, "capstan: %s: not a .npy file\n", path);
        goto out;
    }
    size_t hl = 0;
    if (magic[6] == 1) {
        unsigned char b[2];
        if (fread(b, 1, 2, f) != 2)
            goto trunc;
        hl = b[0] | (size_t)b[1] << 8;
    } else {
        unsigned char b[4];
        if (fread(b, 1, 4, f) != 4)
            goto trunc;
        hl = b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16 | (size_t)b[3] << 24;
    }
    if (hl > (1u << 20))
        goto trunc;
    hdr = calloc(hl + 1, 1);
    if (!hdr || fread(hdr, 1, hl, f) != hl)
        goto trunc;
    const char *d = strstr(hdr, "'descr'"), *fo = strstr(hdr, "'fortran_order'"), *sh = strstr(hdr, "'shape'");
    if (!d || !fo || !sh || strstr(fo, "True") == fo + 17) {
        fprintf(stderr, "capstan: %s: unsupported .npy header (C-order arrays only)\n", path);
        goto out;
    }
    int es, kind;   /* kind 0 f4, 1 f8, 2 i8, 3 i4 */
    if (strstr(d, "'<f4'") == d + 9 || strstr(d, "'<f4'"))
        es = 4, kind = 0;
    else if (strstr(d, "'<f8'"))
        es = 8, kind = 1;
    else if (strstr(d, "'<i8'"))
        es = 8, kind = 2;
    else if (strstr(d, "'<i4'"))
        es = 4, kind = 3;
    else {
        fprintf(stderr, "capstan: %s: dtype must be <f4, <f8, <i8 or <i4\n", path);
        goto out;
    }
    long dims[2] = {0, 1};
    int nd = sscanf(strchr(sh, '(') ? strchr(sh, '(') + 1 : "", "%ld , %ld", &dims[0], &dims[1]);
    if (nd < 1 || dims[0] < 0 || dims[1] < 1 || dims[1] > 1000000 || dims[0] > (1L << 40) / dims[1]) {
        fprintf(stderr, "capstan: %s: shape must be 1-D or 2-D\n", path);
        goto out;
    }
    size_t n = (size_t)dims[0] * (size_t)dims[1];
    raw = malloc(n * (size_t)es + 1);
    t->num = malloc((n + 1) * sizeof(double));
    if (!raw || !t->num || fread(raw, (size_t)es, n, f) != n)
        goto trunc;
    for (size_t i = 0; i < n; i++)
        t->num[i] = kind == 0 ? ((float *)raw)[i] : kind == 1 ? ((double *)raw)[i]
                  : kind == 2 ? (double)((int64_t *)raw)[i] : ((int32_t *)raw)[i];
    t->nrows = dims[0];
    t->ncols = (int)dims[1];
    rc = 0;
    goto out;
trunc:
    fprintf(stderr, "capstan: %s: truncated or corrupt .npy file\n", path);
out:
    free(hdr);
    free(raw);
    fclose(f);
    return rc;
}

/* ---- mapping table columns to model inputs ---- */

typedef struct feed {
    int type;           /* model input element type */
    int width;          /* values per row */
    int *cols;          /* table column of each value */
    void *data;         /* nrows x width */
} feed;

/* Stores v as element k of row `row`, converted to the input's type; -1
 * when it does not fit that type (NaN or out of range for integers). */
static int store_value(double v, int type, void *dst, long row, int width, int k)
{
    size_t off = (size_t)row * (size_t)width + (size_t)k;
    switch (type) {
    case INFER_FLOAT: ((float *)dst)[off] = (float)v; break;
    case INFER_DOUBLE: ((double *)dst)[off] = v; break;
    case INFER_INT64:
        if (!(v >= -9.2e18 && v <= 9.2e18))
            return -1;
        ((int64_t *)dst)[off] = (int64_t)v;
        break;
    case INFER_INT32:
        if (!(v >= -2147483648.0 && v <= 2147483647.0))
            return -1;
        ((int32_t *)dst)[off] = (int32_t)v;
        break;
    case INFER_BOOL: ((uint8_t *)dst)[off] = v != 0; break;
    default: return -2;
    }
    return 0;
}

/* A text cell (NULL = missing, read as NaN) into the input buffer. */
static int parse_value(const char *s, int type, void *dst, long row, int width, int k)
{
    if (type == INFER_STRING) {
        ((const char **)dst)[(size_t)row * (size_t)width + (size_t)k] = s ? s : "";
        return 0;
    }
    double v = NAN;
    if (s) {
        char *end;
        errno = 0;
        v = strtod(s, &end);
        while (*end == ' ')
            end++;
        if (end == s || *end)
            return -1;
    }
    return store_value(v, type, dst, row, width, k);
}

/* ---- running ---- */

typedef struct job {
    const infer_model *m;
    feed *feeds;
    int nin, nout;
    long nrows;          /* valid rows */
    long batch;
    long nbatches;
    sbuf *outbuf;        /* one per batch */
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

static int format_batch(job *j, infer_tensor *out, long rows, sbuf *b)
{
    for (long r = 0; r < rows; r++) {
        for (int o = 0; o < j->nout; o++) {
            const infer_tensor *t = &out[o];
            int64_t n = infer_tensor_count(t);
            int64_t per = rows ? n / rows : 0;
            for (int64_t k = 0; k < per; k++) {
                if ((o || k) && sb_put(b, ",", 1) < 0)
                    return -1;
                int64_t i = r * per + k;
                int rc;
                switch (t->type) {
                case INFER_FLOAT: case INFER_DOUBLE: {
                    double v = t->type == INFER_FLOAT ? ((float *)t->data)[i] : ((double *)t->data)[i];
                    /* one spelling for NaN whatever its sign bit */
                    char fast[32];
                    size_t len = t->type == INFER_FLOAT ? cap_fmt_float9((float)v, fast) : 0;
                    rc = isnan(v) ? sb_put(b, "nan", 3)
                         : len    ? sb_put(b, fast, len)
                                  : sb_printf(b, t->type == INFER_FLOAT ? "%.9g" : "%.17g", v);
                    break;
                }
                case INFER_INT64: rc = sb_printf(b, "%lld", (long long)((int64_t *)t->data)[i]); break;
                case INFER_INT32: rc = sb_printf(b, "%d", ((int32_t *)t->data)[i]); break;
                case INFER_BOOL: case INFER_UINT8: rc = sb_printf(b, "%d", ((uint8_t *)t->data)[i]); break;
                case INFER_STRING: rc = sb_field(b, ((char **)t->data)[i]); break;
                default: rc = sb_printf(b, "?"); break;
                }
                if (rc < 0)
                    return -1;
            }
        }
        if (sb_put(b, "\n", 1) < 0)
            return -1;
    }
    return 0;
}

static void *worker(void *arg)
{
    job *j = arg;
    infer_error e;
    infer_ctx *c = infer_ctx_new(j->m, &e);
    infer_tensor *in = calloc((size_t)(j->nin ? j->nin : 1), sizeof *in);
    infer_tensor *out = calloc((size_t)(j->nout ? j->nout : 1), sizeof *out);
    if (!c || !in || !out) {
        pthread_mutex_lock(&j->mu);
        j->failed = 1;
        snprintf(j->errmsg, sizeof j->errmsg, "cannot create an inference context");
        pthread_mutex_unlock(&j->mu);
        goto done;
    }
    for (;;) {
        pthread_mutex_lock(&j->mu);
        long bi = j->failed ? j->nbatches : j->next++;
        pthread_mutex_unlock(&j->mu);
        if (bi >= j->nbatches)
            break;
        long r0 = bi * j->batch, rows = j->nrows - r0 < j->batch ? j->nrows - r0 : j->batch;
        for (int i = 0; i < j->nin; i++) {
            infer_value_info vi;
            infer_input_info(j->m, i, &vi);
            size_t es = infer_type_size(j->feeds[i].type);
            memset(&in[i], 0, sizeof in[i]);
            in[i].type = j->feeds[i].type;
            in[i].data = (char *)j->feeds[i].data + (size_t)r0 * (size_t)j->feeds[i].width * es;
            /* rank as the model declares it: [N], [N, k], or [N, k] when unknown */
            if (vi.ndim == 1) {
                in[i].ndim = 1;
                in[i].dims[0] = rows;
            } else {
                in[i].ndim = 2;
                in[i].dims[0] = rows;
                in[i].dims[1] = j->feeds[i].width;
            }
        }
        memset(out, 0, sizeof *out * (size_t)j->nout);
        int rc = infer_run(c, in, j->nin, out, j->nout, &e);
        if (rc == 0 && format_batch(j, out, rows, &j->outbuf[bi]) < 0) {
            rc = -1;
            snprintf(e.msg, sizeof e.msg, "out of memory");
        }
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
done:
    free(in);
    free(out);
    infer_ctx_free(c);
    return NULL;
}

static const char *ext(const char *p)
{
    const char *d = strrchr(p, '.');
    return d ? d + 1 : "";
}

int cmd_predict(int argc, char **argv)
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
    int npos, status = 0;
    if (cli_parse(argc, argv, 2, opts, pos, 0, &npos) < 0)
        return 2;
    const char *synopsis = "capstan predict --model M.onnx --input data.csv|.jsonl|.npy [options]";
    if (cli_get(opts, "--help")) {
        cli_usage(synopsis, opts);
        return 0;
    }
    const char *mpath = cli_get(opts, "--model"), *ipath = cli_get(opts, "--input"), *opath = cli_get(opts, "--output");
    if (!mpath || !ipath) {
        fprintf(stderr, "capstan: --model and --input are required\n");
        cli_usage(synopsis, opts);
        return 2;
    }
    char *end;
    long batch = strtol(cli_get(opts, "--batch"), &end, 10);
    if (*end || batch < 1 || batch > 10000000) {
        fprintf(stderr, "capstan: --batch must be a number from 1 to 10000000\n");
        return 2;
    }
    long nthreads = strtol(cli_get(opts, "--threads"), &end, 10);
    if (*end || nthreads < 1 || nthreads > 256) {
        fprintf(stderr, "capstan: --threads must be a number from 1 to 256\n");
        return 2;
    }
    infer_model *m = NULL;
    infer_error e;
    if (infer_load_file(mpath, &m, &e) != 0) {
        fprintf(stderr, "capstan: %s: %s\n", mpath, e.msg);
        return 1;
    }
    table t = {0};
    nbad = 0;
    int rr;
    const char *x = ext(ipath);
    if (!strcmp(x, "npy"))
        rr = read_npy(ipath, &t);
    else if (!strcmp(x, "jsonl") || !strcmp(x, "json") || !strcmp(x, "ndjson"))
        rr = read_jsonl(ipath, &t);
    else
        rr = read_csv(ipath, &t);
    int nin = infer_input_count(m), nout = infer_output_count(m);
    feed *feeds = calloc((size_t)(nin ? nin : 1), sizeof *feeds);
    FILE *of = NULL;
    job j = {0};
    pthread_mutex_init(&j.mu, NULL);
    if (rr < 0 || !feeds) {
        status = 1;
        goto out;
    }

    /* decide the mapping */
    int by_name = t.num == NULL && nin > 0;
    for (int i = 0; by_name && i < nin; i++) {
        infer_value_info vi;
        infer_input_info(m, i, &vi);
        int found = -1;
        for (int c = 0; c < t.ncols; c++)
            if (!strcmp(t.cols[c], vi.name))
                found = c;
        if (found < 0 || (vi.ndim == 2 && vi.dims[1] > 1))
            by_name = 0;
    }
    for (int i = 0; i < nin; i++) {
        infer_value_info vi;
        infer_input_info(m, i, &vi);
        feeds[i].type = vi.type ? vi.type : INFER_FLOAT;
        if (!infer_type_size(feeds[i].type) || feeds[i].type == INFER_FLOAT16) {
            fprintf(stderr, "capstan: input '%s' has type %s, which predict cannot read from a file\n", vi.name,
                    infer_type_name(feeds[i].type));
            status = 1;
            goto out;
        }
        if (by_name) {
            feeds[i].width = 1;
            feeds[i].cols = malloc(sizeof(int));
            for (int c = 0; c < t.ncols; c++)
                if (!strcmp(t.cols[c], vi.name))
                    feeds[i].cols[0] = c;
        } else {
            if (nin != 1 || (vi.ndim != 2 && vi.ndim != -1) || feeds[i].type == INFER_STRING) {
                fprintf(stderr, "capstan: the columns do not name the model's inputs (");
                for (int k = 0; k < nin; k++) {
                    infer_value_info v2;
                    infer_input_info(m, k, &v2);
                    fprintf(stderr, "%s%s", k ? ", " : "", v2.name);
                }
                fprintf(stderr, ") and the model does not take a single 2-D numeric input\n");
                status = 1;
                goto out;
            }
            if (vi.ndim == 2 && vi.dims[1] >= 0 && vi.dims[1] != t.ncols) {
                fprintf(stderr, "capstan: input '%s' takes %lld columns, %s has %d\n", vi.name,
                        (long long)vi.dims[1], ipath, t.ncols);
                status = 1;
                goto out;
            }
            feeds[i].width = t.ncols;
            feeds[i].cols = malloc(sizeof(int) * (size_t)(t.ncols ? t.ncols : 1));
            for (int c = 0; c < t.ncols && feeds[i].cols; c++)
                feeds[i].cols[c] = c;
        }
        feeds[i].data = calloc((size_t)(t.nrows ? t.nrows : 1) * (size_t)feeds[i].width, infer_type_size(feeds[i].type));
        if (!feeds[i].cols || !feeds[i].data) {
            fprintf(stderr, "capstan: out of memory\n");
            status = 1;
            goto out;
        }
    }
    /* convert rows, dropping malformed ones */
    long good = 0;
    for (long r = 0; r < t.nrows; r++) {
        int ok = 1;
        for (int i = 0; i < nin && ok; i++)
            for (int k = 0; k < feeds[i].width && ok; k++) {
                int c = feeds[i].cols[k];
                if (t.num) {
                    /* numbers from .npy go straight in: no text round trip */
                    double v = t.num[(size_t)r * (size_t)t.ncols + (size_t)c];
                    ok = store_value(v, feeds[i].type, feeds[i].data, good, feeds[i].width, k) == 0;
                    continue;
                }
                const char *s = t.cells[r][c];
                if (parse_value(s, feeds[i].type, feeds[i].data, good, feeds[i].width, k) < 0) {
                    bad_row(ipath, t.line[r], "column '%s': '%s' is not a valid %s", t.cols[c], s ? s : "",
                            infer_type_name(feeds[i].type));
                    ok = 0;
                }
            }
        if (ok)
            good++;
    }

    of = strcmp(opath, "-") ? fopen(opath, "w") : stdout;
    if (!of) {
        fprintf(stderr, "capstan: %s: %s\n", opath, strerror(errno));
        status = 1;
        goto out;
    }
    /* header: one column per output value */
    sbuf hdr = {0};
    {
        /* shapes come from a one-row run when the declaration is not fixed */
        infer_ctx *c = infer_ctx_new(m, &e);
        infer_tensor *in = calloc((size_t)(nin ? nin : 1), sizeof *in), *out = calloc((size_t)(nout ? nout : 1), sizeof *out);
        int hrc = c && in && out ? 0 : -1;
        for (int i = 0; i < nin && hrc == 0; i++) {
            infer_value_info vi;
            infer_input_info(m, i, &vi);
            in[i].type = feeds[i].type;
            in[i].data = feeds[i].data;
            in[i].ndim = vi.ndim == 1 ? 1 : 2;
            in[i].dims[0] = good ? 1 : 0;
            in[i].dims[1] = feeds[i].width;
        }
        if (hrc == 0 && good > 0 && infer_run(c, in, nin, out, nout, &e) != 0) {
            fprintf(stderr, "capstan: %s: %s\n", mpath, e.msg);
            hrc = -1;
        }
        for (int o = 0; o < nout && hrc == 0; o++) {
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
                if ((o || k) && sb_put(&hdr, ",", 1) < 0)
                    hrc = -1;
                sb_field(&hdr, name);
            }
        }
        for (int o = 0; o < nout && out; o++)
            infer_tensor_release(&out[o]);
        free(in);
        free(out);
        infer_ctx_free(c);
        if (hrc < 0) {
            free(hdr.p);
            status = 1;
            goto out;
        }
        sb_put(&hdr, "\n", 1);
        fputs(hdr.p, of);
        free(hdr.p);
    }

    j.m = m;
    j.feeds = feeds;
    j.nin = nin;
    j.nout = nout;
    j.nrows = good;
    j.batch = batch;
    j.nbatches = (good + batch - 1) / batch;
    j.outbuf = calloc((size_t)(j.nbatches ? j.nbatches : 1), sizeof(sbuf));
    j.progress = isatty(2) && good >= 10000;
    if (!j.outbuf) {
        status = 1;
        goto out;
    }
    pthread_t th[256];
    long nt = nthreads < j.nbatches ? nthreads : (j.nbatches ? j.nbatches : 1);
    int running[256] = {0};
    for (long i = 1; i < nt; i++)
        running[i] = pthread_create(&th[i], NULL, worker, &j) == 0;   /* fewer threads is fine */
    worker(&j);
    for (long i = 1; i < nt; i++)
        if (running[i])
            pthread_join(th[i], NULL);
    if (j.progress)
        fputc('\n', stderr);
    if (j.failed) {
        fprintf(stderr, "capstan: %s\n", j.errmsg);
        status = 1;
    } else {
        for (long b = 0; b < j.nbatches; b++)
            if (j.outbuf[b].n && fwrite(j.outbuf[b].p, 1, j.outbuf[b].n, of) != j.outbuf[b].n) {
                fprintf(stderr, "capstan: %s: write failed\n", opath);
                status = 1;
                break;
            }
    }
    if (nbad) {
        if (nbad > MAX_REPORTED)
            fprintf(stderr, "capstan: ... and %d more malformed rows\n", nbad - MAX_REPORTED);
        fprintf(stderr, "capstan: %d malformed row%s skipped\n", nbad, nbad == 1 ? "" : "s");
        status = status ? status : 1;
    }
out:
    if (of && of != stdout && fclose(of) != 0) {
        fprintf(stderr, "capstan: %s: %s\n", opath, strerror(errno));
        status = 1;
    } else if (of == stdout) {
        fflush(stdout);
    }
    for (long b = 0; j.outbuf && b < j.nbatches; b++)
        free(j.outbuf[b].p);
    free(j.outbuf);
    pthread_mutex_destroy(&j.mu);
    for (int i = 0; feeds && i < nin; i++) {
        free(feeds[i].cols);
        free(feeds[i].data);
    }
    free(feeds);
    table_free(&t);
    infer_model_free(m);
    return status;
}
