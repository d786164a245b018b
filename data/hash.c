/* hash.c - content hashes of the data module: XXH3-128 for Capstan's own
 * objects, MD5 where DVC's formats need it, both from libraries (libxxhash,
 * OpenSSL), both streamed so a file of any size takes constant memory. */
#include "data/data.h"
#include "data/intern.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "base/buf.h"

static const char *algo_name(enum data_algo a)
{
    return a == DATA_MD5 ? "md5" : "xxh128";
}

void data_hash_format(const struct data_hash *h, char out[DATA_HASH_STR])
{
    static const char hex[] = "0123456789abcdef";
    int n = snprintf(out, DATA_HASH_STR, "%s:", algo_name(h->algo));
    for (int i = 0; i < 16; i++) {
        out[n++] = hex[h->d[i] >> 4];
        out[n++] = hex[h->d[i] & 15];
    }
    out[n] = '\0';
}

int data_hex16(const char *s, unsigned char d[16])
{
    for (int i = 0; i < 32; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            d[i / 2] = (unsigned char)(v << 4);
        else
            d[i / 2] |= (unsigned char)v;
    }
    return s[32] == '\0' ? 0 : -1;
}

int data_hash_parse(const char *s, struct data_hash *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    const char *hex = NULL;
    if (strncmp(s, "xxh128:", 7) == 0) {
        out->algo = DATA_XXH128;
        hex = s + 7;
    } else if (strncmp(s, "md5:", 4) == 0) {
        out->algo = DATA_MD5;
        hex = s + 4;
    }
    if (!hex || data_hex16(hex, out->d) < 0)
        return cap_err(err, CAP_EINVAL,
                       "Invalid hash '%.80s': expected 'xxh128:' or 'md5:' and 32 lowercase hex "
                       "digits",
                       s);
    return 0;
}

bool data_hash_eq(const struct data_hash *a, const struct data_hash *b)
{
    return a->algo == b->algo && memcmp(a->d, b->d, 16) == 0;
}

void data_object_path(const struct data_hash *h, char out[64])
{
    char s[DATA_HASH_STR];
    data_hash_format(h, s);
    const char *hex = strchr(s, ':') + 1;
    snprintf(out, 64, "objects/%s/%.2s/%s", algo_name(h->algo), hex, hex + 2);
}

/* ---- streaming ---- */

void data_hasher_init(struct data_hasher *h, bool md5)
{
    h->xxh = XXH3_createState();
    if (!h->xxh)
        abort();
    XXH3_128bits_reset(h->xxh);
    h->md5 = NULL;
    if (md5) {
        h->md5 = EVP_MD_CTX_new();
        if (!h->md5 || EVP_DigestInit_ex(h->md5, EVP_md5(), NULL) != 1)
            abort();
    }
}

void data_hasher_update(struct data_hasher *h, const void *p, size_t n)
{
    XXH3_128bits_update(h->xxh, p, n);
    if (h->md5)
        EVP_DigestUpdate(h->md5, p, n);
}

void data_hasher_final(struct data_hasher *h, struct data_hash *xxh, struct data_hash *md5)
{
    XXH128_hash_t v = XXH3_128bits_digest(h->xxh);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, v);
    xxh->algo = DATA_XXH128;
    memcpy(xxh->d, c.digest, 16);
    XXH3_freeState(h->xxh);
    h->xxh = NULL;
    memset(md5, 0, sizeof *md5);
    if (h->md5) {
        unsigned int len = 0;
        EVP_DigestFinal_ex(h->md5, md5->d, &len);
        md5->algo = DATA_MD5;
        EVP_MD_CTX_free(h->md5);
        h->md5 = NULL;
    }
}

void data_hash_bytes(enum data_algo algo, const void *p, size_t n, struct data_hash *out)
{
    struct data_hasher h;
    struct data_hash x, m;
    data_hasher_init(&h, algo == DATA_MD5);
    data_hasher_update(&h, p, n);
    data_hasher_final(&h, &x, &m);
    *out = algo == DATA_MD5 ? m : x;
}
