/* store_sqlite_alerts.c - alert rules and their history in SQLite
 * (migration 6: alert_rules, alert_events). A rule row carries its streak
 * and the last window it counted, so that evaluation after a restart goes
 * on where it stopped; an event row is one state change with its delivery
 * state. A handful of rules per deployment, an event per state change: small
 * tables, read by one evaluation per closed window. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store_backend.h"
#include "store/store_sqlite.h"

struct al_job {
    const char *deployment;
    const char *name;
    const char *rule;
    const struct store_alert_change *changes;
    size_t n;
    int64_t *ids;
    int64_t before_id;           /* event pages: ids below this (INT64_MAX: first page) */
    int max;
    int delivered, attempts;
    const int64_t *mark_ids;
    bool want;
    cJSON *out;
    bool more;
};

#define AL_RULE_COLUMNS "deployment, name, rule, created_at, updated_at, streak, last_window_id"
#define AL_EVENT_COLUMNS                                                                   \
    "id, deployment, rule, state, at_ms, value, window_id, detail, delivered, attempts"

static void add_parsed(cJSON *o, const char *key, const char *text)
{
    cJSON *v = text ? cJSON_Parse(text) : NULL;
    if (v)
        cJSON_AddItemToObject(o, key, v);
}

/* A row of AL_RULE_COLUMNS. */
static cJSON *rule_json(struct sq_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "deployment", store_sq_col_text(st, 0));
    cJSON_AddStringToObject(o, "name", store_sq_col_text(st, 1));
    add_parsed(o, "rule", store_sq_col_text(st, 2));
    for (int i = 3; i < 7; i++) {
        static const char *const keys[] = {"created_at", "updated_at", "streak",
                                           "last_window_id"};
        cJSON_AddNumberToObject(o, keys[i - 3], (double)sq_col_int(st, i));
    }
    return o;
}

static const char *delivery_name(int64_t d)
{
    static const char *const names[] = {"pending", "delivered", "failed", "none"};
    return d >= 0 && d <= 3 ? names[d] : "unknown";
}

/* A row of AL_EVENT_COLUMNS from column first on; full: with deployment,
 * rule, the parsed detail and the delivery state. */
static cJSON *event_json(struct sq_stmt *st, int first, bool full)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)sq_col_int(st, first));
    if (full) {
        cJSON_AddStringToObject(o, "deployment", store_sq_col_text(st, first + 1));
        cJSON_AddStringToObject(o, "rule", store_sq_col_text(st, first + 2));
    }
    cJSON_AddStringToObject(o, "state", store_sq_col_text(st, first + 3));
    cJSON_AddNumberToObject(o, "at_ms", (double)sq_col_int(st, first + 4));
    if (!sq_col_null(st, first + 5))
        cJSON_AddNumberToObject(o, "value", sq_col_dbl(st, first + 5));
    if (!sq_col_null(st, first + 6))
        cJSON_AddNumberToObject(o, "window_id", (double)sq_col_int(st, first + 6));
    if (!full)
        return o;
    add_parsed(o, "detail", store_sq_col_text(st, first + 7));
    cJSON_AddStringToObject(o, "delivery", delivery_name(sq_col_int(st, first + 8)));
    cJSON_AddNumberToObject(o, "attempts", (double)sq_col_int(st, first + 9));
    return o;
}

static int rule_not_found(const char *dep, const char *name, struct cap_error *err)
{
    return cap_err(err, CAP_ENOTFOUND, "Alert rule '%.128s' of deployment '%.128s' not found",
                   name, dep);
}

/* Runs fn in one read transaction on a pooled connection. */
static int al_read(struct sq *s, sq_job_fn fn,
                   struct al_job *a, cJSON **out, struct cap_error *err)
{
    int rc = store_sq_read(s, fn, a, err);
    if (rc < 0) {
        cJSON_Delete(a->out);
        return rc;
    }
    *out = a->out;
    return 0;
}

/* Steps st to its end, adding each row's make(st) to a new array a->out. */
static int collect(struct sq_conn *c, struct sq_stmt *st, cJSON *(*make)(struct sq_stmt *),
                   struct al_job *a, const char *what, struct cap_error *err)
{
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int rc;
    while ((rc = sq_step(st)) == SQ_ROW)
        cJSON_AddItemToArray(a->out, make(st));
    sq_reset(st);
    return rc == SQ_DONE ? 0 : store_sq_dberr(c, err, what);
}

/* ---- rules ---- */

static int read_rule(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct al_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT " AL_RULE_COLUMNS " FROM alert_rules WHERE deployment = ? AND name = ?",
        SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->name)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    if (rc == SQ_ROW) {
        a->out = rule_json(st);
        rc = 0;
    } else {
        rc = rc == SQ_DONE ? rule_not_found(a->deployment, a->name, err)
                               : store_sq_dberr(c, err, "reading an alert rule");
    }
    sq_reset(st);
    return rc;
}

static int job_rule_put(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct al_job *a = arg;
    int64_t now = cap_now_ms();
    /* An identical rule put again keeps its streak. */
    int rc = store_sq_run(c,
                          "INSERT INTO alert_rules(deployment, name, rule, created_at, updated_at)"
                          " VALUES (?, ?, ?, ?, ?) ON CONFLICT(deployment, name) DO UPDATE SET"
                          " streak = CASE WHEN alert_rules.rule = excluded.rule THEN alert_rules.streak ELSE 0 END,"
                          " rule = excluded.rule, updated_at = excluded.updated_at",
                          SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->name), SQ_TEXT(a->rule),
                                  SQ_INT(now), SQ_INT(now)),
                          err, "writing an alert rule");
    if (rc < 0)
        return rc;
    return a->want ? read_rule(NULL, c, a, err) : 0;
}

int store_sq_alert_rule_put(void *impl, const char *deployment, const char *name,
                            const char *rule_json_text, cJSON **out, struct cap_error *err)
{
    struct al_job a = {.deployment = deployment, .name = name, .rule = rule_json_text,
                       .want = out != NULL};
    int rc = store_sq_write(impl, job_rule_put, &a, err);
    if (rc < 0 || !out) {
        cJSON_Delete(a.out);
        return rc;
    }
    *out = a.out;
    return 0;
}

int store_sq_alert_rule_get(void *impl, const char *deployment, const char *name, cJSON **out,
                            struct cap_error *err)
{
    struct al_job a = {.deployment = deployment, .name = name};
    return al_read(impl, read_rule, &a, out, err);
}

static int read_rules(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct al_job *a = arg;
    struct sq_stmt *st =
        a->deployment
            ? store_sq_stmt_bind(c,
                                 "SELECT " AL_RULE_COLUMNS " FROM alert_rules WHERE deployment = ?"
                                 " ORDER BY name",
                                 SQ_ARGS(SQ_TEXT(a->deployment)), err)
            : store_sq_stmt(c, "SELECT " AL_RULE_COLUMNS " FROM alert_rules"
                               " ORDER BY deployment, name", err);
    return collect(c, st, rule_json, a, "listing alert rules", err);
}

int store_sq_alert_rule_list(void *impl, const char *deployment, cJSON **out,
                             struct cap_error *err)
{
    struct al_job a = {.deployment = deployment};
    return al_read(impl, read_rules, &a, out, err);
}

/* ---- events ---- */

static int insert_event(struct sq_conn *c, const struct store_alert_change *ch, int64_t *id,
                        struct cap_error *err)
{
    struct sq_bind value = ch->has_value ? (struct sq_bind)SQ_DBL(ch->value)
                                         : (struct sq_bind)SQ_NULL;
    struct sq_bind window = ch->window_id > 0 ? (struct sq_bind)SQ_INT(ch->window_id)
                                              : (struct sq_bind)SQ_NULL;
    int64_t new_id = 0;
    int rc = store_sq_insert_id(c,
                          "INSERT INTO alert_events(deployment, rule, state, at_ms, value,"
                          " window_id, detail, delivered) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                          " RETURNING id",
                          SQ_ARGS(SQ_TEXT(ch->deployment), SQ_TEXT(ch->rule),
                                  SQ_TEXT(ch->state), SQ_INT(ch->at_ms), value, window,
                                  SQ_TEXT(ch->detail_json),
                                  SQ_INT(ch->deliver ? STORE_ALERT_PENDING
                                                     : STORE_ALERT_NO_WEBHOOK)),
                          &new_id, err, "appending an alert event");
    if (rc >= 0 && id)
        *id = new_id;
    return rc < 0 ? rc : 0;
}

/* The state of the rule's last event ("firing", "resolved"), or "" when none. */
static int last_state(struct sq_conn *c, const char *dep, const char *rule, char out[16],
                      struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(c,
                                          "SELECT state FROM alert_events WHERE deployment = ?"
                                          " AND rule = ? ORDER BY id DESC LIMIT 1",
                                          SQ_ARGS(SQ_TEXT(dep), SQ_TEXT(rule)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = sq_step(st);
    out[0] = '\0';
    if (rc == SQ_ROW)
        snprintf(out, 16, "%s", store_sq_col_text(st, 0) ? store_sq_col_text(st, 0) : "");
    sq_reset(st);
    return rc == SQ_ROW || rc == SQ_DONE ? 0 : store_sq_dberr(c, err, "reading a state");
}

static int job_rule_delete(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct al_job *a = arg;
    int rc = store_sq_run(c, "DELETE FROM alert_rules WHERE deployment = ? AND name = ?",
                          SQ_ARGS(SQ_TEXT(a->deployment), SQ_TEXT(a->name)), err,
                          "deleting an alert rule");
    if (rc < 0)
        return rc;
    if (sq_changes(c->db) == 0)
        return rule_not_found(a->deployment, a->name, err);
    if (!a->changes)
        return 0;
    char state[16];
    if ((rc = last_state(c, a->deployment, a->name, state, err)) < 0)
        return rc;
    return strcmp(state, "firing") == 0 ? insert_event(c, a->changes, NULL, err) : 0;
}

int store_sq_alert_rule_delete(void *impl, const char *deployment, const char *name,
                               const struct store_alert_change *resolved, struct cap_error *err)
{
    struct al_job a = {.deployment = deployment, .name = name, .changes = resolved};
    return store_sq_write(impl, job_rule_delete, &a, err);
}

static int job_append(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct al_job *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        const struct store_alert_change *ch = &a->changes[i];
        int rc = store_sq_run(c,
                              "UPDATE alert_rules SET streak = ?, last_window_id = ?"
                              " WHERE deployment = ? AND name = ? AND rule = ?"
                              " AND last_window_id < ?",
                              SQ_ARGS(SQ_INT(ch->streak), SQ_INT(ch->window_id),
                                      SQ_TEXT(ch->deployment), SQ_TEXT(ch->rule),
                                      SQ_TEXT(ch->rule_json), SQ_INT(ch->window_id)),
                              err, "recording an alert rule's streak");
        if (rc < 0)
            return rc;
        if (a->ids)
            a->ids[i] = 0;
        if (sq_changes(c->db) == 0 || !ch->state)
            continue;
        if ((rc = insert_event(c, ch, a->ids ? &a->ids[i] : NULL, err)) < 0)
            return rc;
    }
    return 0;
}

int store_sq_alert_event_append(void *impl, const struct store_alert_change *changes, size_t n,
                                int64_t *event_ids, struct cap_error *err)
{
    struct al_job a = {.changes = changes, .n = n, .ids = event_ids};
    return store_sq_write(impl, job_append, &a, err);
}

static cJSON *event_full(struct sq_stmt *st)
{
    return event_json(st, 0, true);
}

static int read_events(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct al_job *a = arg;
    /* Two statements rather than "? IS NULL OR deployment = ?", which would
     * keep SQLite off the (deployment, id) index. One more row than asked
     * tells whether there is a next page. */
    struct sq_stmt *st =
        a->deployment
            ? store_sq_stmt_bind(c,
                                 "SELECT " AL_EVENT_COLUMNS " FROM alert_events WHERE"
                                 " deployment = ? AND id < ? ORDER BY id DESC LIMIT ?",
                                 SQ_ARGS(SQ_TEXT(a->deployment), SQ_INT(a->before_id),
                                         SQ_INT(a->max + 1)), err)
            : store_sq_stmt_bind(c,
                                 "SELECT " AL_EVENT_COLUMNS " FROM alert_events WHERE"
                                 " id < ? ORDER BY id DESC LIMIT ?",
                                 SQ_ARGS(SQ_INT(a->before_id), SQ_INT(a->max + 1)), err);
    int rc = collect(c, st, event_full, a, "listing alert events", err);
    if (rc == 0 && cJSON_GetArraySize(a->out) > a->max) {
        cJSON_DeleteItemFromArray(a->out, a->max);
        a->more = true;
    }
    return rc;
}

static int parse_token(const char *token, int64_t *out, struct cap_error *err)
{
    char *end = NULL;
    long long v = token && *token >= '1' && *token <= '9' ? strtoll(token, &end, 10) : 0;
    if (v <= 0 || !end || *end)
        return cap_err(err, CAP_EINVAL,
                       "Invalid page_token '%.40s': expected the next_page_token of a previous "
                       "page",
                       token ? token : "");
    *out = v;
    return 0;
}

int store_sq_alert_event_list(void *impl, const char *deployment, int max_results,
                              const char *page_token, cJSON **out, char **next_token,
                              struct cap_error *err)
{
    struct al_job a = {.deployment = deployment, .max = max_results, .before_id = INT64_MAX};
    int rc;
    if (page_token && *page_token && (rc = parse_token(page_token, &a.before_id, err)) < 0)
        return rc;
    if ((rc = al_read(impl, read_events, &a, out, err)) < 0)
        return rc;
    cJSON *last = cJSON_GetArrayItem(*out, a.max - 1);
    if (a.more && last) {
        struct cap_buf b;
        cap_buf_init(&b);
        cap_buf_printf(&b, "%.0f", cJSON_GetNumberValue(cJSON_GetObjectItem(last, "id")));
        *next_token = b.data;
    }
    return 0;
}

/* A row of AL_RULE_COLUMNS followed by the last event's id, state, at_ms,
 * value and window_id (NULLs when none). */
static cJSON *state_json(struct sq_stmt *st)
{
    cJSON *o = rule_json(st);
    if (!sq_col_null(st, 7))
        cJSON_AddItemToObject(o, "last_event", event_json(st, 7, false));
    return o;
}

#define AL_STATE_SELECT                                                                    \
    "SELECT r.deployment, r.name, r.rule, r.created_at, r.updated_at, r.streak,"           \
    " r.last_window_id, e.id, e.deployment, e.rule, e.state, e.at_ms, e.value, e.window_id" \
    " FROM alert_rules r LEFT JOIN alert_events e ON e.id = (SELECT MAX(x.id) FROM"        \
    " alert_events x WHERE x.deployment = r.deployment AND x.rule = r.name)"

static int read_states(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct al_job *a = arg;
    struct sq_stmt *st =
        a->deployment
            ? store_sq_stmt_bind(c, AL_STATE_SELECT " WHERE r.deployment = ? ORDER BY r.name",
                                 SQ_ARGS(SQ_TEXT(a->deployment)), err)
            : store_sq_stmt(c, AL_STATE_SELECT " ORDER BY r.deployment, r.name", err);
    return collect(c, st, state_json, a, "reading alert states", err);
}

int store_sq_alert_state_list(void *impl, const char *deployment, cJSON **out,
                              struct cap_error *err)
{
    struct al_job a = {.deployment = deployment};
    return al_read(impl, read_states, &a, out, err);
}

static int read_pending(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct al_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(c,
                                          "SELECT " AL_EVENT_COLUMNS " FROM alert_events"
                                          " WHERE delivered = 0 ORDER BY id LIMIT ?",
                                          SQ_ARGS(SQ_INT(a->max)), err);
    return collect(c, st, event_full, a, "reading undelivered alert events", err);
}

int store_sq_alert_event_pending(void *impl, int max_results, cJSON **out, struct cap_error *err)
{
    struct al_job a = {.max = max_results};
    return al_read(impl, read_pending, &a, out, err);
}

static int job_mark(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct al_job *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        /* A delivered event stays delivered: it is never posted again. */
        int rc = store_sq_run(c,
                              "UPDATE alert_events SET delivered = ?, attempts = ?"
                              " WHERE id = ? AND delivered <> 1",
                              SQ_ARGS(SQ_INT(a->delivered), SQ_INT(a->attempts),
                                      SQ_INT(a->mark_ids[i])),
                              err, "recording an alert delivery");
        if (rc < 0)
            return rc;
    }
    return 0;
}

int store_sq_alert_event_mark(void *impl, const int64_t *ids, size_t n, int delivered,
                              int attempts, struct cap_error *err)
{
    struct al_job a = {.mark_ids = ids, .n = n, .delivered = delivered, .attempts = attempts};
    return store_sq_write(impl, job_mark, &a, err);
}
