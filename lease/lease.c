/* lease.c - the lease keeper (lease.h). Time: the store compares wall
 * clocks (every server's own), this side keeps a monotonic deadline so a
 * clock step here cannot stretch our own claim. Renewing every ttl/3 leaves
 * two renewals' slack before another server may take over. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "lease/lease.h"

#define LEASE_DEFAULT_TTL_MS 10000

struct lease {
    struct store *store;
    char *name;
    char holder[128];
    int64_t ttl_ms;
    _Atomic bool held;
    _Atomic double held_until;   /* cap_mono_s() past which we no longer claim it */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stopping;
};

/* One attempt; logs when this server starts or stops being the holder. */
static void take(struct lease *l)
{
    double asked_at = cap_mono_s();
    bool held = false;
    struct cap_error err = {0};
    if (store_lease_take(l->store, l->name, l->holder, cap_now_ms(), l->ttl_ms, &held, &err) < 0)
        cap_log(CAP_LOG_WARN, "lease %s: cannot renew: %s", l->name, err.msg);
    else if (held)
        atomic_store(&l->held_until, asked_at + (double)l->ttl_ms / 1000);
    bool was = atomic_exchange(&l->held, held);
    if (held != was)
        cap_log(CAP_LOG_INFO, "lease %s: %s (%s)", l->name,
                held ? "this server now runs the work that must run on one server"
                     : "another server runs the work that must run on one server",
                l->holder);
}

static void *keeper(void *arg)
{
    struct lease *l = arg;
    cap_thread_name("lease");
    pthread_mutex_lock(&l->mu);
    while (!l->stopping) {
        struct timespec ts;
        cap_deadline(&ts, (double)l->ttl_ms / 3000);
        pthread_cond_timedwait(&l->wake, &l->mu, &ts);
        if (l->stopping)
            break;
        pthread_mutex_unlock(&l->mu);
        take(l);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int lease_start(const struct lease_config *cfg, struct lease **out, struct cap_error *err)
{
    struct lease *l = cap_xcalloc(1, sizeof *l);
    l->store = cfg->store;
    l->name = cap_xstrdup(cfg->name);
    l->ttl_ms = cfg->ttl_ms > 0 ? cfg->ttl_ms : LEASE_DEFAULT_TTL_MS;
    char host[64] = "?", hex[9];
    gethostname(host, sizeof host - 1);
    cap_random_hex(hex, 4);
    snprintf(l->holder, sizeof l->holder, "%s:%ld:%s", host, (long)getpid(), hex);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->wake, NULL);
    take(l);
    if (pthread_create(&l->thread, NULL, keeper, l) != 0) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->wake);
        free(l->name);
        free(l);
        return cap_err(err, CAP_EINTERNAL, "Cannot start the lease thread");
    }
    *out = l;
    return 0;
}

bool lease_held(struct lease *l)
{
    return atomic_load(&l->held) && cap_mono_s() < atomic_load(&l->held_until);
}

void lease_stop(struct lease *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    struct cap_error err = {0};
    if (atomic_load(&l->held) && store_lease_release(l->store, l->name, l->holder, &err) < 0)
        cap_log(CAP_LOG_WARN, "lease %s: cannot give it up: %s", l->name, err.msg);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->wake);
    free(l->name);
    free(l);
}
