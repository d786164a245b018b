/* judge.c - quality alerts (join.h, fb_judge_windows): after a batch of
 * labels, each window of prediction time it touched is handed to the alert
 * rules on model quality, once it holds a rule's min_labels labels. The
 * alert engine counts a window once per rule and in window order (its id is
 * its index in time), so a window is judged on the labels it had when it
 * first held enough; labels that arrive after a later window was judged
 * leave the earlier one as it was. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alert.h"
#include "base/buf.h"
#include "base/metrics.h"
#include "base/util.h"
#include "feedback/feedback.h"
#include "store/store.h"

/* The quality rules of one width: the fewest labels one of them needs, and
 * the oldest window one of them has not counted yet. */
struct width {
    int64_t width_ms, min_labels, after_id;
};

static void add_rule(struct width **w, size_t *n, const struct alert_rule *r, int64_t last_id)
{
    int64_t ms = r->window_s * 1000;
    size_t i = 0;
    while (i < *n && (*w)[i].width_ms != ms)
        i++;
    if (i == *n) {
        *w = cap_xrealloc(*w, (*n + 1) * sizeof **w);
        (*w)[(*n)++] = (struct width){ms, r->min_labels, last_id};
        return;
    }
    if (r->min_labels < (*w)[i].min_labels)
        (*w)[i].min_labels = r->min_labels;
    if (last_id < (*w)[i].after_id)
        (*w)[i].after_id = last_id;
}

/* The widths the deployment's quality rules watch. */
static int quality_widths(struct store *st, const char *deployment, struct width **w, size_t *n,
                          struct cap_error *err)
{
    cJSON *rules = NULL;
    int rc = store_alert_rule_list(st, deployment, &rules, err);
    for (const cJSON *x = rc == 0 ? rules->child : NULL; x; x = x->next) {
        struct alert_rule r;
        struct cap_error e = {0};
        const cJSON *last = cJSON_GetObjectItemCaseSensitive(x, "last_window_id");
        if (alert_rule_parse(cJSON_GetObjectItemCaseSensitive(x, "rule"), &r, &e) == 0 &&
            alert_metric_quality(r.metric))
            add_rule(w, n, &r, cJSON_IsNumber(last) ? (int64_t)last->valuedouble : 0);
    }
    cJSON_Delete(rules);
    return rc;
}

/* capstan_model_quality{deployment, metric, window_s}: the last judged
 * window's numbers (the quality rules' names for them). */
static void set_gauges(struct metrics *m, const char *deployment, int64_t width_s,
                       const cJSON *quality)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(quality, "metrics");
    const cJSON *prf = cJSON_GetObjectItemCaseSensitive(q, "binary");
    if (!cJSON_IsObject(prf))
        prf = cJSON_GetObjectItemCaseSensitive(q, "macro");
    static const char *const flat[] = {"accuracy", "roc_auc", "pr_auc", "log_loss", "mae",
                                       "rmse",     "mape",    "r2",     "mean_error"};
    static const char *const split[] = {"precision", "recall", "f1"};
    metrics_declare(m, "capstan_model_quality", METRICS_GAUGE,
                    "Model quality of the last window of prediction time judged by a quality "
                    "alert rule, from its labels",
                    NULL, 0);
    size_t nflat = sizeof flat / sizeof *flat;
    for (size_t i = 0; i < nflat + sizeof split / sizeof *split; i++) {
        const char *name = i < nflat ? flat[i] : split[i - nflat];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(i < nflat ? q : prf, name);
        if (!cJSON_IsNumber(v))
            continue;
        struct cap_buf l;
        cap_buf_init(&l);
        metrics_label(&l, "deployment", deployment);
        cap_buf_putc(&l, ',');
        metrics_label(&l, "metric", name);
        cap_buf_printf(&l, ",window_s=\"%lld\"", (long long)width_s);
        metrics_set(metrics_series(m, "capstan_model_quality", l.data), v->valuedouble);
        cap_buf_free(&l);
    }
}

/* One window, if it holds enough labels: its realised quality to the rules. */
static int judge(const struct fb_sink *sink, const char *deployment, const struct width *w,
                 int64_t start, struct cap_error *err)
{
    int64_t n = 0;
    int rc = store_labels_count(sink->store, deployment, start, start + w->width_ms,
                                w->min_labels, &n, err);
    if (rc < 0 || n < w->min_labels)
        return rc;
    struct fb_realised_query q = {deployment, start, start + w->width_ms, 0, NULL};
    cJSON *list = NULL;
    if ((rc = fb_realised(sink->store, &q, &list, err)) < 0)
        return rc;
    cJSON *win = cJSON_CreateObject();
    cJSON_AddNumberToObject(win, "width_s", (double)(w->width_ms / 1000));
    cJSON_AddNumberToObject(win, "start_ms", (double)start);
    cJSON_AddNumberToObject(win, "end_ms", (double)(start + w->width_ms));
    cJSON *quality = cJSON_DetachItemFromArray(list, 0);
    cJSON_Delete(list);
    if (sink->metrics && quality)
        set_gauges(sink->metrics, deployment, w->width_ms / 1000, quality);
    cJSON_AddItemToObject(win, "quality", quality);
    rc = alert_on_window(sink->alert, deployment, start / w->width_ms + 1, win, err);
    cJSON_Delete(win);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int fb_judge_windows(const struct fb_sink *sink, const char *deployment,
                     const struct store_label *labels, size_t n, struct cap_error *err)
{
    if (!sink->alert || n == 0)
        return 0;
    struct width *w = NULL;
    size_t nw = 0;
    int rc = quality_widths(sink->store, deployment, &w, &nw, err);
    int64_t *starts = cap_xmalloc(n * sizeof *starts);
    for (size_t k = 0; k < nw && rc == 0; k++) {
        for (size_t i = 0; i < n; i++)
            starts[i] = labels[i].pred_ms / w[k].width_ms * w[k].width_ms;
        qsort(starts, n, sizeof *starts, cmp_i64); /* in time order: the engine's order */
        for (size_t i = 0; i < n && rc == 0; i++)
            if ((i == 0 || starts[i] != starts[i - 1]) &&
                starts[i] / w[k].width_ms + 1 > w[k].after_id)
                rc = judge(sink, deployment, &w[k], starts[i], err);
    }
    free(starts);
    free(w);
    return rc;
}
