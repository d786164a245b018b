/* blob.h - the artifact store. Every check on a client-supplied artifact
 * path lives here: nothing else opens files under the artifact root.
 *
 * Paths are relative to the artifact root, '/'-separated, as they appear
 * after /api/2.0/mlflow-artifacts/artifacts/ once the HTTP layer has
 * percent-decoded them once. blob_check_path refuses (CAP_EINVAL, message
 * "Invalid artifact path '<path>': <rule>"): empty paths (except for listing
 * the root), absolute paths, '.' and '..' segments, empty segments ('a//b'; a
 * single trailing '/' is allowed), backslashes, NUL and control characters,
 * paths over 4096 bytes or segments over 255, and any '%' followed by two hex
 * digits: after the one decoding by the HTTP layer, whatever is still encoded
 * was encoded twice (%252e%252e), so it is refused rather than decoded again.
 * A lone '%' is an ordinary character. Opening follows symlinks only while
 * they stay inside the root; one that leaves it (or any absolute symlink) is
 * refused with CAP_EINVAL "... resolves outside the artifact root".
 *
 * Writes stream to a temporary file beside the target and are renamed into
 * place on commit, so a failed or aborted upload never leaves a partial file.
 * Reads hand back a file descriptor so the server can stream large files
 * without holding them in memory. */
#ifndef CAP_BLOB_H
#define CAP_BLOB_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct blob;
struct blob_writer;

/* Creates root (and parents) when missing. */
int blob_open(const char *root_dir, struct blob **out, struct cap_error *err);

/* The artifact store named by uri: a directory, file:///dir, or
 * s3://bucket/prefix (blob_s3.c: SigV4 over HTTP(S) to opt's endpoint or
 * $MLFLOW_S3_ENDPOINT_URL, $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS
 * in $AWS_REGION; credentials from $AWS_ACCESS_KEY_ID,
 * $AWS_SECRET_ACCESS_KEY, $AWS_SESSION_TOKEN). An S3 store is checked at
 * open (one listing): a missing bucket, unknown key, wrong secret or a clock
 * SigV4 refuses is an error here, not at the first upload. Objects written
 * by content work on S3 too (blob_s3.c: spooled locally until named, never
 * replaced; blob_lock is a lock file in the spool directory, so it orders
 * the processes of one machine only). Any other scheme is CAP_EINVAL. */
struct blob_options {
    const char *s3_endpoint_url;  /* NULL: from the environment */
    const char *spool_dir;        /* S3 reads are spooled here (default: P_tmpdir) */
    size_t s3_part_size;          /* multipart part size; 0: 8 MiB (at least 5 MiB) */
};
int blob_open_uri(const char *uri, const struct blob_options *opt, struct blob **out,
                  struct cap_error *err);
/* blob_open_uri for a server or CLI working in data_dir: S3 reads and
 * objects waiting for their names are spooled in <data_dir>/spool
 * (created), on the data disk rather than in /tmp, which may be memory. */
int blob_open_in(const char *uri, const char *data_dir, const char *s3_endpoint_url,
                 struct blob **out, struct cap_error *err);
void blob_close(struct blob *b);
/* The directory's real path, or the s3:// URI. */
const char *blob_root(const struct blob *b);
/* Whether the store is local files (paths under blob_root can be opened). */
bool blob_is_local(const struct blob *b);

/* allow_empty: the empty path (the root itself) is acceptable, for listing. */
int blob_check_path(const char *relpath, int allow_empty, struct cap_error *err);
/* The same with an explicit length, so that a NUL inside a decoded URL path
 * is seen and refused instead of silently ending the string. */
int blob_check_pathn(const char *relpath, size_t len, int allow_empty, struct cap_error *err);
/* For listing: relpath without its "." segments (a copy), which name the
 * directory they are in: the MLflow client lists "<dir>/." and then
 * "<dir>/./sub" to download a whole tree. Only listing accepts them;
 * blob_check_path refuses them, and '..' stays refused everywhere. */
char *blob_list_path(const char *relpath);

int blob_write_open(struct blob *b, const char *relpath, struct blob_writer **out,
                    struct cap_error *err);
/* On an error w stays open: the caller still calls blob_write_abort. */
int blob_write(struct blob_writer *w, const void *data, size_t n, struct cap_error *err);
/* Makes the file durable (fsync) and moves it into place, replacing an
 * existing file (or a symlink, never its target); frees w, also on error. */
int blob_write_commit(struct blob_writer *w, struct cap_error *err);
/* Removes the temporary file; frees w. */
void blob_write_abort(struct blob_writer *w);

/* A regular file: *out_fd is open for reading (caller closes). A directory
 * or a missing path is CAP_ENOTFOUND. */
int blob_open_read(struct blob *b, const char *relpath, int *out_fd, uint64_t *out_size,
                   struct cap_error *err);
/* A body read as it arrives, for stores whose reads are transfers (S3):
 * blob_open_stream answers once the object's size is known (its first
 * bytes are on their way); a missing object is CAP_ENOTFOUND there. On a
 * local store it is CAP_ENOTIMPL: use blob_open_read, whose descriptor
 * the server can sendfile. */
struct blob_stream;
int blob_open_stream(struct blob *b, const char *relpath, struct blob_stream **out,
                     uint64_t *size, struct cap_error *err);
/* Copies up to max bytes into buf: how many, or BLOB_STREAM_END after the
 * last byte, or BLOB_STREAM_ERROR when the transfer failed. 0: nothing has
 * arrived yet; then wake(wake_cls) is called once, from another thread,
 * when something has (or the transfer ended), unless the stream is closed
 * first. Never blocks. */
#define BLOB_STREAM_END (-1)
#define BLOB_STREAM_ERROR (-2)
long blob_stream_read(struct blob_stream *st, void *buf, size_t max, void (*wake)(void *),
                      void *wake_cls);
/* Ends the stream (a transfer still running is abandoned); frees it. */
void blob_stream_close(struct blob_stream *st);

/* out: a cJSON array of {path: <basename>, is_dir, file_size (files only)},
 * sorted by name; a file or a missing path lists as an empty array. */
int blob_list(struct blob *b, const char *relpath, cJSON **out, struct cap_error *err);
/* Deletes a file or a directory tree; a missing path is CAP_ENOTFOUND. */
int blob_delete(struct blob *b, const char *relpath, struct cap_error *err);

/* ---- objects written by content (blob_cas.c) ----
 * For stores whose paths are names of their content (data/'s objects): the
 * name is known only once the bytes are written, an object is never
 * replaced, and thousands are written per batch, so each one is not synced
 * (blob_sync syncs the batch once: ~50 µs saved per small file).
 * blob_write_open_anon opens an unnamed file in the directory dir (created
 * as needed; O_TMPFILE where the filesystem has it, so a killed writer
 * leaves nothing behind; else a ".capstan-tmp-" file that blob_sweep_tmp
 * removes), written with blob_write. */
/* direct: a large file's bytes bypass the page cache (O_DIRECT), where the
 * filesystem allows: here 1 GB took 0.77 s that way against 2.8 s of
 * kernel copying plus 0.5 s of sync through the cache. blob_write then
 * wants 4096-aligned buffers and lengths; anything else (a file's tail)
 * goes through the cache from there on. */
int blob_write_open_anon(struct blob *b, const char *dir, bool direct, struct blob_writer **out,
                         struct cap_error *err);
/* Makes w's content a reflink of the file src_fd (FICLONE: shared blocks,
 * no bytes copied, copy-on-write later) where the filesystem can: 0 when
 * done, -CAP_ENOTIMPL otherwise (then write the bytes). */
int blob_write_clone(struct blob_writer *w, int src_fd, struct cap_error *err);
/* Names it relpath, read-only (0444); frees w. Returns 1 when relpath
 * already existed (then w's bytes are dropped, the existing file is kept),
 * 0 when written. sync: the file and its name are durable on return (two
 * fsyncs: for a handful of objects, where blob_sync would also wait for
 * everything else written to the filesystem); else call blob_sync. */
int blob_write_commit_as(struct blob_writer *w, const char *relpath, bool sync,
                         struct cap_error *err);
/* 1 when relpath is a regular file (*size, may be NULL, gets its size), 0
 * when nothing is there, negative on errors. */
int blob_exists(struct blob *b, const char *relpath, uint64_t *size, struct cap_error *err);
/* Makes everything written so far durable (syncfs on the root's filesystem). */
int blob_sync(struct blob *b, struct cap_error *err);
/* Materialises relpath as name in the directory dst_dirfd (outside the
 * store): a reflink where the filesystem can, else a hard link when
 * allow_link (the object is read-only, so the link is too), else a copy.
 * *how: 'r', 'l' or 'c'. */
int blob_copy_out(struct blob *b, const char *relpath, int dst_dirfd, const char *name,
                  bool allow_link, char *how, struct cap_error *err);
/* Every regular file under dir as relative paths (from the root) with
 * sizes, for sweeping: calls fn for each; fn returning non-zero stops. */
typedef int (*blob_walk_fn)(void *cls, const char *relpath, uint64_t size);
int blob_walk(struct blob *b, const char *dir, blob_walk_fn fn, void *cls,
              struct cap_error *err);
/* Removes the named temporary files that interrupted writers left under
 * dir; only safe while no writer runs (hold the exclusive lock). */
int blob_sweep_tmp(struct blob *b, const char *dir, struct cap_error *err);
/* A lock on the store, across processes: writers of objects take it shared,
 * a sweeper exclusive. Blocks. *fd is released with blob_unlock. */
int blob_lock(struct blob *b, bool exclusive, int *fd, struct cap_error *err);
void blob_unlock(int fd);

/* For tests: paths are resolved with openat2(RESOLVE_BENEATH) where the
 * kernel has it, else by a component-by-component walk. use_openat2 = 0
 * forces the walk; 1 goes back to openat2 when available. Returns whether
 * openat2 is now in use. */
int blob_set_openat2(struct blob *b, int use_openat2);

#endif
