/* eval.c - rules against one stored monitoring window. For each rule of the
 * deployment that watches the window's width and has not counted it yet:
 * read its metric from the window (absent: nothing changes), count the
 * streak of consecutive windows where the condition holds, fire when the
 * streak reaches "for", resolve on the first window where it does not hold.
 * The streaks and the state changes of one window are one store write. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/internal.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"
#include "store/store.h"

static const cJSON *item(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

/* A number, or a boolean as 1/0; false when v is neither or not finite. */
static bool number_of(const cJSON *v, double *out)
{
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v) ? 1 : 0;
        return true;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return false;
    *out = v->valuedouble;
    return true;
}

/* report.columns[] entry whose "column" is name. */
static const cJSON *column_of(const cJSON *report, const char *name)
{
    const cJSON *cols = item(report, "columns");
    for (const cJSON *c = cJSON_IsArray(cols) ? cols->child : NULL; c; c = c->next) {
        const cJSON *n = item(c, "column");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return c;
    }
    return NULL;
}

/* A quality metric of the window's "quality" ({labelled, metrics}, the
 * realised quality's form); false below min_labels. Precision, recall and
 * F1 are the positive class's for a binary classifier, else the macro
 * average. */
static bool quality_value(const struct alert_rule *r, const cJSON *w, double *out)
{
    const cJSON *q = item(w, "quality"), *m = item(q, "metrics");
    double labelled;
    if (!number_of(item(q, "labelled"), &labelled) || labelled < (double)r->min_labels)
        return false;
    const cJSON *prf = cJSON_IsObject(item(m, "binary")) ? item(m, "binary") : item(m, "macro");
    static const char *const keys[] = {"accuracy", NULL, NULL, NULL, "roc_auc", "pr_auc",
                                       "log_loss", "mae", "rmse", "mape", "r2", "mean_error"};
    switch (r->metric) {
    case ALERT_PRECISION: return number_of(item(prf, "precision"), out);
    case ALERT_RECALL: return number_of(item(prf, "recall"), out);
    case ALERT_F1: return number_of(item(prf, "f1"), out);
    default: return number_of(item(m, keys[r->metric - ALERT_ACCURACY]), out);
    }
}

/* The rule's metric in the window; false when the window lacks it. */
static bool window_value(const struct alert_rule *r, const cJSON *w, double *out)
{
    const cJSON *drift = item(w, "drift");
    if (alert_metric_quality(r->metric))
        return quality_value(r, w, out);
    switch (r->metric) {
    case ALERT_DATASET_DRIFT:
        return number_of(item(drift, "dataset_drift"), out);
    case ALERT_SHARE_OF_DRIFTED_COLUMNS:
        return number_of(item(drift, "share_of_drifted_columns"), out);
    case ALERT_DRIFT_SCORE:
        return number_of(item(column_of(drift, r->column), "drift_score"), out);
    case ALERT_PREDICTION_DRIFT:
        return number_of(item(item(w, "prediction_drift"), "dataset_drift"), out);
    case ALERT_MISSING_SHARE:
        return number_of(item(column_of(item(w, "data_quality"), r->column),
                              "missing_share_current"),
                         out);
    case ALERT_CONCEPT_DRIFT:
        return number_of(item(item(w, "concept_drift"), r->detector), out);
    default:
        return false;
    }
}

static cJSON *labels_of(const struct alert_rule *r)
{
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "alertname", r->name);
    cJSON_AddStringToObject(l, "deployment", r->deployment);
    cJSON_AddStringToObject(l, "metric", alert_metric_name(r->metric));
    if (r->column)
        cJSON_AddStringToObject(l, "column", r->column);
    if (r->detector)
        cJSON_AddStringToObject(l, "detector", r->detector);
    if (r->severity)
        cJSON_AddStringToObject(l, "severity", r->severity);
    for (const cJSON *f = r->labels ? r->labels->child : NULL; f; f = f->next)
        cJSON_AddStringToObject(l, f->string, f->valuestring);
    return l;
}

static cJSON *annotations_of(const struct alert_rule *r, const char *state, const double *value,
                             int64_t window_id)
{
    cJSON *an = cJSON_CreateObject();
    struct cap_buf b;
    cap_buf_init(&b);
    const char *what = r->column ? " of column '" : r->detector ? " of detector '" : "";
    const char *name = r->column ? r->column : r->detector ? r->detector : "";
    cap_buf_printf(&b, "%s%s%s%s %s %.6g for %lld %s%s", alert_metric_name(r->metric), what,
                   name, *name ? "'" : "", alert_op_name(r->op), r->threshold,
                   (long long)r->for_windows, r->detector ? "batch" : "window",
                   r->for_windows == 1 ? "" : (r->detector ? "es of labels" : "s"));
    if (r->window_s)
        cap_buf_printf(&b, " of %lld s", (long long)r->window_s);
    cJSON_AddStringToObject(an, "summary", b.data);
    cap_buf_reset(&b);
    if (value)
        cap_buf_printf(&b, "%s: value %.6g in window %lld", state, *value,
                       (long long)window_id);
    else
        cap_buf_printf(&b, "%s: the rule was deleted", state);
    cJSON_AddStringToObject(an, "description", b.data);
    if (value) {
        cap_buf_reset(&b);
        cap_buf_printf(&b, "%.9g", *value);
        cJSON_AddStringToObject(an, "value", b.data);
    }
    cap_buf_free(&b);
    return an;
}

char *alert_event_detail(const struct alert_rule *r, const char *state, const double *value,
                         int64_t window_id, int64_t starts_at_ms)
{
    cJSON *d = cJSON_CreateObject();
    if (r->webhook)
        cJSON_AddStringToObject(d, "webhook", r->webhook);
    cJSON_AddItemToObject(d, "labels", labels_of(r));
    cJSON_AddItemToObject(d, "annotations", annotations_of(r, state, value, window_id));
    cap_json_add_i64(d, "starts_at", starts_at_ms);
    char *text = cap_json_print(d);
    cJSON_Delete(d);
    return text;
}

/* The width rules without "window" watch on deployment: the configured
 * one, else the smallest seen (which includes this window's). */
static int64_t default_width(struct alert *a, const char *deployment, int64_t width)
{
    if (a->default_window_s > 0)
        return a->default_window_s;
    pthread_mutex_lock(&a->mu);
    size_t i = 0;
    while (i < a->nwidths && strcmp(a->widths[i].deployment, deployment) != 0)
        i++;
    if (i == a->nwidths) {
        a->widths = cap_xrealloc(a->widths, (a->nwidths + 1) * sizeof *a->widths);
        a->widths[a->nwidths++] = (struct alert_width){cap_xstrdup(deployment), width};
    } else if (width < a->widths[i].width_s) {
        a->widths[i].width_s = width;
    }
    int64_t w = a->widths[i].width_s;
    pthread_mutex_unlock(&a->mu);
    return w;
}

struct eval_ctx {
    int64_t window_id, width, dflt_width, at_ms;
    const cJSON *window;
};

static int64_t int_of(const cJSON *o, const char *key)
{
    return (int64_t)cJSON_GetNumberValue(item(o, key));
}

/* One rule's result on the window into ch (its strings malloc'd:
 * rule_json, detail_json); false when the window does not concern it. */
static bool eval_rule(const cJSON *st, const struct eval_ctx *e, struct store_alert_change *ch)
{
    const cJSON *rj = item(st, "rule");
    struct alert_rule r;
    struct cap_error perr = {0};
    if (alert_rule_parse(rj, &r, &perr) < 0) {
        cap_log(CAP_LOG_WARN, "alert: a stored rule does not read back: %s", perr.msg);
        return false;
    }
    bool batch = r.metric == ALERT_CONCEPT_DRIFT; /* judged per batch of labels, no width */
    if (batch ? e->width != 0 : r.window_s ? r.window_s != e->width : e->width != e->dflt_width)
        return false;
    double v;
    if (e->window_id <= int_of(st, "last_window_id") || !window_value(&r, e->window, &v))
        return false;
    bool holds = alert_rule_holds(&r, v);
    const cJSON *last = item(st, "last_event");
    const cJSON *ls = item(last, "state");
    bool firing = cJSON_IsString(ls) && strcmp(ls->valuestring, "firing") == 0;
    int64_t streak = holds ? int_of(st, "streak") + 1 : 0;
    *ch = (struct store_alert_change){.deployment = r.deployment, .rule = r.name,
                                      .rule_json = cap_json_print(rj), .window_id = e->window_id,
                                      .streak = streak, .at_ms = e->at_ms, .value = v,
                                      .has_value = true};
    ch->state = !firing && holds && streak >= r.for_windows ? "firing"
                : firing && !holds                          ? "resolved"
                                                            : NULL;
    if (ch->state) {
        int64_t started = firing ? int_of(last, "at_ms") : e->at_ms;
        ch->detail_json = alert_event_detail(&r, ch->state, &v, e->window_id, started);
        ch->deliver = r.webhook != NULL;
    }
    return true;
}

static int check_window(const char *deployment, int64_t window_id, const cJSON *window,
                        struct eval_ctx *e, struct cap_error *err)
{
    if (!deployment || window_id <= 0 || !cJSON_IsObject(window))
        return cap_err(err, CAP_EINVAL,
                       "alert_on_window needs a deployment, a window id > 0 and the window "
                       "object");
    e->window_id = window_id;
    e->window = window;
    e->width = int_of(window, "width_s");
    if (e->width < 0 || (e->width == 0 && !item(window, "concept_drift")))
        return cap_err(err, CAP_EINVAL,
                       "Window %lld has no positive width_s (only a batch of concept-drift "
                       "detections has none)",
                       (long long)window_id);
    /* The window's end is the time of its state changes: a replayed
     * window gives the same events. */
    e->at_ms = cJSON_IsNumber(item(window, "end_ms")) ? int_of(window, "end_ms") : cap_now_ms();
    return 0;
}

/* Holds eval_mu: two windows evaluated at once would both read streak N
 * and write N + 1. */
static int evaluate(struct alert *a, const char *deployment, int64_t window_id,
                    const cJSON *window, struct cap_error *err)
{
    struct eval_ctx e;
    cJSON *states = NULL;
    int rc;
    if ((rc = check_window(deployment, window_id, window, &e, err)) < 0 ||
        (rc = store_alert_state_list(a->store, deployment, &states, err)) < 0)
        return rc;
    e.dflt_width = e.width > 0 ? default_width(a, deployment, e.width) : 0;
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(states);
    struct store_alert_change *ch = cap_xcalloc(cap ? cap : 1, sizeof *ch);
    bool deliver = false;
    for (const cJSON *st = states->child; st; st = st->next)
        if (eval_rule(st, &e, &ch[n]))
            deliver |= ch[n++].deliver;
    rc = store_alert_event_append(a->store, ch, n, NULL, err);
    for (size_t i = 0; rc == 0 && a->on_fire && i < n; i++)
        if (ch[i].state && strcmp(ch[i].state, "firing") == 0)
            a->on_fire(a->on_fire_cls, ch[i].deployment, ch[i].rule, ch[i].at_ms,
                       ch[i].detail_json);
    for (size_t i = 0; i < n; i++) {
        free((char *)ch[i].rule_json);
        free((char *)ch[i].detail_json);
    }
    free(ch);
    cJSON_Delete(states);
    if (rc == 0 && deliver)
        alert_kick(a);
    return rc;
}

int alert_on_window(struct alert *a, const char *deployment, int64_t window_id,
                    const cJSON *window, struct cap_error *err)
{
    pthread_mutex_lock(&a->eval_mu);
    int rc = evaluate(a, deployment, window_id, window, err);
    pthread_mutex_unlock(&a->eval_mu);
    return rc;
}

void alert_window_hook(void *alert, const char *deployment, int64_t window_id,
                       const cJSON *window)
{
    struct cap_error err = {0};
    if (alert && alert_on_window(alert, deployment, window_id, window, &err) < 0)
        cap_log(CAP_LOG_WARN, "alert: window %lld of deployment '%s' not evaluated: %s",
                (long long)window_id, deployment ? deployment : "?", err.msg);
}
