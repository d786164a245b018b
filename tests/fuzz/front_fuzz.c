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

#define IDLE_MS 1000 /* how long an unfinished answer may pause */

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

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        abort();
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the server closed early: what it sent still counts */
        p = (const char *)p + w;
        n -= (size_t)w;
    }
}

/* The first response's size when buf holds all of it, else 0. */
static size_t whole_response(const char *buf, size_t n, const char **body, size_t *body_len)
{
    const char *end = memmem(buf, n, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - buf) + 4;
    const char *cl = memmem(buf, head, "Content-Length: ", 16);
    if (!cl)
        return head; /* (no body) */
    size_t len = strtoul(cl + 16, NULL, 10);
    if (n - head < len)
        return 0;
    *body = buf + head;
    *body_len = len;
    return head + len;
}

/* Reads until the first response is whole, the server closes, or it
 * pauses IDLE_MS; returns the bytes read (a malloc'ed buffer in *out). */
static size_t read_answer(int fd, char **out)
{
    size_t n = 0, cap = 1 << 16;
    char *buf = malloc(cap + 1);
    const char *body;
    size_t body_len;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, IDLE_MS) <= 0)
            break;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (whole_response(buf, n, &body, &body_len))
            break;
    }
    buf[n] = '\0';
    *out = buf;
    return n;
}

static void check_answer(const char *buf, size_t n)
{
    if (n == 0)
        return; /* closed, or waiting for more: no request was finished */
    const char *body = NULL;
    size_t body_len = 0;
    if (strncmp(buf, "HTTP/1.", 7) != 0 || !whole_response(buf, n, &body, &body_len)) {
        fprintf(stderr, "front_fuzz: an answer cut short: %.200s\n", buf);
        abort();
    }
    const char *end = memmem(buf, n, "\r\n\r\n", 4);
    if (!body || !memmem(buf, (size_t)(end - buf), "Content-Type: application/json", 30))
        return;
    char *copy = strndup(body, body_len);
    char *repaired = strdup(copy);
    cap_utf8_repair(repaired);
    cJSON *doc = cJSON_Parse(copy);
    if (strlen(copy) != body_len || strcmp(copy, repaired) != 0 || !doc) {
        fprintf(stderr, "front_fuzz: a JSON answer that is not JSON in UTF-8: %.200s\n", copy);
        abort();
    }
    cJSON_Delete(doc);
    free(repaired);
    free(copy);
}

static void check_health(void)
{
    static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int fd = connect_server();
    send_all(fd, req, sizeof req - 1);
    char *buf;
    read_answer(fd, &buf);
    close(fd);
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
        fprintf(stderr, "front_fuzz: /health did not answer 200: %.200s\n", buf);
        abort();
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!port)
        start_server();
    int fd = connect_server();
    send_all(fd, data, size);
    send_all(fd, "\r\n\r\n", 4);
    shutdown(fd, SHUT_WR);
    char *buf;
    size_t n = read_answer(fd, &buf);
    close(fd);
    check_answer(buf, n);
    free(buf);
    check_health();
    return 0;
}
