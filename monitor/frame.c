/* frame.c - reads a table (CSV with a header, JSONL, or a 2-D .npy array)
 * into a mon_frame in one pass, typing each column as pandas would: whole
 * numbers without a missing cell are int, other numbers float, a column
 * with any text cell is text. Cells are read by cap_text_to_double, the
 * one rule for a text cell as a number. */
#include "monitor/monitor.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/numfmt.h"

/* ---- building columns row by row ---- */

struct colb {
    double *num;
    char **text;
    bool is_text, all_int, any_na;
    size_t text_line;
};

struct builder {
    const char *path;
    struct colb *cb;
    char **names;
    size_t ncols, nrows, cap;
    size_t line; /* the file line being read */
};

static void b_init(struct builder *b, const char *path)
{
    memset(b, 0, sizeof *b);
    b->path = path;
}

static void b_add_column(struct builder *b, const char *name, size_t n)
{
    b->names = cap_xrealloc(b->names, (b->ncols + 1) * sizeof *b->names);
    b->cb = cap_xrealloc(b->cb, (b->ncols + 1) * sizeof *b->cb);
    b->names[b->ncols] = cap_xstrndup(name, n);
    b->cb[b->ncols] = (struct colb){.all_int = true};
    b->ncols++;
}

/* Makes room for row b->nrows in every column. */
static void b_grow(struct builder *b)
{
    if (b->nrows < b->cap)
        return;
    b->cap = b->cap ? b->cap * 2 : 1024;
    for (size_t c = 0; c < b->ncols; c++) {
        struct colb *k = &b->cb[c];
        if (k->is_text)
            k->text = cap_xrealloc(k->text, b->cap * sizeof *k->text);
        else
            k->num = cap_xrealloc(k->num, b->cap * sizeof *k->num);
    }
}

static bool is_int_literal(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n && (*s == '+' || *s == '-'))
        s++, n--;
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* A text cell: NULL for pandas' missing-value tokens. */
static char *text_cell(const char *s, size_t n)
{
    double v;
    if (cap_text_to_double(s, n, &v) && isnan(v))
        return NULL;
    return cap_xstrndup(s, n);
}

/* Turns column c into a text column at row r; earlier cells come back as
 * text from recover(). */
typedef char *(*recover_fn)(void *ctx, size_t row, size_t col);

static void b_to_text(struct builder *b, size_t c, recover_fn recover, void *ctx)
{
    struct colb *k = &b->cb[c];
    char **t = cap_xmalloc(b->cap * sizeof *t);
    for (size_t r = 0; r < b->nrows; r++)
        t[r] = recover(ctx, r, c);
    free(k->num);
    k->num = NULL;
    k->text = t;
    k->is_text = true;
    k->text_line = b->line;
}

/* Stores one cell given as text. */
static void b_cell_text(struct builder *b, size_t c, const char *s, size_t n,
                        recover_fn recover, void *ctx)
{
    struct colb *k = &b->cb[c];
    double v;
    if (!k->is_text) {
        if (cap_text_to_double(s, n, &v)) {
            k->num[b->nrows] = v;
            if (isnan(v))
                k->any_na = true;
            else if (k->all_int && !is_int_literal(s, n))
                k->all_int = false;
            return;
        }
        b_to_text(b, c, recover, ctx);
    }
    k->text[b->nrows] = text_cell(s, n);
}

static void b_finish(struct builder *b, struct mon_frame *out)
{
    out->path = cap_xstrdup(b->path);
    out->ncols = b->ncols;
    out->nrows = b->nrows;
    out->cols = cap_xcalloc(b->ncols ? b->ncols : 1, sizeof *out->cols);
    for (size_t c = 0; c < b->ncols; c++) {
        struct colb *k = &b->cb[c];
        struct mon_column *o = &out->cols[c];
        o->name = b->names[c];
        o->num = k->num;
        o->text = k->text;
        o->text_line = k->text_line;
        o->dtype = k->is_text ? MON_TEXT : (k->all_int && !k->any_na) ? MON_INT : MON_FLOAT;
    }
    free(b->names);
    free(b->cb);
    memset(b, 0, sizeof *b);
}

static void b_free(struct builder *b)
{
    struct mon_frame f;
    b_finish(b, &f);
    mon_frame_free(&f);
}

void mon_frame_free(struct mon_frame *f)
{
    for (size_t c = 0; c < f->ncols; c++) {
        struct mon_column *k = &f->cols[c];
        free(k->name);
        free(k->num);
        if (k->text)
            for (size_t r = 0; r < f->nrows; r++)
                free(k->text[r]);
        free(k->text);
    }
    free(f->cols);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* Gives back the pages of the mapped file already read, every 32 MiB:
 * they count in the resident size until unmapped, and a 275 MB reference
 * file doubled the peak (512 MB for 1M x 29). A dropped page of a private
 * read-only file mapping is read again from the file if touched (a column
 * that turns to text re-reads its earlier cells). */
#define MON_RELEASE_CHUNK (32u << 20)

static void release_read(const char *base, const char *p, size_t *released)
{
    size_t done = (size_t)(p - base);
    if (done - *released < MON_RELEASE_CHUNK)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t upto = done / page * page;
    madvise((void *)(base + *released), upto - *released, MADV_DONTNEED);
    *released = upto;
}

/* ---- CSV ---- */

struct csv {
    const char *p, *end;
    size_t line;
    struct cap_buf field;
    const char **row_off; /* where each data row starts, to re-read a column as text */
};

/* Reads the next field; *last tells that it ended its record. Quoted fields
 * may hold commas, newlines and "" for a quote. Returns -1 on an
 * unterminated quote. */
static int csv_field(struct csv *cv, const char **s, size_t *n, bool *last)
{
    const char *p = cv->p, *end = cv->end;
    if (p < end && *p == '"') {
        cap_buf_reset(&cv->field);
        p++;
        for (;;) {
            if (p >= end)
                return -1;
            if (*p == '"') {
                if (p + 1 < end && p[1] == '"') {
                    cap_buf_putc(&cv->field, '"');
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            if (*p == '\n')
                cv->line++;
            cap_buf_putc(&cv->field, *p++);
        }
        *s = cv->field.data;
        *n = cv->field.len;
        while (p < end && *p != ',' && *p != '\n')
            p++; /* text after the closing quote (a \r) is dropped */
    } else {
        const char *q = p;
        while (q < end && *q != ',' && *q != '\n')
            q++;
        *s = p;
        *n = (size_t)(q - p);
        if (*n && p[*n - 1] == '\r')
            (*n)--;
        p = q;
    }
    *last = p >= end || *p == '\n';
    if (p < end) {
        if (*p == '\n')
            cv->line++;
        p++;
    }
    cv->p = p;
    return 0;
}

struct csv_recover {
    struct csv *cv;
};

static char *csv_recover(void *ctx, size_t row, size_t col)
{
    struct csv *cv = ((struct csv_recover *)ctx)->cv;
    struct csv r = {.p = cv->row_off[row], .end = cv->end};
    cap_buf_init(&r.field);
    const char *s = "";
    size_t n = 0;
    bool last = false;
    for (size_t c = 0; c <= col; c++)
        if (csv_field(&r, &s, &n, &last) < 0 || (last && c < col))
            break;
    char *t = text_cell(s, n);
    cap_buf_free(&r.field);
    return t;
}

static int csv_read(const char *path, const char *data, size_t len, struct mon_frame *out,
                    struct cap_error *err)
{
    struct csv cv = {.p = data, .end = data + len, .line = 1};
    cap_buf_init(&cv.field);
    struct builder b;
    b_init(&b, path);
    const char *s;
    size_t n;
    bool last = false;
    int rc = 0;
    while (!last) {
        if (csv_field(&cv, &s, &n, &last) < 0) {
            rc = cap_err(err, CAP_EINVAL, "%s: line 1: unterminated quote in the header", path);
            goto done;
        }
        if (n == 0 && last && b.ncols == 0)
            break;
        b_add_column(&b, s, n);
    }
    if (b.ncols == 0) {
        rc = cap_err(err, CAP_EINVAL, "%s: no header row (expected column names)", path);
        goto done;
    }
    size_t ocap = 0, released = 0;
    struct csv_recover rctx = {&cv};
    while (cv.p < cv.end) {
        size_t line = cv.line;
        const char *start = cv.p;
        if (*start == '\n' || (*start == '\r' && start + 1 < cv.end && start[1] == '\n')) {
            cv.p = (const char *)memchr(start, '\n', (size_t)(cv.end - start)) + 1;
            cv.line++;
            continue; /* a blank line, skipped as pandas does */
        }
        b_grow(&b);
        if (b.nrows >= ocap) {
            ocap = b.cap;
            cv.row_off = cap_xrealloc(cv.row_off, ocap * sizeof *cv.row_off);
        }
        cv.row_off[b.nrows] = start;
        b.line = line;
        size_t c = 0;
        for (last = false; !last; c++) {
            if (csv_field(&cv, &s, &n, &last) < 0) {
                rc = cap_err(err, CAP_EINVAL, "%s: line %zu: unterminated quote", path, line);
                goto done;
            }
            if (c >= b.ncols) {
                rc = cap_err(err, CAP_EINVAL,
                             "%s: line %zu: more than the header's %zu fields", path, line,
                             b.ncols);
                goto done;
            }
            b_cell_text(&b, c, s, n, csv_recover, &rctx);
        }
        if (c != b.ncols) {
            rc = cap_err(err, CAP_EINVAL, "%s: line %zu: %zu fields, the header has %zu", path,
                         line, c, b.ncols);
            goto done;
        }
        b.nrows++;
        release_read(data, cv.p, &released);
    }
done:
    free(cv.row_off);
    cap_buf_free(&cv.field);
    if (rc < 0)
        b_free(&b);
    else
        b_finish(&b, out);
    return rc;
}

/* ---- JSONL ---- */

/* A JSON number as text: the shortest "%.Ng" that reads back the same. */
static char *number_text(double v)
{
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return cap_xstrdup(tmp);
}

struct jl_recover {
    struct builder *b;
};

/* Earlier cells of a column that turns text were numbers: their text. */
static char *jl_recover(void *ctx, size_t row, size_t col)
{
    struct builder *b = ((struct jl_recover *)ctx)->b;
    double v = b->cb[col].num[row];
    return isnan(v) ? NULL : number_text(v);
}

static int jl_value(struct builder *b, size_t c, const cJSON *v, size_t line,
                    struct cap_error *err)
{
    struct colb *k = &b->cb[c];
    struct jl_recover ctx = {b};
    if (!v || cJSON_IsNull(v)) {
        if (k->is_text)
            k->text[b->nrows] = NULL;
        else {
            k->num[b->nrows] = NAN;
            k->any_na = true;
        }
        return 0;
    }
    /* pandas' read_json types 1.0 as an integer and reads "3" as a number */
    if (cJSON_IsNumber(v) && !k->is_text) {
        k->num[b->nrows] = v->valuedouble;
        if (k->all_int && v->valuedouble != floor(v->valuedouble))
            k->all_int = false;
        return 0;
    }
    double x;
    if (cJSON_IsString(v) && !k->is_text &&
        cap_text_to_double(v->valuestring, strlen(v->valuestring), &x)) {
        k->num[b->nrows] = x;
        if (isnan(x))
            k->any_na = true;
        else if (k->all_int && x != floor(x))
            k->all_int = false;
        return 0;
    }
    const char *s;
    char *owned = NULL;
    if (cJSON_IsString(v))
        s = v->valuestring;
    else if (cJSON_IsBool(v))
        s = cJSON_IsTrue(v) ? "True" : "False";
    else if (cJSON_IsNumber(v))
        s = owned = number_text(v->valuedouble);
    else
        return cap_err(err, CAP_EINVAL,
                       "%s: line %zu: column '%s' holds an object or array (expected a "
                       "number, string, boolean or null)",
                       b->path, line, b->names[c]);
    if (!k->is_text)
        b_to_text(b, c, jl_recover, &ctx);
    k->text[b->nrows] = cJSON_IsString(v) ? text_cell(s, strlen(s)) : cap_xstrdup(s);
    free(owned);
    return 0;
}

static int jl_row(struct builder *b, const cJSON *o, size_t line, struct cap_error *err)
{
    if (!cJSON_IsObject(o))
        return cap_err(err, CAP_EINVAL, "%s: line %zu: not a JSON object", b->path, line);
    if (b->ncols == 0)
        for (const cJSON *it = o->child; it; it = it->next)
            b_add_column(b, it->string, strlen(it->string));
    b_grow(b);
    for (const cJSON *it = o->child; it; it = it->next) {
        size_t c = 0;
        while (c < b->ncols && strcmp(b->names[c], it->string) != 0)
            c++;
        if (c == b->ncols)
            return cap_err(err, CAP_EINVAL,
                           "%s: line %zu: key '%s' is not among the first line's columns",
                           b->path, line, it->string);
    }
    for (size_t c = 0; c < b->ncols; c++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, b->names[c]);
        int rc = jl_value(b, c, v, line, err);
        if (rc < 0)
            return rc;
    }
    b->nrows++;
    return 0;
}

static int jsonl_read(const char *path, const char *data, size_t len, struct mon_frame *out,
                      struct cap_error *err)
{
    struct builder b;
    b_init(&b, path);
    const char *p = data, *end = data + len;
    size_t released = 0;
    int rc = 0;
    for (size_t line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *q = p;
        while (q < e && isspace((unsigned char)*q))
            q++;
        if (q < e) {
            b.line = line;
            cJSON *o = cJSON_ParseWithLength(p, (size_t)(e - p));
            if (!o) {
                rc = cap_err(err, CAP_EINVAL, "%s: line %zu: not valid JSON", path, line);
                break;
            }
            rc = jl_row(&b, o, line, err);
            cJSON_Delete(o);
            if (rc < 0)
                break;
        }
        p = nl ? nl + 1 : end;
        release_read(data, p, &released);
    }
    if (rc < 0)
        b_free(&b);
    else
        b_finish(&b, out);
    return rc;
}

/* ---- .npy ---- */

struct npy_head {
    char kind; /* 'f', 'i', 'u', 'b' */
    int size;
    bool fortran;
    size_t rows, cols;
};

static int npy_header(const char *path, FILE *f, struct npy_head *h, struct cap_error *err)
{
    unsigned char pre[10];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return cap_err(err, CAP_EINVAL, "%s: not a .npy file (no \\x93NUMPY magic)", path);
    size_t hl;
    if (pre[6] == 1) {
        hl = pre[8] | (size_t)pre[9] << 8;
    } else {
        unsigned char x[2];
        if (fread(x, 1, 2, f) != 2)
            return cap_err(err, CAP_EINVAL, "%s: truncated .npy header", path);
        hl = pre[8] | (size_t)pre[9] << 8 | (size_t)x[0] << 16 | (size_t)x[1] << 24;
    }
    char *txt = cap_xmalloc(hl + 1);
    int rc = 0;
    if (fread(txt, 1, hl, f) != hl) {
        rc = cap_err(err, CAP_EINVAL, "%s: truncated .npy header", path);
        goto out;
    }
    txt[hl] = 0;
    const char *d = strstr(txt, "'descr'"), *fo = strstr(txt, "'fortran_order'"),
               *sh = strstr(txt, "'shape'");
    char q1, endian, kind;
    int size;
    if (!d || !fo || !sh || sscanf(d, "'descr': %c%c%c%d", &q1, &endian, &kind, &size) != 4 ||
        strchr("fiub", kind) == NULL || endian == '>' ||
        !(kind == 'f' ? size == 4 || size == 8
                      : size == 1 || size == 2 || size == 4 || size == 8)) {
        rc = cap_err(err, CAP_EINVAL,
                     "%s: unsupported .npy dtype (expected little-endian float32/64, "
                     "integers or bool)",
                     path);
        goto out;
    }
    h->kind = kind;
    h->size = size;
    h->fortran = strncmp(fo + strlen("'fortran_order': "), "True", 4) == 0;
    unsigned long r, c;
    if (sscanf(sh, "'shape': (%lu, %lu)", &r, &c) != 2) {
        rc = cap_err(err, CAP_EINVAL, "%s: the .npy array is not 2-D (expected rows x columns)",
                     path);
        goto out;
    }
    h->rows = r;
    h->cols = c;
out:
    free(txt);
    return rc;
}

static double npy_value(const struct npy_head *h, const unsigned char *p)
{
    switch (h->kind) {
    case 'f':
        if (h->size == 4) {
            float v;
            memcpy(&v, p, 4);
            return v;
        } else {
            double v;
            memcpy(&v, p, 8);
            return v;
        }
    case 'i':
        switch (h->size) {
        case 1: return (int8_t)p[0];
        case 2: { int16_t v; memcpy(&v, p, 2); return v; }
        case 4: { int32_t v; memcpy(&v, p, 4); return v; }
        default: { int64_t v; memcpy(&v, p, 8); return (double)v; }
        }
    default: /* 'u', 'b' */
        switch (h->size) {
        case 1: return p[0];
        case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
        case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
        default: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
        }
    }
}

static int npy_read(const char *path, const char *const *names, size_t nnames,
                    struct mon_frame *out, struct cap_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cap_err(err, CAP_EINVAL, "%s: %s", path, strerror(errno));
    struct npy_head h = {0};
    int rc = npy_header(path, f, &h, err);
    if (rc < 0) {
        fclose(f);
        return rc;
    }
    struct builder b;
    b_init(&b, path);
    for (size_t c = 0; c < h.cols; c++) {
        char nm[32];
        if (nnames == h.cols)
            b_add_column(&b, names[c], strlen(names[c]));
        else {
            snprintf(nm, sizeof nm, "f%zu", c);
            b_add_column(&b, nm, strlen(nm));
        }
        b.cb[c].all_int = h.kind != 'f';
        b.cb[c].num = cap_xmalloc((h.rows ? h.rows : 1) * sizeof(double));
    }
    b.cap = h.rows;
    /* one row (or, Fortran order, one column) at a time */
    size_t run = h.fortran ? h.rows : h.cols, nrun = h.fortran ? h.cols : h.rows;
    unsigned char *buf = cap_xmalloc((run ? run : 1) * (size_t)h.size);
    for (size_t i = 0; i < nrun && rc == 0; i++) {
        if (fread(buf, (size_t)h.size, run, f) != run) {
            rc = cap_err(err, CAP_EINVAL, "%s: truncated .npy data (%zu x %zu expected)", path,
                         h.rows, h.cols);
            break;
        }
        for (size_t j = 0; j < run; j++) {
            double v = npy_value(&h, buf + j * (size_t)h.size);
            size_t r = h.fortran ? j : i, c = h.fortran ? i : j;
            b.cb[c].num[r] = v;
            if (isnan(v))
                b.cb[c].any_na = true;
        }
    }
    free(buf);
    fclose(f);
    b.nrows = h.rows;
    if (rc < 0)
        b_free(&b);
    else
        b_finish(&b, out);
    return rc;
}

/* ---- entry ---- */

/* Two columns of one name would make every later lookup ambiguous (pandas
 * renames the second "x.1"; a reader of our report could not tell them
 * apart). */
static int check_unique_names(const char *path, struct mon_frame *f, struct cap_error *err)
{
    for (size_t i = 0; i < f->ncols; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(f->cols[i].name, f->cols[j].name) == 0) {
                int rc = cap_err(err, CAP_EINVAL,
                                 "%s: column '%s' appears twice (columns %zu and %zu)", path,
                                 f->cols[i].name, j + 1, i + 1);
                mon_frame_free(f);
                return rc;
            }
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int mon_frame_read(const char *path, const char *const *names, size_t nnames,
                   struct mon_frame *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    if (ends_with(path, ".npy")) {
        int rc = npy_read(path, names, nnames, out, err);
        return rc < 0 ? rc : check_unique_names(path, out, err);
    }
    bool jsonl = ends_with(path, ".jsonl") || ends_with(path, ".ndjson");
    if (!jsonl && !ends_with(path, ".csv"))
        return cap_err(err, CAP_EINVAL, "%s: unknown file type (expected .csv, .jsonl or .npy)",
                       path);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return cap_err(err, CAP_EINVAL, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return cap_err(err, CAP_EINVAL, "%s: %s", path, strerror(errno));
    }
    size_t len = (size_t)st.st_size;
    /* Mapped, not read: the file is walked once and its pages can go back
     * to the page cache; only a column that turns out to hold text has its
     * earlier cells read a second time. */
    const char *data = "";
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            close(fd);
            return cap_err(err, CAP_EINVAL, "%s: %s", path, strerror(errno));
        }
        madvise(map, len, MADV_SEQUENTIAL);
        data = map;
    }
    close(fd);
    int rc = jsonl ? jsonl_read(path, data, len, out, err) : csv_read(path, data, len, out, err);
    if (map)
        munmap(map, len);
    return rc < 0 ? rc : check_unique_names(path, out, err);
}
