/* dvc.h - DVC 3 compatibility, internal to data/ (prefix data_dvc_): reading
 * a DVC repository's .dvc files, cache and .dir manifests without rehashing
 * (`capstan data import-dvc`), and writing what `dvc add` would write, so
 * that `dvc status` accepts it (`capstan data add --dvc`).
 *
 * The facts relied on, read in dvc 3.67.1 / dvc-data 3.18.3 and checked by
 * running dvc 3.67.1 and dvc 2.58.2 on small trees
 * (tests/integration/test_dvc_formats.py checks them on every run):
 * - A .dvc file is YAML: {outs: [{md5, size, nfiles (directories only),
 *   hash: md5, path}]}, in that key order, the list not indented under
 *   "outs:", strings quoted only where YAML 1.2 would read them as another
 *   type ('123', 'null', '2024-01-01') or where plain style is not allowed
 *   ('a: b', '#x'). size is the file's bytes, or the sum over a directory.
 * - "hash: md5" marks a DVC 3 output: plain MD5 of the bytes, objects at
 *   <cache>/files/md5/ab/cdef... DVC 2 wrote no "hash": its md5 is
 *   "md5-dos2unix" (a file that looks like text by a heuristic on its first
 *   512 bytes is hashed with CRLF turned into LF; 'x\r\ny\r\n' is named
 *   1b5bb282..., the MD5 of 'x\ny\n', and stored with its CRLF) and its
 *   objects are at <cache>/ab/cdef...; DVC 3 still reads those from there.
 *   So a legacy object's name is not the MD5 of its bytes when it holds
 *   CRLF text: importing one needs its bytes hashed.
 * - A directory's md5 ends in ".dir" and names a cache object holding its
 *   manifest: Python's json.dumps(..., sort_keys=True) of
 *   [{"md5": <hex>, "relpath": <'/'-joined path>}, ...] sorted by relpath as
 *   a string (code points: for UTF-8, bytewise): separators ", " and ": ",
 *   no trailing newline, non-ASCII as \uXXXX (lowercase hex, surrogate pairs
 *   past U+FFFF), \" \\ \n \r \t \b \f, other controls and DEL as \u00XX.
 *   Its md5 is the MD5 of those bytes. No sizes: they are not in it. Names
 *   that are not UTF-8 make `dvc add` fail, so they are refused here too.
 * - `dvc status` reports "not in cache" unless the .dir object and every
 *   file object are in the cache; it rehashes (and deletes when wrong) any
 *   object whose mode is not exactly 0444, and trusts those that are, even
 *   with wrong bytes: what we put there must be right. */
#ifndef CAP_DATA_DVC_H
#define CAP_DATA_DVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "data/data.h"

/* One output of a .dvc file. */
struct data_dvc_out {
    char *path;           /* relative to the .dvc file's directory */
    struct data_hash md5; /* DATA_MD5; for a legacy output, DVC 2's md5-dos2unix */
    bool is_dir;          /* md5 ended in ".dir": it names a .dir manifest */
    bool legacy;          /* no "hash: md5": DVC 2's hash and cache layout */
    bool cache;           /* false: "cache: false", DVC keeps no object */
    int64_t size;         /* bytes (a directory: all its files); -1: absent */
    int64_t nfiles;       /* directories; -1: absent */
};
struct data_dvc_file {
    struct data_dvc_out *outs;
    size_t n;
};
/* Parses a .dvc file's text; name is the file's name for messages, which
 * read "<name>:<line>:<column>: <what is wrong>, expected <what>".
 * Outputs without an md5 (DVC's cloud outputs) or with their files listed
 * inline ("files:", from `dvc import`) are refused: they have no .dir
 * object to read. */
int data_dvc_parse(const char *name, const char *text, size_t len, struct data_dvc_file *out,
                   struct cap_error *err);
/* Reads and parses the .dvc file at path. */
int data_dvc_load(const char *path, struct data_dvc_file *out, struct cap_error *err);
void data_dvc_file_free(struct data_dvc_file *f);

/* The text `dvc add` writes for one output (path, md5, is_dir, size, and
 * nfiles for a directory; legacy and cache are not written: the output is
 * a DVC 3 one) into *out (free() it). A path that is not UTF-8 is
 * -CAP_EINVAL: DVC cannot track it. */
int data_dvc_format(const struct data_dvc_out *o, char **out, size_t *len,
                    struct cap_error *err);
/* Writes that text to dvc_path: a temporary file beside it, fsynced, then
 * renamed, so a failure leaves the old file or none. */
int data_dvc_write(const char *dvc_path, const struct data_dvc_out *o, struct cap_error *err);

/* ---- the cache (dvc_cache.c) ---- */
/* Where the object is: <cache_dir>/files/md5/ab/cdef...[.dir], or for a
 * legacy (DVC 2) output <cache_dir>/ab/cdef...[.dir]. Each kind is looked
 * up only in its own layout, as DVC does: a legacy object named by a
 * md5-dos2unix is not the object of the plain md5 with that name. *path
 * (malloc'd) and *size are set when found; -CAP_ENOTFOUND naming the path
 * when not. */
int data_dvc_locate(const char *cache_dir, const struct data_hash *md5, bool is_dir, bool legacy,
                    char **path, uint64_t *size, struct cap_error *err);

/* The size of the file at relpath whose md5 is md5, for a .dir manifest's
 * entries (.dir has no sizes): 0 or a negative CAP_E* with err set. */
typedef int (*data_dvc_size_fn)(void *ctx, const char *relpath, const struct data_hash *md5,
                                uint64_t *size, struct cap_error *err);
/* Parses a .dir manifest's bytes into out (appended, in the file's order,
 * sizes 0). Each entry's hash is its object's name (DATA_MD5); its md5 is
 * the same for a DVC 3 manifest and left unset (algo 0) for a legacy one,
 * whose names are md5-dos2unix. Paths must pass data_path_ok. */
int data_dvc_dir_parse(const char *name, const char *text, size_t len, bool legacy,
                       struct data_manifest *out, struct cap_error *err);
/* Reads the .dir object md5 names from the cache, checks that its bytes
 * hash to its name, and parses it; sizes come from size_fn, or when it is
 * NULL from the size of each entry's object in the cache (a missing object
 * is -CAP_ENOTFOUND naming it). */
int data_dvc_dir_read(const char *cache_dir, const struct data_hash *md5, bool legacy,
                      data_dvc_size_fn size_fn, void *ctx, struct data_manifest *out,
                      struct cap_error *err);
/* The exact .dir bytes DVC 3 writes for m (sorted bytewise by path, as
 * data_manifest_sort leaves it; every entry with its md5 set) and their MD5,
 * the directory's md5. -CAP_EINVAL naming the entry for an unsorted or
 * repeated path, a missing md5, or a path that is not UTF-8. */
int data_dvc_dir_bytes(const struct data_manifest *m, char **out, size_t *len,
                       struct data_hash *md5, struct cap_error *err);

/* Puts an object into the DVC 3 layout (files/md5/...) of cache, the
 * cache directory opened with blob_open: written to a temporary file and
 * renamed, then made read-only (0444, which DVC trusts without rehashing:
 * the caller vouches for md5). An object already there is left as it is.
 * _bytes: from memory (a .dir manifest); _fd: the size bytes from fd's
 * offset to its end; a file that turns out longer or shorter is
 * -CAP_ECONFLICT and nothing is stored. */
int data_dvc_cache_put_bytes(struct blob *cache, const struct data_hash *md5, bool is_dir,
                             const void *p, size_t n, struct cap_error *err);
int data_dvc_cache_put_fd(struct blob *cache, const struct data_hash *md5, int fd, uint64_t size,
                          struct cap_error *err);

/* Puts the files of m (sorted, each with md5 and size), found under root,
 * into the cache and, for a directory, its .dir object; *md5 gets the
 * output's md5 (a directory's .dir's). is_dir false: m holds one entry. */
int data_dvc_cache_tree(const char *cache_dir, const char *root, const struct data_manifest *m,
                        bool is_dir, struct data_hash *md5, struct cap_error *err);
/* What `dvc add` leaves for the files of m (sorted, each with md5 and
 * size), found under root: their objects and, for a directory, its .dir
 * object in cache_dir, then (last, so that it never names a missing object)
 * the .dvc file at dvc_path naming out_path. is_dir false: m holds one
 * entry, the file root/<its path>. *md5 (may be NULL) gets the output's
 * md5 (for a directory, its .dir's). */
int data_dvc_add(const char *cache_dir, const char *root, const struct data_manifest *m,
                 bool is_dir, const char *dvc_path, const char *out_path,
                 struct data_hash *md5, struct cap_error *err);

#endif
