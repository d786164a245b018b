/* blob_cas.c - objects named by their content, on a local directory: the
 * writes of data/'s object store (blob.h says the contract). Paths go
 * through the same checks and resolution as every other blob call. */
#include "blob/blob.h"
#include "blob/blob_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"

int blob_write_open_anon(struct blob *b, const char *dir, struct blob_writer **out,
                         struct cap_error *err)
{
    *out = NULL;
    char *path = NULL;
    int rc = blob_fs_normalise(dir, 0, &path, err);
    if (rc < 0)
        return rc;
    int dirfd = -1;
    if ((rc = blob_fs_open_parent(b, path, path, &dirfd, err)) < 0) {
        free(path);
        return rc;
    }
    struct blob_writer *w = cap_xcalloc(1, sizeof *w);
    w->b = b;
    w->dirfd = dirfd;
    w->relpath = path;
    w->fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0444);
    for (int tries = 0; tries < 8 && w->fd < 0; tries++) {
        char hex[33];
        cap_random_hex(hex, 16);
        snprintf(w->tmp, sizeof w->tmp, TMP_PREFIX "%s", hex);
        w->fd = openat(dirfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
        if (w->fd < 0 && errno != EEXIST)
            break;
    }
    if (w->fd < 0) {
        rc = blob_fs_err(err, errno, path, "create a temporary file in");
        w->tmp[0] = '\0';
        blob_fs_writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
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

int blob_write_commit_as(struct blob_writer *w, const char *relpath, struct cap_error *err)
{
    char *path = NULL;
    int dirfd = -1;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        goto done;
    char *parent;
    const char *name = blob_fs_split_last(path, &parent);
    if ((rc = blob_fs_open_parent(w->b, parent, relpath, &dirfd, err)) < 0)
        goto done;
    if (fchmod(w->fd, 0444) < 0) {
        rc = blob_fs_err(err, errno, relpath, "write");
        goto done;
    }
    int r = link_new(w, dirfd, name);
    if (r < 0)
        rc = blob_fs_err(err, r, relpath, "name");
    else
        rc = r;
done:
    if (dirfd >= 0)
        close(dirfd);
    free(path);
    if (w->tmp[0])
        unlinkat(w->dirfd, w->tmp, 0);
    blob_fs_writer_free(w);
    return rc;
}

int blob_exists(struct blob *b, const char *relpath, uint64_t *size, struct cap_error *err)
{
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
    struct walk wk = {.fn = fn, .cls = cls};
    return walk_from(b, dir, &wk, err);
}

int blob_sweep_tmp(struct blob *b, const char *dir, struct cap_error *err)
{
    struct walk wk = {.tmp = true};
    return walk_from(b, dir, &wk, err);
}

int blob_lock(struct blob *b, bool exclusive, int *fd, struct cap_error *err)
{
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
