/* dvc_path.c - DVC's view of a workspace path for pipelines: the md5 that
 * dvc.lock records (hashed on a thread per CPU, unchanged files from the
 * stat cache), committing an output into the cache, and checking one out. */
#include "data/data.h"
#include "data/dvc.h"
#include "data/intern.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "blob/blob.h"

/* The scan of path, every file hashed (md5 beside xxh128) and the sorted
 * manifest of them, with md5 set on every entry. */
static int hash_tree(const char *path, struct data_statcache *sc, struct data_scan *scan,
                     struct data_manifest *m, struct cap_error *err)
{
    struct stat st;
    if (stat(path, &st) < 0 && errno == ENOENT)
        return cap_err(err, CAP_ENOTFOUND, "'%.300s' does not exist", path);
    int rc = data_scan_tree(path, scan, err);
    if (rc < 0)
        return rc;
    struct data_store_stats stats;
    if ((rc = data_store_files(NULL, scan, sc, NULL, true, 0, &stats, err)) < 0)
        return rc;
    for (size_t i = 0; i < scan->n; i++) {
        struct data_file *f = &scan->f[i];
        data_manifest_push(m, cap_xstrdup(f->rel), (uint64_t)f->st.st_size, &f->xxh, &f->md5);
        if (sc)
            data_statcache_put(sc, &f->st, &f->xxh, &f->md5);
    }
    return data_manifest_sort(m, err);
}

static int meta_of(const struct data_scan *scan, const struct data_manifest *m,
                   struct data_dvc_meta *out, struct cap_error *err)
{
    *out = (struct data_dvc_meta){.is_dir = scan->is_dir, .size = scan->bytes,
                                  .nfiles = scan->is_dir ? m->n : 0};
    if (!scan->is_dir) {
        out->md5 = m->e[0].md5;
        return 0;
    }
    char *bytes;
    size_t len;
    int rc = data_dvc_dir_bytes(m, &bytes, &len, &out->md5, err);
    free(bytes);
    return rc;
}

int data_dvc_hash(const char *path, struct data_statcache *sc, struct data_dvc_meta *out,
                  struct cap_error *err)
{
    struct data_scan scan = {0};
    struct data_manifest m = {0};
    int rc = hash_tree(path, sc, &scan, &m, err);
    if (rc == 0)
        rc = meta_of(&scan, &m, out, err);
    data_manifest_free(&m);
    data_scan_free(&scan);
    return rc;
}

int data_dvc_commit(const char *cache_dir, const char *path, struct data_statcache *sc,
                    struct data_dvc_meta *out, struct cap_error *err)
{
    struct data_scan scan = {0};
    struct data_manifest m = {0};
    int rc = hash_tree(path, sc, &scan, &m, err);
    if (rc == 0)
        rc = meta_of(&scan, &m, out, err);
    if (rc == 0)
        rc = data_dvc_cache_tree(cache_dir, scan.root, &m, scan.is_dir, &out->md5, err);
    data_manifest_free(&m);
    data_scan_free(&scan);
    return rc;
}

int data_dvc_cached(const char *cache_dir, const struct data_dvc_meta *m, struct cap_error *err)
{
    char *path = NULL;
    uint64_t size;
    int rc = data_dvc_locate(cache_dir, &m->md5, m->is_dir, false, &path, &size, err);
    free(path);
    if (rc == 0 && m->is_dir) {
        struct data_manifest files = {0};
        rc = data_dvc_dir_read(cache_dir, &m->md5, false, NULL, NULL, &files, err);
        data_manifest_free(&files);
    }
    if (rc == -CAP_ENOTFOUND)
        return 0;
    return rc < 0 ? rc : 1;
}

/* The cache-relative path of a file object. */
static void object_of(const struct data_hash *md5, char out[64])
{
    char oid[DATA_DVC_OID];
    data_dvc_oid(md5, false, oid);
    snprintf(out, 64, "files/md5/%.2s/%s", oid, oid + 2);
}

/* Fills the new directory tmp (in pfd) with the files of the .dir m names. */
static int fill_dir(struct blob *cache, const char *cache_dir, const struct data_dvc_meta *m,
                    int pfd, const char *tmp, struct cap_error *err)
{
    struct data_manifest files = {0};
    int rc = data_dvc_dir_read(cache_dir, &m->md5, false, NULL, NULL, &files, err);
    if (rc < 0)
        return rc;
    int dfd = -1;
    if (mkdirat(pfd, tmp, 0755) < 0 ||
        (dfd = openat(pfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        rc = cap_err(err, CAP_EINTERNAL, "Cannot create '%.300s': %s", tmp, strerror(errno));
    for (size_t i = 0; i < files.n && rc == 0; i++) {
        char *name, obj[64], how;
        int fd;
        int r = data_open_parent_of(dfd, files.e[i].path, &name, &fd);
        if (r < 0) {
            rc = cap_err(err, CAP_EINTERNAL, "Cannot create the directory of '%.300s': %s",
                         files.e[i].path, strerror(-r));
            break;
        }
        object_of(&files.e[i].hash, obj);
        rc = blob_copy_out(cache, obj, fd, name, false, &how, err);
        close(fd);
    }
    if (dfd >= 0)
        close(dfd);
    data_manifest_free(&files);
    return rc;
}

/* The path's parent below root (created) and a temporary name beside it. */
static int open_target(const char *root, const char *relpath, int *pfd, char **name,
                       char **copy, struct cap_error *err)
{
    if (!data_path_ok(relpath))
        return cap_err(err, CAP_EINVAL, "'%.300s' is not a path inside the repository, "
                       "expected a relative path without '..'", relpath);
    int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return cap_err(err, CAP_EINVAL, "Cannot open '%.300s': %s", root, strerror(errno));
    *copy = cap_xstrdup(relpath);
    int r = data_open_parent_of(rootfd, *copy, name, pfd);
    close(rootfd);
    if (r < 0) {
        free(*copy);
        return cap_err(err, CAP_EINVAL, "Cannot create the directory of '%.300s/%.300s': %s",
                       root, relpath, strerror(-r));
    }
    return 0;
}

int data_dvc_checkout(const char *cache_dir, const struct data_dvc_meta *m, const char *root,
                      const char *relpath, struct cap_error *err)
{
    struct blob *cache;
    int rc = blob_open(cache_dir, &cache, err), pfd = -1;
    char *name = NULL, *copy = NULL, tmp[64];
    if (rc < 0)
        return rc;
    if ((rc = open_target(root, relpath, &pfd, &name, &copy, err)) < 0)
        goto done;
    static unsigned counter;
    snprintf(tmp, sizeof tmp, ".capstan-checkout-%ld-%u", (long)getpid(),
             __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    if (m->is_dir) {
        rc = fill_dir(cache, cache_dir, m, pfd, tmp, err);
    } else {
        char obj[64], how;
        object_of(&m->md5, obj);
        rc = blob_copy_out(cache, obj, pfd, tmp, false, &how, err);
    }
    if (rc == 0 && (rc = data_dvc_remove(root, relpath, err)) == 0 &&
        renameat(pfd, tmp, pfd, name) < 0)
        rc = cap_err(err, CAP_EINTERNAL, "Cannot rename into '%.300s': %s", relpath,
                     strerror(errno));
    if (rc < 0) { /* what was built goes; the old content stays */
        struct cap_buf t;
        cap_buf_init(&t);
        const char *slash = strrchr(relpath, '/');
        cap_buf_printf(&t, "%.*s%s", slash ? (int)(slash - relpath + 1) : 0, relpath, tmp);
        struct cap_error ignored;
        data_dvc_remove(root, t.data, &ignored);
        cap_buf_free(&t);
    }
done:
    if (pfd >= 0)
        close(pfd);
    free(copy);
    blob_close(cache);
    return rc;
}

int data_dvc_remove(const char *root, const char *relpath, struct cap_error *err)
{
    struct blob *ws;
    int rc = blob_open(root, &ws, err);
    if (rc < 0)
        return rc;
    rc = blob_delete(ws, relpath, err);
    blob_close(ws);
    return rc == -CAP_ENOTFOUND ? 0 : rc;
}
