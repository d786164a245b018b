/* internal.h - what the files of alert/ share: the alert object, the event
 * detail (eval.c) and the delivery thread's entry points (deliver.c).
 * Internal to alert/. */
#ifndef CAP_ALERT_INTERNAL_H
#define CAP_ALERT_INTERNAL_H

#include <pthread.h>
#include <stddef.h>

#include "alert/alert.h"

struct alert_width {
    char *deployment;
    int64_t width_s;
};

struct alert_retry {
    int64_t first_id;            /* a group's first event */
    double due;                  /* cap_mono_s() of its next attempt */
};

struct alert {
    struct store *store;
    bool allow_private;
    int max_attempts, backoff_ms, backoff_max_ms;
    long timeout_ms;
    int64_t default_window_s;
    char *external_url;
    void (*on_fire)(void *cls, const char *deployment, const char *rule, int64_t at_ms,
                    const char *event_json);
    void *on_fire_cls;
    struct lease *lease;         /* NULL: this server alone */

    /* One evaluation at a time: each reads the streaks, then writes them. */
    pthread_mutex_t eval_mu;
    pthread_mutex_t mu;
    pthread_cond_t wake;         /* the delivery thread waits here */
    pthread_cond_t idle;         /* alert_flush waits here */
    uint64_t work_seq, done_seq; /* see alert_flush */
    bool kicked, stopping, running;
    pthread_t thread;

    /* Smallest width seen per deployment (under mu), for rules without
     * "window" when default_window_s is 0. */
    struct alert_width *widths;
    size_t nwidths;

    /* The delivery thread's own: groups waiting for their retry, and ids
     * acknowledged whose delivered mark failed to write (never posted
     * again; the mark is retried). */
    struct alert_retry *retries;
    size_t nretries;
    int64_t *acked;
    size_t nacked;
};

/* Labels and annotations of r's alert, the webhook and the start time: the
 * detail an event keeps, so that delivery needs nothing else (the rule may
 * change or go meanwhile). Free with free(). */
char *alert_event_detail(const struct alert_rule *r, const char *state, const double *value,
                         int64_t window_id, int64_t starts_at_ms);

/* deliver.c */
void *alert_deliver_main(void *arg);
/* Tells the delivery thread that new events wait. */
void alert_kick(struct alert *a);

#endif
