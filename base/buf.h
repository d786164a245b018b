/* buf.h - a growable byte buffer, always NUL-terminated. Allocation failure
 * is treated as fatal (cap_xmalloc aborts): a server that cannot allocate a
 * few bytes cannot answer usefully, and checking every append would hide the
 * real error paths. */
#ifndef CAP_BUF_H
#define CAP_BUF_H

#include <stddef.h>

#include "base/error.h"

struct cap_buf {
    char *data;
    size_t len;
    size_t cap;
};

void *cap_xmalloc(size_t n);
void *cap_xcalloc(size_t n, size_t size);
void *cap_xrealloc(void *p, size_t n);
char *cap_xstrdup(const char *s);
char *cap_xstrndup(const char *s, size_t n);

void cap_buf_init(struct cap_buf *b);
void cap_buf_free(struct cap_buf *b);
void cap_buf_reset(struct cap_buf *b);
void cap_buf_reserve(struct cap_buf *b, size_t extra);
void cap_buf_append(struct cap_buf *b, const void *data, size_t n);
void cap_buf_puts(struct cap_buf *b, const char *s);
void cap_buf_putc(struct cap_buf *b, char c);
void cap_buf_printf(struct cap_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (free() them) and leaves b empty. */
char *cap_buf_steal(struct cap_buf *b);
/* Appends the whole file at path, a small one (a schema, a PEM file): more
 * than max bytes is -CAP_ETOOLARGE ("<path>: larger than <max> bytes"); a
 * file that cannot be opened or read is -CAP_EINVAL ("<path>: <strerror>").
 * On an error b may hold part of the file: the caller frees it. */
int cap_buf_read_file(struct cap_buf *b, const char *path, size_t max, struct cap_error *err);

#endif
