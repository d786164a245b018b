/* quality.c - the data quality of a current frame against a reference
 * (monitor.h documents the JSON): per column type mismatches, missing
 * shares, unseen categories, values outside the reference's range and
 * constant columns; over the frame, duplicated rows. Every check is one
 * pass over the cells with hash maps (valmap.h), never a sort, so the whole
 * report is O(rows x columns): 0.3-0.5 s for 1,000,000 x 29 cells against
 * 100,000 rows (-O2, this 2-core machine under load). */
#include "monitor/monitor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/numfmt.h"
#include "monitor/drift.h"
#include "monitor/valmap.h"

#define MON_QUALITY_EXAMPLES 10

void mon_quality_defaults(struct mon_quality_options *o)
{
    memset(o, 0, sizeof *o);
    o->missing_share = 0.1;
    o->new_category_share = 0;
    o->out_of_range_share = 0;
    o->duplicated_rows_share = 0;
    o->constant = true;
}

static const struct mon_column *find_col(const struct mon_frame *f, const char *name)
{
    for (size_t c = 0; c < f->ncols; c++)
        if (strcmp(f->cols[c].name, name) == 0)
            return &f->cols[c];
    return NULL;
}

static bool in_list(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static const char *dtype_name(enum mon_dtype t)
{
    return t == MON_INT ? "int" : t == MON_FLOAT ? "float" : "text";
}

static double share(size_t k, size_t n)
{
    return n ? (double)k / (double)n : 0;
}

/* The drift report's entry for a column, or NULL. */
static const cJSON *drift_entry(const cJSON *drift, const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(drift, "columns"))
    {
        const cJSON *n = cJSON_GetObjectItem(c, "column");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return c;
    }
    return NULL;
}

/* Whether a column is checked, and whether as categories. */
bool mon_quality_selected(const struct mon_quality_options *o, const char *name)
{
    if (o->n_columns)
        return in_list(o->columns, o->n_columns, name);
    return !o->drift || drift_entry(o->drift, name);
}

bool mon_quality_categorical(const struct mon_quality_options *o, const char *name, bool text)
{
    if (text || in_list(o->categorical, o->n_categorical, name))
        return true;
    const cJSON *e = o->drift ? drift_entry(o->drift, name) : NULL;
    const cJSON *t = e ? cJSON_GetObjectItem(e, "column_type") : NULL;
    return cJSON_IsString(t) && strcmp(t->valuestring, "cat") == 0;
}

/* ---- checks on the input ---- */

static int check_share(double v, const char *what, struct cap_error *err)
{
    if (!(v >= 0 && v <= 1))
        return cap_err(err, CAP_EINVAL, "%s threshold %g is out of range (expected 0 to 1)", what,
                       v);
    return 0;
}

int mon_quality_check(const struct mon_frame *ref, const struct mon_frame *cur,
                      const struct mon_quality_options *o, struct cap_error *err)
{
    int rc;
    if ((rc = mon_frames_check(ref, cur, err)) < 0 ||
        (rc = mon_names_check(ref, o->columns, o->n_columns, "the column list", err)) < 0 ||
        (rc = mon_names_check(ref, o->categorical, o->n_categorical, "the categorical list",
                              err)) < 0)
        return rc;
    return mon_quality_check_thresholds(o, err);
}

int mon_quality_check_thresholds(const struct mon_quality_options *o, struct cap_error *err)
{
    int rc;
    if ((rc = check_share(o->missing_share, "missing-share", err)) < 0 ||
        (rc = check_share(o->new_category_share, "new-category-share", err)) < 0 ||
        (rc = check_share(o->out_of_range_share, "out-of-range-share", err)) < 0 ||
        (rc = check_share(o->duplicated_rows_share, "duplicated-rows-share", err)) < 0)
        return rc;
    return 0;
}

/* ---- one column ---- */

/* A cell as a number: NaN when missing, false when it is text that is not
 * a number (only possible in a text column). */
static bool cell_num(const struct mon_column *k, size_t i, double *v)
{
    if (k->dtype != MON_TEXT) {
        *v = k->num[i];
        return true;
    }
    if (!k->text[i]) {
        *v = NAN;
        return true;
    }
    return cap_text_to_double(k->text[i], strlen(k->text[i]), v);
}

static bool cell_missing(const struct mon_column *k, size_t i)
{
    return k->dtype == MON_TEXT ? k->text[i] == NULL : isnan(k->num[i]);
}

static size_t count_missing(const struct mon_column *k, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += cell_missing(k, i);
    return m;
}

/* Exactly one distinct non-missing value; stops at the second. */
static bool is_constant(const struct mon_column *k, size_t n)
{
    size_t first = n;
    for (size_t i = 0; i < n; i++) {
        if (cell_missing(k, i))
            continue;
        if (first == n) {
            first = i;
            continue;
        }
        bool same = k->dtype == MON_TEXT ? strcmp(k->text[i], k->text[first]) == 0
                                         : k->num[i] == k->num[first];
        if (!same)
            return false;
    }
    return first < n;
}

/* Current text cells that are not numbers where the reference is numeric. */
static size_t count_unreadable(const struct mon_column *kr, const struct mon_column *kc,
                               size_t n)
{
    if (kr->dtype == MON_TEXT || kc->dtype != MON_TEXT)
        return 0;
    size_t u = 0;
    double v;
    for (size_t i = 0; i < n; i++)
        u += !cell_num(kc, i, &v);
    return u;
}

static union mon_val cell_key(const struct mon_column *k, size_t i)
{
    union mon_val v;
    if (k->dtype == MON_TEXT)
        v.s = k->text[i];
    else
        v.d = k->num[i];
    return v;
}

static cJSON *example_json(const struct mon_column *k, union mon_val v)
{
    if (k->dtype == MON_TEXT)
        return cJSON_CreateString(v.s);
    return isfinite(v.d) ? cJSON_CreateNumber(v.d)
                         : cJSON_CreateString(v.d > 0 ? "Infinity" : "-Infinity");
}

/* Current cells whose value the reference lacks; both columns have the same
 * kind (text or numbers). */
static cJSON *new_categories(const struct mon_column *kr, size_t nr, const struct mon_column *kc,
                             size_t nc, double *share_out)
{
    bool text = kr->dtype == MON_TEXT, added;
    struct mon_valmap seen, fresh;
    mon_valmap_init(&seen, text);
    mon_valmap_init(&fresh, text);
    for (size_t i = 0; i < nr; i++)
        if (!cell_missing(kr, i))
            mon_valmap_add(&seen, cell_key(kr, i), &added);
    size_t count = 0, present = 0, idx;
    cJSON *examples = cJSON_CreateArray();
    for (size_t i = 0; i < nc; i++) {
        if (cell_missing(kc, i))
            continue;
        present++;
        union mon_val v = cell_key(kc, i);
        if (mon_valmap_find(&seen, v, &idx))
            continue;
        count++;
        mon_valmap_add(&fresh, v, &added);
        if (added && fresh.n <= MON_QUALITY_EXAMPLES)
            cJSON_AddItemToArray(examples, example_json(kc, v));
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)count);
    cJSON_AddNumberToObject(o, "distinct", (double)fresh.n);
    *share_out = share(count, present);
    cJSON_AddNumberToObject(o, "share", *share_out);
    cJSON_AddItemToObject(o, "examples", examples);
    mon_valmap_free(&seen);
    mon_valmap_free(&fresh);
    return o;
}

/* Current cells outside the reference's finite range; NULL when the
 * reference has no finite value. Text cells of the current that are not
 * numbers are left to unreadable_cells. */
static cJSON *out_of_range(const struct mon_column *kr, size_t nr, const struct mon_column *kc,
                           size_t nc, double *share_out)
{
    double lo = INFINITY, hi = -INFINITY, v;
    for (size_t i = 0; i < nr; i++)
        if (isfinite(kr->num[i])) {
            lo = fmin(lo, kr->num[i]);
            hi = fmax(hi, kr->num[i]);
        }
    if (lo > hi)
        return NULL;
    size_t count = 0, present = 0;
    for (size_t i = 0; i < nc; i++) {
        if (!cell_num(kc, i, &v) || isnan(v))
            continue;
        present++;
        count += v < lo || v > hi;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)count);
    *share_out = share(count, present);
    cJSON_AddNumberToObject(o, "share", *share_out);
    cJSON_AddNumberToObject(o, "min", lo);
    cJSON_AddNumberToObject(o, "max", hi);
    return o;
}

cJSON *mon_quality_column(const struct mon_column *kr, size_t nr, const struct mon_column *kc,
                          size_t nc, const struct mon_quality_options *o, bool *failed)
{
    cJSON *j = cJSON_CreateObject(), *fails = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "column", kr->name);
    cJSON_AddStringToObject(j, "type_reference", dtype_name(kr->dtype));
    cJSON_AddStringToObject(j, "type_current", dtype_name(kc->dtype));
    bool mismatch = (kr->dtype == MON_TEXT) != (kc->dtype == MON_TEXT);
    cJSON_AddBoolToObject(j, "type_mismatch", mismatch);
    cJSON_AddNumberToObject(j, "unreadable_cells", (double)count_unreadable(kr, kc, nc));
    if (mismatch)
        cJSON_AddItemToArray(fails, cJSON_CreateString("type_mismatch"));

    double mr = share(count_missing(kr, nr), nr), mc = share(count_missing(kc, nc), nc);
    cJSON_AddNumberToObject(j, "missing_share_reference", mr);
    cJSON_AddNumberToObject(j, "missing_share_current", mc);
    if (mc > o->missing_share && mc > mr)
        cJSON_AddItemToArray(fails, cJSON_CreateString("missing"));

    /* A text reference is categorical; a numeric one is when the caller
     * or the drift report says so. Across a type mismatch only the range
     * check still means something (over the current's cells that are
     * numbers). */
    bool cat = mon_quality_categorical(o, kr->name, kr->dtype == MON_TEXT);
    double s = 0;
    cJSON *nc_json = cat && !mismatch ? new_categories(kr, nr, kc, nc, &s) : NULL;
    cJSON_AddItemToObject(j, "new_categories", nc_json ? nc_json : cJSON_CreateNull());
    if (nc_json && s > o->new_category_share)
        cJSON_AddItemToArray(fails, cJSON_CreateString("new_categories"));
    cJSON *oor = !cat ? out_of_range(kr, nr, kc, nc, &s) : NULL;
    cJSON_AddItemToObject(j, "out_of_range", oor ? oor : cJSON_CreateNull());
    if (oor && s > o->out_of_range_share)
        cJSON_AddItemToArray(fails, cJSON_CreateString("out_of_range"));

    bool cr = is_constant(kr, nr), cc = is_constant(kc, nc);
    cJSON_AddBoolToObject(j, "constant_reference", cr);
    cJSON_AddBoolToObject(j, "constant_current", cc);
    if (o->constant && cc && !cr)
        cJSON_AddItemToArray(fails, cJSON_CreateString("constant"));

    *failed = cJSON_GetArraySize(fails) > 0;
    cJSON_AddItemToObject(j, "failed", fails);
    return j;
}

/* ---- duplicated rows ---- */

static uint64_t cell_hash(const struct mon_column *k, size_t i)
{
    if (k->dtype == MON_TEXT)
        return k->text[i] ? mon_hash_text(k->text[i]) : 0x9e3779b97f4a7c15ULL;
    return isnan(k->num[i]) ? 0x9e3779b97f4a7c15ULL : mon_hash_num(k->num[i]);
}

static bool cells_equal(const struct mon_column *k, size_t a, size_t b)
{
    if (k->dtype == MON_TEXT) {
        const char *x = k->text[a], *y = k->text[b];
        return x == y || (x && y && strcmp(x, y) == 0);
    }
    double x = k->num[a], y = k->num[b];
    return x == y || (isnan(x) && isnan(y));
}

static bool rows_equal(const struct mon_frame *f, size_t a, size_t b)
{
    for (size_t c = 0; c < f->ncols; c++)
        if (!cells_equal(&f->cols[c], a, b))
            return false;
    return true;
}

/* Rows equal to an earlier row. Row hashes are built column by column (a
 * sequential pass over each column), then rows go into an open-addressing
 * table of row numbers. Costs 8 bytes a row for the hashes and 8-16 for
 * the table: 24 MB for a million rows. */
static size_t count_duplicates(const struct mon_frame *f)
{
    size_t n = f->nrows;
    uint64_t *h = cap_xmalloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i] = 0x243f6a8885a308d3ULL;
    for (size_t c = 0; c < f->ncols; c++)
        for (size_t i = 0; i < n; i++)
            h[i] = (h[i] ^ cell_hash(&f->cols[c], i)) * 0x100000001b3ULL + c;
    size_t mask = 15;
    while (mask + 1 < 2 * n)
        mask = mask * 2 + 1;
    size_t *slot = cap_xcalloc(mask + 1, sizeof *slot); /* row + 1, 0 empty */
    size_t dup = 0;
    for (size_t i = 0; i < n; i++) {
        size_t s = (size_t)(h[i] ^ (h[i] >> 29)) & mask;
        for (;; s = (s + 1) & mask) {
            if (!slot[s]) {
                slot[s] = i + 1;
                break;
            }
            size_t j = slot[s] - 1;
            if (h[j] == h[i] && rows_equal(f, j, i)) {
                dup++;
                break;
            }
        }
    }
    free(slot);
    free(h);
    return dup;
}

/* ---- duplicated rows of a frame read a column group at a time ----
 * The rows are split into classes of rows equal so far, refined by each
 * group's cells (the same equality and hashes as count_duplicates); a row
 * alone in its class stays distinct and leaves the work. So the count is
 * exact, not a hash's, and costs 8 bytes a row kept between groups (its
 * number and class), plus up to ~15 more a row while a group is refined
 * (its table), the rows whose class has one member excluded. */
struct mon_rowclasses {
    size_t nrows, alone;  /* rows, and rows found distinct from every other */
    uint32_t *row, *cls;  /* the rows still in a class of two or more, and their class */
    size_t nlive, nclasses;
};

struct mon_rowclasses *mon_rowclasses_new(size_t nrows)
{
    struct mon_rowclasses *rc = cap_xcalloc(1, sizeof *rc);
    rc->nrows = nrows;
    rc->nlive = nrows > 1 ? nrows : 0;
    rc->alone = nrows == 1;
    rc->nclasses = rc->nlive ? 1 : 0;
    rc->row = cap_xmalloc((rc->nlive ? rc->nlive : 1) * sizeof *rc->row);
    rc->cls = cap_xcalloc(rc->nlive ? rc->nlive : 1, sizeof *rc->cls);
    for (size_t i = 0; i < rc->nlive; i++)
        rc->row[i] = (uint32_t)i;
    return rc;
}

void mon_rowclasses_free(struct mon_rowclasses *rc)
{
    if (!rc)
        return;
    free(rc->row);
    free(rc->cls);
    free(rc);
}

size_t mon_rowclasses_duplicates(const struct mon_rowclasses *rc)
{
    return rc->nrows - rc->alone - rc->nclasses;
}

static bool live_equal(const struct mon_rowclasses *rc, const struct mon_frame *f,
                       const bool *cols, size_t a, size_t b)
{
    if (rc->cls[a] != rc->cls[b])
        return false;
    for (size_t c = 0; c < f->ncols; c++)
        if (cols[c] && !cells_equal(&f->cols[c], rc->row[a], rc->row[b]))
            return false;
    return true;
}

/* The new class of each live row: the index of the first live row with its
 * class and cells in the columns cols[c]. */
static uint32_t *refine_classes(const struct mon_rowclasses *rc, const struct mon_frame *f,
                                const bool *cols)
{
    size_t mask = 15;
    while ((mask + 1) / 4 * 3 < rc->nlive)
        mask = mask * 2 + 1;
    uint32_t *slot = cap_xcalloc(mask + 1, sizeof *slot); /* live index + 1, 0 empty */
    uint32_t *next = cap_xmalloc(rc->nlive * sizeof *next);
    for (size_t i = 0; i < rc->nlive; i++) {
        uint64_t h = 0x243f6a8885a308d3ULL ^ ((uint64_t)rc->cls[i] * 0x9e3779b97f4a7c15ULL);
        for (size_t c = 0; c < f->ncols; c++)
            if (cols[c])
                h = (h ^ cell_hash(&f->cols[c], rc->row[i])) * 0x100000001b3ULL + c;
        size_t s = (size_t)(h ^ (h >> 29)) & mask;
        for (;; s = (s + 1) & mask) {
            if (!slot[s]) {
                slot[s] = (uint32_t)i + 1;
                next[i] = (uint32_t)i;
                break;
            }
            if (live_equal(rc, f, cols, slot[s] - 1, i)) {
                next[i] = slot[s] - 1;
                break;
            }
        }
    }
    free(slot);
    return next;
}

void mon_rowclasses_refine(struct mon_rowclasses *rc, const struct mon_frame *f,
                           const bool *cols)
{
    if (rc->nlive == 0)
        return;
    uint32_t *next = refine_classes(rc, f, cols);
    uint32_t *size = cap_xcalloc(rc->nlive, sizeof *size);
    for (size_t i = 0; i < rc->nlive; i++)
        size[next[i]]++;
    size_t kept = 0, classes = 0;
    for (size_t i = 0; i < rc->nlive; i++) {
        if (size[next[i]] == 1) {
            rc->alone++;
            continue;
        }
        classes += next[i] == i;
        rc->row[kept] = rc->row[i];
        rc->cls[kept++] = next[i];
    }
    rc->nlive = kept;
    rc->nclasses = classes;
    free(size);
    free(next);
}

static cJSON *duplicates_json(size_t dr, size_t nr, size_t dc, size_t nc,
                              const struct mon_quality_options *o, bool *failed)
{
    double sr = share(dr, nr), sc = share(dc, nc);
    *failed = sc > o->duplicated_rows_share && sc > sr;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "count", (double)dc);
    cJSON_AddNumberToObject(j, "share", sc);
    cJSON_AddNumberToObject(j, "count_reference", (double)dr);
    cJSON_AddNumberToObject(j, "share_reference", sr);
    cJSON_AddBoolToObject(j, "failed", *failed);
    return j;
}

cJSON *mon_quality_thresholds_json(const struct mon_quality_options *o)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "missing_share", o->missing_share);
    cJSON_AddNumberToObject(j, "new_category_share", o->new_category_share);
    cJSON_AddNumberToObject(j, "out_of_range_share", o->out_of_range_share);
    cJSON_AddNumberToObject(j, "duplicated_rows_share", o->duplicated_rows_share);
    cJSON_AddBoolToObject(j, "constant", o->constant);
    return j;
}

int mon_quality(const struct mon_frame *ref, const struct mon_frame *cur,
                const struct mon_quality_options *opt, cJSON **out, struct cap_error *err)
{
    *out = NULL;
    struct mon_quality_options defaults;
    if (!opt) {
        mon_quality_defaults(&defaults);
        opt = &defaults;
    }
    int rc = mon_quality_check(ref, cur, opt, err);
    if (rc < 0)
        return rc;
    cJSON *cols = cJSON_CreateArray();
    size_t n = 0, nfailed = 0;
    for (size_t c = 0; c < ref->ncols; c++) {
        const struct mon_column *kr = &ref->cols[c];
        if (!mon_quality_selected(opt, kr->name))
            continue;
        bool failed;
        cJSON_AddItemToArray(cols, mon_quality_column(kr, ref->nrows, find_col(cur, kr->name),
                                                      cur->nrows, opt, &failed));
        n++;
        nfailed += failed;
    }
    *out = mon_quality_json(cols, n, nfailed, count_duplicates(ref), ref->nrows,
                            count_duplicates(cur), cur->nrows, opt);
    return 0;
}

cJSON *mon_quality_json(cJSON *cols, size_t n, size_t nfailed, size_t dup_ref, size_t nref,
                        size_t dup_cur, size_t ncur, const struct mon_quality_options *opt)
{
    bool dup_failed;
    cJSON *dups = duplicates_json(dup_ref, nref, dup_cur, ncur, opt, &dup_failed);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "passed", nfailed == 0 && !dup_failed);
    cJSON_AddNumberToObject(o, "number_of_columns", (double)n);
    cJSON_AddNumberToObject(o, "number_of_failed_columns", (double)nfailed);
    cJSON_AddItemToObject(o, "columns", cols);
    cJSON_AddItemToObject(o, "duplicated_rows", dups);
    cJSON_AddItemToObject(o, "thresholds", mon_quality_thresholds_json(opt));
    return o;
}

int mon_report(const struct mon_frame *ref, const struct mon_frame *cur,
               const struct mon_drift_options *opt, cJSON **out, struct cap_error *err)
{
    cJSON *drift = NULL, *quality = NULL;
    int rc = mon_drift(ref, cur, opt, &drift, err);
    if (rc < 0)
        return rc;
    struct mon_quality_options qo;
    mon_quality_defaults(&qo);
    qo.drift = drift; /* the drift report's columns, typed as it typed them */
    if ((rc = mon_quality(ref, cur, &qo, &quality, err)) < 0) {
        cJSON_Delete(drift);
        return rc;
    }
    cJSON_AddItemToObject(drift, "data_quality", quality);
    *out = drift;
    return 0;
}
