/* blob_cas.c - objects named by their content, on a local directory: the
 * writes of data/'s object store (blob.h says the contract). Paths go
 * through the same checks and resolution as every other blob call. */
#include "blob/blob.h"
#include "blob/blob_fs.h"
#include "blob/blob_s3.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"

/* ---- open directories ----
 * Objects go into a few hundred directories (objects/<algo>/ab), each
 * resolved once and kept open: per small file that saves a resolution and
 * a close at open and again at commit, ~20% of its system calls. Readers
 * of the table hold the lock shared while they use a descriptor. */
#define CAS_SLOTS 2048

struct blob_cas_dirs {
    pthread_rwlock_t lock;
    char *path[CAS_SLOTS];
    int fd[CAS_SLOTS];
    size_t n;
};

void blob_cas_init(struct blob *b)
{
    b->cas = cap_xcalloc(1, sizeof *b->cas);
    pthread_rwlock_init(&b->cas->lock, NULL);
}

static void drop_all(struct blob_cas_dirs *d)
{
    for (size_t i = 0; i < CAS_SLOTS; i++) {
        if (d->path[i]) {
            close(d->fd[i]);
            free(d->path[i]);
            d->path[i] = NULL;
        }
    }
    d->n = 0;
}

void blob_cas_forget(struct blob *b)
{
    pthread_rwlock_wrlock(&b->cas->lock);
    drop_all(b->cas);
    pthread_rwlock_unlock(&b->cas->lock);
}

void blob_cas_free(struct blob *b)
{
    drop_all(b->cas);
    pthread_rwlock_destroy(&b->cas->lock);
    free(b->cas);
}

static size_t slot(const struct blob_cas_dirs *d, const char *path)
{
    size_t i = (size_t)cap_fnv1a(CAP_FNV1A_SEED, path, strlen(path)) & (CAS_SLOTS - 1);
    while (d->path[i] && strcmp(d->path[i], path) != 0)
        i = (i + 1) & (CAS_SLOTS - 1);
    return i;
}

/* The open directory dir (checked, created as needed), with the table's
 * lock held shared: release it with cas_dir_done once the fd is used. A
 * full table just stops caching (fd is then the caller's: *owned). */
static int cas_dir(struct blob *b, const char *dir, int *fd, bool *owned,
                   struct cap_error *err)
{
    struct blob_cas_dirs *d = b->cas;
    *owned = false;
    pthread_rwlock_rdlock(&d->lock);
    size_t i = slot(d, dir);
    if (d->path[i]) {
        *fd = d->fd[i];
        return 0;
    }
    pthread_rwlock_unlock(&d->lock);
    int nfd;
    int rc = blob_fs_open_parent(b, dir, dir, &nfd, err);
    if (rc < 0)
        return rc;
    pthread_rwlock_wrlock(&d->lock);
    i = slot(d, dir);
    if (!d->path[i] && d->n < CAS_SLOTS / 2) {
        d->path[i] = cap_xstrdup(dir);
        d->fd[i] = nfd;
        d->n++;
    } else if (!d->path[i]) {
        *owned = true;
    } else {
        close(nfd); /* another thread was first */
    }
    pthread_rwlock_unlock(&d->lock);
    if (*owned) {
        pthread_rwlock_rdlock(&d->lock);
        *fd = nfd;
        return 0;
    }
    return cas_dir(b, dir, fd, owned, err);
}

static void cas_dir_done(struct blob *b, int fd, bool owned)
{
    if (owned)
        close(fd);
    pthread_rwlock_unlock(&b->cas->lock);
}

/* An unnamed file in dirfd, or a named temporary where the filesystem
 * has no O_TMPFILE. Both are created read-only: the mode counts only for
 * later opens, and objects are never written again. */
static int open_anon_in(struct blob_writer *w, int dirfd, bool direct)
{
    if (direct)
        w->fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC | O_DIRECT, 0444);
    if (w->fd >= 0)
        w->direct = true;
    else
        w->fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0444);
    if (w->fd < 0 && blob_fs_open_tmp(w, dirfd, 0444) < 0) {
        w->tmp[0] = '\0';
        return -errno;
    }
    if (w->tmp[0] && (w->dirfd = dup(dirfd)) < 0) { /* the name is removed at commit */
        unlinkat(dirfd, w->tmp, 0);
        return -errno;
    }
    return 0;
}

int blob_write_open_anon(struct blob *b, const char *dir, bool direct, struct blob_writer **out,
                         struct cap_error *err)
{
    *out = NULL;
    if (b->s3) {
        struct blob_writer *w = cap_xcalloc(1, sizeof *w);
        w->fd = w->dirfd = -1;
        int rc = blob_s3_write_open_anon(b->s3, &w->s3, err);
        if (rc < 0) {
            free(w);
            return rc;
        }
        *out = w;
        return 0;
    }
    char *path = NULL;
    int rc = blob_fs_normalise(dir, 0, &path, err);
    if (rc < 0)
        return rc;
    int dirfd;
    bool owned;
    if ((rc = cas_dir(b, path, &dirfd, &owned, err)) < 0) {
        free(path);
        return rc;
    }
    struct blob_writer *w = cap_xcalloc(1, sizeof *w);
    w->b = b;
    w->dirfd = -1;
    w->fd = -1;
    w->relpath = path;
    int r = open_anon_in(w, dirfd, direct);
    cas_dir_done(b, dirfd, owned);
    if (r < 0) {
        rc = blob_fs_err(err, r, path, "create a temporary file in");
        blob_fs_writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int blob_write_clone(struct blob_writer *w, int src_fd, struct cap_error *err)
{
    if (w->s3)
        return cap_err(err, CAP_ENOTIMPL, "No reflinks into S3");
    if (ioctl(w->fd, FICLONE, src_fd) == 0)
        return 0;
    return cap_err(err, CAP_ENOTIMPL, "Artifact store: no reflinks into '%.200s': %s",
                   w->relpath, strerror(errno));
}

/* Gives w's file the name name in dirfd without replacing anything:
 * 1 when something is there already. */
static int link_new(struct blob_writer *w, int dirfd, const char *name)
{
    int r;
    if (w->tmp[0]) {
        r = linkat(w->dirfd, w->tmp, dirfd, name, 0);
    } else {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", w->fd);
        r = linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
        if (r < 0 && errno == ENOENT) /* no /proc: needs CAP_DAC_READ_SEARCH */
            r = linkat(w->fd, "", dirfd, name, AT_EMPTY_PATH);
    }
    if (r == 0)
        return 0;
    return errno == EEXIST ? 1 : -errno;
}

int blob_write_commit_as(struct blob_writer *w, const char *relpath, bool sync,
                         struct cap_error *err)
{
    if (w->s3) {   /* S3 acknowledges a PUT once it is durable: sync has nothing to add */
        int rc = blob_s3_write_commit_as(w->s3, relpath, err);
        free(w);
        return rc;
    }
    char *path = NULL;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        goto done;
    char *parent;
    const char *name = blob_fs_split_last(path, &parent);
    int dirfd;
    bool owned;
    if (sync && fsync(w->fd) < 0) {
        rc = blob_fs_err(err, errno, relpath, "sync");
        goto done;
    }
    if ((rc = cas_dir(w->b, parent, &dirfd, &owned, err)) < 0)
        goto done;
    int r = link_new(w, dirfd, name);
    if (r == -ENOENT) { /* the directory went behind the cache's back */
        cas_dir_done(w->b, dirfd, owned);
        blob_cas_forget(w->b);
        if ((rc = cas_dir(w->b, parent, &dirfd, &owned, err)) < 0)
            goto done;
        r = link_new(w, dirfd, name);
    }
    if (r == 0 && sync && fsync(dirfd) < 0)
        r = -errno;
    cas_dir_done(w->b, dirfd, owned);
    rc = r < 0 ? blob_fs_err(err, r, relpath, "name") : r;
done:
    free(path);
    if (w->tmp[0])
        unlinkat(w->dirfd, w->tmp, 0);
    blob_fs_writer_free(w);
    return rc;
}

int blob_exists(struct blob *b, const char *relpath, uint64_t *size, struct cap_error *err)
{
    if (b->s3)
        return blob_s3_exists(b->s3, relpath, size, err);
    char *path = NULL;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        return rc;
    int fd;
    rc = blob_fs_resolve(b, path, O_PATH, &fd);
    if (rc == -ENOENT || rc == -ENOTDIR) {
        rc = 0;
    } else if (rc < 0) {
        rc = blob_fs_err(err, rc, path, "look at");
    } else {
        struct stat st;
        rc = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
        if (rc && size)
            *size = (uint64_t)st.st_size;
        close(fd);
    }
    free(path);
    return rc;
}

int blob_sync(struct blob *b, struct cap_error *err)
{
    if (b->s3)
        return 0;   /* each object was durable when S3 acknowledged it */
    if (syncfs(b->rootfd) < 0)
        return cap_err(err, CAP_EINTERNAL, "Artifact store: cannot sync '%.200s': %s", b->root,
                       strerror(errno));
    return 0;
}

/* Copies the whole of in to out in the kernel where it can. */
static int copy_fd(int in, int out)
{
    for (;;) {
        ssize_t k = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (k == 0)
            return 0;
        if (k > 0)
            continue;
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return -errno;
        break;
    }
    char buf[1 << 16];
    for (;;) {
        ssize_t k = read(in, buf, sizeof buf);
        if (k == 0)
            return 0;
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (ssize_t o = 0; o < k;) {
            ssize_t m = write(out, buf + o, (size_t)(k - o));
            if (m < 0 && errno != EINTR)
                return -errno;
            if (m > 0)
                o += m;
        }
    }
}

/* A reflink or a copy of in as name in dst_dirfd. */
static int clone_or_copy(int in, int dst_dirfd, const char *name, char *how)
{
    int out = openat(dst_dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0)
        return -errno;
    int rc = 0;
    if (ioctl(out, FICLONE, in) == 0) {
        *how = 'r';
    } else {
        *how = 'c';
        rc = copy_fd(in, out);
    }
    if (close(out) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        unlinkat(dst_dirfd, name, 0);
    return rc;
}

int blob_copy_out(struct blob *b, const char *relpath, int dst_dirfd, const char *name,
                  bool allow_link, char *how, struct cap_error *err)
{
    if (b->s3)
        return blob_s3_copy_out(b->s3, relpath, dst_dirfd, name, how, err);
    char *path = NULL;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        return rc;
    int in;
    if ((rc = blob_fs_resolve(b, path, O_RDONLY | O_CLOEXEC, &in)) < 0) {
        rc = blob_fs_err(err, rc, path, "read");
        goto done;
    }
    /* Try a reflink first: it shares blocks yet stays independent. A hard
     * link is the same inode, which is why objects are read-only. */
    struct stat st;
    int out = openat(dst_dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out >= 0 && ioctl(out, FICLONE, in) == 0) {
        *how = 'r';
        rc = close(out) < 0 ? -errno : 0;
    } else {
        if (out >= 0) {
            close(out);
            unlinkat(dst_dirfd, name, 0);
        }
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", in);
        if (allow_link && fstat(in, &st) == 0 &&
            linkat(AT_FDCWD, proc, dst_dirfd, name, AT_SYMLINK_FOLLOW) == 0) {
            *how = 'l';
            rc = 0;
        } else {
            rc = clone_or_copy(in, dst_dirfd, name, how);
        }
    }
    close(in);
    if (rc < 0)
        rc = cap_err(err, CAP_EINTERNAL, "Cannot write '%.200s' (from '%.200s'): %s", name, path,
                     strerror(-rc));
done:
    free(path);
    return rc;
}

/* ---- walking, sweeping, locking ---- */

struct walk {
    blob_walk_fn fn;
    void *cls;
    bool tmp;          /* visit only temporary files, and unlink them */
    struct cap_buf path;
};

static int walk_dir(struct walk *wk, int dfd, int depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -errno;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, ".."  ) == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* gone meanwhile */
        size_t keep = wk->path.len;
        if (keep)
            cap_buf_putc(&wk->path, '/');
        cap_buf_puts(&wk->path, n);
        bool is_tmp = cap_str_has_prefix(n, TMP_PREFIX);
        if (S_ISDIR(st.st_mode) && depth < 64) {
            int sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            rc = sub < 0 ? -errno : walk_dir(wk, sub, depth + 1);
        } else if (S_ISREG(st.st_mode) && wk->tmp && is_tmp) {
            unlinkat(dirfd(d), n, 0);
        } else if (S_ISREG(st.st_mode) && !wk->tmp && !is_tmp) {
            rc = wk->fn(wk->cls, wk->path.data, (uint64_t)st.st_size) ? 1 : 0;
        }
        wk->path.len = keep;
        if (wk->path.data)
            wk->path.data[keep] = '\0';
    }
    closedir(d);
    return rc;
}

static int walk_from(struct blob *b, const char *dir, struct walk *wk, struct cap_error *err)
{
    char *path = NULL;
    int rc = blob_fs_normalise(dir, 1, &path, err);
    if (rc < 0)
        return rc;
    int dfd;
    rc = blob_fs_resolve(b, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, &dfd);
    cap_buf_init(&wk->path);
    cap_buf_puts(&wk->path, path);
    if (rc == -ENOENT) {
        rc = 0;
    } else if (rc < 0) {
        rc = blob_fs_err(err, rc, path, "list");
    } else {
        rc = walk_dir(wk, dfd, 0);
        if (rc < 0)
            rc = blob_fs_err(err, rc, path, "list");
        else
            rc = 0;
    }
    cap_buf_free(&wk->path);
    free(path);
    return rc;
}

int blob_walk(struct blob *b, const char *dir, blob_walk_fn fn, void *cls,
              struct cap_error *err)
{
    if (b->s3)
        return blob_s3_walk(b->s3, dir, fn, cls, err);
    struct walk wk = {.fn = fn, .cls = cls};
    return walk_from(b, dir, &wk, err);
}

int blob_sweep_tmp(struct blob *b, const char *dir, struct cap_error *err)
{
    if (b->s3)
        return 0;   /* objects are named at commit: no temporary object exists */
    struct walk wk = {.tmp = true};
    return walk_from(b, dir, &wk, err);
}

int blob_lock(struct blob *b, bool exclusive, int *fd, struct cap_error *err)
{
    if (b->s3)
        return blob_s3_lock(b->s3, exclusive, fd, err);
    *fd = openat(b->rootfd, ".capstan-lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (*fd < 0)
        return cap_err(err, CAP_EINTERNAL, "Artifact store: cannot open its lock in '%.200s': %s",
                       b->root, strerror(errno));
    while (flock(*fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(*fd);
        *fd = -1;
        return cap_err(err, CAP_EINTERNAL, "Artifact store: cannot lock '%.200s': %s", b->root,
                       strerror(e));
    }
    return 0;
}

void blob_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}
