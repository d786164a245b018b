/* dataset_io.c - what reads versions' files: get (materialise a version),
 * diff (two manifests side by side) and gc (delete unreferenced objects). */
#include "data/data.h"
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
#include "base/json.h"
#include "blob/blob.h"
#include "monitor/monitor.h"
#include "store/store.h"

/* Drift between two versions of a table is computed on files up to this
 * size: both are read whole (a 256 MB CSV of numbers is ~0.5 GB of columns). */
#define DRIFT_MAX_BYTES (256u << 20)

/* ---- get ---- */

/* out_dir must be absent (it is created) or an empty directory. */
static int open_out_dir(const char *dir, int *fd, struct cap_error *err)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return cap_err(err, CAP_EINVAL, "Cannot create '%.300s': %s", dir, strerror(errno));
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return cap_err(err, CAP_EINVAL, "Cannot open '%.300s' as a directory: %s", dir,
                       strerror(errno));
    int probe = dup(*fd);
    DIR *d = probe < 0 ? NULL : fdopendir(probe);
    bool empty = d != NULL;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            empty = false;
    if (d)
        closedir(d);
    if (!empty) {
        close(*fd);
        return cap_err(err, CAP_EINVAL,
                       "'%.300s' is not empty: expected a new or empty directory to write into",
                       dir);
    }
    return 0;
}

int data_get(const struct data_ctx *c, const char *ref, const char *out_dir, cJSON **out,
             struct cap_error *err)
{
    *out = NULL;
    struct data_manifest m;
    int rc = data_manifest_of(c, ref, &m, NULL, err);
    if (rc < 0)
        return rc;
    int root = -1;
    if ((rc = open_out_dir(out_dir, &root, err)) < 0) {
        data_manifest_free(&m);
        return rc;
    }
    int64_t n[3] = {0}; /* reflinked, linked, copied */
    uint64_t bytes = 0;
    for (size_t i = 0; i < m.n && rc == 0; i++) {
        char *path = cap_xstrdup(m.e[i].path), *name = NULL;
        int dfd = -1;
        int r = data_open_parent_of(root, path, &name, &dfd);
        if (r < 0) {
            rc = cap_err(err, CAP_EINVAL, "Cannot create the directory of '%.300s/%.300s': %s",
                         out_dir, m.e[i].path, strerror(-r));
        } else {
            char obj[64], how = 0;
            data_object_path(&m.e[i].hash, obj);
            rc = blob_copy_out(c->objects, obj, dfd, name, true, &how, err);
            n[how == 'r' ? 0 : how == 'l' ? 1 : 2]++;
            bytes += m.e[i].size;
            close(dfd);
        }
        free(path);
    }
    close(root);
    data_manifest_free(&m);
    if (rc < 0)
        return rc;
    *out = cJSON_CreateObject();
    cap_json_add_i64(*out, "files", n[0] + n[1] + n[2]);
    cap_json_add_i64(*out, "bytes", (int64_t)bytes);
    cap_json_add_i64(*out, "reflinked", n[0]);
    cap_json_add_i64(*out, "linked", n[1]);
    cap_json_add_i64(*out, "copied", n[2]);
    return 0;
}

int data_open_file(const struct data_ctx *c, const char *ref, const char *path, int *fd,
                   uint64_t *size, char **name, struct cap_error *err)
{
    *fd = -1;
    *name = NULL;
    struct data_manifest m;
    int rc = data_manifest_of(c, ref, &m, NULL, err);
    if (rc < 0)
        return rc;
    const struct data_entry *e = NULL;
    if (path)
        e = data_manifest_find(&m, path);
    else if (m.n == 1)
        e = &m.e[0];
    if (!e && path)
        rc = cap_err(err, CAP_ENOTFOUND, "'%.200s' holds no file '%.300s'", ref, path);
    else if (!e)
        rc = cap_err(err, CAP_EINVAL,
                     "'%.200s' holds %zu files: name the one wanted (its path in the version)",
                     ref, m.n);
    if (rc == 0) {
        char obj[64];
        data_object_path(&e->hash, obj);
        rc = blob_open_read(c->objects, obj, fd, size, err);
        if (rc == 0)
            *name = cap_xstrdup(e->path);
    }
    data_manifest_free(&m);
    return rc;
}

/* ---- diff ---- */

static void add_entry(cJSON *arr, const struct data_entry *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", e->path);
    cap_json_add_i64(o, "size", (int64_t)e->size);
    cJSON_AddItemToArray(arr, o);
}

static void diff_manifests(const struct data_manifest *a, const struct data_manifest *b,
                           cJSON *out)
{
    cJSON *added = cJSON_AddArrayToObject(out, "added");
    cJSON *removed = cJSON_AddArrayToObject(out, "removed");
    cJSON *changed = cJSON_AddArrayToObject(out, "changed");
    int64_t same = 0;
    size_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        int cmp = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->e[i].path, b->e[j].path);
        if (cmp < 0) {
            add_entry(removed, &a->e[i++]);
        } else if (cmp > 0) {
            add_entry(added, &b->e[j++]);
        } else {
            if (data_hash_eq(&a->e[i].hash, &b->e[j].hash) && a->e[i].size == b->e[j].size) {
                same++;
            } else {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "path", a->e[i].path);
                cap_json_add_i64(o, "size_a", (int64_t)a->e[i].size);
                cap_json_add_i64(o, "size_b", (int64_t)b->e[j].size);
                cJSON_AddItemToArray(changed, o);
            }
            i++, j++;
        }
    }
    cap_json_add_i64(out, "unchanged", same);
}

/* One version's file as a frame. */
static int read_table(const struct data_ctx *c, const struct data_entry *e, enum mon_format fmt,
                      struct mon_frame *f, struct cap_error *err)
{
    char obj[64];
    data_object_path(&e->hash, obj);
    int fd;
    uint64_t size;
    int rc = blob_open_read(c->objects, obj, &fd, &size, err);
    if (rc < 0)
        return rc;
    rc = mon_frame_read_fd(e->path, fmt, fd, NULL, 0, f, err);
    close(fd);
    return rc;
}

/* Evidently's drift tests (monitor/) between the two versions of a changed
 * table: its report, or {"skipped": why}. */
static cJSON *table_drift(const struct data_ctx *c, const struct data_entry *a,
                          const struct data_entry *b)
{
    enum mon_format fmt;
    struct cap_error err = {0};
    cJSON *out = NULL;
    if (mon_frame_format(a->path, &fmt, &err) < 0)
        return NULL; /* not a table */
    if (a->size > DRIFT_MAX_BYTES || b->size > DRIFT_MAX_BYTES) {
        snprintf(err.msg, sizeof err.msg, "larger than %u MiB", DRIFT_MAX_BYTES >> 20);
    } else {
        struct mon_frame fa = {0}, fb = {0};
        struct mon_drift_options opt = {.drift_share = 0.5};
        if (read_table(c, a, fmt, &fa, &err) == 0 && read_table(c, b, fmt, &fb, &err) == 0)
            mon_drift(&fa, &fb, &opt, &out, &err);
        mon_frame_free(&fa);
        mon_frame_free(&fb);
    }
    if (!out) {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "skipped", err.msg);
    }
    return out;
}

/* Adds "drift" to each changed table of the diff. */
static void diff_tables(const struct data_ctx *c, const struct data_manifest *a,
                        const struct data_manifest *b, cJSON *out)
{
    cJSON *ch;
    cJSON_ArrayForEach(ch, cJSON_GetObjectItem(out, "changed"))
    {
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(ch, "path"));
        const struct data_entry *ea = data_manifest_find(a, path), *eb = data_manifest_find(b, path);
        cJSON *drift = ea && eb ? table_drift(c, ea, eb) : NULL;
        if (drift)
            cJSON_AddItemToObject(ch, "drift", drift);
    }
}

int data_diff(const struct data_ctx *c, const char *ref_a, const char *ref_b, cJSON **out,
              struct cap_error *err)
{
    *out = NULL;
    struct data_manifest a = {0}, b = {0};
    cJSON *va = NULL, *vb = NULL;
    int rc = data_manifest_of(c, ref_a, &a, &va, err);
    if (rc == 0)
        rc = data_manifest_of(c, ref_b, &b, &vb, err);
    if (rc == 0) {
        *out = cJSON_CreateObject();
        cJSON_AddItemToObject(*out, "a", va);
        cJSON_AddItemToObject(*out, "b", vb);
        va = vb = NULL;
        diff_manifests(&a, &b, *out);
        diff_tables(c, &a, &b, *out);
    }
    cJSON_Delete(va);
    cJSON_Delete(vb);
    data_manifest_free(&a);
    data_manifest_free(&b);
    return rc;
}

/* ---- gc ---- */

struct marks {
    struct data_hash *h;
    size_t n, cap;
};

static void mark(struct marks *mk, const struct data_hash *h)
{
    if (mk->n == mk->cap) {
        mk->cap = mk->cap ? mk->cap * 2 : 1024;
        mk->h = cap_xrealloc(mk->h, mk->cap * sizeof *mk->h);
    }
    mk->h[mk->n++] = *h;
}

static int hash_cmp(const void *x, const void *y)
{
    const struct data_hash *a = x, *b = y;
    if (a->algo != b->algo)
        return (int)a->algo - (int)b->algo;
    return memcmp(a->d, b->d, 16);
}

/* A root as stored: "xxh128:<hex>", or a run's digest (32 hex: xxh128). */
static int root_hash(const char *s, struct data_hash *h)
{
    struct cap_error e;
    if (data_hash_parse(s, h, &e) == 0)
        return 0;
    h->algo = DATA_XXH128;
    return data_hex16(s, h->d);
}

/* Marks every manifest root, its entries, and the plain objects. A root
 * whose manifest is missing (a run's digest of a removed version that gc
 * already swept) marks nothing. */
static int mark_roots(const struct data_ctx *c, const cJSON *roots, struct marks *mk,
                      struct cap_error *err)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(roots, "objects"))
    {
        struct data_hash h;
        if (root_hash(cJSON_GetStringValue(r), &h) == 0)
            mark(mk, &h);
    }
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(roots, "manifests"))
    {
        struct data_hash h;
        if (root_hash(cJSON_GetStringValue(r), &h) < 0)
            continue;
        char *text;
        size_t len;
        int rc = data_read_object(c->objects, &h, 1u << 30, &text, &len, err);
        if (rc == -CAP_ENOTFOUND)
            continue;
        if (rc < 0)
            return rc;
        struct data_manifest m;
        rc = data_manifest_parse(text, len, &m, err);
        free(text);
        if (rc < 0)
            return rc;
        mark(mk, &h);
        for (size_t i = 0; i < m.n; i++)
            mark(mk, &m.e[i].hash);
        data_manifest_free(&m);
    }
    if (mk->n > 1)
        qsort(mk->h, mk->n, sizeof *mk->h, hash_cmp);
    return 0;
}

struct sweep {
    const struct data_ctx *c;
    const struct marks *mk;
    bool dry_run;
    int64_t kept, deleted;
    uint64_t bytes;
    int rc;
    struct cap_error *err;
};

/* "objects/<algo>/ab/cdef..." back to its hash; -1 for a stranger. */
static int hash_of_path(const char *p, struct data_hash *h)
{
    char hex[33];
    const char *rest;
    if (strncmp(p, "objects/xxh128/", 15) == 0) {
        h->algo = DATA_XXH128;
        rest = p + 15;
    } else if (strncmp(p, "objects/md5/", 12) == 0) {
        h->algo = DATA_MD5;
        rest = p + 12;
    } else {
        return -1;
    }
    if (strlen(rest) != 33 || rest[2] != '/')
        return -1;
    memcpy(hex, rest, 2);
    memcpy(hex + 2, rest + 3, 30);
    hex[32] = '\0';
    return data_hex16(hex, h->d);
}

static int sweep_one(void *cls, const char *relpath, uint64_t size)
{
    struct sweep *sw = cls;
    struct data_hash h;
    if (hash_of_path(relpath, &h) < 0)
        return 0; /* not an object: left alone */
    if (sw->mk->n && bsearch(&h, sw->mk->h, sw->mk->n, sizeof h, hash_cmp)) {
        sw->kept++;
        return 0;
    }
    if (!sw->dry_run && (sw->rc = blob_delete(sw->c->objects, relpath, sw->err)) < 0)
        return 1;
    sw->deleted++;
    sw->bytes += size;
    return 0;
}

static int gc_locked(const struct data_ctx *c, bool dry_run, cJSON **out, struct cap_error *err)
{
    cJSON *roots = NULL;
    struct marks mk = {0};
    int rc = store_data_roots(c->st, &roots, err);
    if (rc == 0)
        rc = mark_roots(c, roots, &mk, err);
    struct sweep sw = {.c = c, .mk = &mk, .dry_run = dry_run, .err = err};
    if (rc == 0 && !dry_run)
        rc = blob_sweep_tmp(c->objects, "objects", err);
    if (rc == 0)
        rc = blob_walk(c->objects, "objects", sweep_one, &sw, err);
    if (rc == 0)
        rc = sw.rc;
    if (rc == 0) {
        *out = cJSON_CreateObject();
        cap_json_add_i64(*out, "objects_kept", sw.kept);
        cap_json_add_i64(*out, "objects_deleted", sw.deleted);
        cap_json_add_i64(*out, "bytes_deleted", (int64_t)sw.bytes);
        cJSON_AddBoolToObject(*out, "dry_run", dry_run);
    }
    free(mk.h);
    cJSON_Delete(roots);
    return rc;
}

int data_gc(const struct data_ctx *c, bool dry_run, cJSON **out, struct cap_error *err)
{
    *out = NULL;
    if (!blob_is_local(c->objects))
        return cap_err(err, CAP_ENOTIMPL,
                       "gc of an S3 dataset store is not possible yet: its lock (that keeps gc "
                       "from deleting an object an add is about to name) is a file on one "
                       "machine, and other machines may share the bucket");
    int lock;
    int rc = blob_lock(c->objects, true, &lock, err);
    if (rc < 0)
        return rc;
    rc = gc_locked(c, dry_run, out, err);
    blob_unlock(lock);
    return rc;
}
