/* source.c - MLflow's rules for a model version's source, as its server
 * applies them before storing one (mlflow/server/handlers.py:
 * _validate_source_run, _validate_source_model and
 * _validate_non_local_source_contains_relative_paths). Passing them reads
 * nothing: whether Capstan can read a source is registry_parse_source's
 * question, asked afterwards. */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/buf.h"
#include "registry/registry.h"

/* A URI cut where Python's urllib.parse.urlparse cuts it; the pieces point
 * into the text, which may hold NUL bytes (hence the lengths). */
struct uri_parts {
    const char *scheme;
    size_t scheme_len; /* 0: no scheme */
    const char *netloc;
    size_t netloc_len; /* netloc NULL: no "//" authority */
    const char *path;
    size_t path_len;
};

static bool scheme_is(const struct uri_parts *u, const char *s)
{
    return u->scheme_len == strlen(s) &&
           (u->scheme_len == 0 || strncasecmp(u->scheme, s, u->scheme_len) == 0);
}

/* urllib's uses_params: the schemes whose last path piece may end in ";params". */
static bool uses_params(const struct uri_parts *u)
{
    static const char *const list[] = {"",     "ftp",  "hdl",   "prospero", "http",
                                       "imap", "https", "shttp", "rtsp",     "rtspu",
                                       "sip",  "sips", "mms",   "sftp",     "tel"};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        if (scheme_is(u, list[i]))
            return true;
    return false;
}

static void uri_split(const char *s, size_t n, struct uri_parts *u)
{
    memset(u, 0, sizeof *u);
    const char *colon = memchr(s, ':', n);
    if (colon && colon > s && isalpha((unsigned char)s[0])) {
        size_t i = 0;
        while (s + i < colon && (isalnum((unsigned char)s[i]) || strchr("+-.", s[i])))
            i++;
        if (s + i == colon) {
            u->scheme = s;
            u->scheme_len = i;
            n -= i + 1;
            s = colon + 1;
        }
    }
    if (n >= 2 && s[0] == '/' && s[1] == '/') {
        size_t e = 2;
        while (e < n && s[e] != '/' && s[e] != '?' && s[e] != '#')
            e++;
        u->netloc = s + 2;
        u->netloc_len = e - 2;
        s += e;
        n -= e;
    }
    size_t end = 0;
    while (end < n && s[end] != '?' && s[end] != '#')
        end++;
    if (uses_params(u)) {
        size_t last = 0;
        for (size_t i = 0; i < end; i++)
            if (s[i] == '/')
                last = i;
        const char *semi = memchr(s + last, ';', end - last);
        if (semi)
            end = (size_t)(semi - s);
    }
    u->path = s;
    u->path_len = end;
}

/* The host of the authority, lowercased (malloc'd), "" when none. */
static char *uri_host(const struct uri_parts *u)
{
    const char *h = u->netloc;
    size_t n = u->netloc_len;
    for (size_t i = n; h && i > 0; i--)
        if (h[i - 1] == '@') {
            h += i;
            n -= i;
            break;
        }
    size_t len = 0;
    if (h && n && h[0] == '[') {
        const char *close = memchr(h, ']', n);
        h++;
        len = close ? (size_t)(close - h) : n - 1;
    } else if (h) {
        while (len < n && h[len] != ':')
            len++;
    }
    char *out = cap_xstrndup(h ? h : "", len);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

/* MLflow's is_local_uri: no scheme, or file: on this host. A file: URI
 * naming another host is refused (MLflow answers that with a 500; it is the
 * client's mistake, so here it is a 400 with MLflow's words). */
static int source_is_local(const char *source, const struct uri_parts *u, bool *local,
                           struct cap_error *err)
{
    *local = u->scheme_len == 0;
    if (!scheme_is(u, "file"))
        return 0;
    char *host = uri_host(u);
    bool remote = *host && strcmp(host, ".") != 0 && strncmp(host, "localhost", 9) != 0 &&
                  strncmp(host, "127.0.0.1", 9) != 0;
    free(host);
    if (remote)
        return cap_err(err, CAP_EINVAL,
                       "%.200s is not a valid remote uri. For remote access on windows, please "
                       "consider using a different scheme such as SMB (e.g. "
                       "smb://<hostname>/<path>).",
                       source);
    *local = true;
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* One round of percent-decoding in place (plus: '+' is a space too, as in
 * unquote_plus); returns whether anything changed. */
static bool unquote(char *s, size_t *n, bool plus)
{
    size_t o = 0;
    bool changed = false;
    for (size_t i = 0; i < *n; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < *n && (h = hexval(s[i + 1])) >= 0 &&
            (l = hexval(s[i + 2])) >= 0) {
            s[o++] = (char)(h * 16 + l);
            i += 2;
            changed = true;
        } else if (plus && s[i] == '+') {
            s[o++] = ' ';
            changed = true;
        } else {
            s[o++] = s[i];
        }
    }
    *n = o;
    return changed;
}

static bool has_piece(const char *s, size_t n, const char *piece)
{
    size_t start = 0, len = strlen(piece);
    for (size_t i = 0; i <= n; i++)
        if (i == n || s[i] == '/') {
            if (i - start == len && memcmp(s + start, piece, len) == 0)
                return true;
            start = i + 1;
        }
    return false;
}

/* _validate_non_local_source_contains_relative_paths: decoded until nothing
 * decodes any more, the source has no '..' piece anywhere, and its path
 * (trailing '/' dropped, runs of '/' as one) is absolute, NUL-free and
 * already in resolved form (no '.' piece, not empty). */
static int check_relative_paths(const char *source, struct cap_error *err)
{
    size_t n = strlen(source);
    char *d = cap_xstrndup(source, n);
    while (unquote(d, &n, true))
        ;
    struct uri_parts u;
    uri_split(d, n, &u);
    size_t pn = u.path_len;
    while (pn > 0 && u.path[pn - 1] == '/')
        pn--;
    struct cap_buf p;
    cap_buf_init(&p);
    for (size_t i = 0; i < pn; i++)
        if (u.path[i] != '/' || p.len == 0 || p.data[p.len - 1] != '/')
            cap_buf_putc(&p, u.path[i]);
    bool bad = has_piece(d, n, "..") || p.len == 0 || p.data[0] != '/' ||
               memchr(p.data, '\0', p.len) || has_piece(p.data, p.len, ".");
    cap_buf_free(&p);
    free(d);
    if (bad)
        return cap_err(err, CAP_EINVAL,
                       "Invalid model version source: '%.200s'. If supplying a source as an "
                       "http, https, local file path, ftp, objectstore, or mlflow-artifacts uri, "
                       "an absolute path must be provided without relative path references "
                       "present. Please provide an absolute path.",
                       source);
    return 0;
}

int registry_check_source_rules(const char *source, bool prompt, bool *local,
                                struct cap_error *err)
{
    *local = false;
    struct uri_parts u;
    uri_split(source, strlen(source), &u);
    if (u.netloc && !memchr(u.netloc, '[', u.netloc_len) != !memchr(u.netloc, ']', u.netloc_len))
        return cap_err(err, CAP_EINVAL, "Invalid model version source: '%.200s': Invalid IPv6 URL",
                       source);
    if (prompt) {
        /* a prompt has no files: any scheme-less name will do, but not a path */
        if (scheme_is(&u, "file") || (u.scheme_len == 0 && source[0] == '/'))
            return cap_err(err, CAP_EINVAL,
                           "Invalid prompt source: '%.200s'. Local source paths are not allowed "
                           "for prompts.",
                           source);
        return u.scheme_len ? check_relative_paths(source, err) : 0;
    }
    int rc = source_is_local(source, &u, local, err);
    if (rc < 0 || *local)
        return rc;
    return check_relative_paths(source, err);
}

/* text (a local path, as bytes) made absolute against the working
 * directory, with '.', '..' and repeated '/' resolved; NULL when it holds
 * a NUL byte. */
static char *normalize_path(const char *text, size_t n)
{
    if (memchr(text, '\0', n))
        return NULL;
    struct cap_buf in, out;
    cap_buf_init(&in);
    cap_buf_init(&out);
    if (n == 0 || text[0] != '/') {
        char *cwd = getcwd(NULL, 0);
        cap_buf_puts(&in, cwd ? cwd : "/");
        cap_buf_putc(&in, '/');
        free(cwd);
    }
    cap_buf_append(&in, text, n);
    cap_buf_putc(&out, '/');
    for (size_t i = 0, start = 0; i <= in.len; i++) {
        if (i < in.len && in.data[i] != '/')
            continue;
        const char *piece = in.data + start;
        size_t len = i - start;
        start = i + 1;
        if (len == 0 || (len == 1 && piece[0] == '.'))
            continue;
        if (len == 2 && piece[0] == '.' && piece[1] == '.') {
            while (out.len > 1 && out.data[out.len - 1] != '/')
                out.len--;
            if (out.len > 1)
                out.len--; /* the '/' before the dropped piece */
            continue;
        }
        if (out.len > 1)
            cap_buf_putc(&out, '/');
        cap_buf_append(&out, piece, len);
    }
    out.data[out.len] = '\0'; /* pieces were dropped by moving len back */
    cap_buf_free(&in);
    return cap_buf_steal(&out);
}

/* MLflow's local_file_uri_to_path, then resolved: a file: URI's path or the
 * whole text, percent-decoded once; NULL for a location that is not local. */
static char *local_path_of(const char *location)
{
    struct uri_parts u;
    bool local = false;
    uri_split(location, strlen(location), &u);
    if (source_is_local(location, &u, &local, NULL) < 0 || !local)
        return NULL;
    bool file = scheme_is(&u, "file");
    size_t n = file ? u.path_len : strlen(location);
    char *text = cap_xstrndup(file ? u.path : location, n);
    unquote(text, &n, false);
    char *out = normalize_path(text, n);
    free(text);
    return out;
}

char *registry_path_under(const char *dir, const char *path)
{
    char *d = normalize_path(dir, strlen(dir));
    if (!d)
        return NULL;
    size_t n = strlen(d);
    char *rel = NULL;
    if (strcmp(d, "/") == 0)
        rel = cap_xstrdup(path + 1);
    else if (strncmp(path, d, n) == 0 && (path[n] == '\0' || path[n] == '/'))
        rel = cap_xstrdup(path[n] ? path + n + 1 : "");
    free(d);
    return rel;
}

int registry_check_local_source(const char *source, const char *owner_location, bool model_id,
                                char **path, struct cap_error *err)
{
    *path = NULL;
    char *p = local_path_of(source);
    char *owner = owner_location ? local_path_of(owner_location) : NULL;
    char *rel = p && owner ? registry_path_under(owner, p) : NULL;
    free(owner);
    if (rel) {
        free(rel);
        *path = p;
        return 0;
    }
    free(p);
    const char *param = model_id ? "model_id" : "run_id";
    return cap_err(err, CAP_EINVAL,
                   "Invalid model version source: '%.200s'. To use a local path as a model "
                   "version source, the %s request parameter has to be specified and the local "
                   "path has to be contained within the artifact directory of the run specified "
                   "by the %s.",
                   source, param, param);
}
