/* profile.c - mergeable column profiles (profile.h): counting a frame
 * into a profile, merging, the binary form, and drift and data quality
 * computed from two profiles.
 *
 * Numeric columns get MON_PROF_BINS = 20 equal-width bins over the
 * reference's finite [min, max]: Evidently bins numerical columns with
 * more than 20 values by Sturges' rule, which gives 18-21 bins for the
 * 10^5-10^6 values of a typical reference, so 20 fixed bins keep about its
 * resolution for psi/kl_div/jensenshannon/hellinger, at 22 counts (176
 * bytes) a column. Every numeric column also counts its values exactly
 * while it has at most MON_PROF_MAXVALS distinct ones: the categorical
 * tests on integer columns, and Evidently's one-bin-per-value rule for
 * columns of <= 20 values, then stay exact. */
#include "monitor/profile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/numfmt.h"
#include "monitor/drift.h"
#include "monitor/valmap.h"
#include "monitor/wire.h"

#define MON_PROF_BINS 20
#define MON_PROF_MAXVALS 256
#define MON_PROF_FEWVALS 20 /* Evidently bins one value a bin up to this many */
#define MON_PROF_MAGIC 0x3146504du /* "MPF1" */

/* ---- the category index: open addressing over the owned keys ---- */

struct cat_index {
    uint32_t *slot; /* entry + 1, 0 when empty */
    size_t mask;
    size_t room;    /* of cat, cat_count and num */
    double *num;    /* numeric columns: each key's value */
};

static uint64_t entry_hash(const struct mon_colprof *c, size_t i)
{
    const struct cat_index *ix = c->cat_index;
    return c->text ? mon_hash_text(c->cat[i]) : mon_hash_num(ix->num[i]);
}

static void index_rehash(struct mon_colprof *c, size_t slots)
{
    struct cat_index *ix = c->cat_index;
    free(ix->slot);
    ix->slot = cap_xcalloc(slots, sizeof *ix->slot);
    ix->mask = slots - 1;
    for (size_t i = 0; i < c->ncat; i++) {
        size_t s = (size_t)entry_hash(c, i) & ix->mask;
        while (ix->slot[s])
            s = (s + 1) & ix->mask;
        ix->slot[s] = (uint32_t)(i + 1);
    }
}

static struct cat_index *index_of(struct mon_colprof *c)
{
    if (!c->cat_index) {
        c->cat_index = cap_xcalloc(1, sizeof(struct cat_index));
        index_rehash(c, 16);
    }
    return c->cat_index;
}

/* The entry of a text key or a numeric value, or SIZE_MAX. */
static size_t cat_find(const struct mon_colprof *c, const char *s, double d)
{
    const struct cat_index *ix = c->cat_index;
    if (!ix)
        return SIZE_MAX;
    uint64_t h = c->text ? mon_hash_text(s) : mon_hash_num(d);
    for (size_t k = (size_t)h & ix->mask; ix->slot[k]; k = (k + 1) & ix->mask) {
        size_t i = ix->slot[k] - 1;
        if (c->text ? strcmp(c->cat[i], s) == 0 : ix->num[i] == d)
            return i;
    }
    return SIZE_MAX;
}

/* Adds a new key (owned copy of s; numeric columns: d's "%.17g" text). */
static size_t cat_insert(struct mon_colprof *c, const char *s, double d)
{
    struct cat_index *ix = index_of(c);
    if (c->ncat == ix->room) {
        ix->room = ix->room ? 2 * ix->room : 8;
        c->cat = cap_xrealloc(c->cat, ix->room * sizeof *c->cat);
        c->cat_count = cap_xrealloc(c->cat_count, ix->room * sizeof *c->cat_count);
        ix->num = cap_xrealloc(ix->num, ix->room * sizeof *ix->num);
    }
    size_t i = c->ncat++;
    if (c->text) {
        c->cat[i] = cap_xstrdup(s);
    } else {
        char t[32];
        snprintf(t, sizeof t, "%.17g", d);
        c->cat[i] = cap_xstrdup(t);
        ix->num[i] = d;
    }
    c->cat_count[i] = 0;
    if (2 * c->ncat > ix->mask + 1)
        index_rehash(c, 2 * (ix->mask + 1));
    else {
        size_t k = (size_t)entry_hash(c, i) & ix->mask;
        while (ix->slot[k])
            k = (k + 1) & ix->mask;
        ix->slot[k] = (uint32_t)(i + 1);
    }
    return i;
}

static void cats_free(struct mon_colprof *c)
{
    for (size_t i = 0; i < c->ncat; i++)
        free(c->cat[i]);
    free(c->cat);
    free(c->cat_count);
    struct cat_index *ix = c->cat_index;
    if (ix) {
        free(ix->slot);
        free(ix->num);
        free(ix);
    }
    c->cat = NULL;
    c->cat_count = NULL;
    c->cat_index = NULL;
    c->ncat = 0;
}

static void count_text(struct mon_colprof *c, const char *s, int64_t n)
{
    size_t i = cat_find(c, s, 0);
    if (i == SIZE_MAX)
        i = cat_insert(c, s, 0);
    c->cat_count[i] += n;
}

/* A numeric column's exact value counts, dropped for good once it has too
 * many values (-0.0 is 0.0, as the tests' codes take them). */
static void count_num(struct mon_colprof *c, double d, int64_t n)
{
    if (!c->cat_complete)
        return;
    d += 0.0;
    size_t i = cat_find(c, NULL, d);
    if (i == SIZE_MAX) {
        if (c->ncat == MON_PROF_MAXVALS) {
            cats_free(c);
            c->cat_complete = false;
            return;
        }
        i = cat_insert(c, NULL, d);
    }
    c->cat_count[i] += n;
}

/* ---- layout and counting ---- */

/* Chan et al.'s pairwise update: the finite values v[0..n) (a batch) into
 * the running mean and sum of squared deviations, in two passes over the
 * batch instead of a division per value. */
static void add_moments(struct mon_colprof *c, const double *v, size_t n)
{
    double sum = 0, m2 = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    double mean = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        m2 += (v[i] - mean) * (v[i] - mean);
    double na = (double)c->n_finite, nb = (double)n, d = mean - c->mean;
    c->mean += d * nb / (na + nb);
    c->m2 += m2 + d * d * na * nb / (na + nb);
    c->n_finite += (int64_t)n;
}

/* numpy.histogram's bins of sorted values, by one merge: e[i] <= x <
 * e[i+1] (the last bin closed), shifted by one: 0 below e[0], nbins + 1
 * above e[nbins]. */
static void add_bins_sorted(struct mon_colprof *c, const double *v, size_t n)
{
    size_t nb = c->nbins, i = 0;
    while (i < n && v[i] < c->edges[0])
        i++;
    c->bins[0] += (int64_t)i;
    for (size_t b = 1; b <= nb; b++) {
        size_t from = i;
        while (i < n && (b < nb ? v[i] < c->edges[b] : v[i] <= c->edges[nb]))
            i++;
        c->bins[b] += (int64_t)(i - from);
    }
    c->bins[nb + 1] += (int64_t)(n - i);
}

/* A batch of numbers (NaN missing, infinities counted apart) into a
 * numeric profile column. Sorting the batch once serves the bins, the
 * bounds and the sketch; per value it cost the live monitor ~70 ns one at
 * a time (a division, a binary search, a sketch level sort per 1,024). */
static void add_numbers(struct mon_colprof *c, const double *x, size_t n)
{
    double *v = cap_xmalloc((n ? n : 1) * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            c->missing++;
        else if (isinf(x[i]))
            *(x[i] > 0 ? &c->pos_inf : &c->neg_inf) += 1;
        else
            v[m++] = x[i];
    }
    for (size_t i = 0; c->cat_complete && i < m; i++)
        count_num(c, v[i], 1);
    if (m) {
        mon_sort(v, m);
        add_moments(c, v, m);
        c->min = fmin(c->min, v[0]);
        c->max = fmax(c->max, v[m - 1]);
        if (c->nbins)
            add_bins_sorted(c, v, m);
        mon_sketch_add_sorted(c->sketch, v, m);
    }
    free(v);
}

static void add_text_column(struct mon_colprof *c, const struct mon_column *k, size_t nrows)
{
    for (size_t i = 0; i < nrows; i++) {
        char t[32];
        const char *s = k->dtype == MON_TEXT ? k->text[i] : NULL;
        if (k->dtype != MON_TEXT && !isnan(k->num[i])) {
            snprintf(t, sizeof t, "%.17g", k->num[i]);
            s = t;
        }
        if (s)
            count_text(c, s, 1);
        else
            c->missing++;
    }
}

/* One frame column into a profile column. A number in a text profile is
 * counted by its "%.17g" text; a text cell in a numeric profile by its
 * number, or as unreadable. */
static void add_column(struct mon_colprof *c, const struct mon_column *k, size_t nrows)
{
    c->count += (int64_t)nrows;
    if (c->text) {
        add_text_column(c, k, nrows);
        return;
    }
    if (k->dtype != MON_TEXT) {
        add_numbers(c, k->num, nrows);
        return;
    }
    double *x = cap_xmalloc((nrows ? nrows : 1) * sizeof *x);
    size_t m = 0;
    for (size_t i = 0; i < nrows; i++) {
        if (!k->text[i])
            x[m++] = NAN;
        else if (cap_text_to_double(k->text[i], strlen(k->text[i]), &x[m]))
            m++;
        else
            c->unreadable++;
    }
    add_numbers(c, x, m);
    free(x);
}

static const struct mon_column *frame_col(const struct mon_frame *f, const char *name)
{
    for (size_t i = 0; i < f->ncols; i++)
        if (strcmp(f->cols[i].name, name) == 0)
            return &f->cols[i];
    return NULL;
}

/* An empty column of the given layout (edges copied when given). */
static void col_init(struct mon_colprof *c, const char *name, enum mon_prof_kind kind, bool text,
                     size_t nbins, const double *edges)
{
    memset(c, 0, sizeof *c);
    c->name = cap_xstrdup(name);
    c->kind = kind;
    c->text = text;
    c->min = INFINITY;
    c->max = -INFINITY;
    c->cat_complete = true;
    if (text)
        return;
    c->nbins = nbins;
    c->edges = nbins ? cap_xmalloc((nbins + 1) * sizeof *c->edges) : NULL;
    if (nbins)
        memcpy(c->edges, edges, (nbins + 1) * sizeof *c->edges);
    c->bins = cap_xcalloc(nbins + 2, sizeof *c->bins);
    c->sketch = mon_sketch_new();
}

/* Equal-width edges as numpy.linspace makes them (the last one exactly
 * hi); none when the column has no finite value. */
static size_t ref_edges(const struct mon_column *k, size_t nrows, double *e)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < nrows; i++)
        if (isfinite(k->num[i])) {
            lo = fmin(lo, k->num[i]);
            hi = fmax(hi, k->num[i]);
        }
    if (lo > hi)
        return 0;
    double step = (hi - lo) / MON_PROF_BINS;
    for (size_t i = 0; i <= MON_PROF_BINS; i++)
        e[i] = (double)i * step + lo;
    e[MON_PROF_BINS] = hi;
    return MON_PROF_BINS;
}

static bool in_names(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static const struct mon_drift_options *opts_or_default(const struct mon_drift_options *o,
                                                       struct mon_drift_options *d)
{
    if (o)
        return o;
    memset(d, 0, sizeof *d);
    d->drift_share = 0.5;
    return d;
}

/* A reference column's layout in c: its kind as mon_drift types it under
 * opt, bins over its finite range. lenient: a column that looks like free
 * text is profiled as categories rather than refused. */
static int ref_col(struct mon_colprof *c, const struct mon_column *k, size_t nrows,
                   const struct mon_drift_options *opt, bool lenient, struct cap_error *err)
{
    enum mon_coltype t = MON_CAT;
    int rc;
    if (k->dtype == MON_TEXT && in_names(opt->numerical, opt->n_numerical, k->name))
        rc = cap_err(err, CAP_EINVAL, "column '%s' is named numerical but holds text", k->name);
    else
        rc = mon_drift_type(k, nrows, opt, &t, err);
    if (rc < 0 && lenient)
        rc = 0, t = k->dtype == MON_TEXT ? MON_CAT : MON_NUM;
    if (rc < 0)
        return rc;
    double e[MON_PROF_BINS + 1];
    size_t nb = k->dtype == MON_TEXT ? 0 : ref_edges(k, nrows, e);
    col_init(c, k->name, t == MON_NUM ? MON_PROF_NUM : MON_PROF_CAT, k->dtype == MON_TEXT, nb, e);
    return 0;
}

int mon_profile_reference(const struct mon_frame *ref, const struct mon_drift_options *opt,
                          struct mon_profile *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    struct mon_drift_options dflt;
    opt = opts_or_default(opt, &dflt);
    int rc;
    if (ref->nrows == 0)
        return cap_err(err, CAP_EINVAL, "the reference data has no rows");
    if ((rc = mon_drift_check(ref, opt, err)) < 0)
        return rc;
    out->cols = cap_xcalloc(ref->ncols ? ref->ncols : 1, sizeof *out->cols);
    for (size_t i = 0; i < ref->ncols; i++) {
        const struct mon_column *k = &ref->cols[i];
        /* a column the options leave out is profiled all the same (a
         * later report may test it), free text then as categories */
        bool tested = !opt->n_columns || in_names(opt->columns, opt->n_columns, k->name);
        if ((rc = ref_col(&out->cols[out->ncols], k, ref->nrows, opt, !tested, err)) < 0) {
            mon_profile_free(out);
            return rc;
        }
        out->ncols++;
    }
    return mon_profile_add(out, ref, err);
}

struct mon_profile *mon_profile_table_new(void)
{
    return cap_xcalloc(1, sizeof(struct mon_profile));
}

int mon_profile_table_add(struct mon_profile *p, const struct mon_frame *f, const bool *keep,
                          struct cap_error *err)
{
    const char *what = f->path && *f->path ? f->path : "the data";
    if (f->nrows == 0)
        return cap_err(err, CAP_EINVAL, "%s: no rows to profile", what);
    if (p->ncols && (size_t)p->rows != f->nrows)
        return cap_err(err, CAP_EINVAL, "%s: %zu rows in a column group, %lld in the first "
                       "(the file changed while it was read?)", what, f->nrows,
                       (long long)p->rows);
    struct mon_drift_options dflt;
    const struct mon_drift_options *opt = opts_or_default(NULL, &dflt);
    p->cols = cap_xrealloc(p->cols, (p->ncols + f->ncols + 1) * sizeof *p->cols);
    for (size_t i = 0; i < f->ncols; i++) {
        if (keep && !keep[i])
            continue;
        struct mon_colprof *c = &p->cols[p->ncols];
        int rc = ref_col(c, &f->cols[i], f->nrows, opt, true, err);
        if (rc < 0)
            return rc;
        add_column(c, &f->cols[i], f->nrows);
        p->ncols++;
    }
    p->rows = (int64_t)f->nrows;
    return 0;
}

void mon_profile_table_finish(struct mon_profile *p, struct cap_buf *out)
{
    if (!p)
        return;
    if (out)
        mon_profile_encode(p, out);
    mon_profile_free(p);
    free(p);
}

void mon_profile_empty_like(const struct mon_profile *ref, struct mon_profile *out)
{
    memset(out, 0, sizeof *out);
    out->cols = cap_xcalloc(ref->ncols ? ref->ncols : 1, sizeof *out->cols);
    out->ncols = ref->ncols;
    for (size_t i = 0; i < ref->ncols; i++) {
        const struct mon_colprof *r = &ref->cols[i];
        col_init(&out->cols[i], r->name, r->kind, r->text, r->nbins, r->edges);
        /* a numeric column whose reference has too many values for exact
         * counts never compares counts with a window: counting them there
         * cost a hash lookup per cell (18% of the live monitor's CPU) */
        if (!r->text && !r->cat_complete)
            out->cols[i].cat_complete = false;
    }
}

int mon_profile_add(struct mon_profile *p, const struct mon_frame *f, struct cap_error *err)
{
    for (size_t i = 0; i < p->ncols; i++)
        if (!frame_col(f, p->cols[i].name))
            return cap_err(err, CAP_EINVAL, "column '%s' of the profile is missing from %s",
                           p->cols[i].name, f->path && *f->path ? f->path : "the data");
    for (size_t i = 0; i < p->ncols; i++)
        add_column(&p->cols[i], frame_col(f, p->cols[i].name), f->nrows);
    p->rows += (int64_t)f->nrows;
    return 0;
}

/* ---- merge ---- */

int mon_profile_layout_check(const struct mon_profile *a, const struct mon_profile *b,
                             struct cap_error *err)
{
    if (a->ncols != b->ncols)
        return cap_err(err, CAP_EINVAL,
                       "the profiles have different layouts (%zu and %zu columns)", a->ncols,
                       b->ncols);
    for (size_t i = 0; i < a->ncols; i++) {
        const struct mon_colprof *x = &a->cols[i], *y = &b->cols[i];
        const char *what = strcmp(x->name, y->name) ? "names"
                           : x->kind != y->kind     ? "kinds"
                           : x->text != y->text     ? "storage (text or numbers)"
                           : x->nbins != y->nbins   ? "bin counts"
                           : x->nbins && memcmp(x->edges, y->edges,
                                                (x->nbins + 1) * sizeof *x->edges)
                               ? "bin edges"
                               : NULL;
        if (what)
            return cap_err(err, CAP_EINVAL,
                           "the profiles have different layouts: column %zu ('%s' and '%s') "
                           "differs in its %s (expected profiles of one reference)",
                           i, x->name, y->name, what);
    }
    return 0;
}

static void merge_col(struct mon_colprof *d, const struct mon_colprof *s)
{
    d->count += s->count;
    d->missing += s->missing;
    d->unreadable += s->unreadable;
    d->pos_inf += s->pos_inf;
    d->neg_inf += s->neg_inf;
    if (d->text) {
        for (size_t i = 0; i < s->ncat; i++)
            count_text(d, s->cat[i], s->cat_count[i]);
        return;
    }
    if (s->n_finite) { /* Chan et al.'s pairwise update */
        double na = (double)d->n_finite, nb = (double)s->n_finite, n = na + nb;
        double delta = s->mean - d->mean;
        d->mean += delta * nb / n;
        d->m2 += s->m2 + delta * delta * na * nb / n;
        d->n_finite += s->n_finite;
    }
    d->min = fmin(d->min, s->min);
    d->max = fmax(d->max, s->max);
    for (size_t i = 0; i < d->nbins + 2; i++)
        d->bins[i] += s->bins[i];
    mon_sketch_merge(d->sketch, s->sketch);
    if (!s->cat_complete) {
        cats_free(d);
        d->cat_complete = false;
    }
    const struct cat_index *ix = s->cat_index;
    for (size_t i = 0; d->cat_complete && i < s->ncat; i++)
        count_num(d, ix->num[i], s->cat_count[i]);
}

int mon_profile_merge(struct mon_profile *dst, const struct mon_profile *src,
                      struct cap_error *err)
{
    int rc = mon_profile_layout_check(dst, src, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < dst->ncols; i++)
        merge_col(&dst->cols[i], &src->cols[i]);
    dst->rows += src->rows;
    return 0;
}

void mon_profile_free(struct mon_profile *p)
{
    for (size_t i = 0; i < p->ncols; i++) {
        struct mon_colprof *c = &p->cols[i];
        free(c->name);
        free(c->edges);
        free(c->bins);
        mon_sketch_free(c->sketch);
        cats_free(c);
    }
    free(p->cols);
    memset(p, 0, sizeof *p);
}

/* ---- the binary form ----
 * u32 magic "MPF1", u64 rows, u32 columns; per column: u32 length + name,
 * u8 kind, u8 text, u8 cat_complete, i64 count, missing, unreadable,
 * pos_inf, neg_inf, n_finite, f64 mean, m2, min, max, u32 nbins, then for
 * numeric columns (nbins + 1) f64 edges (when nbins), (nbins + 2) i64 bins
 * and the sketch; u32 categories, each u32 length + key, i64 count. */

static void put_str(struct cap_buf *b, const char *s)
{
    size_t n = strlen(s);
    mon_put_u32(b, (uint32_t)n);
    cap_buf_append(b, s, n);
}

static void encode_col(const struct mon_colprof *c, struct cap_buf *out)
{
    put_str(out, c->name);
    unsigned char flags[3] = {(unsigned char)c->kind, c->text, c->cat_complete};
    cap_buf_append(out, flags, 3);
    const int64_t ints[6] = {c->count, c->missing, c->unreadable, c->pos_inf, c->neg_inf,
                             c->n_finite};
    for (int i = 0; i < 6; i++)
        mon_put_u64(out, (uint64_t)ints[i]);
    mon_put_f64(out, c->mean);
    mon_put_f64(out, c->m2);
    mon_put_f64(out, c->min);
    mon_put_f64(out, c->max);
    mon_put_u32(out, (uint32_t)c->nbins);
    if (!c->text) {
        for (size_t i = 0; c->nbins && i <= c->nbins; i++)
            mon_put_f64(out, c->edges[i]);
        for (size_t i = 0; i < c->nbins + 2; i++)
            mon_put_u64(out, (uint64_t)c->bins[i]);
        mon_sketch_encode(c->sketch, out);
    }
    mon_put_u32(out, (uint32_t)c->ncat);
    for (size_t i = 0; i < c->ncat; i++) {
        put_str(out, c->cat[i]);
        mon_put_u64(out, (uint64_t)c->cat_count[i]);
    }
}

void mon_profile_encode(const struct mon_profile *p, struct cap_buf *out)
{
    mon_put_u32(out, MON_PROF_MAGIC);
    mon_put_u64(out, (uint64_t)p->rows);
    mon_put_u32(out, (uint32_t)p->ncols);
    for (size_t i = 0; i < p->ncols; i++)
        encode_col(&p->cols[i], out);
}

/* A length-prefixed string without NUL bytes, or NULL. */
static char *get_str(struct mon_rd *r)
{
    uint32_t n = mon_get_u32(r);
    const unsigned char *s = n <= mon_room(r, 1) ? mon_take(r, n) : NULL;
    if (!s || memchr(s, 0, n)) {
        r->ok = false;
        return NULL;
    }
    return cap_xstrndup((const char *)s, n);
}

/* The numeric part; false when it does not add up. */
static bool decode_numeric(struct mon_rd *r, struct mon_colprof *c, struct cap_error *err)
{
    if (c->nbins != 0 && c->nbins != MON_PROF_BINS)
        return false;
    c->edges = c->nbins ? cap_xmalloc((c->nbins + 1) * sizeof *c->edges) : NULL;
    for (size_t i = 0; c->nbins && i <= c->nbins; i++) {
        c->edges[i] = mon_get_f64(r);
        if (!isfinite(c->edges[i]) || (i && c->edges[i] < c->edges[i - 1]))
            return false;
    }
    c->bins = cap_xcalloc(c->nbins + 2, sizeof *c->bins);
    int64_t sum = 0;
    for (size_t i = 0; i < c->nbins + 2; i++) {
        c->bins[i] = (int64_t)mon_get_u64(r);
        if (c->bins[i] < 0 || c->bins[i] > c->n_finite)
            return false;
        sum += c->bins[i];
    }
    if (!r->ok || (c->nbins && sum != c->n_finite) || (!c->nbins && sum != 0))
        return false;
    if (mon_sketch_decode(&r->p, r->end, &c->sketch, err) < 0)
        return false;
    return mon_sketch_count(c->sketch) == c->n_finite;
}

/* The categories: distinct keys, counts >= 0, numeric keys the "%.17g"
 * text of a finite number. */
static bool decode_cats(struct mon_rd *r, struct mon_colprof *c)
{
    uint32_t n = mon_get_u32(r);
    if (!r->ok || n > mon_room(r, 12) || (!c->text && n > MON_PROF_MAXVALS) ||
        (!c->cat_complete && n > 0))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        char *s = get_str(r);
        int64_t cnt = (int64_t)mon_get_u64(r);
        double d = 0;
        char t[32];
        bool ok = s && r->ok && cnt >= 0;
        if (ok && !c->text) {
            d = strtod(s, NULL);
            snprintf(t, sizeof t, "%.17g", d);
            ok = isfinite(d) && strcmp(t, s) == 0 && !(d == 0 && signbit(d));
        }
        ok = ok && cat_find(c, s, d) == SIZE_MAX;
        if (ok) {
            size_t at = cat_insert(c, s, d); /* may move cat_count */
            c->cat_count[at] = cnt;
        }
        free(s);
        if (!ok)
            return false;
    }
    return true;
}

static bool counts_ok(const struct mon_colprof *c)
{
    const int64_t v[6] = {c->count, c->missing, c->unreadable, c->pos_inf, c->neg_inf,
                          c->n_finite};
    int64_t sum = 0;
    if (c->count > ((int64_t)1 << 53)) /* no profile counts that many cells; sums stay exact */
        return false;
    for (int i = 1; i < 6; i++) {
        if (v[i] < 0 || v[i] > c->count)
            return false;
        sum += v[i];
    }
    if (c->count < 0)
        return false;
    if (c->text) /* its categories add up to the rest (decode_col) */
        return c->n_finite == 0 && c->unreadable == 0 && c->pos_inf == 0 && c->neg_inf == 0;
    if (sum != c->count)
        return false;
    if (c->n_finite == 0)
        return true;
    return isfinite(c->mean) && isfinite(c->m2) && c->m2 >= 0 && isfinite(c->min) &&
           isfinite(c->max) && c->min <= c->max;
}

static bool decode_col(struct mon_rd *r, struct mon_colprof *c, struct cap_error *err)
{
    memset(c, 0, sizeof *c);
    c->name = get_str(r);
    const unsigned char *f = mon_take(r, 3);
    if (!c->name || !f || f[0] > MON_PROF_CAT || f[1] > 1 || f[2] > 1)
        return false;
    c->kind = (enum mon_prof_kind)f[0];
    c->text = f[1];
    c->cat_complete = f[2];
    int64_t *ints[6] = {&c->count, &c->missing, &c->unreadable, &c->pos_inf, &c->neg_inf,
                        &c->n_finite};
    for (int i = 0; i < 6; i++)
        *ints[i] = (int64_t)mon_get_u64(r);
    c->mean = mon_get_f64(r);
    c->m2 = mon_get_f64(r);
    c->min = mon_get_f64(r);
    c->max = mon_get_f64(r);
    c->nbins = mon_get_u32(r);
    if (!r->ok || !counts_ok(c) || (c->text && (c->nbins || !c->cat_complete)))
        return false;
    if (!c->text && !decode_numeric(r, c, err))
        return false;
    if (!decode_cats(r, c))
        return false;
    int64_t sum = 0;
    for (size_t i = 0; i < c->ncat; i++)
        sum += c->cat_count[i];
    int64_t want = c->text ? c->count - c->missing : c->n_finite;
    return !c->cat_complete || sum == want;
}

int mon_profile_decode(const void *data, size_t len, struct mon_profile *out,
                       struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    struct mon_rd r = {data, (const unsigned char *)data + len, true};
    uint32_t magic = mon_get_u32(&r);
    out->rows = (int64_t)mon_get_u64(&r);
    uint32_t ncols = mon_get_u32(&r);
    bool ok = r.ok && magic == MON_PROF_MAGIC && out->rows >= 0 && ncols <= mon_room(&r, 16);
    if (ok)
        out->cols = cap_xcalloc(ncols ? ncols : 1, sizeof *out->cols);
    for (uint32_t i = 0; ok && i < ncols; i++) {
        ok = decode_col(&r, &out->cols[i], err);
        out->ncols = i + 1;
        ok = ok && out->cols[i].count == out->rows;
        for (uint32_t j = 0; ok && j < i; j++)
            ok = strcmp(out->cols[j].name, out->cols[i].name) != 0;
    }
    if (!ok || r.p != r.end) {
        mon_profile_free(out);
        return cap_err(err, CAP_EINVAL,
                       "corrupt profile (%zu bytes): expected magic MPF1 and columns whose "
                       "lengths and counts add up",
                       len);
    }
    return 0;
}

/* ---- drift from profiles ---- */

/* One column's counts over the values of both sides, in the order the
 * tests' codes give them (text by bytes, numbers by value). */
struct union_counts {
    size_t *r, *c;
    size_t k, nr, nc;
};

struct ukey {
    const char *s;
    double d;
    size_t r, c;
};

static int cmp_ukey_text(const void *a, const void *b)
{
    return strcmp(((const struct ukey *)a)->s, ((const struct ukey *)b)->s);
}

static int cmp_ukey_num(const void *a, const void *b)
{
    double x = ((const struct ukey *)a)->d, y = ((const struct ukey *)b)->d;
    return (x > y) - (x < y);
}

static double key_num(const struct mon_colprof *c, size_t i)
{
    return ((const struct cat_index *)c->cat_index)->num[i];
}

static void union_make(const struct mon_colprof *a, const struct mon_colprof *b,
                       struct union_counts *u)
{
    struct ukey *k = cap_xmalloc((a->ncat + b->ncat + 1) * sizeof *k);
    size_t n = 0;
    for (size_t i = 0; i < a->ncat; i++) {
        double d = a->text ? 0 : key_num(a, i);
        size_t j = cat_find(b, a->cat[i], d);
        k[n++] = (struct ukey){a->cat[i], d, (size_t)a->cat_count[i],
                               j == SIZE_MAX ? 0 : (size_t)b->cat_count[j]};
    }
    for (size_t j = 0; j < b->ncat; j++) {
        double d = b->text ? 0 : key_num(b, j);
        if (cat_find(a, b->cat[j], d) == SIZE_MAX)
            k[n++] = (struct ukey){b->cat[j], d, 0, (size_t)b->cat_count[j]};
    }
    qsort(k, n, sizeof *k, a->text ? cmp_ukey_text : cmp_ukey_num);
    u->r = cap_xmalloc((n ? n : 1) * sizeof *u->r);
    u->c = cap_xmalloc((n ? n : 1) * sizeof *u->c);
    u->nr = u->nc = 0;
    for (size_t i = 0; i < n; i++) {
        u->r[i] = k[i].r;
        u->c[i] = k[i].c;
        u->nr += k[i].r;
        u->nc += k[i].c;
    }
    u->k = n;
    free(k);
}

/* Shares of each count (mon_bins_make's), with Evidently's epsilon fill. */
static void shares_of(const size_t *r, const size_t *c, size_t k, size_t nr, size_t nc,
                      bool fill, struct mon_bins *b)
{
    b->n = k;
    b->ref = cap_xmalloc((k ? k : 1) * sizeof *b->ref);
    b->cur = cap_xmalloc((k ? k : 1) * sizeof *b->cur);
    for (size_t i = 0; i < k; i++) {
        b->ref[i] = (double)r[i] / (double)nr;
        b->cur[i] = (double)c[i] / (double)nc;
    }
    if (fill)
        mon_bins_fill_zeroes(b);
}

/* A score computed from counts of values or bins; false for a test that
 * has no such form. */
static bool score_counts(const char *id, const size_t *r, const size_t *c, size_t k,
                         size_t nr, size_t nc, double *v)
{
    struct mon_bins b;
    if (strcmp(id, "chisquare") == 0)
        *v = mon_counts_chisquare(r, c, k, nr, nc);
    else if (strcmp(id, "z") == 0)
        *v = mon_counts_z(r[0], c[0], k, nr, nc);
    else if (strcmp(id, "hellinger") == 0)
        *v = mon_hellinger_of(mon_counts_bhattacharyya(r, c, k, nr, nc));
    else if (strcmp(id, "psi") == 0 || strcmp(id, "kl_div") == 0 ||
             strcmp(id, "jensenshannon") == 0) {
        shares_of(r, c, k, nr, nc, id[0] != 'j', &b);
        *v = id[0] == 'p' ? mon_shares_psi(&b)
             : id[0] == 'k' ? mon_shares_kl_div(&b)
                            : mon_shares_jensenshannon(&b);
        mon_bins_free(&b);
    } else
        return false;
    return true;
}

struct approx {
    const char *method;
    double bound; /* NaN: none can be stated */
};

/* Evidently's normed Wasserstein from the sketches: W1 / max(std_ref,
 * 0.001). W1 is the area between the two CDFs; the sketches' CDFs differ
 * from the true ones by areas of at most l1_r and l1_c (mon_sketch_l1),
 * so by the triangle inequality under the integral |W1_sketch - W1| <=
 * l1_r + l1_c. The reference's std comes from Welford's m2, equal to the
 * two-pass std to ~1e-15 relative: the bound is (l1_r + l1_c) / norm. */
static double wasserstein_of(const struct mon_colprof *r, const struct mon_colprof *c,
                             struct approx *ap)
{
    double norm = fmax(sqrt(r->m2 / (double)r->n_finite), 0.001);
    ap->method = "sketch";
    ap->bound = (mon_sketch_l1(r->sketch) + mon_sketch_l1(c->sketch)) / norm;
    return mon_sketch_w1(r->sketch, c->sketch) / norm;
}

/* K-S from the sketches: D is off by at most eps_r + eps_c; the p-value
 * falls as D grows, so the p-value of the true D lies between those of the
 * ends of that interval, taken on scipy's lattice (multiples of gcd(m, n)
 * in units of 1/(m n)); the bound is the larger distance to them. */
static double ks_of(const struct mon_colprof *r, const struct mon_colprof *c, struct approx *ap)
{
    long m = (long)r->n_finite, n = (long)c->n_finite, g = (long)mon_gcd(m, n);
    double mn = (double)m * (double)n, d = mon_sketch_ks(r->sketch, c->sketch);
    double delta = mon_sketch_eps(r->sketch) + mon_sketch_eps(c->sketch);
    long mid = (long)nearbyint(d * mn / (double)g) * g;
    long lo = (long)ceil(fmax(d - delta, 0) * mn / (double)g - 1e-9) * g;
    long hi = (long)floor(fmin(d + delta, 1) * mn / (double)g + 1e-9) * g;
    lo = lo > mid ? mid : lo;
    hi = hi < mid ? mid : hi;
    double p = mon_ks_pvalue(m, n, mid);
    ap->method = "sketch";
    ap->bound = delta > 0 ? fmax(mon_ks_pvalue(m, n, lo) - p, p - mon_ks_pvalue(m, n, hi)) : 0;
    return p;
}

/* The fixed bins of a numeric column (the out-of-range bins when either
 * side has values there) as counts for the binned tests. */
static size_t fixed_bins(const struct mon_colprof *r, const struct mon_colprof *c, size_t *br,
                         size_t *bc)
{
    size_t k = 0;
    for (size_t i = 0; i < r->nbins + 2; i++) {
        bool outer = i == 0 || i == r->nbins + 1;
        if (outer && r->bins[i] == 0 && c->bins[i] == 0)
            continue;
        br[k] = (size_t)r->bins[i];
        bc[k++] = (size_t)c->bins[i];
    }
    return k;
}

static int not_from_profiles(const char *id, const char *col, const char *why,
                             struct cap_error *err)
{
    return cap_err(err, CAP_EINVAL, "stattest '%s' cannot be computed from profiles (column %s): %s",
                   id, col, why);
}

/* A numeric column tested as numerical. */
static int score_num(const struct mon_colprof *r, const struct mon_colprof *c,
                     const struct mon_stattest *t, double *v, struct approx *ap,
                     struct cap_error *err)
{
    const char *id = t->id;
    if (strcmp(id, "wasserstein") == 0) {
        *v = wasserstein_of(r, c, ap);
        return 0;
    }
    if (strcmp(id, "ks") == 0) {
        *v = ks_of(r, c, ap);
        return 0;
    }
    bool exact = r->cat_complete && c->cat_complete;
    bool per_value = exact && r->ncat <= MON_PROF_FEWVALS && strcmp(id, "hellinger") != 0;
    if (per_value || (exact && (!strcmp(id, "chisquare") || !strcmp(id, "z")))) {
        struct union_counts u;
        union_make(r, c, &u);
        bool ok = score_counts(id, u.r, u.c, u.k, u.nr, u.nc, v);
        free(u.r);
        free(u.c);
        ap->method = "exact";
        ap->bound = 0;
        if (ok)
            return 0;
    }
    if (!strcmp(id, "chisquare") || !strcmp(id, "z"))
        return not_from_profiles(id, r->name, "it needs every value's count, and the column "
                                 "had too many values to keep them", err);
    size_t br[MON_PROF_BINS + 2], bc[MON_PROF_BINS + 2], k = r->nbins ? fixed_bins(r, c, br, bc) : 0;
    if (k && score_counts(id, br, bc, k, (size_t)r->n_finite, (size_t)c->n_finite, v)) {
        /* Evidently bins by Sturges' rule over both samples: another
         * binning, whose score no bound relates to this one */
        ap->method = "bins";
        ap->bound = NAN;
        return 0;
    }
    return not_from_profiles(id, r->name, "a profile keeps counts, bins and a quantile "
                             "sketch, not the rows this test needs", err);
}

/* A column tested as categorical: exact counts. */
static int score_cat(const struct mon_colprof *r, const struct mon_colprof *c,
                     const struct mon_stattest *t, double *v, struct approx *ap,
                     struct cap_error *err)
{
    if (!r->cat_complete || !c->cat_complete)
        return not_from_profiles(t->id, r->name, "the column had more than 256 values, so "
                                 "its profile dropped the counts of each", err);
    struct union_counts u;
    union_make(r, c, &u);
    bool ok = score_counts(t->id, u.r, u.c, u.k, u.nr, u.nc, v);
    free(u.r);
    free(u.c);
    ap->method = "exact";
    ap->bound = 0;
    return ok ? 0 : not_from_profiles(t->id, r->name, "its score depends on the rows' order "
                                      "or values, which a profile does not keep", err);
}

static size_t tested_values(const struct mon_colprof *c, enum mon_coltype type)
{
    if (type == MON_NUM)
        return (size_t)c->n_finite;
    int64_t s = 0;
    for (size_t i = 0; i < c->ncat; i++)
        s += c->cat_count[i];
    return (size_t)s;
}

/* Distinct values of both sides, up to 6 (all Evidently's defaults ask). */
static size_t distinct_values(const struct mon_colprof *r, const struct mon_colprof *c)
{
    if (!r->cat_complete || !c->cat_complete)
        return 6;
    struct union_counts u;
    union_make(r, c, &u);
    size_t k = u.k;
    free(u.r);
    free(u.c);
    return k < 6 ? k : 6;
}

static int drift_col(const struct mon_colprof *r, const struct mon_colprof *c,
                     const struct mon_drift_options *o, cJSON **out, bool *drift,
                     struct cap_error *err)
{
    enum mon_coltype type = r->kind == MON_PROF_NUM ? MON_NUM : MON_CAT;
    if (in_names(o->numerical, o->n_numerical, r->name)) {
        if (r->text)
            return cap_err(err, CAP_EINVAL, "column '%s' is named numerical but holds text",
                           r->name);
        type = MON_NUM;
    } else if (in_names(o->categorical, o->n_categorical, r->name))
        type = MON_CAT;
    size_t nr = tested_values(r, type), nc = tested_values(c, type);
    if (nr == 0 || nc == 0)
        return cap_err(err, CAP_EINVAL,
                       "column '%s' has no values in the %s data (all missing or infinite)",
                       r->name, nr == 0 ? "reference" : "current");
    const struct mon_stattest *t;
    double th, v = NAN;
    int rc = mon_drift_choose(r->name, type, nr, distinct_values(r, c), o, &t, &th, err);
    struct approx ap = {"exact", 0};
    if (rc == 0)
        rc = type == MON_NUM ? score_num(r, c, t, &v, &ap, err) : score_cat(r, c, t, &v, &ap, err);
    if (rc < 0)
        return rc;
    /* the verdicts as stattest.c gives them: K-S p <= t, other p-values
     * p < t, distances >= t */
    struct mon_stat_result res = {v, strcmp(t->id, "ks") == 0 ? v <= th
                                     : t->pvalue              ? v < th
                                                              : v >= th};
    *out = mon_drift_column_json(r->name, type, t, th, &res);
    cJSON *a = cJSON_AddObjectToObject(*out, "approximation");
    cJSON_AddStringToObject(a, "method", ap.method);
    if (isfinite(ap.bound))
        cJSON_AddNumberToObject(a, "error_bound", ap.bound);
    else
        cJSON_AddNullToObject(a, "error_bound");
    *drift = res.drift;
    return 0;
}

/* The checks on the options take a frame; these carry the names only. */
static struct mon_frame names_frame(const struct mon_profile *p)
{
    struct mon_frame f = {.path = "the reference profile", .ncols = p->ncols};
    f.cols = cap_xcalloc(p->ncols ? p->ncols : 1, sizeof *f.cols);
    for (size_t i = 0; i < p->ncols; i++)
        f.cols[i].name = p->cols[i].name;
    return f;
}

static int profiles_check(const struct mon_profile *ref, const struct mon_profile *cur,
                          struct cap_error *err)
{
    if (ref->rows == 0 || cur->rows == 0)
        return cap_err(err, CAP_EINVAL, "the %s profile has no rows",
                       ref->rows == 0 ? "reference" : "current");
    return mon_profile_layout_check(ref, cur, err);
}

int mon_drift_profiles(const struct mon_profile *ref, const struct mon_profile *cur,
                       const struct mon_drift_options *opt, cJSON **out, struct cap_error *err)
{
    *out = NULL;
    struct mon_drift_options dflt;
    opt = opts_or_default(opt, &dflt);
    int rc = profiles_check(ref, cur, err);
    if (rc < 0)
        return rc;
    struct mon_frame names = names_frame(ref);
    rc = mon_drift_check(&names, opt, err);
    free(names.cols);
    if (rc < 0)
        return rc;
    cJSON *cols = cJSON_CreateArray();
    size_t n = 0, drifted = 0;
    for (size_t i = 0; i < ref->ncols && rc == 0; i++) {
        const struct mon_colprof *r = &ref->cols[i];
        if (opt->n_columns && !in_names(opt->columns, opt->n_columns, r->name))
            continue;
        cJSON *col = NULL;
        bool d = false;
        if ((rc = drift_col(r, &cur->cols[i], opt, &col, &d, err)) < 0)
            break;
        cJSON_AddItemToArray(cols, col);
        n++;
        drifted += d;
    }
    if (rc < 0) {
        cJSON_Delete(cols);
        return rc;
    }
    *out = mon_drift_report_json(cols, n, drifted, opt->drift_share);
    return 0;
}

/* ---- data quality from profiles ---- */

static double share_of(int64_t k, int64_t n)
{
    return n ? (double)k / (double)n : 0;
}

/* Exactly one distinct non-missing value (infinities are values). */
static bool constant_col(const struct mon_colprof *c)
{
    if (c->text)
        return c->ncat == 1;
    int kinds = (c->n_finite > 0) + (c->pos_inf > 0) + (c->neg_inf > 0);
    return kinds == 1 && (c->n_finite == 0 || c->min == c->max);
}

static cJSON *key_json(const struct mon_colprof *c, size_t i)
{
    return c->text ? cJSON_CreateString(c->cat[i]) : cJSON_CreateNumber(key_num(c, i));
}

/* Current values the reference lacks, over the current's non-missing
 * values; examples in the order first seen. */
static cJSON *new_cats_json(const struct mon_colprof *r, const struct mon_colprof *c,
                            double *s)
{
    int64_t count = 0, present = 0;
    size_t distinct = 0;
    cJSON *ex = cJSON_CreateArray();
    for (size_t i = 0; i < c->ncat; i++) {
        present += c->cat_count[i];
        if (cat_find(r, c->cat[i], c->text ? 0 : key_num(c, i)) != SIZE_MAX)
            continue;
        count += c->cat_count[i];
        if (++distinct <= 10)
            cJSON_AddItemToArray(ex, key_json(c, i));
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)count);
    cJSON_AddNumberToObject(o, "distinct", (double)distinct);
    *s = share_of(count, present);
    cJSON_AddNumberToObject(o, "share", *s);
    cJSON_AddItemToObject(o, "examples", ex);
    return o;
}

/* Below the reference's finite min or above its max: the outer bins and
 * the infinities, over the non-missing readable cells. */
static cJSON *out_of_range_json(const struct mon_colprof *r, const struct mon_colprof *c,
                                double *s)
{
    int64_t count = c->bins[0] + c->bins[c->nbins + 1] + c->pos_inf + c->neg_inf;
    int64_t present = c->n_finite + c->pos_inf + c->neg_inf;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)count);
    *s = share_of(count, present);
    cJSON_AddNumberToObject(o, "share", *s);
    cJSON_AddNumberToObject(o, "min", r->min);
    cJSON_AddNumberToObject(o, "max", r->max);
    return o;
}

static void fail(cJSON *fails, const char *what)
{
    cJSON_AddItemToArray(fails, cJSON_CreateString(what));
}

/* A profile reads a window into the reference's layout, so the types
 * never mismatch; they are "text" or "number" (int and float are one). */
static cJSON *quality_col(const struct mon_colprof *r, const struct mon_colprof *c,
                          const struct mon_quality_options *o, bool *failed)
{
    cJSON *j = cJSON_CreateObject(), *fails = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "column", r->name);
    cJSON_AddStringToObject(j, "type_reference", r->text ? "text" : "number");
    cJSON_AddStringToObject(j, "type_current", r->text ? "text" : "number");
    cJSON_AddBoolToObject(j, "type_mismatch", false);
    cJSON_AddNumberToObject(j, "unreadable_cells", (double)c->unreadable);
    double mr = share_of(r->missing, r->count), mc = share_of(c->missing, c->count), s = 0;
    cJSON_AddNumberToObject(j, "missing_share_reference", mr);
    cJSON_AddNumberToObject(j, "missing_share_current", mc);
    if (mc > o->missing_share && mc > mr)
        fail(fails, "missing");
    bool cat = mon_quality_categorical(o, r->name, r->text);
    cJSON *nc = cat && r->cat_complete && c->cat_complete ? new_cats_json(r, c, &s) : NULL;
    cJSON_AddItemToObject(j, "new_categories", nc ? nc : cJSON_CreateNull());
    if (nc && s > o->new_category_share)
        fail(fails, "new_categories");
    cJSON *oor = !cat && !r->text && r->nbins ? out_of_range_json(r, c, &s) : NULL;
    cJSON_AddItemToObject(j, "out_of_range", oor ? oor : cJSON_CreateNull());
    if (oor && s > o->out_of_range_share)
        fail(fails, "out_of_range");
    bool cr = constant_col(r), cc = constant_col(c);
    cJSON_AddBoolToObject(j, "constant_reference", cr);
    cJSON_AddBoolToObject(j, "constant_current", cc);
    if (o->constant && cc && !cr)
        fail(fails, "constant");
    *failed = cJSON_GetArraySize(fails) > 0;
    cJSON_AddItemToObject(j, "failed", fails);
    return j;
}

int mon_quality_profiles(const struct mon_profile *ref, const struct mon_profile *cur,
                         const struct mon_quality_options *opt, cJSON **out,
                         struct cap_error *err)
{
    *out = NULL;
    struct mon_quality_options dflt;
    if (!opt) {
        mon_quality_defaults(&dflt);
        opt = &dflt;
    }
    int rc = profiles_check(ref, cur, err);
    struct mon_frame names = names_frame(ref);
    if (rc == 0)
        rc = mon_names_check(&names, opt->columns, opt->n_columns, "the column list", err);
    if (rc == 0)
        rc = mon_names_check(&names, opt->categorical, opt->n_categorical,
                             "the categorical list", err);
    free(names.cols);
    if (rc < 0 || (rc = mon_quality_check_thresholds(opt, err)) < 0)
        return rc;
    cJSON *cols = cJSON_CreateArray();
    size_t n = 0, nfailed = 0;
    for (size_t i = 0; i < ref->ncols; i++) {
        if (!mon_quality_selected(opt, ref->cols[i].name))
            continue;
        bool failed;
        cJSON_AddItemToArray(cols, quality_col(&ref->cols[i], &cur->cols[i], opt, &failed));
        n++;
        nfailed += failed;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "passed", nfailed == 0);
    cJSON_AddNumberToObject(o, "number_of_columns", (double)n);
    cJSON_AddNumberToObject(o, "number_of_failed_columns", (double)nfailed);
    cJSON_AddItemToObject(o, "columns", cols);
    cJSON_AddNullToObject(o, "duplicated_rows");
    cJSON_AddItemToObject(o, "thresholds", mon_quality_thresholds_json(opt));
    *out = o;
    return 0;
}
