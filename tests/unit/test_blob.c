/* test_blob.c - the local-filesystem artifact store: round trips, listing,
 * deletion, atomic writes, and every traversal form we know of. Each test runs
 * twice: once resolving paths with openat2 (when the kernel has it) and once
 * with the portable walk. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob/blob.h"
#include "tests/unit/fixture.h"

struct fx {
    char tmp[256];          /* scratch directory, removed at teardown */
    char root[PATH_MAX];    /* the artifact root (tmp/data/artifacts) */
    char out[PATH_MAX];     /* a directory outside the root (tmp/outside) */
    struct blob *b;
};

static const int MODE_OPENAT2 = 1, MODE_WALK = 0;

static void write_host_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static bool host_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int setup(void **state)
{
    int mode = **(int **)state;
    struct fx *fx = calloc(1, sizeof *fx);
    if (!fixture_tmpdir(fx->tmp, sizeof fx->tmp, "blob"))
        return -1;
    snprintf(fx->root, sizeof fx->root, "%s/data/artifacts", fx->tmp);
    snprintf(fx->out, sizeof fx->out, "%s/outside", fx->tmp);
    if (mkdir(fx->out, 0755) < 0)
        return -1;
    char secret[PATH_MAX + 16];
    snprintf(secret, sizeof secret, "%s/secret", fx->out);
    write_host_file(secret, "top secret\n");
    struct cap_error err = {0};
    if (blob_open(fx->root, &fx->b, &err) < 0) {
        print_error("blob_open: %s\n", err.msg);
        return -1;
    }
    if (mode == MODE_WALK)
        assert_int_equal(blob_set_openat2(fx->b, 0), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    blob_close(fx->b);
    fixture_rm_rf(fx->tmp);
    free(fx);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static int put(struct blob *b, const char *path, const void *data, size_t n,
               struct cap_error *err)
{
    struct blob_writer *w;
    int rc = blob_write_open(b, path, &w, err);
    if (rc < 0)
        return rc;
    if ((rc = blob_write(w, data, n, err)) < 0) {
        blob_write_abort(w);
        return rc;
    }
    return blob_write_commit(w, err);
}

static void put_ok(struct blob *b, const char *path, const char *text)
{
    struct cap_error err = {0};
    int rc = put(b, path, text, strlen(text), &err);
    if (rc)
        print_error("put %s: %s\n", path, err.msg);
    assert_int_equal(rc, 0);
}

/* Reads the whole artifact (small files only) into a malloc'ed string. */
static char *get(struct blob *b, const char *path)
{
    struct cap_error err = {0};
    int fd;
    uint64_t size;
    int rc = blob_open_read(b, path, &fd, &size, &err);
    if (rc)
        print_error("get %s: %s\n", path, err.msg);
    assert_int_equal(rc, 0);
    char *buf = malloc(size + 1);
    size_t got = 0;
    ssize_t k;
    while ((k = read(fd, buf + got, size - got)) > 0)
        got += (size_t)k;
    assert_int_equal(got, size);
    close(fd);
    buf[size] = '\0';
    return buf;
}

static void get_eq(struct blob *b, const char *path, const char *want)
{
    char *s = get(b, path);
    assert_string_equal(s, want);
    free(s);
}

static cJSON *list_ok(struct blob *b, const char *path)
{
    struct cap_error err = {0};
    cJSON *arr = NULL;
    int rc = blob_list(b, path, &arr, &err);
    if (rc)
        print_error("list %s: %s\n", path, err.msg);
    assert_int_equal(rc, 0);
    assert_true(cJSON_IsArray(arr));
    return arr;
}

/* Checks a listing against "name:size" / "name/" entries, in order. */
static void list_is(struct blob *b, const char *path, const char *const *want, int n)
{
    cJSON *arr = list_ok(b, path);
    if (cJSON_GetArraySize(arr) != n) {
        char *s = cJSON_Print(arr);
        print_error("list '%s' = %s\n", path, s);
        free(s);
    }
    assert_int_equal(cJSON_GetArraySize(arr), n);
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_GetArrayItem(arr, i);
        const char *name = cJSON_GetObjectItem(e, "path")->valuestring;
        cJSON *isdir = cJSON_GetObjectItem(e, "is_dir");
        cJSON *size = cJSON_GetObjectItem(e, "file_size");
        char got[512];
        assert_true(cJSON_IsBool(isdir));
        if (cJSON_IsTrue(isdir)) {
            assert_null(size);
            snprintf(got, sizeof got, "%s/", name);
        } else {
            assert_true(cJSON_IsNumber(size));
            snprintf(got, sizeof got, "%s:%.0f", name, size->valuedouble);
        }
        assert_string_equal(got, want[i]);
    }
    cJSON_Delete(arr);
}

/* Expects call (which reports into e_) to fail with want and a message
 * containing frag. */
#define EXPECT_ERR(call, want, frag)                                                              \
    do {                                                                                          \
        struct cap_error e_ = {0};                                                                \
        int rc_ = (call);                                                                         \
        if (rc_ != -(want) || !strstr(e_.msg, frag))                                              \
            print_error("%s: rc %d msg '%s', wanted '%s'\n", #call, rc_, e_.msg, frag);           \
        assert_int_equal(rc_, -(want));                                                           \
        assert_int_equal(e_.code, want);                                                          \
        assert_non_null(strstr(e_.msg, frag));                                                    \
    } while (0)

/* ---- tests -------------------------------------------------------------- */

static void test_open_creates_root(void **state)
{
    struct fx *fx = *state;
    struct stat st;
    assert_int_equal(stat(fx->root, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    char real[PATH_MAX];
    assert_non_null(realpath(fx->root, real));
    assert_string_equal(blob_root(fx->b), real);
    /* opening an existing root again works */
    struct blob *b2;
    struct cap_error err = {0};
    assert_int_equal(blob_open(fx->root, &b2, &err), 0);
    blob_close(b2);
    EXPECT_ERR(blob_open("", &b2, &e_), CAP_EINVAL, "must not be empty");
    char file[PATH_MAX + 16];
    snprintf(file, sizeof file, "%s/outside/secret", fx->tmp);
    EXPECT_ERR(blob_open(file, &b2, &e_), CAP_EINTERNAL, "artifact root");
}

static void test_roundtrip(void **state)
{
    struct fx *fx = *state;
    put_ok(fx->b, "a.txt", "hello\n");
    put_ok(fx->b, "1/abc/artifacts/model/MLmodel", "artifact_path: model\n");
    put_ok(fx->b, "empty", "");
    put_ok(fx->b, "name with spaces & 100% (x).txt", "odd");
    get_eq(fx->b, "a.txt", "hello\n");
    get_eq(fx->b, "1/abc/artifacts/model/MLmodel", "artifact_path: model\n");
    get_eq(fx->b, "empty", "");
    get_eq(fx->b, "name with spaces & 100% (x).txt", "odd");

    /* binary content with NULs is byte-identical */
    unsigned char bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (unsigned char)i;
    struct cap_error err = {0};
    assert_int_equal(put(fx->b, "bin/all.bytes", bin, sizeof bin, &err), 0);
    int fd;
    uint64_t size;
    assert_int_equal(blob_open_read(fx->b, "bin/all.bytes", &fd, &size, &err), 0);
    assert_int_equal(size, 256);
    unsigned char back[300];
    assert_int_equal(read(fd, back, sizeof back), 256);
    close(fd);
    assert_memory_equal(back, bin, 256);

    /* and it lies where the path says, under the root */
    char host[PATH_MAX * 2];
    snprintf(host, sizeof host, "%s/1/abc/artifacts/model/MLmodel", fx->root);
    assert_true(host_exists(host));
}

static void test_large_file_chunks(void **state)
{
    struct fx *fx = *state;
    const size_t total = 5 * 1024 * 1024 + 123;
    unsigned char *data = malloc(total);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < total; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    struct cap_error err = {0};
    struct blob_writer *w;
    assert_int_equal(blob_write_open(fx->b, "big/model.onnx", &w, &err), 0);
    size_t off = 0, chunk = 1;
    while (off < total) {
        size_t n = chunk < total - off ? chunk : total - off;
        assert_int_equal(blob_write(w, data + off, n, &err), 0);
        off += n;
        chunk = chunk * 3 + 7 > 300000 ? 4096 + (chunk % 777) : chunk * 3 + 7;
    }
    assert_int_equal(blob_write_commit(w, &err), 0);

    int fd;
    uint64_t size;
    assert_int_equal(blob_open_read(fx->b, "big/model.onnx", &fd, &size, &err), 0);
    assert_int_equal(size, total);
    unsigned char buf[65536];
    off = 0;
    ssize_t k;
    while ((k = read(fd, buf, sizeof buf)) > 0) {
        assert_true(off + (size_t)k <= total);
        assert_memory_equal(buf, data + off, (size_t)k);
        off += (size_t)k;
    }
    close(fd);
    assert_int_equal(off, total);
    free(data);

    const char *want[] = {"model.onnx:5243003"};
    list_is(fx->b, "big", want, 1);
}

static void test_list(void **state)
{
    struct fx *fx = *state;
    put_ok(fx->b, "run/artifacts/b.txt", "bb");
    put_ok(fx->b, "run/artifacts/a.txt", "a");
    put_ok(fx->b, "run/artifacts/model/MLmodel", "m");
    put_ok(fx->b, "run/artifacts/Z", "zzz");
    put_ok(fx->b, "run/artifacts/model/sub/x", "x");
    const char *want[] = {"Z:3", "a.txt:1", "b.txt:2", "model/"};
    list_is(fx->b, "run/artifacts", want, 4);
    list_is(fx->b, "run/artifacts/", want, 4);
    const char *want_model[] = {"MLmodel:1", "sub/"};
    list_is(fx->b, "run/artifacts/model", want_model, 2);
    const char *want_root[] = {"run/"};
    list_is(fx->b, "", want_root, 1);
    list_is(fx->b, NULL, want_root, 1);
    /* a file or a missing path lists as empty */
    list_is(fx->b, "run/artifacts/a.txt", NULL, 0);
    list_is(fx->b, "run/missing", NULL, 0);
    list_is(fx->b, "run/artifacts/a.txt/below", NULL, 0);
    list_is(fx->b, "nothing/at/all", NULL, 0);
}

static void test_overwrite(void **state)
{
    struct fx *fx = *state;
    put_ok(fx->b, "x/f", "first version, longer");
    put_ok(fx->b, "x/f", "second");
    get_eq(fx->b, "x/f", "second");
    const char *want[] = {"f:6"};
    list_is(fx->b, "x", want, 1);
}

static int count_host_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_abort_and_temp_files(void **state)
{
    struct fx *fx = *state;
    struct cap_error err = {0};
    struct blob_writer *w;
    assert_int_equal(blob_write_open(fx->b, "d/partial.bin", &w, &err), 0);
    assert_int_equal(blob_write(w, "abc", 3, &err), 0);
    /* while the upload is in flight, its temporary file is hidden */
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/d", fx->root);
    assert_int_equal(count_host_entries(dir), 1);
    list_is(fx->b, "d", NULL, 0);
    int fd;
    uint64_t size;
    EXPECT_ERR(blob_open_read(fx->b, "d/partial.bin", &fd, &size, &e_), CAP_ENOTFOUND,
               "No artifact at 'd/partial.bin'");
    blob_write_abort(w);
    assert_int_equal(count_host_entries(dir), 0);
    list_is(fx->b, "d", NULL, 0);

    /* an aborted overwrite leaves the old file intact */
    put_ok(fx->b, "d/keep", "old");
    assert_int_equal(blob_write_open(fx->b, "d/keep", &w, &err), 0);
    assert_int_equal(blob_write(w, "new!", 4, &err), 0);
    blob_write_abort(w);
    get_eq(fx->b, "d/keep", "old");
    assert_int_equal(count_host_entries(dir), 1);
    blob_write_abort(NULL);
}

static void test_read_errors(void **state)
{
    struct fx *fx = *state;
    int fd = 123;
    uint64_t size;
    put_ok(fx->b, "dir/file", "x");
    EXPECT_ERR(blob_open_read(fx->b, "missing", &fd, &size, &e_), CAP_ENOTFOUND,
               "No artifact at 'missing'");
    assert_int_equal(fd, -1);
    EXPECT_ERR(blob_open_read(fx->b, "dir", &fd, &size, &e_), CAP_ENOTFOUND,
               "No artifact at 'dir'");
    EXPECT_ERR(blob_open_read(fx->b, "dir/file/x", &fd, &size, &e_), CAP_ENOTFOUND,
               "No artifact");
    EXPECT_ERR(blob_open_read(fx->b, "", &fd, &size, &e_), CAP_EINVAL, "must not be empty");
    /* a FIFO is not a regular file, and opening it must not hang */
    char fifo[PATH_MAX + 16];
    snprintf(fifo, sizeof fifo, "%s/dir/fifo", fx->root);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    EXPECT_ERR(blob_open_read(fx->b, "dir/fifo", &fd, &size, &e_), CAP_ENOTFOUND,
               "No artifact");
    const char *want[] = {"file:1"};
    list_is(fx->b, "dir", want, 1);
}

static void test_write_conflicts(void **state)
{
    struct fx *fx = *state;
    struct blob_writer *w;
    put_ok(fx->b, "f", "file");
    put_ok(fx->b, "dir/inner", "i");
    EXPECT_ERR(blob_write_open(fx->b, "f/g", &w, &e_), CAP_EINVAL,
               "a component of the path exists and is not a directory");
    EXPECT_ERR(blob_write_open(fx->b, "f/g/h", &w, &e_), CAP_EINVAL, "is not a directory");
    EXPECT_ERR(blob_write_open(fx->b, "dir", &w, &e_), CAP_EINVAL,
               "a directory exists at that path");
    EXPECT_ERR(blob_write_open(fx->b, "newdir/", &w, &e_), CAP_EINVAL,
               "a file path must not end with '/'");
    EXPECT_ERR(blob_write_open(fx->b, "", &w, &e_), CAP_EINVAL, "must not be empty");
    get_eq(fx->b, "f", "file");
}

static void test_delete(void **state)
{
    struct fx *fx = *state;
    put_ok(fx->b, "r/a.txt", "a");
    put_ok(fx->b, "r/t/1", "1");
    put_ok(fx->b, "r/t/sub/2", "2");
    put_ok(fx->b, "r/t/sub/deeper/3", "3");
    struct cap_error err = {0};
    assert_int_equal(blob_delete(fx->b, "r/a.txt", &err), 0);
    int fd;
    uint64_t size;
    EXPECT_ERR(blob_open_read(fx->b, "r/a.txt", &fd, &size, &e_), CAP_ENOTFOUND, "No artifact");
    const char *want[] = {"t/"};
    list_is(fx->b, "r", want, 1);
    assert_int_equal(blob_delete(fx->b, "r/t/", &err), 0);
    list_is(fx->b, "r", NULL, 0);
    EXPECT_ERR(blob_delete(fx->b, "r/t", &e_), CAP_ENOTFOUND, "No artifact at 'r/t'");
    EXPECT_ERR(blob_delete(fx->b, "nope/x", &e_), CAP_ENOTFOUND, "No artifact");
    EXPECT_ERR(blob_delete(fx->b, "", &e_), CAP_EINVAL, "must not be empty");
    assert_int_equal(blob_delete(fx->b, "r", &err), 0);
    list_is(fx->b, "", NULL, 0);
    assert_true(host_exists(fx->root));
}

/* Every lexical traversal form, refused by the check and by each operation. */
static void test_traversal_refused(void **state)
{
    struct fx *fx = *state;
    static const struct {
        const char *path, *frag;
    } bad[] = {
        {"../x", "'..' segments are not allowed"},
        {"..", "'..' segments are not allowed"},
        {"a/../../x", "'..' segments"},
        {"a/..", "'..' segments"},
        {"/etc/passwd", "absolute paths are not allowed"},
        {"/", "absolute paths"},
        {"a\\..\\b", "backslashes are not allowed"},
        {"..\\x", "backslashes"},
        {"%2e%2e/x", "percent-encoded sequences ('%XX') are not allowed"},
        {"%2E%2E/x", "percent-encoded"},
        {"%252e%252e/x", "percent-encoded"},
        {"a/%2F..", "percent-encoded"},
        {"a/%5c..", "percent-encoded"},
        {"..%2f", "percent-encoded"},
        {"a/./b", "'.' segments are not allowed"},
        {".", "'.' segments"},
        {"./a", "'.' segments"},
        {"a//b", "empty path segments"},
        {"a//", "empty path segments"},
        {"a\tb", "control characters are not allowed"},
        {"a\x7f", "control characters"},
        {"a\nb", "control characters"},
        {"\xc0\xae\xc0\xae/x", "not well-formed UTF-8"},   /* overlong '..' */
        {"a/\xff", "not well-formed UTF-8"},
        {"a/\xed\xa0\x80", "not well-formed UTF-8"},         /* a surrogate */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p = bad[i].path;
        struct blob_writer *w = NULL;
        int fd;
        uint64_t size;
        cJSON *arr = NULL;
        EXPECT_ERR(blob_check_path(p, 1, &e_), CAP_EINVAL, bad[i].frag);
        EXPECT_ERR(blob_check_path(p, 1, &e_), CAP_EINVAL, "Invalid artifact path '");
        EXPECT_ERR(blob_write_open(fx->b, p, &w, &e_), CAP_EINVAL, bad[i].frag);
        assert_null(w);
        EXPECT_ERR(blob_open_read(fx->b, p, &fd, &size, &e_), CAP_EINVAL, bad[i].frag);
        EXPECT_ERR(blob_list(fx->b, p, &arr, &e_), CAP_EINVAL, bad[i].frag);
        assert_null(arr);
        EXPECT_ERR(blob_delete(fx->b, p, &e_), CAP_EINVAL, bad[i].frag);
    }
    /* a message shows control characters escaped */
    EXPECT_ERR(blob_check_path("a\nb", 0, &e_), CAP_EINVAL, "'a\\x0ab'");
    /* NUL inside a decoded path, with an explicit length */
    const char nul[] = {'a', '\0', '/', '.', '.'};
    EXPECT_ERR(blob_check_pathn(nul, sizeof nul, 0, &e_), CAP_EINVAL,
               "NUL characters are not allowed");
    EXPECT_ERR(blob_check_pathn(nul, sizeof nul, 0, &e_), CAP_EINVAL, "'a\\x00/..'");
    /* empty: only where allowed */
    EXPECT_ERR(blob_check_path("", 0, &e_), CAP_EINVAL, "must not be empty");
    assert_int_equal(blob_check_path("", 1, NULL), 0);
    assert_int_equal(blob_check_pathn("x", 0, 1, NULL), 0);
    /* over-long */
    char longseg[300];
    memset(longseg, 's', sizeof longseg - 1);
    longseg[sizeof longseg - 1] = '\0';
    EXPECT_ERR(blob_check_path(longseg, 0, &e_), CAP_EINVAL, "longer than 255 bytes");
    char *longpath = malloc(5000);
    for (int i = 0; i < 2500; i++)
        memcpy(longpath + 2 * i, "a/", 2);
    longpath[4999] = 'a';
    longpath[4999] = '\0';
    EXPECT_ERR(blob_check_path(longpath, 0, &e_), CAP_EINVAL, "longer than 4096 bytes");
    free(longpath);

    /* what is allowed */
    static const char *const good[] = {
        "a",        "a/b/c.txt", "a/",      "..a",  "a..",    "a/...", ".hidden",
        "100%",     "50% off",   "%zz",     "%2",   "a%",     "a b",   "ünïcödé/ファイル",
        "a-b_c.d~", "x:y",       "a'b\"c",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct cap_error err = {0};
        int rc = blob_check_path(good[i], 0, &err);
        if (rc)
            print_error("'%s': %s\n", good[i], err.msg);
        assert_int_equal(rc, 0);
    }
    put_ok(fx->b, "..a", "dots");
    get_eq(fx->b, "..a", "dots");
    put_ok(fx->b, "100%", "pct");
    get_eq(fx->b, "100%", "pct");
    /* nothing was created outside the root by any of this */
    assert_int_equal(count_host_entries(fx->out), 1);
    char parent[PATH_MAX + 8];
    snprintf(parent, sizeof parent, "%s/data", fx->tmp);
    assert_int_equal(count_host_entries(parent), 1);
}

/* Listing drops "." segments (the MLflow client lists "<dir>/." and then
 * "<dir>/./sub"); what is left is still checked, so '..' stays refused. */
static void test_list_path_dot_segments(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {".", ""},         {"./", ""},         {"a/.", "a"},      {"a/./b", "a/b"},
        {"./a/./b/.", "a/b"}, {"a/", "a/"},    {"", ""},          {"a/..", "a/.."},
        {"a/.//b", "a//b"}, {".a/b.", ".a/b."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = blob_list_path(cases[i][0]);
        assert_string_equal(got, cases[i][1]);
        free(got);
    }
    char *p = blob_list_path("x/./../y");
    EXPECT_ERR(blob_check_path(p, 1, &e_), CAP_EINVAL, "'..' segments are not allowed");
    free(p);
    p = blob_list_path("a/.//b");
    EXPECT_ERR(blob_check_path(p, 1, &e_), CAP_EINVAL, "empty path segments");
    free(p);
    /* outside listing, '.' is refused as before */
    EXPECT_ERR(blob_check_path("a/./b", 0, &e_), CAP_EINVAL, "'.' segments are not allowed");
}

static void make_link(struct fx *fx, const char *target, const char *name)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", fx->root, name);
    if (symlink(target, path) < 0)
        fail_msg("symlink %s -> %s: %s", path, target, strerror(errno));
}

static void test_symlinks_outside_refused(void **state)
{
    struct fx *fx = *state;
    char secret[PATH_MAX + 16];
    snprintf(secret, sizeof secret, "%s/secret", fx->out);
    put_ok(fx->b, "d/keep", "k");
    make_link(fx, fx->out, "abs");          /* absolute, to a temp dir outside */
    make_link(fx, "../../outside", "rel");  /* relative, climbing out */
    make_link(fx, "/etc", "etc");
    make_link(fx, secret, "secretlink");    /* a link to a file outside */
    make_link(fx, "../../../outside", "d/deep"); /* from a subdirectory */
    make_link(fx, "loop2", "loop1");
    make_link(fx, "loop1", "loop2");

    static const char *const links[] = {"abs", "rel", "etc", "d/deep"};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        char p[256];
        const char *file = strcmp(links[i], "etc") == 0 ? "passwd" : "secret";
        snprintf(p, sizeof p, "%s/%s", links[i], file);
        int fd = -1;
        uint64_t size;
        struct blob_writer *w = NULL;
        cJSON *arr = NULL;
        EXPECT_ERR(blob_open_read(fx->b, p, &fd, &size, &e_), CAP_EINVAL,
                   "resolves outside the artifact root");
        assert_int_equal(fd, -1);
        snprintf(p, sizeof p, "%s/new.txt", links[i]);
        EXPECT_ERR(blob_write_open(fx->b, p, &w, &e_), CAP_EINVAL, "resolves outside");
        assert_null(w);
        snprintf(p, sizeof p, "%s/newdir/new.txt", links[i]);
        EXPECT_ERR(blob_write_open(fx->b, p, &w, &e_), CAP_EINVAL, "resolves outside");
        EXPECT_ERR(blob_list(fx->b, links[i], &arr, &e_), CAP_EINVAL, "resolves outside");
        assert_null(arr);
        snprintf(p, sizeof p, "%s/%s", links[i], file);
        EXPECT_ERR(blob_delete(fx->b, p, &e_), CAP_EINVAL, "resolves outside");
        EXPECT_ERR(blob_delete(fx->b, links[i], &e_), CAP_EINVAL, "resolves outside");
    }
    int fd;
    uint64_t size;
    struct blob_writer *w = NULL;
    EXPECT_ERR(blob_open_read(fx->b, "secretlink", &fd, &size, &e_), CAP_EINVAL,
               "resolves outside");
    EXPECT_ERR(blob_write_open(fx->b, "secretlink", &w, &e_), CAP_EINVAL, "resolves outside");
    EXPECT_ERR(blob_delete(fx->b, "secretlink", &e_), CAP_EINVAL, "resolves outside");
    EXPECT_ERR(blob_open_read(fx->b, "loop1", &fd, &size, &e_), CAP_EINVAL,
               "too many levels of symbolic links");
    EXPECT_ERR(blob_open_read(fx->b, "loop1/x", &fd, &size, &e_), CAP_EINVAL, "symbolic links");

    /* the outside is untouched, the root's own listing hides links that leave */
    assert_int_equal(count_host_entries(fx->out), 1);
    assert_true(host_exists(secret));
    const char *want[] = {"d/"};
    list_is(fx->b, "", want, 1);
    const char *want_d[] = {"keep:1"};
    list_is(fx->b, "d", want_d, 1);
}

static void test_symlinks_inside_work(void **state)
{
    struct fx *fx = *state;
    struct cap_error err = {0};
    put_ok(fx->b, "real/dir/file.txt", "inside");
    make_link(fx, "real/dir", "in");            /* a directory link, relative */
    make_link(fx, "dir/file.txt", "real/f");    /* a file link */
    make_link(fx, "..", "real/dir/up");         /* back up, still inside */
    make_link(fx, "real/dir/up/dir", "twisty"); /* through another link */

    get_eq(fx->b, "in/file.txt", "inside");
    get_eq(fx->b, "real/f", "inside");
    get_eq(fx->b, "real/dir/up/dir/file.txt", "inside");
    get_eq(fx->b, "twisty/file.txt", "inside");
    put_ok(fx->b, "in/new.txt", "via link");
    get_eq(fx->b, "real/dir/new.txt", "via link");
    put_ok(fx->b, "in/sub/deeper.txt", "made below a link");
    get_eq(fx->b, "real/dir/sub/deeper.txt", "made below a link");

    const char *want_in[] = {"file.txt:6", "new.txt:8", "sub/", "up/"};
    list_is(fx->b, "in", want_in, 4);
    const char *want_root[] = {"in/", "real/", "twisty/"};
    list_is(fx->b, "", want_root, 3);

    assert_int_equal(blob_delete(fx->b, "in/new.txt", &err), 0);
    int fd;
    uint64_t size;
    EXPECT_ERR(blob_open_read(fx->b, "real/dir/new.txt", &fd, &size, &e_), CAP_ENOTFOUND,
               "No artifact");
    /* deleting a link removes the link, never what it points to */
    assert_int_equal(blob_delete(fx->b, "in", &err), 0);
    get_eq(fx->b, "real/dir/file.txt", "inside");
    /* writing over a file link replaces the link, not its target */
    put_ok(fx->b, "real/f", "replaced");
    get_eq(fx->b, "real/f", "replaced");
    get_eq(fx->b, "real/dir/file.txt", "inside");

    /* an absolute link is refused even when it points inside (one rule) */
    char abs[PATH_MAX * 2];
    snprintf(abs, sizeof abs, "%s/real", blob_root(fx->b));
    make_link(fx, abs, "absin");
    EXPECT_ERR(blob_open_read(fx->b, "absin/dir/file.txt", &fd, &size, &e_), CAP_EINVAL,
               "resolves outside");
    /* a dangling link inside reads as missing and lists as empty */
    make_link(fx, "real/nothing", "dangling");
    EXPECT_ERR(blob_open_read(fx->b, "dangling", &fd, &size, &e_), CAP_ENOTFOUND, "No artifact");
    list_is(fx->b, "dangling", NULL, 0);
    struct blob_writer *w;
    EXPECT_ERR(blob_write_open(fx->b, "dangling/x", &w, &e_), CAP_EINVAL, "not a directory");
    assert_int_equal(blob_delete(fx->b, "dangling", &err), 0);
    /* a tree holding links is deleted without following them */
    make_link(fx, "../../outside", "real/dir/out");
    assert_int_equal(blob_delete(fx->b, "real", &err), 0);
    assert_int_equal(count_host_entries(fx->out), 1);
}

#define BOTH(fn)                                                                                  \
    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&MODE_OPENAT2),         \
        cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&MODE_WALK)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_open_creates_root),
        BOTH(test_roundtrip),
        BOTH(test_large_file_chunks),
        BOTH(test_list),
        BOTH(test_overwrite),
        BOTH(test_abort_and_temp_files),
        BOTH(test_read_errors),
        BOTH(test_write_conflicts),
        BOTH(test_delete),
        BOTH(test_traversal_refused),
        BOTH(test_symlinks_outside_refused),
        BOTH(test_symlinks_inside_work),
        cmocka_unit_test(test_list_path_dot_segments),
    };
    return cmocka_run_group_tests_name("blob", tests, NULL, NULL);
}
