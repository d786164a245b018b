/* lease.h - this server's claim on the work that must run on one server at
 * a time when several share one database (issue 22: replicas on
 * PostgreSQL). A thread takes the store's lease (store_lease_take) and
 * renews it every third of its time to live; whoever holds it runs the
 * once-only work, and when that server dies another takes over once the
 * lease expires (within ttl_ms). A server alone on its database holds it
 * from the start. */
#ifndef CAP_LEASE_H
#define CAP_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "store/store.h"

struct lease;

struct lease_config {
    struct store *store;
    const char *name;   /* the lease's name in the store */
    int64_t ttl_ms;     /* 0: 10000 */
};

/* Takes the lease once (so a server alone holds it on return) and starts
 * the renewing thread. */
int lease_start(const struct lease_config *cfg, struct lease **out, struct cap_error *err);
/* Whether this server holds the lease now: renewed, and not past the time
 * it was taken for (a renewal that fails ends it when that time comes). */
bool lease_held(struct lease *l);
/* Stops renewing and gives the lease up, so another server takes it at once. */
void lease_stop(struct lease *l);

#endif
