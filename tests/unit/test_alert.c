/* test_alert.c - alerts (alert/): the rule JSON's checks, one bad field at a
 * time; the webhook address policy; evaluation of windows with `for`
 * (streaks, firing, resolving, absent metrics, widths, replays); state that
 * survives closing and reopening the store; and delivery to a receiver in
 * this process on loopback (allowed by the flag): Alertmanager's webhook
 * JSON field by field, retries that end in exactly one delivered payload per
 * state change, resumption after a restart, and the address check at
 * delivery time. Synchronisation is alert_flush or the receiver's condition
 * variable, never a sleep; backoff is 1 ms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alert.h"
#include "base/buf.h"
#include "base/json.h"
#include "store/store.h"
#include "tests/unit/fixture.h"

/* ---- a webhook receiver on 127.0.0.1 ---- */

struct receiver {
    struct MHD_Daemon *d;
    unsigned port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fail_next;               /* answer 500 to this many requests */
    int requests;                /* every POST received */
    cJSON *ok;                   /* array: the bodies answered 200 */
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    struct receiver *r = cls;
    struct cap_buf *body = *con_cls;
    if (!body) {
        *con_cls = body = calloc(1, sizeof *body);
        cap_buf_init(body);
        return MHD_YES;
    }
    if (*size) {
        cap_buf_append(body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&r->mu);
    r->requests++;
    bool fail = r->fail_next > 0;
    if (fail)
        r->fail_next--;
    else
        cJSON_AddItemToArray(r->ok, cJSON_Parse(body->data ? body->data : ""));
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, "{}", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(conn, fail ? 500 : 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct cap_buf *body = *con_cls;
    if (body) {
        cap_buf_free(body);
        free(body);
    }
}

static struct receiver *receiver_start(int fail_next)
{
    struct receiver *r = calloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->fail_next = fail_next;
    r->ok = cJSON_CreateArray();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    r->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, r,
                            MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, on_done,
                            NULL, MHD_OPTION_END);
    assert_non_null(r->d);
    r->port = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return r;
}

static void receiver_stop(struct receiver *r)
{
    MHD_stop_daemon(r->d);
    cJSON_Delete(r->ok);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static int receiver_count(struct receiver *r, int *requests)
{
    pthread_mutex_lock(&r->mu);
    int n = cJSON_GetArraySize(r->ok);
    if (requests)
        *requests = r->requests;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Waits (on the condition, no timeout needed: the test fails by hanging
 * only if delivery is broken) until the receiver got n requests. */
static void receiver_wait(struct receiver *r, int n)
{
    pthread_mutex_lock(&r->mu);
    while (r->requests < n)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

/* ---- fixture ---- */

struct fx {
    char dir[256];
    char db[300];
    struct store *st;
    struct alert *a;
};

static struct alert *start_alert(struct store *st, bool allow_private, int max_attempts,
                                 int backoff_ms)
{
    struct alert_config cfg = {.store = st, .allow_private_webhooks = allow_private,
                               .max_attempts = max_attempts, .backoff_ms = backoff_ms,
                               .backoff_max_ms = backoff_ms * 4, .timeout_ms = 5000,
                               .external_url = "http://capstan.example:5000"};
    struct alert *a = NULL;
    struct cap_error err = {0};
    if (alert_start(&cfg, &a, &err) != 0)
        fail_msg("alert_start: %s", err.msg);
    return a;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!fixture_tmpdir(f->dir, sizeof f->dir, "alert"))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/capstan.db", f->dir);
    f->st = fixture_store_open(f->db);
    f->a = start_alert(f->st, true, 5, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    alert_stop(f->a);
    store_close(f->st);
    fixture_rm_rf(f->dir);
    free(f);
    return 0;
}

/* Closes the alert object and the store and opens both again. */
static void restart(struct fx *f, bool allow_private, int max_attempts, int backoff_ms)
{
    alert_stop(f->a);
    store_close(f->st);
    f->st = fixture_store_open(f->db);
    f->a = start_alert(f->st, allow_private, max_attempts, backoff_ms);
}

static void put_rule(struct fx *f, const char *json)
{
    cJSON *body = cJSON_Parse(json);
    assert_non_null(body);
    struct cap_error err = {0};
    if (alert_rule_put(f->a, body, NULL, &err) != 0)
        fail_msg("alert_rule_put(%s): %s", json, err.msg);
    cJSON_Delete(body);
}

/* A window of width_s with share (the drift report's share; < 0: no drift
 * report) and column x's drift score and missing share. */
static void window(struct fx *f, int64_t id, int64_t width_s, double share)
{
    char text[1024];
    if (share < 0)
        snprintf(text, sizeof text,
                 "{\"id\":%lld,\"deployment\":\"d\",\"width_s\":%lld,\"start_ms\":%lld,"
                 "\"end_ms\":%lld,\"rows\":10,\"drift\":null,\"prediction_drift\":null,"
                 "\"data_quality\":null}",
                 (long long)id, (long long)width_s, (long long)id * 60000,
                 (long long)(id + 1) * 60000);
    else
        snprintf(text, sizeof text,
                 "{\"id\":%lld,\"deployment\":\"d\",\"width_s\":%lld,\"start_ms\":%lld,"
                 "\"end_ms\":%lld,\"rows\":10,\"drift\":{\"dataset_drift\":%s,"
                 "\"share_of_drifted_columns\":%g,\"number_of_drifted_columns\":1,"
                 "\"columns\":[{\"column\":\"x\",\"stattest\":\"ks\",\"drift_score\":%g,"
                 "\"drift_detected\":true}]},\"prediction_drift\":{\"dataset_drift\":true,"
                 "\"share_of_drifted_columns\":1,\"columns\":[]},"
                 "\"data_quality\":{\"columns\":[{\"column\":\"x\","
                 "\"missing_share_current\":%g}]}}",
                 (long long)id, (long long)width_s, (long long)id * 60000,
                 (long long)(id + 1) * 60000, share > 0.5 ? "true" : "false", share, share,
                 share / 2);
    cJSON *w = cJSON_Parse(text);
    assert_non_null(w);
    struct cap_error err = {0};
    if (alert_on_window(f->a, "d", id, w, &err) != 0)
        fail_msg("alert_on_window: %s", err.msg);
    cJSON_Delete(w);
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

/* The state of rule name ("firing", "pending", "inactive") and its streak. */
static const char *state_of(struct fx *f, const char *name, int64_t *streak)
{
    static char out[16];
    cJSON *states = NULL;
    struct cap_error err = {0};
    assert_int_equal(alert_states(f->a, "d", &states, &err), 0);
    out[0] = '\0';
    for (const cJSON *s = states->child; s; s = s->next)
        if (strcmp(jstr(s, "name"), name) == 0) {
            snprintf(out, sizeof out, "%s", jstr(s, "state"));
            if (streak)
                *streak = (int64_t)jnum(s, "streak");
        }
    cJSON_Delete(states);
    return out;
}

/* The events of deployment d, newest first. */
static cJSON *events(struct fx *f)
{
    cJSON *out = NULL;
    char *next = NULL;
    struct cap_error err = {0};
    assert_int_equal(store_alert_event_list(f->st, "d", 1000, NULL, &out, &next, &err), 0);
    assert_null(next);
    return out;
}

/* ---- rule checks ---- */

#define GOOD "\"name\":\"r\",\"deployment\":\"d\""

static void test_rule_validation(void **state)
{
    static const struct {
        const char *json;
        const char *words; /* in the message: the field and what it expects */
    } bad[] = {
        {"[1]", "must be a JSON object"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1,\"treshold\":1}",
         "Unknown field 'treshold'"},
        {"{\"deployment\":\"d\",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1}",
         "Missing field 'name'"},
        {"{\"name\":\"a/b\",\"deployment\":\"d\",\"metric\":\"dataset_drift\",\"op\":\">\","
         "\"threshold\":1}",
         "'name' in alert rule: expected 1 to 128 letters"},
        {"{\"name\":\"r\",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1}",
         "Missing field 'deployment'"},
        {"{\"name\":\"r\",\"deployment\":7,\"metric\":\"dataset_drift\",\"op\":\">\","
         "\"threshold\":1}",
         "'deployment' in alert rule: expected a non-empty string"},
        {"{" GOOD ",\"op\":\">\",\"threshold\":1}", "Missing field 'metric'"},
        {"{" GOOD ",\"metric\":\"latency\",\"op\":\">\",\"threshold\":1}",
         "'metric' in alert rule: expected dataset_drift, share_of_drifted_columns"},
        {"{" GOOD ",\"metric\":\"drift_score\",\"op\":\">\",\"threshold\":1}",
         "Missing field 'column' in alert rule: drift_score needs"},
        {"{" GOOD ",\"metric\":\"missing_share\",\"column\":\"\",\"op\":\">\",\"threshold\":1}",
         "'column' in alert rule: expected a non-empty string"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"column\":\"x\",\"op\":\">\",\"threshold\":1}",
         "'column' in alert rule is only for drift_score and missing_share"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"threshold\":1}", "Missing field 'op'"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\"=>\",\"threshold\":1}",
         "'op' in alert rule: expected one of >, >=, <, <=, ==, !="},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\"}", "Missing field 'threshold'"},
        {"{" GOOD ",\"metric\":\"drift_score\",\"column\":\"x\",\"op\":\">\","
         "\"threshold\":\"high\"}",
         "'threshold' in alert rule: expected a finite number"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\"==\",\"threshold\":0.5}",
         "'threshold' in alert rule: expected 0 or 1"},
        {"{" GOOD ",\"metric\":\"prediction_drift\",\"op\":\"==\",\"threshold\":2}",
         "'threshold' in alert rule: expected 0 or 1"},
        {"{" GOOD ",\"metric\":\"share_of_drifted_columns\",\"op\":\">\",\"threshold\":1.5}",
         "'threshold' in alert rule: expected a number from 0 to 1"},
        {"{" GOOD ",\"metric\":\"missing_share\",\"column\":\"x\",\"op\":\">\","
         "\"threshold\":-0.1}",
         "'threshold' in alert rule: expected a number from 0 to 1"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1,\"for\":0}",
         "'for' in alert rule: expected an integer from 1"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1,\"for\":1.5}",
         "'for' in alert rule: expected an integer from 1"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1,\"for\":\"2\"}",
         "'for' in alert rule: expected an integer from 1"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1,\"window\":0}",
         "'window' in alert rule: expected an integer from 1"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1,"
         "\"webhook\":\"ftp://example.com/x\"}",
         "'webhook' in alert rule: expected an http:// or https:// URL"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1,"
         "\"webhook\":\"not a url\"}",
         "'webhook' in alert rule: expected an http:// or https:// URL"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1,\"labels\":[]}",
         "'labels' in alert rule: expected an object"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1,"
         "\"labels\":{\"1team\":\"a\"}}",
         "Invalid label name '1team'"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1,"
         "\"labels\":{\"alertname\":\"a\"}}",
         "Label 'alertname' in alert rule's 'labels' is set by the rule itself"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1,"
         "\"labels\":{\"team\":3}}",
         "Invalid value of label 'team'"},
        {"{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\">\",\"threshold\":1,"
         "\"severity\":\"\"}",
         "'severity' in alert rule: expected a non-empty string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *j = cJSON_Parse(bad[i].json);
        assert_non_null(j);
        struct alert_rule r;
        struct cap_error err = {0};
        assert_int_equal(alert_rule_parse(j, &r, &err), -CAP_EINVAL);
        if (!strstr(err.msg, bad[i].words))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].words);
        cJSON_Delete(j);
    }
}

static void test_rule_defaults_and_put(void **state)
{
    struct fx *f = *state;
    cJSON *j = cJSON_Parse("{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\"==\","
                           "\"threshold\":true,\"labels\":{\"team\":\"ml\"}}");
    struct alert_rule r;
    struct cap_error err = {0};
    assert_int_equal(alert_rule_parse(j, &r, &err), 0);
    assert_true(r.threshold == 1 && r.for_windows == 1 && r.window_s == 0 && !r.webhook);
    cJSON *out = NULL;
    assert_int_equal(alert_rule_put(f->a, j, &out, &err), 0);
    const cJSON *rule = cJSON_GetObjectItem(out, "rule");
    assert_int_equal((int)jnum(rule, "for"), 1);
    assert_int_equal((int)jnum(rule, "threshold"), 1);
    assert_string_equal(jstr(cJSON_GetObjectItem(rule, "labels"), "team"), "ml");
    assert_null(cJSON_GetObjectItem(rule, "window"));
    cJSON_Delete(out);
    cJSON_Delete(j);
    /* A bad rule stores nothing. */
    j = cJSON_Parse("{\"name\":\"r2\",\"deployment\":\"d\",\"metric\":\"nope\"}");
    assert_int_equal(alert_rule_put(f->a, j, NULL, &err), -CAP_EINVAL);
    cJSON_Delete(j);
    assert_int_equal(store_alert_rule_list(f->st, "d", &out, &err), 0);
    assert_int_equal(cJSON_GetArraySize(out), 1);
    cJSON_Delete(out);
}

/* ---- the address policy ---- */

static void test_private_webhooks_refused(void **state)
{
    struct fx *f = *state;
    static const char *const private_urls[] = {
        "http://127.0.0.1:9093/hook", "http://10.1.2.3/hook",     "http://192.168.1.20/",
        "http://[::1]:8080/x",        "http://[fe80::1]/x",       "http://169.254.169.254/",
        "http://0.0.0.0/",            "http://172.16.5.4/",       "http://[::ffff:127.0.0.1]/",
        "http://[fd00::1]/",          "https://127.0.0.2:443/x",  "http://[::]/",
    };
    struct cap_error err = {0};
    for (size_t i = 0; i < sizeof private_urls / sizeof *private_urls; i++) {
        if (alert_webhook_check(private_urls[i], false, &err) != -CAP_EINVAL)
            fail_msg("%s was not refused", private_urls[i]);
        assert_non_null(strstr(err.msg, "--alert-allow-private-webhooks"));
        assert_int_equal(alert_webhook_check(private_urls[i], true, &err), 0);
    }
    assert_int_equal(alert_webhook_check("http://203.0.113.7/hook", false, &err), 0);
    assert_int_equal(alert_webhook_check("https://[2001:db8::1]:8443/h", false, &err), 0);

    /* Through alert_rule_put of a server without the flag: refused, not stored. */
    alert_stop(f->a);
    f->a = start_alert(f->st, false, 5, 1);
    cJSON *j = cJSON_Parse("{" GOOD ",\"metric\":\"dataset_drift\",\"op\":\"==\","
                           "\"threshold\":1,\"webhook\":\"http://10.0.0.8:9093/\"}");
    assert_int_equal(alert_rule_put(f->a, j, NULL, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "'webhook'"));
    assert_non_null(strstr(err.msg, "10.0.0.8"));
    cJSON_Delete(j);
    cJSON *out = NULL;
    assert_int_equal(store_alert_rule_list(f->st, NULL, &out, &err), 0);
    assert_int_equal(cJSON_GetArraySize(out), 0);
    cJSON_Delete(out);
}

/* ---- evaluation ---- */

static void test_for_streaks_fire_and_resolve(void **state)
{
    struct fx *f = *state;
    put_rule(f, "{" GOOD ",\"metric\":\"share_of_drifted_columns\",\"op\":\">\","
                "\"threshold\":0.5,\"for\":3}");
    int64_t streak = -1;
    window(f, 1, 60, 0.6);
    assert_string_equal(state_of(f, "r", &streak), "pending");
    assert_int_equal(streak, 1);
    window(f, 2, 60, -1); /* no drift report: the streak stays */
    assert_string_equal(state_of(f, "r", &streak), "pending");
    assert_int_equal(streak, 1);
    window(f, 3, 60, 0.7);
    window(f, 3, 60, 0.7); /* the same window again counts once */
    assert_string_equal(state_of(f, "r", &streak), "pending");
    assert_int_equal(streak, 2);
    cJSON *ev = events(f);
    assert_int_equal(cJSON_GetArraySize(ev), 0);
    cJSON_Delete(ev);
    window(f, 4, 60, 0.8);
    assert_string_equal(state_of(f, "r", &streak), "firing");
    assert_int_equal(streak, 3);
    window(f, 5, 60, 0.9); /* still firing: no new event */
    window(f, 6, 60, 0.5); /* 0.5 > 0.5 does not hold: resolved at once */
    assert_string_equal(state_of(f, "r", &streak), "inactive");
    assert_int_equal(streak, 0);
    ev = events(f);
    assert_int_equal(cJSON_GetArraySize(ev), 2);
    const cJSON *resolved = cJSON_GetArrayItem(ev, 0), *firing = cJSON_GetArrayItem(ev, 1);
    assert_string_equal(jstr(firing, "state"), "firing");
    assert_int_equal((int)jnum(firing, "window_id"), 4);
    assert_true(jnum(firing, "value") == 0.8);
    assert_int_equal((int64_t)jnum(firing, "at_ms"), 5 * 60000);
    assert_string_equal(jstr(firing, "delivery"), "none"); /* no webhook */
    assert_string_equal(jstr(resolved, "state"), "resolved");
    assert_int_equal((int)jnum(resolved, "window_id"), 6);
    assert_true(jnum(resolved, "value") == 0.5);
    const cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(resolved, "detail"), "labels");
    assert_string_equal(jstr(labels, "alertname"), "r");
    assert_string_equal(jstr(labels, "deployment"), "d");
    assert_string_equal(jstr(labels, "metric"), "share_of_drifted_columns");
    cJSON_Delete(ev);
    /* A breach after a non-breach starts a new streak from 1. */
    window(f, 7, 60, 0.9);
    assert_string_equal(state_of(f, "r", &streak), "pending");
    assert_int_equal(streak, 1);
}

static void test_metrics_widths_and_absent_columns(void **state)
{
    struct fx *f = *state;
    /* drift_score of x (= share in window()), missing_share of x (= share / 2),
     * a column the window lacks, prediction drift, a 300 s rule. */
    put_rule(f, "{\"name\":\"score\",\"deployment\":\"d\",\"metric\":\"drift_score\","
                "\"column\":\"x\",\"op\":\">=\",\"threshold\":0.3}");
    put_rule(f, "{\"name\":\"missing\",\"deployment\":\"d\",\"metric\":\"missing_share\","
                "\"column\":\"x\",\"op\":\">\",\"threshold\":0.2}");
    put_rule(f, "{\"name\":\"other\",\"deployment\":\"d\",\"metric\":\"drift_score\","
                "\"column\":\"y\",\"op\":\">\",\"threshold\":0}");
    put_rule(f, "{\"name\":\"pred\",\"deployment\":\"d\",\"metric\":\"prediction_drift\","
                "\"op\":\"==\",\"threshold\":1}");
    put_rule(f, "{\"name\":\"flag\",\"deployment\":\"d\",\"metric\":\"dataset_drift\","
                "\"op\":\"==\",\"threshold\":1,\"window\":300}");
    window(f, 1, 60, 0.3);
    assert_string_equal(state_of(f, "score", NULL), "firing");
    assert_string_equal(state_of(f, "missing", NULL), "inactive"); /* 0.15 */
    assert_string_equal(state_of(f, "other", NULL), "inactive");   /* no column y */
    assert_string_equal(state_of(f, "pred", NULL), "firing");
    assert_string_equal(state_of(f, "flag", NULL), "inactive");    /* 60 s window */
    /* A 300 s window: only the rule with "window": 300; the others watch the
     * smallest width (60 s). */
    window(f, 2, 300, 0.9);
    assert_string_equal(state_of(f, "flag", NULL), "firing");
    assert_string_equal(state_of(f, "missing", NULL), "inactive");
    window(f, 3, 60, 0.9);
    assert_string_equal(state_of(f, "missing", NULL), "firing"); /* 0.45 */
    int64_t streak = -1;
    state_of(f, "other", &streak);
    assert_int_equal(streak, 0);
    cJSON *ev = events(f);
    assert_int_equal(cJSON_GetArraySize(ev), 4); /* score, pred, flag, missing */
    cJSON_Delete(ev);
    /* Bad windows are refused with a message, not counted. */
    struct cap_error err = {0};
    cJSON *w = cJSON_Parse("{\"id\":9}");
    assert_int_equal(alert_on_window(f->a, "d", 9, w, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "width_s"));
    cJSON_Delete(w);
}

static void test_restart_continues(void **state)
{
    struct fx *f = *state;
    put_rule(f, "{" GOOD ",\"metric\":\"share_of_drifted_columns\",\"op\":\">\","
                "\"threshold\":0.5,\"for\":2}");
    window(f, 1, 60, 0.9);
    restart(f, true, 5, 1);
    int64_t streak = -1;
    assert_string_equal(state_of(f, "r", &streak), "pending");
    assert_int_equal(streak, 1);
    window(f, 2, 60, 0.9);
    assert_string_equal(state_of(f, "r", NULL), "firing");
    restart(f, true, 5, 1);
    window(f, 2, 60, 0.1); /* window 2 again after the restart: already counted */
    assert_string_equal(state_of(f, "r", NULL), "firing");
    window(f, 3, 60, 0.1);
    assert_string_equal(state_of(f, "r", NULL), "inactive");
    cJSON *ev = events(f);
    assert_int_equal(cJSON_GetArraySize(ev), 2);
    assert_string_equal(jstr(cJSON_GetArrayItem(ev, 0), "state"), "resolved");
    assert_string_equal(jstr(cJSON_GetArrayItem(ev, 1), "state"), "firing");
    cJSON_Delete(ev);
    /* Replacing the rule with another condition restarts its streak, and
     * putting the same rule again keeps it. */
    window(f, 4, 60, 0.9);
    put_rule(f, "{" GOOD ",\"metric\":\"share_of_drifted_columns\",\"op\":\">\","
                "\"threshold\":0.5,\"for\":2}");
    assert_int_equal((state_of(f, "r", &streak), streak), 1);
    put_rule(f, "{" GOOD ",\"metric\":\"share_of_drifted_columns\",\"op\":\">\","
                "\"threshold\":0.6,\"for\":2}");
    assert_int_equal((state_of(f, "r", &streak), streak), 0);
}

static void test_event_pages(void **state)
{
    struct fx *f = *state;
    put_rule(f, "{" GOOD ",\"metric\":\"share_of_drifted_columns\",\"op\":\">\","
                "\"threshold\":0.5}");
    for (int i = 1; i <= 5; i++)
        window(f, i, 60, i % 2 ? 0.9 : 0.1); /* fire, resolve, fire, resolve, fire */
    cJSON *all = events(f);
    assert_int_equal(cJSON_GetArraySize(all), 5);
    char *token = NULL;
    int seen = 0;
    struct cap_error err = {0};
    do {
        cJSON *page = NULL;
        char *next = NULL;
        assert_int_equal(store_alert_event_list(f->st, "d", 2, token, &page, &next, &err), 0);
        for (const cJSON *e = page->child; e; e = e->next, seen++)
            assert_int_equal((int)jnum(e, "id"),
                             (int)jnum(cJSON_GetArrayItem(all, seen), "id"));
        assert_true(cJSON_GetArraySize(page) == 2 || !next);
        cJSON_Delete(page);
        free(token);
        token = next;
    } while (token);
    assert_int_equal(seen, 5);
    assert_string_equal(jstr(cJSON_GetArrayItem(all, 4), "state"), "firing");
    assert_string_equal(jstr(cJSON_GetArrayItem(all, 0), "state"), "firing");
    cJSON_Delete(all);
    cJSON *page = NULL;
    char *next = NULL;
    assert_int_equal(store_alert_event_list(f->st, "d", 2, "x1", &page, &next, &err),
                     -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "Invalid page_token 'x1'"));
    assert_null(page);
}

/* ---- delivery ---- */

static void rule_to(struct fx *f, const char *name, const char *metric_part, unsigned port)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"name\":\"%s\",\"deployment\":\"d\",%s,\"webhook\":\"http://127.0.0.1:%u/hook\","
             "\"labels\":{\"team\":\"ml\"},\"severity\":\"page\"}",
             name, metric_part, port);
    put_rule(f, json);
}

static bool is_rfc3339_ms(const char *s)
{
    int y, mo, d, h, mi, sec, ms;
    char z;
    return s && strlen(s) == 24 &&
           sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms, &z) == 8 &&
           z == 'Z';
}

/* The checks every payload of deployment d passes. */
static void check_envelope(const cJSON *p, const char *status, int nalerts)
{
    assert_string_equal(jstr(p, "version"), "4");
    assert_string_equal(jstr(p, "groupKey"), "{}:{deployment=\"d\"}");
    assert_int_equal((int)jnum(p, "truncatedAlerts"), 0);
    assert_string_equal(jstr(p, "status"), status);
    assert_string_equal(jstr(p, "receiver"), "capstan");
    const cJSON *gl = cJSON_GetObjectItem(p, "groupLabels");
    assert_int_equal(cJSON_GetArraySize(gl), 1);
    assert_string_equal(jstr(gl, "deployment"), "d");
    assert_string_equal(jstr(p, "externalURL"), "http://capstan.example:5000");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "alerts")), nalerts);
}

/* alerts[] entry with labels.alertname == name. */
static const cJSON *alert_named(const cJSON *p, const char *name)
{
    for (const cJSON *a = cJSON_GetObjectItem(p, "alerts")->child; a; a = a->next)
        if (strcmp(jstr(cJSON_GetObjectItem(a, "labels"), "alertname"), name) == 0)
            return a;
    fail_msg("no alert %s in the payload", name);
    return NULL;
}

static void check_alert(const cJSON *a, const char *status, const char *metric)
{
    assert_string_equal(jstr(a, "status"), status);
    const cJSON *l = cJSON_GetObjectItem(a, "labels");
    assert_string_equal(jstr(l, "deployment"), "d");
    assert_string_equal(jstr(l, "metric"), metric);
    assert_string_equal(jstr(l, "team"), "ml");
    assert_string_equal(jstr(l, "severity"), "page");
    assert_true(is_rfc3339_ms(jstr(a, "startsAt")));
    if (strcmp(status, "firing") == 0)
        assert_string_equal(jstr(a, "endsAt"), "0001-01-01T00:00:00Z");
    else
        assert_true(is_rfc3339_ms(jstr(a, "endsAt")));
    assert_string_equal(jstr(a, "generatorURL"),
                        "http://capstan.example:5000/api/2.0/capstan/monitor/alerts/events"
                        "?deployment=d");
    const char *fp = jstr(a, "fingerprint");
    assert_true(fp && strlen(fp) == 16 && strspn(fp, "0123456789abcdef") == 16);
    const cJSON *an = cJSON_GetObjectItem(a, "annotations");
    assert_non_null(jstr(an, "summary"));
    assert_non_null(jstr(an, "description"));
}

static void test_delivery_retries_once_per_change(void **state)
{
    struct fx *f = *state;
    struct receiver *r = receiver_start(2); /* fails twice, then answers 200 */
    rule_to(f, "share", "\"metric\":\"share_of_drifted_columns\",\"op\":\">\",\"threshold\":0.6",
            r->port);
    rule_to(f, "flag", "\"metric\":\"dataset_drift\",\"op\":\"==\",\"threshold\":1", r->port);
    window(f, 1, 60, 0.9); /* both fire in window 1: one POST */
    alert_flush(f->a);
    int requests = 0;
    assert_int_equal(receiver_count(r, &requests), 1);
    assert_int_equal(requests, 3);
    const cJSON *p = cJSON_GetArrayItem(r->ok, 0);
    check_envelope(p, "firing", 2);
    const cJSON *cl = cJSON_GetObjectItem(p, "commonLabels");
    assert_string_equal(jstr(cl, "deployment"), "d");
    assert_string_equal(jstr(cl, "team"), "ml");
    assert_null(cJSON_GetObjectItem(cl, "alertname")); /* differs between the two */
    assert_null(cJSON_GetObjectItem(cl, "metric"));
    assert_non_null(cJSON_GetObjectItem(p, "commonAnnotations"));
    const cJSON *share = alert_named(p, "share");
    check_alert(share, "firing", "share_of_drifted_columns");
    check_alert(alert_named(p, "flag"), "firing", "dataset_drift");
    assert_string_equal(jstr(share, "startsAt"), "1970-01-01T00:02:00.000Z"); /* end of w1 */
    assert_string_equal(jstr(cJSON_GetObjectItem(share, "annotations"), "value"), "0.9");
    char started[32], fp[17];
    snprintf(started, sizeof started, "%s", jstr(share, "startsAt"));
    snprintf(fp, sizeof fp, "%s", jstr(share, "fingerprint"));
    cJSON *ev = events(f);
    for (const cJSON *e = ev->child; e; e = e->next) {
        assert_string_equal(jstr(e, "delivery"), "delivered");
        assert_int_equal((int)jnum(e, "attempts"), 3);
    }
    cJSON_Delete(ev);

    /* Window 2 resolves "share" only; "flag" keeps firing (no event). */
    window(f, 2, 60, 0.55);
    alert_flush(f->a);
    assert_int_equal(receiver_count(r, &requests), 2);
    assert_int_equal(requests, 4);
    p = cJSON_GetArrayItem(r->ok, 1);
    check_envelope(p, "resolved", 1);
    share = alert_named(p, "share");
    check_alert(share, "resolved", "share_of_drifted_columns");
    assert_string_equal(jstr(share, "startsAt"), started);
    assert_string_equal(jstr(share, "endsAt"), "1970-01-01T00:03:00.000Z");
    assert_string_equal(jstr(share, "fingerprint"), fp); /* the same alert */

    /* After a restart nothing delivered is posted again. */
    restart(f, true, 5, 1);
    alert_flush(f->a);
    assert_int_equal(receiver_count(r, &requests), 2);
    assert_int_equal(requests, 4);

    /* Deleting the firing rule resolves it, delivered too. */
    struct cap_error err = {0};
    assert_int_equal(alert_rule_delete(f->a, "d", "flag", &err), 0);
    alert_flush(f->a);
    assert_int_equal(receiver_count(r, NULL), 3);
    p = cJSON_GetArrayItem(r->ok, 2);
    check_envelope(p, "resolved", 1);
    check_alert(alert_named(p, "flag"), "resolved", "dataset_drift");
    assert_int_equal(alert_rule_delete(f->a, "d", "flag", &err), -CAP_ENOTFOUND);
    receiver_stop(r);
}

static void test_delivery_resumes_after_restart(void **state)
{
    struct fx *f = *state;
    struct receiver *r = receiver_start(1000);
    /* A backoff of an hour: after its first failure the event waits. */
    restart(f, true, 50, 3600 * 1000);
    rule_to(f, "share", "\"metric\":\"share_of_drifted_columns\",\"op\":\">\",\"threshold\":0.5",
            r->port);
    window(f, 1, 60, 0.9);
    receiver_wait(r, 1);
    alert_stop(f->a);
    f->a = NULL;
    cJSON *ev = events(f);
    assert_string_equal(jstr(ev->child, "delivery"), "pending");
    assert_int_equal((int)jnum(ev->child, "attempts"), 1);
    cJSON_Delete(ev);
    pthread_mutex_lock(&r->mu);
    r->fail_next = 0;
    pthread_mutex_unlock(&r->mu);
    restart(f, true, 50, 3600 * 1000); /* the next start posts it at once */
    alert_flush(f->a);
    int requests = 0;
    assert_int_equal(receiver_count(r, &requests), 1);
    assert_int_equal(requests, 2);
    check_envelope(cJSON_GetArrayItem(r->ok, 0), "firing", 1);
    ev = events(f);
    assert_string_equal(jstr(ev->child, "delivery"), "delivered");
    assert_int_equal((int)jnum(ev->child, "attempts"), 2);
    cJSON_Delete(ev);
    receiver_stop(r);
}

static void test_delivery_gives_up_and_checks_address(void **state)
{
    struct fx *f = *state;
    struct receiver *r = receiver_start(1000);
    restart(f, true, 3, 1);
    rule_to(f, "share", "\"metric\":\"share_of_drifted_columns\",\"op\":\">\",\"threshold\":0.5",
            r->port);
    window(f, 1, 60, 0.9);
    alert_flush(f->a);
    int requests = 0;
    assert_int_equal(receiver_count(r, &requests), 0);
    assert_int_equal(requests, 3); /* max_attempts */
    cJSON *ev = events(f);
    assert_string_equal(jstr(ev->child, "delivery"), "failed");
    assert_int_equal((int)jnum(ev->child, "attempts"), 3);
    cJSON_Delete(ev);

    /* A server without the flag refuses to connect to loopback even for a
     * rule stored when it was allowed (as if DNS had changed). */
    pthread_mutex_lock(&r->mu);
    r->fail_next = 0;
    pthread_mutex_unlock(&r->mu);
    restart(f, false, 2, 1);
    window(f, 2, 60, 0.1);
    alert_flush(f->a);
    assert_int_equal(receiver_count(r, &requests), 0);
    assert_int_equal(requests, 3);
    ev = events(f);
    assert_string_equal(jstr(ev->child, "state"), "resolved");
    assert_string_equal(jstr(ev->child, "delivery"), "failed");
    assert_int_equal((int)jnum(ev->child, "attempts"), 2);
    cJSON_Delete(ev);
    receiver_stop(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_validation),
        cmocka_unit_test_setup_teardown(test_rule_defaults_and_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_webhooks_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_for_streaks_fire_and_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_widths_and_absent_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_retries_once_per_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_resumes_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_gives_up_and_checks_address, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
