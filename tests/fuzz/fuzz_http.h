/* fuzz_http.h - see fuzz_http.c. */
#ifndef CAP_FUZZ_HTTP_H
#define CAP_FUZZ_HTTP_H

#include <stddef.h>
#include <stdint.h>

int fuzz_http_connect(uint16_t port);
/* Sends what it can; a server that closed early is not an error. */
void fuzz_http_send(int fd, const void *p, size_t n);
/* Reads until the first answer is whole, the server closes, or it pauses
 * 1 s; returns the bytes read (a malloc'ed buffer in *out, NUL-ended). */
size_t fuzz_http_read(int fd, char **out);
/* Aborts (naming who) unless buf is empty or one whole HTTP answer whose
 * JSON body, if any, parses and is valid UTF-8. */
void fuzz_http_check(const char *who, const char *buf, size_t n);
/* Aborts unless GET /health answers 200. */
void fuzz_http_health(const char *who, uint16_t port);
/* The status of an answer fuzz_http_check passed (0 when empty). */
int fuzz_http_status(const char *buf, size_t n);

#endif
