/* store_sqlite_lineage.c - OpenLineage RunEvents received (migration 10:
 * lineage_events): kept whole, read back by run or by job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "store/store_sqlite.h"

struct le_job {
    const struct store_lineage_event *e;
    const char *run_id, *ns, *name;
    int max;
    int64_t id;
    cJSON *out;
};

static int job_add(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct le_job *a = arg;
    const struct store_lineage_event *e = a->e;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "INSERT INTO lineage_events(run_id, job_namespace, job_name, event_type, event_time, "
        "received_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        SQ_ARGS(SQ_TEXT(e->run_id), SQ_TEXT(e->job_namespace), SQ_TEXT(e->job_name),
                SQ_TEXT(e->event_type), SQ_TEXT(e->event_time), SQ_INT(cap_now_ms()),
                SQ_TEXT(e->body_json)),
        err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0;
    if (sq_step(st) != SQ_ROW)
        rc = store_sq_dberr(c, err, "storing a lineage event");
    else
        a->id = sq_col_int(st, 0);
    sq_step(st);
    sq_reset(st);
    return rc;
}

int store_sq_lineage_event_add(void *impl, const struct store_lineage_event *e, int64_t *id,
                               struct cap_error *err)
{
    struct le_job a = {.e = e};
    int rc = store_sq_write(impl, job_add, &a, err);
    *id = rc < 0 ? 0 : a.id;
    return rc;
}

/* The newest max rows that match, selected newest first and put back in
 * arrival order. */
static int run_list(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct le_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT id, received_at, body FROM lineage_events WHERE (?1 IS NULL OR run_id = ?1) "
        "AND (?2 IS NULL OR job_namespace = ?2) AND (?3 IS NULL OR job_name = ?3) "
        "ORDER BY id DESC LIMIT ?4",
        SQ_ARGS(SQ_TEXT(a->run_id), SQ_TEXT(a->ns), SQ_TEXT(a->name), SQ_INT(a->max)), err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int step;
    while ((step = sq_step(st)) == SQ_ROW) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)sq_col_int(st, 0));
        cJSON_AddNumberToObject(o, "received_at", (double)sq_col_int(st, 1));
        cJSON *body = cJSON_Parse(store_sq_col_text(st, 2));
        cJSON_AddItemToObject(o, "event", body ? body : cJSON_CreateNull());
        cJSON_InsertItemInArray(a->out, 0, o);
    }
    int rc = step == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading lineage events");
    sq_reset(st);
    return rc;
}

int store_sq_lineage_events_list(void *impl, const char *run_id, const char *job_namespace,
                                 const char *job_name, int max, cJSON **out,
                                 struct cap_error *err)
{
    struct le_job a = {.run_id = run_id, .ns = job_namespace, .name = job_name,
                       .max = max > 0 ? max : 1000};
    int rc = store_sq_read(impl, run_list, &a, err);
    if (rc == 0)
        *out = a.out;
    else
        cJSON_Delete(a.out);
    return rc;
}
