/* objects.c - hashing files and putting them into the object store, on
 * several threads. Each file is read once: its bytes go to the hasher and
 * to an unnamed file in the store at the same time, which is named by the
 * hash at the end (or dropped when that object exists); where the
 * filesystem has reflinks the object shares the file's blocks instead, and
 * the bytes are only read. Memory: one 1 MiB
 * buffer per thread, whatever the files' sizes. A file that changes while
 * it is read (size, mtime or ctime differ after) is refused, so an object's
 * bytes always match its name. */
#include "data/intern.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "blob/blob.h"

#define CHUNK (1 << 20)
/* Files from this size are written past the page cache (blob.h says why). */
#define DIRECT_FROM (8u << 20)
#define MAX_THREADS 64
/* Up to this many files to read, each new object is synced alone (two
 * fsyncs); beyond it, blob_sync syncs the batch at the end. syncfs also
 * waits for whatever else is dirty on the filesystem: 2.3 s here after
 * another tool's 1 GB, for a re-add that wrote one file. */
#define SYNC_EACH_MAX 256

struct pool {
    struct blob *objects;
    struct data_scan *scan;
    const struct data_statcache *sc;
    const struct data_manifest *parent;
    bool md5;
    bool sync_each;           /* few files to read: each object synced when written */
    atomic_size_t next;
    atomic_bool failed;
    pthread_mutex_t mu;
    struct cap_error err;     /* the first failure */
    struct data_store_stats stats;
};

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int changed(struct pool *p, const struct data_file *f, struct cap_error *err)
{
    return cap_err(err, CAP_EINVAL,
                   "'%.300s/%.300s' changed while it was being added: add it again once it is "
                   "written",
                   p->scan->root, f->rel);
}

/* Reads f once into the hasher and an unnamed object file. */
static int read_and_store(struct pool *p, struct data_file *f, char *buf, uint64_t *written,
                          struct cap_error *err)
{
    int fd = openat(p->scan->rootfd, f->rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return cap_err(err, CAP_EINVAL, "Cannot read '%.300s/%.300s': %s", p->scan->root, f->rel,
                       strerror(errno));
    struct stat st;
    struct blob_writer *w = NULL;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !same_file(&st, &f->st)) {
        rc = changed(p, f, err);
        goto done;
    }
    bool large = (uint64_t)f->st.st_size >= CHUNK; /* small ones skip two system calls */
    if (large)
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (p->objects && (rc = blob_write_open_anon(p->objects, "objects/tmp",
                                                 (uint64_t)f->st.st_size >= DIRECT_FROM, &w,
                                                 err)) < 0)
        goto done;
    /* Where the filesystem shares blocks (XFS, btrfs), the object is a
     * reflink and the bytes are only read for their hash. */
    struct cap_error no_clone;
    bool cloned = large && w && blob_write_clone(w, fd, &no_clone) == 0;
    struct data_hasher h;
    data_hasher_init(&h, p->md5);
    /* Reading stops at the scanned size (the EOF read is a system call per
     * small file); a file that grew meanwhile fails the check below. */
    for (uint64_t left = (uint64_t)f->st.st_size; left > 0;) {
        ssize_t k = read(fd, buf, left < CHUNK ? (size_t)left : CHUNK);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = cap_err(err, CAP_EINVAL, "Cannot read '%.300s/%.300s': %s", p->scan->root,
                         f->rel, strerror(errno));
            break;
        }
        if (k == 0) /* shrank: the check below refuses it */
            break;
        left -= (uint64_t)k;
        data_hasher_update(&h, buf, (size_t)k);
        if (w && !cloned && (rc = blob_write(w, buf, (size_t)k, err)) < 0)
            break;
    }
    data_hasher_final(&h, &f->xxh, &f->md5);
    if (rc == 0 && (fstat(fd, &st) < 0 || !same_file(&st, &f->st)))
        rc = changed(p, f, err);
    if (rc == 0 && w) {
        char path[64];
        data_object_path(&f->xxh, path);
        struct blob_writer *tw = w;
        w = NULL;
        rc = blob_write_commit_as(tw, path, p->sync_each, err);
        if (rc == 0)
            *written = (uint64_t)f->st.st_size;
        rc = rc < 0 ? rc : 0;
    }
done:
    if (w)
        blob_write_abort(w);
    close(fd);
    return rc;
}

/* Whether f's object is certainly in the store without looking. */
static bool known(const struct pool *p, const struct data_file *f)
{
    if (!p->parent)
        return false;
    const struct data_entry *e = data_manifest_find(p->parent, f->rel);
    return e && data_hash_eq(&e->hash, &f->xxh);
}

static int one_file(struct pool *p, struct data_file *f, char *buf, struct data_store_stats *s,
                    struct cap_error *err)
{
    if (f->cached) { /* looked up before the threads started */
        s->cached++;
        if (!p->objects || known(p, f))
            return 0;
        char path[64];
        data_object_path(&f->xxh, path);
        int r = blob_exists(p->objects, path, NULL, err);
        if (r != 0)
            return r < 0 ? r : 0;
    }
    uint64_t written = 0;
    int rc = read_and_store(p, f, buf, &written, err);
    if (rc < 0)
        return rc;
    s->files_read++;
    s->bytes_read += (uint64_t)f->st.st_size;
    if (written) {
        s->objects_written++;
        s->bytes_written += written;
    }
    return 0;
}

static void *worker(void *arg)
{
    struct pool *p = arg;
    void *mem = NULL;
    if (posix_memalign(&mem, 4096, CHUNK) != 0) /* aligned for direct writes */
        abort();
    char *buf = mem;
    struct data_store_stats s = {0};
    struct cap_error err = {0};
    while (!atomic_load(&p->failed)) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->scan->n)
            break;
        if (one_file(p, &p->scan->f[i], buf, &s, &err) < 0) {
            pthread_mutex_lock(&p->mu);
            if (!atomic_exchange(&p->failed, true))
                p->err = err;
            pthread_mutex_unlock(&p->mu);
            break;
        }
    }
    pthread_mutex_lock(&p->mu);
    p->stats.files_read += s.files_read;
    p->stats.bytes_read += s.bytes_read;
    p->stats.cached += s.cached;
    p->stats.objects_written += s.objects_written;
    p->stats.bytes_written += s.bytes_written;
    pthread_mutex_unlock(&p->mu);
    free(buf);
    return NULL;
}

int data_store_files(struct blob *objects, struct data_scan *scan,
                     const struct data_statcache *sc, const struct data_manifest *parent,
                     bool md5, int threads, struct data_store_stats *stats,
                     struct cap_error *err)
{
    struct pool p = {.objects = objects, .scan = scan, .sc = sc, .parent = parent, .md5 = md5};
    atomic_init(&p.next, 0);
    atomic_init(&p.failed, false);
    pthread_mutex_init(&p.mu, NULL);
    if (threads <= 0)
        threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if ((size_t)threads > scan->n)
        threads = (int)scan->n;
    if (threads < 1)
        threads = 1;
    size_t to_read = 0;
    for (size_t i = 0; i < scan->n; i++) {
        struct data_file *f = &scan->f[i];
        f->cached = data_statcache_get(sc, &f->st, md5, &f->xxh, &f->md5);
        to_read += !f->cached;
    }
    p.sync_each = to_read <= SYNC_EACH_MAX;
    pthread_t tid[MAX_THREADS];
    int started = 0;
    for (int i = 1; i < threads; i++)
        if (pthread_create(&tid[started], NULL, worker, &p) == 0)
            started++;
    worker(&p); /* this thread works too */
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&p.mu);
    *stats = p.stats;
    stats->need_sync = !p.sync_each && p.stats.objects_written > 0;
    if (atomic_load(&p.failed)) {
        *err = p.err;
        return -(int)(p.err.code ? p.err.code : CAP_EINTERNAL);
    }
    return 0;
}

/* A writer for the object at path, or 0 with *w NULL when it exists. */
static int new_object(struct blob *objects, const char *path, struct blob_writer **w,
                      struct cap_error *err)
{
    *w = NULL;
    int r = blob_exists(objects, path, NULL, err);
    if (r != 0)
        return r < 0 ? r : 0;
    return blob_write_open_anon(objects, "objects/tmp", false, w, err);
}

int data_store_bytes(struct blob *objects, enum data_algo algo, const void *p, size_t n,
                     struct data_hash *h, struct cap_error *err)
{
    data_hash_bytes(algo, p, n, h);
    char path[64];
    data_object_path(h, path);
    struct blob_writer *w;
    int rc = new_object(objects, path, &w, err);
    if (rc < 0 || !w)
        return rc;
    if ((rc = blob_write(w, p, n, err)) < 0) {
        blob_write_abort(w);
        return rc;
    }
    rc = blob_write_commit_as(w, path, true, err);
    return rc < 0 ? rc : 0;
}

int data_store_fd(struct blob *objects, const struct data_hash *h, int fd, uint64_t size,
                  struct cap_error *err)
{
    char path[64];
    data_object_path(h, path);
    struct blob_writer *w;
    int rc = new_object(objects, path, &w, err);
    if (rc < 0 || !w)
        return rc;
    struct cap_error no_clone;
    if (blob_write_clone(w, fd, &no_clone) < 0) {
        char *buf = cap_xmalloc(CHUNK);
        for (uint64_t off = 0; rc == 0 && off < size;) {
            ssize_t k = pread(fd, buf, size - off < CHUNK ? (size_t)(size - off) : CHUNK,
                              (off_t)off);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                rc = cap_err(err, CAP_EINVAL, "Cannot read the object for '%s': %s", path,
                             k < 0 ? strerror(errno) : "shorter than its size");
            else if ((rc = blob_write(w, buf, (size_t)k, err)) == 0)
                off += (uint64_t)k;
        }
        free(buf);
    }
    if (rc < 0) {
        blob_write_abort(w);
        return rc;
    }
    rc = blob_write_commit_as(w, path, false, err);
    return rc < 0 ? rc : rc == 0;
}

int data_read_object(struct blob *objects, const struct data_hash *h, size_t max, char **out,
                     size_t *len, struct cap_error *err)
{
    char path[64];
    data_object_path(h, path);
    int fd;
    uint64_t size;
    *out = NULL;
    int rc = blob_open_read(objects, path, &fd, &size, err);
    if (rc < 0)
        return rc;
    if (size > max) {
        close(fd);
        return cap_err(err, CAP_EINVAL, "Object '%s' is %llu bytes: more than %zu", path,
                       (unsigned long long)size, max);
    }
    char *buf = cap_xmalloc(size + 1);
    size_t got = 0;
    while (got < size) {
        ssize_t k = read(fd, buf + got, size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            free(buf);
            close(fd);
            return cap_err(err, CAP_EINTERNAL, "Cannot read object '%s': %s", path,
                           k < 0 ? strerror(errno) : "it is shorter than its size");
        }
        got += (size_t)k;
    }
    close(fd);
    buf[size] = '\0';
    *out = buf;
    *len = size;
    return 0;
}
