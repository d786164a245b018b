/* blob_fs.c - the artifact store on a local directory.
 *
 * Every path is first checked lexically (blob_path.c), then resolved from a
 * file descriptor held on the root, never from a string joined onto the
 * root's name. Resolution uses openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
 * where the kernel has it (Linux >= 5.6): the kernel itself refuses any step
 * that leaves the root, symlinks and '..' inside link targets included.
 * Elsewhere (older kernels, seccomp filters that answer ENOSYS) a walk does
 * the same in user space: one component at a time with fstatat/openat and
 * O_NOFOLLOW, reading each symlink and splicing its (relative) target into
 * the rest of the path, with '..' popping a stack of directory descriptors
 * and refused at the root. Absolute symlinks are refused by both, even when
 * they point back inside the root; the cost is a little convenience, the
 * gain one rule that the kernel enforces. The walk costs a stat and an open
 * per component: fine for artifact paths a few levels deep.
 *
 * Writes go to ".capstan-tmp-<hex>" in the target's directory and are renamed
 * into place after fsync; the directory is fsync'ed after the rename.
 * Listings hide those temporary files. */
#include "blob/blob.h"
#include "blob/blob_fs.h"
#include "blob/blob_s3.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"

#define MAX_LINKS 40
#define MAX_DEPTH 512   /* directory levels blob_delete descends */

/* ---- resolution --------------------------------------------------------- */

static int resolve_openat2(int rootfd, const char *path, int flags, int *out)
{
#ifdef SYS_openat2
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (int tries = 0; tries < 16; tries++) {
        long fd = syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof how);
        if (fd >= 0) {
            *out = (int)fd;
            return 0;
        }
        /* EAGAIN: a rename or mount raced with the resolution; retry. */
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
    }
    return -EAGAIN;
#else
    (void)rootfd, (void)path, (void)flags, (void)out;
    return -ENOSYS;
#endif
}

/* The user-space walk. Returns 0 or -errno, with -EXDEV for a step that
 * would leave the root, as openat2 does. */
static int resolve_walk(int rootfd, const char *path, int flags, int *out)
{
    int stack[MAX_DEPTH];
    int depth = 0;          /* stack[0] is rootfd, not ours to close */
    int nlinks = 0, rc = 0;
    char *pending = cap_xstrdup(path);
    size_t pos = 0;
    char name[NAME_MAX + 1];
    char *target = NULL;

    stack[0] = rootfd;
    for (;;) {
        while (pending[pos] == '/')
            pos++;
        if (pending[pos] == '\0')
            break;
        size_t start = pos;
        while (pending[pos] && pending[pos] != '/')
            pos++;
        size_t len = pos - start;
        size_t rest = pos;
        while (pending[rest] == '/')
            rest++;
        bool last = pending[rest] == '\0';
        int top = stack[depth];

        if (len == 1 && pending[start] == '.')
            continue;
        if (len == 2 && pending[start] == '.' && pending[start + 1] == '.') {
            if (depth == 0) {
                rc = -EXDEV;
                goto done;
            }
            close(stack[depth--]);
            continue;
        }
        if (len > NAME_MAX) {
            rc = -ENAMETOOLONG;
            goto done;
        }
        memcpy(name, pending + start, len);
        name[len] = '\0';

        struct stat st;
        if (fstatat(top, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = -errno;
            goto done;
        }
        if (S_ISLNK(st.st_mode)) {
            if (++nlinks > MAX_LINKS) {
                rc = -ELOOP;
                goto done;
            }
            if (!target)
                target = cap_xmalloc(PATH_MAX);
            ssize_t n = readlinkat(top, name, target, PATH_MAX - 1);
            if (n < 0) {
                rc = -errno;
                goto done;
            }
            target[n] = '\0';
            if (n == 0) {
                rc = -ENOENT;
                goto done;
            }
            if (target[0] == '/') {
                rc = -EXDEV;
                goto done;
            }
            struct cap_buf nb;
            cap_buf_init(&nb);
            cap_buf_puts(&nb, target);
            if (!last) {
                cap_buf_putc(&nb, '/');
                cap_buf_puts(&nb, pending + rest);
            }
            free(pending);
            pending = cap_buf_steal(&nb);
            pos = 0;
            continue;
        }
        if (!last) {
            if (!S_ISDIR(st.st_mode)) {
                rc = -ENOTDIR;
                goto done;
            }
            if (depth + 1 >= MAX_DEPTH) {
                rc = -ENAMETOOLONG;
                goto done;
            }
            int fd = openat(top, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                rc = -errno;
                goto done;
            }
            stack[++depth] = fd;
            continue;
        }
        /* O_NOFOLLOW: if the name became a symlink since fstatat, fail
         * (ELOOP) rather than follow it. */
        int fd = openat(top, name, flags | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            rc = -errno;
            goto done;
        }
        *out = fd;
        goto done;
    }
    /* The path ended on a directory already on the stack ("", a link to
     * "..", ...). */
    {
        int fd = openat(stack[depth], ".", flags | O_CLOEXEC);
        if (fd < 0)
            rc = -errno;
        else
            *out = fd;
    }
done:
    while (depth > 0)
        close(stack[depth--]);
    free(pending);
    free(target);
    return rc;
}

/* Opens path (relative, already checked) beneath the root. */
int blob_fs_resolve(const struct blob *b, const char *path, int flags, int *out)
{
    if (b->use_openat2)
        return resolve_openat2(b->rootfd, path, flags, out);
    return resolve_walk(b->rootfd, path, flags, out);
}

int blob_set_openat2(struct blob *b, int use_openat2)
{
    b->use_openat2 = use_openat2 && b->have_openat2;
    return b->use_openat2;
}

/* ---- errors ------------------------------------------------------------- */

static int outside(struct cap_error *err, const char *path)
{
    return cap_err(err, CAP_EINVAL, "Invalid artifact path '%.200s': it resolves outside the "
                                    "artifact root",
                   path);
}

int blob_fs_not_found(struct cap_error *err, const char *path)
{
    return cap_err(err, CAP_ENOTFOUND, "No artifact at '%.200s'", path);
}

/* Maps a resolution failure. ENOENT and ENOTDIR mean "nothing there". */
int blob_fs_err(struct cap_error *err, int e, const char *path, const char *doing)
{
    if (e < 0)
        e = -e;
    switch (e) {
    case EXDEV:
        return outside(err, path);
    case ELOOP:
        return cap_err(err, CAP_EINVAL,
                       "Invalid artifact path '%.200s': too many levels of symbolic links", path);
    case ENAMETOOLONG:
        return cap_err(err, CAP_EINVAL, "Invalid artifact path '%.200s': the path is too long",
                       path);
    case ENOENT:
    case ENOTDIR:
        return blob_fs_not_found(err, path);
    case ENOSPC:
    case EDQUOT:
        return cap_err(err, CAP_ENOSPACE,
                       "Artifact store: no space left to %s '%.200s' (%s): nothing was stored; "
                       "free space and send it again",
                       doing, path, strerror(e));
    default:
        return cap_err(err, CAP_EINTERNAL, "Artifact store: cannot %s '%.200s': %s", doing, path,
                       strerror(e));
    }
}

/* Checks relpath and returns a copy without its trailing '/'. */
int blob_fs_normalise(const char *relpath, int allow_empty, char **out, struct cap_error *err)
{
    int rc = blob_check_path(relpath, allow_empty, err);
    if (rc < 0)
        return rc;
    size_t n = relpath ? strlen(relpath) : 0;
    if (n && relpath[n - 1] == '/')
        n--;
    *out = cap_xstrndup(relpath ? relpath : "", n);
    return 0;
}

/* Splits "a/b/c" into parent "a/b" (in place) and name "c". */
const char *blob_fs_split_last(char *path, char **parent)
{
    char *slash = strrchr(path, '/');
    if (!slash) {
        *parent = path + strlen(path); /* "" */
        return path;
    }
    *slash = '\0';
    *parent = path;
    return slash + 1;
}

/* ---- open / close ------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
    char *p = cap_xstrdup(dir);
    int rc = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            rc = -errno;
            goto done;
        }
        *s = '/';
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        rc = -errno;
done:
    free(p);
    return rc;
}

int blob_open(const char *root_dir, struct blob **out, struct cap_error *err)
{
    *out = NULL;
    if (!root_dir || !*root_dir)
        return cap_err(err, CAP_EINVAL, "The artifact root must not be empty");
    int rc = mkdir_p(root_dir);
    if (rc < 0)
        return cap_err(err, CAP_EINTERNAL, "Cannot create the artifact root '%.300s': %s",
                       root_dir, strerror(-rc));
    int fd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cap_err(err, CAP_EINTERNAL, "Cannot open the artifact root '%.300s': %s",
                       root_dir, strerror(errno));
    char *real = realpath(root_dir, NULL);
    if (!real) {
        int e = errno;
        close(fd);
        return cap_err(err, CAP_EINTERNAL, "Cannot resolve the artifact root '%.300s': %s",
                       root_dir, strerror(e));
    }
    struct blob *b = cap_xcalloc(1, sizeof *b);
    b->rootfd = fd;
    b->root = real;
    blob_cas_init(b);
    int probe;
    if (resolve_openat2(fd, ".", O_PATH | O_DIRECTORY, &probe) == 0) {
        close(probe);
        b->have_openat2 = b->use_openat2 = true;
    }
    *out = b;
    return 0;
}

int blob_open_uri(const char *uri, const struct blob_options *opt, struct blob **out,
                  struct cap_error *err)
{
    *out = NULL;
    if (uri && strncmp(uri, "file://", 7) == 0)
        return blob_open(uri + 7, out, err);
    if (!uri || strncmp(uri, "s3://", 5) != 0) {
        const char *colon = uri ? strstr(uri, "://") : NULL;
        if (colon)
            return cap_err(err, CAP_EINVAL,
                           "Unsupported artifact destination '%.300s': expected a directory, "
                           "file:///dir or s3://bucket/prefix",
                           uri);
        return blob_open(uri, out, err);
    }
    struct blob_s3 *s3;
    int rc = blob_s3_open(uri, opt, &s3, err);
    if (rc < 0)
        return rc;
    struct blob *b = cap_xcalloc(1, sizeof *b);
    b->s3 = s3;
    b->rootfd = -1;
    *out = b;
    return 0;
}

int blob_open_in(const char *uri, const char *data_dir, const char *s3_endpoint_url,
                 struct blob **out, struct cap_error *err)
{
    struct cap_buf spool;
    cap_buf_init(&spool);
    cap_buf_printf(&spool, "%s/spool", data_dir);
    int rc = strncmp(uri, "s3://", 5) == 0 ? mkdir_p(spool.data) : 0;
    if (rc < 0)
        rc = cap_err(err, CAP_EINTERNAL, "Cannot create the spool directory '%.300s': %s",
                     spool.data, strerror(-rc));
    struct blob_options opt = {.s3_endpoint_url = s3_endpoint_url, .spool_dir = spool.data};
    if (rc == 0)
        rc = blob_open_uri(uri, &opt, out, err);
    cap_buf_free(&spool);
    return rc;
}

bool blob_is_local(const struct blob *b)
{
    return !b->s3;
}

void blob_close(struct blob *b)
{
    if (!b)
        return;
    if (b->s3) {
        blob_s3_close(b->s3);
        free(b);
        return;
    }
    blob_cas_free(b);
    close(b->rootfd);
    free(b->root);
    free(b);
}

const char *blob_root(const struct blob *b)
{
    return b->s3 ? b->s3->uri : b->root;
}

/* ---- writing ------------------------------------------------------------ */

/* Opens (creating as needed) the directory parent, for the file at path. */
int blob_fs_open_parent(struct blob *b, const char *parent, const char *path, int *out,
                       struct cap_error *err)
{
    const int dflags = O_RDONLY | O_DIRECTORY;
    int rc = blob_fs_resolve(b, parent, dflags, out);
    if (rc == 0)
        return 0;
    if (rc == -ENOTDIR)
        goto not_dir;
    if (rc != -ENOENT)
        return blob_fs_err(err, rc, path, "open the directory of");

    /* Create the missing directories one level at a time, each mkdirat
     * relative to an already resolved (so inside-the-root) directory. */
    int cur;
    if ((rc = blob_fs_resolve(b, "", dflags, &cur)) < 0)
        return blob_fs_err(err, rc, path, "open the artifact root for");
    char *prefix = cap_xstrdup(parent);
    size_t n = strlen(parent);
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && parent[i] != '/')
            continue;
        prefix[i] = '\0';
        int next;
        rc = blob_fs_resolve(b, prefix, dflags, &next);
        if (rc == -ENOENT) {
            if (mkdirat(cur, prefix + start, 0755) < 0 && errno != EEXIST) {
                rc = -errno;
            } else {
                rc = blob_fs_resolve(b, prefix, dflags, &next);
                if (rc == -ENOENT) /* e.g. a dangling symlink in the way */
                    rc = -ENOTDIR;
            }
        }
        if (i < n)
            prefix[i] = '/';
        if (rc < 0) {
            close(cur);
            free(prefix);
            if (rc == -ENOTDIR)
                goto not_dir;
            return blob_fs_err(err, rc, path, "create the directory of");
        }
        close(cur);
        cur = next;
        start = i + 1;
    }
    free(prefix);
    *out = cur;
    return 0;
not_dir:
    return cap_err(err, CAP_EINVAL,
                   "Invalid artifact path '%.200s': a component of the path exists and is not a "
                   "directory",
                   path);
}

int blob_write_open(struct blob *b, const char *relpath, struct blob_writer **out,
                    struct cap_error *err)
{
    *out = NULL;
    char *path = NULL;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        return rc;
    if (relpath[strlen(relpath) - 1] == '/') {
        rc = cap_err(err, CAP_EINVAL,
                     "Invalid artifact path '%.200s': a file path must not end with '/'", relpath);
        free(path);
        return rc;
    }
    if (b->s3) {
        free(path);
        struct blob_writer *w = cap_xcalloc(1, sizeof *w);
        w->fd = w->dirfd = -1;
        if ((rc = blob_s3_write_open(b->s3, relpath, &w->s3, err)) < 0) {
            free(w);
            return rc;
        }
        *out = w;
        return 0;
    }
    char *copy = cap_xstrdup(path);
    char *parent;
    const char *name = blob_fs_split_last(copy, &parent);
    int dirfd = -1;
    if ((rc = blob_fs_open_parent(b, parent, path, &dirfd, err)) < 0)
        goto fail;

    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode)) {
            /* The rename below replaces the link itself, never its target;
             * still, a link that leads out of the root is refused, as it is
             * for every other operation. */
            int fd;
            int r = blob_fs_resolve(b, path, O_PATH, &fd);
            if (r == 0) {
                if (fstat(fd, &st) < 0)
                    st.st_mode = 0;
                close(fd);
            } else if (r == -EXDEV || r == -ELOOP) {
                rc = blob_fs_err(err, r, path, "write");
                goto fail;
            }
        }
        if (S_ISDIR(st.st_mode)) {
            rc = cap_err(err, CAP_EINVAL,
                         "Invalid artifact path '%.200s': a directory exists at that path", path);
            goto fail;
        }
    }

    struct blob_writer *w = cap_xcalloc(1, sizeof *w);
    if (blob_fs_open_tmp(w, dirfd, 0644) < 0) {
        rc = blob_fs_err(err, errno, path, "create a temporary file for");
        free(w);
        goto fail;
    }
    w->dirfd = dirfd;
    w->name = cap_xstrdup(name);
    w->relpath = path;
    free(copy);
    *out = w;
    return 0;
fail:
    if (dirfd >= 0)
        close(dirfd);
    free(copy);
    free(path);
    return rc;
}

int blob_fs_open_tmp(struct blob_writer *w, int dirfd, mode_t mode)
{
    w->fd = -1;
    for (int tries = 0; tries < 8 && w->fd < 0; tries++) {
        char hex[33];
        cap_random_hex(hex, 16);
        snprintf(w->tmp, sizeof w->tmp, TMP_PREFIX "%s", hex);
        w->fd = openat(dirfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (w->fd < 0 && errno != EEXIST)
            break;
    }
    return w->fd < 0 ? -1 : 0;
}

int blob_write(struct blob_writer *w, const void *data, size_t n, struct cap_error *err)
{
    if (w->s3)
        return blob_s3_write(w->s3, data, n, err);
    const char *p = data;
    if (w->direct && (n % 4096 || (uintptr_t)p % 4096)) {
        /* The unaligned rest goes through the page cache. */
        int fl = fcntl(w->fd, F_GETFL);
        if (fl >= 0)
            fcntl(w->fd, F_SETFL, fl & ~O_DIRECT);
        w->direct = false;
    }
    while (n > 0) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EINVAL && w->direct) { /* the filesystem refuses direct writes */
                int fl = fcntl(w->fd, F_GETFL);
                if (fl >= 0 && fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) == 0) {
                    w->direct = false;
                    continue;
                }
            }
            return blob_fs_err(err, errno, w->relpath, "write");
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

void blob_fs_writer_free(struct blob_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    if (w->dirfd >= 0)
        close(w->dirfd);
    free(w->name);
    free(w->relpath);
    free(w);
}

int blob_write_commit(struct blob_writer *w, struct cap_error *err)
{
    int rc = 0;
    if (w->s3) {
        rc = blob_s3_write_commit(w->s3, err);
        free(w);
        return rc;
    }
    if (fsync(w->fd) < 0) {
        rc = blob_fs_err(err, errno, w->relpath, "sync");
        goto fail;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) < 0) {
        rc = blob_fs_err(err, errno, w->relpath, "write");
        goto fail;
    }
    if (renameat(w->dirfd, w->tmp, w->dirfd, w->name) < 0) {
        int e = errno;
        if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
            rc = cap_err(err, CAP_EINVAL,
                         "Invalid artifact path '%.200s': a directory exists at that path",
                         w->relpath);
        else
            rc = blob_fs_err(err, e, w->relpath, "move into place");
        goto fail;
    }
    /* The rename is durable only once the directory is. */
    if (fsync(w->dirfd) < 0) {
        rc = blob_fs_err(err, errno, w->relpath, "sync the directory of");
    }
    blob_fs_writer_free(w);
    return rc;
fail:
    unlinkat(w->dirfd, w->tmp, 0);
    blob_fs_writer_free(w);
    return rc;
}

void blob_write_abort(struct blob_writer *w)
{
    if (!w)
        return;
    if (w->s3) {
        blob_s3_write_abort(w->s3);
        free(w);
        return;
    }
    unlinkat(w->dirfd, w->tmp, 0);
    blob_fs_writer_free(w);
}

/* ---- reading ------------------------------------------------------------ */

int blob_open_read(struct blob *b, const char *relpath, int *out_fd, uint64_t *out_size,
                   struct cap_error *err)
{
    if (b->s3)
        return blob_s3_open_read(b->s3, relpath, out_fd, out_size, err);
    *out_fd = -1;
    char *path;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        return rc;
    int fd;
    /* O_NONBLOCK so that a FIFO cannot hang the open; cleared below. */
    if ((rc = blob_fs_resolve(b, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, &fd)) < 0) {
        rc = blob_fs_err(err, rc, path, "open");
        goto done;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        rc = blob_fs_not_found(err, path);
        goto done;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *out_fd = fd;
    if (out_size)
        *out_size = (uint64_t)st.st_size;
done:
    free(path);
    return rc;
}

struct entry {
    char *name;
    bool is_dir;
    int64_t size;
};

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

int blob_list(struct blob *b, const char *relpath, cJSON **out, struct cap_error *err)
{
    if (b->s3)
        return blob_s3_list(b->s3, relpath, out, err);
    *out = NULL;
    char *path;
    int rc = blob_fs_normalise(relpath, 1, &path, err);
    if (rc < 0)
        return rc;
    int fd;
    rc = blob_fs_resolve(b, path, O_RDONLY | O_DIRECTORY, &fd);
    if (rc == -ENOENT || rc == -ENOTDIR) {
        *out = cJSON_CreateArray();
        rc = 0;
        goto done;
    }
    if (rc < 0) {
        rc = blob_fs_err(err, rc, path, "list");
        goto done;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        rc = blob_fs_err(err, errno, path, "list");
        close(fd);
        goto done;
    }
    struct entry *ents = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 || cap_str_has_prefix(nm, TMP_PREFIX))
            continue;
        struct stat st;
        if (fstatat(fd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* removed while listing */
        if (S_ISLNK(st.st_mode)) {
            /* Show a link as what it leads to, only when that is inside. */
            struct cap_buf child;
            cap_buf_init(&child);
            if (*path)
                cap_buf_printf(&child, "%s/", path);
            cap_buf_puts(&child, nm);
            int lfd;
            int r = blob_fs_resolve(b, child.data, O_PATH, &lfd);
            cap_buf_free(&child);
            if (r < 0)
                continue;
            r = fstat(lfd, &st);
            close(lfd);
            if (r < 0)
                continue;
        }
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            ents = cap_xrealloc(ents, cap * sizeof *ents);
        }
        ents[n].name = cap_xstrdup(nm);
        ents[n].is_dir = S_ISDIR(st.st_mode);
        ents[n].size = (int64_t)st.st_size;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(ents, n, sizeof *ents, entry_cmp);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", ents[i].name);
        cJSON_AddBoolToObject(o, "is_dir", ents[i].is_dir);
        if (!ents[i].is_dir)
            cap_json_add_i64(o, "file_size", ents[i].size);
        cJSON_AddItemToArray(arr, o);
        free(ents[i].name);
    }
    free(ents);
    *out = arr;
done:
    free(path);
    return rc;
}

/* ---- deleting ----------------------------------------------------------- */

/* Removes the directory `name` inside pfd and everything below it, never
 * following a symlink (links are unlinked, not entered). */
static int remove_tree(int pfd, const char *name, int depth)
{
    if (depth > MAX_DEPTH)
        return -ELOOP;
    int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOTDIR || errno == ELOOP) /* replaced by a file or a link */
            return unlinkat(pfd, name, 0) < 0 ? -errno : 0;
        return -errno;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    int rc = 0;
    /* Removing entries while reading the directory may make readdir skip
     * some; a second pass picks them up. */
    for (int pass = 0; pass < 3; pass++) {
        struct dirent *de;
        bool removed_any = false;
        rewinddir(d);
        while ((de = readdir(d)) != NULL) {
            const char *nm = de->d_name;
            if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
                continue;
            bool is_dir = de->d_type == DT_DIR;
            if (de->d_type == DT_UNKNOWN) {
                struct stat st;
                is_dir = fstatat(fd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
            }
            int r;
            if (is_dir) {
                r = remove_tree(fd, nm, depth + 1);
            } else {
                r = unlinkat(fd, nm, 0) < 0 ? -errno : 0;
                if (r == -EISDIR)
                    r = remove_tree(fd, nm, depth + 1);
            }
            if (r < 0 && r != -ENOENT)
                rc = r;
            removed_any = true;
        }
        if (!removed_any || rc < 0)
            break;
    }
    closedir(d);
    if (rc < 0)
        return rc;
    if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

int blob_delete(struct blob *b, const char *relpath, struct cap_error *err)
{
    if (b->s3)
        return blob_s3_delete(b->s3, relpath, err);
    char *path;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        return rc;
    char *copy = cap_xstrdup(path);
    char *parent;
    const char *name = blob_fs_split_last(copy, &parent);
    int pfd = -1;
    if ((rc = blob_fs_resolve(b, parent, O_RDONLY | O_DIRECTORY, &pfd)) < 0) {
        rc = blob_fs_err(err, rc, path, "delete");
        goto done;
    }
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = blob_fs_err(err, errno, path, "delete");
        goto done;
    }
    if (S_ISLNK(st.st_mode)) {
        /* Only the link goes, never what it points to; but a link that
         * leads out of the root is refused like any other access. */
        int fd;
        int r = blob_fs_resolve(b, path, O_PATH, &fd);
        if (r == 0)
            close(fd);
        else if (r == -EXDEV || r == -ELOOP) {
            rc = blob_fs_err(err, r, path, "delete");
            goto done;
        }
        if (unlinkat(pfd, name, 0) < 0)
            rc = blob_fs_err(err, errno, path, "delete");
    } else if (S_ISDIR(st.st_mode)) {
        blob_cas_forget(b);
        if ((rc = remove_tree(pfd, name, 0)) < 0)
            rc = blob_fs_err(err, rc, path, "delete");
    } else if (unlinkat(pfd, name, 0) < 0) {
        rc = blob_fs_err(err, errno, path, "delete");
    }
    if (rc == 0)
        fsync(pfd);
done:
    if (pfd >= 0)
        close(pfd);
    free(copy);
    free(path);
    return rc;
}
