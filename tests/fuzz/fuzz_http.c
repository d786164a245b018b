/* fuzz_http.c - the HTTP client side of the targets that run a whole
 * server in their process (front_fuzz, mlflow_body_fuzz): connect, send,
 * read one answer, and the checks every answer must pass. */
#include "tests/fuzz/fuzz_http.h"

#include <cjson/cJSON.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "base/error.h"

#define IDLE_MS 1000 /* how long an unfinished answer may pause */

int fuzz_http_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        abort();
    return fd;
}

void fuzz_http_send(int fd, const void *p, size_t n)
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
size_t fuzz_http_read(int fd, char **out)
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

void fuzz_http_check(const char *who, const char *buf, size_t n)
{
    if (n == 0)
        return; /* closed, or waiting for more: no request was finished */
    const char *body = NULL;
    size_t body_len = 0;
    if (strncmp(buf, "HTTP/1.", 7) != 0 || !whole_response(buf, n, &body, &body_len)) {
        fprintf(stderr, "%s: an answer cut short: %.200s\n", who, buf);
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
        fprintf(stderr, "%s: a JSON answer that is not JSON in UTF-8: %.200s\n", who, copy);
        abort();
    }
    cJSON_Delete(doc);
    free(repaired);
    free(copy);
}

void fuzz_http_health(const char *who, uint16_t port)
{
    static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int fd = fuzz_http_connect(port);
    fuzz_http_send(fd, req, sizeof req - 1);
    char *buf;
    fuzz_http_read(fd, &buf);
    close(fd);
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
        fprintf(stderr, "%s: /health did not answer 200: %.200s\n", who, buf);
        abort();
    }
    free(buf);
}

int fuzz_http_status(const char *buf, size_t n)
{
    if (n < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
        return 0;
    return atoi(buf + 9);
}
