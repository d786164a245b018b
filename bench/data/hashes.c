/* hashes.c - the throughput of the hashes data/ could use, on 256 MiB in
 * memory fed 1 MiB at a time (how objects.c feeds them): OpenSSL's MD5 (what
 * DVC uses), SHA-1, SHA-256 and BLAKE2b-512, and libxxhash's XXH3-128.
 *   cc -O2 bench/data/hashes.c -o /tmp/hashes -lcrypto -lxxhash && /tmp/hashes */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <xxhash.h>

#define SIZE (256u << 20)
#define CHUNK (1u << 20)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void)
{
    unsigned char *b = malloc(SIZE);
    if (!b)
        return 1;
    for (size_t i = 0; i < SIZE; i++)
        b[i] = (unsigned char)((i * 2654435761u) >> 13);
    const char *names[] = {"md5", "sha1", "sha256", "blake2b512"};
    double md5 = 0;
    for (int a = 0; a < 4; a++) {
        double t = now();
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        EVP_DigestInit_ex(c, EVP_get_digestbyname(names[a]), NULL);
        for (size_t o = 0; o < SIZE; o += CHUNK)
            EVP_DigestUpdate(c, b + o, CHUNK);
        unsigned char d[64];
        unsigned int len;
        EVP_DigestFinal_ex(c, d, &len);
        EVP_MD_CTX_free(c);
        double mbs = SIZE / 1e6 / (now() - t);
        if (a == 0)
            md5 = mbs;
        printf("%-12s %7.0f MB/s\n", names[a], mbs);
    }
    double t = now();
    XXH3_state_t *s = XXH3_createState();
    XXH3_128bits_reset(s);
    for (size_t o = 0; o < SIZE; o += CHUNK)
        XXH3_128bits_update(s, b + o, CHUNK);
    XXH128_hash_t h = XXH3_128bits_digest(s);
    XXH3_freeState(s);
    double x = SIZE / 1e6 / (now() - t);
    printf("%-12s %7.0f MB/s (%016llx)\n", "xxh3-128", x, (unsigned long long)h.low64);
    printf("xxh3-128 is %.1fx md5\n", x / md5);
    free(b);
    return 0;
}
