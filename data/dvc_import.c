/* dvc_import.c - DVC in a dataset's life, on top of dvc.h's formats:
 * `data add --dvc` leaves what `dvc add` would (the repository's cache
 * filled, PATH.dvc written last), and `data import-dvc DIR` takes a DVC
 * repository's tracked outputs as dataset versions, reading the objects
 * straight from its cache under their md5 names (DVC 3). A DVC 2 output's
 * names are md5-dos2unix, not the MD5 of the bytes when they hold CRLF
 * text, so those are rehashed (MD5 at ~0.65 GB/s) rather than trusted.
 * Limit: the cache is <repo>/.dvc/cache; a cache.dir set in DVC's config is
 * not read. */
#include "data/data.h"
#include "data/dvc.h"
#include "data/intern.h"

#include <dirent.h>
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

char *data_dvc_repo_above(const char *dir)
{
    char *d = cap_xstrdup(dir);
    for (;;) {
        struct cap_buf p;
        cap_buf_init(&p);
        cap_buf_printf(&p, "%s/.dvc", strcmp(d, "/") == 0 ? "" : d);
        struct stat st;
        bool found = stat(p.data, &st) == 0 && S_ISDIR(st.st_mode);
        cap_buf_free(&p);
        if (found)
            return d;
        char *slash = strrchr(d, '/');
        if (!slash || strcmp(d, "/") == 0) {
            free(d);
            return NULL;
        }
        if (slash == d)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
}

int data_dvc_repo_of(const char *path, char **root, struct cap_error *err)
{
    *root = NULL;
    char *real = realpath(path, NULL);
    if (!real)
        return cap_err(err, CAP_EINVAL, "Cannot read '%.300s': %s", path, strerror(errno));
    char *slash = strrchr(real, '/');
    if (slash && slash != real)
        *slash = '\0'; /* what holds path: dvc add tracks a path inside its repository */
    *root = data_dvc_repo_above(real);
    free(real);
    if (!*root)
        return cap_err(err, CAP_EINVAL,
                       "--dvc: '%.300s' is not inside a DVC repository (no .dvc/ directory "
                       "above it): run `dvc init` there first, or add without --dvc",
                       path);
    return 0;
}

char *data_dvc_cache_of(const char *repo)
{
    struct cap_buf p;
    cap_buf_init(&p);
    cap_buf_printf(&p, "%s/.dvc/cache", repo);
    return cap_buf_steal(&p);
}

int data_dvc_write_out(const char *repo, const char *path, const struct data_scan *scan,
                       const struct data_manifest *m, cJSON *meta, struct cap_error *err)
{
    char *real = realpath(path, NULL);
    if (!real)
        return cap_err(err, CAP_EINVAL, "Cannot read '%.300s': %s", path, strerror(errno));
    struct cap_buf dvc;
    cap_buf_init(&dvc);
    cap_buf_printf(&dvc, "%s.dvc", real);
    char *cache = data_dvc_cache_of(repo);
    struct data_hash md5;
    int rc = data_dvc_add(cache, scan->root, m, scan->is_dir, dvc.data,
                          strrchr(real, '/') + 1, &md5, err);
    if (rc == 0) {
        char oid[DATA_DVC_OID];
        data_dvc_oid(&md5, scan->is_dir, oid);
        cJSON *d = cJSON_AddObjectToObject(meta, "dvc");
        cJSON_AddStringToObject(d, "md5", oid);
        cJSON_AddStringToObject(d, "file", dvc.data);
    }
    free(cache);
    free(real);
    cap_buf_free(&dvc);
    return rc;
}

/* ---- import ---- */

/* Every .dvc file below dir, sorted; .dvc/ and .git/ are not entered. */
static int find_dvc_files(const char *dir, char ***out, size_t *n, struct cap_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return cap_err(err, CAP_EINVAL, "Cannot read the directory '%.300s': %s", dir,
                       strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 || strcmp(nm, ".dvc") == 0 ||
            strcmp(nm, ".git") == 0)
            continue;
        struct cap_buf p;
        cap_buf_init(&p);
        cap_buf_printf(&p, "%s/%s", dir, nm);
        struct stat st;
        size_t len = strlen(nm);
        if (lstat(p.data, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = find_dvc_files(p.data, out, n, err);
        } else if (S_ISREG(st.st_mode) && len > 4 && strcmp(nm + len - 4, ".dvc") == 0) {
            *out = cap_xrealloc(*out, (*n + 1) * sizeof **out);
            (*out)[(*n)++] = cap_buf_steal(&p);
        }
        cap_buf_free(&p);
    }
    closedir(d);
    return rc;
}

/* A dataset name from an output's path: its last segment, with what names
 * may not hold turned into '-'. */
static void name_of(const char *out_path, char name[129])
{
    const char *base = strrchr(out_path, '/');
    base = base && base[1] ? base + 1 : out_path;
    size_t n = 0;
    for (const char *p = base; *p && n < 128; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        name[n++] = ok ? ch : '-';
    }
    name[n] = '\0';
    if (n == 0 || name[0] == '.' || name[0] == '-')
        name[0] = n == 0 ? (name[1] = '\0', 'd') : 'd';
}

struct import {
    const struct data_ctx *c;
    const char *cache;
    const char *dvc_file;     /* for messages and the meta */
    const struct data_dvc_out *o;
    struct data_manifest m;
    bool wrote;
};

/* MD5 of a cache object's bytes (a DVC 2 name is not that). */
static int rehash(int fd, struct data_hash *md5, struct cap_error *err)
{
    struct data_hasher h;
    data_hasher_init(&h, true);
    char *buf = cap_xmalloc(1 << 20);
    ssize_t k;
    off_t off = 0;
    while ((k = pread(fd, buf, 1 << 20, off)) > 0) {
        data_hasher_update(&h, buf, (size_t)k);
        off += k;
    }
    free(buf);
    struct data_hash x;
    data_hasher_final(&h, &x, md5);
    return k < 0 ? cap_err(err, CAP_EINVAL, "Cannot read a DVC cache object: %s",
                           strerror(errno))
                 : 0;
}

/* Each entry's object from the DVC cache into the object store. */
static int put_objects(struct import *im, struct cap_error *err)
{
    for (size_t i = 0; i < im->m.n; i++) {
        struct data_entry *e = &im->m.e[i];
        char *path = NULL;
        uint64_t size;
        int rc = data_dvc_locate(im->cache, &e->hash, false, im->o->legacy, &path, &size, err);
        if (rc < 0)
            return rc;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        free(path);
        if (fd < 0)
            return cap_err(err, CAP_EINVAL, "Cannot read the DVC cache object of '%.300s': %s",
                           e->path, strerror(errno));
        if (im->o->legacy)
            rc = rehash(fd, &e->hash, err);
        e->md5 = e->hash;
        e->size = size;
        if (rc == 0)
            rc = data_store_fd(im->c->objects, &e->hash, fd, size, err);
        close(fd);
        if (rc < 0)
            return rc;
        im->wrote |= rc == 1;
    }
    return 0;
}

/* The output's files as a manifest of md5 names (its path's last segment
 * for a single file). */
static int read_output(struct import *im, struct cap_error *err)
{
    const struct data_dvc_out *o = im->o;
    if (o->is_dir)
        return data_dvc_dir_read(im->cache, &o->md5, o->legacy, NULL, NULL, &im->m, err);
    const char *base = strrchr(o->path, '/');
    data_manifest_push(&im->m, cap_xstrdup(base ? base + 1 : o->path), 0, &o->md5, &o->md5);
    return 0;
}

static int import_output(struct import *im, const char *name, cJSON *versions,
                         struct cap_error *err)
{
    int rc = read_output(im, err);
    if (rc == 0)
        rc = put_objects(im, err);
    if (rc == 0)
        rc = data_manifest_sort(&im->m, err);
    cJSON *latest = NULL, *v = NULL, *meta = cJSON_CreateObject();
    if (rc == 0)
        rc = data_latest(im->c, name, &latest, NULL, err);
    if (rc == 0) {
        char oid[DATA_DVC_OID], msg[600];
        data_dvc_oid(&im->o->md5, im->o->is_dir, oid);
        cJSON_AddObjectToObject(meta, "tags");
        cJSON *d = cJSON_AddObjectToObject(meta, "dvc");
        cJSON_AddStringToObject(d, "md5", oid);
        cJSON_AddStringToObject(d, "file", im->dvc_file);
        cJSON_AddBoolToObject(d, "imported", true);
        snprintf(msg, sizeof msg, "imported from %.500s", im->dvc_file);
        struct data_record_in rin = {.name = name, .message = msg, .m = &im->m,
                                     .latest = latest, .meta = meta, .need_sync = im->wrote};
        rc = data_record(im->c, &rin, &v, err);
    }
    if (rc == 0)
        cJSON_AddItemToArray(versions, v);
    cJSON_Delete(latest);
    cJSON_Delete(meta);
    return rc;
}

/* Every output with an object in the cache, from the .dvc files in order. */
static int import_files(const struct data_ctx *c, const char *cache, char **files, size_t n,
                        const char *name, cJSON *versions, struct cap_error *err)
{
    struct data_dvc_file *f = cap_xcalloc(n ? n : 1, sizeof *f);
    size_t outs = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = data_dvc_load(files[i], &f[i], err);
        for (size_t k = 0; rc == 0 && k < f[i].n; k++)
            outs += f[i].outs[k].cache;
    }
    if (rc == 0 && outs == 0)
        rc = cap_err(err, CAP_EINVAL, "No .dvc file with cached outputs was found: expected "
                                      "what `dvc add` writes");
    if (rc == 0 && name && outs != 1)
        rc = cap_err(err, CAP_EINVAL,
                     "--name '%.128s' names one dataset but %zu outputs were found: import "
                     "without --name (each named after its path), or one .dvc file at a time",
                     name, outs);
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (size_t k = 0; k < f[i].n && rc == 0; k++) {
            if (!f[i].outs[k].cache)
                continue;
            char derived[129];
            name_of(f[i].outs[k].path, derived);
            struct import im = {.c = c, .cache = cache, .dvc_file = files[i],
                                .o = &f[i].outs[k]};
            rc = import_output(&im, name ? name : derived, versions, err);
            data_manifest_free(&im.m);
        }
    }
    for (size_t i = 0; i < n; i++)
        data_dvc_file_free(&f[i]);
    free(f);
    return rc;
}

int data_import_dvc(const struct data_ctx *c, const char *dir, const char *name, cJSON **out,
                    struct cap_error *err)
{
    *out = NULL;
    if (name && !data_name_ok(name))
        return cap_err(err, CAP_EINVAL,
                       "Invalid dataset name '%.200s': expected 1-128 characters of letters, "
                       "digits, '.', '_' and '-', not starting with '.' or '-'",
                       name);
    char *real = realpath(dir, NULL);
    if (!real)
        return cap_err(err, CAP_EINVAL, "Cannot read '%.300s': %s", dir, strerror(errno));
    char *repo = data_dvc_repo_above(real);
    char **files = NULL;
    size_t n = 0;
    int rc = repo ? find_dvc_files(real, &files, &n, err)
                  : cap_err(err, CAP_EINVAL,
                            "'%.300s' is not in a DVC repository (no .dvc/ directory at or above "
                            "it)",
                            dir);
    if (rc == 0 && n > 1)
        qsort(files, n, sizeof *files, cap_strp_cmp);
    int lock = -1;
    if (rc == 0)
        rc = blob_lock(c->objects, false, &lock, err);
    cJSON *versions = cJSON_CreateArray();
    if (rc == 0) {
        char *cache = data_dvc_cache_of(repo);
        rc = import_files(c, cache, files, n, name, versions, err);
        free(cache);
        blob_unlock(lock);
    }
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    free(repo);
    free(real);
    if (rc == 0)
        *out = versions;
    else
        cJSON_Delete(versions);
    return rc;
}
