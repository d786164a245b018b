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
    const struct store_detector_step *steps;
    size_t nsteps;
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

/* A detector's state after the batch, and its detections; nothing when it
 * was replaced or deleted while the batch was joined. */
static int put_step(struct sq_conn *c, const struct store_detector_step *d,
                    struct cap_error *err)
{
    int rc = store_sq_run(c,
                          "UPDATE feedback_detectors SET state = ?1, seen = ?2, warning = ?3, "
                          "updated_at = ?4 WHERE deployment = ?5 AND name = ?6 AND spec = ?7",
                          SQ_ARGS(SQ_BLOB(d->state, d->state_len), SQ_INT(d->seen),
                                  SQ_INT(d->warning), SQ_INT(d->at_ms), SQ_TEXT(d->deployment),
                                  SQ_TEXT(d->name), SQ_TEXT(d->spec_json)),
                          err, "storing a detector's state");
    if (rc < 0 || sq_changes(c->db) == 0)
        return rc;
    for (size_t i = 0; i < d->ndetections && rc == 0; i++) {
        const struct store_detection *e = &d->detections[i];
        rc = store_sq_run(c,
                          "INSERT INTO feedback_detections(deployment, name, kind, position, "
                          "request_id, row, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          SQ_ARGS(SQ_TEXT(d->deployment), SQ_TEXT(d->name), SQ_TEXT(e->kind),
                                  SQ_INT(e->position), SQ_TEXT(e->request_id), SQ_INT(e->row),
                                  SQ_INT(d->at_ms)),
                          err, "storing a detection");
    }
    return rc;
}

static int job_put(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct label_job *a = arg;
    int rc = 0;
    for (size_t i = 0; i < a->n && rc == 0; i++)
        rc = put_one(c, &a->labels[i], err);
    for (size_t i = 0; i < a->nsteps && rc == 0; i++)
        rc = put_step(c, &a->steps[i], err);
    return rc;
}

int store_sq_labels_put(void *impl, const struct store_label *labels, size_t n,
                        const struct store_detector_step *steps, size_t nsteps,
                        struct cap_error *err)
{
    struct label_job a = {.labels = labels, .n = n, .steps = steps, .nsteps = nsteps};
    return store_sq_write(impl, job_put, &a, err);
}

/* A row of LABEL_COLUMNS as a store_label (pointers into the statement). */
static void label_of(struct sq_stmt *st, const char *deployment, struct store_label *l)
{
    const void *scores = sq_col_blob(st, 11);
    *l = (struct store_label){
        .deployment = deployment,
        .request_id = store_sq_col_text(st, 0),
        .row = sq_col_int(st, 1),
        .label = store_sq_col_text(st, 2),
        .value = sq_col_dbl(st, 3),
        .label_ms = sq_col_null(st, 4) ? -1 : sq_col_int(st, 4),
        .received_ms = sq_col_int(st, 5),
        .source = store_sq_col_text(st, 6),
        .pred_ms = sq_col_int(st, 7),
        .model_version = store_sq_col_text(st, 8),
        .prediction = store_sq_col_text(st, 9),
        .pred_value = sq_col_dbl(st, 10),
        .scores = scores,
        .nscores = (size_t)sq_col_bytes(st, 11) / sizeof(double),
    };
}

static int run_scan(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct label_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT " LABEL_COLUMNS " FROM feedback_labels WHERE deployment = ?1 AND current = 1 "
        "AND pred_ms >= ?2 AND pred_ms < ?3 ORDER BY pred_ms, id",
        SQ_ARGS(SQ_TEXT(a->deployment), SQ_INT(a->from), SQ_INT(a->to)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0, step = SQ_DONE;
    while (rc == 0 && (step = sq_step(st)) == SQ_ROW) {
        struct store_label l;
        label_of(st, a->deployment, &l);
        rc = a->fn(a->cls, &l, err);
    }
    if (rc == 0 && step != SQ_DONE)
        rc = store_sq_dberr(c, err, "reading labels");
    sq_reset(st);
    return rc;
}

int store_sq_labels_scan(void *impl, const char *deployment, int64_t from_ms, int64_t to_ms,
                         store_label_fn fn, void *cls, struct cap_error *err)
{
    struct label_job a = {.deployment = deployment, .from = from_ms, .to = to_ms, .fn = fn,
                          .cls = cls};
    return store_sq_read(impl, run_scan, &a, err);
}

struct count_job {
    const char *deployment;
    int64_t from, to, limit, n;
};

static int run_count(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct count_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT count(*) FROM (SELECT 1 FROM feedback_labels WHERE deployment = ?1 AND "
        "pred_ms >= ?2 AND pred_ms < ?3 AND current = 1 LIMIT ?4) n",
        SQ_ARGS(SQ_TEXT(a->deployment), SQ_INT(a->from), SQ_INT(a->to), SQ_INT(a->limit)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int step = sq_step(st);
    if (step == SQ_ROW)
        a->n = sq_col_int(st, 0);
    sq_reset(st);
    return step == SQ_ROW ? 0 : store_sq_dberr(c, err, "counting labels");
}

int store_sq_labels_count(void *impl, const char *deployment, int64_t from_ms, int64_t to_ms,
                          int64_t limit, int64_t *n, struct cap_error *err)
{
    struct count_job a = {.deployment = deployment, .from = from_ms, .to = to_ms,
                          .limit = limit};
    int rc = store_sq_read(impl, run_count, &a, err);
    *n = a.n;
    return rc;
}

static cJSON *history_json(struct sq_stmt *st)
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
    cJSON_AddBoolToObject(o, "current", sq_col_int(st, 12) != 0);
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
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT " LABEL_COLUMNS " FROM feedback_labels WHERE deployment = ?1 AND "
        "request_id = ?2 AND row = ?3 ORDER BY id",
        SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->request_id), SQ_INT(a->row)), err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int step;
    while ((step = sq_step(st)) == SQ_ROW)
        cJSON_AddItemToArray(a->out, history_json(st));
    sq_reset(st);
    return step == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading labels");
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

/* ---- detectors ---- */

struct det_job {
    const char *deployment, *name, *spec;
    const void *state;
    size_t len;
    int max;
    store_detector_fn fn;
    void *cls;
    cJSON *out;
};

static int job_det_put(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct det_job *a = arg;
    int64_t now = cap_now_ms();
    int rc = store_sq_run(c, "DELETE FROM feedback_detections WHERE deployment = ?1 AND name = ?2",
                          SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->name)), err,
                          "storing a detector");
    if (rc == 0)
        rc = store_sq_run(c,
                          "INSERT INTO feedback_detectors(deployment, name, spec, "
                          "state, seen, warning, created_at, updated_at) "
                          "VALUES (?, ?, ?, ?, 0, 0, ?, ?) ON CONFLICT (deployment, name) "
                          "DO UPDATE SET spec = excluded.spec, state = excluded.state, seen = 0, "
                          "warning = 0, created_at = excluded.created_at, "
                          "updated_at = excluded.updated_at",
                          SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->name), SQ_TEXT(a->spec),
                                  SQ_BLOB(a->state, a->len), SQ_INT(now), SQ_INT(now)),
                          err, "storing a detector");
    return rc;
}

int store_sq_detector_put(void *impl, const char *deployment, const char *name,
                          const char *spec_json, const void *state, size_t state_len,
                          struct cap_error *err)
{
    struct det_job a = {.deployment = deployment, .name = name, .spec = spec_json,
                        .state = state, .len = state_len};
    return store_sq_write(impl, job_det_put, &a, err);
}

static int job_det_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct det_job *a = arg;
    int rc = store_sq_run(c, "DELETE FROM feedback_detectors WHERE deployment = ?1 AND name = ?2",
                          SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->name)), err,
                          "deleting a detector");
    if (rc == 0 && sq_changes(c->db) == 0)
        return cap_err(err, CAP_ENOTFOUND, "Detector '%s' of deployment '%s' not found",
                       a->name, a->deployment);
    if (rc == 0)
        rc = store_sq_run(c, "DELETE FROM feedback_detections WHERE deployment = ?1 AND name = ?2",
                          SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->name)), err,
                          "deleting a detector");
    return rc;
}

int store_sq_detector_delete(void *impl, const char *deployment, const char *name,
                             struct cap_error *err)
{
    struct det_job a = {.deployment = deployment, .name = name};
    return store_sq_write(impl, job_det_delete, &a, err);
}

static int run_det_load(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct det_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT name, spec, state, seen, warning FROM feedback_detectors WHERE "
           "deployment = ?1 ORDER BY name",
        SQ_ARGS(SQ_TEXT(a->deployment)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0, step = SQ_DONE;
    while (rc == 0 && (step = sq_step(st)) == SQ_ROW)
        rc = a->fn(a->cls, store_sq_col_text(st, 0), store_sq_col_text(st, 1),
                   sq_col_blob(st, 2), (size_t)sq_col_bytes(st, 2),
                   sq_col_int(st, 3), sq_col_int(st, 4) != 0, err);
    if (rc == 0 && step != SQ_DONE)
        rc = store_sq_dberr(c, err, "reading detectors");
    sq_reset(st);
    return rc;
}

int store_sq_detectors_load(void *impl, const char *deployment, store_detector_fn fn, void *cls,
                            struct cap_error *err)
{
    struct det_job a = {.deployment = deployment, .fn = fn, .cls = cls};
    return store_sq_read(impl, run_det_load, &a, err);
}

static cJSON *detection_json(struct sq_stmt *st, int col)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", store_sq_col_text(st, col));
    cJSON_AddNumberToObject(o, "position", (double)sq_col_int(st, col + 1));
    const char *rid = store_sq_col_text(st, col + 2);
    char id[200];
    snprintf(id, sizeof id, "%s/%lld", rid ? rid : "", (long long)sq_col_int(st, col + 3));
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddNumberToObject(o, "at_ms", (double)sq_col_int(st, col + 4));
    return o;
}

static int run_det_list(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct det_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT d.name, d.spec, d.seen, d.warning, d.created_at, d.updated_at, "
        "(SELECT count(*) FROM feedback_detections e WHERE e.deployment = d.deployment AND "
        "e.name = d.name AND e.kind = 'drift'), "
        "(SELECT count(*) FROM feedback_detections e WHERE e.deployment = d.deployment AND "
        "e.name = d.name AND e.kind = 'warning') "
        "FROM feedback_detectors d WHERE d.deployment = ?1 ORDER BY d.name",
        SQ_ARGS(SQ_TEXT(a->deployment)), err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int step;
    while ((step = sq_step(st)) == SQ_ROW) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", store_sq_col_text(st, 0));
        cJSON *spec = cJSON_Parse(store_sq_col_text(st, 1));
        cJSON_AddItemToObject(o, "detector", spec ? spec : cJSON_CreateNull());
        cJSON_AddNumberToObject(o, "seen", (double)sq_col_int(st, 2));
        cJSON_AddBoolToObject(o, "warning", sq_col_int(st, 3) != 0);
        cJSON_AddNumberToObject(o, "created_at", (double)sq_col_int(st, 4));
        cJSON_AddNumberToObject(o, "updated_at", (double)sq_col_int(st, 5));
        cJSON_AddNumberToObject(o, "drifts", (double)sq_col_int(st, 6));
        cJSON_AddNumberToObject(o, "warnings", (double)sq_col_int(st, 7));
        cJSON_AddItemToArray(a->out, o);
    }
    sq_reset(st);
    return step == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading detectors");
}

int store_sq_detector_list(void *impl, const char *deployment, cJSON **out,
                           struct cap_error *err)
{
    struct det_job a = {.deployment = deployment};
    int rc = store_sq_read(impl, run_det_list, &a, err);
    if (rc < 0) {
        cJSON_Delete(a.out);
        return rc;
    }
    *out = a.out;
    return 0;
}

static int run_detections(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct det_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT name, kind, position, request_id, row, at_ms FROM feedback_detections WHERE "
        "deployment = ?1 AND (?2 IS NULL OR name = ?2) ORDER BY id DESC LIMIT ?3",
        SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->name), SQ_INT(a->max)), err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int step;
    while ((step = sq_step(st)) == SQ_ROW) {
        cJSON *o = detection_json(st, 1);
        cJSON_AddStringToObject(o, "name", store_sq_col_text(st, 0));
        cJSON_AddItemToArray(a->out, o);
    }
    sq_reset(st);
    return step == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading detections");
}

int store_sq_detection_list(void *impl, const char *deployment, const char *name,
                            int max_results, cJSON **out, struct cap_error *err)
{
    struct det_job a = {.deployment = deployment, .name = name, .max = max_results};
    int rc = store_sq_read(impl, run_detections, &a, err);
    if (rc < 0) {
        cJSON_Delete(a.out);
        return rc;
    }
    *out = a.out;
    return 0;
}
