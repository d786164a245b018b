/* manifest.c - a version's list of files, and its one canonical text.
 *
 * The text is what is hashed into the version's hash, so it must never
 * depend on the order files were found in or on a library's formatting:
 * entries sorted bytewise by path, one line each,
 *   <hash> <size> "<path>"\n
 * the path quoted with '"', '\\' and bytes below 0x20 or 0x7f escaped as
 * \" \\ \xHH, every other byte (UTF-8 or not: Linux names are bytes) as is.
 * An md5 computed beside the hash for DVC is not part of it (the same tree
 * has one hash whether or not a .dvc file was asked for): it travels in
 * DVC's own .dir manifest, stored as an object of its own.
 * 100,000 entries are ~8 MB of text, read in ~30 ms. */
#include "data/data.h"
#include "data/intern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

void data_manifest_free(struct data_manifest *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->e[i].path);
    free(m->e);
    memset(m, 0, sizeof *m);
}

void data_manifest_push(struct data_manifest *m, char *path, uint64_t size,
                        const struct data_hash *hash, const struct data_hash *md5)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->e = cap_xrealloc(m->e, m->cap * sizeof *m->e);
    }
    struct data_entry *e = &m->e[m->n++];
    memset(e, 0, sizeof *e);
    e->path = path;
    e->size = size;
    e->hash = *hash;
    if (md5)
        e->md5 = *md5;
}

bool data_path_ok(const char *path)
{
    size_t n = strlen(path);
    if (n == 0 || n > 4096 || path[0] == '/' || path[n - 1] == '/')
        return false;
    for (const char *seg = path; seg;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 0 || len > 255 || (len == 1 && seg[0] == '.') ||
            (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        seg = slash ? slash + 1 : NULL;
    }
    return true;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct data_entry *)a)->path, ((const struct data_entry *)b)->path);
}

int data_manifest_sort(struct data_manifest *m, struct cap_error *err)
{
    if (m->n > 1)
        qsort(m->e, m->n, sizeof *m->e, entry_cmp);
    for (size_t i = 1; i < m->n; i++)
        if (strcmp(m->e[i - 1].path, m->e[i].path) == 0)
            return cap_err(err, CAP_EINVAL, "Manifest: the path '%.200s' is listed twice",
                           m->e[i].path);
    return 0;
}

static void put_quoted(struct cap_buf *b, const char *s)
{
    cap_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            cap_buf_putc(b, '\\');
            cap_buf_putc(b, (char)*p);
        } else if (*p < 0x20 || *p == 0x7f) {
            cap_buf_printf(b, "\\x%02x", *p);
        } else {
            cap_buf_putc(b, (char)*p);
        }
    }
    cap_buf_putc(b, '"');
}

char *data_manifest_text(const struct data_manifest *m, size_t *len)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_reserve(&b, m->n * 96 + 1);
    char h[DATA_HASH_STR];
    for (size_t i = 0; i < m->n; i++) {
        const struct data_entry *e = &m->e[i];
        data_hash_format(&e->hash, h);
        cap_buf_printf(&b, "%s %llu ", h, (unsigned long long)e->size);
        put_quoted(&b, e->path);
        cap_buf_putc(&b, '\n');
    }
    *len = b.len;
    if (!b.data)
        return cap_xstrdup("");
    return cap_buf_steal(&b);
}

/* Reads one quoted path at *p; NULL when malformed. */
static char *get_quoted(const char **p, const char *end)
{
    const char *s = *p;
    if (s >= end || *s != '"')
        return NULL;
    struct cap_buf b;
    cap_buf_init(&b);
    for (s++; s < end && *s != '"'; s++) {
        if (*s == '\n')
            break;
        if (*s != '\\') {
            cap_buf_putc(&b, *s);
            continue;
        }
        if (++s >= end)
            break;
        if (*s == '"' || *s == '\\') {
            cap_buf_putc(&b, *s);
        } else if (*s == 'x' && end - s > 2) {
            unsigned v;
            char hx[3] = {s[1], s[2], 0};
            if (sscanf(hx, "%2x", &v) != 1 || v == 0)
                break;
            cap_buf_putc(&b, (char)v);
            s += 2;
        } else {
            break;
        }
    }
    if (s >= end || *s != '"' || b.len == 0) {
        cap_buf_free(&b);
        return NULL;
    }
    *p = s + 1;
    return cap_buf_steal(&b);
}

/* One "<hash> " token at *p. */
static int get_hash(const char **p, const char *end, struct data_hash *h)
{
    const char *sp = memchr(*p, ' ', (size_t)(end - *p));
    if (!sp || sp - *p >= DATA_HASH_STR)
        return -1;
    char tok[DATA_HASH_STR];
    memcpy(tok, *p, (size_t)(sp - *p));
    tok[sp - *p] = '\0';
    struct cap_error e;
    if (data_hash_parse(tok, h, &e) < 0)
        return -1;
    *p = sp + 1;
    return 0;
}

static int parse_line(const char **p, const char *end, struct data_manifest *out)
{
    struct data_hash h;
    if (get_hash(p, end, &h) < 0)
        return -1;
    char *num_end;
    unsigned long long size = strtoull(*p, &num_end, 10);
    if (num_end == *p || num_end >= end || *num_end != ' ')
        return -1;
    *p = num_end + 1;
    char *path = get_quoted(p, end);
    if (!path)
        return -1;
    if (!data_path_ok(path)) {
        free(path);
        return -1;
    }
    if (*p >= end || **p != '\n') {
        free(path);
        return -1;
    }
    (*p)++;
    data_manifest_push(out, path, size, &h, h.algo == DATA_MD5 ? &h : NULL);
    return 0;
}

int data_manifest_parse(const char *text, size_t len, struct data_manifest *out,
                        struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    const char *p = text, *end = text + len;
    for (size_t line = 1; p < end; line++) {
        if (parse_line(&p, end, out) < 0) {
            data_manifest_free(out);
            return cap_err(err, CAP_EINVAL, "Manifest: line %zu is malformed", line);
        }
        if (out->n > 1 && strcmp(out->e[out->n - 2].path, out->e[out->n - 1].path) >= 0) {
            data_manifest_free(out);
            return cap_err(err, CAP_EINVAL, "Manifest: line %zu is out of order", line);
        }
    }
    return 0;
}

const struct data_entry *data_manifest_find(const struct data_manifest *m, const char *path)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->e[mid].path, path);
        if (c == 0)
            return &m->e[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
