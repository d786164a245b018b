/* store_sqlite_feedback.c - labels joined to their predictions (migration 7:
 * feedback_labels). A label row carries what its prediction said, so a
 * window's quality reads one index range and no log; the current label of
 * a row is the one with current = 1, the rows it replaced are its history.
 * The one index is (deployment, pred_ms, request_id, row): labels arrive
 * roughly in the order of their predictions, so inserts stay local; a row's
 * history, asked by id alone, walks the deployment's part of it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store_sqlite.h"

#define LABEL_COLUMNS                                                                      \
    "request_id, row, label, value, label_ms, received_ms, source, pred_ms, model_version, " \
    "prediction, pred_value, scores, current"

struct label_job {
    const struct store_label *labels;
    size_t n;
    const char *deployment, *request_id;
    int64_t row, from, to;
    store_label_fn fn;
    void *cls;
    cJSON *out;
};

static struct sq_bind num_or_null(bool has, double v)
{
    return has ? (struct sq_bind)SQ_DBL(v) : (struct sq_bind)SQ_NULL;
}

static int put_one(struct sq_conn *c, const struct store_label *l, struct cap_error *err)
{
    int rc = store_sq_run(c,
                          "UPDATE feedback_labels SET current = 0 WHERE deployment = ?1 AND "
                          "pred_ms = ?2 AND request_id = ?3 AND row = ?4 AND current = 1",
                          SQ_ARGS(SQ_TEXT(l->deployment), SQ_INT(l->pred_ms),
                                  SQ_TEXT(l->request_id), SQ_INT(l->row)),
                          err, "storing labels");
    if (rc < 0)
        return rc;
    /* scores: float64 in the host's order (little-endian wherever Capstan builds) */
    return store_sq_run(
        c,
        "INSERT INTO feedback_labels(deployment, " LABEL_COLUMNS
        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
        SQ_ARGS(SQ_TEXT(l->deployment), SQ_TEXT(l->request_id), SQ_INT(l->row),
                SQ_TEXT(l->label), num_or_null(!l->label, l->value),
                l->label_ms >= 0 ? (struct sq_bind)SQ_INT(l->label_ms) : (struct sq_bind)SQ_NULL,
                SQ_INT(l->received_ms), SQ_TEXT(l->source), SQ_INT(l->pred_ms),
                SQ_TEXT(l->model_version), SQ_TEXT(l->prediction),
                num_or_null(!l->prediction, l->pred_value),
                l->scores ? (struct sq_bind)SQ_BLOB(l->scores, l->nscores * sizeof(double))
                          : (struct sq_bind)SQ_NULL),
        err, "storing labels");
}

static int job_put(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct label_job *a = arg;
    int rc = 0;
    for (size_t i = 0; i < a->n && rc == 0; i++)
        rc = put_one(c, &a->labels[i], err);
    return rc;
}

int store_sq_labels_put(void *impl, const struct store_label *labels, size_t n,
                        struct cap_error *err)
{
    struct label_job a = {.labels = labels, .n = n};
    return store_sq_write(impl, job_put, &a, err);
}

/* A row of LABEL_COLUMNS as a store_label (pointers into the statement). */
static void label_of(sqlite3_stmt *st, const char *deployment, struct store_label *l)
{
    const void *scores = sqlite3_column_blob(st, 11);
    *l = (struct store_label){
        .deployment = deployment,
        .request_id = store_sq_col_text(st, 0),
        .row = sqlite3_column_int64(st, 1),
        .label = store_sq_col_text(st, 2),
        .value = sqlite3_column_double(st, 3),
        .label_ms = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 4),
        .received_ms = sqlite3_column_int64(st, 5),
        .source = store_sq_col_text(st, 6),
        .pred_ms = sqlite3_column_int64(st, 7),
        .model_version = store_sq_col_text(st, 8),
        .prediction = store_sq_col_text(st, 9),
        .pred_value = sqlite3_column_double(st, 10),
        .scores = scores,
        .nscores = (size_t)sqlite3_column_bytes(st, 11) / sizeof(double),
    };
}

static int run_scan(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct label_job *a = arg;
    sqlite3_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT " LABEL_COLUMNS " FROM feedback_labels WHERE deployment = ?1 AND current = 1 "
        "AND pred_ms >= ?2 AND pred_ms < ?3 ORDER BY pred_ms, id",
        SQ_ARGS(SQ_TEXT(a->deployment), SQ_INT(a->from), SQ_INT(a->to)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0, step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_label l;
        label_of(st, a->deployment, &l);
        rc = a->fn(a->cls, &l, err);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = store_sq_dberr(c, err, "reading labels");
    sqlite3_reset(st);
    return rc;
}

int store_sq_labels_scan(void *impl, const char *deployment, int64_t from_ms, int64_t to_ms,
                         store_label_fn fn, void *cls, struct cap_error *err)
{
    struct label_job a = {.deployment = deployment, .from = from_ms, .to = to_ms, .fn = fn,
                          .cls = cls};
    return store_sq_read(impl, run_scan, &a, err);
}

static cJSON *history_json(sqlite3_stmt *st)
{
    struct store_label l;
    label_of(st, NULL, &l);
    cJSON *o = cJSON_CreateObject();
    if (l.label)
        cJSON_AddStringToObject(o, "label", l.label);
    else
        cJSON_AddNumberToObject(o, "value", l.value);
    if (l.label_ms >= 0)
        cJSON_AddNumberToObject(o, "label_ms", (double)l.label_ms);
    cJSON_AddNumberToObject(o, "received_ms", (double)l.received_ms);
    cJSON_AddStringToObject(o, "source", l.source);
    cJSON_AddBoolToObject(o, "current", sqlite3_column_int64(st, 12) != 0);
    if (l.prediction)
        cJSON_AddStringToObject(o, "prediction", l.prediction);
    else
        cJSON_AddNumberToObject(o, "pred_value", l.pred_value);
    cJSON_AddNumberToObject(o, "pred_ms", (double)l.pred_ms);
    cJSON_AddStringToObject(o, "model_version", l.model_version);
    return o;
}

static int run_history(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct label_job *a = arg;
    sqlite3_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT " LABEL_COLUMNS " FROM feedback_labels WHERE deployment = ?1 AND "
        "request_id = ?2 AND row = ?3 ORDER BY id",
        SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->request_id), SQ_INT(a->row)), err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        cJSON_AddItemToArray(a->out, history_json(st));
    sqlite3_reset(st);
    return step == SQLITE_DONE ? 0 : store_sq_dberr(c, err, "reading labels");
}

int store_sq_labels_history(void *impl, const char *deployment, const char *request_id,
                            int64_t row, cJSON **out, struct cap_error *err)
{
    struct label_job a = {.deployment = deployment, .request_id = request_id, .row = row};
    int rc = store_sq_read(impl, run_history, &a, err);
    if (rc < 0) {
        cJSON_Delete(a.out);
        return rc;
    }
    *out = a.out;
    return 0;
}
