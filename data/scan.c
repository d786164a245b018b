/* scan.c - the regular files of a tree, found with one directory
 * descriptor per level (openat, fstatat: no path is joined and re-walked).
 * A symlink is followed only when its target stays inside the tree and is
 * a file; its content is stored under the link's path. Empty directories
 * are not recorded (as in git and DVC). */
#include "data/intern.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"

#define MAX_DEPTH 256

struct walker {
    struct data_scan *s;
    struct cap_buf rel;
    size_t root_len;        /* strlen(s->root) */
    struct cap_error *err;
};

static void add_file(struct data_scan *s, const char *rel, const struct stat *st)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->f = cap_xrealloc(s->f, s->cap * sizeof *s->f);
    }
    struct data_file *f = &s->f[s->n++];
    memset(f, 0, sizeof *f);
    f->rel = cap_xstrdup(rel);
    f->st = *st;
    s->bytes += (uint64_t)st->st_size;
}

/* A symlink at rel: its target must be a file inside the tree. */
static int follow_link(struct walker *w, int dfd, const char *name)
{
    char *full = NULL;
    struct cap_buf p;
    cap_buf_init(&p);
    cap_buf_printf(&p, "%s/%s", w->s->root, w->rel.data);
    full = realpath(p.data, NULL);
    int rc = 0;
    struct stat st;
    if (!full || strncmp(full, w->s->root, w->root_len) != 0 || full[w->root_len] != '/') {
        rc = cap_err(w->err, CAP_EINVAL,
                     "'%.300s' is a symbolic link that leads outside '%.300s' (or nowhere): "
                     "expected links to stay inside the tree being added",
                     p.data, w->s->root);
    } else if (fstatat(dfd, name, &st, 0) < 0) {
        rc = cap_err(w->err, CAP_EINVAL, "Cannot read '%.300s': %s", p.data, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        rc = cap_err(w->err, CAP_EINVAL,
                     "'%.300s' is a symbolic link to a directory or special file: expected "
                     "regular files (links to directories are not followed)",
                     p.data);
    } else {
        add_file(w->s, w->rel.data, &st);
    }
    free(full);
    cap_buf_free(&p);
    return rc;
}

static int walk(struct walker *w, int dfd, int depth);

static int visit(struct walker *w, int dfd, const char *name, int depth)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return cap_err(w->err, CAP_EINVAL, "Cannot read '%.300s/%.300s': %s", w->s->root,
                       w->rel.data, strerror(errno));
    if (S_ISREG(st.st_mode)) {
        add_file(w->s, w->rel.data, &st);
        return 0;
    }
    if (S_ISLNK(st.st_mode))
        return follow_link(w, dfd, name);
    if (!S_ISDIR(st.st_mode))
        return cap_err(w->err, CAP_EINVAL,
                       "'%.300s/%.300s' is a special file (device, FIFO or socket): expected "
                       "regular files and directories",
                       w->s->root, w->rel.data);
    if (depth >= MAX_DEPTH)
        return cap_err(w->err, CAP_EINVAL, "'%.300s/%.300s': more than %d directory levels",
                       w->s->root, w->rel.data, MAX_DEPTH);
    int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return cap_err(w->err, CAP_EINVAL, "Cannot read the directory '%.300s/%.300s': %s",
                       w->s->root, w->rel.data, strerror(errno));
    return walk(w, sub, depth + 1);
}

/* Reads every entry of the directory dfd (closed here). */
static int walk(struct walker *w, int dfd, int depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return cap_err(w->err, CAP_EINVAL, "Cannot read the directory '%.300s/%.300s': %s",
                       w->s->root, w->rel.data ? w->rel.data : "", strerror(errno));
    }
    int rc = 0;
    struct dirent *de;
    errno = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t keep = w->rel.len;
        if (keep)
            cap_buf_putc(&w->rel, '/');
        cap_buf_puts(&w->rel, de->d_name);
        rc = visit(w, dirfd(d), de->d_name, depth);
        w->rel.len = keep;
        w->rel.data[keep] = '\0';
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = cap_err(w->err, CAP_EINVAL, "Cannot read the directory '%.300s': %s", w->s->root,
                     strerror(errno));
    closedir(d);
    return rc;
}

/* path is one file: the scan's root is its directory, its name the rel. */
static int scan_file(const char *real, struct data_scan *out, struct stat *st,
                     struct cap_error *err)
{
    char *slash = strrchr(real, '/');
    char *dir = slash == real ? cap_xstrdup("/") : cap_xstrndup(real, (size_t)(slash - real));
    out->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    out->root = dir;
    if (out->rootfd < 0)
        return cap_err(err, CAP_EINVAL, "Cannot read the directory '%.300s': %s", dir,
                       strerror(errno));
    add_file(out, slash + 1, st);
    return 0;
}

int data_scan_tree(const char *path, struct data_scan *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    out->rootfd = -1;
    char *real = realpath(path, NULL);
    struct stat st;
    if (!real || stat(real, &st) < 0) {
        free(real);
        return cap_err(err, CAP_EINVAL, "Cannot read '%.300s': %s", path, strerror(errno));
    }
    int rc;
    if (S_ISREG(st.st_mode)) {
        rc = scan_file(real, out, &st, err);
        free(real);
    } else if (S_ISDIR(st.st_mode)) {
        out->is_dir = true;
        out->root = real;
        out->rootfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct walker w = {.s = out, .root_len = strlen(real), .err = err};
        cap_buf_init(&w.rel);
        cap_buf_puts(&w.rel, "");
        int dfd = out->rootfd < 0 ? -1 : dup(out->rootfd);
        if (dfd < 0)
            rc = cap_err(err, CAP_EINVAL, "Cannot read the directory '%.300s': %s", real,
                         strerror(errno));
        else
            rc = walk(&w, dfd, 0);
        cap_buf_free(&w.rel);
    } else {
        rc = cap_err(err, CAP_EINVAL,
                     "'%.300s' is a special file: expected a regular file or a directory", path);
        free(real);
    }
    if (rc < 0)
        data_scan_free(out);
    return rc;
}

void data_scan_free(struct data_scan *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->f[i].rel);
    free(s->f);
    free(s->root);
    if (s->rootfd >= 0)
        close(s->rootfd);
    memset(s, 0, sizeof *s);
    s->rootfd = -1;
}

int data_open_parent_of(int root, char *path, char **name, int *out)
{
    int cur = dup(root);
    char *seg = path;
    for (char *slash; cur >= 0 && (slash = strchr(seg, '/')); seg = slash + 1) {
        *slash = '\0';
        if (mkdirat(cur, seg, 0755) < 0 && errno != EEXIST) {
            close(cur);
            return -errno;
        }
        int next = openat(cur, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        *slash = '/';
        close(cur);
        cur = next;
    }
    if (cur < 0)
        return -errno;
    *name = seg;
    *out = cur;
    return 0;
}
