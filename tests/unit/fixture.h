/* fixture.h - what the unit tests share: a scratch directory under $TMPDIR
 * that teardown removes, and a SQLite store opened in one. Header-only
 * (static inline), as each test binary is one source file; included after
 * cmocka.h. */
#ifndef CAP_TESTS_FIXTURE_H
#define CAP_TESTS_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"

/* Makes <$TMPDIR or /tmp>/capstan-<tag>-XXXXXX into dir; false on failure. */
static inline bool fixture_tmpdir(char *dir, size_t n, const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    int w = snprintf(dir, n, "%s/capstan-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    return w > 0 && (size_t)w < n && mkdtemp(dir) != NULL;
}

static inline int fixture_rm_one(const char *path, const struct stat *st, int flag,
                                 struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes a tree (depth first, links not followed); fails the test when
 * something is left. */
static inline void fixture_rm_rf(const char *dir)
{
    assert_int_equal(nftw(dir, fixture_rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* Opens the store at uri (a path or sqlite:///path) or fails the test. */
static inline struct store *fixture_store_open(const char *uri)
{
    struct store_config cfg = {.uri = uri, .artifact_prefix = "mlflow-artifacts:"};
    struct store *st = NULL;
    struct cap_error err = {0};
    if (store_open(&cfg, &st, &err) != 0)
        fail_msg("store_open(%s): %s", uri, err.msg);
    return st;
}

/* A store in a scratch directory, the state of the store-backed tests. */
struct fixture_store {
    char dir[256];
    char db[300];
    struct store *st;
};

/* cmocka setup: db_rel is the database's path under the directory
 * ("capstan.db", "sub/dir/capstan.db": missing parents are made); as_uri
 * opens it as sqlite:///path instead of by its path. */
static inline int fixture_store_setup(void **state, const char *tag, const char *db_rel,
                                      bool as_uri)
{
    struct fixture_store *f = calloc(1, sizeof *f);
    if (!f || !fixture_tmpdir(f->dir, sizeof f->dir, tag)) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof f->db, "%s/%s", f->dir, db_rel);
    char uri[400];
    snprintf(uri, sizeof uri, "%s%s", as_uri ? "sqlite:///" : "", f->db);
    f->st = fixture_store_open(uri);
    *state = f;
    return 0;
}

static inline int fixture_store_teardown(void **state)
{
    struct fixture_store *f = *state;
    store_close(f->st);
    fixture_rm_rf(f->dir);
    free(f);
    return 0;
}

#endif
