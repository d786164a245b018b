/* attachment.c - Content-Type and Content-Disposition of a downloaded
 * artifact. The type follows MLflow's server (its list of text extensions
 * first, then the extension's registered type), so that clients and the UI
 * see the same headers from Capstan; see attachment.h. */
#include "api/attachment.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

/* Names MLflow's server always sends as text/plain: compared exactly with
 * the extension, or with the whole name when it has none. */
static const char *const text_exts[] = {
    "txt",  "log",  "err", "cfg",  "conf",    "cnf", "cf",  "ini", "properties", "prop",
    "hocon", "toml", "yaml", "yml", "xml",    "json", "js", "py",  "py3",        "csv",
    "tsv",  "md",   "rst", "MLmodel", "mlproject"};

/* Extension -> type, as Python's mimetypes registers them by default (what
 * MLflow's server answers with), for the files ML runs log. */
static const struct {
    const char *ext, *type;
} types[] = {
    {"png", "image/png"},        {"jpg", "image/jpeg"},         {"jpeg", "image/jpeg"},
    {"jpe", "image/jpeg"},       {"gif", "image/gif"},          {"bmp", "image/bmp"},
    {"tif", "image/tiff"},       {"tiff", "image/tiff"},        {"webp", "image/webp"},
    {"avif", "image/avif"},      {"heic", "image/heic"},        {"ico", "image/vnd.microsoft.icon"},
    {"svg", "image/svg+xml"},    {"pdf", "application/pdf"},    {"ps", "application/postscript"},
    {"eps", "application/postscript"}, {"html", "text/html"},   {"htm", "text/html"},
    {"xhtml", "application/xhtml+xml"}, {"mjs", "application/javascript"},
    {"xsl", "application/xml"},  {"rdf", "application/xml"},    {"mht", "message/rfc822"},
    {"mhtml", "message/rfc822"}, {"css", "text/css"},           {"c", "text/plain"},
    {"h", "text/plain"},         {"sh", "application/x-sh"},    {"wav", "audio/x-wav"},
    {"mp3", "audio/mpeg"},       {"opus", "audio/opus"},        {"aac", "audio/aac"},
    {"mp4", "video/mp4"},        {"webm", "video/webm"},        {"mov", "video/quicktime"},
    {"avi", "video/x-msvideo"},  {"mpeg", "video/mpeg"},        {"mpg", "video/mpeg"},
    {"zip", "application/zip"},  {"tar", "application/x-tar"},  {"h5", "application/x-hdf5"},
    {"nc", "application/x-netcdf"}, {"wasm", "application/wasm"},
    {"pyc", "application/x-python-code"}, {"doc", "application/msword"},
    {"xls", "application/vnd.ms-excel"}, {"ppt", "application/vnd.ms-powerpoint"},
    {"tex", "application/x-tex"}, {"swf", "application/x-shockwave-flash"},
};

/* Compression suffixes: "a.tar.gz" is typed by ".tar", as Python does. */
static const char *const encodings[] = {"gz", "Z", "bz2", "xz", "br"};
/* Short forms of a compressed tar. */
static const char *const tar_aliases[] = {"tgz", "taz", "tz", "tbz2", "txz"};

/* Types a browser renders as a page or runs as a script, even from an
 * attachment it was asked to open: served as text/plain instead. */
static const char *const active_types[] = {
    "text/html", "application/xhtml+xml", "image/svg+xml", "application/javascript",
    "text/javascript", "application/xml", "text/xml", "message/rfc822",
    "application/x-shockwave-flash"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool in_list(const char *s, size_t n, const char *const *list, size_t count, bool nocase)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(list[i]) == n &&
            (nocase ? strncasecmp(s, list[i], n) : strncmp(s, list[i], n)) == 0)
            return true;
    return false;
}

/* The extension of name[0..n) without its dot, like Python's splitext: a
 * dot counts only with something other than dots before it. */
static const char *extension(const char *name, size_t n, size_t *len)
{
    size_t i = n;
    while (i > 0 && name[i - 1] != '.')
        i--;
    size_t lead = 0;
    while (lead < n && name[lead] == '.')
        lead++;
    if (i == 0 || i - 1 < lead) {
        *len = 0;
        return name + n;
    }
    *len = n - i;
    return name + i;
}

static const char *registered_type(const char *name)
{
    size_t n = strlen(name), len;
    const char *ext = extension(name, n, &len);
    if (in_list(ext, len, tar_aliases, COUNT(tar_aliases), false))
        return "application/x-tar";
    if (in_list(ext, len, encodings, COUNT(encodings), false))
        ext = extension(name, n - len - 1, &len);
    for (size_t i = 0; i < COUNT(types); i++)
        if (len && strlen(types[i].ext) == len && strncasecmp(ext, types[i].ext, len) == 0)
            return types[i].type;
    return NULL;
}

const char *attachment_mime_type(const char *name)
{
    size_t n = strlen(name), len;
    const char *ext = extension(name, n, &len);
    if (len == 0) {
        ext = name;
        len = n;
    }
    if (in_list(ext, len, text_exts, COUNT(text_exts), false))
        return "text/plain";
    const char *type = registered_type(name);
    if (!type)
        return "application/octet-stream";
    if (in_list(type, strlen(type), active_types, COUNT(active_types), true))
        return "text/plain";
    return type;
}

static bool is_token_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 5987 attr-char: the bytes filename* may carry unencoded. */
static bool is_attr_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$&+-.^_`|~", c));
}

/* filename=VALUE: bare when VALUE is a token, else quoted with '"' and
 * '\' escaped; only printable ASCII is written. */
static void put_filename(struct cap_buf *b, const char *name)
{
    bool token = *name != '\0';
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        token = token && is_token_char(*p);
    cap_buf_puts(b, "; filename=");
    if (token) {
        cap_buf_puts(b, name);
        return;
    }
    cap_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p > 0x7e)
            continue;
        if (*p == '"' || *p == '\\')
            cap_buf_putc(b, '\\');
        cap_buf_putc(b, (char)*p);
    }
    cap_buf_putc(b, '"');
}

char *attachment_disposition(const char *name)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, "attachment");
    put_filename(&b, name);
    bool plain = true;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        plain = plain && *p >= 0x20 && *p <= 0x7e;
    if (!plain) {
        cap_buf_puts(&b, "; filename*=UTF-8''");
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
            if (is_attr_char(*p))
                cap_buf_putc(&b, (char)*p);
            else
                cap_buf_printf(&b, "%%%02X", *p);
        }
    }
    return cap_buf_steal(&b);
}
