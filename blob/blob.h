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
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct blob;
struct blob_writer;

/* Creates root (and parents) when missing. */
int blob_open(const char *root_dir, struct blob **out, struct cap_error *err);
void blob_close(struct blob *b);
const char *blob_root(const struct blob *b);

/* allow_empty: the empty path (the root itself) is acceptable, for listing. */
int blob_check_path(const char *relpath, int allow_empty, struct cap_error *err);
/* The same with an explicit length, so that a NUL inside a decoded URL path
 * is seen and refused instead of silently ending the string. */
int blob_check_pathn(const char *relpath, size_t len, int allow_empty, struct cap_error *err);

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
/* out: a cJSON array of {path: <basename>, is_dir, file_size (files only)},
 * sorted by name; a file or a missing path lists as an empty array. */
int blob_list(struct blob *b, const char *relpath, cJSON **out, struct cap_error *err);
/* Deletes a file or a directory tree; a missing path is CAP_ENOTFOUND. */
int blob_delete(struct blob *b, const char *relpath, struct cap_error *err);

/* For tests: paths are resolved with openat2(RESOLVE_BENEATH) where the
 * kernel has it, else by a component-by-component walk. use_openat2 = 0
 * forces the walk; 1 goes back to openat2 when available. Returns whether
 * openat2 is now in use. */
int blob_set_openat2(struct blob *b, int use_openat2);

#endif
