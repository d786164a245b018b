/* auth.c - users, password hashes and permissions (auth.h says what).
 *
 * Passwords: libsodium's crypto_pwhash_str with Argon2id at its
 * "interactive" limits (2 passes over 64 MiB: ~50 ms a hash on one core).
 * That cost is the point of a password hash, but paying it on every
 * request of a client that sends Basic credentials each time would cap a
 * server at ~20 requests a second per core. So a successful verification
 * is remembered per user: a BLAKE2b digest of the password keyed with a
 * random key that lives only in this process, beside the hash string it
 * was checked against. A request whose digest and the user's current hash
 * string match skips Argon2id; a changed password changes the hash string,
 * so the entry no longer matches. Neither the password nor an unkeyed
 * digest of it is ever kept. */
#include "auth/auth.h"
#include "auth/auth_cache.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store.h"

static const struct auth_perm perms[] = {
    {"READ", true, false, false, false, false},
    {"USE", true, true, false, false, false},
    {"EDIT", true, true, true, false, false},
    {"MANAGE", true, true, true, true, true},
    {"NO_PERMISSIONS", false, false, false, false, false},
};
static const struct auth_perm *const manage = &perms[3];

#define CACHE_SLOTS 64
#define USERNAME_MAX 255
#define PASSWORD_MAX 1024

struct cache_entry {
    char username[USERNAME_MAX + 1];
    char hash[crypto_pwhash_STRBYTES];
    unsigned char mac[crypto_generichash_BYTES];
};

/* Failed sign-ins per username (a keyed digest of it), for the lockout in
 * auth.h: a password guesser gets AUTH_LOCK_AFTER tries per 30 s instead of
 * one per Argon2id (~50 ms), and cannot make the server spend 64 MiB a guess.
 * Keyed by name only (the front hands auth no address), so a guesser also
 * keeps that user locked out while it guesses: the price of the bound. Two
 * names sharing a slot reset each other's count (256 slots). */
#define FAIL_SLOTS 256
struct fail_entry {
    unsigned char name[16];
    unsigned failures;
    int64_t last_ms;
};

struct auth {
    struct store *st;
    const struct auth_perm *def;
    unsigned char key[crypto_generichash_KEYBYTES];
    pthread_mutex_t mu;
    struct cache_entry cache[CACHE_SLOTS];
    /* the digest of the process's own token (auth_internal_token), when set */
    unsigned char internal_digest[AUTH_TOKEN_DIGEST];
    bool internal_set;
    struct fail_entry fails[FAIL_SLOTS];
    struct auth_cache *reads;       /* tokens and stored permissions (auth_cache.c) */
};

const struct auth_perm *auth_perm_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof perms / sizeof perms[0]; i++)
        if (strcmp(perms[i].name, name) == 0)
            return &perms[i];
    return NULL;
}

bool auth_perm_allows(const struct auth_perm *p, enum auth_need need)
{
    switch (need) {
    case AUTH_NEED_NONE: return true;
    case AUTH_NEED_READ: return p->can_read;
    case AUTH_NEED_USE: return p->can_use;
    case AUTH_NEED_UPDATE: return p->can_update;
    case AUTH_NEED_DELETE: return p->can_delete;
    case AUTH_NEED_MANAGE: return p->can_manage;
    }
    return false;
}

static int check_perm_name(const char *name, struct cap_error *err)
{
    if (auth_perm_find(name))
        return 0;
    return cap_err(err, CAP_EINVAL,
                   "Invalid permission '%.64s': expected one of READ, USE, EDIT, MANAGE, "
                   "NO_PERMISSIONS",
                   name ? name : "(null)");
}

static int check_username(const char *u, struct cap_error *err)
{
    if (!u || !*u)
        return cap_err(err, CAP_EINVAL, "Username and password cannot be empty.");
    if (strlen(u) > USERNAME_MAX || strchr(u, ':'))
        return cap_err(err, CAP_EINVAL,
                       "Invalid username: expected at most %d characters and no ':' (HTTP "
                       "basic authentication splits on it)",
                       USERNAME_MAX);
    return 0;
}

static int check_password(const char *p, struct cap_error *err)
{
    if (!p || !*p)
        return cap_err(err, CAP_EINVAL, "Username and password cannot be empty.");
    if (strlen(p) > PASSWORD_MAX)
        return cap_err(err, CAP_EINVAL, "Invalid password: expected at most %d bytes",
                       PASSWORD_MAX);
    return 0;
}

static int hash_password(const char *password, char out[crypto_pwhash_STRBYTES],
                         struct cap_error *err)
{
    if (crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return cap_err(err, CAP_EUNAVAIL, "Out of memory while hashing a password: retry");
    return 0;
}

int auth_user_create(struct auth *a, const char *username, const char *password, bool is_admin,
                     cJSON **out, struct cap_error *err)
{
    char hash[crypto_pwhash_STRBYTES];
    int rc;
    if ((rc = check_username(username, err)) < 0 || (rc = check_password(password, err)) < 0 ||
        (rc = hash_password(password, hash, err)) < 0)
        return rc;
    if ((rc = store_auth_user_create(a->st, username, hash, is_admin, err)) < 0)
        return rc;
    return out ? auth_user_get(a, username, out, err) : 0;
}

int auth_user_get(struct auth *a, const char *username, cJSON **out, struct cap_error *err)
{
    int rc = store_auth_user_get(a->st, username, out, err);
    if (rc == 0)
        cJSON_DeleteItemFromObject(*out, "password_hash");
    return rc;
}

int auth_user_set_password(struct auth *a, const char *username, const char *password,
                           struct cap_error *err)
{
    char hash[crypto_pwhash_STRBYTES];
    int rc;
    if ((rc = check_password(password, err)) < 0 || (rc = hash_password(password, hash, err)) < 0)
        return rc;
    return store_auth_user_update(a->st, username, hash, -1, err);
}

int auth_user_set_admin(struct auth *a, const char *username, bool is_admin,
                        struct cap_error *err)
{
    int rc = store_auth_user_update(a->st, username, NULL, is_admin ? 1 : 0, err);
    auth_cache_bump(a->reads);
    return rc;
}

int auth_user_delete(struct auth *a, const char *username, struct cap_error *err)
{
    int rc = store_auth_user_delete(a->st, username, err);
    auth_cache_bump(a->reads);
    return rc;
}

/* Whether password matches the stored hash, through the cache (top). */
static bool verify(struct auth *a, const char *username, const char *hash, const char *password)
{
    unsigned char mac[crypto_generichash_BYTES];
    crypto_generichash_state h;
    crypto_generichash_init(&h, a->key, sizeof a->key, sizeof mac);
    crypto_generichash_update(&h, (const unsigned char *)username, strlen(username) + 1);
    crypto_generichash_update(&h, (const unsigned char *)password, strlen(password));
    crypto_generichash_final(&h, mac, sizeof mac);
    unsigned slot = 0;
    for (const char *p = username; *p; p++)
        slot = slot * 31 + (unsigned char)*p;
    slot %= CACHE_SLOTS;
    pthread_mutex_lock(&a->mu);
    struct cache_entry *e = &a->cache[slot];
    bool hit = strcmp(e->username, username) == 0 && strcmp(e->hash, hash) == 0 &&
               sodium_memcmp(e->mac, mac, sizeof mac) == 0;
    pthread_mutex_unlock(&a->mu);
    if (hit)
        return true;
    if (strlen(hash) >= sizeof e->hash ||
        crypto_pwhash_str_verify(hash, password, strlen(password)) != 0)
        return false;
    pthread_mutex_lock(&a->mu);
    snprintf(e->username, sizeof e->username, "%s", username);
    snprintf(e->hash, sizeof e->hash, "%s", hash);
    memcpy(e->mac, mac, sizeof mac);
    pthread_mutex_unlock(&a->mu);
    return true;
}

int auth_password_ok(struct auth *a, const char *username, const char *password, bool *ok,
                     struct cap_error *err)
{
    cJSON *u = NULL;
    *ok = false;
    int rc = store_auth_user_get(a->st, username, &u, err);
    if (rc < 0)
        return rc;
    const char *hash = cJSON_GetStringValue(cJSON_GetObjectItem(u, "password_hash"));
    *ok = hash && password && verify(a, username, hash, password);
    cJSON_Delete(u);
    return 0;
}

/* The one 401 message: it must not say whether the user exists. */
static int unauth(struct cap_error *err)
{
    return cap_err(err, CAP_EUNAUTH,
                   "You are not authenticated. Please see "
                   "https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow "
                   "on how to authenticate.");
}

static struct fail_entry *fail_slot(struct auth *a, const char *username, unsigned char d[16])
{
    crypto_generichash(d, 16, (const unsigned char *)username, strlen(username), a->key,
                       sizeof a->key);
    return &a->fails[(d[0] | (unsigned)d[1] << 8) % FAIL_SLOTS];
}

/* Seconds username stays locked out (0: not), under a->mu. */
static int64_t locked_for(struct auth *a, const char *username, int64_t now)
{
    unsigned char d[16];
    pthread_mutex_lock(&a->mu);
    const struct fail_entry *f = fail_slot(a, username, d);
    int64_t left = 0;
    if (memcmp(f->name, d, sizeof d) == 0 && f->failures >= AUTH_LOCK_AFTER)
        left = f->last_ms + AUTH_LOCK_SECONDS * 1000LL - now;
    pthread_mutex_unlock(&a->mu);
    return left > 0 ? (left + 999) / 1000 : 0;
}

static void note_attempt(struct auth *a, const char *username, bool ok, int64_t now)
{
    unsigned char d[16];
    pthread_mutex_lock(&a->mu);
    struct fail_entry *f = fail_slot(a, username, d);
    if (memcmp(f->name, d, sizeof d) != 0 || ok ||
        now - f->last_ms >= AUTH_LOCK_SECONDS * 1000LL) {
        memcpy(f->name, d, sizeof d); /* a new name, a success or a quiet spell: count anew */
        f->failures = 0;
    }
    if (!ok) {
        f->failures++;
        f->last_ms = now;
    }
    pthread_mutex_unlock(&a->mu);
}

int auth_basic(struct auth *a, const char *header, struct auth_user *out, struct cap_error *err)
{
    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return unauth(err);
    const char *b64 = header + 6;
    while (*b64 == ' ')
        b64++;
    size_t n = strlen(b64);
    if (n > 4 * ((USERNAME_MAX + PASSWORD_MAX + 2) / 3 + 1))
        return unauth(err);
    char buf[USERNAME_MAX + PASSWORD_MAX + 8];
    size_t len = 0;
    if (sodium_base642bin((unsigned char *)buf, sizeof buf - 1, b64, n, " ", &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return unauth(err);
    buf[len] = '\0';
    char *colon = memchr(buf, ':', len);
    if (!colon || strlen(buf) != len || colon - buf > USERNAME_MAX) {
        sodium_memzero(buf, sizeof buf);
        return unauth(err);
    }
    *colon = '\0';
    const char *username = buf, *password = colon + 1;
    int64_t now = cap_now_ms(), wait = locked_for(a, username, now);
    if (wait) {
        sodium_memzero(colon + 1, len - (size_t)(colon + 1 - buf));
        return cap_err(err, CAP_ETOOMANY,
                       "Too many failed sign-ins for user '%.200s': try again in %lld s",
                       username, (long long)wait);
    }
    cJSON *u = NULL;
    struct cap_error lookup = {0};
    int rc = store_auth_user_get(a->st, username, &u, &lookup);
    bool ok = false;
    if (rc == 0) {
        const char *hash = cJSON_GetStringValue(cJSON_GetObjectItem(u, "password_hash"));
        ok = hash && verify(a, username, hash, password);
    }
    sodium_memzero(colon + 1, len - (size_t)(colon + 1 - buf));
    if (rc < 0 && lookup.code != CAP_ENOTFOUND) {
        cap_err(err, lookup.code, "%s", lookup.msg); /* a store fault, not a refusal */
        return -lookup.code;
    }
    note_attempt(a, username, ok, now);
    if (!ok) {
        cJSON_Delete(u);
        return unauth(err);
    }
    out->id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(u, "id"));
    memcpy(out->username, username, (size_t)(colon - buf) + 1);
    out->is_admin = cJSON_IsTrue(cJSON_GetObjectItem(u, "is_admin"));
    out->scope = AUTH_TOKEN_WRITE; /* a password may do all its user may */
    out->deployment[0] = '\0';
    cJSON_Delete(u);
    return 0;
}

#define TOKEN_BYTES 32

/* A token's BLAKE2b-256; its hex is what the store keeps and looks up. */
static void token_digest(const char *token, unsigned char d[AUTH_TOKEN_DIGEST])
{
    crypto_generichash(d, AUTH_TOKEN_DIGEST, (const unsigned char *)token, strlen(token), NULL,
                       0);
}

static void token_hash(const char *token, char hex[2 * AUTH_TOKEN_DIGEST + 1])
{
    unsigned char d[AUTH_TOKEN_DIGEST];
    token_digest(token, d);
    sodium_bin2hex(hex, 2 * AUTH_TOKEN_DIGEST + 1, d, sizeof d);
}

/* AUTH_TOKEN_PREFIX and 256 random bits, base64url (malloc'd). */
static char *new_token(void)
{
    unsigned char raw[TOKEN_BYTES];
    randombytes_buf(raw, sizeof raw);
    size_t plen = sizeof AUTH_TOKEN_PREFIX - 1;
    size_t b64 = sodium_base64_ENCODED_LEN(TOKEN_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *tok = cap_xmalloc(plen + b64);
    memcpy(tok, AUTH_TOKEN_PREFIX, plen);
    sodium_bin2base64(tok + plen, b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    return tok;
}

char *auth_internal_token(struct auth *a)
{
    char *tok = new_token();
    pthread_mutex_lock(&a->mu);
    token_digest(tok, a->internal_digest);
    a->internal_set = true;
    pthread_mutex_unlock(&a->mu);
    return tok;
}

int auth_scope_parse(const char *text, struct auth_user *u, struct cap_error *err)
{
    static const char infer[] = "infer:";
    u->deployment[0] = '\0';
    if (text && strcmp(text, "write") == 0) {
        u->scope = AUTH_TOKEN_WRITE;
        return 0;
    }
    if (text && strcmp(text, "read") == 0) {
        u->scope = AUTH_TOKEN_READ;
        return 0;
    }
    if (!text || strncmp(text, infer, sizeof infer - 1) != 0)
        return cap_err(err, CAP_EINVAL,
                       "Invalid value for parameter 'scope': '%.64s'; expected 'write', 'read' "
                       "or 'infer:<deployment>'",
                       text ? text : "");
    const char *dep = text + sizeof infer - 1;
    struct cap_error e = {0};
    if (store_deployment_name_check(dep, &e) < 0)
        return cap_err(err, CAP_EINVAL, "Invalid value for parameter 'scope': %s", e.msg);
    u->scope = AUTH_TOKEN_INFER;
    memcpy(u->deployment, dep, strlen(dep) + 1);
    return 0;
}

int auth_token_create(struct auth *a, const char *username, const char *name, const char *scope,
                      int64_t expires_in_days, char **secret, cJSON **out, struct cap_error *err)
{
    *secret = NULL;
    struct auth_user parsed;
    if (!scope)
        scope = "write";
    if (!name || !*name || strlen(name) > 200)
        return cap_err(err, CAP_EINVAL,
                       "Invalid value for parameter 'name': expected 1 to 200 characters");
    if (auth_scope_parse(scope, &parsed, err) < 0)
        return -err->code;
    if (expires_in_days < 0 || expires_in_days > 3650)
        return cap_err(err, CAP_EINVAL,
                       "Invalid value for parameter 'expires_in_days': expected 0 (never) to "
                       "3650");
    size_t plen = sizeof AUTH_TOKEN_PREFIX - 1;
    size_t b64 = sodium_base64_ENCODED_LEN(TOKEN_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *tok = new_token();
    char hex[2 * 32 + 1];
    token_hash(tok, hex);
    int64_t now = cap_now_ms(), id = 0;
    int64_t expires = expires_in_days ? now + expires_in_days * 86400000LL : 0;
    int rc = store_auth_token_create(a->st, username, name, hex, scope, now, expires, &id, err);
    if (rc < 0) {
        sodium_memzero(tok, plen + b64);
        free(tok);
        return rc;
    }
    if (out) {
        *out = cJSON_CreateObject();
        cJSON_AddNumberToObject(*out, "id", (double)id);
        cJSON_AddStringToObject(*out, "name", name);
        cJSON_AddStringToObject(*out, "scope", scope);
        cJSON_AddNumberToObject(*out, "created_at", (double)now);
        cJSON_AddNumberToObject(*out, "expires_at", (double)expires);
    }
    *secret = tok;
    return 0;
}

int auth_token_list(struct auth *a, const char *username, cJSON **out, struct cap_error *err)
{
    return store_auth_token_list(a->st, username, out, err);
}

int auth_token_delete(struct auth *a, const char *username, int64_t id, struct cap_error *err)
{
    int rc = store_auth_token_delete(a->st, username, id, err);
    auth_cache_bump(a->reads);
    return rc;
}

/* The token's user from the store (its hash hex): CAP_ENOTFOUND when none
 * (or its stored scope no longer parses: edited by hand). */
static int token_read(struct auth *a, const char *hex, struct auth_user *out, int64_t *expires,
                      struct cap_error *err)
{
    cJSON *u = NULL;
    int rc = store_auth_token_find(a->st, hex, &u, err);
    if (rc < 0)
        return rc;
    *expires = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(u, "expires_at"));
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(u, "username"));
    struct cap_error e = {0};
    if (!name || strlen(name) >= sizeof out->username ||
        auth_scope_parse(cJSON_GetStringValue(cJSON_GetObjectItem(u, "scope")), out, &e) < 0) {
        cJSON_Delete(u);
        return cap_err(err, CAP_ENOTFOUND, "No such token");
    }
    out->id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(u, "id"));
    memcpy(out->username, name, strlen(name) + 1);
    out->is_admin = cJSON_IsTrue(cJSON_GetObjectItem(u, "is_admin"));
    cJSON_Delete(u);
    return 0;
}

static int auth_bearer(struct auth *a, const char *token, struct auth_user *out,
                       struct cap_error *err)
{
    while (*token == ' ')
        token++;
    if (strncmp(token, AUTH_TOKEN_PREFIX, sizeof AUTH_TOKEN_PREFIX - 1) != 0 ||
        strlen(token) > 128)
        return unauth(err);
    unsigned char d[AUTH_TOKEN_DIGEST];
    token_digest(token, d);
    pthread_mutex_lock(&a->mu);
    bool internal = a->internal_set && sodium_memcmp(d, a->internal_digest, sizeof d) == 0;
    pthread_mutex_unlock(&a->mu);
    if (internal) {
        *out = (struct auth_user){.id = 0, .is_admin = true};
        memcpy(out->username, AUTH_INTERNAL_USER, sizeof AUTH_INTERNAL_USER);
        return 0;
    }
    int64_t expires = 0;
    if (!auth_cache_token_get(a->reads, d, out, &expires)) {
        uint64_t gen = auth_cache_gen(a->reads);
        char hex[2 * AUTH_TOKEN_DIGEST + 1];
        sodium_bin2hex(hex, sizeof hex, d, sizeof d);
        struct cap_error e = {0};
        if (token_read(a, hex, out, &expires, &e) < 0) {
            if (e.code != CAP_ENOTFOUND) {
                cap_err(err, e.code, "%s", e.msg);
                return -e.code;
            }
            return unauth(err);
        }
        auth_cache_token_put(a->reads, d, out, expires, gen);
    }
    if (expires && expires <= cap_now_ms())
        return unauth(err);
    return 0;
}

int auth_header(struct auth *a, const char *header, struct auth_user *out, struct cap_error *err)
{
    if (header && strncasecmp(header, "Bearer ", 7) == 0)
        return auth_bearer(a, header + 7, out, err);
    return auth_basic(a, header, out, err);
}

int auth_permission(struct auth *a, const struct auth_user *u, const char *kind,
                    const char *resource, const struct auth_perm **out, struct cap_error *err)
{
    if (u->is_admin) {
        *out = manage;
        return 0;
    }
    const struct auth_perm *p = NULL;
    if (!auth_cache_perm_get(a->reads, kind, resource, u->username, &p)) {
        uint64_t gen = auth_cache_gen(a->reads);
        char *name = NULL;
        struct cap_error e = {0};
        int rc = store_auth_perm_get(a->st, kind, resource, u->username, &name, &e);
        if (rc < 0 && e.code != CAP_ENOTFOUND) {
            cap_err(err, e.code, "%s", e.msg);
            return -e.code;
        }
        p = rc == 0 ? auth_perm_find(name) : NULL;
        free(name);
        auth_cache_perm_put(a->reads, kind, resource, u->username, p, gen);
    }
    *out = p ? p : a->def;
    return 0;
}

const char *auth_kind_words(const char *kind)
{
    if (strcmp(kind, AUTH_KIND_MODEL) == 0)
        return "registered model";
    if (strcmp(kind, AUTH_KIND_PIPELINE) == 0)
        return "pipeline schedule";
    return kind; /* experiment, deployment, dataset */
}

int auth_check(struct auth *a, const struct auth_user *u, const char *kind, const char *resource,
               enum auth_need need, struct cap_error *err)
{
    const struct auth_perm *p = NULL;
    int rc = auth_permission(a, u, kind, resource, &p, err);
    if (rc < 0)
        return rc;
    if (auth_perm_allows(p, need))
        return 0;
    static const char *const verbs[] = {"use", "read", "use", "update", "delete", "manage"};
    return cap_err(err, CAP_EPERM, "Permission denied: user '%.200s' may not %s %s '%.200s'",
                   u->username, verbs[need], auth_kind_words(kind), resource);
}

int auth_grant(struct auth *a, const char *kind, const char *resource, const char *username,
               const char *permission, int mode, struct cap_error *err)
{
    int rc = check_perm_name(permission, err);
    if (rc < 0)
        return rc;
    rc = store_auth_perm_set(a->st, kind, resource, username, permission, mode, err);
    auth_cache_bump(a->reads);
    return rc;
}

int auth_grant_get(struct auth *a, const char *kind, const char *resource, const char *username,
                   char **out, struct cap_error *err)
{
    return store_auth_perm_get(a->st, kind, resource, username, out, err);
}

int auth_revoke(struct auth *a, const char *kind, const char *resource, const char *username,
                struct cap_error *err)
{
    int rc = store_auth_perm_delete(a->st, kind, resource, username, err);
    auth_cache_bump(a->reads);
    return rc;
}

int auth_move(struct auth *a, const char *kind, const char *resource, const char *to,
              struct cap_error *err)
{
    int rc = store_auth_perm_move(a->st, kind, resource, to, err);
    auth_cache_bump(a->reads);
    return rc;
}

int auth_view_open(struct auth *a, const struct auth_user *u, const char *kind,
                   struct auth_view *v, struct cap_error *err)
{
    *v = (struct auth_view){.all = u->is_admin, .def = a->def};
    if (v->all)
        return 0;
    return store_auth_perm_list(a->st, kind, u->username, &v->perms, err);
}

bool auth_view_can_read(const struct auth_view *v, const char *resource)
{
    if (v->all)
        return true;
    const cJSON *p = resource ? cJSON_GetObjectItemCaseSensitive(v->perms, resource) : NULL;
    const struct auth_perm *perm = p ? auth_perm_find(cJSON_GetStringValue(p)) : NULL;
    return (perm ? perm : v->def)->can_read;
}

void auth_view_close(struct auth_view *v)
{
    cJSON_Delete(v->perms);
    v->perms = NULL;
}

/* The admin of the configuration, created when missing. */
static int bootstrap(struct auth *a, const struct auth_config *cfg, struct cap_error *err)
{
    int64_t users = 0;
    int rc = store_auth_user_count(a->st, &users, err);
    if (rc < 0)
        return rc;
    bool have_admin = cfg->admin_username && *cfg->admin_username;
    if (!have_admin) {
        if (users == 0)
            return cap_err(err, CAP_EINVAL,
                           "--auth needs an admin: set CAPSTAN_ADMIN_USERNAME and "
                           "CAPSTAN_ADMIN_PASSWORD (the database has no users yet)");
        return 0;
    }
    cJSON *u = NULL;
    struct cap_error e = {0};
    if (store_auth_user_get(a->st, cfg->admin_username, &u, &e) == 0) {
        cJSON_Delete(u); /* like MLflow: an existing admin keeps its password */
        return 0;
    }
    if (e.code != CAP_ENOTFOUND) {
        cap_err(err, e.code, "%s", e.msg);
        return -e.code;
    }
    if (!cfg->admin_password || !*cfg->admin_password)
        return cap_err(err, CAP_EINVAL,
                       "--auth: the admin '%.200s' does not exist yet and "
                       "CAPSTAN_ADMIN_PASSWORD is not set: set it to create the admin",
                       cfg->admin_username);
    if ((rc = auth_user_create(a, cfg->admin_username, cfg->admin_password, true, NULL, err)) < 0)
        return rc;
    cap_log(CAP_LOG_INFO, "auth: created the admin user '%s'", cfg->admin_username);
    return 0;
}

int auth_open(struct store *st, const struct auth_config *cfg, struct auth **out,
              struct cap_error *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return cap_err(err, CAP_EINTERNAL, "libsodium failed to initialise");
    const struct auth_perm *def = auth_perm_find(cfg->default_permission ? cfg->default_permission
                                                                         : "READ");
    if (!def)
        return check_perm_name(cfg->default_permission, err);
    struct auth *a = cap_xcalloc(1, sizeof *a);
    a->st = st;
    a->def = def;
    randombytes_buf(a->key, sizeof a->key);
    pthread_mutex_init(&a->mu, NULL);
    a->reads = auth_cache_new();
    int rc = bootstrap(a, cfg, err);
    if (rc < 0) {
        auth_close(a);
        return rc;
    }
    *out = a;
    return 0;
}

void auth_close(struct auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->mu);
    auth_cache_free(a->reads);
    sodium_memzero(a, sizeof *a);
    free(a);
}
