/* grouped.c - the drift and quality report of two files larger than memory
 * (monitor.h, mon_report_files). The exact tests need every value of a
 * column, but only of one column at a time: so when the frames do not fit
 * the budget, the first read (which gave up keeping cells once past the
 * budget) has typed every column as pandas would, and each later read of
 * both files keeps only a group of columns, typed as found there; they are
 * tested, checked and charted by the same per-column code as in memory,
 * then freed. Duplicated rows are counted exactly across the groups by
 * refining classes of equal rows (quality.c). The report is assembled in
 * the columns' order, so it is the in-memory report to the byte. */
#include "monitor/monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "monitor/drift.h"

/* Bytes a row of both files, beside the columns: the duplicated rows'
 * classes (8 kept between groups, ~15 more while a group refines them). */
#define ROW_STATE_BYTES 24
/* Bytes a row of both samples while one column is tested (per test thread):
 * its finite values (8), their sorted copies (8), the radix sort's two key
 * words (16) and the merged steps of Wasserstein (8). */
#define TEST_WORK_BYTES 40
/* count_duplicates' row hashes and table, a row of the larger frame. */
#define DUP_BYTES 40

static size_t frame_bytes(const struct mon_frame *f)
{
    size_t n = 0;
    for (size_t c = 0; c < f->ncols; c++)
        n += mon_column_bytes(&f->cols[c], f->nrows);
    return n;
}

static const struct mon_column *find_col(const struct mon_frame *f, const char *name, size_t *at)
{
    for (size_t c = 0; c < f->ncols; c++)
        if (strcmp(f->cols[c].name, name) == 0) {
            if (at)
                *at = c;
            return &f->cols[c];
        }
    return NULL;
}

static double mib(size_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

/* The group plan: the ref columns [start[g], start[g + 1]) read together,
 * tested on `threads` threads. */
struct plan {
    size_t *start, ngroups, threads;
};

/* The most threads whose working copies leave room for as many of the
 * largest columns, then groups as large as the rest of the budget holds. */
static int make_plan(const struct mon_frame *ref, const struct mon_frame *cur, size_t max_bytes,
                     struct plan *p, struct cap_error *err)
{
    size_t rows = ref->nrows + cur->nrows, state = ROW_STATE_BYTES * rows,
           work = TEST_WORK_BYTES * rows;
    size_t *cost = cap_xcalloc(ref->ncols, sizeof *cost), widest = 0;
    for (size_t c = 0; c < ref->ncols; c++) {
        cost[c] = mon_column_bytes(&ref->cols[c], ref->nrows) +
                  mon_column_bytes(find_col(cur, ref->cols[c].name, NULL), cur->nrows);
        widest = cost[c] > widest ? cost[c] : widest;
    }
    if (max_bytes < state + work + widest) {
        free(cost);
        return cap_err(err, CAP_EINVAL,
                       "a memory budget of %.1f MiB is too small for these files: one column "
                       "at a time needs %.1f MiB (%zu + %zu rows: %.1f MiB for the widest "
                       "column, %.1f for its test, %.1f for the duplicated-rows check)",
                       mib(max_bytes), mib(state + work + widest), ref->nrows, cur->nrows,
                       mib(widest), mib(work), mib(state));
    }
    size_t t = mon_drift_threads();
    while (t > 1 && max_bytes < state + t * (work + widest))
        t--;
    size_t room = max_bytes - state - t * work;
    p->threads = t;
    p->start = cap_xmalloc((ref->ncols + 1) * sizeof *p->start);
    p->ngroups = 0;
    for (size_t c = 0, used = 0; c < ref->ncols; c++) {
        if (c == 0 || used + cost[c] > room) {
            p->start[p->ngroups++] = c;
            used = 0;
        }
        used += cost[c];
    }
    p->start[p->ngroups] = ref->ncols;
    free(cost);
    return 0;
}

/* What the groups add up to. */
struct acc {
    const struct mon_drift_options *opt;
    struct mon_quality_options qo;
    cJSON *holder;            /* {"columns": the drift entries so far}, quality's view of them */
    cJSON *dcols, *qcols;
    size_t ndrift, drifted, nquality, nfailed;
    struct mon_rowclasses *rows[2];
    struct cap_buf *features; /* NULL: no page */
};

/* Tests, checks and charts the columns [a, b) of ref, read into gref and
 * gcur. */
static int group_report(struct acc *a, const struct mon_frame *gref, const struct mon_frame *gcur,
                        size_t from, size_t to, size_t threads, const bool *keep[2],
                        struct cap_error *err)
{
    const char **names = cap_xmalloc((to - from) * sizeof *names);
    size_t n = 0;
    for (size_t c = from; c < to; c++)
        if (mon_drift_selected(a->opt, gref->cols[c].name))
            names[n++] = gref->cols[c].name;
    int rc = mon_drift_columns(gref, gcur, a->opt, names, n, threads, a->dcols, &a->drifted, err);
    free(names);
    if (rc < 0)
        return rc;
    a->ndrift += n;
    for (size_t c = from; c < to; c++) {
        const struct mon_column *kr = &gref->cols[c];
        if (!mon_quality_selected(&a->qo, kr->name))
            continue;
        bool failed;
        cJSON_AddItemToArray(a->qcols, mon_quality_column(kr, gref->nrows,
                                                          find_col(gcur, kr->name, NULL),
                                                          gcur->nrows, &a->qo, &failed));
        a->nquality++;
        a->nfailed += failed;
    }
    int total = cJSON_GetArraySize(a->dcols);
    for (int i = total - (int)n; a->features && i < total; i++)
        mon_report_html_feature(a->features, gref, gcur, cJSON_GetArrayItem(a->dcols, i));
    mon_rowclasses_refine(a->rows[0], gref, keep[0]);
    mon_rowclasses_refine(a->rows[1], gcur, keep[1]);
    return 0;
}

/* Reads the columns of group g from both files and reports them. */
static int run_group(struct acc *a, const char *const path[2], const char *const *names,
                     size_t nnames, const struct mon_frame *shell[2], const struct plan *p,
                     size_t g, struct cap_error *err)
{
    const struct mon_frame *ref = shell[0], *cur = shell[1];
    bool *keep[2] = {cap_xcalloc(ref->ncols, sizeof(bool)), cap_xcalloc(cur->ncols, sizeof(bool))};
    for (size_t c = p->start[g]; c < p->start[g + 1]; c++) {
        size_t at = 0;
        keep[0][c] = true;
        find_col(cur, ref->cols[c].name, &at);
        keep[1][at] = true;
    }
    struct mon_frame f[2] = {{0}, {0}};
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        struct mon_frame_limits lim = {.types = shell[k], .keep = keep[k]};
        bool complete;
        rc = mon_frame_read_limited(path[k], names, nnames, &lim, &f[k], &complete, err);
    }
    const bool *kept[2] = {keep[0], keep[1]};
    if (rc == 0)
        rc = group_report(a, &f[0], &f[1], p->start[g], p->start[g + 1], p->threads, kept, err);
    mon_frame_free(&f[0]);
    mon_frame_free(&f[1]);
    free(keep[0]);
    free(keep[1]);
    return rc;
}

static int grouped_report(const char *const path[2], const char *const *names, size_t nnames,
                          const struct mon_frame *ref, const struct mon_frame *cur,
                          const struct mon_drift_options *opt, size_t max_bytes, cJSON **out,
                          struct cap_buf *page, size_t *ngroups, struct cap_error *err)
{
    int rc;
    struct acc a = {.opt = opt, .features = page ? cap_xcalloc(1, sizeof *a.features) : NULL};
    mon_quality_defaults(&a.qo);
    if ((rc = mon_frames_check(ref, cur, err)) < 0 || (rc = mon_drift_check(ref, opt, err)) < 0 ||
        (rc = mon_quality_check(ref, cur, &a.qo, err)) < 0) {
        free(a.features);
        return rc;
    }
    if (ref->nrows >= UINT32_MAX || cur->nrows >= UINT32_MAX) {
        free(a.features);
        return cap_err(err, CAP_EINVAL, "more than %u rows in a file: too many to read in "
                       "column groups", UINT32_MAX - 1);
    }
    struct plan p = {0};
    if ((rc = make_plan(ref, cur, max_bytes, &p, err)) < 0) {
        free(a.features);
        return rc;
    }
    if (page)
        cap_buf_init(a.features);
    a.holder = cJSON_CreateObject();
    a.dcols = cJSON_AddArrayToObject(a.holder, "columns");
    a.qcols = cJSON_CreateArray();
    a.qo.drift = a.holder; /* the drift entries so far: each group's own are among them */
    a.rows[0] = mon_rowclasses_new(ref->nrows);
    a.rows[1] = mon_rowclasses_new(cur->nrows);
    const struct mon_frame *shell[2] = {ref, cur};
    for (size_t g = 0; g < p.ngroups && rc == 0; g++)
        rc = run_group(&a, path, names, nnames, shell, &p, g, err);
    if (rc == 0) {
        cJSON *q = mon_quality_json(a.qcols, a.nquality, a.nfailed,
                                    mon_rowclasses_duplicates(a.rows[0]), ref->nrows,
                                    mon_rowclasses_duplicates(a.rows[1]), cur->nrows, &a.qo);
        a.qcols = NULL;
        cJSON_DetachItemViaPointer(a.holder, a.dcols);
        *out = mon_drift_report_json(a.dcols, a.ndrift, a.drifted, opt->drift_share);
        cJSON_AddItemToObject(*out, "data_quality", q);
        if (page)
            mon_report_html_page(page, ref->nrows, cur->nrows, ref->ncols, *out, q, a.features);
        *ngroups = p.ngroups;
    }
    cJSON_Delete(a.qcols);
    cJSON_Delete(a.holder);
    mon_rowclasses_free(a.rows[0]);
    mon_rowclasses_free(a.rows[1]);
    if (page)
        cap_buf_free(a.features);
    free(a.features);
    free(p.start);
    return rc;
}

/* The in-memory report, when the whole frames and the tests' copies fit. */
static bool fits(const struct mon_frame *ref, const struct mon_frame *cur, size_t max_bytes)
{
    size_t rows = ref->nrows + cur->nrows,
           larger = ref->nrows > cur->nrows ? ref->nrows : cur->nrows;
    size_t need = frame_bytes(ref) + frame_bytes(cur) +
                  mon_drift_threads() * TEST_WORK_BYTES * rows + DUP_BYTES * larger;
    return need <= max_bytes;
}

static int whole_report(const struct mon_frame *ref, const struct mon_frame *cur,
                        const struct mon_drift_options *opt, cJSON **out, struct cap_buf *page,
                        struct cap_error *err)
{
    int rc = mon_report(ref, cur, opt, out, err);
    if (rc == 0 && page) {
        const cJSON *quality = cJSON_GetObjectItemCaseSensitive(*out, "data_quality");
        if ((rc = mon_report_html(ref, cur, *out, quality, page, err)) < 0) {
            cJSON_Delete(*out);
            *out = NULL;
        }
    }
    return rc;
}

int mon_report_files(const char *ref_path, const char *cur_path, const char *const *names,
                     size_t nnames, const struct mon_drift_options *opt, size_t max_bytes,
                     cJSON **out, struct cap_buf *page, size_t *ngroups, struct cap_error *err)
{
    *out = NULL;
    *ngroups = 0;
    struct mon_frame ref = {0}, cur = {0};
    bool whole[2] = {false, false};
    struct mon_frame_limits lim = {.max_bytes = max_bytes};
    int rc = mon_frame_read_limited(ref_path, names, nnames, &lim, &ref, &whole[0], err);
    if (rc < 0)
        return rc;
    /* what the reference left of the budget; past it, the current is only typed */
    size_t used = whole[0] ? frame_bytes(&ref) : max_bytes;
    lim.max_bytes = used < max_bytes ? max_bytes - used : 1;
    rc = mon_frame_read_limited(cur_path, names, nnames, &lim, &cur, &whole[1], err);
    if (rc == 0) {
        if (whole[0] && whole[1] && fits(&ref, &cur, max_bytes)) {
            rc = whole_report(&ref, &cur, opt, out, page, err);
        } else {
            mon_frame_drop_cells(&ref);
            mon_frame_drop_cells(&cur);
            const char *path[2] = {ref_path, cur_path};
            rc = grouped_report(path, names, nnames, &ref, &cur, opt, max_bytes, out, page,
                                ngroups, err);
        }
    }
    mon_frame_free(&ref);
    mon_frame_free(&cur);
    return rc;
}
