/* blob_fs.h - internals of the local-directory artifact store shared by
 * its files (blob_fs.c: paths, reads, writes; blob_cas.c: objects written
 * by content). Not part of blob/'s public surface. */
#ifndef CAP_BLOB_FS_H
#define CAP_BLOB_FS_H

#include <stdbool.h>
#include <sys/types.h>

#include "blob/blob.h"

#define TMP_PREFIX ".capstan-tmp-"

struct blob_cas_dirs;

struct blob_s3;
struct blob_s3_writer;

struct blob {
    struct blob_s3 *s3;         /* an S3 store (blob_s3.c): nothing below is used */
    struct blob_cas_dirs *cas;  /* blob_cas.c's open directories */
    int rootfd;
    char *root;         /* realpath of the root */
    bool have_openat2;  /* the kernel answers openat2 */
    bool use_openat2;
};

struct blob_writer {
    struct blob_s3_writer *s3;  /* a writer of an S3 store: nothing below is used */
    struct blob *b;     /* blob_write_open_anon's writers: named at commit */
    int dirfd;
    int fd;
    char *name;         /* final name inside dirfd */
    char *relpath;      /* for messages */
    char tmp[sizeof TMP_PREFIX + 32];
    bool direct;        /* fd has O_DIRECT (blob_write_open_anon) */
};

/* Opens path (relative, already checked) beneath the root. */
int blob_fs_resolve(const struct blob *b, const char *path, int flags, int *out);
/* CAP_ENOTFOUND with the one message for a missing artifact (both backends). */
int blob_fs_not_found(struct cap_error *err, const char *path);
/* Maps an errno from resolving or touching path to a cap_error. */
int blob_fs_err(struct cap_error *err, int e, const char *path, const char *doing);
/* Checks relpath and returns a copy without its trailing '/'. */
int blob_fs_normalise(const char *relpath, int allow_empty, char **out, struct cap_error *err);
/* Splits "a/b/c" into parent "a/b" (in place) and name "c". */
const char *blob_fs_split_last(char *path, char **parent);
/* Opens (creating as needed) the directory parent, for the file at path. */
int blob_fs_open_parent(struct blob *b, const char *parent, const char *path, int *out,
                        struct cap_error *err);
void blob_fs_writer_free(struct blob_writer *w);
/* A new ".capstan-tmp-<hex>" file in dirfd (its name in w->tmp), opened
 * for writing with mode; -1 with errno set when none could be made. */
int blob_fs_open_tmp(struct blob_writer *w, int dirfd, mode_t mode);
/* blob_cas.c's cache of open directories: made with the store, dropped
 * whenever a directory may have gone (blob_delete), freed with it. */
void blob_cas_init(struct blob *b);
void blob_cas_forget(struct blob *b);
void blob_cas_free(struct blob *b);

#endif
