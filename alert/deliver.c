/* deliver.c - the delivery thread: posts each pending state change to its
 * webhook in Alertmanager's webhook JSON (version "4"), grouped (the events
 * of one deployment, window and webhook in one POST), retried with
 * exponential backoff up to max_attempts, the attempt count stored. An
 * event is marked delivered once its webhook answered 2xx and is never
 * posted again; the pending ones are read from the store, so a restart
 * resumes them. The address connected to is checked at every connection
 * (addr.c), so a host whose DNS now points inside is refused. */
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "alert/internal.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"
#include "lease/lease.h"
#include "store/store.h"

/* Pending events read per pass: far more than one window makes. */
#define PASS_EVENTS 256

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t int_of(const cJSON *o, const char *key)
{
    return (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* RFC 3339 in UTC with milliseconds, as Alertmanager writes times. */
static void rfc3339(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* 16 hex digits identifying a label set (any order of the same labels
 * gives the same): FNV-1a 64 over the sorted name/value pairs, 0xff
 * between fields (a byte UTF-8 never has). */
static void fingerprint(const cJSON *labels, char out[17])
{
    size_t n = (size_t)cJSON_GetArraySize(labels), k = 0;
    const char **names = cap_xcalloc(n ? n : 1, sizeof *names);
    for (const cJSON *f = labels->child; f; f = f->next)
        names[k++] = f->string;
    qsort(names, n, sizeof *names, cap_strp_cmp);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        const char *parts[2] = {names[i], str_of(labels, names[i])};
        for (int p = 0; p < 2; p++) {
            for (const unsigned char *c = (const unsigned char *)parts[p]; c && *c; c++)
                h = (h ^ *c) * 0x100000001b3ULL;
            h = (h ^ 0xff) * 0x100000001b3ULL;
        }
    }
    free(names);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* The pairs of key (labels, annotations) that every event's detail has
 * with the same value. */
static cJSON *common(const cJSON *const *ev, size_t n, const char *key)
{
    cJSON *out = cJSON_CreateObject();
    const cJSON *first = cJSON_GetObjectItem(cJSON_GetObjectItem(ev[0], "detail"), key);
    for (const cJSON *f = first ? first->child : NULL; f; f = f->next) {
        bool all = cJSON_IsString(f);
        for (size_t i = 1; i < n && all; i++) {
            const cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(ev[i], "detail"), key);
            const char *v = str_of(o, f->string);
            all = v && strcmp(v, f->valuestring) == 0;
        }
        if (all)
            cJSON_AddStringToObject(out, f->string, f->valuestring);
    }
    return out;
}

static cJSON *one_alert(const struct alert *a, const cJSON *ev)
{
    const cJSON *d = cJSON_GetObjectItem(ev, "detail");
    const char *state = str_of(ev, "state");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", state);
    cJSON *labels = cJSON_Duplicate(cJSON_GetObjectItem(d, "labels"), true);
    if (!cJSON_IsObject(labels)) {
        cJSON_Delete(labels);
        labels = cJSON_CreateObject();
    }
    cJSON_AddItemToObject(o, "labels", labels);
    cJSON *an = cJSON_Duplicate(cJSON_GetObjectItem(d, "annotations"), true);
    cJSON_AddItemToObject(o, "annotations", an ? an : cJSON_CreateObject());
    char t[32];
    rfc3339(int_of(d, "starts_at"), t);
    cJSON_AddStringToObject(o, "startsAt", t);
    /* Alertmanager's zero time: a firing alert has no end yet. */
    if (strcmp(state, "resolved") == 0)
        rfc3339(int_of(ev, "at_ms"), t);
    cJSON_AddStringToObject(o, "endsAt", strcmp(state, "resolved") == 0 ? t
                                                                         : "0001-01-01T00:00:00Z");
    struct cap_buf g;
    cap_buf_init(&g);
    if (a->external_url[0])
        cap_buf_printf(&g, "%s/api/2.0/capstan/monitor/alerts/events?deployment=%s",
                       a->external_url, str_of(ev, "deployment"));
    cJSON_AddStringToObject(o, "generatorURL", g.data ? g.data : "");
    cap_buf_free(&g);
    char fp[17];
    fingerprint(labels, fp);
    cJSON_AddStringToObject(o, "fingerprint", fp);
    return o;
}

/* The webhook body for the events of one group (one deployment). */
static cJSON *payload(const struct alert *a, const cJSON *const *ev, size_t n)
{
    const char *dep = str_of(ev[0], "deployment");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", "4");
    struct cap_buf key;
    cap_buf_init(&key);
    cap_buf_printf(&key, "{}:{deployment=\"%s\"}", dep);
    cJSON_AddStringToObject(o, "groupKey", key.data);
    cap_buf_free(&key);
    cJSON_AddNumberToObject(o, "truncatedAlerts", 0);
    bool firing = false;
    cJSON *alerts = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        firing |= strcmp(str_of(ev[i], "state"), "firing") == 0;
        cJSON_AddItemToArray(alerts, one_alert(a, ev[i]));
    }
    cJSON_AddStringToObject(o, "status", firing ? "firing" : "resolved");
    cJSON_AddStringToObject(o, "receiver", "capstan");
    cJSON *gl = cJSON_AddObjectToObject(o, "groupLabels");
    cJSON_AddStringToObject(gl, "deployment", dep);
    cJSON_AddItemToObject(o, "commonLabels", common(ev, n, "labels"));
    cJSON_AddItemToObject(o, "commonAnnotations", common(ev, n, "annotations"));
    cJSON_AddStringToObject(o, "externalURL", a->external_url);
    cJSON_AddItemToObject(o, "alerts", alerts);
    return o;
}

/* ---- HTTP ---- */

struct post_ctx {
    bool allow_private;
    bool refused;
};

/* Every connection's address is checked before it is made: DNS may have
 * changed since the rule was put. */
static curl_socket_t open_socket(void *cls, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct post_ctx *p = cls;
    if (!p->allow_private && alert_addr_private(&addr->addr)) {
        p->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

static size_t discard(char *data, size_t size, size_t n, void *cls)
{
    return size * n;
}

/* Posts body to url; true on a 2xx answer, else why. */
static bool post(const struct alert *a, CURL *c, const char *url, const char *body,
                 char why[256])
{
    struct post_ctx p = {.allow_private = a->allow_private};
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* the address checked is the one reached */
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &p);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "capstan-alerts");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, a->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    if (rc == CURLE_OK && status >= 200 && status < 300)
        return true;
    if (p.refused)
        snprintf(why, 256, "refused: the host resolves to a private address");
    else if (rc != CURLE_OK)
        snprintf(why, 256, "%s", curl_easy_strerror(rc));
    else
        snprintf(why, 256, "HTTP status %ld", status);
    return false;
}

/* ---- retries ---- */

static struct alert_retry *retry_find(struct alert *a, int64_t first_id)
{
    for (size_t i = 0; i < a->nretries; i++)
        if (a->retries[i].first_id == first_id)
            return &a->retries[i];
    return NULL;
}

static void retry_forget(struct alert *a, int64_t first_id)
{
    struct alert_retry *r = retry_find(a, first_id);
    if (r)
        *r = a->retries[--a->nretries];
}

static void retry_at(struct alert *a, int64_t first_id, double due)
{
    struct alert_retry *r = retry_find(a, first_id);
    if (!r) {
        a->retries = cap_xrealloc(a->retries, (a->nretries + 1) * sizeof *a->retries);
        r = &a->retries[a->nretries++];
        r->first_id = first_id;
    }
    r->due = due;
}

/* backoff_ms, doubled per attempt after the first, capped. */
static double backoff_s(const struct alert *a, int attempts)
{
    double ms = a->backoff_ms * pow(2, attempts > 1 ? attempts - 1 : 0);
    return (ms < a->backoff_max_ms ? ms : a->backoff_max_ms) / 1000.0;
}

static bool was_acked(const struct alert *a, int64_t id)
{
    for (size_t i = 0; i < a->nacked; i++)
        if (a->acked[i] == id)
            return true;
    return false;
}

/* Records the outcome of a group's POST (ids[0..n)). */
static void record(struct alert *a, const int64_t *ids, size_t n, bool ok, int attempts,
                   const char *why)
{
    struct cap_error err = {0};
    int state = ok                        ? STORE_ALERT_DELIVERED
                : attempts >= a->max_attempts ? STORE_ALERT_FAILED
                                              : STORE_ALERT_PENDING;
    if (state == STORE_ALERT_PENDING)
        retry_at(a, ids[0], cap_mono_s() + backoff_s(a, attempts));
    else
        retry_forget(a, ids[0]);
    if (!ok)
        cap_log(state == STORE_ALERT_FAILED ? CAP_LOG_ERROR : CAP_LOG_WARN,
                "alert: webhook delivery of event %lld failed (attempt %d of %d): %s",
                (long long)ids[0], attempts, a->max_attempts, why);
    if (store_alert_event_mark(a->store, ids, n, state, attempts, &err) == 0 || !ok)
        return;
    /* Delivered but not recorded: keep it from being posted again. */
    cap_log(CAP_LOG_ERROR, "alert: recording a delivery failed: %s", err.msg);
    a->acked = cap_xrealloc(a->acked, (a->nacked + n) * sizeof *a->acked);
    memcpy(a->acked + a->nacked, ids, n * sizeof *ids);
    a->nacked += n;
}

/* ---- the thread ---- */

static bool stopping(struct alert *a)
{
    pthread_mutex_lock(&a->mu);
    bool s = a->stopping;
    pthread_mutex_unlock(&a->mu);
    return s;
}

/* Events of one POST: the same webhook, deployment and window. */
static bool same_group(const cJSON *x, const cJSON *y)
{
    const char *wx = str_of(cJSON_GetObjectItem(x, "detail"), "webhook");
    const char *wy = str_of(cJSON_GetObjectItem(y, "detail"), "webhook");
    return wx && wy && strcmp(wx, wy) == 0 &&
           strcmp(str_of(x, "deployment"), str_of(y, "deployment")) == 0 &&
           int_of(x, "window_id") == int_of(y, "window_id");
}

/* One attempt at the group g (ids), tried attempts times before. */
static void attempt(struct alert *a, CURL *c, const cJSON **g, const int64_t *ids, size_t k,
                    int attempts)
{
    const char *url = str_of(cJSON_GetObjectItem(g[0], "detail"), "webhook");
    if (was_acked(a, ids[0])) {
        record(a, ids, k, true, attempts, NULL);
    } else if (!url) {
        record(a, ids, k, false, a->max_attempts, "the event has no webhook");
    } else {
        cJSON *body = payload(a, g, k);
        char *text = cap_json_print(body);
        char why[256] = "";
        bool ok = post(a, c, url, text, why);
        record(a, ids, k, ok, attempts + 1, why);
        free(text);
        cJSON_Delete(body);
    }
}

/* Posts the group of events starting at ev[i] (marking its members done)
 * unless it waits for a retry; returns the seconds until it is due, 0 when
 * it was tried now. */
static double send_group(struct alert *a, CURL *c, const cJSON **ev, bool *done, size_t i,
                         size_t n, double now)
{
    int64_t *ids = cap_xcalloc(n, sizeof *ids);
    const cJSON **g = cap_xcalloc(n, sizeof *g);
    size_t k = 0;
    int attempts = 0;
    for (size_t j = i; j < n; j++) {
        if (done[j] || (j > i && !same_group(ev[i], ev[j])))
            continue;
        done[j] = true;
        g[k] = ev[j];
        ids[k++] = int_of(ev[j], "id");
        int at = (int)int_of(ev[j], "attempts");
        attempts = at > attempts ? at : attempts;
    }
    struct alert_retry *r = retry_find(a, ids[0]);
    double due = r && r->due > now ? r->due - now : 0;
    if (due == 0)
        attempt(a, c, g, ids, k, attempts);
    free(g);
    free(ids);
    return due;
}

/* One pass over the pending events: the seconds until the next retry is
 * due, 0 to pass again at once, -1 when nothing is pending. */
static double pass(struct alert *a, CURL *c)
{
    cJSON *events = NULL;
    struct cap_error err = {0};
    if (store_alert_event_pending(a->store, PASS_EVENTS, &events, &err) < 0) {
        cap_log(CAP_LOG_ERROR, "alert: reading undelivered events: %s", err.msg);
        return backoff_s(a, 1);
    }
    size_t n = (size_t)cJSON_GetArraySize(events), k = 0;
    const cJSON **ev = cap_xcalloc(n ? n : 1, sizeof *ev);
    bool *done = cap_xcalloc(n ? n : 1, sizeof *done);
    for (const cJSON *e = events->child; e; e = e->next)
        ev[k++] = e;
    double wait = n ? INFINITY : -1, now = cap_mono_s();
    for (size_t i = 0; i < n && !stopping(a); i++)
        if (!done[i])
            wait = fmin(wait, send_group(a, c, ev, done, i, n, now));
    free(done);
    free(ev);
    cJSON_Delete(events);
    return isinf(wait) ? 0 : wait;
}

/* Waits for a kick, a stop or (wait > 0) wait seconds. Called with a->mu. */
static void wait_for_work(struct alert *a, double wait)
{
    if (wait == 0)
        return;
    struct timespec ts;
    if (wait > 0)
        cap_deadline(&ts, wait);
    while (!a->stopping && !a->kicked)
        if (wait < 0 ? pthread_cond_wait(&a->wake, &a->mu) != 0
                     : pthread_cond_timedwait(&a->wake, &a->mu, &ts) != 0)
            break;
}

void *alert_deliver_main(void *arg)
{
    struct alert *a = arg;
    cap_thread_name("alert-deliver");
    CURL *c = curl_easy_init();
    double wait = 0;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        wait_for_work(a, wait);
        if (a->stopping)
            break;
        a->kicked = false;
        uint64_t seq = a->work_seq;
        pthread_mutex_unlock(&a->mu);
        /* Another server holds the lease: it delivers (what is pending is in
         * the store, so a new holder starts from there); look again soon. */
        if (a->lease && !lease_held(a->lease)) {
            wait = 1;
            pthread_mutex_lock(&a->mu);
            continue;
        }
        wait = pass(a, c);
        pthread_mutex_lock(&a->mu);
        /* Nothing pending: whatever was stored before seq is done. */
        if (wait < 0 && seq > a->done_seq) {
            a->done_seq = seq;
            pthread_cond_broadcast(&a->idle);
        }
    }
    pthread_mutex_unlock(&a->mu);
    curl_easy_cleanup(c);
    return NULL;
}

void alert_kick(struct alert *a)
{
    pthread_mutex_lock(&a->mu);
    a->work_seq++;
    a->kicked = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->mu);
}

void alert_flush(struct alert *a)
{
    pthread_mutex_lock(&a->mu);
    uint64_t target = ++a->work_seq;
    a->kicked = true;
    pthread_cond_signal(&a->wake);
    while (!a->stopping && a->done_seq < target)
        pthread_cond_wait(&a->idle, &a->mu);
    pthread_mutex_unlock(&a->mu);
}
