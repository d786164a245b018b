/* blob_path.c - the lexical checks on client-supplied artifact paths, shared
 * by every backend. They run before anything touches the filesystem (or S3);
 * the fs backend then adds the checks only the filesystem can answer
 * (symlinks, files where directories are needed).
 *
 * Percent signs: the HTTP layer percent-decodes the URL path once. Whatever
 * is still encoded after that was encoded twice by the client, which the
 * MLflow client never does for a real file name but traversal attempts do
 * (%252e%252e -> %2e%2e). Rather than decode again and re-check (and then
 * argue about how many rounds are enough), any '%' followed by two hex
 * digits is refused outright. A lone '%' (not followed by two hex digits)
 * is an ordinary character. The cost: a file literally named "a%20b" cannot
 * be stored; the better option, if users ever need one, is an explicit
 * escape scheme on disk, not decoding again. */
#include "blob/blob.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"

#define PATH_LIMIT 4096   /* bytes in a whole artifact path */
#define SEGMENT_LIMIT 255 /* bytes in one segment (NAME_MAX) */
#define SHOWN 200         /* bytes of a path quoted in a message */

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Renders a path for a message: control bytes and NUL as \xNN, quotes and
 * backslashes as they are, truncated. */
static void show_path(char *out, size_t outsz, const char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < outsz; i++) {
        unsigned char c = (unsigned char)p[i];
        if (i >= SHOWN) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

static int bad(struct cap_error *err, const char *p, size_t n, const char *rule)
{
    char shown[SHOWN * 4 + 8];
    show_path(shown, sizeof shown, p, n);
    return cap_err(err, CAP_EINVAL, "Invalid artifact path '%s': %s", shown, rule);
}

int blob_check_pathn(const char *p, size_t n, int allow_empty, struct cap_error *err)
{
    if (!p || n == 0) {
        if (allow_empty)
            return 0;
        return cap_err(err, CAP_EINVAL, "Invalid artifact path '': the path must not be empty");
    }
    if (n > PATH_LIMIT)
        return bad(err, p, n, "the path is longer than 4096 bytes");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\0')
            return bad(err, p, n, "NUL characters are not allowed");
        if (c < 0x20 || c == 0x7f)
            return bad(err, p, n, "control characters are not allowed");
    }
    /* Overlong forms (%c0%ae for '.') and stray bytes: a path is text, as
     * MLflow's are and S3's keys must be. */
    char text[PATH_LIMIT + 1];
    memcpy(text, p, n);
    text[n] = '\0';
    if (cap_utf8_check(text, n) < n)
        return bad(err, p, n, "the path is not well-formed UTF-8");
    if (p[0] == '/')
        return bad(err, p, n, "absolute paths are not allowed");
    if (memchr(p, '\\', n))
        return bad(err, p, n, "backslashes are not allowed");
    for (size_t i = 0; i + 2 < n; i++)
        if (p[i] == '%' && is_hex(p[i + 1]) && is_hex(p[i + 2]))
            return bad(err, p, n,
                       "percent-encoded sequences ('%XX') are not allowed once the URL has "
                       "been decoded");
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '/')
            continue;
        size_t len = i - start;
        const char *s = p + start;
        if (len == 0 && i < n)
            return bad(err, p, n, "empty path segments ('//') are not allowed");
        if (len == 0 && i == n && n >= 2 && p[n - 2] == '/')
            return bad(err, p, n, "empty path segments ('//') are not allowed");
        if (len == 1 && s[0] == '.')
            return bad(err, p, n, "'.' segments are not allowed");
        if (len == 2 && s[0] == '.' && s[1] == '.')
            return bad(err, p, n, "'..' segments are not allowed");
        if (len > SEGMENT_LIMIT)
            return bad(err, p, n, "a path segment is longer than 255 bytes");
        start = i + 1;
    }
    return 0;
}

int blob_check_path(const char *relpath, int allow_empty, struct cap_error *err)
{
    return blob_check_pathn(relpath, relpath ? strlen(relpath) : 0, allow_empty, err);
}

char *blob_list_path(const char *relpath)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, "");
    const char *s = relpath ? relpath : "";
    bool first = true;
    for (;;) {
        size_t len = strcspn(s, "/");
        if (!(len == 1 && s[0] == '.')) {
            if (!first)
                cap_buf_putc(&b, '/');
            cap_buf_append(&b, s, len);
            first = false;
        }
        if (s[len] == '\0')
            break;
        s += len + 1;
    }
    return cap_buf_steal(&b);
}
