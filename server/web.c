/* web.c - serves the embedded UI. The files are compiled in (see web.h), so
 * a lookup is a scan of a few dozen entries and a response points at static
 * memory (no copy). Assets are not content-hashed in their names, so every
 * response says "no-cache": the browser keeps its copy and revalidates it
 * with If-None-Match, which costs a 304 with no body. */
#include "server/web.h"

#include <stdlib.h>
#include <string.h>

#include "api/api.h"

/* The UI is a script-only page: it talks to its own origin, shows images
 * from blob: URLs (artifact previews), and may not be framed. */
#define WEB_CSP                                                                             \
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "    \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "     \
    "object-src 'none'"

const struct web_asset *web_asset_find(const char *path)
{
    if (!path || path[0] != '/')
        return NULL;
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (const struct web_asset *a = web_assets; a->path; a++)
        if (strcmp(a->path, path) == 0)
            return a;
    return NULL;
}

/* If-None-Match is "*" or a comma-separated list of entity tags, each maybe
 * weak ("W/"); RFC 9110 says to compare them weakly here. */
static bool etag_matches(const char *header, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t > 0 && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t == elen && memcmp(p, etag, elen) == 0)
            return true;
        p += n;
    }
    return false;
}

static void add_headers(struct MHD_Response *r, const struct web_asset *a)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, a->etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
}

bool web_serve(struct MHD_Connection *conn, const char *method, const char *raw_path,
               enum MHD_Result *ret)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return false;
    char *path = api_percent_decode(raw_path, strlen(raw_path));
    const struct web_asset *a = web_asset_find(path);
    free(path);
    if (!a)
        return false;
    const char *inm =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    struct MHD_Response *r;
    unsigned status;
    if (inm && etag_matches(inm, a->etag)) {
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_MODIFIED;
    } else {
        /* The bytes are static: MHD sends them without copying. */
        r = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_OK;
        if (r) {
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
            MHD_add_response_header(r, "Content-Security-Policy", WEB_CSP);
            MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
        }
    }
    if (!r) {
        *ret = MHD_NO;
        return true;
    }
    add_headers(r, a);
    *ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return true;
}
