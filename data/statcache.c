/* statcache.c - the hashes of files that have not changed since they were
 * last hashed, so that adding an unchanged tree reads no file's bytes.
 *
 * One file of fixed 80-byte records, loaded whole into an open-addressing
 * table and rewritten whole (temporary file, then rename) after an add:
 * 100,000 files are 8 MB, loaded in ~10 ms. It is a cache: a missing,
 * truncated or foreign file is an empty cache, and two adds saving at once
 * lose one's entries, never correctness. Entries not seen by the last add
 * are dropped once the cache passes MAX_ENTRIES. */
#include "data/intern.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"

#define MAGIC "CAPSTAT1"
#define MAX_ENTRIES (1u << 21)

struct rec {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
    unsigned char xxh[16], md5[16];
    uint8_t has_md5, seen, used, pad[5];
};

struct data_statcache {
    struct rec *t;
    size_t cap, n;   /* cap: a power of two */
};

static int64_t ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static size_t slot_of(const struct data_statcache *sc, uint64_t dev, uint64_t ino)
{
    uint64_t k[2] = {dev, ino};
    size_t i = (size_t)cap_fnv1a(CAP_FNV1A_SEED, k, sizeof k) & (sc->cap - 1);
    while (sc->t[i].used && (sc->t[i].dev != dev || sc->t[i].ino != ino))
        i = (i + 1) & (sc->cap - 1);
    return i;
}

static void grow(struct data_statcache *sc)
{
    struct rec *old = sc->t;
    size_t ocap = sc->cap;
    sc->cap = ocap ? ocap * 2 : 1024;
    sc->t = cap_xcalloc(sc->cap, sizeof *sc->t);
    for (size_t i = 0; i < ocap; i++)
        if (old[i].used)
            sc->t[slot_of(sc, old[i].dev, old[i].ino)] = old[i];
    free(old);
}

static void insert(struct data_statcache *sc, const struct rec *r)
{
    if ((sc->n + 1) * 2 > sc->cap)
        grow(sc);
    size_t i = slot_of(sc, r->dev, r->ino);
    if (!sc->t[i].used)
        sc->n++;
    sc->t[i] = *r;
    sc->t[i].used = 1;
}

struct data_statcache *data_statcache_load(const char *path)
{
    struct data_statcache *sc = cap_xcalloc(1, sizeof *sc);
    grow(sc);
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return sc;
    char magic[8];
    if (fread(magic, 1, 8, f) == 8 && memcmp(magic, MAGIC, 8) == 0) {
        struct rec r;
        while (fread(&r, sizeof r, 1, f) == 1) {
            r.seen = 0;
            insert(sc, &r);
        }
    }
    fclose(f);
    return sc;
}

bool data_statcache_get(const struct data_statcache *sc, const struct stat *st, bool want_md5,
                        struct data_hash *xxh, struct data_hash *md5)
{
    if (!sc)
        return false;
    const struct rec *r = &sc->t[slot_of(sc, (uint64_t)st->st_dev, (uint64_t)st->st_ino)];
    if (!r->used || r->size != (uint64_t)st->st_size || r->mtime_ns != ns(&st->st_mtim) ||
        r->ctime_ns != ns(&st->st_ctim) || (want_md5 && !r->has_md5))
        return false;
    xxh->algo = DATA_XXH128;
    memcpy(xxh->d, r->xxh, 16);
    memset(md5, 0, sizeof *md5);
    if (r->has_md5) {
        md5->algo = DATA_MD5;
        memcpy(md5->d, r->md5, 16);
    }
    return true;
}

void data_statcache_put(struct data_statcache *sc, const struct stat *st,
                        const struct data_hash *xxh, const struct data_hash *md5)
{
    struct rec r = {.dev = (uint64_t)st->st_dev, .ino = (uint64_t)st->st_ino,
                    .size = (uint64_t)st->st_size, .mtime_ns = ns(&st->st_mtim),
                    .ctime_ns = ns(&st->st_ctim), .seen = 1};
    memcpy(r.xxh, xxh->d, 16);
    if (md5 && md5->algo == DATA_MD5) {
        r.has_md5 = 1;
        memcpy(r.md5, md5->d, 16);
    }
    insert(sc, &r);
}

int data_statcache_save(struct data_statcache *sc, const char *path, struct cap_error *err)
{
    struct cap_buf tmp;
    cap_buf_init(&tmp);
    char hex[17];
    cap_random_hex(hex, 8);
    cap_buf_printf(&tmp, "%s.tmp-%s", path, hex);
    FILE *f = fopen(tmp.data, "wb");
    int rc = 0;
    if (!f) {
        rc = cap_err(err, CAP_EINTERNAL, "Cannot write the stat cache '%.300s': %s", tmp.data,
                     strerror(errno));
        goto done;
    }
    bool prune = sc->n > MAX_ENTRIES;
    fwrite(MAGIC, 1, 8, f);
    for (size_t i = 0; i < sc->cap; i++) {
        struct rec r = sc->t[i];
        if (!r.used || (prune && !r.seen))
            continue;
        fwrite(&r, sizeof r, 1, f);
    }
    if (fclose(f) != 0 || rename(tmp.data, path) < 0) {
        rc = cap_err(err, CAP_EINTERNAL, "Cannot write the stat cache '%.300s': %s", path,
                     strerror(errno));
        unlink(tmp.data);
    }
done:
    cap_buf_free(&tmp);
    return rc;
}

void data_statcache_free(struct data_statcache *sc)
{
    if (!sc)
        return;
    free(sc->t);
    free(sc);
}
