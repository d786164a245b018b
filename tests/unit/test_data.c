/* Unit tests of data/'s pieces: hashes and their text, the manifest's
 * canonical text (odd paths round-trip; malformed, unordered and escaping
 * paths are refused), references, the stat cache, and blob/'s writes by
 * content (an object is never replaced). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "blob/blob.h"
#include "data/data.h"
#include "data/intern.h"

static void test_hashes(void **state)
{
    struct data_hash h, back;
    struct cap_error err = {0};
    /* XXH3-128 of "" and MD5 of "abc", as their libraries' own tests give them. */
    data_hash_bytes(DATA_XXH128, "", 0, &h);
    char s[DATA_HASH_STR];
    data_hash_format(&h, s);
    assert_string_equal(s, "xxh128:99aa06d3014798d86001c324468d497f");
    data_hash_bytes(DATA_MD5, "abc", 3, &h);
    data_hash_format(&h, s);
    assert_string_equal(s, "md5:900150983cd24fb0d6963f7d28e17f72");
    assert_int_equal(data_hash_parse(s, &back, &err), 0);
    assert_true(data_hash_eq(&h, &back));
    char path[64];
    data_object_path(&h, path);
    assert_string_equal(path, "objects/md5/90/0150983cd24fb0d6963f7d28e17f72");
    static const char *const bad[] = {"", "md5:", "sha1:900150983cd24fb0d6963f7d28e17f72",
                                      "md5:900150983CD24FB0D6963F7D28E17F72",
                                      "md5:900150983cd24fb0d6963f7d28e17f7",
                                      "md5:900150983cd24fb0d6963f7d28e17f722"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(data_hash_parse(bad[i], &back, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "32 lowercase hex"));
}

static void test_manifest_roundtrip(void **state)
{
    struct data_manifest m = {0}, back;
    struct cap_error err = {0};
    static const char *const paths[] = {"z", "a b/\"quoted\"", "tab\there", "new\nline",
                                        "back\\slash", "\xff\xfe-not-utf8", "ünï/cödé", "a"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        struct data_hash h;
        data_hash_bytes(DATA_XXH128, paths[i], strlen(paths[i]), &h);
        data_manifest_push(&m, cap_xstrdup(paths[i]), i * 1000, &h, NULL);
    }
    assert_int_equal(data_manifest_sort(&m, &err), 0);
    size_t len;
    char *text = data_manifest_text(&m, &len);
    assert_int_equal(data_manifest_parse(text, len, &back, &err), 0);
    assert_int_equal(back.n, m.n);
    for (size_t i = 0; i < m.n; i++) {
        assert_string_equal(back.e[i].path, m.e[i].path);
        assert_int_equal(back.e[i].size, m.e[i].size);
        assert_true(data_hash_eq(&back.e[i].hash, &m.e[i].hash));
    }
    assert_non_null(data_manifest_find(&back, "new\nline"));
    assert_null(data_manifest_find(&back, "nope"));
    /* The same entries in any order give the same text, so the same hash. */
    struct data_manifest r = {0};
    for (size_t i = m.n; i-- > 0;)
        data_manifest_push(&r, cap_xstrdup(m.e[i].path), m.e[i].size, &m.e[i].hash, NULL);
    assert_int_equal(data_manifest_sort(&r, &err), 0);
    size_t len2;
    char *text2 = data_manifest_text(&r, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(text, text2, len);
    /* A path twice is refused. */
    data_manifest_push(&r, cap_xstrdup("a"), 1, &m.e[0].hash, NULL);
    assert_int_equal(data_manifest_sort(&r, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "'a' is listed twice"));
    free(text);
    free(text2);
    data_manifest_free(&m);
    data_manifest_free(&back);
    data_manifest_free(&r);
}

static void test_manifest_refusals(void **state)
{
    struct data_manifest m;
    struct cap_error err = {0};
    const char *h = "xxh128:99aa06d3014798d86001c324468d497f";
    char line[256];
    static const char *const bad[] = {
        "%s 1 \"../etc/passwd\"\n", "%s 1 \"/abs\"\n", "%s 1 \"a//b\"\n", "%s 1 \"a/./b\"\n",
        "%s 1 \"\"\n",  "%s x \"a\"\n", "%s 1 a\n", "%s 1 \"a\"", "%s 1 \"a\\q\"\n",
        "%s 1 \"a\\x00\"\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(line, sizeof line, bad[i], h);
        assert_int_equal(data_manifest_parse(line, strlen(line), &m, &err), -CAP_EINVAL);
        assert_non_null(strstr(err.msg, "line 1 is malformed"));
    }
    snprintf(line, sizeof line, "%s 1 \"b\"\n%s 2 \"a\"\n", h, h);
    assert_int_equal(data_manifest_parse(line, strlen(line), &m, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "line 2 is out of order"));
    assert_true(data_path_ok("a/b.c") && !data_path_ok("a/") && !data_path_ok(".."));
}

static void test_refs(void **state)
{
    char name[129];
    int64_t v;
    const char *tag;
    struct cap_error err = {0};
    assert_int_equal(data_ref_parse("iris", name, &v, &tag, &err), 0);
    assert_string_equal(name, "iris");
    assert_true(v == 0 && tag == NULL);
    assert_int_equal(data_ref_parse("iris@12", name, &v, &tag, &err), 0);
    assert_int_equal(v, 12);
    assert_int_equal(data_ref_parse("iris@stage=prod", name, &v, &tag, &err), 0);
    assert_string_equal(tag, "stage=prod");
    static const char *const bad[] = {"", "@1", "ir is", "iris@", "iris@0", "iris@-1",
                                      "iris@1x", "iris@=v", ".hidden", "-x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(data_ref_parse(bad[i], name, &v, &tag, &err), -CAP_EINVAL);
    char long_name[140];
    memset(long_name, 'a', 129);
    long_name[129] = '\0';
    assert_false(data_name_ok(long_name));
    long_name[128] = '\0';
    assert_true(data_name_ok(long_name));
}

static void test_statcache(void **state)
{
    char dir[] = "/tmp/capstan-statcache-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[128], cache[128];
    snprintf(file, sizeof file, "%s/f", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    FILE *f = fopen(file, "w");
    fputs("hello", f);
    fclose(f);
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    struct data_hash x, m, gx, gm;
    data_hash_bytes(DATA_XXH128, "hello", 5, &x);
    struct data_statcache *sc = data_statcache_load(cache); /* missing: empty */
    assert_false(data_statcache_get(sc, &st, false, &gx, &gm));
    data_statcache_put(sc, &st, &x, NULL);
    struct cap_error err = {0};
    assert_int_equal(data_statcache_save(sc, cache, &err), 0);
    data_statcache_free(sc);
    sc = data_statcache_load(cache);
    assert_true(data_statcache_get(sc, &st, false, &gx, &gm));
    assert_true(data_hash_eq(&gx, &x) && gm.algo == 0);
    assert_false(data_statcache_get(sc, &st, true, &gx, &gm)); /* no md5 cached */
    struct stat changed = st;
    changed.st_ctim.tv_nsec ^= 1;
    assert_false(data_statcache_get(sc, &changed, false, &gx, &gm));
    data_hash_bytes(DATA_MD5, "hello", 5, &m);
    data_statcache_put(sc, &st, &x, &m);
    assert_true(data_statcache_get(sc, &st, true, &gx, &gm));
    assert_true(data_hash_eq(&gm, &m));
    data_statcache_free(sc);
    /* A foreign file is an empty cache. */
    f = fopen(cache, "w");
    fputs("not a cache", f);
    fclose(f);
    sc = data_statcache_load(cache);
    assert_false(data_statcache_get(sc, &st, false, &gx, &gm));
    data_statcache_free(sc);
    unlink(file);
    unlink(cache);
    rmdir(dir);
}

static void test_blob_by_content(void **state)
{
    char dir[] = "/tmp/capstan-cas-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct blob *b;
    struct cap_error err = {0};
    assert_int_equal(blob_open(dir, &b, &err), 0);
    struct blob_writer *w;
    assert_int_equal(blob_write_open_anon(b, "objects/tmp", false, &w, &err), 0);
    assert_int_equal(blob_write(w, "first", 5, &err), 0);
    assert_int_equal(blob_write_commit_as(w, "objects/x/ab/cd", true, &err), 0);
    assert_int_equal(blob_write_open_anon(b, "objects/tmp", false, &w, &err), 0);
    assert_int_equal(blob_write(w, "second", 6, &err), 0);
    assert_int_equal(blob_write_commit_as(w, "objects/x/ab/cd", false, &err), 1); /* kept */
    /* A direct writer takes aligned blocks, then an unaligned tail. */
    void *blk;
    assert_int_equal(posix_memalign(&blk, 4096, 8192), 0);
    memset(blk, 'z', 8192);
    assert_int_equal(blob_write_open_anon(b, "objects/tmp", true, &w, &err), 0);
    assert_int_equal(blob_write(w, blk, 8192, &err), 0);
    assert_int_equal(blob_write(w, blk, 100, &err), 0);
    assert_int_equal(blob_write_commit_as(w, "objects/x/ab/big", false, &err), 0);
    free(blk);
    uint64_t size = 0;
    assert_int_equal(blob_exists(b, "objects/x/ab/big", &size, &err), 1);
    assert_int_equal(size, 8292);
    assert_int_equal(blob_exists(b, "objects/x/ab/cd", &size, &err), 1);
    assert_int_equal(size, 5);
    assert_int_equal(blob_exists(b, "objects/x/ab/none", NULL, &err), 0);
    assert_int_equal(blob_exists(b, "../escape", NULL, &err), -CAP_EINVAL);
    /* Nothing else is left in the temporary directory. */
    int n = 0;
    assert_int_equal(blob_sweep_tmp(b, "objects", &err), 0);
    cJSON *list;
    assert_int_equal(blob_list(b, "objects/tmp", &list, &err), 0);
    n = cJSON_GetArraySize(list);
    cJSON_Delete(list);
    assert_int_equal(n, 0);
    char out[128];
    snprintf(out, sizeof out, "%s/out", dir);
    mkdir(out, 0755);
    int ofd = open(out, O_RDONLY | O_DIRECTORY);
    char how = 0;
    assert_int_equal(blob_copy_out(b, "objects/x/ab/cd", ofd, "copy", true, &how, &err), 0);
    assert_true(how == 'r' || how == 'l' || how == 'c');
    assert_int_equal(blob_copy_out(b, "objects/x/ab/cd", ofd, "copy2", false, &how, &err), 0);
    assert_true(how == 'r' || how == 'c');
    close(ofd);
    struct stat st;
    snprintf(out, sizeof out, "%s/out/copy2", dir);
    assert_int_equal(stat(out, &st), 0);
    assert_int_equal(st.st_size, 5);
    assert_int_equal(blob_delete(b, "objects", &err), 0);
    blob_close(b);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hashes),         cmocka_unit_test(test_manifest_roundtrip),
        cmocka_unit_test(test_manifest_refusals), cmocka_unit_test(test_refs),
        cmocka_unit_test(test_statcache),      cmocka_unit_test(test_blob_by_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
