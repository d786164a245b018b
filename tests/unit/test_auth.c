/* test_auth.c - auth/: the admin bootstrap, Basic credentials, MLflow's
 * permission meanings and defaults, and that no password reaches the
 * database file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "base/buf.h"
#include "store/store.h"
#include "tests/unit/fixture.h"

static int setup(void **state)
{
    return fixture_store_setup(state, "auth", "capstan.db", false);
}

static int teardown(void **state)
{
    return fixture_store_teardown(state);
}

/* "Basic base64(user:password)" */
static void basic(const char *user, const char *password, char *out, size_t n)
{
    char plain[256];
    snprintf(plain, sizeof plain, "%s:%s", user, password);
    memcpy(out, "Basic ", 6);
    sodium_bin2base64(out + 6, n - 6, (const unsigned char *)plain, strlen(plain),
                      sodium_base64_VARIANT_ORIGINAL);
}

static struct auth *open_auth(struct store *st)
{
    struct auth_config cfg = {.admin_username = "root", .admin_password = "s3cret-Root"};
    struct auth *a = NULL;
    struct cap_error err = {0};
    if (auth_open(st, &cfg, &a, &err) != 0)
        fail_msg("auth_open: %s", err.msg);
    return a;
}

static void test_refuses_without_admin(void **state)
{
    struct fixture_store *f = *state;
    struct auth_config cfg = {0};
    struct auth *a = NULL;
    struct cap_error err = {0};
    assert_int_equal(auth_open(f->st, &cfg, &a, &err), -CAP_EINVAL);
    assert_null(a);
    assert_non_null(strstr(err.msg, "CAPSTAN_ADMIN_USERNAME"));
    /* once a user exists, no admin configuration is needed */
    auth_close(open_auth(f->st));
    err = (struct cap_error){0};
    assert_int_equal(auth_open(f->st, &cfg, &a, &err), 0);
    auth_close(a);
}

static void test_basic_credentials(void **state)
{
    struct fixture_store *f = *state;
    struct auth *a = open_auth(f->st);
    struct cap_error err = {0};
    struct auth_user u;
    char h[512];
    basic("root", "s3cret-Root", h, sizeof h);
    assert_int_equal(auth_basic(a, h, &u, &err), 0);
    assert_string_equal(u.username, "root");
    assert_true(u.is_admin);
    /* the cached path answers the same */
    assert_int_equal(auth_basic(a, h, &u, &err), 0);
    basic("root", "wrong", h, sizeof h);
    assert_int_equal(auth_basic(a, h, &u, &err), -CAP_EUNAUTH);
    basic("nobody", "s3cret-Root", h, sizeof h);
    assert_int_equal(auth_basic(a, h, &u, &err), -CAP_EUNAUTH);
    assert_int_equal(auth_basic(a, NULL, &u, &err), -CAP_EUNAUTH);
    assert_int_equal(auth_basic(a, "Bearer abc", &u, &err), -CAP_EUNAUTH);
    assert_int_equal(auth_basic(a, "Basic !!!", &u, &err), -CAP_EUNAUTH);
    assert_int_equal(auth_basic(a, "Basic bm9jb2xvbg==", &u, &err), -CAP_EUNAUTH); /* "nocolon" */
    /* a changed password: the old one no longer passes, even cached */
    assert_int_equal(auth_user_set_password(a, "root", "another-one", &err), 0);
    basic("root", "s3cret-Root", h, sizeof h);
    assert_int_equal(auth_basic(a, h, &u, &err), -CAP_EUNAUTH);
    basic("root", "another-one", h, sizeof h);
    assert_int_equal(auth_basic(a, h, &u, &err), 0);
    auth_close(a);
}

static void test_permissions(void **state)
{
    struct fixture_store *f = *state;
    struct auth *a = open_auth(f->st);
    struct cap_error err = {0};
    assert_int_equal(auth_user_create(a, "ann", "pw-ann-1", false, NULL, &err), 0);
    assert_int_equal(auth_user_create(a, "ann", "pw-ann-2", false, NULL, &err), -CAP_EEXISTS);
    assert_int_equal(auth_user_create(a, "a:b", "pw", false, NULL, &err), -CAP_EINVAL);
    assert_int_equal(auth_user_create(a, "bob", "", false, NULL, &err), -CAP_EINVAL);
    struct auth_user ann = {.is_admin = false}, root = {.is_admin = true};
    snprintf(ann.username, sizeof ann.username, "ann");
    snprintf(root.username, sizeof root.username, "root");
    /* the default is READ */
    assert_int_equal(auth_check(a, &ann, AUTH_KIND_EXPERIMENT, "1", AUTH_NEED_READ, &err), 0);
    assert_int_equal(auth_check(a, &ann, AUTH_KIND_EXPERIMENT, "1", AUTH_NEED_UPDATE, &err),
                     -CAP_EPERM);
    assert_int_equal(auth_grant(a, AUTH_KIND_EXPERIMENT, "1", "ann", "EDIT", STORE_AUTH_CREATE,
                                &err), 0);
    assert_int_equal(auth_grant(a, AUTH_KIND_EXPERIMENT, "1", "ann", "EDIT", STORE_AUTH_CREATE,
                                &err), -CAP_EEXISTS);
    assert_int_equal(auth_grant(a, AUTH_KIND_EXPERIMENT, "1", "ann", "OWNER", STORE_AUTH_PUT,
                                &err), -CAP_EINVAL);
    assert_int_equal(auth_grant(a, AUTH_KIND_MODEL, "m", "ann", "READ", STORE_AUTH_UPDATE, &err),
                     -CAP_ENOTFOUND);
    assert_int_equal(auth_check(a, &ann, AUTH_KIND_EXPERIMENT, "1", AUTH_NEED_UPDATE, &err), 0);
    assert_int_equal(auth_check(a, &ann, AUTH_KIND_EXPERIMENT, "1", AUTH_NEED_DELETE, &err),
                     -CAP_EPERM);
    assert_int_equal(auth_grant(a, AUTH_KIND_MODEL, "m", "ann", "NO_PERMISSIONS",
                                STORE_AUTH_PUT, &err), 0);
    assert_int_equal(auth_check(a, &ann, AUTH_KIND_MODEL, "m", AUTH_NEED_READ, &err), -CAP_EPERM);
    assert_int_equal(auth_check(a, &root, AUTH_KIND_MODEL, "m", AUTH_NEED_MANAGE, &err), 0);
    struct auth_view v;
    assert_int_equal(auth_view_open(a, &ann, AUTH_KIND_MODEL, &v, &err), 0);
    assert_false(auth_view_can_read(&v, "m"));
    assert_true(auth_view_can_read(&v, "other"));
    auth_view_close(&v);
    char *p = NULL;
    assert_int_equal(auth_grant_get(a, AUTH_KIND_EXPERIMENT, "1", "ann", &p, &err), 0);
    assert_string_equal(p, "EDIT");
    free(p);
    assert_int_equal(auth_revoke(a, AUTH_KIND_EXPERIMENT, "1", "ann", &err), 0);
    assert_int_equal(auth_revoke(a, AUTH_KIND_EXPERIMENT, "1", "ann", &err), -CAP_ENOTFOUND);
    /* deleting a user takes their rows along */
    assert_int_equal(auth_user_delete(a, "ann", &err), 0);
    assert_int_equal(auth_user_create(a, "ann", "pw-ann-3", false, NULL, &err), 0);
    assert_int_equal(auth_grant_get(a, AUTH_KIND_MODEL, "m", "ann", &p, &err), -CAP_ENOTFOUND);
    cJSON *u = NULL;
    assert_int_equal(auth_user_get(a, "ann", &u, &err), 0);
    assert_null(cJSON_GetObjectItem(u, "password_hash"));
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(u, "is_admin")));
    cJSON_Delete(u);
    auth_close(a);
}

/* A token's scope comes back with its user at every sign-in. */
static void test_token_scopes(void **state)
{
    struct fixture_store *f = *state;
    struct auth *a = open_auth(f->st);
    struct cap_error err = {0};
    assert_int_equal(auth_user_create(a, "eve", "pw-eve-1", false, NULL, &err), 0);
    static const struct {
        const char *text;
        enum auth_token_scope scope;
        const char *deployment;
    } cases[] = {{"read", AUTH_TOKEN_READ, ""},
                 {"write", AUTH_TOKEN_WRITE, ""},
                 {"infer:fraud-v2.prod", AUTH_TOKEN_INFER, "fraud-v2.prod"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *secret = NULL, h[256];
        cJSON *t = NULL;
        assert_int_equal(auth_token_create(a, "eve", "t", cases[i].text, 30, &secret, &t, &err),
                         0);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "scope")),
                            cases[i].text);
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(t, "expires_at")) >
                    cJSON_GetNumberValue(cJSON_GetObjectItem(t, "created_at")));
        cJSON_Delete(t);
        snprintf(h, sizeof h, "Bearer %s", secret);
        struct auth_user u;
        memset(&u, 0x5a, sizeof u); /* nothing left over from before */
        assert_int_equal(auth_header(a, h, &u, &err), 0);
        assert_int_equal(u.scope, cases[i].scope);
        assert_string_equal(u.deployment, cases[i].deployment);
        free(secret);
    }
    cJSON *list = NULL;
    assert_int_equal(auth_token_list(a, "eve", &list, &err), 0);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 2), "scope")),
        "infer:fraud-v2.prod");
    cJSON_Delete(list);
    auth_close(a);
}

/* A change another server makes in a shared database (here: straight in
 * the store, past auth/) counts once the cache's entries have aged out;
 * one made through auth/ counts at once (test_tokens). Only "after the
 * cache time" is asserted: how soon before it is a matter of scheduling. */
static void test_other_servers_changes_count_after_the_cache_time(void **state)
{
    struct fixture_store *f = *state;
    struct auth *a = open_auth(f->st);
    struct cap_error err = {0};
    assert_int_equal(auth_user_create(a, "fay", "pw-fay-1", false, NULL, &err), 0);
    char *secret = NULL, h[256];
    cJSON *t = NULL;
    assert_int_equal(auth_token_create(a, "fay", "t", "read", 0, &secret, &t, &err), 0);
    int64_t id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(t, "id"));
    cJSON_Delete(t);
    snprintf(h, sizeof h, "Bearer %s", secret);
    struct auth_user u;
    assert_int_equal(auth_header(a, h, &u, &err), 0); /* now cached */
    const struct auth_perm *p = NULL;
    assert_int_equal(auth_permission(a, &u, AUTH_KIND_DEPLOYMENT, "d1", &p, &err), 0);
    assert_string_equal(p->name, "READ"); /* the default, cached as "none stored" */
    assert_int_equal(store_auth_token_delete(f->st, "fay", id, &err), 0);
    assert_int_equal(store_auth_perm_set(f->st, AUTH_KIND_DEPLOYMENT, "d1", "fay", "USE",
                                         STORE_AUTH_PUT, &err),
                     0);
    struct timespec wait = {1, 100 * 1000 * 1000}; /* AUTH_CACHE_MS and a margin */
    nanosleep(&wait, NULL);
    assert_int_equal(auth_header(a, h, &u, &err), -CAP_EUNAUTH);
    assert_int_equal(auth_permission(a, &u, AUTH_KIND_DEPLOYMENT, "d1", &p, &err), 0);
    assert_string_equal(p->name, "USE");
    free(secret);
    auth_close(a);
}

static void test_tokens(void **state)
{
    struct fixture_store *f = *state;
    struct auth *a = open_auth(f->st);
    struct cap_error err = {0};
    char *secret = NULL;
    cJSON *t = NULL;
    assert_int_equal(auth_user_create(a, "dan", "pw-dan-1", false, NULL, &err), 0);
    assert_int_equal(auth_token_create(a, "dan", "ci", NULL, 0, &secret, &t, &err), 0);
    assert_true(strncmp(secret, AUTH_TOKEN_PREFIX, strlen(AUTH_TOKEN_PREFIX)) == 0);
    int64_t id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(t, "id"));
    cJSON_Delete(t);
    char h[256];
    snprintf(h, sizeof h, "Bearer %s", secret);
    struct auth_user u;
    assert_int_equal(auth_header(a, h, &u, &err), 0);
    assert_string_equal(u.username, "dan");
    assert_false(u.is_admin);
    assert_int_equal(u.scope, AUTH_TOKEN_WRITE); /* no scope: all the user may */
    h[strlen(h) - 1] ^= 1; /* one character off */
    assert_int_equal(auth_header(a, h, &u, &err), -CAP_EUNAUTH);
    assert_int_equal(auth_header(a, "Bearer ", &u, &err), -CAP_EUNAUTH);
    assert_int_equal(auth_header(a, "Bearer capstan_", &u, &err), -CAP_EUNAUTH);
    char *none = (char *)"unset";
    assert_int_equal(auth_token_create(a, "dan", "", NULL, 0, &none, NULL, &err), -CAP_EINVAL);
    assert_int_equal(auth_token_create(a, "dan", "x", NULL, -1, &none, NULL, &err), -CAP_EINVAL);
    assert_int_equal(auth_token_create(a, "nobody", "x", NULL, 0, &none, NULL, &err),
                     -CAP_ENOTFOUND);
    static const char *const bad_scopes[] = {"", "admin", "READ", "infer:", "infer:.x",
                                             "infer:a/b", "infer:a b"};
    for (size_t i = 0; i < sizeof bad_scopes / sizeof *bad_scopes; i++) {
        assert_int_equal(auth_token_create(a, "dan", "x", bad_scopes[i], 0, &none, NULL, &err),
                         -CAP_EINVAL);
        assert_non_null(strstr(err.msg, "scope"));
    }
    assert_null(none);
    /* an expired token: stored (as its BLAKE2b-256 hex, the rule auth.c
     * keeps) with an expiry in the past */
    const char *old = AUTH_TOKEN_PREFIX "expired-token-for-the-test";
    unsigned char d[32];
    char hex[65];
    crypto_generichash(d, sizeof d, (const unsigned char *)old, strlen(old), NULL, 0);
    sodium_bin2hex(hex, sizeof hex, d, sizeof d);
    int64_t oid = 0;
    assert_int_equal(store_auth_token_create(f->st, "dan", "old", hex, "write", 1, 2, &oid, &err), 0);
    snprintf(h, sizeof h, "Bearer %s", old);
    assert_int_equal(auth_header(a, h, &u, &err), -CAP_EUNAUTH);
    cJSON *list = NULL;
    assert_int_equal(auth_token_list(a, "dan", &list, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 2);
    cJSON_Delete(list);
    /* revoked: the token no longer signs in; a user's deletion takes the rest */
    assert_int_equal(auth_token_delete(a, "dan", id, &err), 0);
    assert_int_equal(auth_token_delete(a, "dan", id, &err), -CAP_ENOTFOUND);
    snprintf(h, sizeof h, "Bearer %s", secret);
    assert_int_equal(auth_header(a, h, &u, &err), -CAP_EUNAUTH);
    assert_int_equal(auth_user_delete(a, "dan", &err), 0);
    assert_int_equal(auth_user_create(a, "dan", "pw-dan-2", false, NULL, &err), 0);
    assert_int_equal(auth_token_list(a, "dan", &list, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 0);
    cJSON_Delete(list);
    free(secret);
    auth_close(a);
}

/* The database file holds hash strings, never the password. */
static void test_no_plain_password_on_disk(void **state)
{
    struct fixture_store *f = *state;
    struct auth *a = open_auth(f->st);
    struct cap_error err = {0};
    assert_int_equal(auth_user_create(a, "carol", "Plain-Text-Canary-7", false, NULL, &err), 0);
    auth_close(a);
    store_close(f->st);
    bool hashed = false;
    for (const char *suffix = ""; suffix; suffix = *suffix ? NULL : "-wal") {
        char path[400];
        snprintf(path, sizeof path, "%s%s", f->db, suffix);
        FILE *fp = fopen(path, "rb");
        if (!fp)
            continue;
        char *db = cap_xmalloc(1 << 24);
        size_t n = fread(db, 1, 1 << 24, fp);
        fclose(fp);
        assert_null(memmem(db, n, "Plain-Text-Canary-7", 19));
        hashed = hashed || memmem(db, n, "$argon2id$", 10);
        free(db);
    }
    assert_true(hashed);
    f->st = fixture_store_open(f->db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refuses_without_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_basic_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_scopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_servers_changes_count_after_the_cache_time,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_plain_password_on_disk, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
