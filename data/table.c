/* table.c - a table's summary (pandas' describe() and value_counts()), its
 * monitoring profile and its schema checks, from one read of the file when
 * it fits the memory bound, else from a typing pass and a pass per group
 * of columns (table.h). */
#include "data/table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"

bool data_table_is_table(const char *name)
{
    enum mon_format fmt;
    return mon_frame_format(name, &fmt, NULL) == 0;
}

/* ---- numeric columns: describe() ---- */

/* A running sum with its rounding error carried beside it (TwoSum): within
 * ~2 ulp of the exact sum at any n, where a plain loop drifts by up to
 * n * 2^-53 relative (1e-10 at a million rows, against our 1e-12 budget
 * beside pandas). */
struct csum {
    double s, c;
};

static void csum_add(struct csum *a, double x)
{
    double t = a->s + x, z = t - a->s;
    a->c += (a->s - (t - z)) + (x - z);
    a->s = t;
}

static double csum_get(const struct csum *a)
{
    return isfinite(a->s) ? a->s + a->c : a->s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.quantile's "linear" method on m sorted values, operation for
 * operation (so the same doubles come out): the virtual index (m - 1) q,
 * its floor and fraction g, and the interpolation from whichever end is
 * nearer (numpy's _lerp). */
static double quantile(const double *v, size_t m, double q)
{
    double vi = (double)(m - 1) * q, lo = floor(vi), g = vi - lo;
    bool last = vi >= (double)(m - 1); /* both ends are then the last value */
    size_t i = last ? m - 1 : (size_t)lo, j = last ? m - 1 : i + 1;
    double a = v[i], b = v[j], d = b - a;
    return g >= 0.5 ? b - d * (1 - g) : a + d * g;
}

/* A number or null (NaN, infinities: JSON has none). */
static void add_num(cJSON *o, const char *key, double v)
{
    cJSON_AddItemToObject(o, key, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

/* pandas: mean = sum / count; std = sqrt(sum((mean - x)^2) / (count - 1)),
 * both over the values not missing. */
static void num_stats(cJSON *o, const struct mon_column *k, size_t nrows)
{
    double *v = cap_xmalloc((nrows ? nrows : 1) * sizeof *v);
    size_t m = 0;
    struct csum sum = {0}, sq = {0};
    for (size_t r = 0; r < nrows; r++)
        if (!isnan(k->num[r])) {
            v[m++] = k->num[r];
            csum_add(&sum, k->num[r]);
        }
    double mean = m ? csum_get(&sum) / (double)m : NAN;
    for (size_t i = 0; i < m; i++)
        csum_add(&sq, (mean - v[i]) * (mean - v[i]));
    qsort(v, m, sizeof *v, cmp_double);
    size_t distinct = m ? 1 : 0;
    for (size_t i = 1; i < m; i++)
        distinct += v[i] != v[i - 1];
    cJSON_AddNumberToObject(o, "count", (double)m);
    cJSON_AddNumberToObject(o, "missing", (double)(nrows - m));
    add_num(o, "min", m ? v[0] : NAN);
    add_num(o, "max", m ? v[m - 1] : NAN);
    add_num(o, "mean", mean);
    add_num(o, "std", m > 1 ? sqrt(csum_get(&sq) / (double)(m - 1)) : NAN);
    add_num(o, "p25", m ? quantile(v, m, 0.25) : NAN);
    add_num(o, "p50", m ? quantile(v, m, 0.5) : NAN);
    add_num(o, "p75", m ? quantile(v, m, 0.75) : NAN);
    cJSON_AddNumberToObject(o, "distinct", (double)distinct);
    cJSON_AddNullToObject(o, "top");
    free(v);
}

/* ---- text columns: value_counts() ---- */

struct cell {
    const char *s;
    size_t row;
};

static int cmp_cell(const void *a, const void *b)
{
    const struct cell *x = a, *y = b;
    int d = strcmp(x->s, y->s);
    return d ? d : (x->row > y->row) - (x->row < y->row);
}

/* A run of equal values: how many, and the row of the first. */
struct run {
    const char *s;
    size_t count, first;
};

/* More frequent first, then first seen first (value_counts' order). */
static bool run_before(const struct run *a, const struct run *b)
{
    return a->count != b->count ? a->count > b->count : a->first < b->first;
}

/* Inserts r into top[0..*n), kept in order and at most DATA_TABLE_TOP. */
static void top_insert(struct run *top, size_t *n, const struct run *r)
{
    size_t i = *n;
    if (i == DATA_TABLE_TOP) {
        if (!run_before(r, &top[i - 1]))
            return;
        i--;
    } else {
        (*n)++;
    }
    for (; i > 0 && run_before(r, &top[i - 1]); i--)
        top[i] = top[i - 1];
    top[i] = *r;
}

/* Sorting the cells with their rows gives each value's count and first
 * row in one pass over the runs: no hash table, 16 bytes a cell. */
static void text_stats(cJSON *o, const struct mon_column *k, size_t nrows)
{
    struct cell *c = cap_xmalloc((nrows ? nrows : 1) * sizeof *c);
    size_t m = 0, distinct = 0, ntop = 0;
    for (size_t r = 0; r < nrows; r++)
        if (k->text[r])
            c[m++] = (struct cell){k->text[r], r};
    qsort(c, m, sizeof *c, cmp_cell);
    struct run top[DATA_TABLE_TOP];
    for (size_t i = 0; i < m;) {
        struct run r = {c[i].s, 0, c[i].row};
        for (; i < m && strcmp(c[i].s, r.s) == 0; i++)
            r.count++;
        distinct++;
        top_insert(top, &ntop, &r);
    }
    cJSON_AddNumberToObject(o, "count", (double)m);
    cJSON_AddNumberToObject(o, "missing", (double)(nrows - m));
    const char *none[] = {"min", "max", "mean", "std", "p25", "p50", "p75"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        cJSON_AddNullToObject(o, none[i]);
    cJSON_AddNumberToObject(o, "distinct", (double)distinct);
    cJSON *t = cJSON_AddArrayToObject(o, "top");
    for (size_t i = 0; i < ntop; i++) {
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(top[i].s));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)top[i].count));
        cJSON_AddItemToArray(t, pair);
    }
    free(c);
}

static cJSON *column_json(const struct mon_column *k, size_t nrows)
{
    static const char *const types[] = {[MON_INT] = "integer", [MON_FLOAT] = "float",
                                        [MON_TEXT] = "string"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", k->name);
    cJSON_AddStringToObject(o, "type", types[k->dtype]);
    size_t missing = 0;
    for (size_t r = 0; r < nrows; r++)
        missing += k->dtype == MON_TEXT ? k->text[r] == NULL : isnan(k->num[r]);
    cJSON_AddBoolToObject(o, "nullable", missing > 0);
    if (k->dtype == MON_TEXT)
        text_stats(o, k, nrows);
    else
        num_stats(o, k, nrows);
    return o;
}

/* ---- reading: whole, or a group of columns at a time ---- */

struct job {
    const char *path;
    cJSON *cols;                    /* the summary's columns so far */
    struct mon_profile *prof;       /* NULL: the table has no rows */
    struct data_schema_check *check; /* NULL: no schema */
};

/* The columns of f with keep[c] (NULL: all): summary, profile, rules. */
static int analyse(struct job *j, const struct mon_frame *f, const bool *keep,
                   struct cap_error *err)
{
    for (size_t c = 0; c < f->ncols; c++)
        if (!keep || keep[c])
            cJSON_AddItemToArray(j->cols, column_json(&f->cols[c], f->nrows));
    int rc = j->prof ? mon_profile_table_add(j->prof, f, keep, err) : 0;
    if (rc == 0 && j->check)
        data_schema_check_columns(j->check, f, keep);
    return rc;
}

static size_t frame_bytes(const struct mon_frame *f, const bool *keep)
{
    size_t n = 0;
    for (size_t c = 0; c < f->ncols; c++)
        n += !keep || keep[c] ? mon_column_bytes(&f->cols[c], f->nrows) : 0;
    return n;
}

/* Bytes for messages: "12.34 MiB", or "850 bytes" below a tenth of one. */
static const char *size_text(size_t bytes, char buf[32])
{
    if (bytes < 104858)
        snprintf(buf, 32, "%zu bytes", bytes);
    else
        snprintf(buf, 32, "%.2f MiB", (double)bytes / (1024.0 * 1024.0));
    return buf;
}

/* Reads the columns of shell with keep[c] (typed as there). */
static int read_cols(const char *path, const struct mon_frame *shell, const bool *keep,
                     struct mon_frame *out, struct cap_error *err)
{
    struct mon_frame_limits lim = {.types = shell, .keep = keep};
    bool complete;
    return mon_frame_read_limited(path, NULL, 0, &lim, out, &complete, err);
}

/* Groups of consecutive columns that fit beside one column's work. */
static int by_groups(struct job *j, const struct mon_frame *shell, size_t max_bytes,
                     size_t *ngroups, struct cap_error *err)
{
    size_t work = DATA_TABLE_WORK_BYTES * shell->nrows;
    size_t room = max_bytes > work ? max_bytes - work : 0;
    bool *keep = cap_xcalloc(shell->ncols + 1, sizeof *keep);
    char b[3][32];
    int rc = 0;
    for (size_t from = 0, to; from < shell->ncols && rc == 0; from = to) {
        size_t used = 0;
        for (to = from; to < shell->ncols; to++) {
            size_t cost = mon_column_bytes(&shell->cols[to], shell->nrows);
            if (to == from && cost > room)
                rc = cap_err(err, CAP_EINVAL, "%s: a memory budget of %s is too small: "
                             "column '%s' needs %s (%zu rows, %s of them for its work)",
                             j->path, size_text(max_bytes, b[0]), shell->cols[to].name,
                             size_text(cost + work, b[1]), shell->nrows, size_text(work, b[2]));
            if (rc < 0 || (to > from && used + cost > room))
                break;
            used += cost;
            keep[to] = true;
        }
        struct mon_frame g;
        if (rc == 0 && (rc = read_cols(j->path, shell, keep, &g, err)) == 0) {
            rc = analyse(j, &g, keep, err);
            mon_frame_free(&g);
        }
        memset(keep, 0, shell->ncols * sizeof *keep);
        ++*ngroups;
    }
    free(keep);
    return rc;
}

/* Each unique key: on f when it is not NULL (the whole read), else its
 * columns read alone (a pass over the file per key). */
static int check_keys(struct job *j, const struct mon_frame *shell, const struct mon_frame *f,
                      size_t max_bytes, struct cap_error *err)
{
    int rc = 0;
    for (size_t k = 0; j->check && k < data_schema_check_nkeys(j->check) && rc == 0; k++) {
        const bool *keep = data_schema_check_key_cols(j->check, k);
        if (!keep)
            continue;
        if (f) {
            data_schema_check_key(j->check, k, f);
            continue;
        }
        size_t need = frame_bytes(shell, keep) + sizeof(size_t) * shell->nrows;
        struct mon_frame g;
        char b[2][32];
        if (need > max_bytes)
            rc = cap_err(err, CAP_EINVAL, "%s: a memory budget of %s is too small: a "
                         "unique key's columns need %s (%zu rows)", j->path,
                         size_text(max_bytes, b[0]), size_text(need, b[1]), shell->nrows);
        else if ((rc = read_cols(j->path, shell, keep, &g, err)) == 0) {
            data_schema_check_key(j->check, k, &g);
            mon_frame_free(&g);
        }
    }
    return rc;
}

/* The whole read fits with one column's work and a key's row order. */
static bool fits(const struct mon_frame *f, size_t max_bytes)
{
    size_t work = (DATA_TABLE_WORK_BYTES + sizeof(size_t)) * f->nrows;
    return frame_bytes(f, NULL) + work <= max_bytes;
}

static int profile(struct job *j, struct mon_frame *f, bool complete, size_t max_bytes,
                   size_t *ngroups, struct cap_error *err)
{
    if (complete && fits(f, max_bytes)) {
        int rc = analyse(j, f, NULL, err);
        return rc < 0 ? rc : check_keys(j, f, f, max_bytes, err);
    }
    mon_frame_drop_cells(f); /* the shell the groups' reads are typed by */
    int rc = by_groups(j, f, max_bytes, ngroups, err);
    return rc < 0 ? rc : check_keys(j, f, NULL, max_bytes, err);
}

int data_table_profile(const char *path, const struct data_schema *schema, size_t max_bytes,
                       struct data_table *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    cap_buf_init(&out->profile);
    if (!max_bytes)
        max_bytes = DATA_TABLE_MAX_BYTES;
    struct mon_frame f;
    bool complete;
    struct mon_frame_limits lim = {.max_bytes = max_bytes};
    int rc = mon_frame_read_limited(path, NULL, 0, &lim, &f, &complete, err);
    if (rc < 0)
        return rc;
    struct job j = {.path = path, .cols = cJSON_CreateArray(),
                    .prof = f.nrows ? mon_profile_table_new() : NULL,
                    .check = schema ? data_schema_check_new(schema, path, &f) : NULL};
    rc = profile(&j, &f, complete, max_bytes, &out->groups, err);
    if (j.check) {
        int frc = data_schema_check_finish(j.check, rc == 0 ? &out->violations : NULL, err);
        rc = rc < 0 ? rc : frc;
    }
    mon_profile_table_finish(j.prof, rc == 0 ? &out->profile : NULL);
    if (rc == 0) {
        out->summary = cJSON_CreateObject();
        cJSON_AddNumberToObject(out->summary, "rows", (double)f.nrows);
        cJSON_AddItemToObject(out->summary, "columns", j.cols);
        if (!out->violations)
            out->violations = cJSON_CreateArray();
    } else {
        cJSON_Delete(j.cols);
        data_table_free(out);
    }
    mon_frame_free(&f);
    return rc;
}

void data_table_free(struct data_table *t)
{
    cJSON_Delete(t->summary);
    cJSON_Delete(t->violations);
    cap_buf_free(&t->profile);
    memset(t, 0, sizeof *t);
    cap_buf_init(&t->profile);
}
