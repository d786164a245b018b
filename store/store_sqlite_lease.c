/* store_sqlite_lease.c - leases: which server runs the work that must run
 * once (store_ops.def's lease_take). Taking and renewing are one upsert that
 * returns a row only when the caller holds the lease afterwards; the writer
 * (and on PostgreSQL its advisory lock) makes it atomic across servers. */
#include "store/store_sqlite.h"

struct lease_job {
    const char *name, *holder;
    int64_t now_ms, ttl_ms;
    bool held;
};

static int job_take(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct lease_job *a = arg;
    int64_t got = 0;
    int rc = store_sq_insert_id(
        c,
        "INSERT INTO leases(name, holder, expires_ms) VALUES (?1, ?2, ?3) "
        "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, "
        "expires_ms = excluded.expires_ms "
        "WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?4 RETURNING 1",
        SQ_ARGS(SQ_TEXT(a->name), SQ_TEXT(a->holder), SQ_INT(a->now_ms + a->ttl_ms),
                SQ_INT(a->now_ms)),
        &got, err, "taking a lease");
    if (rc < 0)
        return rc;
    a->held = rc == 1;
    return 0;
}

int store_sq_lease_take(void *impl, const char *name, const char *holder, int64_t now_ms,
                        int64_t ttl_ms, bool *held, struct cap_error *err)
{
    struct lease_job a = {.name = name, .holder = holder, .now_ms = now_ms, .ttl_ms = ttl_ms};
    int rc = store_sq_write(impl, job_take, &a, err);
    *held = rc == 0 && a.held;
    return rc;
}

static int job_release(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct lease_job *a = arg;
    return store_sq_run(c, "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                        SQ_ARGS(SQ_TEXT(a->name), SQ_TEXT(a->holder)), err, "giving up a lease");
}

int store_sq_lease_release(void *impl, const char *name, const char *holder,
                           struct cap_error *err)
{
    struct lease_job a = {.name = name, .holder = holder};
    return store_sq_write(impl, job_release, &a, err);
}
