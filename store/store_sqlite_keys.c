/* store_sqlite_keys.c - the prediction log's id index in memory, built from
 * prediction_keys (one row of request keys per segment, migration 7).
 *
 * Why not a SQLite index on the key: request ids are random, so each
 * logged request dirtied its own B-tree page, and the log writer went from
 * 0.55 to 9.4 µs a request (bench/feedback/logkeys.c, 300,000 requests).
 * A row of keys per segment costs one insert per 1,024 requests; the index
 * is built on the first lookup of a deployment (one read of its keys,
 * 8 bytes a request) and caught up with the new segments at each lookup,
 * so only deployments that receive feedback hold one: an open-addressing
 * table of 8-byte slots, 35% to 70% full after the entries of trimmed
 * segments are dropped: 11 to 23 bytes per logged request (up to 230 MB
 * for the default retention of 10 million). A slot holds 32 bits of
 * the key's hash and the segment: a false match is resolved by decoding the
 * segment, which the caller does anyway. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "store/store_sqlite.h"

struct dep_index {
    char *deployment;
    uint64_t *slots;             /* (fingerprint << 32) | segment; 0 = empty */
    size_t cap, used;            /* cap a power of two */
    int64_t loaded;              /* the last segment read from prediction_keys */
    int64_t min_seg;             /* the oldest segment not trimmed, at the last catch-up */
    struct dep_index *next;
};

struct sq_keys {
    pthread_mutex_t mu;          /* one lookup at a time: each takes microseconds */
    struct dep_index *list;
};

struct sq_keys *store_sq_keys_new(void)
{
    struct sq_keys *k = cap_xcalloc(1, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    return k;
}

void store_sq_keys_free(struct sq_keys *k)
{
    if (!k)
        return;
    for (struct dep_index *d = k->list, *next; d; d = next) {
        next = d->next;
        free(d->deployment);
        free(d->slots);
        free(d);
    }
    pthread_mutex_destroy(&k->mu);
    free(k);
}

/* splitmix64's finaliser: FNV-1a's low bits alone index a table poorly. */
static uint64_t mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A slot: the hash's high 32 bits (which also choose its home, so a
 * rebuild can move it) and the segment (never 0: ids start at 1). */
static void put_slot(struct dep_index *d, uint64_t slot)
{
    size_t i = (size_t)(slot >> 32) & (d->cap - 1);
    while (d->slots[i])
        i = (i + 1) & (d->cap - 1);
    d->slots[i] = slot;
    d->used++;
}

/* Called when the table is 70% full: sizes it for its live entries (those
 * of segments not trimmed yet) at most 35% full, dropping the others. */
static void grow(struct dep_index *d)
{
    size_t live = 1;
    for (size_t i = 0; i < d->cap; i++)
        live += d->slots[i] && (int64_t)(uint32_t)d->slots[i] >= d->min_seg;
    uint64_t *old = d->slots;
    size_t old_cap = d->cap, cap = 1024;
    while (cap * 35 / 100 < live)
        cap *= 2;
    d->slots = cap_xcalloc(cap, sizeof *d->slots);
    d->cap = cap;
    d->used = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i] && (int64_t)(uint32_t)old[i] >= d->min_seg)
            put_slot(d, old[i]);
    free(old);
}

static void add_key(struct dep_index *d, int64_t key, int64_t seg)
{
    if (seg <= 0 || seg > (int64_t)UINT32_MAX)
        return; /* four billion segments: past that, requests are not indexed */
    if ((d->used + 1) * 10 > d->cap * 7)
        grow(d);
    put_slot(d, (mix((uint64_t)key) >> 32) << 32 | (uint32_t)seg);
}

/* Reads the deployment's key rows logged since the last catch-up (the
 * entries of trimmed segments go when the table would grow). */
static int catch_up(struct sq_conn *c, struct dep_index *d, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt(c, "SELECT COALESCE(MIN(seg), 0) FROM prediction_keys",
                                     err);
    if (!st)
        return -CAP_EINTERNAL;
    int step = sq_step(st);
    if (step == SQ_ROW)
        d->min_seg = sq_col_int(st, 0);
    sq_reset(st);
    if (step != SQ_ROW)
        return store_sq_dberr(c, err, "reading the prediction log's ids");
    st = store_sq_stmt_bind(
        c, "SELECT seg, keys FROM prediction_keys WHERE seg > ?1 AND deployment = ?2 "
           "ORDER BY seg",
        SQ_ARGS(SQ_INT(d->loaded), SQ_TEXT(d->deployment)), err);
    if (!st)
        return -CAP_EINTERNAL;
    while ((step = sq_step(st)) == SQ_ROW) {
        int64_t seg = sq_col_int(st, 0);
        const unsigned char *b = sq_col_blob(st, 1);
        size_t n = (size_t)sq_col_bytes(st, 1) / 8;
        for (size_t i = 0; i < n; i++) {
            uint64_t k = 0;
            for (int j = 0; j < 8; j++)
                k |= (uint64_t)b[8 * i + (size_t)j] << (8 * j);
            add_key(d, (int64_t)k, seg);
        }
        d->loaded = seg;
    }
    sq_reset(st);
    if (step != SQ_DONE)
        return store_sq_dberr(c, err, "reading the prediction log's ids");
    return 0;
}

static struct dep_index *index_of(struct sq_keys *k, const char *deployment)
{
    for (struct dep_index *d = k->list; d; d = d->next)
        if (strcmp(d->deployment, deployment) == 0)
            return d;
    struct dep_index *d = cap_xcalloc(1, sizeof *d);
    d->deployment = cap_xstrdup(deployment);
    d->cap = 1024;
    d->slots = cap_xcalloc(d->cap, sizeof *d->slots);
    d->next = k->list;
    k->list = d;
    return d;
}

int store_sq_keys_lookup(struct sq_keys *k, struct sq_conn *c, const char *deployment,
                         const int64_t *keys, size_t n, store_sq_key_fn fn, void *cls,
                         struct cap_error *err)
{
    pthread_mutex_lock(&k->mu);
    struct dep_index *d = index_of(k, deployment);
    int rc = catch_up(c, d, err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t fp = mix((uint64_t)keys[i]) >> 32;
        for (size_t j = (size_t)fp & (d->cap - 1); d->slots[j]; j = (j + 1) & (d->cap - 1))
            if (d->slots[j] >> 32 == fp)
                fn(cls, i, (int64_t)(uint32_t)d->slots[j]);
    }
    pthread_mutex_unlock(&k->mu);
    return rc;
}
