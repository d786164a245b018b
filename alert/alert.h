/* alert.h - alerts on monitoring windows: rules per deployment (a metric of
 * the window's drift or data-quality report, a comparison with a threshold,
 * held for N consecutive windows of one width), their firing and resolved
 * states with history in the store, and delivery of each state change as a
 * webhook POST in Prometheus Alertmanager's webhook JSON (version "4").
 *
 * Below api/ (which serves the rules and the history) and above store/; it
 * knows nothing of the monitor: the live monitor calls alert_window_hook
 * after it stored each window.
 *
 * State lives in the store, so a restart continues where it stopped: each
 * rule's streak and the last window it counted are columns of its row,
 * written in the same transaction as the events of that window; events not
 * yet acknowledged by their webhook are posted again after a restart, and
 * an acknowledged one never is.
 *
 * Threads: alert_on_window and the rule calls may come from any thread;
 * delivery runs on one thread of its own. */
#ifndef CAP_ALERT_H
#define CAP_ALERT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

struct store;
struct sockaddr;
struct alert;

struct alert_config {
    struct store *store;
    /* --alert-allow-private-webhooks: webhooks may point at loopback,
     * private, link-local or unspecified addresses. */
    bool allow_private_webhooks;
    int max_attempts;            /* POSTs per state change before it is given up; 0: 8 */
    int backoff_ms;              /* delay before the first retry, doubled at each; 0: 1000 */
    int backoff_max_ms;          /* the longest delay; 0: 300000 (5 min) */
    long timeout_ms;             /* one POST, connection included; 0: 10000 */
    /* The width rules without "window" watch (the monitor's smallest);
     * 0: the smallest width this process has seen for the deployment. */
    int64_t default_window_s;
    const char *external_url;    /* externalURL of the payloads (copied); NULL: "" */
    /* Called after each "firing" event is stored (pipeline triggers,
     * pipe_sched_alert_hook), on the evaluating thread; event_json is the
     * event's detail (labels, annotations, value). NULL: none. */
    void (*on_fire)(void *cls, const char *deployment, const char *rule, int64_t at_ms,
                    const char *event_json);
    void *on_fire_cls;
    /* Several servers on one database: only the lease's holder delivers
     * (NULL: this server always does). */
    struct lease *lease;
};

/* Starts the delivery thread, which first picks up the events a previous
 * run left undelivered. */
int alert_start(const struct alert_config *cfg, struct alert **out, struct cap_error *err);
/* Stops delivery (a POST in flight finishes or times out) and frees a.
 * Undelivered events stay in the store for the next start. NULL is fine. */
void alert_stop(struct alert *a);

/* ---- rules (rule.c checks them, in one place) ---- */
enum alert_metric {
    ALERT_DATASET_DRIFT,
    ALERT_SHARE_OF_DRIFTED_COLUMNS,
    ALERT_DRIFT_SCORE,
    ALERT_PREDICTION_DRIFT,
    ALERT_MISSING_SHARE,
    /* Model quality from the labels of a window of prediction time
     * (feedback/): judged once the window holds min_labels labels. */
    ALERT_ACCURACY,
    ALERT_PRECISION,             /* binary: the positive class's; else macro */
    ALERT_RECALL,
    ALERT_F1,
    ALERT_ROC_AUC,
    ALERT_PR_AUC,
    ALERT_LOG_LOSS,
    ALERT_MAE,
    ALERT_RMSE,
    ALERT_MAPE,
    ALERT_R2,
    ALERT_MEAN_ERROR,
    /* A concept-drift detector's drifts in one batch of labels ("detector":
     * its name); judged at each batch that feeds it, no width. */
    ALERT_CONCEPT_DRIFT,
};
/* Whether m is a model-quality metric (window of prediction time, labels). */
bool alert_metric_quality(enum alert_metric m);
enum alert_op { ALERT_GT, ALERT_GE, ALERT_LT, ALERT_LE, ALERT_EQ, ALERT_NE };

/* A checked rule; the strings and labels point into the JSON it was read
 * from. */
struct alert_rule {
    const char *name;
    const char *deployment;
    enum alert_metric metric;
    const char *column;          /* drift_score and missing_share only */
    const char *detector;        /* concept_drift only */
    enum alert_op op;
    double threshold;
    int64_t for_windows;         /* >= 1 */
    int64_t window_s;            /* 0: the default width (quality metrics: required) */
    int64_t min_labels;          /* quality metrics: labels a window needs to be judged */
    const char *webhook;         /* NULL: history only */
    const cJSON *labels;         /* object of strings, or NULL */
    const char *severity;        /* NULL when not given */
};

/* Checks rule JSON (every field; an error names the field and what is
 * expected) without looking the webhook's host up. */
int alert_rule_parse(const cJSON *json, struct alert_rule *out, struct cap_error *err);
/* The rule as stored: every field, defaults filled in. */
cJSON *alert_rule_json(const struct alert_rule *r);
const char *alert_metric_name(enum alert_metric m);
const char *alert_op_name(enum alert_op op);
/* Whether value meets the rule's condition. */
bool alert_rule_holds(const struct alert_rule *r, double value);

/* Checks a webhook URL: http or https with a host that resolves, and unless
 * allow_private, only to public addresses (every address it resolves to). */
int alert_webhook_check(const char *url, bool allow_private, struct cap_error *err);
/* Whether an address is loopback, private, link-local, unspecified (or
 * another address that is not public unicast: CGNAT, multicast, reserved);
 * IPv4 inside IPv6 (mapped, NAT64) is judged as IPv4. */
bool alert_addr_private(const struct sockaddr *sa);

/* Checks body (alert_rule_parse and the webhook's addresses) and creates or
 * replaces the rule (deployment, name). out (may be NULL): the stored rule. */
int alert_rule_put(struct alert *a, const cJSON *body, cJSON **out, struct cap_error *err);
/* Deletes a rule; a firing one is resolved first (an event, delivered). */
int alert_rule_delete(struct alert *a, const char *deployment, const char *name,
                      struct cap_error *err);
/* The current state of each rule of deployment (NULL: all): the rule and
 * its streak with "state" firing, pending (breaching, not yet for long
 * enough) or inactive, and its last event. */
int alert_states(struct alert *a, const char *deployment, cJSON **out, struct cap_error *err);

/* ---- evaluation ---- */
/* Evaluates the rules of deployment on one stored window: {"id",
 * "deployment", "width_s", "start_ms", "end_ms", "rows", "drift",
 * "prediction_drift", "data_quality"} (the reports may be null). A metric
 * the window lacks leaves the rule as it was. Each state change is stored
 * as an event and queued for delivery. A window already counted counts
 * once. */
int alert_on_window(struct alert *a, const char *deployment, int64_t window_id,
                    const cJSON *window, struct cap_error *err);
/* The live monitor's on_window callback: alert_on_window with a struct
 * alert * as cls, failures logged. */
void alert_window_hook(void *alert, const char *deployment, int64_t window_id,
                       const cJSON *window);

/* Waits until delivery is idle: every event stored before the call is
 * delivered or given up. For tests and for an orderly stop. */
void alert_flush(struct alert *a);

#endif
