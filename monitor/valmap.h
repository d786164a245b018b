/* valmap.h - a hash map from a cell's value (a text or a number) to how
 * often it was seen, for the data-quality checks and the report's charts:
 * counting categories in O(n) instead of sorting strings. Internal to
 * monitor/. Keys are borrowed (text keys point into the frame), so the map
 * must not outlive the frame. */
#ifndef CAP_MONITOR_VALMAP_H
#define CAP_MONITOR_VALMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

union mon_val {
    const char *s; /* text map: a NUL-terminated cell */
    double d;      /* number map: a non-NaN value (-0.0 and 0.0 are one key) */
};

struct mon_valmap {
    bool text;
    union mon_val *keys; /* the distinct values, in the order first seen */
    size_t *count;       /* how often each was added */
    size_t n, room;      /* entries, and room in keys/count */
    uint32_t *slot;      /* open addressing: entry index + 1, 0 when empty */
    size_t mask;         /* slots - 1; slots is a power of two */
};

void mon_valmap_init(struct mon_valmap *m, bool text);
void mon_valmap_free(struct mon_valmap *m);
/* Counts one occurrence of v; returns its entry's index and says whether
 * the value was new. */
size_t mon_valmap_add(struct mon_valmap *m, union mon_val v, bool *added);
/* The entry of v, or false when v was never added. */
bool mon_valmap_find(const struct mon_valmap *m, union mon_val v, size_t *idx);

/* The hashes the map uses, shared with the duplicated-rows check. */
uint64_t mon_hash_text(const char *s);
uint64_t mon_hash_num(double d);

#endif
