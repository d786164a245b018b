/* hash_tmp_dvc.c - TEMPORARY, branch data-dvc only: the few data.h
 * functions dvc.c needs (hash.c and manifest.c are being written beside
 * it), so that the DVC code builds and is tested before they land. Drop
 * this file at merge: hash.c and manifest.c define all of these. */
#include "data/data.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/buf.h"

void data_hash_format(const struct data_hash *h, char out[DATA_HASH_STR])
{
    int n = snprintf(out, DATA_HASH_STR, "%s:", h->algo == DATA_MD5 ? "md5" : "xxh128");
    for (int i = 0; i < 16; i++)
        n += snprintf(out + n, (size_t)(DATA_HASH_STR - n), "%02x", h->d[i]);
}

int data_hash_parse(const char *s, struct data_hash *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    const char *hex = strncmp(s, "md5:", 4) == 0 ? s + 4 : NULL;
    if (hex && strlen(hex) == 32 && strspn(hex, "0123456789abcdef") == 32) {
        out->algo = DATA_MD5;
        for (int i = 0; i < 16; i++)
            sscanf(hex + 2 * i, "%2hhx", &out->d[i]);
        return 0;
    }
    return cap_err(err, CAP_EINVAL, "Invalid hash '%.80s'", s);
}

bool data_hash_eq(const struct data_hash *a, const struct data_hash *b)
{
    return a->algo == b->algo && memcmp(a->d, b->d, 16) == 0;
}

void data_hash_bytes(enum data_algo algo, const void *p, size_t n, struct data_hash *out)
{
    memset(out, 0, sizeof *out);
    out->algo = algo;
    if (algo == DATA_MD5) {
        unsigned int len = 0;
        EVP_Digest(p, n, out->d, &len, EVP_md5(), NULL);
    } else {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
        memcpy(out->d, c.digest, 16);
    }
}

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
