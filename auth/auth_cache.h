/* auth_cache.h - auth/'s own cache of token and permission reads
 * (auth_cache.c); not part of auth/'s public interface. */
#ifndef CAP_AUTH_CACHE_H
#define CAP_AUTH_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"

/* How long an entry answers: a change made by another server sharing the
 * database is seen within this; one made through this process at once. */
#define AUTH_CACHE_MS 1000
#define AUTH_TOKEN_DIGEST 32   /* a token's BLAKE2b-256 */

struct auth_cache;
struct auth_cache *auth_cache_new(void);
void auth_cache_free(struct auth_cache *c);
/* A change through this process: every entry is forgotten. */
void auth_cache_bump(struct auth_cache *c);
/* The generation to pass to a put: read it before reading the store, so
 * that a change in between keeps the stale answer out. */
uint64_t auth_cache_gen(struct auth_cache *c);

/* A token by its digest: its user (scope included) and expiry. */
bool auth_cache_token_get(struct auth_cache *c, const unsigned char *digest, struct auth_user *u,
                          int64_t *expires_at);
void auth_cache_token_put(struct auth_cache *c, const unsigned char *digest,
                          const struct auth_user *u, int64_t expires_at, uint64_t gen);
/* A stored permission of (kind, resource, username); *perm NULL: none stored. */
bool auth_cache_perm_get(struct auth_cache *c, const char *kind, const char *resource,
                         const char *username, const struct auth_perm **perm);
void auth_cache_perm_put(struct auth_cache *c, const char *kind, const char *resource,
                         const char *username, const struct auth_perm *perm, uint64_t gen);

#endif
