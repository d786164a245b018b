/* auth_cache.c - what auth/ read from the store about tokens and stored
 * permissions, kept AUTH_CACHE_MS, so that a request signed with a token
 * does not pay two store reads on the inference hot path (they cost 29% of
 * the serving benchmark's OIP req/s: bench/RESULTS.md). A change made
 * through this process (a grant, a revocation, a token deleted, a user
 * deleted or made admin) forgets everything at once (auth_cache_bump); one
 * made by another server on a shared database takes effect here within
 * AUTH_CACHE_MS. Direct-mapped slots: a key whose slot another key took is
 * read again from the store, never answered from the other's entry (each
 * slot keeps its whole key). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_cache.h"
#include "base/buf.h"
#include "base/util.h"

#define TOKEN_SLOTS 256
#define PERM_SLOTS 1024
#define PERM_KEY_MAX 400

struct token_slot {
    unsigned char digest[AUTH_TOKEN_DIGEST];
    struct auth_user user;
    int64_t expires_at, at_ms;
    uint64_t gen;
};

struct perm_slot {
    char key[PERM_KEY_MAX];
    const struct auth_perm *perm;   /* NULL: none stored */
    int64_t at_ms;
    uint64_t gen;
};

struct auth_cache {
    pthread_mutex_t mu;
    uint64_t gen;                   /* starts at 1: a zeroed slot is never current */
    struct token_slot tokens[TOKEN_SLOTS];
    struct perm_slot perms[PERM_SLOTS];
};

struct auth_cache *auth_cache_new(void)
{
    struct auth_cache *c = cap_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->gen = 1;
    return c;
}

void auth_cache_free(struct auth_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void auth_cache_bump(struct auth_cache *c)
{
    pthread_mutex_lock(&c->mu);
    c->gen++;
    pthread_mutex_unlock(&c->mu);
}

/* FNV-1a: only spreads keys over slots (a slot compares the whole key). */
static uint64_t spread(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static bool current(const struct auth_cache *c, uint64_t gen, int64_t at_ms, int64_t now)
{
    return gen == c->gen && now - at_ms < AUTH_CACHE_MS && now >= at_ms;
}

/* A digest is uniformly random: its first bytes pick the slot. */
static struct token_slot *token_slot(struct auth_cache *c, const unsigned char *digest)
{
    uint32_t x;
    memcpy(&x, digest, sizeof x);
    return &c->tokens[x % TOKEN_SLOTS];
}

bool auth_cache_token_get(struct auth_cache *c, const unsigned char *digest, struct auth_user *u,
                          int64_t *expires_at)
{
    struct token_slot *s = token_slot(c, digest);
    int64_t now = cap_now_ms();
    pthread_mutex_lock(&c->mu);
    bool hit = current(c, s->gen, s->at_ms, now) &&
               memcmp(s->digest, digest, AUTH_TOKEN_DIGEST) == 0;
    if (hit) {
        *u = s->user;
        *expires_at = s->expires_at;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void auth_cache_token_put(struct auth_cache *c, const unsigned char *digest,
                          const struct auth_user *u, int64_t expires_at, uint64_t gen)
{
    struct token_slot *s = token_slot(c, digest);
    int64_t now = cap_now_ms();
    pthread_mutex_lock(&c->mu);
    if (gen == c->gen) { /* no change since the read: what was read is still true */
        memcpy(s->digest, digest, AUTH_TOKEN_DIGEST);
        s->user = *u;
        s->expires_at = expires_at;
        s->at_ms = now;
        s->gen = gen;
    }
    pthread_mutex_unlock(&c->mu);
}

/* "kind\x1fresource\x1fusername" into key; false when it does not fit. */
static bool perm_key(const char *kind, const char *resource, const char *username,
                     char key[PERM_KEY_MAX], size_t *len)
{
    size_t a = strlen(kind), b = strlen(resource), n = strlen(username);
    if (a + b + n + 3 > PERM_KEY_MAX)
        return false;
    memcpy(key, kind, a);
    key[a] = '\x1f';
    memcpy(key + a + 1, resource, b);
    key[a + 1 + b] = '\x1f';
    memcpy(key + a + b + 2, username, n + 1);
    *len = a + b + n + 2;
    return true;
}

bool auth_cache_perm_get(struct auth_cache *c, const char *kind, const char *resource,
                         const char *username, const struct auth_perm **perm)
{
    char key[PERM_KEY_MAX];
    size_t len;
    if (!perm_key(kind, resource, username, key, &len))
        return false;
    struct perm_slot *s = &c->perms[spread(key, len) % PERM_SLOTS];
    int64_t now = cap_now_ms();
    pthread_mutex_lock(&c->mu);
    bool hit = current(c, s->gen, s->at_ms, now) && strcmp(s->key, key) == 0;
    if (hit)
        *perm = s->perm;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void auth_cache_perm_put(struct auth_cache *c, const char *kind, const char *resource,
                         const char *username, const struct auth_perm *perm, uint64_t gen)
{
    char key[PERM_KEY_MAX];
    size_t len;
    if (!perm_key(kind, resource, username, key, &len))
        return;
    struct perm_slot *s = &c->perms[spread(key, len) % PERM_SLOTS];
    int64_t now = cap_now_ms();
    pthread_mutex_lock(&c->mu);
    if (gen == c->gen) { /* no change since the read: what was read is still true */
        memcpy(s->key, key, len + 1);
        s->perm = perm;
        s->at_ms = now;
        s->gen = gen;
    }
    pthread_mutex_unlock(&c->mu);
}

uint64_t auth_cache_gen(struct auth_cache *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t g = c->gen;
    pthread_mutex_unlock(&c->mu);
    return g;
}
