/* server.h - the HTTP front: libmicrohttpd's thread pool, request size
 * limits, query/body to message, JSON errors, graceful stop. Routing and
 * meaning live in api/. */
#ifndef CAP_SERVER_H
#define CAP_SERVER_H

#include <stdint.h>

#include "api/api.h"
#include "base/error.h"

struct server_config {
    const char *host;            /* "127.0.0.1", "0.0.0.0", "::1" ... */
    uint16_t port;               /* 0 = any free port (see server_port) */
    unsigned http_threads;       /* HTTP threads, an MHD daemon each; 0: one per CPU (2 to 16) */
    unsigned threads;            /* workers for requests that may wait; 0: 16 */
    uint64_t max_json_bytes;     /* JSON request bodies above this get 413 */
    uint64_t max_upload_bytes;   /* streamed artifact uploads above this get 413 */
    /* comma-separated; NULL for the defaults (server/guard.h says which) */
    const char *allowed_hosts;        /* Host header patterns beyond the defaults */
    const char *cors_allowed_origins; /* origins whose pages may call the API */
    const char *tls_cert, *tls_key;   /* PEM file paths: serve HTTPS (both or neither) */
};

struct server;

int server_start(const struct server_config *cfg, const struct api_env *env, struct server **out,
                 struct cap_error *err);
uint16_t server_port(const struct server *srv);
/* Stops accepting, lets in-flight requests finish (up to a few seconds),
 * then stops the threads. The caller closes the store afterwards. */
void server_stop(struct server *srv);

#endif
