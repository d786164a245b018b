/* front_fuzz.c - the HTTP front (server/server.c over libmicrohttpd) on any
 * bytes a client may send on a connection: no crash, leak or undefined
 * behaviour in our callbacks; an answer, when one comes, comes whole, and a
 * JSON one parses and is valid UTF-8; the server answers /health afterwards.
 *
 * The server runs in this process, serving-only (no store, no
 * deployments), on a loopback port. Each input goes on a new connection,
 * followed by "\r\n\r\n" (most inputs then end a head and get an answer
 * instead of waiting for the connection's timeout) and a half-close. */
#include <cjson/cJSON.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "base/error.h"
#include "server/server.h"
#include "tests/fuzz/fuzz_http.h"

static uint16_t port;

static void start_server(void)
{
    static struct api_env env = {.version = "fuzz"};
    struct server_config cfg = {.host = "127.0.0.1", .http_threads = 1, .threads = 2,
                                .max_json_bytes = 1 << 20, .max_upload_bytes = 1 << 20};
    static struct server *srv; /* runs until the process ends */
    struct cap_error err;
    if (server_start(&cfg, &env, &srv, &err) < 0) {
        fprintf(stderr, "front_fuzz: %s\n", err.msg);
        abort();
    }
    port = server_port(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!port)
        start_server();
    int fd = fuzz_http_connect(port);
    fuzz_http_send(fd, data, size);
    fuzz_http_send(fd, "\r\n\r\n", 4);
    shutdown(fd, SHUT_WR);
    char *buf;
    size_t n = fuzz_http_read(fd, &buf);
    close(fd);
    fuzz_http_check("front_fuzz", buf, n);
    free(buf);
    fuzz_http_health("front_fuzz", port);
    return 0;
}
