/* web.h - the web UI's files, embedded in the binary at build time
 * (web/gen_assets.c writes build/gen/web_assets.c from web/static/), and the
 * one call server.c makes to answer a browser's GET for them. */
#ifndef CAP_WEB_H
#define CAP_WEB_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

struct web_asset {
    const char *path;            /* "/index.html", "/js/main.js" ... */
    const unsigned char *data;   /* NUL-terminated after len bytes */
    size_t len;
    const char *content_type;
    const char *etag;            /* quoted, strong: "\"0123456789abcdef\"" */
};

/* The generated table, ended by an entry with path == NULL. */
extern const struct web_asset web_assets[];

/* The asset for a decoded URL path; "/" is index.html. NULL when none. */
const struct web_asset *web_asset_find(const char *path);

/* For a GET or HEAD of a UI file (raw_path still percent-encoded, without
 * the query): queues the file, or 304 when If-None-Match matches its ETag,
 * with Cache-Control and security headers, sets *ret and returns true.
 * Returns false, queuing nothing, for any other method or path, so the
 * caller answers as it would have. Call it only where a response may be
 * queued (the handler's last call). */
bool web_serve(struct MHD_Connection *conn, const char *method, const char *raw_path,
               enum MHD_Result *ret);

#endif
