/* wire.h - the little-endian fields of monitor/'s binary blobs (profiles,
 * their sketches, the baselines' column files), written and read byte by
 * byte so that a blob means the same on any host. The reader never reads past its end: a short
 * read sets ok to false and yields zeros, and the caller checks ok once.
 * Internal to monitor/. */
#ifndef CAP_MONITOR_WIRE_H
#define CAP_MONITOR_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"

static inline void mon_put_u64(struct cap_buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    cap_buf_append(b, x, 8);
}

static inline void mon_put_u32(struct cap_buf *b, uint32_t v)
{
    unsigned char x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    cap_buf_append(b, x, 4);
}

static inline void mon_put_f64(struct cap_buf *b, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    mon_put_u64(b, u);
}

struct mon_rd {
    const unsigned char *p, *end;
    bool ok;
};

/* n bytes from the reader, or NULL (and ok false) when fewer are left. */
static inline const unsigned char *mon_take(struct mon_rd *r, size_t n)
{
    if (!r->ok || (size_t)(r->end - r->p) < n) {
        r->ok = false;
        return NULL;
    }
    const unsigned char *at = r->p;
    r->p += n;
    return at;
}

static inline uint64_t mon_get_u64(struct mon_rd *r)
{
    const unsigned char *x = mon_take(r, 8);
    uint64_t v = 0;
    for (int i = 0; x && i < 8; i++)
        v |= (uint64_t)x[i] << (8 * i);
    return v;
}

static inline uint32_t mon_get_u32(struct mon_rd *r)
{
    const unsigned char *x = mon_take(r, 4);
    uint32_t v = 0;
    for (int i = 0; x && i < 4; i++)
        v |= (uint32_t)x[i] << (8 * i);
    return v;
}

static inline double mon_get_f64(struct mon_rd *r)
{
    uint64_t u = mon_get_u64(r);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* How many more items of `size` bytes the reader holds, so that a count
 * read from the blob is checked before anything is allocated for it. */
static inline size_t mon_room(const struct mon_rd *r, size_t size)
{
    return r->ok ? (size_t)(r->end - r->p) / size : 0;
}

#endif
