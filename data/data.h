/* data.h - datasets: files and directories stored by content, with versions.
 *
 * A dataset version is a manifest: the sorted list of (relative path, size,
 * content hash) of the files it holds. Every file is an object of the
 * object store (a blob/ store of its own, <data>/datasets by default) at
 * objects/<algo>/<first two hex digits>/<the rest>, written once, read-only
 * and never changed; the manifest is an object too, and its own hash is the
 * version's hash, so the same tree always has the same hash and a changed
 * file changes one manifest line. A version row in the metadata store names
 * the manifest; it is written only after every object it names is durable,
 * so a killed `add` leaves objects that no version names, which `gc` finds.
 *
 * Hashes are "xxh128:<32 hex>" (xxHash's XXH3-128: 5.6 GB/s on one core
 * here against MD5's 0.65 GB/s, bench/data/hashes.c) or "md5:<32 hex>" for
 * files taken from a DVC cache without rehashing (`import-dvc`), and for the
 * md5 a `.dvc` file needs (computed beside xxh128 only when asked for).
 *
 * Names: 1-128 characters of [A-Za-z0-9._-], not starting with '.' or '-'.
 * References: NAME (the latest version), NAME@N, or NAME@TAG where a tag
 * K=V was given (NAME@K=V). Public surface of the data/ module: data_. */
#ifndef CAP_DATA_H
#define CAP_DATA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct store;
struct blob;

/* ---- hashes (hash.c) ---- */
enum data_algo { DATA_XXH128 = 1, DATA_MD5 = 2 };
struct data_hash {
    enum data_algo algo; /* 0: none */
    unsigned char d[16];
};
/* "xxh128:" or "md5:" + 32 hex + NUL */
#define DATA_HASH_STR 40
void data_hash_format(const struct data_hash *h, char out[DATA_HASH_STR]);
/* "algo:hex"; -CAP_EINVAL naming what was expected. */
int data_hash_parse(const char *s, struct data_hash *out, struct cap_error *err);
bool data_hash_eq(const struct data_hash *a, const struct data_hash *b);
/* The object store path of an object: objects/<algo>/ab/cdef... */
void data_object_path(const struct data_hash *h, char out[64]);
/* Hashes n bytes in memory with algo (manifests, tests). */
void data_hash_bytes(enum data_algo algo, const void *p, size_t n, struct data_hash *out);

/* ---- manifests (manifest.c) ---- */
struct data_entry {
    char *path;              /* relative, '/'-separated, no '.' or '..' segments */
    uint64_t size;
    struct data_hash hash;   /* the object's address */
    struct data_hash md5;    /* algo 0 unless known (DVC interop) */
};
struct data_manifest {
    struct data_entry *e;
    size_t n, cap;
};
void data_manifest_free(struct data_manifest *m);
/* A manifest path: relative, '/'-separated, no empty, '.' or '..'
 * segment, at most 4096 bytes (what `get` may safely write below a
 * directory, whatever a manifest came from). */
bool data_path_ok(const char *path);
/* Takes ownership of path (malloc'd). */
void data_manifest_push(struct data_manifest *m, char *path, uint64_t size,
                        const struct data_hash *hash, const struct data_hash *md5);
/* Sorts by path (bytewise) and refuses a path given twice. */
int data_manifest_sort(struct data_manifest *m, struct cap_error *err);
/* The canonical text (manifest.c says its rule), whose hash is the
 * version's; md5 (when not the address) is not part of it. */
char *data_manifest_text(const struct data_manifest *m, size_t *len);
int data_manifest_parse(const char *text, size_t len, struct data_manifest *out,
                        struct cap_error *err);
/* The entry at path, by binary search (m sorted), or NULL. */
const struct data_entry *data_manifest_find(const struct data_manifest *m, const char *path);

/* ---- the dataset service (dataset.c and friends) ---- */
struct data_ctx {
    struct store *st;
    struct blob *objects;     /* the object store */
    const char *stat_cache;   /* path of the stat cache file, NULL: none */
    int threads;              /* hashing threads (0: the CPUs) */
};

/* Opens the object store: destination (a directory, file:///dir or
 * s3://bucket/prefix, reached at s3_endpoint or as blob_open_uri says),
 * or else <data_dir>/datasets. */
int data_open_objects(const char *data_dir, const char *destination, const char *s3_endpoint,
                      struct blob **out, struct cap_error *err);

bool data_name_ok(const char *name);
/* NAME, NAME@N or NAME@K=V; fills name (<= 128 + NUL), version (0: latest
 * or by tag) and tag (NULL or the "K=V" part, pointing into ref). */
int data_ref_parse(const char *ref, char name[129], int64_t *version, const char **tag,
                   struct cap_error *err);

struct data_add_in {
    const char *path;         /* a file or a directory */
    const char *name;
    const char *message;      /* may be NULL */
    const char *author;       /* may be NULL: the user */
    const char *const *tags;  /* "K=V" */
    size_t ntags;
    bool dvc;                 /* also write PATH.dvc as `dvc add` would, and fill the DVC
                                 cache of the repository PATH is in (md5s computed beside) */
    const char *schema;       /* a schema file (data/table.h) every table must meet, or NULL */
    bool warn_only;           /* schema violations are recorded as warnings, not refused */
};
/* Stores path's files and records a new version of name (created when
 * new), unless the content equals the latest version's: then *out is that
 * version with "unchanged": true. *out: the version object (see
 * data_version_json). Paths that do not exist, cannot be read, symlinks
 * that leave the tree, special files: -CAP_EINVAL naming the path; nothing
 * is recorded. */
int data_add(const struct data_ctx *c, const struct data_add_in *in, cJSON **out,
             struct cap_error *err);

/* The version a reference names: {"name", "version", "hash", "size",
 * "files", "author", "created_at", "message", "parent", "tags": {K: V},
 * "schema", "profile" (when tabular)}. */
int data_show(const struct data_ctx *c, const char *ref, cJSON **out, struct cap_error *err);
/* A DVC repository's tracked data as versions, without rehashing (DVC 3
 * outputs; DVC 2's md5-dos2unix names are rehashed as plain MD5): every
 * .dvc file under dir (not below .dvc/ or .git/), each output a version of
 * the dataset name (when one output in all) or named after its path.
 * *out: [version objects]. */
int data_import_dvc(const struct data_ctx *c, const char *dir, const char *name, cJSON **out,
                    struct cap_error *err);
/* Every dataset: [{"name", "versions", "latest": <version object>}]. */
int data_list(const struct data_ctx *c, cJSON **out, struct cap_error *err);
/* A dataset's versions, newest first. */
int data_log(const struct data_ctx *c, const char *name, cJSON **out, struct cap_error *err);
/* The manifest of a version. */
int data_manifest_of(const struct data_ctx *c, const char *ref, struct data_manifest *out,
                     cJSON **version, struct cap_error *err);
/* Writes the version's files under out_dir (created; must be empty or
 * absent): reflinks where the filesystem can, else hard links to the
 * read-only objects, else copies. *out: {"files", "bytes", "linked",
 * "copied"}. */
int data_get(const struct data_ctx *c, const char *ref, const char *out_dir, cJSON **out,
             struct cap_error *err);
/* Opens one file of a version for reading: path names it, or NULL when
 * the version holds exactly one file. *fd (close it), *size, and *name
 * (malloc'd: its path in the version). */
int data_open_file(const struct data_ctx *c, const char *ref, const char *path, int *fd,
                   uint64_t *size, char **name, struct cap_error *err);
/* {"a", "b", "added": [{path, size}], "removed": [...], "changed": [{path,
 * size_a, size_b}], "unchanged": count, "bytes_a", "bytes_b"}. */
int data_diff(const struct data_ctx *c, const char *ref_a, const char *ref_b, cJSON **out,
              struct cap_error *err);
/* Removes one version (NAME@N) or every version of a dataset (NAME); the
 * objects stay until gc. */
int data_rm(const struct data_ctx *c, const char *ref, cJSON **out, struct cap_error *err);
/* Deletes every object that no version and no run's dataset input
 * (source "capstan-dataset:...", digest = a version hash) references.
 * dry_run: counts only. *out: {"objects_kept", "objects_deleted",
 * "bytes_deleted"}. */
int data_gc(const struct data_ctx *c, bool dry_run, cJSON **out, struct cap_error *err);

/* ---- lineage (lineage.c) ----
 * A run uses a version through an MLflow dataset input whose source is
 * "capstan-dataset:NAME@N" (as is, or as the uri inside the JSON source the
 * mlflow client writes) and, when Capstan records it, whose digest is the
 * version hash's 32 hex digits. */
#define DATA_SOURCE_PREFIX "capstan-dataset:"
/* The NAME@N a source names; -1 when it names none. */
int data_source_ref(const char *source, char ref[160]);
/* Records that run_id used the version ref names (context: "training",
 * "evaluation"..., may be NULL); *out: the dataset input as logged. */
int data_log_input(const struct data_ctx *c, const char *ref, const char *run_id,
                   const char *context, cJSON **out, struct cap_error *err);
/* {"version": ..., "runs": [...], "model_versions": [...]}: who used it. */
int data_usage(const struct data_ctx *c, const char *ref, cJSON **out, struct cap_error *err);
/* Adds to each "dataset" node of a model version's lineage graph
 * (registry_lineage) that names a Capstan dataset its "capstan_dataset":
 * the version object (hash, size, files, tags, profile summary), or
 * {"ref", "removed": true} when it is gone. */
void data_lineage_enrich(const struct data_ctx *c, cJSON *graph);

/* ---- DVC's view of a workspace path (dvc_path.c), for pipelines ----
 * What dvc.lock records for a stage's dependency or output, with the rules
 * of data/dvc.h (plain MD5 of a file's bytes; a directory's md5 is its
 * .dir manifest's, suffixed ".dir"), and the cache `dvc repro` fills. */
/* The nearest directory at or above dir (absolute) that holds .dvc/, or
 * NULL; malloc'd. The one rule for where a DVC repository is, for `data
 * add --dvc`, `import-dvc` and pipelines alike. */
char *data_dvc_repo_above(const char *dir);
/* The DVC cache of a repository: <repo>/.dvc/cache (a cache.dir set in
 * .dvc/config is not read). malloc'd. */
char *data_dvc_cache_of(const char *repo);
/* An object's name in the cache: 32 hex digits, then ".dir" for a manifest. */
#define DATA_DVC_OID 37
void data_dvc_oid(const struct data_hash *md5, bool is_dir, char out[DATA_DVC_OID]);
/* Loads text as one YAML document with libyaml into *doc (free it with
 * yaml_document_delete); a syntax error is -CAP_EINVAL "<name>:<line>:<column>:
 * not valid YAML: <what libyaml found>" (dvc.c; the .dvc, dvc.yaml,
 * dvc.lock and params readers share it). */
struct yaml_document_s;
int data_yaml_load(const char *name, const char *text, size_t len, struct yaml_document_s *doc,
                   struct cap_error *err);
/* doc as the YAML DVC's writer (ruamel.yaml) writes it (dvc.c): block
 * style in doc's key order, sequences not indented under their key,
 * strings quoted only where YAML 1.2 would read them as another type,
 * numbers as Python prints them. *out malloc'd. */
int data_dvc_yaml(const cJSON *doc, char **out, size_t *len, struct cap_error *err);
/* Reads a whole regular file of at most max bytes (+ a NUL) into *out
 * (free() it); a missing file is -CAP_ENOTFOUND naming it. */
int data_read_file(const char *path, size_t max, char **out, size_t *len, struct cap_error *err);
/* Writes len bytes to path through a temporary file beside it, then
 * renamed: a failure leaves the old file or none. sync: the bytes are
 * fsynced before the rename (a cache's entry may skip that: one torn by a
 * crash reads as a miss). */
int data_write_file(const char *path, const void *text, size_t len, bool sync,
                    struct cap_error *err);
/* A stat cache (statcache.c): files' hashes keyed on their stat, so that
 * an unchanged file is not read again. A missing or unreadable cache file
 * is an empty cache (it is a cache). Not thread-safe: one user at a time. */
struct data_statcache;
struct data_statcache *data_statcache_load(const char *path);
int data_statcache_save(struct data_statcache *sc, const char *path, struct cap_error *err);
void data_statcache_free(struct data_statcache *sc);
struct data_dvc_meta {
    struct data_hash md5;    /* DATA_MD5: the file's, or the .dir manifest's */
    bool is_dir;
    uint64_t size;           /* bytes; a directory: all of its files */
    uint64_t nfiles;         /* directories only */
};
/* Hashes path (a file or a directory), taking unchanged files' hashes from
 * sc (NULL: none; the new hashes are put into it). A path that does not
 * exist is -CAP_ENOTFOUND naming it. */
int data_dvc_hash(const char *path, struct data_statcache *sc, struct data_dvc_meta *out,
                  struct cap_error *err);
/* Hashes path and puts its files, and a directory's .dir manifest, into
 * the DVC cache at cache_dir (read-only objects, as `dvc commit` leaves
 * them; objects already there are kept). */
int data_dvc_commit(const char *cache_dir, const char *path, struct data_statcache *sc,
                    struct data_dvc_meta *out, struct cap_error *err);
/* 1 when every object of m (a directory: its .dir and each file) is in the
 * cache, 0 when one is missing. */
int data_dvc_cached(const char *cache_dir, const struct data_dvc_meta *m, struct cap_error *err);
/* Replaces root/relpath (relative, '/'-separated, beneath root) with m's
 * content from the cache: built beside it under a temporary name, then
 * renamed over it, so a failure leaves the old content. Files are
 * reflinked where the filesystem can, else copied (never hard-linked: the
 * workspace's files stay writable, as DVC's default "reflink,copy"). */
int data_dvc_checkout(const char *cache_dir, const struct data_dvc_meta *m, const char *root,
                      const char *relpath, struct cap_error *err);
/* Removes root/relpath (a file or a whole directory; never following a
 * link out of root); a missing path is not an error. */
int data_dvc_remove(const char *root, const char *relpath, struct cap_error *err);

#endif
