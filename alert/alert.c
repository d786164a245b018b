/* alert.c - the alert object's life (configuration, the delivery thread)
 * and the rule operations the API calls: put (checked by rule.c, the
 * webhook's addresses by addr.c), delete (resolving a firing alert) and the
 * current state of each rule. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "alert/internal.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"
#include "store/store.h"

int alert_start(const struct alert_config *cfg, struct alert **out, struct cap_error *err)
{
    *out = NULL;
    if (!cfg || !cfg->store)
        return cap_err(err, CAP_EINVAL, "Alerts need the metadata store");
    struct alert *a = cap_xcalloc(1, sizeof *a);
    a->store = cfg->store;
    a->allow_private = cfg->allow_private_webhooks;
    a->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : 8;
    a->backoff_ms = cfg->backoff_ms > 0 ? cfg->backoff_ms : 1000;
    a->backoff_max_ms = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : 300000;
    a->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
    a->default_window_s = cfg->default_window_s;
    a->external_url = cap_xstrdup(cfg->external_url ? cfg->external_url : "");
    a->on_fire = cfg->on_fire;
    a->on_fire_cls = cfg->on_fire_cls;
    a->lease = cfg->lease;
    pthread_mutex_init(&a->eval_mu, NULL);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->wake, NULL);
    pthread_cond_init(&a->idle, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* The thread's first pass picks up what a previous run left pending. */
    a->kicked = true;
    if (pthread_create(&a->thread, NULL, alert_deliver_main, a) != 0) {
        alert_stop(a);
        return cap_err(err, CAP_EINTERNAL, "Cannot start the alert delivery thread");
    }
    a->running = true;
    *out = a;
    return 0;
}

void alert_stop(struct alert *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stopping = true;
    pthread_cond_broadcast(&a->wake);
    pthread_cond_broadcast(&a->idle);
    pthread_mutex_unlock(&a->mu);
    if (a->running)
        pthread_join(a->thread, NULL);
    for (size_t i = 0; i < a->nwidths; i++)
        free(a->widths[i].deployment);
    free(a->widths);
    free(a->retries);
    free(a->acked);
    free(a->external_url);
    pthread_cond_destroy(&a->idle);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->eval_mu);
    free(a);
}

int alert_rule_put(struct alert *a, const cJSON *body, cJSON **out, struct cap_error *err)
{
    struct alert_rule r;
    int rc = alert_rule_parse(body, &r, err);
    if (rc < 0 || (r.webhook && (rc = alert_webhook_check(r.webhook, a->allow_private, err)) < 0))
        return rc;
    cJSON *json = alert_rule_json(&r);
    char *text = cap_json_print(json);
    rc = store_alert_rule_put(a->store, r.deployment, r.name, text, out, err);
    free(text);
    cJSON_Delete(json);
    return rc;
}

static const char *last_state(const cJSON *st)
{
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(st, "last_event");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(ev, "state");
    return cJSON_IsString(s) ? s->valuestring : "";
}

static const cJSON *find_rule(const cJSON *states, const char *name)
{
    for (const cJSON *st = states ? states->child : NULL; st; st = st->next) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(st, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return st;
    }
    return NULL;
}

/* The resolved event of a firing rule that is being deleted. */
static int delete_resolving(struct alert *a, const cJSON *st, struct cap_error *err)
{
    const cJSON *rj = cJSON_GetObjectItemCaseSensitive(st, "rule");
    struct alert_rule r;
    int rc = alert_rule_parse(rj, &r, err);
    if (rc < 0)
        return rc;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(st, "last_event");
    int64_t started = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(ev, "at_ms"));
    char *rule_text = cap_json_print(rj);
    char *detail = alert_event_detail(&r, "resolved", NULL, 0, started);
    struct store_alert_change ch = {.deployment = r.deployment, .rule = r.name,
                                    .rule_json = rule_text, .state = "resolved",
                                    .at_ms = cap_now_ms(), .detail_json = detail,
                                    .deliver = r.webhook != NULL};
    rc = store_alert_rule_delete(a->store, r.deployment, r.name, &ch, err);
    free(detail);
    free(rule_text);
    if (rc == 0 && ch.deliver)
        alert_kick(a);
    return rc;
}

int alert_rule_delete(struct alert *a, const char *deployment, const char *name,
                      struct cap_error *err)
{
    cJSON *states = NULL;
    /* No deployment: the store's delete names what is missing. */
    int rc = deployment ? store_alert_state_list(a->store, deployment, &states, err) : 0;
    if (rc < 0)
        return rc;
    const cJSON *st = name ? find_rule(states, name) : NULL;
    if (st && strcmp(last_state(st), "firing") == 0)
        rc = delete_resolving(a, st, err);
    else
        rc = store_alert_rule_delete(a->store, deployment, name, NULL, err);
    cJSON_Delete(states);
    return rc;
}

int alert_states(struct alert *a, const char *deployment, cJSON **out, struct cap_error *err)
{
    int rc = store_alert_state_list(a->store, deployment, out, err);
    if (rc < 0)
        return rc;
    for (cJSON *st = (*out)->child; st; st = st->next) {
        double streak = cJSON_GetNumberValue(cJSON_GetObjectItem(st, "streak"));
        const char *state = strcmp(last_state(st), "firing") == 0 ? "firing"
                            : streak > 0                          ? "pending"
                                                                  : "inactive";
        cJSON_AddStringToObject(st, "state", state);
    }
    return 0;
}
