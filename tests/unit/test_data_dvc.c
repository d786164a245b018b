/* test_data_dvc.c - data/dvc.h: .dvc files parsed and refused with the
 * line and column, written as `dvc add` writes them; .dir manifests written
 * byte for byte as DVC does and read back; objects put into and found in a
 * cache's two layouts. The expected texts are what dvc 3.67.1 (and 2.58.2
 * for the legacy ones) wrote for the same trees; test_dvc_formats.py checks
 * the same against the real dvc on every run. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob/blob.h"
#include "data/dvc.h"
#include "tests/unit/fixture.h"

/* dvc 3.67.1's `dvc add data` of this tree. */
static const struct {
    const char *path, *body, *md5;
} TREE[] = {
    {"a-b", "ab", "187ef4436122d1cc2f40dc2b92f0eba0"},
    {"a.txt", "hello\n", "b1946ac92492d2347c6235b4d2611184"},
    {"a/x", "q", "7694f4a66316e53c8cdd9d9954bd611d"},
    {"empty", "", "d41d8cd98f00b204e9800998ecf8427e"},
    {"sub/crlf.txt", "x\r\ny\r\n", "e20942bc0763636e19c18b95bb194501"},
    {"sub/deeper/z.bin", "deep", "6627415e807ee33c7302917216e7da68"},
    {"with space/\xc3\xbc \xc3\xb1.txt", "\xc3\xbc" "ber", "860828352d2d9e23a47335120b84fd9c"},
};
enum { NTREE = sizeof TREE / sizeof TREE[0] };
static const char TREE_DIR[] =
    "[{\"md5\": \"187ef4436122d1cc2f40dc2b92f0eba0\", \"relpath\": \"a-b\"}, "
    "{\"md5\": \"b1946ac92492d2347c6235b4d2611184\", \"relpath\": \"a.txt\"}, "
    "{\"md5\": \"7694f4a66316e53c8cdd9d9954bd611d\", \"relpath\": \"a/x\"}, "
    "{\"md5\": \"d41d8cd98f00b204e9800998ecf8427e\", \"relpath\": \"empty\"}, "
    "{\"md5\": \"e20942bc0763636e19c18b95bb194501\", \"relpath\": \"sub/crlf.txt\"}, "
    "{\"md5\": \"6627415e807ee33c7302917216e7da68\", \"relpath\": \"sub/deeper/z.bin\"}, "
    "{\"md5\": \"860828352d2d9e23a47335120b84fd9c\", \"relpath\": "
    "\"with space/\\u00fc \\u00f1.txt\"}]";
static const char TREE_DIR_MD5[] = "1c4b284999c00d39c10defca9ed17648";
static const char TREE_DVC[] = "outs:\n"
                               "- md5: 1c4b284999c00d39c10defca9ed17648.dir\n"
                               "  size: 24\n"
                               "  nfiles: 7\n"
                               "  hash: md5\n"
                               "  path: data\n";
/* dvc 2.58.2's `dvc add data` of a.txt, empty, sub/crlf.txt: no "hash",
 * and crlf.txt named by its md5-dos2unix. */
static const char LEGACY_DVC[] = "outs:\n"
                                 "- md5: 7a3178c2a6bf5d226423c6b050aa0770.dir\n"
                                 "  size: 12\n"
                                 "  nfiles: 3\n"
                                 "  path: data\n";
static const char LEGACY_DIR[] =
    "[{\"md5\": \"b1946ac92492d2347c6235b4d2611184\", \"relpath\": \"a.txt\"}, "
    "{\"md5\": \"d41d8cd98f00b204e9800998ecf8427e\", \"relpath\": \"empty\"}, "
    "{\"md5\": \"1b5bb282b8f8792875e3c4203cfa9c57\", \"relpath\": \"sub/crlf.txt\"}]";

static struct data_hash md5_of(const char *hex)
{
    char s[64];
    struct data_hash h;
    snprintf(s, sizeof s, "md5:%s", hex);
    assert_int_equal(data_hash_parse(s, &h, NULL), 0);
    return h;
}

static void tree_manifest(struct data_manifest *m)
{
    for (size_t i = 0; i < NTREE; i++) {
        struct data_hash h = md5_of(TREE[i].md5);
        data_manifest_push(m, strdup(TREE[i].path), strlen(TREE[i].body), &h, &h);
    }
}

static void write_file(const char *dir, const char *rel, const void *p, size_t n)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *s = strchr(path + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* ---- .dvc files ---- */

static void test_parse_dvc3_dir(void **state)
{
    struct data_dvc_file f;
    struct cap_error e = {0};
    assert_int_equal(data_dvc_parse("data.dvc", TREE_DVC, strlen(TREE_DVC), &f, &e), 0);
    assert_int_equal(f.n, 1);
    const struct data_dvc_out *o = &f.outs[0];
    assert_string_equal(o->path, "data");
    assert_true(o->is_dir && !o->legacy && o->cache);
    assert_int_equal(o->size, 24);
    assert_int_equal(o->nfiles, 7);
    struct data_hash want = md5_of(TREE_DIR_MD5);
    assert_true(data_hash_eq(&o->md5, &want));
    data_dvc_file_free(&f);
}

static void test_parse_legacy_and_extras(void **state)
{
    /* DVC 2: no "hash"; keys DVC may add (desc, meta, cache) are read or
     * passed over, and the top level may hold more than outs. */
    static const char text[] = "# comment\nmd5: 0123\nouts:\n- md5: 1b5bb282b8f8792875e3c4203cfa9c57\n"
                               "  size: 6\n  path: sub/crlf1.txt\n  desc: a file\n  cache: false\n"
                               "  meta: {owner: me}\n";
    struct data_dvc_file f;
    struct cap_error e = {0};
    assert_int_equal(data_dvc_parse("x.dvc", text, strlen(text), &f, &e), 0);
    const struct data_dvc_out *o = &f.outs[0];
    assert_string_equal(o->path, "sub/crlf1.txt");
    assert_true(!o->is_dir && o->legacy && !o->cache);
    assert_int_equal(o->size, 6);
    assert_int_equal(o->nfiles, -1);
    data_dvc_file_free(&f);
    assert_int_equal(data_dvc_parse("d.dvc", LEGACY_DVC, strlen(LEGACY_DVC), &f, &e), 0);
    assert_true(f.outs[0].is_dir && f.outs[0].legacy);
    data_dvc_file_free(&f);
}

static void test_parse_refusals(void **state)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"", "x.dvc: the file is empty, expected a mapping with 'outs'"},
        {"- a\n", "x.dvc:1:1: the file holds a list, expected a mapping with 'outs'"},
        {"md5: x\n", "x.dvc:1:1: no 'outs', expected a list of outputs"},
        {"outs: 3\n", "x.dvc:1:7: 'outs' is a scalar, expected a list of at least one output"},
        {"outs: []\n", "x.dvc:1:7: 'outs' is empty, expected a list"},
        {"outs:\n- 3\n", "x.dvc:2:3: an output is a scalar, expected a mapping"},
        {"outs:\n- size: 1\n  path: x\n", "x.dvc:2:3: the output 'x' has no 'md5'"},
        {"outs:\n- md5: 1234\n", "x.dvc:2:3: the output has no 'path', expected one"},
        {"outs:\n- md5: D41D8CD98F00B204E9800998ECF8427E\n  path: x\n",
         "x.dvc:2:8: 'md5' is 'D41D8CD98F00B204E9800998ECF8427E', expected 32 lowercase hex"},
        {"outs:\n- md5: d41d8cd98f00b204e9800998ecf8427e.tar\n  path: x\n",
         "x.dvc:2:8: 'md5' is 'd41d8cd98f00b204e9800998ecf8427e.tar'"},
        {"outs:\n- md5: d41d8cd98f00b204e9800998ecf8427e\n  hash: sha256\n  path: x\n",
         "x.dvc:3:9: 'hash' is 'sha256', expected 'md5' (DVC 3) or no 'hash' (DVC 2)"},
        {"outs:\n- md5: d41d8cd98f00b204e9800998ecf8427e\n  path: ../x\n",
         "x.dvc:3:9: 'path' is '../x', expected a relative path below"},
        {"outs:\n- md5: d41d8cd98f00b204e9800998ecf8427e\n  path: [x]\n",
         "x.dvc:3:9: 'path' is a list, expected a string"},
        {"outs:\n- md5: d41d8cd98f00b204e9800998ecf8427e\n  size: -1\n  path: x\n",
         "x.dvc:3:9: 'size' is '-1', expected a whole number"},
        {"outs:\n- md5: d41d8cd98f00b204e9800998ecf8427e\n  md5: d41d8cd98f00b204e9800998ecf8427e\n"
         "  path: x\n", "x.dvc:3:3: 'md5' is given twice, expected it once"},
        {"outs:\n- md5: d41d8cd98f00b204e9800998ecf8427e\n  cache: maybe\n  path: x\n",
         "x.dvc:3:10: 'cache' is 'maybe', expected true or false"},
        {"outs:\n- path: x\n  files:\n  - relpath: a\n    md5: d41d8cd98f00b204e9800998ecf8427e\n"
         "  md5: d41d8cd98f00b204e9800998ecf8427e.dir\n",
         "x.dvc:4:3: the output lists its files inline"},
        {"outs: [\n", "x.dvc:2:1: not valid YAML: did not find expected node content"},
        {"outs:\n  - md5: a\n bad: 1\n", "x.dvc:3:2: not valid YAML:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct data_dvc_file f;
        struct cap_error e = {0};
        int rc = data_dvc_parse("x.dvc", cases[i].text, strlen(cases[i].text), &f, &e);
        if (rc != -CAP_EINVAL || strncmp(e.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
            fail_msg("case %zu: rc %d, message '%s', expected '%s...'", i, rc, e.msg,
                     cases[i].msg);
        assert_int_equal(f.n, 0);
    }
}

static char *format(const char *path, const char *hex, bool is_dir, int64_t size,
                    int64_t nfiles)
{
    struct data_dvc_out o = {.path = (char *)path, .md5 = md5_of(hex), .is_dir = is_dir,
                             .size = size, .nfiles = nfiles};
    char *text;
    size_t len;
    struct cap_error e = {0};
    if (data_dvc_format(&o, &text, &len, &e) != 0)
        fail_msg("format '%s': %s", path, e.msg);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_format_as_dvc_writes(void **state)
{
    char *t = format("data", TREE_DIR_MD5, true, 24, 7);
    assert_string_equal(t, TREE_DVC);
    free(t);
    /* Quoted where YAML 1.2 reads another type or plain style is not
     * allowed, plain elsewhere: each as dvc 3.67.1 wrote it. */
    static const struct {
        const char *path, *line;
    } q[] = {
        {"\xc3\xbc \xc3\xb1.txt", "  path: \xc3\xbc \xc3\xb1.txt\n"},
        {"yes", "  path: yes\n"},           {"1.csv", "  path: 1.csv\n"},
        {"it's", "  path: it's\n"},         {"123", "  path: '123'\n"},
        {"null", "  path: 'null'\n"},       {"0x1F", "  path: '0x1F'\n"},
        {".inf", "  path: '.inf'\n"},       {"2024-01-01", "  path: '2024-01-01'\n"},
        {"a: b", "  path: 'a: b'\n"},       {"#x", "  path: '#x'\n"},
        {"- y", "  path: '- y'\n"},         {"tab\tx", "  path: \"tab\\tx\"\n"},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        t = format(q[i].path, "9e3669d19b675bd57058fd4664205d2a", false, 1, -1);
        char want[256];
        snprintf(want, sizeof want, "outs:\n- md5: 9e3669d19b675bd57058fd4664205d2a\n  size: 1\n"
                 "  hash: md5\n%s", q[i].line);
        assert_string_equal(t, want);
        struct data_dvc_file f;
        assert_int_equal(data_dvc_parse("t.dvc", t, strlen(t), &f, NULL), 0);
        assert_string_equal(f.outs[0].path, q[i].path);
        data_dvc_file_free(&f);
        free(t);
    }
    /* An md5 of digits only would read as a number: quoted. */
    t = format("f", "12345678901234567890123456789012", false, 1, -1);
    assert_non_null(strstr(t, "md5: '12345678901234567890123456789012'\n"));
    free(t);
}

static void test_format_refuses_non_utf8(void **state)
{
    struct data_dvc_out o = {.path = "bad\xff", .md5 = md5_of(TREE_DIR_MD5), .size = 1};
    char *text = NULL;
    size_t len;
    struct cap_error e = {0};
    assert_int_equal(data_dvc_format(&o, &text, &len, &e), -CAP_EINVAL);
    assert_null(text);
    assert_non_null(strstr(e.msg, "expected UTF-8"));
}

/* ---- .dir manifests ---- */

static void dir_bytes_equal(const struct data_manifest *m, const char *want, const char *want_md5)
{
    char *bytes;
    size_t len;
    struct data_hash md5, w = md5_of(want_md5);
    struct cap_error e = {0};
    if (data_dvc_dir_bytes(m, &bytes, &len, &md5, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(bytes, want, len);
    assert_true(data_hash_eq(&md5, &w));
    free(bytes);
}

static void test_dir_bytes_as_dvc_writes(void **state)
{
    struct data_manifest m = {0};
    tree_manifest(&m);
    dir_bytes_equal(&m, TREE_DIR, TREE_DIR_MD5);
    data_manifest_free(&m);
    /* Escapes: controls, '"', '\\', DEL, and past U+FFFF a surrogate pair
     * (dvc 3.67.1 on the same names). */
    static const char *const names[][2] = {
        {"\x01" "ctl", "e1671797c52e15f763380b45e841ec32"},
        {"q\"b\\s", "8277e0910d750195b448797616e091ad"},
        {"\x7f" "del", "92eb5ffee6ae2fec3ad71c777531578f"},
        {"\xf0\x9f\x98\x80smile", "4a8a08f09d37b73795649038408b5f33"},
    };
    for (size_t i = 0; i < 4; i++) {
        struct data_hash h = md5_of(names[i][1]);
        data_manifest_push(&m, strdup(names[i][0]), 1, &h, &h);
    }
    dir_bytes_equal(&m,
                    "[{\"md5\": \"e1671797c52e15f763380b45e841ec32\", \"relpath\": \"\\u0001ctl\"}, "
                    "{\"md5\": \"8277e0910d750195b448797616e091ad\", \"relpath\": \"q\\\"b\\\\s\"}, "
                    "{\"md5\": \"92eb5ffee6ae2fec3ad71c777531578f\", \"relpath\": \"\\u007fdel\"}, "
                    "{\"md5\": \"4a8a08f09d37b73795649038408b5f33\", \"relpath\": "
                    "\"\\ud83d\\ude00smile\"}]",
                    "d3426fc5d1e254c6cafe15369c0d157f");
    data_manifest_free(&m);
    /* Python's json.dumps([]) for an empty directory. */
    dir_bytes_equal(&m, "[]", "d751713988987e9331980363e24189ce");
}

static void test_dir_bytes_refusals(void **state)
{
    static const struct {
        const char *a, *b, *msg;
        bool md5;
    } cases[] = {
        {"b", "a", "'a' comes after 'b', expected the paths sorted bytewise, each once", true},
        {"a", "a", "'a' comes after 'a'", true},
        {"a", "b", "'a' has no md5", false},
        {"a", "b\xff", "The path 'b?' is not UTF-8", true}, /* (cap_err's repair) */
        {"a", "b\xc0\xaf", "is not UTF-8", true},          /* overlong '/' */
        {"a", "b\xed\xa0\x80", "is not UTF-8", true},      /* a surrogate */
        {"a", "b\xf4\x90\x80\x80", "is not UTF-8", true},  /* past U+10FFFF */
        {"a", "b\xe2\x82", "is not UTF-8", true},          /* cut short */
    };
    struct data_hash h = md5_of(TREE_DIR_MD5), none = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct data_manifest m = {0};
        data_manifest_push(&m, strdup(cases[i].a), 1, &h, cases[i].md5 ? &h : &none);
        data_manifest_push(&m, strdup(cases[i].b), 1, &h, &h);
        char *bytes = NULL;
        size_t len;
        struct data_hash md5;
        struct cap_error e = {0};
        assert_int_equal(data_dvc_dir_bytes(&m, &bytes, &len, &md5, &e), -CAP_EINVAL);
        if (!strstr(e.msg, cases[i].msg))
            fail_msg("case %zu: '%s', expected '%s'", i, e.msg, cases[i].msg);
        assert_null(bytes);
        data_manifest_free(&m);
    }
}

static void test_dir_parse(void **state)
{
    struct data_manifest m = {0};
    struct cap_error e = {0};
    assert_int_equal(data_dvc_dir_parse("t.dir", TREE_DIR, strlen(TREE_DIR), false, &m, &e), 0);
    assert_int_equal(m.n, NTREE);
    for (size_t i = 0; i < NTREE; i++) {
        struct data_hash h = md5_of(TREE[i].md5);
        assert_string_equal(m.e[i].path, TREE[i].path);
        assert_true(data_hash_eq(&m.e[i].hash, &h) && data_hash_eq(&m.e[i].md5, &h));
    }
    data_manifest_free(&m);
    /* Legacy names are md5-dos2unix: the address, not a known md5. */
    assert_int_equal(data_dvc_dir_parse("l.dir", LEGACY_DIR, strlen(LEGACY_DIR), true, &m, &e), 0);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.e[2].hash.algo, DATA_MD5);
    assert_int_equal(m.e[2].md5.algo, 0);
    data_manifest_free(&m);
}

static void test_dir_parse_refusals(void **state)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"{}", "t.dir: not a .dir manifest, expected a JSON list"},
        {"[{\"md5\": \"d41d8cd98f00b204e9800998ecf8427e\"", "not a .dir manifest"},
        {"[{\"md5\": \"d41d8cd98f00b204e9800998ecf8427e\"}]", "t.dir: entry 1 is not"},
        {"[{\"md5\": \"d41d8cd98f00b204e9800998ecf8427e\", \"relpath\": \"a\"}, 3]", "entry 2 is not"},
        {"[{\"md5\": \"d41d\", \"relpath\": \"a\"}]", "entry 1 ('a'): md5 'd41d', expected 32"},
        {"[{\"md5\": \"d41d8cd98f00b204e9800998ecf8427e\", \"relpath\": \"../a\"}]",
         "entry 1: relpath '../a', expected a relative path"},
        {"[{\"md5\": \"d41d8cd98f00b204e9800998ecf8427e\", \"relpath\": \"a\\u0000b\"}]",
         "holds \\u0000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct data_manifest m = {0};
        struct cap_error e = {0};
        int rc = data_dvc_dir_parse("t.dir", cases[i].text, strlen(cases[i].text), false, &m, &e);
        if (rc != -CAP_EINVAL || !strstr(e.msg, cases[i].msg))
            fail_msg("case %zu: rc %d '%s', expected '%s'", i, rc, e.msg, cases[i].msg);
        assert_int_equal(m.n, 0);
        data_manifest_free(&m);
    }
}

/* ---- the cache ---- */

struct fx {
    char dir[256];
    char cache[300]; /* dir/.dvc/cache */
    char root[300];  /* dir/data, the tree */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f || !fixture_tmpdir(f->dir, sizeof f->dir, "dvc"))
        return -1;
    snprintf(f->cache, sizeof f->cache, "%s/.dvc/cache", f->dir);
    snprintf(f->root, sizeof f->root, "%s/data", f->dir);
    mkdir(f->root, 0755);
    write_file(f->dir, ".dvc/cache/.keep", "", 0); /* makes the cache directory */
    for (size_t i = 0; i < NTREE; i++)
        write_file(f->root, TREE[i].path, TREE[i].body, strlen(TREE[i].body));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    /* The objects are read-only, their directories are not: removable. */
    fixture_rm_rf(f->dir);
    free(f);
    return 0;
}

static void read_file(const char *path, char *buf, size_t cap, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    *len = fread(buf, 1, cap, fp);
    fclose(fp);
}

static void test_add_then_read(void **state)
{
    struct fx *f = *state;
    struct data_manifest m = {0}, back = {0};
    tree_manifest(&m);
    char dvc_path[400], text[600];
    size_t len;
    snprintf(dvc_path, sizeof dvc_path, "%s/data.dvc", f->dir);
    struct data_hash md5, want = md5_of(TREE_DIR_MD5);
    struct cap_error e = {0};
    if (data_dvc_add(f->cache, f->root, &m, true, dvc_path, "data", &md5, &e) != 0)
        fail_msg("%s", e.msg);
    assert_true(data_hash_eq(&md5, &want));
    read_file(dvc_path, text, sizeof text, &len);
    assert_int_equal(len, strlen(TREE_DVC));
    assert_memory_equal(text, TREE_DVC, len);
    /* Objects in the DVC 3 layout, read-only; the .dir as DVC wrote it. */
    char *path;
    uint64_t size;
    struct stat st;
    assert_int_equal(data_dvc_locate(f->cache, &md5, true, false, &path, &size, &e), 0);
    assert_non_null(strstr(path, "/.dvc/cache/files/md5/1c/4b284999c00d39c10defca9ed17648.dir"));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0444);
    read_file(path, text, sizeof text, &len);
    assert_int_equal(len, strlen(TREE_DIR));
    assert_memory_equal(text, TREE_DIR, len);
    free(path);
    /* Read back: the same entries, sizes from the objects. */
    assert_int_equal(data_dvc_dir_read(f->cache, &md5, false, NULL, NULL, &back, &e), 0);
    assert_int_equal(back.n, m.n);
    for (size_t i = 0; i < m.n; i++) {
        assert_string_equal(back.e[i].path, m.e[i].path);
        assert_int_equal(back.e[i].size, m.e[i].size);
        assert_true(data_hash_eq(&back.e[i].md5, &m.e[i].md5));
    }
    /* Adding again leaves the objects as they are. */
    assert_int_equal(data_dvc_add(f->cache, f->root, &m, true, dvc_path, "data", NULL, &e), 0);
    data_manifest_free(&back);
    data_manifest_free(&m);
}

static void test_add_one_file(void **state)
{
    struct fx *f = *state;
    struct data_manifest m = {0};
    struct data_hash h = md5_of(TREE[1].md5);
    data_manifest_push(&m, strdup("a.txt"), 6, &h, &h);
    char dvc_path[400], text[300];
    size_t len;
    snprintf(dvc_path, sizeof dvc_path, "%s/a.txt.dvc", f->root);
    struct cap_error e = {0};
    assert_int_equal(data_dvc_add(f->cache, f->root, &m, false, dvc_path, "a.txt", NULL, &e), 0);
    read_file(dvc_path, text, sizeof text, &len);
    static const char want[] = "outs:\n- md5: b1946ac92492d2347c6235b4d2611184\n  size: 6\n"
                               "  hash: md5\n  path: a.txt\n";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(text, want, len);
    struct data_dvc_file df;
    assert_int_equal(data_dvc_load(dvc_path, &df, &e), 0);
    assert_true(data_hash_eq(&df.outs[0].md5, &h) && !df.outs[0].is_dir);
    data_dvc_file_free(&df);
    /* Two entries are not one file. */
    data_manifest_push(&m, strdup("b"), 6, &h, &h);
    assert_int_equal(data_dvc_add(f->cache, f->root, &m, false, dvc_path, "a.txt", NULL, &e),
                     -CAP_EINVAL);
    data_manifest_free(&m);
}

static void test_legacy_layout(void **state)
{
    struct fx *f = *state;
    /* DVC 2's objects at cache/ab/cdef...: the .dir, and crlf.txt's bytes
     * (with CRLF) under its md5-dos2unix name. */
    write_file(f->cache, "7a/3178c2a6bf5d226423c6b050aa0770.dir", LEGACY_DIR, strlen(LEGACY_DIR));
    write_file(f->cache, "b1/946ac92492d2347c6235b4d2611184", "hello\n", 6);
    write_file(f->cache, "d4/1d8cd98f00b204e9800998ecf8427e", "", 0);
    write_file(f->cache, "1b/5bb282b8f8792875e3c4203cfa9c57", "x\r\ny\r\n", 6);
    struct data_hash dir = md5_of("7a3178c2a6bf5d226423c6b050aa0770");
    struct data_manifest m = {0};
    struct cap_error e = {0};
    assert_int_equal(data_dvc_dir_read(f->cache, &dir, true, NULL, NULL, &m, &e), 0);
    assert_int_equal(m.n, 3);
    assert_string_equal(m.e[2].path, "sub/crlf.txt");
    assert_int_equal(m.e[2].size, 6);
    assert_int_equal(m.e[2].md5.algo, 0);
    data_manifest_free(&m);
    /* Each kind only in its own layout. */
    assert_int_equal(data_dvc_dir_read(f->cache, &dir, false, NULL, NULL, &m, &e), -CAP_ENOTFOUND);
    assert_non_null(strstr(e.msg, "/files/md5/7a/3178c2a6bf5d226423c6b050aa0770.dir' is not in "
                                  "the DVC cache: expected the object 7a/3178c2a6bf5d226423c6b05"
                                  "0aa0770.dir of a DVC 3 output there"));
    assert_int_equal(m.n, 0);
    data_manifest_free(&m);
}

static int size_cb(void *ctx, const char *relpath, const struct data_hash *md5, uint64_t *size,
                   struct cap_error *err)
{
    (*(int *)ctx)++;
    if (strcmp(relpath, "empty") == 0)
        return cap_err(err, CAP_ENOTFOUND, "no size for '%s'", relpath);
    *size = 1000;
    return 0;
}

static void test_dir_read_refusals(void **state)
{
    struct fx *f = *state;
    struct data_hash md5 = md5_of(TREE_DIR_MD5);
    struct data_manifest m = {0};
    struct cap_error e = {0};
    /* The .dir alone: its files' sizes come from a callback, or are missing. */
    write_file(f->cache, "files/md5/1c/4b284999c00d39c10defca9ed17648.dir", TREE_DIR,
               strlen(TREE_DIR));
    assert_int_equal(data_dvc_dir_read(f->cache, &md5, false, NULL, NULL, &m, &e), -CAP_ENOTFOUND);
    assert_non_null(strstr(e.msg, "files/md5/18/7ef4436122d1cc2f40dc2b92f0eba0' is not in the DVC"));
    assert_int_equal(m.n, 0);
    int calls = 0;
    assert_int_equal(data_dvc_dir_read(f->cache, &md5, false, size_cb, &calls, &m, &e),
                     -CAP_ENOTFOUND);
    assert_int_equal(calls, 4);
    assert_string_equal(e.msg, "no size for 'empty'");
    assert_int_equal(m.n, 0);
    /* A .dir whose bytes do not hash to its name. */
    struct data_hash other = md5_of("00000000000000000000000000000000");
    write_file(f->cache, "files/md5/00/000000000000000000000000000000.dir", "[]", 2);
    assert_int_equal(data_dvc_dir_read(f->cache, &other, false, size_cb, &calls, &m, &e),
                     -CAP_EINVAL);
    assert_non_null(strstr(e.msg, "000000000000000000000000000000.dir' is corrupted: its bytes hash "
                                  "to another md5, expected the one in its name"));
    data_manifest_free(&m);
}

static void test_put_fd_checks_size(void **state)
{
    struct fx *f = *state;
    struct blob *cache;
    struct cap_error e = {0};
    assert_int_equal(blob_open(f->cache, &cache, &e), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/a.txt", f->root);
    struct data_hash h = md5_of(TREE[1].md5);
    char *found = NULL;
    uint64_t size;
    for (uint64_t want = 5; want <= 7; want += 2) { /* the file has 6 bytes */
        int fd = open(path, O_RDONLY);
        assert_int_equal(data_dvc_cache_put_fd(cache, &h, fd, want, &e), -CAP_ECONFLICT);
        assert_non_null(strstr(e.msg, want == 5 ? "more bytes, expected 5" : "fewer bytes, expected 7"));
        close(fd);
        assert_int_equal(data_dvc_locate(f->cache, &h, false, false, &found, &size, NULL),
                         -CAP_ENOTFOUND);
    }
    int fd = open(path, O_RDONLY);
    assert_int_equal(data_dvc_cache_put_fd(cache, &h, fd, 6, &e), 0);
    close(fd);
    assert_int_equal(data_dvc_locate(f->cache, &h, false, false, &found, &size, &e), 0);
    assert_int_equal(size, 6);
    free(found);
    blob_close(cache);
}

static void test_write_refuses_and_keeps(void **state)
{
    struct fx *f = *state;
    struct data_dvc_out o = {.path = "x", .md5 = md5_of(TREE_DIR_MD5), .size = 1};
    char dvc_path[400];
    struct cap_error e = {0};
    snprintf(dvc_path, sizeof dvc_path, "%s/missing/x.dvc", f->dir);
    assert_int_equal(data_dvc_write(dvc_path, &o, &e), -CAP_EINVAL);
    assert_non_null(strstr(e.msg, "Cannot write '"));
    assert_non_null(strstr(e.msg, "/missing/x.dvc': No such file or directory"));
    struct data_dvc_file df;
    assert_int_equal(data_dvc_load(dvc_path, &df, &e), -CAP_ENOTFOUND);
    assert_non_null(strstr(e.msg, "/missing/x.dvc': No such file or directory"));
    assert_int_equal(data_dvc_load(f->root, &df, &e), -CAP_EINVAL);
    assert_non_null(strstr(e.msg, "Is a directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_dvc3_dir),
        cmocka_unit_test(test_parse_legacy_and_extras),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_format_as_dvc_writes),
        cmocka_unit_test(test_format_refuses_non_utf8),
        cmocka_unit_test(test_dir_bytes_as_dvc_writes),
        cmocka_unit_test(test_dir_bytes_refusals),
        cmocka_unit_test(test_dir_parse),
        cmocka_unit_test(test_dir_parse_refusals),
        cmocka_unit_test_setup_teardown(test_add_then_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_one_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dir_read_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_fd_checks_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_refuses_and_keeps, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
