/* valmap.c - the value -> count hash map of valmap.h: open addressing with
 * linear probing over a power-of-two table kept at most half full, entries
 * in a separate array in first-seen order (so examples come out in the
 * order of the data). Costs 4 bytes a slot plus 16 bytes an entry. */
#include "monitor/valmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

/* splitmix64's finalizer: spreads every input bit over the output. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t mon_hash_text(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, finished by mix() */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return mix(h);
}

uint64_t mon_hash_num(double d)
{
    if (d == 0)
        d = 0; /* -0.0 == 0.0, so they must hash alike */
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return mix(u);
}

static uint64_t hash_of(const struct mon_valmap *m, union mon_val v)
{
    return m->text ? mon_hash_text(v.s) : mon_hash_num(v.d);
}

static bool same(const struct mon_valmap *m, union mon_val a, union mon_val b)
{
    return m->text ? strcmp(a.s, b.s) == 0 : a.d == b.d;
}

void mon_valmap_init(struct mon_valmap *m, bool text)
{
    memset(m, 0, sizeof *m);
    m->text = text;
    m->mask = 15;
    m->slot = cap_xcalloc(m->mask + 1, sizeof *m->slot);
}

void mon_valmap_free(struct mon_valmap *m)
{
    free(m->keys);
    free(m->count);
    free(m->slot);
    memset(m, 0, sizeof *m);
}

/* The slot that holds v, or the empty slot where it would go. */
static size_t probe(const struct mon_valmap *m, union mon_val v)
{
    size_t i = (size_t)hash_of(m, v) & m->mask;
    while (m->slot[i] && !same(m, m->keys[m->slot[i] - 1], v))
        i = (i + 1) & m->mask;
    return i;
}

static void grow(struct mon_valmap *m)
{
    free(m->slot);
    m->mask = m->mask * 2 + 1;
    m->slot = cap_xcalloc(m->mask + 1, sizeof *m->slot);
    for (size_t e = 0; e < m->n; e++)
        m->slot[probe(m, m->keys[e])] = (uint32_t)(e + 1);
}

size_t mon_valmap_add(struct mon_valmap *m, union mon_val v, bool *added)
{
    size_t i = probe(m, v);
    if (m->slot[i]) {
        *added = false;
        m->count[m->slot[i] - 1]++;
        return m->slot[i] - 1;
    }
    if (m->n == m->room) {
        m->room = m->room ? m->room * 2 : 16;
        m->keys = cap_xrealloc(m->keys, m->room * sizeof *m->keys);
        m->count = cap_xrealloc(m->count, m->room * sizeof *m->count);
    }
    size_t e = m->n++;
    m->keys[e] = v;
    m->count[e] = 1;
    m->slot[i] = (uint32_t)(e + 1);
    if (2 * m->n > m->mask + 1)
        grow(m);
    *added = true;
    return e;
}

bool mon_valmap_find(const struct mon_valmap *m, union mon_val v, size_t *idx)
{
    size_t i = probe(m, v);
    if (!m->slot[i])
        return false;
    *idx = m->slot[i] - 1;
    return true;
}
