/* store_sqlite_review.c - the human review queue (migration 7:
 * review_rules, review_items): a deployment's rule with its cursor into the
 * prediction log, and the queued rows with what the reviewer saw and said. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store_sqlite.h"

struct rv_job {
    const char *deployment, *rule, *status, *request_id, *label, *reviewer;
    const struct store_review_item *items;
    size_t n;
    int64_t cursor, row, at, count;
    int max;
    cJSON *out;
};

static int job_rule_put(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct rv_job *a = arg;
    int64_t now = cap_now_ms();
    return store_sq_run(c,
                        "INSERT INTO review_rules(deployment, rule, cursor, created_at, "
                        "updated_at) VALUES (?1, ?2, -1, ?3, ?3) ON CONFLICT(deployment) DO "
                        "UPDATE SET rule = ?2, updated_at = ?3",
                        SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->rule), SQ_INT(now)), err,
                        "storing a review rule");
}

int store_sq_review_rule_put(void *impl, const char *deployment, const char *rule_json,
                             struct cap_error *err)
{
    struct rv_job a = {.deployment = deployment, .rule = rule_json};
    return store_sq_write(impl, job_rule_put, &a, err);
}

static int run_rule_get(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct rv_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT rule, cursor, created_at, updated_at FROM review_rules WHERE deployment = ?1",
        SQ_ARGS(SQ_TEXT(a->deployment)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int step = sq_step(st), rc = 0;
    if (step == SQ_ROW) {
        a->out = cJSON_CreateObject();
        cJSON_AddStringToObject(a->out, "deployment", a->deployment);
        cJSON *rule = cJSON_Parse(store_sq_col_text(st, 0));
        cJSON_AddItemToObject(a->out, "rule", rule ? rule : cJSON_CreateNull());
        cJSON_AddNumberToObject(a->out, "cursor", (double)sq_col_int(st, 1));
        cJSON_AddNumberToObject(a->out, "created_at", (double)sq_col_int(st, 2));
        cJSON_AddNumberToObject(a->out, "updated_at", (double)sq_col_int(st, 3));
    } else if (step == SQ_DONE) {
        rc = cap_err(err, CAP_ENOTFOUND, "Deployment '%s' has no review rule", a->deployment);
    } else {
        rc = store_sq_dberr(c, err, "reading a review rule");
    }
    sq_reset(st);
    return rc;
}

int store_sq_review_rule_get(void *impl, const char *deployment, cJSON **out,
                             struct cap_error *err)
{
    struct rv_job a = {.deployment = deployment};
    int rc = store_sq_read(impl, run_rule_get, &a, err);
    *out = a.out;
    return rc;
}

static int job_rule_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct rv_job *a = arg;
    int rc = store_sq_run(c, "DELETE FROM review_rules WHERE deployment = ?1",
                          SQ_ARGS(SQ_TEXT(a->deployment)), err, "deleting a review rule");
    if (rc == 0 && sq_changes(c->db) == 0)
        return cap_err(err, CAP_ENOTFOUND, "Deployment '%s' has no review rule", a->deployment);
    return rc;
}

int store_sq_review_rule_delete(void *impl, const char *deployment, struct cap_error *err)
{
    struct rv_job a = {.deployment = deployment};
    return store_sq_write(impl, job_rule_delete, &a, err);
}

static int job_add(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct rv_job *a = arg;
    int rc = 0;
    for (size_t i = 0; i < a->n && rc == 0; i++) {
        const struct store_review_item *it = &a->items[i];
        rc = store_sq_run(c,
                          "INSERT INTO review_items(deployment, request_id, row, "
                          "reason, pred_ms, model_version, item, status) VALUES (?, ?, ?, ?, "
                          "?, ?, ?, 'pending') ON CONFLICT DO NOTHING",
                          SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(it->request_id),
                                  SQ_INT(it->row), SQ_TEXT(it->reason), SQ_INT(it->pred_ms),
                                  SQ_TEXT(it->model_version), SQ_TEXT(it->item_json)),
                          err, "queueing rows for review");
    }
    if (rc == 0)
        rc = store_sq_run(c, "UPDATE review_rules SET cursor = ?1 WHERE deployment = ?2",
                          SQ_ARGS(SQ_INT(a->cursor), SQ_TEXT(a->deployment)), err,
                          "queueing rows for review");
    return rc;
}

int store_sq_review_queue_add(void *impl, const char *deployment,
                              const struct store_review_item *items, size_t n, int64_t cursor,
                              struct cap_error *err)
{
    struct rv_job a = {.deployment = deployment, .items = items, .n = n, .cursor = cursor};
    return store_sq_write(impl, job_add, &a, err);
}

static int run_count(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct rv_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT count(*) FROM review_items WHERE deployment = ?1 AND status = ?2",
        SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->status)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int step = sq_step(st);
    if (step == SQ_ROW)
        a->count = sq_col_int(st, 0);
    sq_reset(st);
    return step == SQ_ROW ? 0 : store_sq_dberr(c, err, "counting review items");
}

int store_sq_review_count(void *impl, const char *deployment, const char *status, int64_t *n,
                          struct cap_error *err)
{
    struct rv_job a = {.deployment = deployment, .status = status};
    int rc = store_sq_read(impl, run_count, &a, err);
    *n = a.count;
    return rc;
}

/* A row of review_items as the API shows it: item_json's fields merged in. */
static cJSON *item_json(struct sq_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    char id[256];
    snprintf(id, sizeof id, "%s/%" PRId64, store_sq_col_text(st, 0),
             (int64_t)sq_col_int(st, 1));
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "reason", store_sq_col_text(st, 2));
    cJSON_AddNumberToObject(o, "pred_ms", (double)sq_col_int(st, 3));
    cJSON_AddStringToObject(o, "model_version", store_sq_col_text(st, 4));
    cJSON *item = cJSON_Parse(store_sq_col_text(st, 5));
    for (cJSON *f = item ? item->child : NULL, *next; f; f = next) {
        next = f->next;
        cJSON_AddItemToObject(o, f->string, cJSON_DetachItemViaPointer(item, f));
    }
    cJSON_Delete(item);
    cJSON_AddStringToObject(o, "status", store_sq_col_text(st, 6));
    if (!sq_col_null(st, 7))
        cJSON_AddStringToObject(o, "label", store_sq_col_text(st, 7));
    if (!sq_col_null(st, 8))
        cJSON_AddStringToObject(o, "reviewer", store_sq_col_text(st, 8));
    if (!sq_col_null(st, 9))
        cJSON_AddNumberToObject(o, "labelled_at", (double)sq_col_int(st, 9));
    return o;
}

static int run_list(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct rv_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT request_id, row, reason, pred_ms, model_version, item, status, label, reviewer, "
        "labelled_at FROM review_items WHERE deployment = ?1 AND (?2 IS NULL OR status = ?2) "
        "ORDER BY id LIMIT ?3",
        SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->status), SQ_INT(a->max)), err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int step;
    while ((step = sq_step(st)) == SQ_ROW)
        cJSON_AddItemToArray(a->out, item_json(st));
    sq_reset(st);
    return step == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading the review queue");
}

int store_sq_review_list(void *impl, const char *deployment, const char *status,
                         int max_results, cJSON **out, struct cap_error *err)
{
    struct rv_job a = {.deployment = deployment, .status = status, .max = max_results};
    int rc = store_sq_read(impl, run_list, &a, err);
    if (rc < 0) {
        cJSON_Delete(a.out);
        return rc;
    }
    *out = a.out;
    return 0;
}

static int job_mark(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct rv_job *a = arg;
    int rc = store_sq_run(c,
                          "UPDATE review_items SET status = ?1, label = ?2, reviewer = ?3, "
                          "labelled_at = ?4 WHERE deployment = ?5 AND request_id = ?6 AND "
                          "row = ?7",
                          SQ_ARGS(SQ_TEXT(a->status), SQ_TEXT(a->label), SQ_TEXT(a->reviewer),
                                  SQ_INT(a->at), SQ_TEXT(a->deployment), SQ_TEXT(a->request_id),
                                  SQ_INT(a->row)),
                          err, "marking a review item");
    if (rc == 0 && sq_changes(c->db) == 0)
        return cap_err(err, CAP_ENOTFOUND, "Row '%s/%" PRId64 "' is not in the review queue of "
                       "deployment '%s'", a->request_id, a->row, a->deployment);
    return rc;
}

int store_sq_review_mark(void *impl, const char *deployment, const char *request_id,
                         int64_t row, const char *status, const char *label,
                         const char *reviewer, int64_t at_ms, struct cap_error *err)
{
    struct rv_job a = {.deployment = deployment, .request_id = request_id, .row = row,
                       .status = status, .label = label, .reviewer = reviewer, .at = at_ms};
    return store_sq_write(impl, job_mark, &a, err);
}
