/* ids.c - request identity (ids.h). */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "feedback/ids.h"

int fb_id_check(const char *id, const char *what, struct cap_error *err)
{
    size_t n = strlen(id);
    if (n == 0 || n > FB_ID_MAX)
        return cap_err(err, CAP_EINVAL, "%s must be 1 to %d characters long, not %zu", what,
                       FB_ID_MAX, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= 0x20 || c >= 0x7f || c == '/')
            return cap_err(err, CAP_EINVAL,
                           "%s '%.*s' has %s at offset %zu: expected printable ASCII without "
                           "spaces or '/' ('/' separates a row: <id>/<row>)",
                           what, (int)(n < 64 ? n : 64), id,
                           c == '/' ? "a '/'" : "a space or control character", i);
    }
    return 0;
}

static uint64_t prefix;
static _Atomic uint64_t counter;
static pthread_once_t prefix_once = PTHREAD_ONCE_INIT;

static void prefix_init(void)
{
    char hex[17];
    cap_random_hex(hex, 8);
    prefix = strtoull(hex, NULL, 16);
}

/* splitmix64's finaliser: a bijection, so distinct counters stay distinct
 * while consecutive ids do not look consecutive. */
static uint64_t mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void put_hex64(char *out, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
}

void fb_id_new(char out[FB_ID_NEW_LEN + 1])
{
    pthread_once(&prefix_once, prefix_init);
    put_hex64(out, prefix);
    put_hex64(out + 16, mix(atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed) + 1));
    out[FB_ID_NEW_LEN] = '\0';
}

int fb_id_parse(const char *label_id, char base[FB_ID_MAX + 1], int64_t *row,
                struct cap_error *err)
{
    *row = -1;
    base[0] = '\0';
    const char *slash = strrchr(label_id, '/');
    size_t n = slash ? (size_t)(slash - label_id) : strlen(label_id);
    if (slash) {
        const char *d = slash + 1;
        int64_t r = 0;
        bool ok = *d != '\0' && strlen(d) <= 9;
        for (; ok && *d; d++) {
            ok = *d >= '0' && *d <= '9';
            r = r * 10 + (*d - '0');
        }
        if (!ok)
            return cap_err(err, CAP_EINVAL,
                           "Id '%.64s' ends in a row that is not a number: expected <id> or "
                           "<id>/<row> with a row of 0 to 999999999",
                           label_id);
        *row = r;
    }
    if (n > FB_ID_MAX)
        return cap_err(err, CAP_EINVAL, "Id '%.64s...' is longer than %d characters", label_id,
                       FB_ID_MAX);
    memcpy(base, label_id, n);
    base[n] = '\0';
    return fb_id_check(base, "The request id", err);
}
