/* validate.c - MLflow's input rules for tracking entities.
 *
 * Lengths are counted in characters (UTF-8 code points), as MLflow's Python
 * server counts them, not in bytes. Long values are shortened in messages so
 * that a 6,000-character parameter does not swallow the error text. */
#include "track/validate.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"

#define SHOWN 80   /* characters of a value quoted in a message */

/* Number of UTF-8 code points (continuation bytes are not counted; invalid
 * sequences count one per lead byte, which is close enough for a limit). */
static size_t char_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Byte count of the first `chars` characters of s, for "%.*s". */
static int shown_bytes(const char *s, size_t chars)
{
    size_t i = 0, c = 0;
    while (s[i]) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (c == chars)
                break;
            c++;
        }
        i++;
    }
    return (int)i;
}

static const char *ellipsis(const char *s)
{
    return char_len(s) > SHOWN ? "..." : "";
}

static int too_long(struct cap_error *err, const char *what, const char *value, size_t len,
                    size_t limit)
{
    return cap_err(err, CAP_EINVAL,
                   "%s '%.*s%s' had length %zu, which exceeded length limit of %zu", what,
                   shown_bytes(value, SHOWN), value, ellipsis(value), len, limit);
}

static const char *kind_title(const char *kind)
{
    if (!kind)
        return "Key";
    if (strcmp(kind, "metric") == 0)
        return "Metric";
    if (strcmp(kind, "param") == 0)
        return "Param";
    if (strcmp(kind, "tag") == 0)
        return "Tag";
    return "Key";
}

/* POSIX normpath, as Python's os.path.normpath does it, for the message that
 * says what a key would resolve to. */
static char *normpath(const char *path)
{
    struct cap_buf out;
    cap_buf_init(&out);
    bool abs = path[0] == '/';
    size_t nseg = 0, cap = 0;
    struct seg {
        const char *p;
        size_t n;
    } *segs = NULL;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 0 || (n == 1 && s[0] == '.'))
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (nseg && !(segs[nseg - 1].n == 2 && memcmp(segs[nseg - 1].p, "..", 2) == 0)) {
                nseg--;
                continue;
            }
            if (abs)
                continue;
        }
        if (nseg == cap) {
            cap = cap ? cap * 2 : 8;
            segs = cap_xrealloc(segs, cap * sizeof *segs);
        }
        segs[nseg].p = s;
        segs[nseg].n = n;
        nseg++;
    }
    if (abs)
        cap_buf_putc(&out, '/');
    for (size_t i = 0; i < nseg; i++) {
        if (i)
            cap_buf_putc(&out, '/');
        cap_buf_append(&out, segs[i].p, segs[i].n);
    }
    free(segs);
    if (out.len == 0)
        cap_buf_putc(&out, '.');
    return cap_buf_steal(&out);
}

/* A key "resolves to another name" when treated as a file path: absolute,
 * empty segments ('a//b', trailing '/'), '.' or '..' segments. MLflow's
 * normpath test lets '..' through at the start of a relative key; we do not. */
static bool key_is_path_trick(const char *key)
{
    if (key[0] == '/')
        return true;
    const char *p = key;
    for (;;) {
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 0)
            return true;
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return true;
        if (!*p)
            return false;
        p++;
    }
}

int validate_key(const char *kind, const char *key, struct cap_error *err)
{
    const char *title = kind_title(kind);
    if (!key)
        return cap_err(err, CAP_EINVAL, "%s name cannot be None.", title);
    if (key[0] == '\0')
        return cap_err(err, CAP_EINVAL, "Invalid %s name: ''. Names must not be empty.",
                       kind ? kind : "key");
    size_t len = char_len(key);
    if (len > VALIDATE_MAX_KEY) {
        char what[32];
        snprintf(what, sizeof what, "%s key", title);
        return too_long(err, what, key, len, VALIDATE_MAX_KEY);
    }
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        unsigned char c = *p;
        if (isalnum(c) || c == '_' || c == '/' || c == '.' || c == '-' || c == ' ' || c >= 0x80)
            continue;
        return cap_err(err, CAP_EINVAL,
                       "Invalid %s name: '%.*s%s'. Names may only contain alphanumerics, "
                       "underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).",
                       kind ? kind : "key", shown_bytes(key, SHOWN), key, ellipsis(key));
    }
    if (key_is_path_trick(key)) {
        char *norm = normpath(key);
        char why[256];
        snprintf(why, sizeof why,
                 "Names may be treated as files in certain cases, and must not resolve to "
                 "other names when treated as such. This name would resolve to '%.*s'",
                 shown_bytes(norm, SHOWN), norm);
        int rc = cap_json_invalid_str(err, "key", key, why);
        free(norm);
        return rc;
    }
    return 0;
}

int validate_param_value(const char *key, const char *value, struct cap_error *err)
{
    (void)key;
    if (!value)
        return 0;
    size_t len = char_len(value);
    if (len > VALIDATE_MAX_PARAM_VALUE)
        return too_long(err, "Param value", value, len, VALIDATE_MAX_PARAM_VALUE);
    return 0;
}

int validate_tag_value(const char *key, const char *value, struct cap_error *err)
{
    (void)key;
    if (!value)
        return 0;
    size_t len = char_len(value);
    if (len > VALIDATE_MAX_TAG_VALUE)
        return too_long(err, "Tag value", value, len, VALIDATE_MAX_TAG_VALUE);
    return 0;
}

int validate_experiment_name(const char *name, struct cap_error *err)
{
    if (!name || name[0] == '\0')
        return cap_err(err, CAP_EINVAL, "Invalid experiment name: ''");
    size_t len = char_len(name);
    if (len > VALIDATE_MAX_EXPERIMENT_NAME)
        return too_long(err, "Experiment name", name, len, VALIDATE_MAX_EXPERIMENT_NAME);
    return 0;
}

int validate_run_name(const char *name, struct cap_error *err)
{
    if (!name)
        return 0;
    size_t len = char_len(name);
    if (len > VALIDATE_MAX_RUN_NAME)
        return too_long(err, "Run name", name, len, VALIDATE_MAX_RUN_NAME);
    return 0;
}

static bool is_ascii_word(unsigned char c)
{
    return isalnum(c) || c == '_';
}

int validate_run_id(const char *run_id, struct cap_error *err)
{
    if (!run_id)
        run_id = "";
    const unsigned char *p = (const unsigned char *)run_id;
    size_t n = strlen(run_id);
    bool ok = n >= 1 && n <= 256 && isalnum(p[0]);
    for (size_t i = 1; ok && i < n; i++)
        ok = is_ascii_word(p[i]) || p[i] == '-';
    if (!ok)
        return cap_json_invalid_str(err, "run_id", run_id, NULL);
    return 0;
}

int validate_experiment_id(const char *id, struct cap_error *err)
{
    if (!id)
        id = "";
    size_t n = strlen(id);
    bool ok = n >= 1 && n <= 19;
    for (size_t i = 0; ok && i < n; i++)
        ok = id[i] >= '0' && id[i] <= '9';
    /* 19 digits may still exceed INT64_MAX: compare as strings. */
    if (ok && n == 19 && strcmp(id, "9223372036854775807") > 0)
        ok = false;
    if (!ok)
        return cap_err(err, CAP_EINVAL, "Invalid experiment ID: '%.*s%s'",
                       shown_bytes(id, SHOWN), id, ellipsis(id));
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX escapes once. *changed tells whether anything was decoded.
 * Returns the length (the result may contain NUL bytes). */
static size_t pct_decode(const char *in, size_t n, char *out, bool *changed)
{
    size_t o = 0;
    *changed = false;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '%' && i + 2 < n) {
            int h = hexval(in[i + 1]);
            int l = hexval(in[i + 2]);
            if (h >= 0 && l >= 0) {
                out[o++] = (char)(h * 16 + l);
                i += 2;
                *changed = true;
                continue;
            }
        }
        out[o++] = in[i];
    }
    return o;
}

/* Checks one decoding level of an artifact location. */
static const char *location_problem(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\0')
            return "NUL characters are not allowed";
        if (c < 0x20 || c == 0x7f)
            return "control characters are not allowed";
        if (c == '#')
            return "URI fragments ('#') are not allowed";
        if (c == ';')
            return "URI parameters (';') are not allowed";
    }
    /* '..' as a whole piece between separators, in the path or the query. */
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? s[i] : '/';
        if (c == '/' || c == '\\' || c == '?' || c == '&' || c == '=') {
            if (i - start == 2 && s[start] == '.' && s[start + 1] == '.')
                return memchr(s, '?', start) ? "'..' is not allowed in the query string"
                                             : "'..' path segments are not allowed";
            start = i + 1;
        }
    }
    return NULL;
}

int validate_artifact_location(const char *loc, struct cap_error *err)
{
    if (!loc || !*loc)
        return 0;
    size_t n = strlen(loc);
    char *cur = cap_xstrndup(loc, n);
    char *next = cap_xmalloc(n + 1);
    const char *why = NULL;
    /* Check the raw text and every decoding of it (%252e -> %2e -> .), until
     * nothing decodes any more; each round shortens the text, so this ends. */
    for (;;) {
        why = location_problem(cur, n);
        if (why)
            break;
        bool changed;
        size_t m = pct_decode(cur, n, next, &changed);
        if (!changed)
            break;
        char *t = cur;
        cur = next;
        next = t;
        n = m;
    }
    free(cur);
    free(next);
    if (why)
        return cap_err(err, CAP_EINVAL, "Invalid artifact_location '%.*s%s': %s",
                       shown_bytes(loc, SHOWN), loc, ellipsis(loc), why);
    return 0;
}

static bool has_scheme(const char *s)
{
    if (!isalpha((unsigned char)*s))
        return false;
    while (isalnum((unsigned char)*s) || *s == '+' || *s == '-' || *s == '.')
        s++;
    return *s == ':';
}

char *resolve_artifact_location(const char *loc)
{
    if (!loc || !*loc || loc[0] == '/' || has_scheme(loc))
        return loc ? cap_xstrdup(loc) : NULL;
    char *cwd = getcwd(NULL, 0);
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, cwd && strcmp(cwd, "/") != 0 ? cwd : "");
    free(cwd);
    /* as pathlib joins: empty and "." pieces drop out */
    for (const char *p = loc; *p;) {
        size_t n = strcspn(p, "/");
        if (n && !(n == 1 && p[0] == '.')) {
            cap_buf_putc(&b, '/');
            cap_buf_append(&b, p, n);
        }
        p += n + (p[n] == '/');
    }
    return cap_buf_steal(&b);
}

char *resolve_artifact_root(const char *root, struct cap_error *err)
{
    if (!root || !*root) {
        cap_err(err, CAP_EINVAL, "The default artifact root is empty: expected a URI such as "
                                 "s3://bucket/path or file:///dir, or a local directory");
        return NULL;
    }
    if (validate_artifact_location(root, err) < 0)
        return NULL;
    char *abs = resolve_artifact_location(root);
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, abs[0] == '/' ? "file://" : "");
    cap_buf_puts(&b, abs);
    free(abs);
    while (b.len > 1 && b.data[b.len - 1] == '/' && b.data[b.len - 2] != '/')
        b.data[--b.len] = '\0';
    return cap_buf_steal(&b);
}

static int batch_too_big(struct cap_error *err, const char *what, int limit, size_t got)
{
    return cap_err(err, CAP_EINVAL,
                   "A batch logging request can contain at most %d %s. Got %zu %s. Please "
                   "split up %s across multiple requests and try again.",
                   limit, what, got, what, what);
}

int validate_batch_sizes(size_t nmetrics, size_t nparams, size_t ntags, struct cap_error *err)
{
    if (nmetrics > VALIDATE_MAX_BATCH_METRICS)
        return batch_too_big(err, "metrics", VALIDATE_MAX_BATCH_METRICS, nmetrics);
    if (nparams > VALIDATE_MAX_BATCH_PARAMS)
        return batch_too_big(err, "params", VALIDATE_MAX_BATCH_PARAMS, nparams);
    if (ntags > VALIDATE_MAX_BATCH_TAGS)
        return batch_too_big(err, "tags", VALIDATE_MAX_BATCH_TAGS, ntags);
    size_t total = nmetrics + nparams + ntags;
    if (total > VALIDATE_MAX_BATCH_TOTAL)
        return cap_err(err, CAP_EINVAL,
                       "A batch logging request can contain at most %d metrics, params, and "
                       "tags in total. Got %zu. Please split up metrics, params, and tags "
                       "across multiple requests and try again.",
                       VALIDATE_MAX_BATCH_TOTAL, total);
    return 0;
}

int validate_run_status(const char *s, const char **out, struct cap_error *err)
{
    static const char *const names[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"};
    if (s) {
        for (int i = 0; i < 5; i++) {
            char num[2] = {(char)('1' + i), '\0'};
            if (strcasecmp(s, names[i]) == 0 || strcmp(s, num) == 0) {
                if (out)
                    *out = names[i];
                return 0;
            }
        }
    }
    return cap_err(err, CAP_EINVAL,
                   "Invalid run status '%.*s%s'. Expected one of RUNNING, SCHEDULED, FINISHED, "
                   "FAILED, KILLED (or 1 to 5)",
                   s ? shown_bytes(s, SHOWN) : 0, s ? s : "", s ? ellipsis(s) : "");
}
