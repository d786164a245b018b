/* dvc_cache.c - a DVC cache: where objects are, the .dir manifests of
 * directories (read with cJSON, written byte for byte as DVC writes them),
 * and putting objects into it. dvc.h says which facts about DVC this
 * relies on. */
#include "data/dvc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "blob/blob.h"

void data_dvc_oid(const struct data_hash *md5, bool is_dir, char out[DATA_DVC_OID])
{
    char s[DATA_HASH_STR];
    data_hash_format(md5, s);
    snprintf(out, DATA_DVC_OID, "%.32s%s", s + 4, is_dir ? ".dir" : ""); /* after "md5:" */
}

/* The object's path inside the cache directory. */
static void object_rel(const struct data_hash *md5, bool is_dir, bool legacy, char out[64])
{
    char oid[DATA_DVC_OID];
    data_dvc_oid(md5, is_dir, oid);
    snprintf(out, 64, "%s%.2s/%s", legacy ? "" : "files/md5/", oid, oid + 2);
}

int data_dvc_locate(const char *cache_dir, const struct data_hash *md5, bool is_dir, bool legacy,
                    char **path, uint64_t *size, struct cap_error *err)
{
    char rel[64];
    object_rel(md5, is_dir, legacy, rel);
    struct cap_buf p;
    cap_buf_init(&p);
    cap_buf_printf(&p, "%s/%s", cache_dir, rel);
    struct stat st;
    if (stat(p.data, &st) < 0 || !S_ISREG(st.st_mode)) {
        int rc = cap_err(err, CAP_ENOTFOUND, "'%.300s' is not in the DVC cache: expected the "
                         "object %s of a %s output there", p.data, rel + (legacy ? 0 : 10),
                         legacy ? "DVC 2 (no 'hash: md5')" : "DVC 3");
        cap_buf_free(&p);
        return rc;
    }
    *size = (uint64_t)st.st_size;
    *path = cap_buf_steal(&p);
    return 0;
}

/* ---- reading .dir manifests ---- */

static int dir_entry(const char *name, size_t i, const cJSON *it, bool legacy,
                     struct data_manifest *out, struct cap_error *err)
{
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(it, "relpath");
    const cJSON *md5 = cJSON_GetObjectItemCaseSensitive(it, "md5");
    char hs[4 + 32 + 1] = "md5:";
    struct data_hash h;
    if (!cJSON_IsObject(it) || !cJSON_IsString(rp) || !cJSON_IsString(md5))
        return cap_err(err, CAP_EINVAL, "%.200s: entry %zu is not {\"md5\": ..., \"relpath\": "
                       "...}, expected both as strings", name, i + 1);
    if (!data_path_ok(rp->valuestring))
        return cap_err(err, CAP_EINVAL, "%.200s: entry %zu: relpath '%.200s', expected a "
                       "relative path without empty, '.' or '..' parts", name, i + 1,
                       rp->valuestring);
    if (strlen(md5->valuestring) != 32 ||
        data_hash_parse(strcat(hs, md5->valuestring), &h, NULL) != 0)
        return cap_err(err, CAP_EINVAL, "%.200s: entry %zu ('%.200s'): md5 '%.40s', expected 32 "
                       "lowercase hex digits", name, i + 1, rp->valuestring, md5->valuestring);
    data_manifest_push(out, cap_xstrdup(rp->valuestring), 0, &h, legacy ? NULL : &h);
    return 0;
}

int data_dvc_dir_parse(const char *name, const char *text, size_t len, bool legacy,
                       struct data_manifest *out, struct cap_error *err)
{
    /* cJSON ends a string at an escaped NUL, which would shorten a path. */
    if (memmem(text, len, "\\u0000", 6))
        return cap_err(err, CAP_EINVAL, "%.200s: a relpath holds \\u0000, expected file names "
                       "without NUL", name);
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return cap_err(err, CAP_EINVAL, "%.200s: not a .dir manifest, expected a JSON list of "
                       "{\"md5\", \"relpath\"}", name);
    }
    size_t i = 0, n0 = out->n;
    int rc = 0;
    for (const cJSON *it = root->child; it && rc == 0; it = it->next, i++)
        rc = dir_entry(name, i, it, legacy, out, err);
    cJSON_Delete(root);
    while (rc && out->n > n0)
        free(out->e[--out->n].path);
    return rc;
}

static int cache_size(const char *cache_dir, bool legacy, struct data_entry *e,
                      struct cap_error *err)
{
    char *path;
    uint64_t size;
    int rc = data_dvc_locate(cache_dir, &e->hash, false, legacy, &path, &size, err);
    if (rc == 0) {
        e->size = size;
        free(path);
    }
    return rc;
}

int data_dvc_dir_read(const char *cache_dir, const struct data_hash *md5, bool legacy,
                      data_dvc_size_fn size_fn, void *ctx, struct data_manifest *out,
                      struct cap_error *err)
{
    char *path = NULL, *text = NULL;
    uint64_t size;
    size_t len = 0, n0 = out->n;
    int rc = data_dvc_locate(cache_dir, md5, true, legacy, &path, &size, err);
    /* ~75 bytes an entry: 1 GiB is over ten million files. */
    rc = rc ? rc : data_read_file(path, (size_t)1 << 30, &text, &len, err);
    struct data_hash got;
    if (rc == 0) {
        data_hash_bytes(DATA_MD5, text, len, &got);
        if (!data_hash_eq(&got, md5))
            rc = cap_err(err, CAP_EINVAL, "'%.300s' is corrupted: its bytes hash to another "
                         "md5, expected the one in its name", path);
    }
    rc = rc ? rc : data_dvc_dir_parse(path, text, len, legacy, out, err);
    for (size_t i = n0; rc == 0 && i < out->n; i++)
        rc = size_fn ? size_fn(ctx, out->e[i].path, &out->e[i].hash, &out->e[i].size, err)
                     : cache_size(cache_dir, legacy, &out->e[i], err);
    while (rc && out->n > n0)
        free(out->e[--out->n].path);
    free(text);
    free(path);
    return rc;
}

/* ---- writing .dir manifests ---- */

/* The code point at *p, advancing *p; -1 when the bytes there are not
 * UTF-8 (overlong forms, surrogates and past U+10FFFF included: Python's
 * strict decoding refuses them, so DVC cannot name such a file). */
static long utf8_next(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *s = *p;
    unsigned c = *s;
    int k = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
    if (k == 0 || end - s < k)
        return -1;
    long cp = k == 1 ? (long)c : (long)(c & (0x7f >> k));
    for (int i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *p = s + k;
    return cp;
}

/* The letter of cp's two-character escape in Python's json ("\\n"), or 0. */
static char short_escape(long cp)
{
    switch (cp) {
    case '"': return '"';
    case '\\': return '\\';
    case '\n': return 'n';
    case '\r': return 'r';
    case '\t': return 't';
    case '\b': return 'b';
    case '\f': return 'f';
    default: return 0;
    }
}

/* s as Python's json.dumps writes it with ensure_ascii; -1 when s is not
 * UTF-8. */
static int put_json_str(struct cap_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    cap_buf_putc(b, '"');
    while (p < end) {
        long cp = utf8_next(&p, end);
        if (cp < 0)
            return -1;
        char sh = short_escape(cp);
        if (sh)
            cap_buf_printf(b, "\\%c", sh);
        else if (cp >= 0x20 && cp < 0x7f)
            cap_buf_putc(b, (char)cp);
        else if (cp < 0x10000)
            cap_buf_printf(b, "\\u%04lx", cp);
        else /* a UTF-16 surrogate pair */
            cap_buf_printf(b, "\\u%04lx\\u%04lx", 0xd800 + ((cp - 0x10000) >> 10),
                           0xdc00 + ((cp - 0x10000) & 0x3ff));
    }
    cap_buf_putc(b, '"');
    return 0;
}

static int dir_check(const struct data_manifest *m, size_t i, struct cap_error *err)
{
    const struct data_entry *e = &m->e[i];
    if (e->md5.algo != DATA_MD5)
        return cap_err(err, CAP_EINVAL, "'%.200s' has no md5, expected every file's md5 for a "
                       "DVC .dir manifest", e->path);
    if (i > 0 && strcmp(m->e[i - 1].path, e->path) >= 0)
        return cap_err(err, CAP_EINVAL, "'%.200s' comes after '%.200s', expected the paths "
                       "sorted bytewise, each once", e->path, m->e[i - 1].path);
    return 0;
}

int data_dvc_dir_bytes(const struct data_manifest *m, char **out, size_t *len,
                       struct data_hash *md5, struct cap_error *err)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_putc(&b, '[');
    int rc = 0;
    for (size_t i = 0; i < m->n && rc == 0; i++) {
        char oid[DATA_DVC_OID];
        rc = dir_check(m, i, err);
        if (rc)
            break;
        data_dvc_oid(&m->e[i].md5, false, oid);
        cap_buf_printf(&b, "%s{\"md5\": \"%s\", \"relpath\": ", i ? ", " : "", oid);
        if (put_json_str(&b, m->e[i].path) != 0)
            rc = cap_err(err, CAP_EINVAL, "The path '%.200s' is not UTF-8, expected UTF-8 "
                         "names (`dvc add` fails on others)", m->e[i].path);
        cap_buf_putc(&b, '}');
    }
    cap_buf_putc(&b, ']');
    if (rc) {
        cap_buf_free(&b);
        return rc;
    }
    data_hash_bytes(DATA_MD5, b.data, b.len, md5);
    *len = b.len;
    *out = cap_buf_steal(&b);
    return 0;
}

/* ---- putting objects ---- */

static int copy_fd(struct blob_writer *w, int fd, uint64_t size, struct cap_error *err)
{
    enum { CHUNK = 1 << 20 };
    char *buf = cap_xmalloc(CHUNK);
    uint64_t got = 0;
    ssize_t r;
    int rc = 0;
    while (rc == 0 && (r = read(fd, buf, CHUNK)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = cap_err(err, CAP_EINVAL, "Cannot read a file for the DVC cache: %s",
                         strerror(errno));
        else if ((got += (uint64_t)r) > size)
            break;
        else
            rc = blob_write(w, buf, (size_t)r, err);
    }
    free(buf);
    if (rc == 0 && got != size)
        rc = cap_err(err, CAP_ECONFLICT, "A file changed while it was copied into the DVC "
                     "cache: %s bytes, expected %llu", got > size ? "more" : "fewer",
                     (unsigned long long)size);
    return rc;
}

/* Writes the object from p (n bytes) when fd < 0, else from fd (n bytes),
 * unless it is there; then makes it read-only, as DVC leaves its own. */
static int put(struct blob *cache, const struct data_hash *md5, bool is_dir, const void *p,
               int fd, uint64_t n, struct cap_error *err)
{
    char rel[64], *path = NULL;
    uint64_t size;
    if (data_dvc_locate(blob_root(cache), md5, is_dir, false, &path, &size, NULL) == 0) {
        free(path);
        return 0;
    }
    object_rel(md5, is_dir, false, rel);
    struct blob_writer *w;
    int rc = blob_write_open(cache, rel, &w, err);
    if (rc)
        return rc;
    rc = fd < 0 ? blob_write(w, p, (size_t)n, err) : copy_fd(w, fd, n, err);
    if (rc) {
        blob_write_abort(w);
        return rc;
    }
    if ((rc = blob_write_commit(w, err)) != 0)
        return rc;
    struct cap_buf full;
    cap_buf_init(&full);
    cap_buf_printf(&full, "%s/%s", blob_root(cache), rel);
    if (chmod(full.data, 0444) < 0)
        rc = cap_err(err, CAP_EINVAL, "Cannot make '%.300s' read-only: %s", full.data,
                     strerror(errno));
    cap_buf_free(&full);
    return rc;
}

int data_dvc_cache_put_bytes(struct blob *cache, const struct data_hash *md5, bool is_dir,
                             const void *p, size_t n, struct cap_error *err)
{
    return put(cache, md5, is_dir, p, -1, n, err);
}

int data_dvc_cache_put_fd(struct blob *cache, const struct data_hash *md5, int fd, uint64_t size,
                          struct cap_error *err)
{
    return put(cache, md5, false, NULL, fd, size, err);
}

/* ---- what `dvc add` leaves ---- */

static int put_file(struct blob *cache, const char *root, const struct data_entry *e,
                    struct cap_error *err)
{
    if (e->md5.algo != DATA_MD5)
        return cap_err(err, CAP_EINVAL, "'%.200s' has no md5, expected every file's md5 for "
                       "the DVC cache", e->path);
    struct cap_buf p;
    cap_buf_init(&p);
    cap_buf_printf(&p, "%s/%s", root, e->path);
    int fd = open(p.data, O_RDONLY | O_CLOEXEC), rc;
    if (fd < 0)
        rc = cap_err(err, CAP_EINVAL, "Cannot read '%.300s': %s", p.data, strerror(errno));
    else
        rc = data_dvc_cache_put_fd(cache, &e->md5, fd, e->size, err);
    if (fd >= 0)
        close(fd);
    cap_buf_free(&p);
    return rc;
}

int data_dvc_cache_tree(const char *cache_dir, const char *root, const struct data_manifest *m,
                        bool is_dir, struct data_hash *md5, struct cap_error *err)
{
    if (!is_dir && m->n != 1)
        return cap_err(err, CAP_EINVAL, "A file output takes one file, got %zu", m->n);
    struct blob *cache;
    int rc = blob_open(cache_dir, &cache, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < m->n && rc == 0; i++)
        rc = put_file(cache, root, &m->e[i], err);
    char *dir = NULL;
    size_t len;
    if (rc == 0 && is_dir && (rc = data_dvc_dir_bytes(m, &dir, &len, md5, err)) == 0)
        rc = data_dvc_cache_put_bytes(cache, md5, true, dir, len, err);
    if (rc == 0 && !is_dir)
        *md5 = m->e[0].md5;
    free(dir);
    blob_close(cache);
    return rc;
}

int data_dvc_add(const char *cache_dir, const char *root, const struct data_manifest *m,
                 bool is_dir, const char *dvc_path, const char *out_path,
                 struct data_hash *md5, struct cap_error *err)
{
    struct data_dvc_out o = {.path = (char *)out_path, .is_dir = is_dir, .cache = true,
                             .nfiles = (int64_t)m->n};
    for (size_t i = 0; i < m->n; i++)
        o.size += (int64_t)m->e[i].size;
    int rc = data_dvc_cache_tree(cache_dir, root, m, is_dir, &o.md5, err);
    if (rc == 0)
        rc = data_dvc_write(dvc_path, &o, err);
    if (rc == 0 && md5)
        *md5 = o.md5;
    return rc;
}
