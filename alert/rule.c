/* rule.c - the one place where an alert rule's JSON is checked and read:
 * every field, its type, its range and how fields depend on each other.
 * Each error names the field and what it expects. */
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alert/alert.h"

static const char *const metric_names[] = {
    "dataset_drift", "share_of_drifted_columns", "drift_score", "prediction_drift",
    "missing_share", "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc",
    "log_loss", "mae", "rmse", "mape", "r2", "mean_error", "concept_drift"};
static const char *const op_names[] = {">", ">=", "<", "<=", "==", "!="};
static const char *const fields[] = {"name",    "deployment", "metric",     "column",
                                     "op",      "threshold",  "for",        "window",
                                     "webhook", "labels",     "severity",   "min_labels",
                                     "detector"};
/* Labels the rule sets itself (alert.c), which rule labels may not override. */
static const char *const own_labels[] = {"alertname", "deployment", "metric", "column",
                                         "severity",  "detector"};

#define NMETRICS (sizeof metric_names / sizeof *metric_names)
#define NOPS (sizeof op_names / sizeof *op_names)
#define COUNT(a) (sizeof(a) / sizeof *(a))

const char *alert_metric_name(enum alert_metric m)
{
    return (size_t)m < NMETRICS ? metric_names[m] : "?";
}

bool alert_metric_quality(enum alert_metric m)
{
    return m >= ALERT_ACCURACY && m <= ALERT_MEAN_ERROR;
}

const char *alert_op_name(enum alert_op op)
{
    return (size_t)op < NOPS ? op_names[op] : "?";
}

static int bad(struct cap_error *err, const char *field, const char *expected)
{
    return cap_err(err, CAP_EINVAL, "Invalid value for '%s' in alert rule: expected %s", field,
                   expected);
}

static int index_of(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

/* Letters, digits, '-', '_', '.' (not first), 1 to 128: the deployment
 * name's alphabet, so a rule name is as safe in a URL and a label. */
static bool plain_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.')
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

/* A string field: 0 and *out when present, 1 when absent or null (and not
 * required). */
static int get_str(const cJSON *o, const char *field, bool required, const char **out,
                   struct cap_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return cap_err(err, CAP_EINVAL, "Missing field '%s' in alert rule", field);
        return 1;
    }
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return bad(err, field, "a non-empty string");
    *out = v->valuestring;
    return 0;
}

/* An integer field in [min, max]; absent: dflt. */
static int get_int(const cJSON *o, const char *field, int64_t min, int64_t max, int64_t dflt,
                   int64_t *out, struct cap_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
    *out = dflt;
    if (!v || cJSON_IsNull(v))
        return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= (double)min && d <= (double)max) || d != floor(d)) {
        char what[96];
        snprintf(what, sizeof what, "an integer from %lld to %lld", (long long)min,
                 (long long)max);
        return bad(err, field, what);
    }
    *out = (int64_t)d;
    return 0;
}

static int check_fields(const cJSON *o, struct cap_error *err)
{
    if (!cJSON_IsObject(o))
        return cap_err(err, CAP_EINVAL, "An alert rule must be a JSON object");
    for (const cJSON *f = o->child; f; f = f->next)
        if (index_of(f->string, fields, COUNT(fields)) < 0)
            return cap_err(err, CAP_EINVAL,
                           "Unknown field '%.60s' in alert rule: expected name, deployment, "
                           "metric, column, op, threshold, for, window, webhook, labels, "
                           "severity, min_labels, detector",
                           f->string);
    return 0;
}

static int get_names(const cJSON *o, struct alert_rule *r, struct cap_error *err)
{
    int rc;
    if ((rc = get_str(o, "name", true, &r->name, err)) < 0)
        return rc;
    if (!plain_name(r->name))
        return bad(err, "name", "1 to 128 letters, digits, '-', '_' and '.' (not first)");
    if ((rc = get_str(o, "deployment", true, &r->deployment, err)) < 0)
        return rc;
    if (!plain_name(r->deployment))
        return bad(err, "deployment", "a deployment name: 1 to 128 letters, digits, '-', '_' "
                                      "and '.' (not first)");
    return 0;
}

/* A string field that must be one of names: *idx its index. */
static int get_enum(const cJSON *o, const char *field, const char *const *names, size_t n,
                    const char *expected, int *idx, struct cap_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!v || cJSON_IsNull(v))
        return cap_err(err, CAP_EINVAL, "Missing field '%s' in alert rule", field);
    *idx = cJSON_IsString(v) ? index_of(v->valuestring, names, n) : -1;
    return *idx < 0 ? bad(err, field, expected) : 0;
}

static int get_metric(const cJSON *o, struct alert_rule *r, struct cap_error *err)
{
    int i, rc = get_enum(o, "metric", metric_names, NMETRICS,
                         "dataset_drift, share_of_drifted_columns, drift_score, "
                         "prediction_drift, missing_share, or a model-quality metric: "
                         "accuracy, precision, recall, f1, roc_auc, pr_auc, log_loss, mae, "
                         "rmse, mape, r2, mean_error, or concept_drift",
                         &i, err);
    if (rc < 0)
        return rc;
    r->metric = (enum alert_metric)i;
    bool per_column = r->metric == ALERT_DRIFT_SCORE || r->metric == ALERT_MISSING_SHARE;
    if ((rc = get_str(o, "column", false, &r->column, err)) < 0)
        return rc;
    if (per_column && !r->column)
        return cap_err(err, CAP_EINVAL,
                       "Missing field 'column' in alert rule: %s needs the column it watches",
                       metric_names[i]);
    if (!per_column && r->column)
        return cap_err(err, CAP_EINVAL,
                       "Field 'column' in alert rule is only for drift_score and missing_share, "
                       "not for %s",
                       metric_names[i]);
    return 0;
}

static int get_condition(const cJSON *o, struct alert_rule *r, struct cap_error *err)
{
    int i, rc = get_enum(o, "op", op_names, NOPS, "one of >, >=, <, <=, ==, !=", &i, err);
    if (rc < 0)
        return rc;
    r->op = (enum alert_op)i;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "threshold");
    if (!t || cJSON_IsNull(t))
        return cap_err(err, CAP_EINVAL, "Missing field 'threshold' in alert rule");
    bool flag = r->metric == ALERT_DATASET_DRIFT || r->metric == ALERT_PREDICTION_DRIFT;
    if (flag && cJSON_IsBool(t)) {
        r->threshold = cJSON_IsTrue(t) ? 1 : 0;
        return 0;
    }
    r->threshold = cJSON_IsNumber(t) ? t->valuedouble : NAN;
    if (flag && r->threshold != 0 && r->threshold != 1)
        return bad(err, "threshold", "0 or 1 (or false / true) for a drift flag");
    bool share = r->metric == ALERT_SHARE_OF_DRIFTED_COLUMNS || r->metric == ALERT_MISSING_SHARE;
    if (share && !(r->threshold >= 0 && r->threshold <= 1))
        return bad(err, "threshold", "a number from 0 to 1 for a share");
    if (!isfinite(r->threshold))
        return bad(err, "threshold", "a finite number");
    return 0;
}

/* http(s)://host[:port]/...: the form only; alert_webhook_check looks the
 * host up. */
static int get_webhook(const cJSON *o, struct alert_rule *r, struct cap_error *err)
{
    int rc = get_str(o, "webhook", false, &r->webhook, err);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = strlen(r->webhook) <= 2048 && curl_url_set(u, CURLUPART_URL, r->webhook, 0) == 0 &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == 0 &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == 0 && host[0] &&
              (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok ? 0 : bad(err, "webhook", "an http:// or https:// URL with a host, at most 2048 "
                                        "characters");
}

/* Prometheus' label-name rule, [a-zA-Z_][a-zA-Z0-9_]*, without the
 * reserved "__" prefix. */
static bool label_name(const char *s)
{
    if (!s[0] || (s[0] >= '0' && s[0] <= '9') || strncmp(s, "__", 2) == 0 || strlen(s) > 128)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
           strlen(s);
}

static int get_labels(const cJSON *o, struct alert_rule *r, struct cap_error *err)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "labels");
    r->labels = NULL;
    if (!l || cJSON_IsNull(l))
        return 0;
    if (!cJSON_IsObject(l))
        return bad(err, "labels", "an object of label names to strings");
    for (const cJSON *f = l->child; f; f = f->next) {
        if (!label_name(f->string))
            return cap_err(err, CAP_EINVAL,
                           "Invalid label name '%.60s' in alert rule's 'labels': expected "
                           "[a-zA-Z_][a-zA-Z0-9_]* (not starting with __)",
                           f->string);
        if (index_of(f->string, own_labels, COUNT(own_labels)) >= 0)
            return cap_err(err, CAP_EINVAL,
                           "Label '%s' in alert rule's 'labels' is set by the rule itself: "
                           "use another name",
                           f->string);
        if (!cJSON_IsString(f) || strlen(f->valuestring) > 1024)
            return cap_err(err, CAP_EINVAL,
                           "Invalid value of label '%.60s' in alert rule's 'labels': expected "
                           "a string of at most 1024 characters",
                           f->string);
    }
    r->labels = l;
    return 0;
}

/* A concept_drift rule names its detector and is judged at each batch of
 * labels, without a window width. */
static int get_detector(const cJSON *o, struct alert_rule *r, struct cap_error *err)
{
    int rc = get_str(o, "detector", false, &r->detector, err);
    if (rc < 0)
        return rc;
    bool drift = r->metric == ALERT_CONCEPT_DRIFT;
    if (drift && !r->detector)
        return cap_err(err, CAP_EINVAL,
                       "Missing field 'detector' in alert rule: concept_drift needs the name of "
                       "the deployment's detector it watches");
    if (!drift && r->detector)
        return cap_err(err, CAP_EINVAL,
                       "Field 'detector' in alert rule is only for concept_drift, not for %s",
                       alert_metric_name(r->metric));
    if (drift && r->window_s)
        return cap_err(err, CAP_EINVAL,
                       "Field 'window' in alert rule is not for concept_drift: it is judged at "
                       "each batch of labels");
    return 0;
}

/* Quality rules judge windows of prediction time: their width must be
 * given, and a window counts once it holds min_labels labels (default
 * 100); the other rules take neither. */
static int get_quality(const cJSON *o, struct alert_rule *r, struct cap_error *err)
{
    bool quality = alert_metric_quality(r->metric);
    if (!quality) {
        if (cJSON_GetObjectItemCaseSensitive(o, "min_labels"))
            return cap_err(err, CAP_EINVAL,
                           "Field 'min_labels' in alert rule is only for model-quality "
                           "metrics, not for %s",
                           alert_metric_name(r->metric));
        return 0;
    }
    if (!r->window_s)
        return cap_err(err, CAP_EINVAL,
                       "Missing field 'window' in alert rule: %s judges windows of prediction "
                       "time of this many seconds",
                       alert_metric_name(r->metric));
    return get_int(o, "min_labels", 1, 1000000000, 100, &r->min_labels, err);
}

int alert_rule_parse(const cJSON *json, struct alert_rule *out, struct cap_error *err)
{
    struct alert_rule r = {0};
    int rc;
    if ((rc = check_fields(json, err)) < 0 || (rc = get_names(json, &r, err)) < 0 ||
        (rc = get_metric(json, &r, err)) < 0 || (rc = get_condition(json, &r, err)) < 0 ||
        (rc = get_int(json, "for", 1, 100000, 1, &r.for_windows, err)) < 0 ||
        (rc = get_int(json, "window", 1, 366 * 86400, 0, &r.window_s, err)) < 0 ||
        (rc = get_webhook(json, &r, err)) < 0 || (rc = get_labels(json, &r, err)) < 0 ||
        (rc = get_quality(json, &r, err)) < 0 || (rc = get_detector(json, &r, err)) < 0)
        return rc;
    if ((rc = get_str(json, "severity", false, &r.severity, err)) < 0)
        return rc;
    *out = r;
    return 0;
}

cJSON *alert_rule_json(const struct alert_rule *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "deployment", r->deployment);
    cJSON_AddStringToObject(o, "metric", alert_metric_name(r->metric));
    if (r->column)
        cJSON_AddStringToObject(o, "column", r->column);
    if (r->detector)
        cJSON_AddStringToObject(o, "detector", r->detector);
    cJSON_AddStringToObject(o, "op", alert_op_name(r->op));
    cJSON_AddNumberToObject(o, "threshold", r->threshold);
    cJSON_AddNumberToObject(o, "for", (double)r->for_windows);
    if (r->window_s)
        cJSON_AddNumberToObject(o, "window", (double)r->window_s);
    if (r->webhook)
        cJSON_AddStringToObject(o, "webhook", r->webhook);
    if (r->labels)
        cJSON_AddItemToObject(o, "labels", cJSON_Duplicate(r->labels, true));
    if (r->severity)
        cJSON_AddStringToObject(o, "severity", r->severity);
    if (alert_metric_quality(r->metric))
        cJSON_AddNumberToObject(o, "min_labels", (double)r->min_labels);
    return o;
}

bool alert_rule_holds(const struct alert_rule *r, double v)
{
    switch (r->op) {
    case ALERT_GT: return v > r->threshold;
    case ALERT_GE: return v >= r->threshold;
    case ALERT_LT: return v < r->threshold;
    case ALERT_LE: return v <= r->threshold;
    case ALERT_EQ: return v == r->threshold;
    case ALERT_NE: return v != r->threshold;
    }
    return false;
}
