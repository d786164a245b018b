/* intern.h - what the files of data/ share and nothing outside uses: the
 * streaming hasher, the tree scan, the stat cache and the parallel
 * hash-and-store step. */
#ifndef CAP_DATA_INTERN_H
#define CAP_DATA_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "data/data.h"

/* ---- hash.c ---- */
struct data_hasher {
    void *xxh;   /* XXH3_state_t */
    void *md5;   /* EVP_MD_CTX, or NULL when md5 is not wanted */
};
void data_hasher_init(struct data_hasher *h, bool md5);
void data_hasher_update(struct data_hasher *h, const void *p, size_t n);
/* md5 is zeroed (algo 0) when it was not wanted. Frees the state. */
void data_hasher_final(struct data_hasher *h, struct data_hash *xxh, struct data_hash *md5);
/* 32 lowercase hex digits then NUL into 16 bytes; -1 when malformed. */
int data_hex16(const char *s, unsigned char d[16]);

/* ---- scan.c: the files of a tree ---- */
struct data_file {
    char *rel;              /* its path in the manifest */
    struct stat st;         /* as scanned (a symlink's target's) */
    struct data_hash xxh, md5;
    bool cached;            /* the hashes came from the stat cache */
};
struct data_scan {
    int rootfd;             /* the directory rel paths start from */
    char *root;             /* its real path, for messages */
    bool is_dir;            /* path was a directory (else one file, rel = its name) */
    struct data_file *f;
    size_t n, cap;
    uint64_t bytes;
};
/* Lists path's regular files (none for an empty directory: a dataset
 * refuses that, a pipeline output may be one). Refused, with the path
 * named: a missing or unreadable path, a symlink leading outside path or
 * to a directory, a special file (device, FIFO, socket). */
int data_scan_tree(const char *path, struct data_scan *out, struct cap_error *err);
void data_scan_free(struct data_scan *s);
/* The directory of path (relative, '/'-separated) below the directory
 * root, created as needed, never through a symlink: *out (close it) and
 * *name, the last segment of path (pointing into path, which is restored).
 * A negative errno on failure. */
int data_open_parent_of(int root, char *path, char **name, int *out);

/* ---- statcache.c: hashes of unchanged files (load/save: data.h) ----
 * Keyed on (device, inode, size, mtime, ctime), all to the nanosecond: a
 * file rewritten with the same size and mtime still changes its ctime. */
/* Fills xxh (and md5 when want_md5) when a current entry is there. */
bool data_statcache_get(const struct data_statcache *sc, const struct stat *st, bool want_md5,
                        struct data_hash *xxh, struct data_hash *md5);
void data_statcache_put(struct data_statcache *sc, const struct stat *st,
                        const struct data_hash *xxh, const struct data_hash *md5);

/* ---- objects.c: hashing and storing, in parallel ---- */
struct data_store_stats {
    uint64_t files_read, bytes_read;   /* hashed from their bytes */
    uint64_t cached;                   /* hashed by the stat cache */
    uint64_t objects_written, bytes_written;
    bool need_sync;                    /* objects were written unsynced: blob_sync */
};
/* Hashes every file of scan (from the stat cache when it has it) and puts
 * into the object store each one that is not known to be there (known: the
 * same path with the same hash in parent, a stored version's manifest;
 * may be NULL). objects NULL: hashes only (a pipeline's dependencies).
 * threads <= 0: the CPUs. */
int data_store_files(struct blob *objects, struct data_scan *scan,
                     const struct data_statcache *sc, const struct data_manifest *parent,
                     bool md5, int threads, struct data_store_stats *stats,
                     struct cap_error *err);
/* Stores bytes in memory as an object of algo, synced; *h gets its hash. */
int data_store_bytes(struct blob *objects, enum data_algo algo, const void *p, size_t n,
                     struct data_hash *h, struct cap_error *err);
/* Stores the size bytes of fd (from its start) as the object named h,
 * without hashing them (the caller vouches for h: DVC's cache), by reflink
 * where the filesystem can, not synced. 1: written, 0: already there. */
int data_store_fd(struct blob *objects, const struct data_hash *h, int fd, uint64_t size,
                  struct cap_error *err);
/* Reads a whole object (a manifest) into memory; at most max bytes. */
int data_read_object(struct blob *objects, const struct data_hash *h, size_t max, char **out,
                     size_t *len, struct cap_error *err);

/* ---- dataset.c: recording a version ---- */
/* The latest version of name (*latest NULL when it has none) and, when
 * parent is given, its manifest (left empty when unreadable). */
int data_latest(const struct data_ctx *c, const char *name, cJSON **latest,
                struct data_manifest *parent, struct cap_error *err);
struct data_record_in {
    const char *name, *message, *author;   /* author NULL: the user */
    const struct data_manifest *m;          /* sorted; its objects stored */
    const cJSON *latest;                    /* may be NULL */
    const cJSON *meta;                      /* the version's meta object */
    bool need_sync;                         /* objects were written unsynced */
};
/* Stores m's text as the manifest object and records the version, unless
 * it is latest's content: then *out is latest with "unchanged": true. */
int data_record(const struct data_ctx *c, struct data_record_in *in, cJSON **out,
                struct cap_error *err);

/* ---- tables_add.c ---- */
/* Profiles the tables among m's files (read under root), checks them
 * against in->schema, and adds "tables", "objects" and "validation" to
 * meta; violations refuse unless in->warn_only. */
int data_tables_add(const struct data_ctx *c, const struct data_add_in *in, const char *root,
                    const struct data_manifest *m, const cJSON *latest,
                    const struct data_manifest *parent, cJSON *meta, struct cap_error *err);

/* ---- dvc_import.c: DVC in a dataset's life ---- */
/* The DVC repository (the nearest directory holding .dvc/) that contains
 * path; -CAP_EINVAL naming path when there is none. *root malloc'd. */
int data_dvc_repo_of(const char *path, char **root, struct cap_error *err);
/* What `dvc add PATH` leaves, for what data_add stored: the objects in the
 * repository's cache, then PATH.dvc; adds {"dvc": {"md5", "file"}} to meta. */
int data_dvc_write_out(const char *repo, const char *path, const struct data_scan *scan,
                       const struct data_manifest *m, cJSON *meta, struct cap_error *err);

#endif
