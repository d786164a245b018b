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
#include <pthread.h>
#include <stdatomic.h>
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

/* What a read does with a column's cells: keep them, only type them (the
 * column's pandas type, no cells: a frame larger than its budget), or skip
 * them (a column group's read of columns typed before). */
enum col_mode { COL_STORE, COL_TYPE, COL_SKIP };

struct colb {
    double *num;
    char **text;
    bool is_text, all_int, any_na;
    size_t text_line;
    enum col_mode mode;
    size_t text_bytes; /* the cells' bytes, for the estimate of a column read as text */
};

/* The bytes a read may hold, shared by the parts of one file read on
 * several threads; once over, every part drops its cells and only types. */
struct budget {
    size_t limit;
    atomic_size_t used;
    atomic_bool over;
};

struct builder {
    const char *path;
    struct colb *cb;
    char **names;
    size_t ncols, nrows, cap;
    size_t col_cap;      /* room in cb and names */
    size_t line;         /* the file line being read */
    struct budget *bud;  /* NULL: no limit */
    size_t row_bytes;    /* text bytes of the row being read, charged at its end */
    bool storing;        /* some column keeps its cells */
    bool typed;          /* the types come from an earlier read: no column turns text */
    const struct frame_lim *lim; /* applied once the columns are known (JSONL: its first row) */
};

/* A text cell's cost beyond its pointer: the bytes, the NUL and malloc's
 * header and rounding (16 bytes on glibc, more under ASan: an estimate). */
#define CELL_OVERHEAD 17u

static void b_init(struct builder *b, const char *path)
{
    memset(b, 0, sizeof *b);
    b->path = path;
}

/* How one read is bounded (mon_frame_limits, resolved). */
struct frame_lim {
    struct budget *bud;             /* NULL: no limit */
    const struct mon_frame *types;  /* a column group's read: the types read before */
    const bool *keep;               /* with types: the columns read */
};

/* Applies lim to b once its columns are known: a group read starts each
 * column with its known type and (reserve: not for the CSV header's
 * builder, whose parts read the rows) room for every row: no regrowth, no
 * re-read as text; it skips the columns it does not keep. */
static int b_limit(struct builder *b, const struct frame_lim *lim, bool reserve,
                   struct cap_error *err)
{
    if (!lim)
        return 0;
    b->bud = lim->bud;
    if (!lim->types)
        return 0;
    if (lim->types->ncols != b->ncols)
        return cap_err(err, CAP_EINVAL,
                       "%s: the file changed while it was read (%zu columns, then %zu)", b->path,
                       lim->types->ncols, b->ncols);
    b->typed = true;
    b->storing = false;
    b->cap = lim->types->nrows ? lim->types->nrows : 1;
    for (size_t c = 0; c < b->ncols; c++) {
        struct colb *k = &b->cb[c];
        k->is_text = lim->types->cols[c].dtype == MON_TEXT;
        k->mode = lim->keep[c] ? COL_STORE : COL_SKIP;
        if (k->mode != COL_STORE)
            continue;
        b->storing = true;
        if (!reserve)
            continue;
        if (k->is_text)
            k->text = cap_xcalloc(b->cap, sizeof *k->text);
        else
            k->num = cap_xmalloc(b->cap * sizeof *k->num);
    }
    return 0;
}

/* Room doubles: one realloc a column made a 33,333-column .npy header
 * (0 rows, 267 bytes) take 95 s under the fuzzer's ASan build. */
static void b_add_column(struct builder *b, const char *name, size_t n)
{
    if (b->ncols == b->col_cap) {
        b->col_cap = b->col_cap ? b->col_cap * 2 : 16;
        b->names = cap_xrealloc(b->names, b->col_cap * sizeof *b->names);
        b->cb = cap_xrealloc(b->cb, b->col_cap * sizeof *b->cb);
    }
    b->names[b->ncols] = cap_xstrndup(name, n);
    b->cb[b->ncols] = (struct colb){.all_int = true};
    b->ncols++;
    b->storing = true;
}

static void b_charge(struct builder *b, size_t bytes)
{
    if (b->bud && atomic_fetch_add(&b->bud->used, bytes) + bytes > b->bud->limit)
        atomic_store(&b->bud->over, true);
}

/* Makes room for row b->nrows in every column kept. */
static void b_grow(struct builder *b)
{
    if (b->nrows < b->cap)
        return;
    size_t old = b->cap, kept = 0;
    b->cap = b->cap ? b->cap * 2 : 1024;
    for (size_t c = 0; c < b->ncols; c++) {
        struct colb *k = &b->cb[c];
        if (k->mode != COL_STORE)
            continue;
        kept++;
        if (k->is_text)
            k->text = cap_xrealloc(k->text, b->cap * sizeof *k->text);
        else
            k->num = cap_xrealloc(k->num, b->cap * sizeof *k->num);
    }
    b_charge(b, (b->cap - old) * sizeof(double) * kept);
}

/* Over budget: the cells read so far go, the columns are only typed from
 * here on (between rows). */
static void b_drop_cells(struct builder *b)
{
    for (size_t c = 0; c < b->ncols; c++) {
        struct colb *k = &b->cb[c];
        if (k->text)
            for (size_t r = 0; r < b->nrows; r++)
                free(k->text[r]);
        free(k->text);
        free(k->num);
        k->text = NULL;
        k->num = NULL;
        if (k->mode == COL_STORE)
            k->mode = COL_TYPE;
    }
    b->storing = false;
}

/* At the end of a row: charges its text and stops keeping cells once the
 * budget is spent. */
static void b_row_done(struct builder *b)
{
    if (!b->bud)
        return;
    if (b->row_bytes)
        b_charge(b, b->row_bytes);
    b->row_bytes = 0;
    if (b->storing && atomic_load(&b->bud->over))
        b_drop_cells(b);
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
    k->is_text = true;
    k->text_line = b->line;
    if (k->mode != COL_STORE)
        return;
    char **t = cap_xmalloc(b->cap * sizeof *t);
    for (size_t r = 0; r < b->nrows; r++) {
        t[r] = recover(ctx, r, c);
        b->row_bytes += t[r] ? strlen(t[r]) + CELL_OVERHEAD : 0;
    }
    free(k->num);
    k->num = NULL;
    k->text = t;
}

/* Stores a text cell of a column (taking t), or frees it when the column
 * keeps no cells. */
static void b_put_text(struct builder *b, struct colb *k, char *t)
{
    if (k->mode != COL_STORE) {
        free(t);
        return;
    }
    k->text[b->nrows] = t;
    b->row_bytes += t ? strlen(t) + CELL_OVERHEAD : 0;
}

/* Stores one cell given as text. */
static void b_cell_text(struct builder *b, size_t c, const char *s, size_t n,
                        recover_fn recover, void *ctx)
{
    struct colb *k = &b->cb[c];
    double v;
    if (k->mode == COL_SKIP)
        return;
    k->text_bytes += n;
    if (!k->is_text) {
        if (cap_text_to_double(s, n, &v)) {
            if (k->mode == COL_STORE)
                k->num[b->nrows] = v;
            if (isnan(v))
                k->any_na = true;
            else if (k->all_int && !is_int_literal(s, n))
                k->all_int = false;
            return;
        }
        b_to_text(b, c, recover, ctx);
    }
    if (k->mode == COL_STORE)
        b_put_text(b, k, text_cell(s, n));
}

/* Frees the first ncells cells of the row being read (not yet counted in
 * nrows), when that row turns out bad. */
static void b_drop_row(struct builder *b, size_t ncells)
{
    for (size_t c = 0; c < ncells && c < b->ncols; c++)
        if (b->cb[c].is_text && b->cb[c].text)
            free(b->cb[c].text[b->nrows]);
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
        o->text_bytes = k->text_bytes;
        o->dtype = k->is_text ? MON_TEXT : (k->all_int && !k->any_na) ? MON_INT : MON_FLOAT;
    }
    free(b->names);
    free(b->cb);
    memset(b, 0, sizeof *b);
}

size_t mon_column_bytes(const struct mon_column *k, size_t nrows)
{
    if (k->dtype == MON_TEXT)
        return nrows * (sizeof(char *) + CELL_OVERHEAD) + k->text_bytes;
    return nrows * sizeof(double);
}

static void b_free(struct builder *b)
{
    struct mon_frame f;
    b_finish(b, &f);
    mon_frame_free(&f);
}

void mon_frame_drop_cells(struct mon_frame *f)
{
    for (size_t c = 0; c < f->ncols; c++) {
        struct mon_column *k = &f->cols[c];
        if (k->text)
            for (size_t r = 0; r < f->nrows; r++)
                free(k->text[r]);
        free(k->text);
        free(k->num);
        k->text = NULL;
        k->num = NULL;
    }
}

void mon_frame_free(struct mon_frame *f)
{
    mon_frame_drop_cells(f);
    for (size_t c = 0; c < f->ncols; c++)
        free(f->cols[c].name);
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
    if (!released)
        return; /* not a file mapping: dropped pages would read back as zeros */
    size_t done = (size_t)(p - base);
    if (done < *released || done - *released < MON_RELEASE_CHUNK)
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

/* Steps over a blank line at cv->p (skipped as pandas does); false when
 * a record starts there. */
static bool csv_skip_blank(struct csv *cv)
{
    const char *p = cv->p;
    if (!(*p == '\n' || (*p == '\r' && p + 1 < cv->end && p[1] == '\n')))
        return false;
    cv->p = (const char *)memchr(p, '\n', (size_t)(cv->end - p)) + 1;
    cv->line++;
    return true;
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

/* The header row into b's columns; *body is where the data rows start. */
static int csv_header(const char *path, const char *data, size_t len, struct builder *b,
                      const char **body, size_t *body_line, struct cap_error *err)
{
    struct csv cv = {.p = data, .end = data + len, .line = 1};
    cap_buf_init(&cv.field);
    const char *s;
    size_t n;
    bool last = false;
    int rc = 0;
    while (!last) {
        if (csv_field(&cv, &s, &n, &last) < 0) {
            rc = cap_err(err, CAP_EINVAL, "%s: line 1: unterminated quote in the header", path);
            break;
        }
        if (n == 0 && last && b->ncols == 0)
            break;
        b_add_column(b, s, n);
    }
    if (rc == 0 && b->ncols == 0)
        rc = cap_err(err, CAP_EINVAL, "%s: no header row (expected column names)", path);
    cap_buf_free(&cv.field);
    *body = cv.p;
    *body_line = cv.line;
    return rc;
}

/* One stretch of data rows, read into its own builder (on its own thread
 * when the file is read in parts). Lines count from line0. */
struct csv_part {
    const char *path;
    const char *map;        /* the whole data, for release_read; NULL: not a file mapping */
    struct csv cv;
    struct builder b;
    struct cap_error err;
    int rc;
};

static int csv_rows(struct csv_part *pt)
{
    struct csv *cv = &pt->cv;
    struct builder *b = &pt->b;
    const char *s;
    size_t n, ocap = 0, page = (size_t)sysconf(_SC_PAGESIZE);
    /* only whole pages of this part are given back: the part before may
     * still be reading the page this one starts in */
    size_t released = pt->map ? ((size_t)(cv->p - pt->map) + page - 1) / page * page : 0;
    struct csv_recover rctx = {cv};
    bool last;
    while (cv->p < cv->end) {
        size_t line = cv->line;
        const char *start = cv->p;
        if (csv_skip_blank(cv))
            continue;
        b_grow(b);
        if (b->storing && !b->typed) { /* where to re-read a column that turns text */
            if (b->nrows >= ocap) {
                b_charge(b, (b->cap - ocap) * sizeof *cv->row_off);
                ocap = b->cap;
                cv->row_off = cap_xrealloc(cv->row_off, ocap * sizeof *cv->row_off);
            }
            cv->row_off[b->nrows] = start;
        }
        b->line = line;
        size_t c = 0;
        for (last = false; !last; c++) {
            if (csv_field(cv, &s, &n, &last) < 0) {
                b_drop_row(b, c);
                return cap_err(&pt->err, CAP_EINVAL, "%s: line %zu: unterminated quote",
                               pt->path, line);
            }
            if (c >= b->ncols) {
                b_drop_row(b, c);
                return cap_err(&pt->err, CAP_EINVAL,
                               "%s: line %zu: more than the header's %zu fields", pt->path, line,
                               b->ncols);
            }
            b_cell_text(b, c, s, n, csv_recover, &rctx);
        }
        if (c != b->ncols) {
            b_drop_row(b, c);
            return cap_err(&pt->err, CAP_EINVAL, "%s: line %zu: %zu fields, the header has %zu",
                           pt->path, line, c, b->ncols);
        }
        b->nrows++;
        b_row_done(b);
        if (!b->storing && cv->row_off) {
            free(cv->row_off);
            cv->row_off = NULL;
        }
        release_read(pt->map, cv->p, pt->map ? &released : NULL);
    }
    return 0;
}

static void *csv_rows_thread(void *arg)
{
    struct csv_part *pt = arg;
    pt->rc = csv_rows(pt);
    return NULL;
}

static void part_init(struct csv_part *pt, const char *path, const char *map,
                      const struct builder *head, const char *p, const char *end, size_t line)
{
    memset(pt, 0, sizeof *pt);
    pt->path = path;
    pt->map = map;
    pt->cv = (struct csv){.p = p, .end = end, .line = line};
    cap_buf_init(&pt->cv.field);
    b_init(&pt->b, path);
    for (size_t c = 0; c < head->ncols; c++)
        b_add_column(&pt->b, head->names[c], strlen(head->names[c]));
    pt->b.bud = head->bud;
    pt->b.typed = head->typed;
    pt->b.storing = head->storing;
    pt->b.cap = head->typed ? head->cap : 0;
    for (size_t c = 0; c < head->ncols; c++) {
        struct colb *k = &pt->b.cb[c];
        const struct colb *h = &head->cb[c];
        k->mode = h->mode;
        k->is_text = h->is_text;
        if (head->typed && k->mode == COL_STORE) { /* one part: the room reserved for all rows */
            if (k->is_text)
                k->text = cap_xcalloc(pt->b.cap, sizeof *k->text);
            else
                k->num = cap_xmalloc(pt->b.cap * sizeof *k->num);
        }
    }
}

static void part_free(struct csv_part *pt)
{
    free(pt->cv.row_off);
    cap_buf_free(&pt->cv.field);
    if (pt->b.cb)
        b_free(&pt->b);
}

/* A file read in parts is cut at newlines, which is right only when no
 * field is quoted (a quoted field may hold a newline): a file with a quote
 * character anywhere is read in one part. Parts of less than this are not
 * worth a thread. */
#define CSV_PART_MIN (8u << 20)
#define CSV_MAX_PARTS 8

/* Whether the data holds a quote. The scan gives the pages of a mapped
 * file back as it goes: one memchr over a 8 GB file left all of it
 * resident (8 GB peak RSS for a 1 GB budget) before a row was read. */
static bool has_quote(const char *map, const char *body, const char *end)
{
    size_t released = 0;
    for (const char *p = body; p < end;) {
        size_t n = (size_t)(end - p) < MON_RELEASE_CHUNK ? (size_t)(end - p) : MON_RELEASE_CHUNK;
        if (memchr(p, '"', n))
            return true;
        p += n;
        release_read(map, p, map ? &released : NULL);
    }
    return false;
}

static size_t csv_nparts(const struct builder *b, const char *map, const char *body,
                         const char *end)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t want = (size_t)(end - body) / CSV_PART_MIN;
    /* a group read is one part: its columns have room for every row, and
     * joining parts would copy them */
    if (b->typed || cpus < 2 || want < 2 || has_quote(map, body, end))
        return 1;
    size_t n = want < (size_t)cpus ? want : (size_t)cpus;
    return n < CSV_MAX_PARTS ? n : CSV_MAX_PARTS;
}

/* Joins the parts' columns, in order, into b (which holds the names). A
 * column that is text in any part is text in all: the other parts re-read
 * its cells as text first. */
static void csv_join(struct builder *b, struct csv_part *parts, size_t np)
{
    size_t total = 0;
    for (size_t k = 0; k < np; k++)
        total += parts[k].b.nrows;
    b->nrows = b->cap = total;
    for (size_t c = 0; c < b->ncols; c++) {
        struct colb *o = &b->cb[c];
        for (size_t k = 0; k < np; k++) {
            if (parts[k].b.cb[c].is_text && !o->is_text) {
                o->is_text = true;
                o->text_line = parts[k].b.cb[c].text_line;
            }
            o->text_bytes += parts[k].b.cb[c].text_bytes;
        }
        if (o->mode != COL_STORE) { /* typed only, or skipped: no cells */
            for (size_t k = 0; k < np; k++) {
                o->all_int &= parts[k].b.cb[c].all_int;
                o->any_na |= parts[k].b.cb[c].any_na;
            }
            continue;
        }
        if (np == 1) { /* the part's columns, not a copy */
            struct colb *pc = &parts[0].b.cb[c];
            o->num = pc->num;
            o->text = pc->text;
            o->all_int = pc->all_int;
            o->any_na = pc->any_na;
            pc->num = NULL;
            pc->text = NULL;
            continue;
        }
        if (o->is_text)
            o->text = cap_xmalloc((total ? total : 1) * sizeof *o->text);
        else
            o->num = cap_xmalloc((total ? total : 1) * sizeof *o->num);
        size_t at = 0;
        for (size_t k = 0; k < np; k++) {
            struct builder *pb = &parts[k].b;
            struct colb *pc = &pb->cb[c];
            if (o->is_text && !pc->is_text) {
                struct csv_recover rctx = {&parts[k].cv};
                b_to_text(pb, c, csv_recover, &rctx);
            }
            if (pb->nrows == 0) {
                /* nothing to copy (and no array: a part may hold only blank lines) */
            } else if (o->is_text) {
                memcpy(o->text + at, pc->text, pb->nrows * sizeof *o->text);
            } else {
                memcpy(o->num + at, pc->num, pb->nrows * sizeof *o->num);
                o->all_int &= pc->all_int;
                o->any_na |= pc->any_na;
            }
            free(pc->text);
            free(pc->num);
            pc->text = NULL;
            pc->num = NULL;
            at += pb->nrows;
        }
    }
}

static int csv_read(const char *path, const char *data, size_t len, bool mapped,
                    const struct frame_lim *lim, struct mon_frame *out, struct cap_error *err)
{
    struct builder b;
    b_init(&b, path);
    const char *body, *end = data + len;
    size_t body_line;
    int rc = csv_header(path, data, len, &b, &body, &body_line, err);
    if (rc == 0)
        rc = b_limit(&b, lim, false, err);
    if (rc < 0) {
        b_free(&b);
        return rc;
    }
    size_t np = csv_nparts(&b, mapped ? data : NULL, body, end);
    struct csv_part parts[CSV_MAX_PARTS];
    pthread_t th[CSV_MAX_PARTS];
    bool started[CSV_MAX_PARTS] = {0};
    const char *p = body;
    for (size_t k = 0; k < np; k++) {
        const char *e = k + 1 < np ? body + (size_t)(end - body) * (k + 1) / np : end;
        const char *nl = e < end ? memchr(e, '\n', (size_t)(end - e)) : NULL;
        e = k + 1 < np ? (nl ? nl + 1 : end) : end;
        part_init(&parts[k], path, mapped ? data : NULL, &b, p, e, k == 0 ? body_line : 0);
        p = e;
    }
    for (size_t k = 1; k < np; k++)
        started[k] = pthread_create(&th[k], NULL, csv_rows_thread, &parts[k]) == 0;
    parts[0].rc = csv_rows(&parts[0]);
    for (size_t k = 1; k < np; k++)
        if (started[k])
            pthread_join(th[k], NULL);
        else
            parts[k].rc = csv_rows(&parts[k]);
    /* Later parts counted lines from 0: their first text lines move by
     * the lines before them. An error is read again in one part, where its
     * line number is the file's (errors are rare; this keeps one message). */
    size_t line0 = parts[0].cv.line;
    for (size_t k = 1; k < np && rc == 0; k++) {
        for (size_t c = 0; c < b.ncols; c++)
            if (parts[k].b.cb[c].is_text)
                parts[k].b.cb[c].text_line += line0;
        line0 += parts[k].cv.line;
    }
    for (size_t k = 0; k < np && rc == 0; k++)
        if (parts[k].rc < 0)
            rc = parts[k].rc;
    if (rc < 0 && np > 1) {
        for (size_t k = 1; k < np; k++)
            part_free(&parts[k]);
        part_free(&parts[0]);
        part_init(&parts[0], path, NULL, &b, body, end, body_line);
        np = 1;
        rc = parts[0].rc = csv_rows(&parts[0]);
    }
    if (rc < 0)
        *err = parts[0].err; /* the one part left */
    if (rc == 0 && b.bud && atomic_load(&b.bud->over)) {
        /* a part that ended before another spent the budget still holds cells */
        for (size_t k = 0; k < np; k++)
            b_drop_cells(&parts[k].b);
        b_drop_cells(&b);
    }
    if (rc == 0)
        csv_join(&b, parts, np);
    for (size_t k = 0; k < np; k++)
        part_free(&parts[k]);
    if (rc < 0) {
        b_free(&b);
        return rc;
    }
    b_finish(&b, out);
    return 0;
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
    bool store = k->mode == COL_STORE;
    if (k->mode == COL_SKIP)
        return 0;
    if (!v || cJSON_IsNull(v)) {
        if (k->is_text)
            b_put_text(b, k, NULL);
        else {
            if (store)
                k->num[b->nrows] = NAN;
            k->any_na = true;
        }
        return 0;
    }
    /* pandas' read_json types 1.0 as an integer and reads "3" as a number */
    if (cJSON_IsNumber(v) && !k->is_text) {
        if (store)
            k->num[b->nrows] = v->valuedouble;
        if (k->all_int && v->valuedouble != floor(v->valuedouble))
            k->all_int = false;
        return 0;
    }
    double x;
    if (cJSON_IsString(v) && !k->is_text &&
        cap_text_to_double(v->valuestring, strlen(v->valuestring), &x)) {
        if (store)
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
    k->text_bytes += strlen(s);
    if (store)
        b_put_text(b, k, cJSON_IsString(v) ? text_cell(s, strlen(s)) : cap_xstrdup(s));
    free(owned);
    return 0;
}

static int jl_row(struct builder *b, const cJSON *o, size_t line, struct cap_error *err)
{
    if (!cJSON_IsObject(o))
        return cap_err(err, CAP_EINVAL, "%s: line %zu: not a JSON object", b->path, line);
    /* the first line names the columns, even none ({}): a later line's
     * keys are checked against them, never added (a column added after
     * rows were read had no cells for them) */
    if (b->ncols == 0 && b->nrows == 0) {
        for (const cJSON *it = o->child; it; it = it->next)
            b_add_column(b, it->string, strlen(it->string));
        int rc = b_limit(b, b->lim, true, err);
        if (rc < 0)
            return rc;
    }
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
        if (rc < 0) {
            b_drop_row(b, c);
            return rc;
        }
    }
    b->nrows++;
    b_row_done(b);
    return 0;
}

static int jsonl_read(const char *path, const char *data, size_t len, bool mapped,
                      const struct frame_lim *lim, struct mon_frame *out, struct cap_error *err)
{
    struct builder b;
    b_init(&b, path);
    b.lim = lim;
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
        release_read(data, p, mapped ? &released : NULL);
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

/* Reads the header at data[0..len): h gets the dtype and shape, *body the
 * offset of the array. The counts are checked against what the data holds
 * before anything is allocated: a header may claim any shape. */
static int npy_header(const char *path, const unsigned char *data, size_t len,
                      struct npy_head *h, size_t *body, struct cap_error *err)
{
    if (len < 10 || memcmp(data, "\x93NUMPY", 6) != 0)
        return cap_err(err, CAP_EINVAL, "%s: not a .npy file (no \\x93NUMPY magic)", path);
    size_t hl, at;
    if (data[6] == 1) {
        hl = data[8] | (size_t)data[9] << 8;
        at = 10;
    } else {
        if (len < 12)
            return cap_err(err, CAP_EINVAL, "%s: truncated .npy header", path);
        hl = data[8] | (size_t)data[9] << 8 | (size_t)data[10] << 16 | (size_t)data[11] << 24;
        at = 12;
    }
    if (hl > len - at)
        return cap_err(err, CAP_EINVAL, "%s: truncated .npy header", path);
    char *txt = cap_xstrndup((const char *)data + at, hl);
    *body = at + hl;
    int rc = 0;
    const char *d = strstr(txt, "'descr'"), *fo = strstr(txt, "'fortran_order'"),
               *sh = strstr(txt, "'shape'");
    char q1, endian, kind;
    int size;
    if (!d || !fo || !sh || sscanf(d, "'descr': %c%c%c%d", &q1, &endian, &kind, &size) != 4 ||
        strchr("fiub", kind) == NULL || endian == '>' ||
        !(kind == 'f' ? size == 4 || size == 8 : size == 1 || size == 2 || size == 4 || size == 8)) {
        rc = cap_err(err, CAP_EINVAL,
                     "%s: unsupported .npy dtype (expected little-endian float32/64, "
                     "integers or bool)",
                     path);
        goto out;
    }
    h->kind = kind;
    h->size = size;
    /* the value after "'fortran_order'", its ':' and spaces: a header may
     * end right after the key (the fuzzer's case: reading a fixed offset
     * past it ran off the end) */
    const char *fv = fo + strlen("'fortran_order'");
    while (*fv == ':' || *fv == ' ')
        fv++;
    h->fortran = strncmp(fv, "True", 4) == 0;
    unsigned long r, c;
    if (sscanf(sh, "'shape': (%lu, %lu)", &r, &c) != 2) {
        rc = cap_err(err, CAP_EINVAL, "%s: the .npy array is not 2-D (expected rows x columns)",
                     path);
        goto out;
    }
    size_t room = (len - *body) / (size_t)size;
    if ((c != 0 && r > room / c) || (c == 0 && r > 0) || c > 100000) {
        rc = cap_err(err, CAP_EINVAL,
                     "%s: the .npy header's shape (%lu, %lu) is larger than its data (%zu "
                     "values; at most 100000 columns)",
                     path, r, c, room);
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

/* A .npy array's types are its dtype's, known from the header: an array
 * larger than the budget is typed without reading a value, and a group
 * read reads only its columns, each value found by its offset. */
static int npy_read(const char *path, const void *data, size_t len, const char *const *names,
                    size_t nnames, const struct frame_lim *lim, struct mon_frame *out,
                    struct cap_error *err)
{
    struct npy_head h = {0};
    size_t at;
    int rc = npy_header(path, data, len, &h, &at, err);
    if (rc < 0)
        return rc;
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
    }
    bool over = lim && lim->bud && h.rows * h.cols > lim->bud->limit / sizeof(double);
    if (over)
        atomic_store(&lim->bud->over, true);
    if (lim && lim->types && (rc = b_limit(&b, lim, true, err)) < 0) {
        b_free(&b);
        return rc;
    }
    for (size_t c = 0; c < h.cols; c++) {
        if (over)
            b.cb[c].mode = COL_TYPE;
        else if (b.cb[c].mode == COL_STORE && !b.cb[c].num)
            b.cb[c].num = cap_xmalloc((h.rows ? h.rows : 1) * sizeof(double));
    }
    const unsigned char *p = (const unsigned char *)data + at;
    for (size_t i = 0; i < h.rows * h.cols && !over; i++, p += h.size) {
        /* C order walks a row at a time, Fortran order a column */
        size_t r = h.fortran ? i % h.rows : i / h.cols, c = h.fortran ? i / h.rows : i % h.cols;
        if (b.cb[c].mode != COL_STORE)
            continue;
        double v = npy_value(&h, p);
        b.cb[c].num[r] = v;
        if (isnan(v))
            b.cb[c].any_na = true;
    }
    b.cap = h.rows;
    b.nrows = h.rows;
    b_finish(&b, out);
    return 0;
}

/* ---- entry ---- */

/* Two columns of one name would make every later lookup ambiguous (pandas
 * renames the second "x.1"; a reader of our report could not tell them
 * apart). */
struct named_col {
    const char *name;
    size_t idx;
};

static int named_col_cmp(const void *a, const void *b)
{
    const struct named_col *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Sorted, not compared pairwise: a 33,333-column .npy header (267 bytes)
 * made the pairwise loop 5.5e8 strcmps. The message names the first
 * column that repeats an earlier one, and that earlier one's first place,
 * as a left-to-right reading finds them. */
static int check_unique_names(const char *path, struct mon_frame *f, struct cap_error *err)
{
    if (f->ncols < 2)
        return 0;
    struct named_col *v = cap_xmalloc(f->ncols * sizeof *v);
    for (size_t i = 0; i < f->ncols; i++)
        v[i] = (struct named_col){f->cols[i].name, i};
    qsort(v, f->ncols, sizeof *v, named_col_cmp);
    size_t first = SIZE_MAX, second = SIZE_MAX;
    for (size_t k = 1; k < f->ncols; k++) {
        bool repeats = strcmp(v[k].name, v[k - 1].name) == 0;
        bool group_start = k == 1 || strcmp(v[k - 1].name, v[k - 2].name) != 0;
        if (repeats && group_start && v[k].idx < second) {
            first = v[k - 1].idx; /* the name's first place, then its second */
            second = v[k].idx;
        }
    }
    free(v);
    if (second == SIZE_MAX)
        return 0;
    int rc = cap_err(err, CAP_EINVAL, "%s: column '%s' appears twice (columns %zu and %zu)", path,
                     f->cols[second].name, first + 1, second + 1);
    mon_frame_free(f);
    return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int mon_frame_format(const char *name, enum mon_format *out, struct cap_error *err)
{
    if (ends_with(name, ".npy"))
        *out = MON_FORMAT_NPY;
    else if (ends_with(name, ".jsonl") || ends_with(name, ".ndjson"))
        *out = MON_FORMAT_JSONL;
    else if (ends_with(name, ".csv"))
        *out = MON_FORMAT_CSV;
    else
        return cap_err(err, CAP_EINVAL, "%s: unknown file type (expected .csv, .jsonl or .npy)",
                       name);
    return 0;
}

/* A group read gives its columns the types read's text lines (no column
 * turns text in it), and must find the rows that read found. */
static int typed_finish(const char *label, const struct frame_lim *lim, struct mon_frame *f,
                        struct cap_error *err)
{
    if (!lim || !lim->types)
        return 0;
    if (f->nrows != lim->types->nrows) {
        int rc = cap_err(err, CAP_EINVAL,
                         "%s: the file changed while it was read (%zu rows, then %zu)", label,
                         lim->types->nrows, f->nrows);
        mon_frame_free(f);
        return rc;
    }
    for (size_t c = 0; c < f->ncols; c++) {
        f->cols[c].text_line = lim->types->cols[c].text_line;
        f->cols[c].text_bytes = lim->types->cols[c].text_bytes;
    }
    return 0;
}

/* mapped: data is a private mapping of a file, whose pages may be given
 * back as they are read (release_read). */
static int frame_parse(const char *label, enum mon_format fmt, const void *data, size_t len,
                       bool mapped, const char *const *names, size_t nnames,
                       const struct frame_lim *lim, struct mon_frame *out, struct cap_error *err)
{
    int rc;
    switch (fmt) {
    case MON_FORMAT_NPY: rc = npy_read(label, data, len, names, nnames, lim, out, err); break;
    case MON_FORMAT_JSONL: rc = jsonl_read(label, data, len, mapped, lim, out, err); break;
    default: rc = csv_read(label, data, len, mapped, lim, out, err); break;
    }
    if (rc == 0)
        rc = typed_finish(label, lim, out, err);
    return rc < 0 ? rc : check_unique_names(label, out, err);
}

int mon_frame_parse(const char *label, enum mon_format fmt, const void *data, size_t len,
                    const char *const *names, size_t nnames, struct mon_frame *out,
                    struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    return frame_parse(label, fmt, data, len, false, names, nnames, NULL, out, err);
}

/* Maps an open file (mapped, not read: the file is walked once and its
 * pages can go back to the page cache; only a column that turns out to
 * hold text has its earlier cells read a second time). An empty file is
 * "" with *map NULL. */
static int map_fd(const char *label, int fd, const char **data, size_t *len, void **map,
                  struct cap_error *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cap_err(err, CAP_EINVAL, "%s: %s", label, strerror(errno));
    *len = (size_t)st.st_size;
    *data = "";
    *map = NULL;
    if (*len > 0) {
        *map = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (*map == MAP_FAILED) {
            *map = NULL;
            return cap_err(err, CAP_EINVAL, "%s: %s", label, strerror(errno));
        }
        madvise(*map, *len, MADV_SEQUENTIAL);
        *data = *map;
    }
    return 0;
}

static int read_fd(const char *label, enum mon_format fmt, int fd, const char *const *names,
                   size_t nnames, const struct frame_lim *lim, struct mon_frame *out,
                   struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    const char *data;
    size_t len;
    void *map;
    int rc = map_fd(label, fd, &data, &len, &map, err);
    if (rc < 0)
        return rc;
    rc = frame_parse(label, fmt, data, len, map != NULL, names, nnames, lim, out, err);
    if (map)
        munmap(map, len);
    return rc;
}

int mon_frame_read_fd(const char *label, enum mon_format fmt, int fd, const char *const *names,
                      size_t nnames, struct mon_frame *out, struct cap_error *err)
{
    return read_fd(label, fmt, fd, names, nnames, NULL, out, err);
}

static int read_path(const char *path, const char *const *names, size_t nnames,
                     const struct frame_lim *lim, struct mon_frame *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    enum mon_format fmt;
    int rc = mon_frame_format(path, &fmt, err);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return cap_err(err, CAP_EINVAL, "%s: %s", path, strerror(errno));
    rc = read_fd(path, fmt, fd, names, nnames, lim, out, err);
    close(fd);
    return rc;
}

int mon_frame_read(const char *path, const char *const *names, size_t nnames,
                   struct mon_frame *out, struct cap_error *err)
{
    return read_path(path, names, nnames, NULL, out, err);
}

int mon_frame_read_limited(const char *path, const char *const *names, size_t nnames,
                           const struct mon_frame_limits *lim, struct mon_frame *out,
                           bool *complete, struct cap_error *err)
{
    struct budget bud = {.limit = lim->max_bytes};
    struct frame_lim fl = {.bud = lim->max_bytes ? &bud : NULL, .types = lim->types,
                           .keep = lim->keep};
    int rc = read_path(path, names, nnames, &fl, out, err);
    *complete = rc == 0 && !atomic_load(&bud.over);
    return rc;
}

/* ---- the lines of rows, for messages ---- */

static int csv_row_lines(const char *path, const char *data, size_t len, const size_t *rows,
                         size_t n, size_t *lines, struct cap_error *err)
{
    struct csv cv = {.p = data, .end = data + len, .line = 1};
    cap_buf_init(&cv.field);
    const char *s;
    size_t fn, i = 0, line = 1;
    bool last = false;
    int rc = 0;
    for (size_t r = 0; rc == 0; r++) { /* r 0 is the header */
        while (cv.p < cv.end && r > 0 && csv_skip_blank(&cv))
            ;
        if (i == n || cv.p >= cv.end)
            break;
        line = cv.line;
        for (last = false; !last && rc == 0;)
            if (csv_field(&cv, &s, &fn, &last) < 0)
                rc = cap_err(err, CAP_EINVAL, "%s: line %zu: unterminated quote", path, line);
        for (; r > 0 && i < n && rows[i] == r - 1; i++)
            lines[i] = line;
    }
    cap_buf_free(&cv.field);
    return rc;
}

static void jsonl_row_lines(const char *data, size_t len, const size_t *rows, size_t n,
                            size_t *lines)
{
    const char *p = data, *end = data + len;
    size_t i = 0, r = 0;
    for (size_t line = 1; p < end && i < n; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end, *q = p;
        while (q < e && isspace((unsigned char)*q))
            q++;
        if (q < e) { /* blank lines hold no row, as in jsonl_read */
            for (; i < n && rows[i] == r; i++)
                lines[i] = line;
            r++;
        }
        p = nl ? nl + 1 : end;
    }
}

int mon_frame_row_lines(const char *path, const size_t *rows, size_t n, size_t *lines,
                        struct cap_error *err)
{
    memset(lines, 0, n * sizeof *lines);
    enum mon_format fmt;
    int rc = mon_frame_format(path, &fmt, err);
    if (rc < 0 || fmt == MON_FORMAT_NPY || n == 0)
        return rc;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return cap_err(err, CAP_EINVAL, "%s: %s", path, strerror(errno));
    const char *data;
    size_t len;
    void *map;
    rc = map_fd(path, fd, &data, &len, &map, err);
    close(fd);
    if (rc == 0 && fmt == MON_FORMAT_CSV)
        rc = csv_row_lines(path, data, len, rows, n, lines, err);
    else if (rc == 0)
        jsonl_row_lines(data, len, rows, n, lines);
    if (map)
        munmap(map, len);
    return rc;
}
