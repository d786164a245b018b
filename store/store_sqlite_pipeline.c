/* store_sqlite_pipeline.c - pipeline schedules and their runs (migration 9:
 * pipeline_schedules, pipeline_schedule_runs). A run row is the tick's
 * claim: UNIQUE(sid, tick) refuses a second one, and a cron tick's row and
 * the schedule's last_tick are written in one transaction, so a restart
 * sees either both or neither. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/util.h"
#include "store/store_sqlite.h"

#define SCHED_COLS                                                                          \
    "name, repo, cron, timezone, catch_up, overlap, paused, trigger_kind, trigger_filter, " \
    "created_at, last_tick, last_seen"
#define RUN_COLS                                                                            \
    "r.id, s.name, r.tick, r.cause, r.state, r.pid, r.exit_status, r.started_at, "         \
    "r.ended_at, r.reason, r.event"

struct ps_job {
    const struct store_pipe_schedule *s;
    const struct store_pipe_run *r;
    const char *name, *state, *reason;
    bool flag;
    int64_t id, pid;
    int exit_status, max;
    cJSON *out;
};

static void add_i64_col(cJSON *o, const char *key, struct sq_stmt *st, int i)
{
    if (!sq_col_null(st, i))
        cap_json_add_i64(o, key, sq_col_int(st, i));
}

static void add_text_col(cJSON *o, const char *key, struct sq_stmt *st, int i)
{
    if (!sq_col_null(st, i))
        cJSON_AddStringToObject(o, key, store_sq_col_text(st, i));
}

static cJSON *schedule_json(struct sq_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", store_sq_col_text(st, 0));
    cJSON_AddStringToObject(o, "repo", store_sq_col_text(st, 1));
    add_text_col(o, "cron", st, 2);
    cJSON_AddStringToObject(o, "timezone", store_sq_col_text(st, 3));
    cJSON_AddStringToObject(o, "catch_up", store_sq_col_text(st, 4));
    cJSON_AddStringToObject(o, "overlap", store_sq_col_text(st, 5));
    cJSON_AddBoolToObject(o, "paused", sq_col_int(st, 6) != 0);
    cJSON *t = cJSON_AddObjectToObject(o, "trigger");
    cJSON_AddStringToObject(t, "kind", store_sq_col_text(st, 7));
    add_text_col(t, "filter", st, 8);
    cap_json_add_i64(o, "created_at", sq_col_int(st, 9));
    add_i64_col(o, "last_tick", st, 10);
    cap_json_add_i64(o, "last_seen", sq_col_int(st, 11));
    return o;
}

static cJSON *run_json(struct sq_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    cap_json_add_i64(o, "id", sq_col_int(st, 0));
    cJSON_AddStringToObject(o, "schedule", store_sq_col_text(st, 1));
    cap_json_add_i64(o, "tick", sq_col_int(st, 2));
    cJSON_AddStringToObject(o, "cause", store_sq_col_text(st, 3));
    cJSON_AddStringToObject(o, "state", store_sq_col_text(st, 4));
    add_i64_col(o, "pid", st, 5);
    add_i64_col(o, "exit_status", st, 6);
    add_i64_col(o, "started_at", st, 7);
    add_i64_col(o, "ended_at", st, 8);
    add_text_col(o, "reason", st, 9);
    if (!sq_col_null(st, 10))
        cJSON_AddItemToObject(o, "event", cJSON_Parse(store_sq_col_text(st, 10)));
    return o;
}

/* Every row of st through fn into a->out (an array). */
static int collect(struct sq_conn *c, struct sq_stmt *st, cJSON *(*fn)(struct sq_stmt *),
                   struct ps_job *a, struct cap_error *err)
{
    a->out = cJSON_CreateArray();
    int step;
    while ((step = sq_step(st)) == SQ_ROW)
        cJSON_AddItemToArray(a->out, fn(st));
    int rc = step == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading pipeline schedules");
    sq_reset(st);
    return rc;
}

static int no_schedule(const char *name, struct cap_error *err)
{
    return cap_err(err, CAP_ENOTFOUND, "No pipeline schedule named '%s'", name);
}

static int job_create(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct ps_job *a = arg;
    const struct store_pipe_schedule *p = a->s;
    int rc = store_sq_run(
        c,
        "INSERT INTO pipeline_schedules(" SCHED_COLS ") VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9, NULLIF(?10, 0), ?11) "
        "ON CONFLICT(name) DO NOTHING",
        SQ_ARGS(SQ_TEXT(p->name), SQ_TEXT(p->repo), SQ_TEXT(p->cron), SQ_TEXT(p->timezone),
                SQ_TEXT(p->catch_up), SQ_TEXT(p->overlap), SQ_TEXT(p->trigger_kind),
                SQ_TEXT(p->trigger_filter), SQ_INT(cap_now_ms()), SQ_INT(p->last_tick),
                SQ_INT(p->last_seen)),
        err, "creating a pipeline schedule");
    if (rc < 0)
        return rc;
    if (sq_changes(c->db) == 0)
        return cap_err(err, CAP_EEXISTS, "Pipeline schedule '%s' already exists", p->name);
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT " SCHED_COLS " FROM pipeline_schedules WHERE name = ?1",
        SQ_ARGS(SQ_TEXT(p->name)), err);
    if (!st)
        return -CAP_EINTERNAL;
    return collect(c, st, schedule_json, a, err);
}

int store_sq_pipe_schedule_create(void *impl, const struct store_pipe_schedule *s, cJSON **out,
                                  struct cap_error *err)
{
    struct ps_job a = {.s = s};
    int rc = store_sq_write(impl, job_create, &a, err);
    if (rc == 0 && out)
        *out = cJSON_DetachItemFromArray(a.out, 0);
    cJSON_Delete(a.out);
    return rc;
}

static int run_get(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct ps_job *a = arg;
    struct sq_stmt *st = a->name ? store_sq_stmt_bind(c,
                                                    "SELECT " SCHED_COLS
                                                    " FROM pipeline_schedules WHERE name = ?1",
                                                    SQ_ARGS(SQ_TEXT(a->name)), err)
                               : store_sq_stmt(c,
                                               "SELECT " SCHED_COLS
                                               " FROM pipeline_schedules ORDER BY name",
                                               err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = collect(c, st, schedule_json, a, err);
    if (rc == 0 && a->name && cJSON_GetArraySize(a->out) == 0)
        rc = no_schedule(a->name, err);
    return rc;
}

int store_sq_pipe_schedule_get(void *impl, const char *name, cJSON **out, struct cap_error *err)
{
    struct ps_job a = {.name = name};
    int rc = store_sq_read(impl, run_get, &a, err);
    if (rc == 0)
        *out = cJSON_DetachItemFromArray(a.out, 0);
    cJSON_Delete(a.out);
    return rc;
}

int store_sq_pipe_schedule_list(void *impl, cJSON **out, struct cap_error *err)
{
    struct ps_job a = {0};
    int rc = store_sq_read(impl, run_get, &a, err);
    if (rc == 0)
        *out = a.out;
    else
        cJSON_Delete(a.out);
    return rc;
}

static int job_pause(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct ps_job *a = arg;
    /* resuming: what came due while paused does not run */
    int rc = store_sq_run(
        c,
        "UPDATE pipeline_schedules SET paused = ?2, "
        "last_tick = CASE WHEN ?2 = 0 AND trigger_kind = 'cron' "
        "  THEN CASE WHEN coalesce(last_tick, 0) > ?3 THEN last_tick ELSE ?3 END "
        "  ELSE last_tick END, "
        "last_seen = CASE WHEN ?2 = 0 AND trigger_kind = 'dataset' THEN coalesce("
        "  (SELECT max(version) FROM data_versions WHERE name = trigger_filter), last_seen) "
        "  ELSE last_seen END WHERE name = ?1",
        SQ_ARGS(SQ_TEXT(a->name), SQ_INT(a->flag), SQ_INT(cap_now_ms())), err,
        "pausing a pipeline schedule");
    return rc < 0 ? rc : sq_changes(c->db) ? 0 : no_schedule(a->name, err);
}

int store_sq_pipe_schedule_set_paused(void *impl, const char *name, bool paused,
                                      struct cap_error *err)
{
    struct ps_job a = {.name = name, .flag = paused};
    return store_sq_write(impl, job_pause, &a, err);
}

static int job_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct ps_job *a = arg;
    int rc = store_sq_run(c, "DELETE FROM pipeline_schedules WHERE name = ?1",
                          SQ_ARGS(SQ_TEXT(a->name)), err, "removing a pipeline schedule");
    return rc < 0 ? rc : sq_changes(c->db) ? 0 : no_schedule(a->name, err);
}

int store_sq_pipe_schedule_delete(void *impl, const char *name, struct cap_error *err)
{
    struct ps_job a = {.name = name};
    return store_sq_write(impl, job_delete, &a, err);
}

static int job_run_add(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct ps_job *a = arg;
    const struct store_pipe_run *r = a->r;
    bool final = strcmp(r->state, "skipped") == 0;
    int64_t now = cap_now_ms();
    int rc = store_sq_insert_id(
        c,
        "INSERT INTO pipeline_schedule_runs(sid, tick, cause, state, reason, event, ended_at) "
        "SELECT sid, ?2, ?3, ?4, ?5, ?6, ?7 FROM pipeline_schedules WHERE name = ?1 "
        "ON CONFLICT(sid, tick) DO NOTHING RETURNING id",
        SQ_ARGS(SQ_TEXT(r->schedule), SQ_INT(r->tick), SQ_TEXT(r->cause), SQ_TEXT(r->state),
                SQ_TEXT(r->reason), SQ_TEXT(r->event_json), final ? (struct sq_bind)SQ_INT(now)
                                                                  : (struct sq_bind)SQ_NULL),
        &a->id, err, "recording a schedule run");
    if (rc < 0)
        return rc;
    if (rc == 0) {
        struct ps_job g = {.name = r->schedule};
        if ((rc = run_get(s, c, &g, err)) < 0) {
            cJSON_Delete(g.out);
            return rc;
        }
        cJSON_Delete(g.out);
        return cap_err(err, CAP_EEXISTS, "Schedule '%s' already has a run for tick %lld",
                       r->schedule, (long long)r->tick);
    }
    rc = 0;
    if (r->advance &&
        (rc = store_sq_run(c,
                           "UPDATE pipeline_schedules SET last_tick = CASE WHEN "
                           "coalesce(last_tick, 0) > ?2 THEN last_tick ELSE ?2 END WHERE name = ?1",
                           SQ_ARGS(SQ_TEXT(r->schedule), SQ_INT(r->tick)), err,
                           "advancing a schedule")) < 0)
        return rc;
    if (r->seen > 0)
        rc = store_sq_run(c,
                          "UPDATE pipeline_schedules SET last_seen = CASE WHEN last_seen > ?2 "
                          "THEN last_seen ELSE ?2 END "
                          "WHERE name = ?1",
                          SQ_ARGS(SQ_TEXT(r->schedule), SQ_INT(r->seen)), err,
                          "advancing a dataset trigger");
    return rc;
}

int store_sq_pipe_run_add(void *impl, const struct store_pipe_run *r, int64_t *id,
                          struct cap_error *err)
{
    struct ps_job a = {.r = r};
    int rc = store_sq_write(impl, job_run_add, &a, err);
    *id = rc < 0 ? 0 : a.id;
    return rc;
}

/* Times come from the wall clock, which can step back (NTP, a VM's clock
 * sync: 1 ms was seen here); a run's start is never recorded before the end
 * of one recorded earlier for its schedule, nor its end before its start,
 * so the recorded order is the order things happened in (the writer is one
 * thread). */
static int job_run_update(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct ps_job *a = arg;
    bool running = strcmp(a->state, "running") == 0, queued = strcmp(a->state, "queued") == 0;
    int64_t now = cap_now_ms();
    int rc = store_sq_run(
        c,
        "UPDATE pipeline_schedule_runs SET state = ?2, pid = coalesce(nullif(?3, 0), pid), "
        "started_at = CASE WHEN ?4 <> 0 THEN (SELECT CASE WHEN ?6 > p THEN ?6 ELSE p END "
        "FROM (SELECT coalesce(max(o.ended_at), 0) AS p FROM pipeline_schedule_runs o "
        "WHERE o.sid = pipeline_schedule_runs.sid) prev) ELSE started_at END, "
        "ended_at = CASE WHEN ?5 <> 0 THEN CASE WHEN ?6 > coalesce(started_at, 0) THEN ?6 "
        "ELSE coalesce(started_at, 0) END ELSE ended_at END, "
        "exit_status = coalesce(?7, exit_status), reason = coalesce(?8, reason) WHERE id = ?1",
        SQ_ARGS(SQ_INT(a->id), SQ_TEXT(a->state), SQ_INT(a->pid), SQ_INT(running),
                SQ_INT(!running && !queued), SQ_INT(now),
                a->exit_status == INT_MIN ? (struct sq_bind)SQ_NULL
                                          : (struct sq_bind)SQ_INT(a->exit_status),
                SQ_TEXT(a->reason)),
        err, "updating a schedule run");
    if (rc == 0 && sq_changes(c->db) == 0)
        rc = cap_err(err, CAP_ENOTFOUND, "No schedule run %lld", (long long)a->id);
    return rc;
}

int store_sq_pipe_run_update(void *impl, int64_t id, const char *state, int64_t pid,
                             int exit_status, const char *reason, struct cap_error *err)
{
    struct ps_job a = {.id = id, .state = state, .pid = pid, .exit_status = exit_status,
                       .reason = reason};
    return store_sq_write(impl, job_run_update, &a, err);
}

static int run_runs(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct ps_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c,
        "SELECT " RUN_COLS " FROM pipeline_schedule_runs r JOIN pipeline_schedules s "
        "ON r.sid = s.sid WHERE (?1 IS NULL OR s.name = ?1) AND "
        "(?2 = 0 OR r.state IN ('queued', 'running')) "
        "ORDER BY CASE WHEN ?2 <> 0 THEN r.tick ELSE -r.tick END, r.id LIMIT ?3",
        SQ_ARGS(SQ_TEXT(a->name), SQ_INT(a->flag), SQ_INT(a->max)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = collect(c, st, run_json, a, err);
    if (rc == 0 && a->name && cJSON_GetArraySize(a->out) == 0) {
        struct ps_job g = {.name = a->name};
        rc = run_get(s, c, &g, err);
        cJSON_Delete(g.out);
    }
    return rc;
}

int store_sq_pipe_run_list(void *impl, const char *schedule, bool active, int max, cJSON **out,
                           struct cap_error *err)
{
    struct ps_job a = {.name = schedule, .flag = active, .max = max > 0 ? max : INT_MAX};
    int rc = store_sq_read(impl, run_runs, &a, err);
    if (rc == 0)
        *out = a.out;
    else
        cJSON_Delete(a.out);
    return rc;
}
