/* livewin.c - one live monitoring window: the rows of its requests, read
 * from the log's packs into the baseline's columns, and its result. Up to
 * exact_rows rows are held as columns for the exact tests (50,000 rows of
 * 30 numeric columns hold 12 MB); beyond that they are counted into the
 * window's profile in blocks and the window is tested from profiles, so a
 * busy deployment costs bounded memory whatever its traffic. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/numfmt.h"
#include "base/util.h"
#include "monitor/live.h"
#include "payload/payload.h"

/* ---- the reference ---- */

static int ref_columns(struct mon_ref *r, struct cap_error *err)
{
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(r->b.meta, "columns");
    size_t n = r->b.sample.ncols;
    if (!cJSON_IsArray(cols) || (size_t)cJSON_GetArraySize(cols) != n)
        return cap_err(err, CAP_EINTERNAL, "baseline '%s': its columns do not match its sample",
                       r->target);
    r->cols = cap_xcalloc(n + 1, sizeof *r->cols);
    for (int k = 0; k < 2; k++) {
        r->names[k] = cap_xcalloc(n + 1, sizeof(char *));
        r->num[k] = cap_xcalloc(n + 1, sizeof(char *));
        r->cat[k] = cap_xcalloc(n + 1, sizeof(char *));
    }
    size_t i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cols)
    {
        const char *name = r->b.sample.cols[i].name;
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(c, "kind");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(c, "role");
        const cJSON *tensor = cJSON_GetObjectItemCaseSensitive(c, "tensor");
        const cJSON *index = cJSON_GetObjectItemCaseSensitive(c, "index");
        if (!cJSON_IsString(tensor) || !cJSON_IsNumber(index) || !cJSON_IsString(role))
            return cap_err(err, CAP_EINTERNAL, "baseline '%s': column %zu lacks its tensor",
                           r->target, i);
        int k = strcmp(role->valuestring, "output") == 0;
        /* one pointer per tensor: fill_tensor compares names once per tensor */
        const char *tname = tensor->valuestring;
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->cols[j].tensor, tname) == 0) {
                tname = r->cols[j].tensor;
                break;
            }
        r->cols[i] = (struct mon_refcol){.tensor = tname,
                                         .index = index->valueint,
                                         .output = k == 1,
                                         .text = r->b.sample.cols[i].dtype == MON_TEXT};
        r->names[k][r->nnames[k]++] = name;
        if (cJSON_IsString(kind) && strcmp(kind->valuestring, "cat") == 0)
            r->cat[k][r->ncat[k]++] = name;
        else
            r->num[k][r->nnum[k]++] = name;
        i++;
    }
    return 0;
}

int mon_ref_load(struct store *st, struct blob *bl, const char *target, struct mon_ref **out,
                 struct cap_error *err)
{
    struct mon_ref *r = cap_xcalloc(1, sizeof *r);
    r->refs = 1;
    r->target = cap_xstrdup(target);
    int rc = mon_baseline_load(st, bl, target, &r->b, err);
    if (rc == 0)
        rc = ref_columns(r, err);
    if (rc < 0) {
        mon_ref_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void mon_ref_free(struct mon_ref *r)
{
    if (!r || --r->refs > 0)
        return;
    mon_baseline_free(&r->b);
    for (int k = 0; k < 2; k++) {
        free(r->names[k]);
        free(r->num[k]);
        free(r->cat[k]);
    }
    free(r->cols);
    free(r->target);
    free(r);
}

/* ---- a window's rows ---- */

struct mon_win *mon_win_new(int64_t start_ms, struct mon_ref *ref)
{
    if (ref)
        ref->refs++;
    struct mon_win *w = cap_xcalloc(1, sizeof *w);
    w->start_ms = start_ms;
    w->first_id = INT64_MAX;
    w->last_id = -1;
    cap_buf_init(&w->profile);
    w->ref = ref;
    w->versions = cJSON_CreateObject();
    if (ref)
        w->cols = cap_xcalloc(ref->b.sample.ncols + 1, sizeof *w->cols);
    return w;
}

static void drop_rows(struct mon_win *w)
{
    for (size_t c = 0; w->ref && c < w->ref->b.sample.ncols; c++)
        if (w->cols[c].text)
            for (size_t i = 0; i < w->buffered; i++)
                free(w->cols[c].text[i]);
    w->buffered = 0;
}

void mon_win_free(struct mon_win *w)
{
    if (!w)
        return;
    drop_rows(w);
    for (size_t c = 0; w->ref && c < w->ref->b.sample.ncols; c++) {
        free(w->cols[c].num);
        free(w->cols[c].text);
    }
    free(w->cols);
    if (w->has_prof)
        mon_profile_free(&w->prof);
    cJSON_Delete(w->versions);
    cJSON_Delete(w->result);
    cap_buf_free(&w->profile);
    mon_ref_free(w->ref);
    free(w);
}

/* Room for n more rows, every cell missing until a tensor fills it. */
static void reserve_rows(struct mon_win *w, size_t n)
{
    const struct mon_ref *r = w->ref;
    if (w->buffered + n > w->room) {
        size_t room = w->room ? w->room : 64;
        while (room < w->buffered + n)
            room *= 2;
        for (size_t c = 0; c < r->b.sample.ncols; c++) {
            if (r->cols[c].text)
                w->cols[c].text = cap_xrealloc(w->cols[c].text, room * sizeof(char *));
            else
                w->cols[c].num = cap_xrealloc(w->cols[c].num, room * sizeof(double));
        }
        w->room = room;
    }
    for (size_t c = 0; c < r->b.sample.ncols; c++)
        for (size_t i = w->buffered; i < w->buffered + n; i++) {
            if (r->cols[c].text)
                w->cols[c].text[i] = NULL;
            else
                w->cols[c].num[i] = NAN;
        }
}

struct fill {
    struct mon_win *w;
    bool outputs;
    int64_t rows; /* the request's rows; -1 until its first tensor says */
};

/* Element k of t as column c's cell of row i. */
static void put_cell(struct mon_win *w, size_t c, size_t i, const infer_tensor *t, int64_t k)
{
    const struct mon_refcol *rc = &w->ref->cols[c];
    if (t->type == INFER_STRING) {
        const char *s = ((char *const *)t->data)[k];
        double v;
        if (rc->text)
            w->cols[c].text[i] = cap_xstrdup(s);
        else if (cap_text_to_double(s, strlen(s), &v))
            w->cols[c].num[i] = v;
        return;
    }
    double v = payload_elem_double(t->type, t->data, k);
    if (!rc->text) {
        w->cols[c].num[i] = v;
        return;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%.17g", v);
    w->cols[c].text[i] = cap_xstrdup(buf);
}

static int fill_tensor(void *cls, const char *name, const infer_tensor *t)
{
    struct fill *f = cls;
    struct mon_win *w = f->w;
    int64_t rows = t->ndim >= 1 ? t->dims[0] : 1;
    if (f->rows < 0) {
        f->rows = rows;
        reserve_rows(w, (size_t)rows);
    }
    int64_t count = infer_tensor_count(t);
    int64_t per_row = rows > 0 ? count / rows : 0; /* [N, k] and [N, k, ...] alike */
    const char *seen = NULL; /* the last tensor name compared, and its answer */
    bool match = false;
    for (size_t c = 0; c < w->ref->b.sample.ncols; c++) {
        const struct mon_refcol *rc = &w->ref->cols[c];
        if (rc->output != f->outputs)
            continue;
        if (rc->tensor != seen) {
            seen = rc->tensor;
            match = strcmp(seen, name) == 0;
        }
        if (!match || rc->index < 0 || rc->index >= per_row)
            continue;
        for (int64_t i = 0; i < rows && i < f->rows; i++)
            put_cell(w, c, w->buffered + (size_t)i, t, i * per_row + rc->index);
    }
    return 0;
}

static int count_rows(void *cls, const char *name, const infer_tensor *t)
{
    *(int64_t *)cls = t->ndim >= 1 ? t->dims[0] : 1;
    return 1;
}

/* A view of the buffered rows as a frame: columns [from, to) of the
 * sample, typed like the sample's (whole numbers stay MON_INT only when
 * every cell is one, as a file of them would read). */
static void win_frame(const struct mon_win *w, size_t from, size_t to, struct mon_frame *f)
{
    const struct mon_frame *s = &w->ref->b.sample;
    *f = (struct mon_frame){.path = "the current window", .nrows = w->buffered,
                            .ncols = to - from};
    f->cols = cap_xcalloc(to - from + 1, sizeof *f->cols);
    for (size_t c = from; c < to; c++) {
        struct mon_column *k = &f->cols[c - from];
        k->name = s->cols[c].name;
        k->dtype = s->cols[c].dtype;
        k->num = w->cols[c].num;
        k->text = w->cols[c].text;
        for (size_t i = 0; k->dtype == MON_INT && i < w->buffered; i++)
            if (!isfinite(k->num[i]) || k->num[i] != floor(k->num[i]))
                k->dtype = MON_FLOAT;
    }
}

/* Moves the buffered rows into the window's profile. */
static void spill(struct mon_win *w)
{
    if (!w->has_prof) {
        mon_profile_empty_like(w->ref->b.profile, &w->prof);
        w->has_prof = true;
    }
    if (w->buffered == 0)
        return;
    struct mon_frame f;
    win_frame(w, 0, w->ref->b.sample.ncols, &f);
    struct cap_error err = {0};
    if (mon_profile_add(&w->prof, &f, &err) < 0)
        cap_log(CAP_LOG_WARN, "monitor: a window's profile: %s", err.msg);
    free(f.cols);
    drop_rows(w);
}

static bool is_version(const char *key, const char *name, const char *version)
{
    size_t n = strlen(name);
    return strncmp(key, name, n) == 0 && key[n] == '/' && strcmp(key + n + 1, version) == 0;
}

/* rows into w->versions["name/version"]; a run of requests to one version
 * (the usual case) skips the key's formatting and lookup, ~3% of the
 * monitor's CPU on one-row requests. */
static void count_version(struct mon_win *w, const struct store_prediction *r, int64_t rows)
{
    cJSON *v = w->last_version;
    if (!v || !is_version(v->string, r->model_name, r->model_version)) {
        char key[300];
        snprintf(key, sizeof key, "%.140s/%.140s", r->model_name, r->model_version);
        v = cJSON_GetObjectItemCaseSensitive(w->versions, key);
        if (!v)
            v = cJSON_AddNumberToObject(w->versions, key, 0);
        w->last_version = v;
    }
    cJSON_SetNumberValue(v, v->valuedouble + (double)rows);
}

void mon_win_add(struct mon_win *w, int64_t id, const struct store_prediction *r, bool late,
                 size_t exact_rows)
{
    int64_t rows = 0;
    if (!w->ref) {
        payload_log_walk(r->inputs, r->inputs_len, count_rows, &rows);
    } else {
        if (w->buffered >= exact_rows) {
            spill(w);
            w->overflow = true;
        }
        struct fill f = {.w = w, .rows = -1};
        payload_log_walk(r->inputs, r->inputs_len, fill_tensor, &f);
        if (f.rows > 0) {
            f.outputs = true;
            payload_log_walk(r->outputs, r->outputs_len, fill_tensor, &f);
            w->buffered += (size_t)f.rows;
            rows = f.rows;
        }
    }
    w->rows += rows;
    if (late)
        w->late_rows += rows;
    if (id < w->first_id)
        w->first_id = id;
    if (id > w->last_id)
        w->last_id = id;
    count_version(w, r, rows);
}

/* ---- results ---- */

static void add_error(cJSON *res, const char *what, const char *msg)
{
    cJSON *e = cJSON_GetObjectItemCaseSensitive(res, "errors");
    char buf[600];
    snprintf(buf, sizeof buf, "%s: %s", what, msg);
    cJSON_AddItemToArray(e, cJSON_CreateString(buf));
}

/* The drift options of one role ([0] inputs, [1] outputs), with the
 * baseline's kinds; columns: name the role's columns (profiles hold both). */
static void role_options(const struct mon_ref *r, int k, bool columns,
                         struct mon_drift_options *o)
{
    *o = (struct mon_drift_options){.numerical = r->num[k], .n_numerical = r->nnum[k],
                                    .categorical = r->cat[k], .n_categorical = r->ncat[k],
                                    .drift_share = 0.5};
    if (columns) {
        o->columns = r->names[k];
        o->n_columns = r->nnames[k];
    }
}

static cJSON *result_head(const char *deployment, int64_t width_s, int64_t start_ms,
                          int64_t rows, int64_t late_rows, const struct mon_ref *r,
                          const cJSON *versions)
{
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "deployment", deployment);
    cJSON_AddNumberToObject(res, "width_s", (double)width_s);
    cJSON_AddNumberToObject(res, "start_ms", (double)start_ms);
    cJSON_AddNumberToObject(res, "end_ms", (double)(start_ms + width_s * 1000));
    cJSON_AddNumberToObject(res, "rows", (double)rows);
    cJSON_AddNumberToObject(res, "late_rows", (double)late_rows);
    cJSON_AddItemToObject(res, "model_versions",
                          versions ? cJSON_Duplicate(versions, true) : cJSON_CreateObject());
    if (r) {
        cJSON *ref = cJSON_AddObjectToObject(res, "reference");
        cJSON_AddStringToObject(ref, "target", r->target);
        cJSON_AddNumberToObject(ref, "rows", (double)r->b.sample.nrows);
    } else {
        cJSON_AddNullToObject(res, "reference");
    }
    cJSON_AddArrayToObject(res, "errors");
    return res;
}

/* The columns of a profile-based report whose score is not exact. */
static void note_approximations(cJSON *res, const cJSON *report)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(res, "approximation");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(report, "columns"))
    {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, "approximation");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(a, "method");
        if (!cJSON_IsString(m) || strcmp(m->valuestring, "exact") == 0)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "column",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(c, "column"), 0));
        cJSON_AddStringToObject(o, "method", m->valuestring);
        cJSON_AddItemToObject(
            o, "error_bound",
            cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(a, "error_bound"), 0));
        cJSON_AddItemToArray(list, o);
    }
}

/* Drift, prediction drift and data quality of cur against the reference
 * from profiles alone. */
static void profile_reports(const struct mon_ref *r, const struct mon_profile *cur, cJSON *res)
{
    cJSON_AddStringToObject(res, "method", "profile");
    cJSON_AddArrayToObject(res, "approximation");
    struct mon_drift_options o;
    struct cap_error err = {0};
    cJSON *drift = NULL, *quality = NULL, *pred = NULL;
    role_options(r, 0, true, &o);
    if (mon_drift_profiles(r->b.profile, cur, &o, &drift, &err) < 0)
        add_error(res, "drift", err.msg);
    struct mon_quality_options q;
    mon_quality_defaults(&q);
    q.columns = r->names[0];
    q.n_columns = r->nnames[0];
    q.categorical = r->cat[0];
    q.n_categorical = r->ncat[0];
    if (mon_quality_profiles(r->b.profile, cur, &q, &quality, &err) < 0)
        add_error(res, "data quality", err.msg);
    role_options(r, 1, true, &o);
    if (r->nnames[1] && mon_drift_profiles(r->b.profile, cur, &o, &pred, &err) < 0)
        add_error(res, "prediction drift", err.msg);
    note_approximations(res, drift);
    note_approximations(res, pred);
    cJSON_AddItemToObject(res, "drift", drift ? drift : cJSON_CreateNull());
    cJSON_AddItemToObject(res, "prediction_drift", pred ? pred : cJSON_CreateNull());
    cJSON_AddItemToObject(res, "data_quality", quality ? quality : cJSON_CreateNull());
}

/* The exact tests on the window's rows against the baseline's sample. */
static void exact_reports(struct mon_win *w, cJSON *res)
{
    const struct mon_ref *r = w->ref;
    size_t nin = r->b.n_inputs, n = r->b.sample.ncols;
    struct mon_frame ref_in = r->b.sample, ref_out = r->b.sample, cur_in, cur_out;
    ref_in.path = ref_out.path = "the baseline";
    ref_in.ncols = nin;
    ref_out.cols += nin;
    ref_out.ncols = n - nin;
    win_frame(w, 0, nin, &cur_in);
    win_frame(w, nin, n, &cur_out);
    cJSON_AddStringToObject(res, "method", "exact");
    cJSON_AddArrayToObject(res, "approximation");
    struct mon_drift_options o;
    struct cap_error err = {0};
    cJSON *rep = NULL, *pred = NULL, *quality = NULL;
    role_options(r, 0, false, &o);
    if (mon_report(&ref_in, &cur_in, &o, &rep, &err) == 0)
        quality = cJSON_DetachItemFromObjectCaseSensitive(rep, "data_quality");
    else
        add_error(res, "drift", err.msg);
    role_options(r, 1, false, &o);
    if (n > nin && mon_drift(&ref_out, &cur_out, &o, &pred, &err) < 0)
        add_error(res, "prediction drift", err.msg);
    cJSON_AddItemToObject(res, "drift", rep ? rep : cJSON_CreateNull());
    cJSON_AddItemToObject(res, "prediction_drift", pred ? pred : cJSON_CreateNull());
    cJSON_AddItemToObject(res, "data_quality", quality ? quality : cJSON_CreateNull());
    free(cur_in.cols);
    free(cur_out.cols);
}

cJSON *mon_win_result(struct mon_win *w, const char *deployment, int64_t width_s,
                      struct cap_buf *profile)
{
    cJSON *res = result_head(deployment, width_s, w->start_ms, w->rows, w->late_rows, w->ref,
                             w->versions);
    if (!w->ref) {
        cJSON_AddNullToObject(res, "method");
        cJSON_AddArrayToObject(res, "approximation");
        cJSON_AddNullToObject(res, "drift");
        cJSON_AddNullToObject(res, "prediction_drift");
        cJSON_AddNullToObject(res, "data_quality");
        add_error(res, "reference", "the deployment and its model version have no baseline");
        return res;
    }
    if (!w->overflow)
        exact_reports(w, res);
    spill(w); /* the profile of every row, for the longer windows */
    if (w->overflow)
        profile_reports(w->ref, &w->prof, res);
    mon_profile_encode(&w->prof, profile);
    return res;
}

cJSON *mon_rollup_result(const struct mon_ref *ref, const struct mon_profile *merged,
                         const char *deployment, int64_t width_s, int64_t start_ms,
                         int64_t rows)
{
    cJSON *res = result_head(deployment, width_s, start_ms, rows, 0, ref, NULL);
    profile_reports(ref, merged, res);
    return res;
}
